/// Where a run's valid records go, in input order: their line of `records.jsonl`, then the
/// run's writer.
///
/// In a dry run this work (rendering each record twice, batching, signing each call's body and
/// writing `requests.jsonl`: about a third of the run) goes to a thread of its own, in batches,
/// so that reading, mapping and validating keep one core while the output is written on the
/// other. At most eight batches wait, so memory stays bounded. A push keeps it on the calling
/// thread: the ledger and the HTTP sink pace it, and their errors must stop the run at the
/// record that caused them.
final class ValidRecordOutput {
    /// The state the work uses.
    ///
    /// `@unchecked Sendable`: after `init` it is touched only by jobs of `worker` (one at a time,
    /// in order), or by the owning thread either when there is no worker or after
    /// `worker.drain()` has returned, which orders every earlier job before it. No two threads
    /// ever touch it at once.
    private final class Work: @unchecked Sendable {
        let records: BufferedOutput
        var writer: any RecordWriter
        let line = JSONBytes(capacity: 4096)

        init(records: BufferedOutput, writer: any RecordWriter) {
            self.records = records
            self.writer = writer
        }

        func write(_ record: RefundRecord) throws {
            line.removeAll()
            RecordJSON.canonical(record, into: line)
            try records.writeLine(line.buffer)
            try writer.add(record)
        }

        func finish() throws -> WriterSummary {
            try records.flush()
            return try writer.finish()
        }
    }

    private let work: Work
    private let worker: OrderedWorker?
    private static let batchSize = 128
    private var batch: RefundRecordBatch

    /// - Parameter background: write on a thread of its own (a dry run).
    init(records: BufferedOutput, writer: any RecordWriter, background: Bool) {
        work = Work(records: records, writer: writer)
        worker = background ? OrderedWorker(label: "refundflow.valid-records", inFlight: 8) : nil
        batch = RefundRecordBatch(capacity: background ? Self.batchSize : 0)
    }

    func add(_ record: RefundRecord) throws {
        guard worker != nil else { return try work.write(record) }
        batch.append(record)
        if batch.count >= Self.batchSize { try handOver() }
    }

    /// Writes what is pending and finishes the writer.
    func finish() throws -> WriterSummary {
        if let worker {
            try handOver()
            if let error = worker.drain() { throw error }
        }
        return try work.finish()
    }

    /// Hands the batch to the worker; first throws the worker's error, if it met one (checked
    /// once a batch, not once a record: what was gathered meanwhile was never written).
    private func handOver() throws {
        guard let worker, batch.count > 0 else { return }
        if let error = worker.error { throw error }
        let records = batch
        batch = RefundRecordBatch(capacity: Self.batchSize)
        worker.submit { [work] in try records.forEach(work.write) }
    }
}
