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

private let hex: [UInt8] = Array("0123456789abcdef".utf8)

/// Appends JSON to a byte buffer: fast, key order as written, numbers as given.
/// (Foundation's encoders reorder keys, drop trailing zeros and are 8–60× slower here.)
struct JSONBytes {
    var bytes: [UInt8] = []

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ other: [UInt8]) { bytes.append(contentsOf: other) }

    mutating func string(_ value: String, style: JSONStringStyle = .utf8) {
        var value = value
        value.withUTF8 { string($0, style: style) }
    }

    mutating func string(_ utf8: UnsafeBufferPointer<UInt8>, style: JSONStringStyle = .utf8) {
        bytes.append(UInt8(ascii: "\""))
        var index = 0
        let count = utf8.count
        while index < count {
            let byte = utf8[index]
            switch byte {
            case UInt8(ascii: "\""):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case UInt8(ascii: "\\"):
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case UInt8(ascii: "/") where style == .phpASCII:
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(byte)
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0..<0x20:
                unicodeEscape(UInt32(byte))
            case 0x80...:
                guard style == .phpASCII else {
                    bytes.append(byte)
                    break
                }
                // Decode one scalar (input is valid UTF-8).
                var scalar: UInt32
                var length: Int
                if byte >= 0xF0 {
                    scalar = UInt32(byte & 0x07)
                    length = 4
                } else if byte >= 0xE0 {
                    scalar = UInt32(byte & 0x0F)
                    length = 3
                } else {
                    scalar = UInt32(byte & 0x1F)
                    length = 2
                }
                for offset in 1..<length where index + offset < count {
                    scalar = (scalar << 6) | UInt32(utf8[index + offset] & 0x3F)
                }
                if scalar >= 0x10000 {
                    let value = scalar - 0x10000
                    unicodeEscape(0xD800 + (value >> 10))
                    unicodeEscape(0xDC00 + (value & 0x3FF))
                } else {
                    unicodeEscape(scalar)
                }
                index += length
                continue
            default:
                bytes.append(byte)
            }
            index += 1
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func unicodeEscape(_ unit: UInt32) {
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(UInt8(ascii: "u"))
        bytes.append(hex[Int((unit >> 12) & 0xF)])
        bytes.append(hex[Int((unit >> 8) & 0xF)])
        bytes.append(hex[Int((unit >> 4) & 0xF)])
        bytes.append(hex[Int(unit & 0xF)])
    }

    mutating func integer(_ value: Int) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var digits: [UInt8] = []
        while magnitude > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        bytes.append(contentsOf: digits.reversed())
    }

    mutating func key(_ name: String, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        string(name)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func keyValue(_ name: String, _ value: String?, first: Bool = false) {
        key(name, first: first)
        if let value { string(value) } else { raw("null") }
    }

    mutating func keyValue(_ name: String, _ value: Int, first: Bool = false) {
        key(name, first: first)
        integer(value)
    }

    mutating func keyValue(_ name: String, _ value: Bool, first: Bool = false) {
        key(name, first: first)
        if value { raw("true") } else { raw("false") }
    }
}

/// An output file written through a large buffer.
final class BufferedOutput {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    let path: String

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else {
            throw Diagnostic(code: "output.unwritable", message: "cannot write '\(path)': \(String(cString: strerror(errno)))", notes: ["check that --out names a writable directory"])
        }
        buffer.reserveCapacity(1 << 18)
    }

    deinit {
        try? flush()
        close(descriptor)
    }

    func write(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 18 { try flush() }
    }

    /// Writes one line: `bytes` plus LF.
    func writeLine(_ bytes: [UInt8]) throws {
        buffer.append(contentsOf: bytes)
        buffer.append(0x0A)
        if buffer.count >= 1 << 18 { try flush() }
    }

    func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { raw in
                systemWrite(descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw Diagnostic(code: "output.unwritable", message: "cannot write '\(path)': \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
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
