import Foundation

/// A date-time input format such as `yyyy-MM-dd HH:mm:ss` or `yyyy/M/d H:mm`.
///
/// Tokens: `yyyy`, `MM`/`M`, `dd`/`d`, `HH`/`H`, `mm`, `ss`, `SSS` (fraction, 1–9 digits,
/// dropped), `XXX` (`Z`, `+08:00` or `+0800`), and for a 12-hour clock `hh`/`h` (1–12) with `a`
/// (`AM`/`PM` in any case, or `上午`/`下午`, as Excel shows them in Chinese). Doubled letters need
/// exactly two digits; single letters take one or two. Anything else is a literal. Parsing is
/// strict: the whole value must match and the date must exist.
///
/// Two names stand for Unix time, an instant (moved to the output zone like a time with an
/// offset): `epochMillis`, exactly 13 digits (what Java's JSON libraries write for a `Date`), and
/// `epochSeconds`, exactly 10 digits (2001-09-09 to 2286). Fixed lengths keep a `yyyyMMdd`-style
/// number from passing as a time in 1970.
public struct DateFormat: Sendable, Hashable, CustomStringConvertible {
    enum Token: Sendable, Hashable {
        case year
        case month(exact: Bool)
        case day(exact: Bool)
        case hour(exact: Bool)
        /// An hour of a 12-hour clock, 1–12, which `meridiem` places.
        case hour12(exact: Bool)
        /// AM or PM: `AM`, `PM` (any case), `上午`, `下午`.
        case meridiem
        case minute
        case second
        case fraction
        case offset
        case literal(UInt8)
        /// The whole value is Unix time of exactly `digits` digits, in units of 1/`perSecond` s.
        case epoch(digits: Int, perSecond: Int)
    }

    /// The Unix-time names and what each reads.
    static let epochNames: [String: Token] = [
        "epochMillis": .epoch(digits: 13, perSecond: 1000), "epochSeconds": .epoch(digits: 10, perSecond: 1),
    ]

    public let pattern: String
    let tokens: [Token]

    public var description: String { pattern }

    /// The formats tried when a pipeline names none.
    public static let defaults: [DateFormat] = [
        "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy/M/d H:mm:ss", "yyyy/M/d H:mm",
    ].map { try! DateFormat($0) }

    public struct InvalidPattern: Error, Sendable {
        public var message: String
    }

    public init(_ pattern: String) throws(InvalidPattern) {
        self.pattern = pattern
        if let epoch = Self.epochNames[pattern] {
            self.tokens = [epoch]
            return
        }
        var tokens: [Token] = []
        let chars = Array(pattern.utf8)
        var index = 0
        var hasYear = false
        var hasMonth = false
        var hasDay = false
        var hasHour12 = false
        var hasMeridiem = false
        func run(_ letter: UInt8) -> Int {
            var end = index
            while end < chars.count && chars[end] == letter { end += 1 }
            return end - index
        }
        while index < chars.count {
            let char = chars[index]
            if char == UInt8(ascii: "'") {
                // 'text' is literal text, as in Unicode/Java patterns ('T' in ISO 8601); '' is one quote.
                guard let close = chars[(index + 1)...].firstIndex(of: char) else {
                    throw InvalidPattern(message: "unclosed quote in date format '\(pattern)'")
                }
                if close == index + 1 {
                    tokens.append(.literal(char))
                } else {
                    for literal in chars[(index + 1)..<close] { tokens.append(.literal(literal)) }
                }
                index = close + 1
                continue
            }
            let length = run(char)
            switch (char, length) {
            case (UInt8(ascii: "y"), 4): tokens.append(.year); hasYear = true
            case (UInt8(ascii: "M"), 1...2): tokens.append(.month(exact: length == 2)); hasMonth = true
            case (UInt8(ascii: "d"), 1...2): tokens.append(.day(exact: length == 2)); hasDay = true
            case (UInt8(ascii: "H"), 1...2): tokens.append(.hour(exact: length == 2))
            case (UInt8(ascii: "h"), 1...2): tokens.append(.hour12(exact: length == 2)); hasHour12 = true
            case (UInt8(ascii: "a"), 1): tokens.append(.meridiem); hasMeridiem = true
            case (UInt8(ascii: "m"), 2): tokens.append(.minute)
            case (UInt8(ascii: "s"), 2): tokens.append(.second)
            case (UInt8(ascii: "S"), 1...9): tokens.append(.fraction)
            case (UInt8(ascii: "X"), 1...3): tokens.append(.offset)
            case (UInt8(ascii: "a")...UInt8(ascii: "z"), _), (UInt8(ascii: "A")...UInt8(ascii: "Z"), _):
                throw InvalidPattern(
                    message: "unsupported date token '\(String(repeating: Character(UnicodeScalar(char)), count: length))' in '\(pattern)'; use yyyy, MM, M, dd, d, HH, H, hh, h, a, mm, ss, SSS, XXX (or the whole format epochMillis or epochSeconds, for Unix time)"
                )
            default:
                for _ in 0..<length { tokens.append(.literal(char)) }
            }
            index += length
        }
        guard hasYear, hasMonth, hasDay else {
            throw InvalidPattern(message: "date format '\(pattern)' needs yyyy, M and d")
        }
        guard hasHour12 == hasMeridiem else {
            throw InvalidPattern(
                message: hasHour12
                    ? "date format '\(pattern)' has a 12-hour 'h' but no 'a' (AM/PM, 上午/下午) to place it; use H for a 24-hour clock"
                    : "date format '\(pattern)' has 'a' (AM/PM) but no 12-hour 'h' for it to place")
        }
        self.tokens = tokens
    }

