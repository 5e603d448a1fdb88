#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation

/// An exact set of duplicate keys whose memory stays bounded however many keys it holds.
///
/// Recent keys live in memory. Every `spillThreshold` keys they are sorted by hash and appended
/// as a run to an unlinked temporary file; only every 64th hash of a run stays in memory (a
/// fence). A Bloom filter over the spilled keys answers "new" without touching disk for nearly
/// every key (blocked: the 7 bits of a key share one cache line, picked by the hash's top bits,
/// so a spill fills it in memory order); when it says "maybe", the runs are searched and the
/// key bytes compared, so the answer is always exact. Each key carries an 8-byte origin (where
/// its record was), which a duplicate gets back. Memory: 8 MiB of filter, the in-memory batch,
/// and 16 bytes per 64 keys.
///
/// Not `Sendable`: one index belongs to one run.
final class DuplicateIndex {
    private struct Entry {
        var hash: UInt64
        var origin: UInt64
        var start: Int32
        var length: Int32
    }

    private struct Run {
        var fenceHashes: [UInt64]
        var fenceOffsets: [Int64]  // one more than fenceHashes: the end of the last block
    }

    private let bloomBits: UInt64 = 1 << 26
    private let bloom: UnsafeMutablePointer<UInt64>
    private let spillThreshold: Int
    /// Open addressing over `entries`: a slot holds the key hash's top 32 bits above entry
    /// index + 1, or 0 when empty, so a probe touches an entry only when those bits match (a
    /// new key, the common case, reads no entry). Twice the spill threshold, a power of two, so
    /// probes stay short.
    private let table: UnsafeMutablePointer<UInt64>
    private let tableMask: Int
    private var entries: [Entry] = []
    private var keyBytes: [UInt8] = []
    private var runs: [Run] = []
    private var file: Int32 = -1
    private var fileEnd: Int64 = 0
    private var readBuffer: [UInt8] = []
    /// Spilled entries go out through this buffer, a write each time it holds this many bytes.
    private static let spillWriteSize = 1 << 18
    private let spillBuffer = ByteBuffer(capacity: DuplicateIndex.spillWriteSize)
    private(set) var count = 0
    private let directory: String

    /// - Parameter directory: where the (immediately unlinked) spill file goes.
    init(directory: String = NSTemporaryDirectory(), spillThreshold: Int = 65_536) {
        self.directory = directory
        self.spillThreshold = spillThreshold
        // calloc: pages are zero-filled lazily by the kernel, so small runs stay small.
        bloom = calloc(Int(bloomBits / 64), 8)!.assumingMemoryBound(to: UInt64.self)
        var size = 16
        while size < spillThreshold * 2 { size *= 2 }
        table = calloc(size, 8)!.assumingMemoryBound(to: UInt64.self)
        tableMask = size - 1
        entries.reserveCapacity(spillThreshold)
    }

    deinit {
        free(bloom)
        free(table)
        if file >= 0 { close(file) }
    }

    /// Adds `key`; returns false when it was already present.
    func insert(_ key: UnsafeBufferPointer<UInt8>) throws -> Bool { try insert(key, origin: 0) == nil }

    /// Adds `key` with `origin`; when it was already present, returns the first one's origin.
    func insert(_ key: UnsafeBufferPointer<UInt8>, origin: UInt64) throws -> UInt64? {
        let hash = ByteHash.hash(key)
        if let first = originInMemory(hash, key) { return first }
        if !runs.isEmpty, bloomMayContain(hash), let first = try originOnDisk(hash, key) { return first }
        let start = Int32(keyBytes.count)
        keyBytes.append(contentsOf: key)
        entries.append(Entry(hash: hash, origin: origin, start: start, length: Int32(key.count)))
        var slot = Int(truncatingIfNeeded: hash) & tableMask
        while table[slot] != 0 { slot = (slot + 1) & tableMask }
        table[slot] = Self.tag(hash) | UInt64(entries.count)
        count += 1
        if entries.count >= spillThreshold { try spill() }
        return nil
    }

    // MARK: - Memory

    @inline(__always) private static func tag(_ hash: UInt64) -> UInt64 { hash & 0xFFFF_FFFF_0000_0000 }

    private func originInMemory(_ hash: UInt64, _ key: UnsafeBufferPointer<UInt8>) -> UInt64? {
        let tag = Self.tag(hash)
        var slot = Int(truncatingIfNeeded: hash) & tableMask
        while case let held = table[slot], held != 0 {
            if Self.tag(held) == tag {
                let entry = entries[Int(truncatingIfNeeded: held & 0xFFFF_FFFF) - 1]
                if entry.hash == hash && Int(entry.length) == key.count
                    && keyBytes[Int(entry.start)..<Int(entry.start + entry.length)].elementsEqual(key)
                {
                    return entry.origin
                }
            }
            slot = (slot + 1) & tableMask
        }
        return nil
    }

    // MARK: - Bloom filter (blocked: k = 7 bits inside one 512-bit block, one cache line)

    @inline(__always) private func block(_ hash: UInt64) -> Int {
        // 2^26 bits = 2^17 blocks of 512 bits (8 words); the top 17 bits pick the block.
        Int(hash >> UInt64(64 - (bloomBits >> 9).trailingZeroBitCount)) << 3
    }

    /// 63 bits for the 7 positions inside the block, remixed so they do not repeat the top bits
    /// that chose the block.
    @inline(__always) private static func bitSource(_ hash: UInt64) -> UInt64 {
        (hash ^ (hash >> 29)) &* 0xbf58_476d_1ce4_e5b9
    }

    private func bloomAdd(_ hash: UInt64) {
        let base = block(hash)
        var bits = Self.bitSource(hash)
        for _ in 0..<7 {
            let bit = bits & 511
            bloom[base + Int(bit >> 6)] |= 1 << (bit & 63)
            bits = (bits >> 9) | (bits << 55)
        }
    }

