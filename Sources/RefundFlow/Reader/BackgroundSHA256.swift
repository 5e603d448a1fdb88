import Crypto
import Dispatch

/// SHA-256 of a stream, computed on another thread so that the reader's thread only copies.
///
/// `update` copies the bytes into the next of a few fixed blocks; each full block is hashed on a
/// serial queue, in order. Blocks are reused round-robin: a block is filled again only after the
/// queue has hashed it (the queue frees blocks in the order they were filled, so the permit a
/// fill waits for is always the next block's). Memory: `blockCount` × `blockSize`, however
/// large the file.
///
/// Not `Sendable`: one hasher belongs to one reader.
final class BackgroundSHA256 {
    /// One block of bytes. `@unchecked Sendable`: ownership passes whole between the threads —
    /// the reader's thread writes a block only between the permit it waited for and handing it
    /// to the queue; the queue reads it only from then until it signals the permit back.
    private final class Block: @unchecked Sendable {
        let bytes: UnsafeMutableRawBufferPointer
        var count = 0
        init(size: Int) { bytes = .allocate(byteCount: size, alignment: 64) }
        deinit { bytes.deallocate() }
    }

    /// `@unchecked Sendable`: only jobs on the serial `queue` touch `hasher`, one at a time, and
    /// `finalize` reads it inside `queue.sync`.
    private final class State: @unchecked Sendable {
        var hasher = SHA256()
    }

    private static let blockSize = 256 << 10
    private static let blockCount = 3
    private let blocks: [Block]
    private var next = 0
    /// The block being filled; nil when none is held.
    private var current: Block?
    private let permits = DispatchSemaphore(value: BackgroundSHA256.blockCount)
    private let queue = DispatchQueue(label: "refundflow.sha256")
    private let state = State()

    init() {
        blocks = (0..<Self.blockCount).map { _ in Block(size: Self.blockSize) }
    }

    deinit {
        // No job may still read a block when the blocks go.
        queue.sync {}
        // A reader that stopped mid-file holds a block's permit; libdispatch refuses to free a
        // semaphore below its initial value.
        if current != nil { permits.signal() }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let block: Block
            if let current {
                block = current
            } else {
                permits.wait()
                block = blocks[next]
                next = (next + 1) % blocks.count
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
        return queue.sync { state.hasher.finalize() }
    }

    private func submitCurrent() {
        guard let block = current else { return }
        current = nil
        queue.async { [state, permits] in
            state.hasher.update(bufferPointer: UnsafeRawBufferPointer(start: block.bytes.baseAddress, count: block.count))
            block.count = 0
            permits.signal()
        }
    }
}
