import Crypto

/// SHA-256 of a stream, computed on another thread so that the reader's thread only copies.
///
/// `update` copies the bytes into the next of a few fixed blocks; each full block is hashed by
/// an `OrderedWorker`, in order. Blocks are reused round-robin, and the worker takes at most
/// one block fewer than there are, so the block being filled is never one still being hashed.
/// Memory: `blockCount` × `blockSize`, however large the file.
///
/// Not `Sendable`: one hasher belongs to one reader.
final class BackgroundSHA256 {
    /// One block of bytes. `@unchecked Sendable`: ownership passes whole between the threads —
    /// the reader's thread writes a block only while no job for it is pending, and a job reads
    /// it only between its submission and its end.
    private final class Block: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer
        var count = 0
        init(size: Int) { bytes = .allocate(byteCount: size, alignment: 64) }
        deinit { bytes.deallocate() }
    }

    /// `@unchecked Sendable`: `hasher` is touched only by the worker's jobs, one at a time, and
    /// read by `finalize` after `drain()`.
    private final class State: @unchecked Sendable {
        var hasher = SHA256()
    }

    private static let blockSize = 256 << 10
    private static let blockCount = 3
    private let blocks: [Block]
    private var next = 0
    /// The block being filled; nil when none is.
    private var current: Block?
    private let worker = OrderedWorker(label: "refundflow.sha256", inFlight: BackgroundSHA256.blockCount - 1)
    private let state = State()

    init() {
        blocks = (0..<Self.blockCount).map { _ in Block(size: Self.blockSize) }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let block: Block
            if let current {
                block = current
            } else {
                block = blocks[next]
                next = (next + 1) % blocks.count
                block.count = 0
                current = block
            }
            let count = min(bytes.count - offset, block.bytes.count - block.count)
            (block.bytes.baseAddress! + block.count).copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
            block.count += count
            offset += count
            if block.count == block.bytes.count { submitCurrent() }
        }
    }

    /// The digest of every byte given so far (more may follow).
    func finalize() -> SHA256Digest {
        submitCurrent()
        _ = worker.drain()  // hashing throws nothing
        return state.hasher.finalize()
    }

    private func submitCurrent() {
        guard let block = current else { return }
        current = nil
        worker.submit { [state] in
            state.hasher.update(bufferPointer: UnsafeRawBufferPointer(start: block.bytes.baseAddress, count: block.count))
        }
    }
}
