import Synchronization

/// Live counters of a run, read by a progress display on another thread.
public final class RunProgress: Sendable {
    public let bytes = ByteCounter()
    public let valid = Atomic<Int>(0)
    public let rejected = Atomic<Int>(0)
    public let acknowledged = Atomic<Int>(0)
    public let unchanged = Atomic<Int>(0)
    public let erpRejected = Atomic<Int>(0)
    public let failed = Atomic<Int>(0)
    /// Bytes of all inputs (for the ETA).
    public let totalBytes: Int

    public init(totalBytes: Int) { self.totalBytes = totalBytes }

    public struct Snapshot: Sendable {
        public var bytes: Int
        public var records: Int
        public var valid: Int
        public var rejected: Int
        public var acknowledged: Int
        public var unchanged: Int
        public var erpRejected: Int
        public var failed: Int
    }

    public var snapshot: Snapshot {
        let valid = valid.load(ordering: .relaxed)
        let rejected = rejected.load(ordering: .relaxed)
        return Snapshot(
            bytes: bytes.bytes, records: valid + rejected, valid: valid, rejected: rejected,
            acknowledged: acknowledged.load(ordering: .relaxed), unchanged: unchanged.load(ordering: .relaxed),
            erpRejected: erpRejected.load(ordering: .relaxed), failed: failed.load(ordering: .relaxed))
    }
}
