/// Ids whose last digits were lost on the way to the export, seen over one file's valid records.
///
/// A 19-digit TOP tid does not fit the number types most tools use: Excel keeps 15 significant
/// digits of a number (`3050123456789012345` becomes `3050123456789010000`), and JavaScript or
/// any JSON library that parses into a double keeps about 17 (`3050123456789012500`). The digits
/// left still look like an id, so no single record can be told wrong — but when every long id of
/// a file ends in zeros, they were rounded: the chance that 10 real ids all end in `00` is 10⁻²⁰.
struct LostIdDigits {
    /// The id fields looked at; shorter ids (a 15-digit refund number) fit every number type.
    static let fields: [RefundField] = [.tid, .oid, .refundNo]
    static let longDigits = 17
    /// Long ids needed before all-rounded counts as proof.
    static let enough = 10

    private struct Tally {
        var long = 0
        var zeroTailed = 0
        var firstLine = 0
    }

    private var tallies = [Tally](repeating: Tally(), count: LostIdDigits.fields.count)

    /// Counts the ids of a valid record (at `line` of its file).
    mutating func add(_ record: RefundRecord, line: Int) {
        for (index, field) in Self.fields.enumerated() {
            let (isLong, zeroTailed) =
                record.withText(field) { digits -> (Bool, Bool) in
                    guard digits.count >= Self.longDigits else { return (false, false) }
                    return (true, digits[digits.count - 1] == UInt8(ascii: "0") && digits[digits.count - 2] == UInt8(ascii: "0"))
                } ?? (false, false)
            guard isLong else { continue }
            tallies[index].long += 1
            if zeroTailed { tallies[index].zeroTailed += 1 }
            if tallies[index].long == 1 { tallies[index].firstLine = line }
        }
    }

    /// One warning per field whose long ids all end in `00` (at least `enough` of them), with the
    /// line of the first.
    func warnings(csv: Bool) -> [(line: Int, message: String)] {
        zip(Self.fields, tallies).compactMap { field, tally in
            guard tally.long >= Self.enough, tally.zeroTailed == tally.long else { return nil }
            let fix =
                csv
                ? "in Excel, format the id columns as text before saving (or export the CSV again without opening it in Excel)"
                : "the exporter must keep ids as strings (or parse them as big integers, never as double-precision numbers)"
            return (
                tally.firstLine,
                "every long \(field.rawValue) of the file (all \(tally.long), from this line on) ends in 00: "
                    + "their last digits were lost (a number type of 15–17 digits rounded them), so these ids are wrong; \(fix), and run again"
            )
        }
    }
}
