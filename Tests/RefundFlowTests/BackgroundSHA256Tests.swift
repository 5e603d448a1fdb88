import Crypto
import Testing

@testable import RefundFlow

struct BackgroundSHA256Tests {
    /// Bytes in pieces of every kind of size (one byte, a block's worth, several blocks, none):
    /// the digest is SHA-256 of all of them in order, also when asked for along the way.
    @Test func digestIsThatOfEveryByteInOrder() {
        var random = SplitMix64(seed: 3)
        let total = 5 << 20 + 12_345
        let data = (0..<total).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        for pattern in 0..<4 {
            let hasher = BackgroundSHA256()
            var offset = 0
            var checks = 0
            while offset < total {
                let size: Int
                switch pattern {
                case 0: size = 1 + Int(random.next() % 70_000)
                case 1: size = Int(random.next() % 3) == 0 ? 0 : 1 + Int(random.next() % 16)
                case 2: size = (1 << 20) * (1 + Int(random.next() % 3)) + Int(random.next() % 3) - 1
                default: size = 4096
                }
                let end = min(total, offset + size)
                data[offset..<end].withUnsafeBytes { hasher.update($0) }
                offset = end
                if pattern == 1 && offset > (checks + 1) * 300_000 {
                    // Asked along the way, then more bytes: each answer covers what came so far.
                    checks += 1
                    #expect(hasher.finalize() == SHA256.hash(data: data[0..<offset]))
                }
                if pattern == 1 && offset > 1_000_000 { break }
            }
            #expect(hasher.finalize() == SHA256.hash(data: data[0..<offset]), "pattern \(pattern)")
            #expect(hasher.finalize() == SHA256.hash(data: data[0..<offset]), "asked twice, pattern \(pattern)")
        }
    }

    /// A reader that stops mid-file drops its hasher with a block half full.
    @Test func aHasherDroppedMidBlockIsFreed() {
        for size in [1, 1 << 20, 1 << 20 + 1, 3 << 20, 3 << 20 + 5] {
            let hasher = BackgroundSHA256()
            let bytes = [UInt8](repeating: 7, count: size)
            bytes.withUnsafeBytes { hasher.update($0) }
        }
    }
}
