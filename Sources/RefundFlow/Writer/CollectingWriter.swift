/// Hands each valid record to a closure instead of a target (reconcile reads inputs this way).
struct CollectingWriter: RecordWriter {
    let collect: @Sendable (RefundRecord) throws -> Void
    let target: any PushTarget
    var records = 0

    mutating func add(_ record: RefundRecord) throws {
        records += 1
        try collect(record)
    }

    mutating func finish() throws -> WriterSummary {
        var summary = WriterSummary(target: target.name, api: target.api)
        summary.records = records
        return summary
    }
}
