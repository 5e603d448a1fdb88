import Foundation
import Testing

@testable import RefundFlow

struct JSONBytesTests {
    /// Random strings over a pool of everything that needs care, at every offset and length
    /// (the writer checks 8 bytes at a time): both styles must round-trip through a real parser.
    @Test func escapesRoundTripInBothStyles() throws {
        let pool: [String] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}", "é", "纯", "😀", "&", "<"]
        var random = SplitMix64(seed: 7)
        for _ in 0..<2_000 {
            let length = Int(random.next() % 40)
            let text = (0..<length).map { _ in pool[Int(random.next() % UInt64(pool.count))] }.joined()
            for style in [JSONStringStyle.utf8, .phpASCII] {
                let json = JSONBytes()
                json.raw("[")
                json.string(text, style: style)
                json.raw("]")
                let bytes = json.bytes
                let decoded = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String]
                #expect(decoded == [text], "\(style): \(String(decoding: bytes, as: UTF8.self))")
                if style == .phpASCII {
                    #expect(bytes.allSatisfy { $0 < 0x80 })
                    #expect(!String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\\/", with: "").contains("/"))
                }
            }
        }
    }

    @Test func phpStyleMatchesJSONEncode() {
        let json = JSONBytes()
        json.string("纯棉T恤 白色/XL \"ok\" 😀", style: .phpASCII)
        #expect(String(decoding: json.bytes, as: UTF8.self) == #""\u7eaf\u68c9T\u6064 \u767d\u8272\/XL \"ok\" \ud83d\ude00""#)
    }

    /// The word-at-a-time flags are exact: every byte value, at every position, next to random
    /// neighbours (including the ones that made the older borrow-based test give false alarms).
    @Test func escapeFlagsAreExactPerByte() {
        var random = SplitMix64(seed: 11)
        for escapesHigh in [false, true] {
            for value in 0...255 {
                for position in 0..<8 {
                    for _ in 0..<16 {
                        var bytes = (0..<8).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                        bytes[position] = UInt8(value)
                        let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
                        let (flags, complex) = JSONBytes.escapeFlags(word, escapesHigh: escapesHigh)
                        for (index, byte) in bytes.enumerated() {
                            let isComplex = byte < 0x20 || (escapesHigh && byte >= 0x80)
                            let needs = isComplex || byte == 0x22 || byte == 0x5C || (escapesHigh && byte == 0x2F)
                            #expect((flags >> UInt64(8 * index + 7)) & 1 == (needs ? 1 : 0))
                            #expect((complex >> UInt64(8 * index + 7)) & 1 == (isComplex ? 1 : 0))
                            #expect((flags | complex) & ~0x8080_8080_8080_8080 == 0)
                        }
                    }
                }
            }
        }
    }
}
