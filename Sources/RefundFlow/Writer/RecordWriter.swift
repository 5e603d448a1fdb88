/// Stage 4: takes valid records, batches them as the target needs, and sends them (or, in a
/// dry run, writes the exact requests).
public protocol RecordWriter {
    /// Accepts one valid record. Called in input order; never with the whole run at once.
    mutating func add(_ record: RefundRecord) throws
    /// Sends or writes whatever is still pending.
    mutating func finish() throws -> WriterSummary
}

/// What a writer did, for the report.
public struct WriterSummary: Sendable, Hashable {
    public var target: String
    public var api: String
    public var requests: Int = 0
    public var records: Int = 0
    public var notes: [String] = []
    /// Set when the records were delivered (not a dry run).
    public var push: PushCounts?
    /// Why delivery stopped early (credentials, sign, permission): the run fails with it.
    public var stopped: Diagnostic?
    /// Records sent again because their payload differs from the one the ERP acknowledged.
    public var changedSinceAcknowledged = 0
    /// A dry run against a ledger: the valid records a push would not send, by why
    /// (`acknowledged`, `rejected`, `ambiguous`).
    public var leftOutByLedger: [String: Int] = [:]
}

/// How an ERP target is named in a pipeline and made for a run.
struct TargetRegistration: Sendable {
    let name: String
    /// The target's own option keys; the common ones (`PushSettings.keys`) are added.
    let ownKeys: [String]
    /// The most units one call takes (the bound of `batchSize`).
    let maxBatch: Int
    /// Canonical fields this target needs beyond the canonical record's required ones.
    var requiredFields: [RefundField] = []
    /// Problems with the target's own options, each a sentence.
    let validate: @Sendable ([String: String]) -> [String]
    let make: @Sendable ([String: String]) -> any PushTarget

    /// Its own keys and the common ones (`batchSize` only where a call takes several units).
    var keys: [String] { ownKeys + PushSettings.keys.filter { maxBatch > 1 || $0 != "batchSize" } }

    func problems(_ options: [String: String]) -> [String] {
        PushSettings.problems(options, maxBatch: maxBatch) + validate(options)
    }
}

/// Every ERP target. Adding one is a new file with its `registration` plus one line here.
enum TargetRegistry {
    static let entries: [TargetRegistration] = [
        RawRefundTarget.registration,
        EnterpriseRefundTarget.registration,
        StockinTarget.registration,
        TOPRefundTarget.registration,
    ]

    static func entry(_ name: String) -> TargetRegistration? { entries.first { $0.name == name } }
    static var names: [String] { entries.map(\.name) }
}

/// Renders a record as a JSON object in field order.
enum RecordJSON {
    /// How one field is written: where its `"name":` sits in `keyBytes`, and its rules.
    private struct FieldPlan {
        let ordinal: Int
        let key: Range<Int>
        let sendsEmptyString: Bool
        let isMoney: Bool
    }

    /// `"name":` for every field, back to back.
    private static let keyBytes: [UInt8] = RefundField.allCases.flatMap { Array("\"\($0.rawValue)\":".utf8) }

    private static func plan(_ fields: [RefundField]) -> [FieldPlan] {
        var offsets: [Int] = []
        var offset = 0
        for field in RefundField.allCases {
            offsets.append(offset)
            offset += field.rawValue.utf8.count + 3
        }
        return fields.map { field in
            var isMoney = false
            if case .decimal(let money) = field.kind { isMoney = money }
            let start = offsets[field.ordinal]
            return FieldPlan(
                ordinal: field.ordinal, key: start..<(start + field.rawValue.utf8.count + 3),
                sendsEmptyString: field.sendsEmptyString, isMoney: isMoney)
        }
    }

    private static let canonicalPlan = plan(RefundField.allCases)
    private static let orderListPlan = plan(RefundField.orderListFields)

    /// The canonical line of `records.jsonl`: money and `num` as strings, enums as integers.
    static func canonical(_ record: RefundRecord, into json: JSONBytes) {
        append(record, plan: canonicalPlan, into: json, decimalsAsStrings: true, style: .utf8)
    }

    /// One `order_list` element exactly as RawRefund.upload receives it.
    static func orderListItem(_ record: RefundRecord, into json: JSONBytes) {
        append(record, plan: orderListPlan, into: json, decimalsAsStrings: false, style: .phpASCII)
    }

    /// Required fields always; `title`, `reason` and the logistics fields as "" when empty
    /// (the API asks for that); other optional fields only when they have a value.
    private static func append(
        _ record: RefundRecord, plan: [FieldPlan], into json: JSONBytes, decimalsAsStrings: Bool,
        style: JSONStringStyle
    ) {
        let out = json.buffer
        keyBytes.withUnsafeBufferPointer { keys in
            plan.withUnsafeBufferPointer { plan in
                record.withSlots { slots, storage in
                    out.append(UInt8(ascii: "{"))
                    var first = true
                    for field in plan {
                        let slot = slots[field.ordinal]
                        if case .empty = slot, !field.sendsEmptyString { continue }
                        if !first { out.append(UInt8(ascii: ",")) }
                        first = false
                        out.append(UnsafeBufferPointer(rebasing: keys[field.key]))
                        switch slot {
                        case .text(let start, let end):
                            json.string(UnsafeBufferPointer(rebasing: storage[Int(start)..<Int(end)]), style: style)
                        case .decimal(let amount):
                            if decimalsAsStrings { out.append(UInt8(ascii: "\"")) }
                            amount.append(to: out, minFractionDigits: decimalsAsStrings && field.isMoney ? 2 : 0)
                            if decimalsAsStrings { out.append(UInt8(ascii: "\"")) }
                        case .integer(let number):
                            json.integer(number)
                        case .empty:
                            out.append(UInt8(ascii: "\""))
                            out.append(UInt8(ascii: "\""))
                        }
                    }
                    out.append(UInt8(ascii: "}"))
                }
            }
        }
    }
}
