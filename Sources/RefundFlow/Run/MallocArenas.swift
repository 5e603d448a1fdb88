import CMalloc

/// glibc gives each thread that allocates an arena of its own (up to eight per core) and does
/// not hand memory freed in one to another. With a dry run's threads (reading, processing,
/// output, hashing) that cost 13 MiB of peak RSS on 1M TOP XML records: 71.3 MiB, against
/// 59.5 MiB with two arenas and 58.6 MiB with one, at the same speed (measured for CSV, XML and
/// JSON Lines). Two keep memory flat without making every thread wait on one lock.
enum MallocArenas {
    /// Applied once per process, before a run starts its threads.
    static let limited: Void = { _ = refundflow_limit_malloc_arenas(2) }()
}
