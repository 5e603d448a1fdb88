#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How strings are escaped in JSON output.
public enum JSONStringStyle: Sendable {
    /// Raw UTF-8; only `"`, `\` and control characters are escaped. For files people read.
    case utf8
    /// PHP `json_encode` with default flags, as the vendor's wdtsdk.php sends: every non-ASCII
    /// character as a lowercase `\uXXXX` (surrogate pairs past the BMP) and `/` as `\/`.
    case phpASCII
}

/// A growable byte buffer with cheap appends: the output side's hot path.
///
/// A class so that writers share one buffer without copy-on-write checks per byte. Not
/// `Sendable`: each buffer belongs to one writer on one thread.
final class ByteBuffer {
    @exclusivity(unchecked) private(set) var base: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private(set) var count = 0
    @exclusivity(unchecked) private var capacity: Int

    init(capacity: Int = 4096) {
        self.capacity = max(16, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    @inline(__always) func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = newCapacity
    }

    @inline(__always) func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    @inline(__always) func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        (base + count).update(from: source, count: bytes.count)
        count += bytes.count
    }

    func append(_ bytes: [UInt8]) { bytes.withUnsafeBufferPointer { append($0) } }

    func append(_ text: StaticString) { text.withUTF8Buffer { append($0) } }

    func append(contentsOf other: ByteBuffer) { append(other.buffer) }

    /// Lets `body` write into reserved space after the bytes; it returns how many it wrote.
    /// The caller must have reserved at least that many.
    @inline(__always) func withUnsafeTail(_ body: (UnsafeMutablePointer<UInt8>) -> Int) -> Int {
        let written = body(base + count)
        count += written
        return written
    }

    func removeAll() { count = 0 }

    /// Keeps the first `length` bytes.
    func truncate(to length: Int) {
        precondition(length >= 0 && length <= count)
        count = length
    }

    /// Whether the stored bytes at `range` equal `other`.
    @inline(__always) func equals(_ range: Range<Int>, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        range.count == other.count && (other.count == 0 || memcmp(base + range.lowerBound, other.baseAddress!, other.count) == 0)
    }

    var buffer: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    var array: [UInt8] { Array(buffer) }
}

/// Appends JSON to a byte buffer: fast, key order as written, numbers as given.
/// (Foundation's encoders reorder keys, drop trailing zeros and are 8–60× slower here.)
struct JSONBytes {
    let buffer: ByteBuffer

    init(capacity: Int = 1024) { buffer = ByteBuffer(capacity: capacity) }

    /// The bytes written so far (a copy).
    var bytes: [UInt8] { buffer.array }

    func removeAll() { buffer.removeAll() }

    func raw(_ text: StaticString) { buffer.append(text) }

    func raw(_ other: [UInt8]) { buffer.append(other) }

    func raw(_ other: UnsafeBufferPointer<UInt8>) { buffer.append(other) }

    func string(_ value: String, style: JSONStringStyle = .utf8) {
        var value = value
        value.withUTF8 { string($0, style: style) }
    }

