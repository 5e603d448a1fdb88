/// An exact decimal with at most 4 fraction digits: the ERP's Decimal(19,4).
///
/// Stored as a scaled integer (`units` = value × 10⁴). Never goes through binary floating point.
/// Parsing works on UTF-8 bytes and is strict: `12abc` is not a number, and a fifth non-zero
/// fraction digit is an error, never rounded.
public struct Decimal4: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let scale = 4
    static let factor: Int128 = 10_000
    /// Decimal(19,4): at most 15 integer digits.
    static let limit: Int128 = 10_000_000_000_000_000_000  // 10^19 units = 10^15

    public var units: Int128

    public init(units: Int128) { self.units = units }
    public init(_ integer: Int) { self.units = Int128(integer) * Self.factor }

    public static let zero = Decimal4(units: 0)

    public static func < (a: Decimal4, b: Decimal4) -> Bool { a.units < b.units }
    public static func + (a: Decimal4, b: Decimal4) -> Decimal4 { Decimal4(units: a.units + b.units) }
    public static func += (a: inout Decimal4, b: Decimal4) { a.units += b.units }
    public static func - (a: Decimal4, b: Decimal4) -> Decimal4 { Decimal4(units: a.units - b.units) }

    public var isNegative: Bool { units < 0 }

    /// Plain notation with at least `minFractionDigits` digits after the point (trailing zeros
    /// beyond that are dropped), e.g. 19.9 → "19.90" with 2, "19.9" with 0.
    public func formatted(minFractionDigits: Int = 0) -> String {
        let buffer = ByteBuffer(capacity: 48)
        append(to: buffer, minFractionDigits: minFractionDigits)
        return String(decoding: buffer.buffer, as: UTF8.self)
    }

    public var description: String { formatted() }

    /// Appends the plain notation (hot path of the writers).
    func append(to out: ByteBuffer, minFractionDigits: Int) {
        if units < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = units.magnitude
        // Every single value fits 64 bits (|units| < 10^19); only large sums need 128-bit division.
        if magnitude <= UInt128(UInt64.max) {
            Self.appendPlain(UInt64(magnitude), to: out, minFractionDigits: minFractionDigits)
        } else {
            Self.appendPlain(magnitude, to: out, minFractionDigits: minFractionDigits)
        }
    }

    private static func appendPlain<Magnitude: FixedWidthInteger & UnsignedInteger>(
        _ units: Magnitude, to out: ByteBuffer, minFractionDigits: Int
    ) {
        var fraction = Int(units % 10_000)
        var magnitude = units / 10_000
        // Integer part, written backwards into 48 bytes of stack scratch (2^128 has 39 digits).
        var scratch: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &scratch) { digits in
            var used = 0
            repeat {
                digits[47 - used] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                used += 1
            } while magnitude > 0
            out.append(UnsafeBufferPointer(rebasing: digits.bindMemory(to: UInt8.self)[(48 - used)...]))
        }
        // Fraction: 4 digits, trailing zeros dropped down to the minimum.
        var fractionDigits = 4
        while fractionDigits > minFractionDigits && fraction % 10 == 0 {
            fraction /= 10
            fractionDigits -= 1
        }
        guard fractionDigits > 0 else { return }
        out.reserve(fractionDigits + 1)
        out.append(UInt8(ascii: "."))
        var divisor = 1
        for _ in 1..<fractionDigits { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8((fraction / divisor) % 10))
            divisor /= 10
        }
    }

    /// Why a text is not a Decimal(19,4).
    public enum ParseError: Error, Sendable, Hashable {
        case notANumber
        case tooManyDecimals
        case outOfRange
    }

    /// Parses strict decimal text: `-?\d+(\.\d+)?`, allowing `¥`/`￥` and spaces before the
    /// digits, spaces and one `元` after them, and thousands separators that sit in proper groups:
    /// commas (`1,234.50`; `12,50` is not a number) or spaces/no-break spaces (`1 234.50`; `12 34`
    /// is not a number), one kind per number. Fraction digits past the 4th must be zeros; otherwise
    /// `.tooManyDecimals`. Nothing is ever rounded.
    public static func parse(_ text: some Collection<UInt8>) -> Result<Decimal4, ParseError> {
        if let result = text.withContiguousStorageIfAvailable({ parse(buffer: $0) }) { return result }
        return Array(text).withUnsafeBufferPointer { parse(buffer: $0) }
    }

    static func parse(buffer bytes: UnsafeBufferPointer<UInt8>) -> Result<Decimal4, ParseError> {
        var start = 0
        var end = bytes.count
        var negative = false
        var signSeen = false
        // Leading decoration: spaces, tabs, no-break spaces, ¥ (C2 A5), ￥ (EF BF A5), one sign.
        while start < end {
            let byte = bytes[start]
            if byte == 0x20 || byte == 0x09 {
                start += 1
            } else if byte == 0xC2, start + 1 < end, bytes[start + 1] == 0xA5 || bytes[start + 1] == 0xA0 {
                start += 2
            } else if byte == 0xEF, start + 2 < end, bytes[start + 1] == 0xBF, bytes[start + 2] == 0xA5 {
                start += 3
            } else if !signSeen, byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") {
                negative = byte == UInt8(ascii: "-")
                signSeen = true
                start += 1
            } else {
                break
            }
        }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        // Trailing decoration: one 元 (E5 85 83), as Chinese reports write "12.50元", then spaces.
        if end - start > 3, bytes[end - 3] == 0xE5, bytes[end - 2] == 0x85, bytes[end - 1] == 0x83 {
            end -= 3
            while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        }
        return parsePlain(UnsafeBufferPointer(rebasing: bytes[start..<end]), negative: negative)
    }

    static func parsePlain(_ bytes: UnsafeBufferPointer<UInt8>, negative: Bool) -> Result<Decimal4, ParseError> {
        var index = 0
        let count = bytes.count
        var integer: Int128 = 0
        var integerDigits = 0
        var significantDigits = 0
        var groupDigits = -1  // digits since the last separator; -1 when none seen
        var separator: UInt8 = 0  // the thousands separator in use: ',' or ' ' (a space or no-break space)
        let integerStart = index
        while index < count {
            let byte = bytes[index]
            if byte >= 0x30 && byte <= 0x39 {
                integer = integer * 10 + Int128(byte - 0x30)
                integerDigits += 1
                if integer != 0 { significantDigits += 1 }
                if groupDigits >= 0 { groupDigits += 1 }
                if significantDigits > 15 { return .failure(.outOfRange) }
                index += 1
                continue
            }
            // A thousands separator: a comma, or a space or no-break space (C2 A0) as European
            // exports group digits ("1 234.50"). One kind per number.
            let width: Int
            let kind: UInt8
            if byte == UInt8(ascii: ",") {
                (width, kind) = (1, UInt8(ascii: ","))
            } else if byte == 0x20 {
                (width, kind) = (1, 0x20)
            } else if byte == 0xC2, index + 1 < count, bytes[index + 1] == 0xA0 {
                (width, kind) = (2, 0x20)
            } else {
                break
            }
            if separator != 0 && separator != kind { return .failure(.notANumber) }
            separator = kind
            // A separator must follow 1–3 leading digits or exactly 3 grouped digits.
            if groupDigits < 0 {
                if integerDigits == 0 || integerDigits > 3 { return .failure(.notANumber) }
            } else if groupDigits != 3 {
                return .failure(.notANumber)
            }
            groupDigits = 0
            index += width
        }
        if groupDigits >= 0 && groupDigits != 3 { return .failure(.notANumber) }
        if integerDigits == 0 || index == integerStart { return .failure(.notANumber) }
        var fraction: Int128 = 0
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var fractionDigits = 0
            while index < count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
                let digit = Int128(bytes[index] - 0x30)
                if fractionDigits < 4 {
                    fraction = fraction * 10 + digit
                } else if digit != 0 {
                    // Keep scanning so that "1.23456x" is reported as not a number.
                    var rest = index
                    while rest < count, bytes[rest] >= 0x30 && bytes[rest] <= 0x39 { rest += 1 }
                    return rest == count ? .failure(.tooManyDecimals) : .failure(.notANumber)
                }
                fractionDigits += 1
                index += 1
            }
            if fractionDigits == 0 { return .failure(.notANumber) }
            while fractionDigits < 4 {
                fraction *= 10
                fractionDigits += 1
            }
        }
        if index != count { return .failure(.notANumber) }
        let units = integer * factor + fraction
        if units >= limit { return .failure(.outOfRange) }
        return .success(Decimal4(units: negative ? -units : units))
    }
}