    /// A parsed civil date-time, and the offset when the text carried one.
    struct Parsed: Equatable {
        var year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0
        var offsetSeconds: Int?
    }

    func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed? {
        guard let parsed = parseShape(bytes), Self.impossibility(parsed) == nil else { return nil }
        return parsed
    }

    /// Why a value of this format's shape names no real date-time (`2024-02-30`, `25:00`), or nil.
    static func impossibility(_ parsed: Parsed) -> String? {
        if parsed.year < 1 { return "year \(parsed.year) does not exist" }
        guard parsed.month >= 1, parsed.month <= 12 else { return "there is no month \(parsed.month)" }
        let days = CivilTime.daysInMonth(year: parsed.year, month: parsed.month)
        guard parsed.day >= 1, parsed.day <= days else {
            return "\(parsed.year)-\(parsed.month < 10 ? "0" : "")\(parsed.month) has no day \(parsed.day) (it has \(days) days)"
        }
        guard parsed.hour <= 23, parsed.minute <= 59, parsed.second <= 59 else {
            return "\(parsed.hour):\(parsed.minute < 10 ? "0" : "")\(parsed.minute):\(parsed.second < 10 ? "0" : "")\(parsed.second) is not a time of day"
        }
        return nil
    }

    /// The fields of a value that has this format's shape, whether or not the date exists.
    func parseShape(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed? {
        var parsed = Parsed()
        var index = 0
        let count = bytes.count
        var afternoon = false
        func digits(_ minCount: Int, _ maxCount: Int) -> Int? {
            var value = 0
            var taken = 0
            while taken < maxCount, index < count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                value = value * 10 + Int(bytes[index] - 0x30)
                index += 1
                taken += 1
            }
            return taken >= minCount ? value : nil
        }
        for token in tokens {
            switch token {
            case .epoch(let length, let perSecond):
                guard let value = digits(length, length), index == count else { return nil }
                let seconds = value / perSecond  // fractions of a second are dropped, as with SSS
                let days = seconds / 86_400
                let secondsOfDay = seconds % 86_400
                let date = CivilTime.civilFromDays(days)
                return Parsed(
                    year: date.year, month: date.month, day: date.day, hour: secondsOfDay / 3600,
                    minute: (secondsOfDay % 3600) / 60, second: secondsOfDay % 60, offsetSeconds: 0)
            case .year: guard let value = digits(4, 4) else { return nil }; parsed.year = value
            case .month(let exact): guard let value = digits(exact ? 2 : 1, 2) else { return nil }; parsed.month = value
            case .day(let exact): guard let value = digits(exact ? 2 : 1, 2) else { return nil }; parsed.day = value
            case .hour(let exact): guard let value = digits(exact ? 2 : 1, 2) else { return nil }; parsed.hour = value
            case .hour12(let exact):
                guard let value = digits(exact ? 2 : 1, 2), (1...12).contains(value) else { return nil }
                parsed.hour = value % 12  // 12 AM is 0; PM adds 12 below
            case .meridiem:
                guard let (isAfternoon, length) = Self.meridiem(bytes, at: index) else { return nil }
                afternoon = isAfternoon
                index += length
            case .minute: guard let value = digits(2, 2) else { return nil }; parsed.minute = value
            case .second: guard let value = digits(2, 2) else { return nil }; parsed.second = value
            case .fraction: guard digits(1, 9) != nil else { return nil }
            case .offset:
                guard index < count else { return nil }
                if bytes[index] == UInt8(ascii: "Z") {
                    index += 1
                    parsed.offsetSeconds = 0
                } else {
                    guard bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") else { return nil }
                    let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
                    index += 1
                    guard let hours = digits(2, 2), hours <= 23 else { return nil }
                    if index < count, bytes[index] == UInt8(ascii: ":") { index += 1 }
                    guard let minutes = digits(2, 2), minutes <= 59 else { return nil }
                    parsed.offsetSeconds = sign * (hours * 3600 + minutes * 60)
                }
            case .literal(let byte):
                guard index < count, bytes[index] == byte else { return nil }
                index += 1
            }
        }
        guard index == count else { return nil }
        if afternoon { parsed.hour += 12 }
        return parsed
    }

