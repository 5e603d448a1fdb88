#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The character encoding of a text input.
public enum SourceEncoding: String, Sendable, Hashable, CaseIterable {
    case utf8 = "utf-8"
    /// UTF-8 with a byte-order mark (the BOM is removed; it is also removed under `utf-8`).
    case utf8Sig = "utf-8-sig"
    case gbk
    case gb18030
    /// BOM → UTF-8; otherwise the first non-ASCII bytes decide: valid UTF-8, or GB18030.
    case auto
}

/// Strict decoder from the source encoding to UTF-8, used per field.
///
/// ASCII passes through untouched. Non-ASCII bytes are validated (UTF-8) or converted with
/// iconv (GBK, GB18030). An invalid byte is reported with its offset, never replaced.
/// Not `Sendable`: one decoder belongs to one read.
final class FieldDecoder {
    enum Mode: Equatable {
        case utf8
        case iconv(String)
        case undecided
    }

    private(set) var mode: Mode
    private var converter: iconv_t?
    /// The two-byte characters of the `iconv` encoding, by table (the common case, without iconv).
    private var table: DoubleByteTable?
    /// Where fields are converted before they are appended (grown as needed; never zero-filled).
    private var scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 4096)
    private var scratchCapacity = 4096
    /// How `auto` was resolved, for the report.
    private(set) var decision: String

    /// The encoding in force, for messages: `utf-8`, `gbk` or `gb18030`.
    var name: String {
        switch mode {
        case .utf8, .undecided: return "UTF-8"
        case .iconv(let name): return name
        }
    }

    init(_ encoding: SourceEncoding) throws(Diagnostic) {
        switch encoding {
        case .utf8, .utf8Sig:
            mode = .utf8
            decision = encoding.rawValue
        case .gbk:
            mode = .iconv("GBK")
            decision = "gbk"
        case .gb18030:
            mode = .iconv("GB18030")
            decision = "gb18030"
        case .auto:
            mode = .undecided
            decision = "auto → ascii (no non-ASCII bytes; UTF-8 and GB18030 agree)"
        }
        if case .iconv(let name) = mode { try openConverter(name) }
    }

    deinit {
        if let converter { iconv_close(converter) }
        scratch.deallocate()
    }

    private func openConverter(_ name: String) throws(Diagnostic) {
        let handle = iconv_open("UTF-8", name)
        if handle == iconv_t(bitPattern: -1) {
            throw Diagnostic(
                code: "input.encoding_unavailable", message: "this system's iconv cannot decode '\(name)'",
                notes: ["install the glibc locale data (Debian: libc-bin) or convert the file to UTF-8"])
        }
        converter = handle
        table = DoubleByteTable.shared(name)
    }

    /// A BOM seen at the start of the file settles `auto` as UTF-8.
    func sawByteOrderMark() {
        if mode == .undecided {
            mode = .utf8
            decision = "auto → utf-8 (byte-order mark)"
        }
    }

    /// The file is UTF-16 by its byte-order mark and reaches the reader converted to UTF-8:
    /// whatever the pipeline said, the mark settles it.
    func sawUTF16(_ name: String) {
        mode = .utf8
        decision = "\(name.lowercased()) (byte-order mark), converted to UTF-8"
    }

    /// The file is an Excel workbook whose sheet reaches the reader as UTF-8 CSV text: whatever
    /// the pipeline said, a workbook's text is Unicode.
    func sawWorkbook(sheet: String) {
        mode = .utf8
        decision = "xlsx workbook, sheet '\(sheet)', read as UTF-8"
    }

    /// Settles `auto` from a sample that starts at the first non-ASCII bytes.
    func decide(sample: UnsafeBufferPointer<UInt8>, atLine line: Int, isEndOfInput: Bool) throws(Diagnostic) {
        guard mode == .undecided else { return }
        if UTF8Validation.isValid(sample, allowTruncatedTail: !isEndOfInput) {
            mode = .utf8
            decision = "auto → utf-8 (valid UTF-8 from line \(line))"
        } else {
            mode = .iconv("GB18030")
            decision = "auto → gb18030 (bytes at line \(line) are not UTF-8)"
            try openConverter("GB18030")
        }
    }

    /// Appends the UTF-8 form of `bytes` (which contain non-ASCII) to `output`.
    /// Returns `nil` on success, or the offset of the first undecodable byte.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> Int? {
        switch mode {
        case .utf8, .undecided:
            if let bad = UTF8Validation.firstInvalidOffset(bytes) { return bad }
            output.append(contentsOf: bytes)
            return nil
        case .iconv:
            return convert(bytes, into: &output)
        }
    }

    /// GBK/GB18030 → UTF-8: by table when every non-ASCII character of the field is a two-byte
    /// one the table knows, else through iconv, which also finds the first bad byte.
    private func convert(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) -> Int? {
        guard let converter, let base = bytes.baseAddress else { return nil }
        // GBK/GB18030 → UTF-8 grows at most 2× (2 bytes → 3, 4 bytes → 4).
        let capacity = bytes.count * 2 + 8
        if capacity > scratchCapacity {
            scratch.deallocate()
            scratchCapacity = max(capacity, scratchCapacity * 2)
            scratch = .allocate(capacity: scratchCapacity)
        }
        if let table, let count = table.decode(bytes, into: scratch) {
            output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: count))
            return nil
        }
        let converted = convertWhole(converter, UnsafeBufferPointer(start: base, count: bytes.count), into: scratch, capacity: capacity)
        if let failure = converted.failure { return failure }
        output.append(contentsOf: UnsafeBufferPointer(start: scratch, count: converted.written))
        return nil
    }
}

