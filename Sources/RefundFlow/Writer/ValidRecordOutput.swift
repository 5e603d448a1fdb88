import Dispatch
import Synchronization

/// Where a run's valid records go, in input order: their line of `records.jsonl`, then the
/// run's writer.
///
/// In a dry run this work (rendering each record twice, batching, signing each call's body and
/// writing `requests.jsonl`: about a third of the run) goes to a thread of its own, in batches,
/// so that reading, mapping and validating keep one core while the output is written on the
/// other. At most `inFlight` batches wait, so memory stays bounded. A push keeps it on the
/// calling thread: the ledger and the HTTP sink pace it, and their errors must stop the run at
/// the record that caused them.
final class ValidRecordOutput {
    /// The state the work uses.
    ///
    /// `@unchecked Sendable`: after `init` it is touched only by jobs on `queue` (a serial queue,
    /// so one job at a time, in order), or by the owning thread either when there is no queue or
    /// after `queue.sync {}` has returned, which orders every earlier job before it. No two
    /// threads ever touch it at once.
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
    private let queue: DispatchQueue?
    private static let batchSize = 128
    private static let inFlight = 8
    private let slots = DispatchSemaphore(value: ValidRecordOutput.inFlight)
    /// The first error a background job met; later jobs skip their records and the next call
    /// here throws it.
    private let failure = FirstError()
    private var batch = RefundRecordBatch(capacity: 0)

    /// - Parameter background: write on a thread of its own (a dry run).
    init(records: BufferedOutput, writer: any RecordWriter, background: Bool) {
        work = Work(records: records, writer: writer)
        queue = background ? DispatchQueue(label: "refundflow.valid-records") : nil
        if background { batch = RefundRecordBatch(capacity: Self.batchSize) }
    }

    deinit {
        // A run that stopped before `finish` still completes what it handed over.
        queue?.sync {}
    }

    func add(_ record: RefundRecord) throws {
        guard queue != nil else { return try work.write(record) }
        if let error = failure.error { throw error }
        batch.append(record)
        if batch.count >= Self.batchSize { handOver() }
    }

    /// Writes what is pending and finishes the writer.
    func finish() throws -> WriterSummary {
        if let queue {
            handOver()
            queue.sync {}
            if let error = failure.error { throw error }
        }
        return try work.finish()
    }

    private func handOver() {
        guard let queue, batch.count > 0 else { return }
        let records = batch
        batch = RefundRecordBatch(capacity: Self.batchSize)
        slots.wait()
        queue.async { [work, slots, failure] in
            defer { slots.signal() }
            guard failure.error == nil else { return }
            do {
                try records.forEach(work.write)
            } catch {
                failure.keep(error)
            }
        }
    }
}

/// The first error of several threads' work.
private final class FirstError: Sendable {
    private let value = Mutex<(any Error)?>(nil)

    var error: (any Error)? { value.withLock { $0 } }

    func keep(_ error: any Error) { value.withLock { $0 = $0 ?? error } }
}
