/// Carries a reader's rows to the run's record processor (map → validate → de-duplicate →
/// accept or reject).
///
/// For a keyed reader whose reading outweighs processing (XML: `outweighsProcessing`) in a dry
/// run, the processor works on a thread of its own: the rows are copied into batches
/// (`KeyedRowBatch`) and processed there in order, so that libxml2's walk, the processing and
/// the dry-run output (`ValidRecordOutput`) each have a thread. Otherwise — other readers, whose
/// rows cost more to copy than to process, or a push, whose ledger and HTTP calls must stop the
/// run at the record that failed — each row is processed on the calling thread as it comes.
///
/// Between files the processor is idle and `processor` may be used directly; `settle()` makes it
/// so after a read.
final class RecordRelay: RecordSink {
    /// `@unchecked Sendable`: `processor` is touched only by jobs of `worker` (one at a time, in
    /// order), or by the owning thread when no job can be pending: before the first hand-over,
    /// or after `worker.drain()` has returned (which orders every job before it).
    private final class Shared: @unchecked Sendable {
        var processor: RecordProcessor
        init(_ processor: RecordProcessor) { self.processor = processor }
    }

    private let shared: Shared
    private let worker: OrderedWorker?
    private static let batchSize = 128
    private var batch: KeyedRowBatch
    /// Whether batches may still be pending (since the last `settle`).
    private var pending = false
    /// The worker's error as the last `settle` saw it.
    private var settledFailure: (any Error)?

    /// - Parameter background: process keyed rows on a thread of their own.
    init(_ processor: RecordProcessor, background: Bool) {
        shared = Shared(processor)
        worker = background ? OrderedWorker(label: "refundflow.records", inFlight: 8) : nil
        batch = KeyedRowBatch(capacity: background ? Self.batchSize : 0)
    }

    /// The processor, for use between reads (after `settle()`).
    var processor: RecordProcessor {
        get { shared.processor }
        _modify { yield &shared.processor }
    }

    func begin(file: InputFile, shape: SourceShape) throws {
        if let error = settle() { throw error }
        try shared.processor.begin(file: file, shape: shape)
    }

    func consume(_ row: some SourceRow) throws {
        guard let worker, let keyed = row as? KeyedRow else {
            // Processed here, after whatever was handed over.
            if let error = settle() { throw error }
            return try shared.processor.consume(row)
        }
        if let error = worker.error { throw error }
        batch.append(keyed)
        if batch.count >= Self.batchSize { handOver() }
    }

    /// Processes every row handed over and waits for it; returns the processor's error, if it
    /// met one (it came from an earlier row than anything the reader raised after it).
    @discardableResult
    func settle() -> (any Error)? {
        guard let worker, pending || batch.count > 0 else { return settledFailure }
        handOver()
        settledFailure = worker.drain()
        pending = false
        return settledFailure
    }

    private func handOver() {
        guard let worker, batch.count > 0 else { return }
        let rows = batch
        batch = KeyedRowBatch(capacity: Self.batchSize)
        pending = true
        worker.submit { [shared] in try rows.forEach { try shared.processor.consume($0) } }
    }
}