/// Converts all of `input` with `converter`, from a fresh shift state, into `output` (room for
/// `capacity` bytes): how many bytes it wrote, or the offset of the first input byte it did not
/// take. The one place that calls iconv on a whole buffer.
func convertWhole(
    _ converter: iconv_t, _ input: UnsafeBufferPointer<UInt8>, into output: UnsafeMutablePointer<UInt8>, capacity: Int
) -> (written: Int, failure: Int?) {
    guard let base = input.baseAddress else { return (0, nil) }
    var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(mutating: base).assumingMemoryBound(to: CChar.self)
    var inLeft = input.count
    var outPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(output).assumingMemoryBound(to: CChar.self)
    var outLeft = capacity
    _ = iconv(converter, nil, nil, nil, nil)  // reset shift state
    let result = iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft)
    return (capacity - outLeft, result == -1 || inLeft > 0 ? input.count - inLeft : nil)
}

/// The two-byte characters of GBK or GB18030 (lead 0x81–0xFE, trail 0x40–0xFE) and their UTF-8,
/// built once per encoding from the system's iconv, character by character: the table maps
/// exactly as iconv does. A field with anything else (a four-byte GB18030 character, a byte
/// iconv refuses) is left to iconv, which converts it or reports where it fails.
struct DoubleByteTable: Sendable {
    /// For `(lead - 0x81) * 191 + (trail - 0x40)`: the UTF-8 bytes (low byte first) and their
    /// count in the top byte; 0 when iconv does not take the pair.
    private let entries: [UInt32]

    private static let gbk = DoubleByteTable(encoding: "GBK")
    private static let gb18030 = DoubleByteTable(encoding: "GB18030")

    static func shared(_ encoding: String) -> DoubleByteTable? {
        switch encoding {
        case "GBK": return gbk
        case "GB18030": return gb18030
        default: return nil
        }
    }

    private init?(encoding: String) {
        let converter = iconv_open("UTF-8", encoding)
        guard converter != iconv_t(bitPattern: -1), let converter else { return nil }
        defer { iconv_close(converter) }
        var entries = [UInt32](repeating: 0, count: 126 * 191)
        let input = UnsafeMutablePointer<UInt8>.allocate(capacity: 2)
        let output = UnsafeMutablePointer<UInt8>.allocate(capacity: 8)
        defer {
            input.deallocate()
            output.deallocate()
        }
        for lead in 0x81...0xFE {
            for trail in 0x40...0xFE {
                input[0] = UInt8(lead)
                input[1] = UInt8(trail)
                let converted = convertWhole(converter, UnsafeBufferPointer(start: input, count: 2), into: output, capacity: 8)
                let produced = converted.failure == nil ? converted.written : 0
                // A pair is one character of 2 or 3 UTF-8 bytes (no ASCII, nothing past the BMP).
                guard produced >= 2, produced <= 3, output[0] >= 0xC2 else { continue }
                var entry = UInt32(produced) << 24
                for index in 0..<produced { entry |= UInt32(output[index]) << (8 * UInt32(index)) }
                entries[(lead - 0x81) * 191 + (trail - 0x40)] = entry
            }
        }
        self.entries = entries
    }

