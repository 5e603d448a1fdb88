import Dispatch
import Synchronization

/// Runs jobs one at a time, in the order given, on a thread of its own. `submit` waits while
/// `inFlight` jobs are still pending, so the work handed over (and its memory) stays bounded.
/// The first error a job throws is kept and the jobs after it are skipped: the caller sees it
/// at its next `error` or `drain()` and stops, as it would have at the job itself.
final class OrderedWorker: Sendable {
    private let queue: DispatchQueue
    private let slots: DispatchSemaphore
    private let failure = FirstError()

    init(label: String, inFlight: Int) {
        queue = DispatchQueue(label: label)
        slots = DispatchSemaphore(value: inFlight)
    }

    deinit {
        // Every job handed over runs (its output is written), even when the caller stopped.
        queue.sync {}
    }

    /// The first error a job threw so far.
    var error: (any Error)? { failure.error }

    func submit(_ job: @escaping @Sendable () throws -> Void) {
        slots.wait()
        queue.async { [slots, failure] in
            defer { slots.signal() }
            guard failure.error == nil else { return }
            do {
                try job()
            } catch {
                failure.keep(error)
            }
        }
    }

    /// Waits until every job submitted has run; the first error one threw. Whatever the jobs
    /// touched is the caller's again afterwards (`queue.sync` orders every job before it).
    func drain() -> (any Error)? {
        queue.sync {}
        return failure.error
    }
}

/// The first error of work done on several threads.
final class FirstError: Sendable {
    private let value = Mutex<(any Error)?>(nil)

    var error: (any Error)? { value.withLock { $0 } }

    func keep(_ error: any Error) { value.withLock { $0 = $0 ?? error } }
}