    /// The AM/PM marker at `index`: whether it is PM, and its length in bytes.
    static func meridiem(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int) -> (Bool, Int)? {
        let rest = UnsafeBufferPointer(rebasing: bytes[index...])
        if rest.count >= 2, rest[1] | 0x20 == UInt8(ascii: "m") {
            switch rest[0] | 0x20 {
            case UInt8(ascii: "a"): return (false, 2)
            case UInt8(ascii: "p"): return (true, 2)
            default: return nil
            }
        }
        if rest.starts(with: "上午".utf8) { return (false, "上午".utf8.count) }
        if rest.starts(with: "下午".utf8) { return (true, "下午".utf8.count) }
        return nil
    }
}

/// Civil-calendar arithmetic (proleptic Gregorian), used to move times between zones.
enum CivilTime {
    static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Turns parsed source times into the ERP's `yyyy-MM-dd HH:mm:ss` in the output zone.
struct DateNormalizer: Sendable {
    let inputZone: TimeZone
    let outputZone: TimeZone
    /// Input and output zones are one: a time without an offset is copied as it is.
    let sameZone: Bool

    init(inputZone: TimeZone, outputZone: TimeZone) {
        self.inputZone = inputZone
        self.outputZone = outputZone
        sameZone = inputZone.identifier == outputZone.identifier
    }

    /// Appends the normalised text; the time is moved to the output zone when needed. False,
    /// and nothing appended, when the source time does not exist in the input zone (the hour
    /// its clocks skip when daylight saving time starts).
    func append(_ parsed: DateFormat.Parsed, to out: inout [UInt8]) -> Bool {
        var civil = parsed
        if parsed.offsetSeconds != nil || !sameZone {
            let localSeconds =
                CivilTime.daysFromCivil(year: parsed.year, month: parsed.month, day: parsed.day) * 86_400
                + parsed.hour * 3600 + parsed.minute * 60 + parsed.second
            let utc: Int
            if let offset = parsed.offsetSeconds {
                utc = localSeconds - offset
            } else if let instant = Self.instant(ofLocal: localSeconds, in: inputZone) {
                utc = instant
            } else {
                return false
            }
            let outOffset = outputZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(utc)))
            let local = utc + outOffset
            let days = Int((Double(local) / 86_400).rounded(.down))
            let secondsOfDay = local - days * 86_400
            let date = CivilTime.civilFromDays(days)
            civil = DateFormat.Parsed(
                year: date.year, month: date.month, day: date.day, hour: secondsOfDay / 3600,
                minute: (secondsOfDay % 3600) / 60, second: secondsOfDay % 60)
        }
        appendDigits(civil.year, 4, &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(civil.month, 2, &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(civil.day, 2, &out)
        out.append(UInt8(ascii: " "))
        appendDigits(civil.hour, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(civil.minute, 2, &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(civil.second, 2, &out)
        return true
    }

    /// The Unix time of the wall-clock time `local` (seconds since 1970-01-01 00:00 of the
    /// zone's clocks), or nil when the zone's clocks never show it. The offsets in force a day
    /// before and a day after are the candidates (zones change offset at most once a day); one
    /// is right when the instant it gives has that offset. When both are (the hour repeated
    /// when daylight saving time ends), the earlier instant is taken, as Java and Python do.
    static func instant(ofLocal local: Int, in zone: TimeZone) -> Int? {
        func offset(_ instant: Int) -> Int { zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant))) }
        let before = offset(local - 86_400)
        let after = offset(local + 86_400)
        var found: Int?
        for candidate in before == after ? [before] : [before, after] where offset(local - candidate) == candidate {
            found = min(found ?? .max, local - candidate)
        }
        return found
    }

    private func appendDigits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8((value / divisor) % 10))
            divisor /= 10
        }
    }
}
