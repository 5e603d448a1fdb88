import Testing

@testable import RefundFlow

struct DecimalTests {
    @Test(arguments: [
        ("0", "0"), ("19.9", "19.9"), ("19.90", "19.9"), ("-3.5", "-3.5"), ("+7", "7"), ("1,234.50", "1234.5"),
        ("¥12.30", "12.3"), ("￥ 1,000", "1000"), ("  20.00 ", "20"), ("12.3456", "12.3456"), ("12.34560000", "12.3456"),
        ("999999999999999.9999", "999999999999999.9999"), ("-¥5", "-5"), ("0.0001", "0.0001"), ("1,234,567.8", "1234567.8"),
        ("12.50元", "12.5"), ("￥1,000.00 元", "1000"),
        ("1 234", "1234"), ("1 234 567.89", "1234567.89"), ("1\u{A0}000.00", "1000"), ("¥ 12 345.6", "12345.6"),
    ])
    func parsesExactly(_ text: String, _ expected: String) throws {
        let value = try Decimal4.parse(Array(text.utf8)).get()
        #expect(value.formatted() == expected)
    }

    @Test(arguments: [
        ("12abc", Decimal4.ParseError.notANumber), ("12,50", .notANumber), ("1,23", .notANumber), ("1234,567", .notANumber),
        ("", .notANumber), ("-", .notANumber), (".5", .notANumber), ("5.", .notANumber), ("12 34", .notANumber), ("1 23", .notANumber), ("1234 567", .notANumber),
        ("1,234 567", .notANumber), ("1 234,567", .notANumber), ("1 234 .5", .notANumber), ("12 .5", .notANumber),
        ("3.50000E+18", .notANumber), ("1e5", .notANumber), ("NaN", .notANumber), ("12.34567", .tooManyDecimals),
        ("19.99999", .tooManyDecimals), ("1000000000000000", .outOfRange), ("--1", .notANumber), (",123", .notANumber),
        ("1.2345x", .notANumber), ("1.23456x", .notANumber), ("元", .notANumber), ("元12", .notANumber),
        ("12元元", .notANumber), ("12.345678元", .tooManyDecimals),
    ])
    func rejects(_ text: String, _ expected: Decimal4.ParseError) {
        #expect(throws: expected) { try Decimal4.parse(Array(text.utf8)).get() }
    }

    @Test func formatsWithAMinimumOfFractionDigits() throws {
        let value = try Decimal4.parse(Array("19.9".utf8)).get()
        #expect(value.formatted(minFractionDigits: 2) == "19.90")
        #expect(Decimal4(units: -5).formatted(minFractionDigits: 2) == "-0.0005")
        #expect(Decimal4.zero.formatted(minFractionDigits: 2) == "0.00")
        #expect(Decimal4(3).formatted() == "3")
    }

    @Test func sumsStayExactBeyondDouble() throws {
        var total = Decimal4.zero
        let cent = try Decimal4.parse(Array("0.01".utf8)).get()
        for _ in 0..<1_000_000 { total += cent }
        #expect(total.formatted(minFractionDigits: 2) == "10000.00")
        let big = try Decimal4.parse(Array("999999999999999.9999".utf8)).get()
        #expect((big + big).formatted() == "1999999999999999.9998")
        // Past 64 bits of units, and up to the largest 128-bit total.
        #expect(Decimal4(units: Int128(UInt64.max) + 1).formatted() == "1844674407370955.1616")
        #expect(Decimal4(units: Int128.max).formatted() == "17014118346046923173168730371588410.5727")
        #expect(Decimal4(units: Int128.min).formatted() == "-17014118346046923173168730371588410.5728")
    }
}