    /// The UTF-8 of `bytes` written at `out` (room for twice as many bytes), and its length; nil
    /// when a byte needs iconv.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int? {
        var index = 0
        var written = 0
        let count = bytes.count
        return entries.withUnsafeBufferPointer { entries -> Int? in
            while index < count {
                let lead = bytes[index]
                if lead < 0x80 {
                    out[written] = lead
                    written += 1
                    index += 1
                    continue
                }
                guard lead >= 0x81, lead <= 0xFE, index + 1 < count else { return nil }
                let trail = bytes[index + 1]
                guard trail >= 0x40, trail <= 0xFE else { return nil }
                let entry = entries[Int(lead - 0x81) * 191 + Int(trail - 0x40)]
                guard entry != 0 else { return nil }
                out[written] = UInt8(truncatingIfNeeded: entry)
                out[written + 1] = UInt8(truncatingIfNeeded: entry >> 8)
                out[written + 2] = UInt8(truncatingIfNeeded: entry >> 16)  // harmless past a 2-byte character
                written += Int(entry >> 24)
                index += 2
            }
            return written
        }
    }
}

/// UTF-8 validity checks (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF).
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>, allowTruncatedTail: Bool) -> Bool {
        guard let bad = firstInvalidOffset(bytes) else { return true }
        // A sequence cut by the end of the sample is not evidence against UTF-8.
        return allowTruncatedTail && bytes.count - bad < 4 && isTruncatedPrefix(bytes, from: bad)
    }

    private static func isTruncatedPrefix(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Bool {
        let lead = bytes[start]
        let needed: Int
        if lead & 0xE0 == 0xC0 { needed = 2 } else if lead & 0xF0 == 0xE0 { needed = 3 } else if lead & 0xF8 == 0xF0 {
            needed = 4
        } else {
            return false
        }
        guard bytes.count - start < needed else { return false }
        for index in (start + 1)..<bytes.count where bytes[index] & 0xC0 != 0x80 { return false }
        return true
    }

    /// Offset of the first byte that does not begin a valid sequence, or `nil`.
    static func firstInvalidOffset(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var index = 0
        let count = bytes.count
        guard let base = bytes.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        while index < count {
            // ASCII runs eight bytes at a time.
            while index + 8 <= count, raw.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                index += 8
            }
            guard index < count else { break }
            let byte = bytes[index]
            if byte < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var lowerBound: UInt8 = 0x80
            var upperBound: UInt8 = 0xBF
            switch byte {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                lowerBound = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                upperBound = 0x9F
            case 0xF0:
                length = 4
                lowerBound = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                upperBound = 0x8F
            default: return index
            }
            guard index + length <= count else { return index }
            let second = bytes[index + 1]
            guard second >= lowerBound && second <= upperBound else { return index }
            for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 { return index }
            index += length
        }
        return nil
    }

    /// Number of Unicode scalars in valid UTF-8 (what the API's length limits count).
    static func scalarCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var count = 0
        for byte in bytes where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }
}

/// UTF-8 → another encoding through iconv (for generating test and benchmark exports).
final class IconvEncoder {
    private let converter: iconv_t

    init(to encoding: String) throws(Diagnostic) {
        let handle = iconv_open(encoding, "UTF-8")
        guard handle != iconv_t(bitPattern: -1), let handle else {
            throw Diagnostic(code: "encoding.unavailable", message: "this system's iconv cannot encode '\(encoding)'")
        }
        converter = handle
    }

    deinit { iconv_close(converter) }

    /// Converts valid UTF-8; characters the target cannot hold make this throw.
    func encode(_ utf8: [UInt8]) throws(Diagnostic) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: utf8.count * 2 + 8)
        let converted = utf8.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in convertWhole(converter, input, into: out.baseAddress!, capacity: out.count) }
        }
        if converted.failure != nil { throw Diagnostic(code: "encoding.unencodable", message: "text cannot be encoded in the target encoding") }
        output.removeLast(output.count - converted.written)
        return output
    }
}
