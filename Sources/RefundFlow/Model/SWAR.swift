/// Byte tests on eight bytes at once (SWAR). Each answer has the high bit of every matching byte
/// set and nothing else, exactly: no carry or borrow crosses from one byte to the next. Byte i
/// of a word is its i-th lowest byte (load with `UInt64(littleEndian:)`).
enum SWAR {
    static let ones: UInt64 = 0x0101_0101_0101_0101
    static let highs: UInt64 = 0x8080_8080_8080_8080
    private static let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F

    /// Bytes equal to zero: neither the high bit nor (the low 7 bits + 0x7F) sets bit 7.
    @inline(__always) static func zeroBytes(_ word: UInt64) -> UInt64 { ~(((word & lows) &+ lows) | word) & highs }

    /// Bytes equal to `byte`.
    @inline(__always) static func bytes(_ word: UInt64, equalTo byte: UInt8) -> UInt64 {
        zeroBytes(word ^ (ones &* UInt64(byte)))
    }

    /// Bytes below `bound` (at most 0x80): the high bit is clear and the low 7 bits +
    /// (0x80 − bound) stay below 0x80.
    @inline(__always) static func bytes(_ word: UInt64, below bound: UInt8) -> UInt64 {
        ~((word & lows) &+ (ones &* UInt64(0x80 - bound))) & ~word & highs
    }
}
