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
}
