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
}

/// What a target needs to make its writer.
public struct TargetContext: Sendable {
    public var options: [String: String]
    public var outputDirectory: String
    public var environment: [String: String]
    /// Seconds since 1970 for request timestamps (fixed in tests).
    public var unixTime: @Sendable () -> Int
}

/// How an ERP target is named in a pipeline and made for a run.
struct TargetRegistration: Sendable {
    let name: String
    let keys: [String]
    /// Problems with the target's options, each a sentence.
    let validate: @Sendable ([String: String]) -> [String]
    let makeDryRun: @Sendable (TargetContext) throws -> any RecordWriter
}

/// Every ERP target. Adding one is a new file with its `registration` plus one line here.
enum TargetRegistry {
    static let entries: [TargetRegistration] = [
        RawRefundTarget.registration
    ]

    static func entry(_ name: String) -> TargetRegistration { entries.first { $0.name == name }! }
}

/// Renders a record as a JSON object in field order.
enum RecordJSON {
    /// `"name":` for every field, by ordinal.
    private static let quotedKeys: [[UInt8]] = RefundField.allCases.map { Array("\"\($0.rawValue)\":".utf8) }

    /// The canonical line of `records.jsonl`: money and `num` as strings, enums as integers.
    static func canonical(_ record: RefundRecord, into json: JSONBytes) {
        append(record, fields: RefundField.allCases, into: json, decimalsAsStrings: true, style: .utf8)
    }

    /// One `order_list` element exactly as RawRefund.upload receives it.
    static func orderListItem(_ record: RefundRecord, into json: JSONBytes) {
        append(record, fields: RefundField.orderListFields, into: json, decimalsAsStrings: false, style: .phpASCII)
    }

    /// Required fields always; `title`, `reason` and the logistics fields as "" when empty
    /// (the API asks for that); other optional fields only when they have a value.
    private static func append(
        _ record: RefundRecord, fields: [RefundField], into json: JSONBytes, decimalsAsStrings: Bool,
        style: JSONStringStyle
    ) {
        json.raw("{")
        var first = true
        for field in fields {
            guard record.has(field) || field.sendsEmptyString else { continue }
            if !first { json.buffer.append(UInt8(ascii: ",")) }
            first = false
            json.raw(quotedKeys[field.ordinal])
            if record.withText(field, { json.string($0, style: style) }) != nil { continue }
            if let amount = record.decimal(field) {
                var minDigits = 0
                if case .decimal(let isMoney) = field.kind, isMoney, decimalsAsStrings { minDigits = 2 }
                if decimalsAsStrings { json.buffer.append(UInt8(ascii: "\"")) }
                json.decimal(amount, minFractionDigits: minDigits)
                if decimalsAsStrings { json.buffer.append(UInt8(ascii: "\"")) }
            } else if let number = record.integer(field) {
                json.integer(number)
            } else {
                json.raw("\"\"")
            }
        }
        json.raw("}")
    }
}
