import Foundation

/// Matches a value's UTF-8 bytes against a pipeline pattern.
///
/// Character-class patterns such as `^[0-9]+$` or `^\d{1,40}$` (the common id rules) are
/// checked byte by byte; anything else goes through `NSRegularExpression`, anchored as written.
enum PatternMatcher: Sendable {
    case characterClass(allowed: ASCIISet, minCount: Int, maxCount: Int)
    case regex(NSRegularExpression)

    init(_ source: String) throws {
        if let fast = Self.compileCharacterClass(source) {
            self = fast
        } else {
            self = .regex(try NSRegularExpression(pattern: source))
        }
    }

    func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch self {
        case .characterClass(let allowed, let minCount, let maxCount):
            guard bytes.count >= minCount && bytes.count <= maxCount else { return false }
            for byte in bytes where !allowed.contains(byte) { return false }
            return true
        case .regex(let regex):
            let text = String(decoding: bytes, as: UTF8.self)
            let range = NSRange(text.startIndex..<text.endIndex, in: text)
            return regex.firstMatch(in: text, range: range) != nil
        }
    }

    /// `^[class]+$`, `^[class]*$`, `^[class]{m,n}$`, `^\d+$` … with an ASCII class.
    private static func compileCharacterClass(_ source: String) -> PatternMatcher? {
        var text = Substring(source)
        guard text.hasPrefix("^"), text.hasSuffix("$") else { return nil }
        text = text.dropFirst().dropLast()
        var allowed = ASCIISet()
        if text.hasPrefix("\\d") {
            allowed.insert(range: UInt8(ascii: "0")...UInt8(ascii: "9"))
            text = text.dropFirst(2)
        } else if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let body = Array(text[text.index(after: text.startIndex)..<close].utf8)
            guard !body.isEmpty, body.first != UInt8(ascii: "^") else { return nil }
            var index = 0
            while index < body.count {
                var first = body[index]
                if first == UInt8(ascii: "\\") {
                    guard index + 1 < body.count else { return nil }
                    let escaped = body[index + 1]
                    if escaped == UInt8(ascii: "d") {
                        allowed.insert(range: UInt8(ascii: "0")...UInt8(ascii: "9"))
                        index += 2
                        continue
                    }
                    guard !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains(escaped),
                        !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(escaped)
                    else { return nil }
                    first = escaped
                    index += 1
                }
                guard first < 0x80 else { return nil }
                if index + 2 < body.count, body[index + 1] == UInt8(ascii: "-") {
                    let last = body[index + 2]
                    guard last < 0x80, last >= first, last != UInt8(ascii: "\\") else { return nil }
                    allowed.insert(range: first...last)
                    index += 3
                } else {
                    allowed.insert(range: first...first)
                    index += 1
                }
            }
            text = text[text.index(after: close)...]
        } else {
            return nil
        }
        switch text {
        case "+": return .characterClass(allowed: allowed, minCount: 1, maxCount: .max)
        case "*": return .characterClass(allowed: allowed, minCount: 0, maxCount: .max)
        default:
            guard text.hasPrefix("{"), text.hasSuffix("}") else { return nil }
            let bounds = text.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false)
            if bounds.count == 1, let exact = Int(bounds[0]) {
                return .characterClass(allowed: allowed, minCount: exact, maxCount: exact)
            }
            guard bounds.count == 2, let low = Int(bounds[0]) else { return nil }
            let high = bounds[1].isEmpty ? Int.max : Int(bounds[1])
            guard let high, high >= low else { return nil }
            return .characterClass(allowed: allowed, minCount: low, maxCount: high)
        }
    }
}

/// A set of ASCII bytes as a 128-bit mask.
struct ASCIISet: Sendable, Hashable {
    private var low: UInt64 = 0
    private var high: UInt64 = 0

    mutating func insert(range: ClosedRange<UInt8>) {
        for byte in range where byte < 128 {
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }
    }

    @inline(__always) func contains(_ byte: UInt8) -> Bool {
        if byte < 64 { return low & (1 << UInt64(byte)) != 0 }
        if byte < 128 { return high & (1 << UInt64(byte - 64)) != 0 }
        return false
    }
}