    private func bloomMayContain(_ hash: UInt64) -> Bool {
        let base = block(hash)
        var bits = Self.bitSource(hash)
        for _ in 0..<7 {
            let bit = bits & 511
            if bloom[base + Int(bit >> 6)] & (1 << (bit & 63)) == 0 { return false }
            bits = (bits >> 9) | (bits << 55)
        }
        return true
    }

    // MARK: - Disk runs

    /// Run layout: entries sorted by hash, each `hash (8) | length (4) | origin (8) | key bytes`.
    private func spill() throws {
        if file < 0 { try openSpillFile() }
        entries.sort { $0.hash < $1.hash }  // the table is cleared below, so order is free
        var run = Run(fenceHashes: [], fenceOffsets: [])
        run.fenceHashes.reserveCapacity(entries.count / 64 + 1)
        run.fenceOffsets.reserveCapacity(entries.count / 64 + 2)
        var offset = fileEnd  // where the next entry goes in the file
        var flushed = fileEnd  // where `spillBuffer` starts in the file
        let out = spillBuffer
        out.removeAll()
        try keyBytes.withUnsafeBufferPointer { keys in
            for (position, entry) in entries.enumerated() {
                if position % 64 == 0 {
                    run.fenceHashes.append(entry.hash)
                    run.fenceOffsets.append(offset)
                }
                bloomAdd(entry.hash)  // in hash order: the filter is filled front to back
                let length = Int(entry.length)
                out.reserve(20 + length)
                _ = out.withUnsafeTail { tail in
                    let raw = UnsafeMutableRawPointer(tail)
                    raw.storeBytes(of: entry.hash.littleEndian, toByteOffset: 0, as: UInt64.self)
                    raw.storeBytes(of: UInt32(entry.length).littleEndian, toByteOffset: 8, as: UInt32.self)
                    raw.storeBytes(of: entry.origin.littleEndian, toByteOffset: 12, as: UInt64.self)
                    if length > 0 { (raw + 20).copyMemory(from: keys.baseAddress! + Int(entry.start), byteCount: length) }
                    return 20 + length
                }
                offset += Int64(20 + length)
                if out.count >= Self.spillWriteSize {
                    try write(out.buffer, at: flushed)
                    flushed = offset
                    out.removeAll()
                }
            }
        }
        if out.count > 0 { try write(out.buffer, at: flushed) }
        out.removeAll()
        run.fenceOffsets.append(offset)
        fileEnd = offset
        runs.append(run)
        table.update(repeating: 0, count: tableMask + 1)
        entries.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
    }

    private func originOnDisk(_ hash: UInt64, _ key: UnsafeBufferPointer<UInt8>) throws -> UInt64? {
        for run in runs {
            // The last block whose first hash is below `hash` may hold it, and so may the
            // following blocks that start with exactly `hash`.
            var low = 0
            var high = run.fenceHashes.count
            while low < high {
                let middle = (low + high) / 2
                if run.fenceHashes[middle] < hash { low = middle + 1 } else { high = middle }
            }
            var blockIndex = max(0, low - 1)
            while blockIndex < run.fenceHashes.count && run.fenceHashes[blockIndex] <= hash {
                if let origin = try block(blockIndex, of: run, find: hash, key) { return origin }
                blockIndex += 1
            }
        }
        return nil
    }

    /// The origin stored with `key` in block `index` of `run`, or nil.
    private func block(_ index: Int, of run: Run, find hash: UInt64, _ key: UnsafeBufferPointer<UInt8>) throws -> UInt64? {
        let start = run.fenceOffsets[index]
        let length = Int(run.fenceOffsets[index + 1] - start)
        readBuffer.removeAll(keepingCapacity: true)
        readBuffer.append(contentsOf: repeatElement(0, count: length))
        let got = readBuffer.withUnsafeMutableBytes { pread(file, $0.baseAddress, length, off_t(start)) }
        guard got == length else { throw Diagnostic(code: "run.spill_io", message: "cannot read the duplicate-key spill file: \(String(cString: strerror(errno)))") }
        var cursor = 0
        while cursor + 20 <= length {
            var entryHash: UInt64 = 0
            var keyLength: UInt32 = 0
            var origin: UInt64 = 0
            readBuffer.withUnsafeBytes { raw in
                entryHash = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: UInt64.self))
                keyLength = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: cursor + 8, as: UInt32.self))
                origin = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: cursor + 12, as: UInt64.self))
            }
            let keyStart = cursor + 20
            if entryHash == hash && Int(keyLength) == key.count
                && readBuffer[keyStart..<(keyStart + Int(keyLength))].elementsEqual(key)
            {
                return origin
            }
            if entryHash > hash { return nil }
            cursor = keyStart + Int(keyLength)
        }
        return nil
    }

    private func openSpillFile() throws {
        var template = Array((directory.hasSuffix("/") ? directory : directory + "/").utf8CString.dropLast())
        template.append(contentsOf: Array("refundflow-keys-XXXXXX".utf8CString))
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw Diagnostic(code: "run.spill_io", message: "cannot create a temporary file in '\(directory)' for duplicate keys: \(String(cString: strerror(errno)))", notes: ["set TMPDIR to a writable directory"])
        }
        // Unlinked at once: the kernel frees it when the run ends, even after a crash.
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        file = descriptor
    }

    private func write(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int64) throws {
        let written = pwrite(file, bytes.baseAddress, bytes.count, off_t(offset))
        guard written == bytes.count else {
            throw Diagnostic(code: "run.spill_io", message: "cannot write the duplicate-key spill file: \(String(cString: strerror(errno)))")
        }
    }
}
