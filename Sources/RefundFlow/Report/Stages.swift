/// Count and money of a set of records.
public struct Amounts: Sendable, Hashable {
    public var records = 0
    public var refundAmount = Decimal4.zero
    public var actualRefundAmount = Decimal4.zero

    mutating func add(_ record: RefundRecord) {
        records += 1
        refundAmount += record.decimal(.refundAmount) ?? .zero
        actualRefundAmount += record.decimal(.actualRefundAmount) ?? .zero
    }

    static func + (a: Amounts, b: Amounts) -> Amounts {
        Amounts(records: a.records + b.records, refundAmount: a.refundAmount + b.refundAmount, actualRefundAmount: a.actualRefundAmount + b.actualRefundAmount)
    }

    static func - (a: Amounts, b: Amounts) -> Amounts {
        Amounts(records: a.records - b.records, refundAmount: a.refundAmount - b.refundAmount, actualRefundAmount: a.actualRefundAmount - b.actualRefundAmount)
    }
}

/// A record's `shop_no` as a String, made once per run of records from the same shop (exports
/// hold one shop or a few), not once per record.
struct ShopNames {
    private var bytes: [UInt8] = []
    private var name = ""

    mutating func name(of record: RefundRecord) -> String {
        let present: Void? = record.withText(.shopNo) { shop in
            guard !shop.elementsEqual(bytes) else { return }
            bytes = Array(shop)
            name = String(decoding: shop, as: UTF8.self)
        }
        return present == nil ? "" : name
    }
}

/// Records at one stage: in all, per shop and per status.
public struct StageTotals: Sendable, Hashable {
    public var all = Amounts()
    public var byShop: [String: Amounts] = [:]
    /// By canonical `status` (0: none).
    public var byStatus: [Int: Amounts] = [:]

    public var records: Int { all.records }
    public var refundAmount: Decimal4 { all.refundAmount }
    public var actualRefundAmount: Decimal4 { all.actualRefundAmount }

    mutating func add(_ record: RefundRecord) { add(record, shop: record.text(.shopNo) ?? "") }

    /// Adds a record whose `shop_no` the caller already has as a String (`ShopNames`).
    mutating func add(_ record: RefundRecord, shop: String) {
        all.add(record)
        byShop[shop, default: Amounts()].add(record)
        byStatus[record.integer(.status) ?? 0, default: Amounts()].add(record)
    }

    mutating func merge(_ other: StageTotals) {
        all = all + other.all
        for (shop, amounts) in other.byShop { byShop[shop] = (byShop[shop] ?? Amounts()) + amounts }
        for (status, amounts) in other.byStatus { byStatus[status] = (byStatus[status] ?? Amounts()) + amounts }
    }

    static func + (a: StageTotals, b: StageTotals) -> StageTotals {
        var sum = a
        sum.merge(b)
        return sum
    }

    static func - (a: StageTotals, b: StageTotals) -> StageTotals {
        var difference = a
        difference.all = a.all - b.all
        for (shop, amounts) in b.byShop { difference.byShop[shop] = (a.byShop[shop] ?? Amounts()) - amounts }
        for (status, amounts) in b.byStatus { difference.byStatus[status] = (a.byStatus[status] ?? Amounts()) - amounts }
        return difference
    }
}

/// The reconciliation of one run: every stage a record passes, and the conservation checks.
public struct StageReport: Sendable {
    public struct Stage: Sendable {
        public var name: String
        public var totals: StageTotals
        /// Stages before mapping have no trustworthy money (a rejected row's amount may not parse).
        public var hasMoney: Bool
    }

    public struct Invariant: Sendable {
        public var rule: String
        public var holds: Bool
        public var detail: String
    }

    public var stages: [Stage] = []
    public var invariants: [Invariant] = []

    public var holds: Bool { invariants.allSatisfy(\.holds) }

    static func counted(_ name: String, _ records: Int) -> Stage {
        Stage(name: name, totals: StageTotals(all: Amounts(records: records)), hasMoney: false)
    }

    /// read → parsed → valid → rejected → duplicate → unchanged → pushed → acknowledged →
    /// ERP-rejected → failed → pending, with the checks that every row ends in exactly one
    /// terminal state and that money in equals money out.
    init(counts: RunCounts, push: PushCounts?, dryRun: Bool) {
        let rejected = counts.rejected - counts.duplicates
        stages = [
            Self.counted("read", counts.read), Self.counted("parsed", counts.read - counts.structural),
            Stage(name: "valid", totals: counts.validTotals, hasMoney: true),
            Self.counted("rejected", rejected), Self.counted("duplicate", counts.duplicates),
        ]
        invariants.append(
            Invariant(
                rule: "records the readers gave = read", holds: counts.delivered == counts.read,
                detail: "\(counts.delivered) = \(counts.read)"))
        invariants.append(
            Invariant(
                rule: "read = valid + rejected + duplicate", holds: counts.read == counts.valid + rejected + counts.duplicates,
                detail: "\(counts.read) = \(counts.valid) + \(rejected) + \(counts.duplicates)"))
        guard let push, !dryRun else { return }
        let failed = push.failed - push.notSent
        let pushed = push.accepted + push.rejected + push.failed
        stages += [
            Stage(name: "unchanged", totals: push.unchanged, hasMoney: true),
            Stage(name: "pushed", totals: pushed, hasMoney: true),
            Stage(name: "acknowledged", totals: push.accepted, hasMoney: true),
            Stage(name: "erp_rejected", totals: push.rejected, hasMoney: true),
            Stage(name: "failed", totals: failed, hasMoney: true),
            Stage(name: "pending", totals: push.notSent, hasMoney: true),
        ]
        let out = push.unchanged + push.accepted + push.rejected + failed + push.notSent
        let valid = counts.validTotals.all
        invariants += [
            Invariant(
                rule: "valid = unchanged + acknowledged + erp_rejected + failed + pending", holds: valid.records == out.records,
                detail: "\(valid.records) = \(push.unchanged.records) + \(push.accepted.records) + \(push.rejected.records) + \(failed.records) + \(push.notSent.records)"),
            Invariant(
                rule: "refund_amount in = refund_amount out", holds: valid.refundAmount == out.refundAmount,
                detail: "\(valid.refundAmount.formatted(minFractionDigits: 2)) = \(out.refundAmount.formatted(minFractionDigits: 2))"),
            Invariant(
                rule: "actual_refund_amount in = actual_refund_amount out", holds: valid.actualRefundAmount == out.actualRefundAmount,
                detail: "\(valid.actualRefundAmount.formatted(minFractionDigits: 2)) = \(out.actualRefundAmount.formatted(minFractionDigits: 2))"),
            Invariant(
                rule: "every shop: valid = terminal states", holds: counts.validTotals.byShop.allSatisfy { out.byShop[$0.key] == $0.value } && out.byShop.count == counts.validTotals.byShop.count,
                detail: "\(counts.validTotals.byShop.count) shops"),
        ]
    }
}