    /// A JSON string literal of valid UTF-8 `utf8`. Writes through reserved raw memory: the
    /// worst case (a control byte as `\u00XX`) is 6 output bytes per input byte.
    func string(_ utf8: UnsafeBufferPointer<UInt8>, style: JSONStringStyle = .utf8) {
        let count = utf8.count
        buffer.reserve(count * 6 + 2)
        let escapesHigh = style == .phpASCII
        _ = buffer.withUnsafeTail { out -> Int in
            var o = 0
            out[o] = UInt8(ascii: "\"")
            o += 1
            var index = 0
            let input = UnsafeRawPointer(utf8.baseAddress)
            while index < count {
                if index + 8 <= count {
                    // Eight bytes at a time (SWAR). The flags are exact (see `escapeFlags`):
                    // the plain bytes before the first flagged one are copied with the word,
                    // and the escape below starts right at it.
                    let loaded = input!.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    // Byte i of the input is byte i of `word` counted from the low end.
                    let word = UInt64(littleEndian: loaded)
                    let (flags, complex) = Self.escapeFlags(word, escapesHigh: escapesHigh)
                    if flags == 0 {
                        UnsafeMutableRawPointer(out + o).storeBytes(of: loaded, as: UInt64.self)
                        o += 8
                        index += 8
                        continue
                    }
                    if complex == 0 {
                        // Only `"`, `\` (and `/` in PHP style): a backslash before each, branch
                        // free (they are dense in escaped JSON bodies, where branches mispredict).
                        for byteIndex in 0..<8 {
                            let shift = UInt64(8 &* byteIndex)
                            let escaped = Int(truncatingIfNeeded: (flags &>> (shift &+ 7)) & 1)
                            out[o] = UInt8(ascii: "\\")
                            out[o &+ escaped] = UInt8(truncatingIfNeeded: word &>> shift)
                            o &+= 1 &+ escaped
                        }
                        index += 8
                        continue
                    }
                    UnsafeMutableRawPointer(out + o).storeBytes(of: loaded, as: UInt64.self)
                    let plain = flags.trailingZeroBitCount >> 3
                    o += plain
                    index += plain
                } else {
                    // The last few bytes, one at a time.
                    let byte = utf8[index]
                    if byte >= 0x20 && byte != 0x22 && byte != 0x5C && !(escapesHigh && (byte == 0x2F || byte >= 0x80)) {
                        out[o] = byte
                        o += 1
                        index += 1
                        continue
                    }
                }
                let byte = utf8[index]
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
                    out[o] = UInt8(ascii: "\\")
                    out[o + 1] = byte
                    o += 2
                case 0x0A, 0x0D, 0x09, 0x08, 0x0C:
                    out[o] = UInt8(ascii: "\\")
                    out[o + 1] = byte == 0x0A ? UInt8(ascii: "n") : byte == 0x0D ? UInt8(ascii: "r") : byte == 0x09 ? UInt8(ascii: "t") : byte == 0x08 ? UInt8(ascii: "b") : UInt8(ascii: "f")
                    o += 2
                case 0..<0x20:
                    o += Self.unicodeEscape(UInt32(byte), into: out + o)
                default:
                    // Non-ASCII in phpASCII style: one \uXXXX per scalar (a surrogate pair past
                    // the BMP) for the whole run of non-ASCII characters here (input is valid
                    // UTF-8); three-byte sequences (CJK) decoded directly.
                    repeat {
                        let lead = utf8[index]
                        if lead & 0xF0 == 0xE0 && index + 2 < count {
                            let scalar = UInt32(lead & 0x0F) << 12 | UInt32(utf8[index + 1] & 0x3F) << 6 | UInt32(utf8[index + 2] & 0x3F)
                            o += Self.unicodeEscape(scalar, into: out + o)
                            index += 3
                            continue
                        }
                        var scalar: UInt32
                        var length: Int
                        if lead >= 0xF0 {
                            scalar = UInt32(lead & 0x07)
                            length = 4
                        } else if lead >= 0xE0 {
                            scalar = UInt32(lead & 0x0F)
                            length = 3
                        } else {
                            scalar = UInt32(lead & 0x1F)
                            length = 2
                        }
                        for offset in 1..<length where index + offset < count {
                            scalar = (scalar << 6) | UInt32(utf8[index + offset] & 0x3F)
                        }
                        if scalar >= 0x10000 {
                            let value = scalar - 0x10000
                            o += Self.unicodeEscape(0xD800 + (value >> 10), into: out + o)
                            o += Self.unicodeEscape(0xDC00 + (value & 0x3FF), into: out + o)
                        } else {
                            o += Self.unicodeEscape(scalar, into: out + o)
                        }
                        index += length
                    } while index < count && utf8[index] >= 0x80
                    continue
                }
                index += 1
            }
            out[o] = UInt8(ascii: "\"")
            return o + 1
        }
    }

    /// The high bit of each byte of `word` (byte 0 = its low byte) that needs escaping: a
    /// control byte, `"` or `\`, and in PHP style also `/` or a non-ASCII byte; and, in
    /// `complex`, those among them that need more than a backslash before them (control bytes,
    /// and non-ASCII bytes in PHP style). Exact per byte: no carry or borrow crosses from one
    /// byte to the next. `flags` is zero when the whole word is plain.
    @inline(__always) static func escapeFlags(_ word: UInt64, escapesHigh: Bool) -> (flags: UInt64, complex: UInt64) {
        var complex = SWAR.bytes(word, below: 0x20)
        var simple = SWAR.bytes(word, equalTo: 0x22) | SWAR.bytes(word, equalTo: 0x5C)
        if escapesHigh {
            simple |= SWAR.bytes(word, equalTo: 0x2F)
            complex |= word & SWAR.highs
        }
        return (simple | complex, complex)
    }

    @inline(__always) private static func unicodeEscape(_ unit: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = UInt8(ascii: "\\")
        out[1] = UInt8(ascii: "u")
        out[2] = hexDigit(unit >> 12)
        out[3] = hexDigit(unit >> 8)
        out[4] = hexDigit(unit >> 4)
        out[5] = hexDigit(unit)
        return 6
    }

    /// The lowercase hex digit of the low 4 bits.
    @inline(__always) private static func hexDigit(_ value: UInt32) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        // Past 9, skip the 39 characters between "9" and "a" (branch free).
        return nibble &+ UInt8(ascii: "0") &+ ((UInt8(9) &- nibble) >> 7) &* 39
    }

    func integer(_ value: Int) {
        if value == 0 {
            buffer.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { buffer.append(UInt8(ascii: "-")) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, no allocation
        withUnsafeMutableBytes(of: &digits) { scratch in
            var used = 0
            while magnitude > 0 {
                scratch[23 - used] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                used += 1
            }
            buffer.append(UnsafeBufferPointer(rebasing: scratch.bindMemory(to: UInt8.self)[(24 - used)...]))
        }
    }

    func decimal(_ value: Decimal4, minFractionDigits: Int) {
        value.append(to: buffer, minFractionDigits: minFractionDigits)
    }

    func key(_ name: StaticString, first: Bool = false) {
        if !first { buffer.append(UInt8(ascii: ",")) }
        buffer.append(UInt8(ascii: "\""))
        buffer.append(name)
        buffer.append("\":")
    }

    func key(_ name: String, first: Bool = false) {
        if !first { buffer.append(UInt8(ascii: ",")) }
        string(name)
        buffer.append(UInt8(ascii: ":"))
    }

    func keyValue(_ name: String, _ value: String?, first: Bool = false) {
        key(name, first: first)
        if let value { string(value) } else { raw("null") }
    }

    func keyValue(_ name: String, _ value: Int, first: Bool = false) {
        key(name, first: first)
        integer(value)
    }

    /// `["a","b"]`.
    /// `[{…},{…}]`: an object per item, its members written by `members` (the first with
    /// `first: true`); with `onePerLine`, each object on a line of its own, indented.
    func objectArray<Item>(_ items: some Sequence<Item>, onePerLine: Bool = false, _ members: (Item) -> Void) {
        raw("[")
        for (index, item) in items.enumerated() {
            if index > 0 { raw(",") }
            if onePerLine { raw("\n    ") }
            raw("{")
            members(item)
            raw("}")
        }
        raw(onePerLine ? "\n  ]" : "]")
    }

    func stringArray(_ values: [String]) {
        raw("[")
        for (index, value) in values.enumerated() {
            if index > 0 { raw(",") }
            string(value)
        }
        raw("]")
    }

    func keyValue(_ name: String, _ value: Bool, first: Bool = false) {
        key(name, first: first)
        if value { raw("true") } else { raw("false") }
    }
}

/// An output file written through a large buffer.
final class BufferedOutput {
    private let descriptor: Int32
    private let pending = ByteBuffer(capacity: 1 << 18)
    let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw Diagnostic(code: "output.unwritable", message: "cannot write '\(path)': \(String(cString: strerror(errno)))", notes: ["check that --out names a writable directory"])
        }
    }

    deinit {
        try? flush()
        close(descriptor)
    }

    func write(_ bytes: [UInt8]) throws {
        pending.append(bytes)
        if pending.count >= 1 << 18 { try flush() }
    }

    /// Writes one line: the buffer's bytes plus LF.
    func writeLine(_ line: ByteBuffer) throws {
        pending.append(contentsOf: line)
        pending.append(0x0A)
        if pending.count >= 1 << 18 { try flush() }
    }

    func flush() throws {
        var offset = 0
        let bytes = pending.buffer
        while offset < bytes.count {
            let written = systemWrite(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw Diagnostic(code: "output.unwritable", message: "cannot write '\(path)': \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        pending.removeAll()
    }
}

#if canImport(Glibc)
    @inline(__always) private func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        Glibc.write(fd, pointer, count)
    }
#elseif canImport(Darwin)
    @inline(__always) private func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
        Darwin.write(fd, pointer, count)
    }
#endif
