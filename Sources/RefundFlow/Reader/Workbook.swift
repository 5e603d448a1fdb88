import CLibXML2
import CZlib
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An Excel `.xlsx` workbook read as CSV text, so that a CSV pipeline reads the seller center's
/// modern export (xlsx, sheet `export`) as it is, without a trip through Excel.
///
/// The workbook is a ZIP archive, read through its central directory (with `pread`: a workbook
/// is read from its end; one given through a pipe is copied to a temporary file first). Its first visible worksheet is
/// streamed — inflated by zlib and parsed by libxml2's SAX2 push parser (`WorkbookPart`), never
/// as a tree — and handed out as UTF-8 CSV, one line per sheet row: rows the sheet leaves out
/// become empty lines, so a record's line is its row in Excel. Cells become text as Excel shows
/// them where that loses nothing:
/// - shared and inline strings as written (`_x000D_` escapes decoded);
/// - numbers as stored, except binary noise past Excel's 15 significant digits
///   (`19.899999999999999` is `19.9`, as Excel shows it); an id Excel turned into a number stays
///   the number it became (`3.0501234567890125E+18`), which a pipeline rejects;
/// - numbers in a date or time format as `yyyy-MM-dd HH:mm:ss` (`yyyy-MM-dd` for a whole-day
///   date format, `HH:mm:ss` for a time format), from the 1900 or 1904 date system, exactly;
/// - booleans as `TRUE`/`FALSE`, errors as Excel writes them (`#N/A`), formulas as their value.
///
/// Shared strings (Excel keeps each distinct text once, ids included) are kept in memory up to
/// `SharedStrings.memoryLimit`, then in an unlinked temporary file that is mapped and released
/// as rows go by, so memory stays flat however large the workbook.
final class WorkbookSheet: SAXClient {
    let sheetName: String
    /// Every sheet of the workbook, in its order (for the note when there are several).
    let sheetNames: [String]
    private let path: String
    /// The sheet's parser (set once this object exists: it is the parser's client).
    private var xml: WorkbookPart?
    private let strings: SharedStrings
    private let styles: WorkbookStyles
    private let uses1904: Bool
    // The state below belongs to one read, on one thread, and no access to it overlaps another
    // (the parser calls back one event at a time): hence `@exclusivity(unchecked)` on the two
    // buffers every cell appends to.
    /// CSV text not yet handed out: `out[outStart...]`.
    @exclusivity(unchecked) private var out: [UInt8] = []
    private var outStart = 0
    private var ended = false
    /// The last row written (0: none), and the widest row so far: rows are padded to it with
    /// empty fields, as a sheet leaves out the empty cells at a row's end.
    private var lastRow = 0
    private var width = 0
    /// The row being written: its number, where it starts in `out`, its fields up to its last
    /// cell with text, and whether it has any.
    private var rowNumber = 0
    private var rowStart = 0
    private var fields = 0
    private var rowHasText = false
    private var rowsSinceRelease = 0
    private var rowOpen = false
    private var rowHidden = false
    /// Rows with text that Excel hides (hidden by hand, or by a filter): read like the others,
    /// and said in a note, as someone may have hidden them meaning "leave these out".
    private(set) var hiddenRows = 0
    private(set) var firstHiddenRow = 0
    // The cell being read: where its text is, and the text.
    private var cellColumn = 0
    private var cellType: CellType = .number
    private var cellStyle = 0
    @exclusivity(unchecked) private var cellText: [UInt8] = []
    private var inCell = false
    private var inValue = false
    private var inInlineString = false
    private var inText = false
    private var phonetic = 0

    private enum CellType { case number, shared, inline, formulaText, boolean, error, date }

    /// The workbook in the file open as `descriptor` (`size` bytes), or nil when the ZIP archive is
    /// no workbook. `sheet` names the sheet to read; nil reads the first visible one. Shared
    /// strings past `stringMemory` bytes go to a temporary file.
    static func open(
        descriptor: Int32, size: Int, path: String, sheet: String? = nil, progress: ByteCounter? = nil,
        stringMemory: Int = SharedStrings.memoryLimit
    ) throws(Diagnostic) -> WorkbookSheet? {
        let archive = try ZipDirectory(descriptor: descriptor, size: size, path: path)
        let main = try archive.relationships(of: "", type: "/officeDocument").first ?? "xl/workbook.xml"
        guard archive.entry(main) != nil else { return nil }
        return try WorkbookSheet(archive: archive, workbookPart: main, sheet: sheet, path: path, progress: progress, stringMemory: stringMemory)
    }

    private init(
        archive: ZipDirectory, workbookPart: String, sheet wanted: String?, path: String, progress: ByteCounter?, stringMemory: Int
    ) throws(Diagnostic) {
        self.path = path
        // The sheets, in order, and the date system.
        var sheets: [(name: String, id: String, hidden: Bool)] = []
        var uses1904 = false
        try archive.walkSmallPart(workbookPart) { element, attributes in
            if element == "sheet" {
                sheets.append((attributes["name"] ?? "", attributes["id"] ?? "", ["hidden", "veryHidden"].contains(attributes["state"] ?? "")))
            } else if element == "workbookPr", let value = attributes["date1904"] {
                uses1904 = value == "1" || value == "true"
            }
        }
        self.uses1904 = uses1904
        sheetNames = sheets.map(\.name)
        let chosen: (name: String, id: String, hidden: Bool)
        if let wanted {
            guard let named = sheets.first(where: { $0.name == wanted }) ?? sheets.first(where: { $0.name.lowercased() == wanted.lowercased() }) else {
                throw Diagnostic(
                    code: "input.no_sheet", message: "'\(path)' has no sheet named '\(wanted)'",
                    location: SourceLocation(file: path, line: 1),
                    notes: ["its sheets are " + sheets.map { "'\($0.name)'" }.joined(separator: ", ") + ": set the reader's 'sheet' to one of them"])
            }
            chosen = named
        } else {
            guard let first = sheets.first(where: { !$0.hidden }) ?? sheets.first else {
                throw ZipDirectory.broken(path, "it has no sheet")
            }
            chosen = first
        }
        sheetName = chosen.name
        let targets = try archive.relationshipTargets(of: workbookPart)
        guard let sheetPart = targets[chosen.id]?.target, archive.entry(sheetPart) != nil else {
            throw ZipDirectory.broken(path, "it names the sheet '\(chosen.name)' but holds no worksheet for it")
        }
        func part(_ type: String) -> String? {
            targets.values.first { $0.type.hasSuffix(type) && archive.entry($0.target) != nil }?.target
        }
        // Both big parts count for the progress display (the shared strings first, as they are read first).
        strings = try SharedStrings.load(part("/sharedStrings"), from: archive, path: path, memoryLimit: stringMemory, progress: progress)
        styles = try WorkbookStyles.load(part("/styles"), from: archive)
        let source = try archive.reader(for: sheetPart, progress: progress)
        super.init()
        xml = try WorkbookPart(source, part: sheetPart, path: path, client: self)
    }

    /// Why the sheet stopped before its end — its XML or the archive broke part-way — when it
    /// did: the rows before were handed out whole, and the reader marks the file broken (exit 4).
    private(set) var broken: String?
    /// The error it broke with (thrown as it is when no row came before it).
    private(set) var breakError: Diagnostic?

    /// Hands out the sheet's CSV text, whole rows; 0 at the end.
    func read(into destination: UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int {
        while out.count - outStart < destination.count, !ended {
            if outStart > 0, outStart >= out.count / 2 {
                out.removeFirst(outStart)
                rowStart -= outStart
                outStart = 0
            }
            do {
                if try xml?.feed() != true { ended = true }
            } catch {
                guard error.code == "input.workbook_broken" else { throw error }
                if rowOpen { out.removeSubrange(rowStart...) }  // the row it broke in
                rowOpen = false
                breakError = error
                broken =
                    error.message
                    + (lastRow == 0 ? "; no row came before it" : "; read up to row \(lastRow) of the sheet '\(sheetName)', nothing after it")
                    + " (export the workbook again)"
                ended = true
            }
        }
        let count = min(destination.count, out.count - outStart)
        out.withUnsafeBytes { destination.baseAddress!.copyMemory(from: $0.baseAddress! + outStart, byteCount: count) }
        outStart += count
        return count
    }

    /// An element starts: a row, a cell, or where a cell's text is.
    override func start(_ name: UnsafePointer<UInt8>, _ attributes: WorkbookPart.Attributes) {
        do {
            switch WorkbookPart.element(name) {
            case .row: try startRow(attributes)
            case .c where rowOpen: try startCell(attributes)
            case .v where inCell && cellType != .inline: inValue = true
            case .is where inCell && cellType == .inline: inInlineString = true
            case .t where inInlineString && phonetic == 0: inText = true
            case .rPh where inInlineString: phonetic += 1
            default: break
            }
        } catch {
            stop(error)
        }
    }

    override func end(_ name: UnsafePointer<UInt8>) {
        switch WorkbookPart.element(name) {
        case .v: inValue = false
        case .t: inText = false
        case .rPh: phonetic = max(0, phonetic - 1)
        case .is: inInlineString = false
        case .c where inCell:
            inCell = false
            endCell()
        case .row where rowOpen: endRow()
        default: break
        }
    }

    override func text(_ text: UnsafeBufferPointer<UInt8>) {
        if inValue || (inText && phonetic == 0) { cellText.append(contentsOf: text) }
    }

    /// Excel's last row: a sheet that numbers one past it is no workbook Excel wrote or opens.
    static let excelRows = 1_048_576

    private func startRow(_ attributes: WorkbookPart.Attributes) throws(Diagnostic) {
        var number = rowNumber + 1
        var hidden = false
        attributes.forEach { name, value in
            if name[0] == 0x72, name[1] == 0 { number = WorkbookPart.integer(value) ?? number }  // r
            if strcmp(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self), "hidden") == 0 {
                hidden = value.elementsEqual("1".utf8) || value.elementsEqual("true".utf8)
            }
        }
        guard number <= Self.excelRows else {
            throw ZipDirectory.broken(path, "the sheet '\(sheetName)' has a row numbered \(number), past Excel's last row (\(Self.excelRows))")
        }
        if number > lastRow + 1 {
            out.append(contentsOf: repeatElement(0x0A, count: number - lastRow - 1))  // rows the sheet leaves out
        }
        rowNumber = number
        rowStart = out.count
        rowOpen = true
        rowHidden = hidden
        fields = 0
        rowHasText = false
    }

    private func endRow() {
        rowOpen = false
        if !rowHasText {
            out.removeSubrange(rowStart...)  // no text: an empty line
        } else {
            if rowHidden {
                hiddenRows += 1
                if firstHiddenRow == 0 { firstHiddenRow = rowNumber }
            }
            width = max(width, fields)
            if fields < width { out.append(contentsOf: repeatElement(0x2C, count: width - fields)) }
        }
        out.append(0x0A)
        lastRow = max(lastRow, rowNumber)
        rowsSinceRelease += 1
        if rowsSinceRelease == 4096 {
            rowsSinceRelease = 0
            strings.release()
        }
    }

    /// A `<c>` starts: its column, style and type; its text comes from its `<v>` (or, for an
    /// inline string, the `<t>`s in its `<is>`, phonetic runs left out); a formula's `<f>` is
    /// not its value.
    private func startCell(_ attributes: WorkbookPart.Attributes) throws(Diagnostic) {
        var column = fields
        var style = 0
        var type = CellType.number
        attributes.forEach { name, value in
            guard name[1] == 0 else { return }
            switch name[0] {
            case 0x72: column = Self.column(of: value) ?? column  // r
            case 0x73: style = WorkbookPart.integer(value) ?? 0  // s
            case 0x74:  // t
                type =
                    switch Array(value) {
                    case [0x73]: .shared  // s
                    case [0x73, 0x74, 0x72]: .formulaText  // str
                    case Array("inlineStr".utf8): .inline
                    case [0x62]: .boolean  // b
                    case [0x65]: .error  // e
                    case [0x64]: .date  // d
                    default: .number  // n
                    }
            default: break
            }
        }
        guard column >= fields else {
            throw ZipDirectory.broken(path, "row \(rowNumber) of the sheet '\(sheetName)' has its cells out of order")
        }
        cellColumn = column
        cellStyle = style
        cellType = type
        cellText.removeAll(keepingCapacity: true)
        inCell = true
        inValue = false
        inInlineString = false
        inText = false
        phonetic = 0
    }

    private func endCell() {
        // The empty fields before this cell (and the separator after the last one), then its text.
        let start = out.count
        let commas = cellColumn - fields + (fields > 0 ? 1 : 0)
        if commas > 0 { out.append(contentsOf: repeatElement(0x2C, count: commas)) }
        let before = out.count
        switch cellType {
        case .shared:
            let index = WorkbookPart.integer(cellText) ?? -1
            if !strings.append(index, to: &out, as: { CSVField.append($0, to: &$1) }) {
                // A cell that points past the table: say so in the field, so the row is rejected, not emptied.
                CSVField.append(Array("#shared string \(String(decoding: cellText, as: UTF8.self)) missing#".utf8)[...], to: &out)
            }
        case .inline, .formulaText:
            CSVField.append(ExcelText.unescape(cellText)[...], to: &out)
        case .boolean:
            CSVField.append(cellText == [0x31] ? Array("TRUE".utf8)[...] : cellText == [0x30] ? Array("FALSE".utf8)[...] : cellText[...], to: &out)
        case .error, .date:
            CSVField.append(cellText[...], to: &out)
        case .number:
            if let kind = styles.dateKind(ofStyle: cellStyle), let date = ExcelNumber.dateText(cellText, kind: kind, uses1904: uses1904) {
                CSVField.append(date[...], to: &out)
            } else {
                CSVField.append(ExcelNumber.shown(cellText)[...], to: &out)
            }
        }
        if out.count > before {
            fields = cellColumn + 1
            rowHasText = true
        } else {
            // An empty cell (one with a style only, as a writer formats a range) is no cell: the
            // row does not grow by it, so neither does the width every row is padded to.
            out.removeSubrange(start...)
        }
    }

    /// The 0-based column of a cell reference (`B12` → 1, `AA3` → 26); nil without letters.
    static func column(of reference: UnsafeBufferPointer<UInt8>) -> Int? {
        var column = 0
        var letters = 0
        for byte in reference {
            let upper = byte & 0xDF
            guard upper >= 0x41, upper <= 0x5A, letters < 3 else { break }  // XFD, three letters, is the last column
            column = column * 26 + Int(upper - 0x40)
            letters += 1
        }
        return letters == 0 ? nil : column - 1
    }
}

/// Cell text helpers: OOXML's `_xHHHH_` escapes.
enum ExcelText {
    /// Decodes `_xHHHH_` (UTF-16 code units, surrogate pairs as two escapes), as Excel writes a
    /// carriage return (`_x000D_`) or a literal `_x` (`_x005F_x`).
    static func unescape(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= 7, bytes.contains(0x5F) else { return bytes }
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        func unit(at start: Int) -> UInt16? {
            guard start + 7 <= bytes.count, bytes[start] == 0x5F, bytes[start + 1] == 0x78, bytes[start + 6] == 0x5F else { return nil }
            var value: UInt16 = 0
            for byte in bytes[(start + 2)..<(start + 6)] {
                guard let digit = hexDigit(byte) else { return nil }
                value = value << 4 | UInt16(digit)
            }
            return value
        }
        while index < bytes.count {
            if let first = unit(at: index) {
                var scalar = Unicode.Scalar(first)
                var length = 7
                if (0xD800..<0xDC00).contains(first), let second = unit(at: index + 7), (0xDC00..<0xE000).contains(second) {
                    scalar = Unicode.Scalar(0x10000 + (UInt32(first - 0xD800) << 10) + UInt32(second - 0xDC00))
                    length = 14
                }
                if let scalar {
                    result.append(contentsOf: Array(String(Character(scalar)).utf8))
                    index += length
                    continue
                }
            }
            result.append(bytes[index])
            index += 1
        }
        return result
    }

    private static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x37
        case 0x61...0x66: byte - 0x57
        default: nil
        }
    }
}

/// Numbers as an Excel cell stores them (the shortest text of a binary double, or up to 17
/// significant digits from some writers), made into the text Excel shows, exactly.
enum ExcelNumber {
    /// Excel shows 15 significant digits: a plain decimal with more, past its point, is rounded
    /// there (half up) and its trailing zeros dropped. Anything else is kept as written.
    static func shown(_ text: [UInt8]) -> [UInt8] {
        guard let point = text.firstIndex(of: 0x2E) else { return text }
        let negative = text.first == 0x2D
        let start = negative ? 1 : 0
        guard point > start, point + 1 < text.count, text[start..<point].allSatisfy(isDigit), text[(point + 1)...].allSatisfy(isDigit)
        else { return text }
        var integerCount = point - start
        var digits = Array(text[start..<point]) + Array(text[(point + 1)...])
        guard let firstSignificant = digits.firstIndex(where: { $0 != 0x30 }), digits.count - firstSignificant > 15 else { return text }
        let keep = firstSignificant + 15
        guard keep >= integerCount else { return text }  // more than 15 digits before the point: kept as written
        let roundsUp = digits[keep] >= 0x35
        digits.removeSubrange(keep...)
        if roundsUp {
            var index = digits.count - 1
            while index >= 0 && digits[index] == 0x39 {
                digits[index] = 0x30
                index -= 1
            }
            if index >= 0 {
                digits[index] += 1
            } else {
                digits.insert(0x31, at: 0)
                integerCount += 1
            }
        }
        var integer = Array(digits.prefix(integerCount))
        var fraction = Array(digits.dropFirst(integerCount))
        while fraction.last == 0x30 { fraction.removeLast() }
        while integer.count > 1 && integer.first == 0x30 { integer.removeFirst() }
        if integer.isEmpty { integer = [0x30] }
        let isZero = integer == [0x30] && fraction.isEmpty
        return (negative && !isZero ? [0x2D] : []) + integer + (fraction.isEmpty ? [] : [0x2E] + fraction)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// A serial date (days since 1899-12-30 in the 1900 system, since 1904-01-01 in the 1904 one;
    /// the day's fraction as time) as text of `kind`; nil when it is no serial date (negative,
    /// exponent, Excel's nonexistent 1900-02-29), which is then kept as the number.
    static func dateText(_ text: [UInt8], kind: DateKind, uses1904: Bool) -> [UInt8]? {
        let point = text.firstIndex(of: 0x2E) ?? text.count
        guard point > 0, point <= 7, text[..<point].allSatisfy(isDigit),
            point == text.count || (point + 1 < text.count && text[(point + 1)...].allSatisfy(isDigit))
        else { return nil }
        var days = text[..<point].reduce(0) { $0 * 10 + Int($1 - 0x30) }
        // Seconds of the day, rounded to the nearest, from 13 fraction digits (integers only).
        var fraction = 0
        var scale = 1
        for byte in text.dropFirst(point + 1).prefix(13) {
            fraction = fraction * 10 + Int(byte - 0x30)
            scale *= 10
        }
        var seconds = (fraction * 86_400 * 2 + scale) / (scale * 2)
        if seconds >= 86_400 {
            seconds -= 86_400
            days += 1
        }
        let civilDays: Int  // days since 1970-01-01
        if uses1904 {
            civilDays = days - 24_107
        } else {
            guard days != 60 else { return nil }  // 1900-02-29, a day Excel counts that never was
            civilDays = days < 60 ? days - 25_568 : days - 25_569
        }
        let hasTime = seconds != 0
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let time = "\(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
        if kind == .time && days == 0 { return Array(time.utf8) }
        guard days > 0 else { return nil }
        let (year, month, day) = CivilTime.civilFromDays(civilDays)
        let date = "\(year)-\(two(month))-\(two(day))"
        return Array((kind == .date && !hasTime ? date : date + " " + time).utf8)
    }
}

enum DateKind { case date, time, dateTime }

/// Which cell styles show numbers as dates or times (`xl/styles.xml`).
struct WorkbookStyles {
    /// By cell style (`s`), the kind of date its number format shows; nil: no date.
    private var kinds: [DateKind?] = []

    func dateKind(ofStyle style: Int) -> DateKind? { style >= 0 && style < kinds.count ? kinds[style] : nil }

    static func load(_ part: String?, from archive: ZipDirectory) throws(Diagnostic) -> WorkbookStyles {
        var styles = WorkbookStyles()
        guard let part else { return styles }
        var custom: [Int: String] = [:]
        var formats: [Int] = []
        var inCellFormats = false
        try archive.walkSmallPart(part, ends: { if $0 == "cellXfs" { inCellFormats = false } }) { element, attributes in
            switch element {
            case "numFmt":
                if let id = attributes["numFmtId"].flatMap({ Int($0) }) { custom[id] = attributes["formatCode"] ?? "" }
            case "cellXfs": inCellFormats = true
            case "xf" where inCellFormats: formats.append(attributes["numFmtId"].flatMap { Int($0) } ?? 0)
            default: break
            }
        }
        styles.kinds = formats.map { id in custom[id].map(kind(ofFormat:)) ?? builtInKind(id) }
        return styles
    }

    /// Excel's built-in date and time formats, with those of Chinese Excel (27–36, 50–58).
    static func builtInKind(_ id: Int) -> DateKind? {
        switch id {
        case 14...17, 27...31, 36, 50...54, 57, 58: .date
        case 18...21, 32...35, 45...47, 55, 56: .time
        case 22: .dateTime
        default: nil
        }
    }

    /// The kind of date a format code shows: its letters outside quotes, escapes and brackets
    /// (`[Red]`, `[$-804]`); only the first section counts.
    static func kind(ofFormat code: String) -> DateKind? {
        var letters = Set<Character>()
        var quoted = false
        var bracketed = false
        var escaped = false
        for character in code {
            if escaped {
                escaped = false
                continue
            }
            if character == ";" && !quoted && !bracketed { break }
            switch character {
            case "\"": quoted.toggle()
            case "\\" where !quoted: escaped = true
            case "[" where !quoted: bracketed = true
            case "]" where !quoted: bracketed = false
            default:
                if !quoted && !bracketed { letters.insert(Character(character.lowercased())) }
            }
        }
        let hasDate = letters.contains("y") || letters.contains("d")
        let hasTime = letters.contains("h") || letters.contains("s")
        switch (hasDate, hasTime) {
        case (true, true): return .dateTime
        case (true, false): return .date
        case (false, true): return .time
        default: return letters.contains("m") && !letters.contains("0") && !letters.contains("#") ? .date : nil  // "mmm" alone: a month
        }
    }
}

/// The workbook's shared strings (`xl/sharedStrings.xml`), in memory up to `memoryLimit` bytes
/// and then in unlinked temporary files, mapped once read and released every few thousand rows
/// (`release`), so that the pages of strings already used leave the process's memory.
final class SharedStrings {
    static let memoryLimit = 1 << 20
    private let memoryLimit: Int
    private var bytes: [UInt8] = []
    /// The end of each string in `bytes` (or in the text file).
    private var ends: [Int] = []
    private(set) var count = 0
    private var spill: (text: SpillFile, ends: SpillFile)?
    private var mapped: (text: UnsafeRawBufferPointer, ends: UnsafeRawBufferPointer)?

    init(memoryLimit: Int) { self.memoryLimit = memoryLimit }

    deinit {
        if let mapped {
            if mapped.text.count > 0 { munmap(UnsafeMutableRawPointer(mutating: mapped.text.baseAddress!), mapped.text.count) }
            if mapped.ends.count > 0 { munmap(UnsafeMutableRawPointer(mutating: mapped.ends.baseAddress!), mapped.ends.count) }
        }
    }

    static func load(
        _ part: String?, from archive: ZipDirectory, path: String, memoryLimit: Int, progress: ByteCounter?
    ) throws(Diagnostic) -> SharedStrings {
        let strings = SharedStrings(memoryLimit: memoryLimit)
        guard let part else { return strings }
        let reader = SharedStringsReader(strings)
        try WorkbookPart(archive.reader(for: part, progress: progress), part: part, path: path, client: reader).parse()
        try strings.finish()
        return strings
    }

    fileprivate func append(_ text: [UInt8]) throws(Diagnostic) {
        bytes += text
        let end = (ends.last ?? spilledBytes) + text.count
        ends.append(end)
        count += 1
        if bytes.count + ends.count * 8 > memoryLimit { try spillOut() }
    }

    private var spilledBytes = 0

    /// Moves what is in memory to the temporary files.
    private func spillOut() throws(Diagnostic) {
        if spill == nil { spill = (try SpillFile(), try SpillFile()) }
        try spill!.text.write(bytes)
        try spill!.ends.write(ends.withUnsafeBytes { Array($0) })
        spilledBytes = ends.last ?? spilledBytes
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }

    private func finish() throws(Diagnostic) {
        guard spill != nil else { return }
        try spillOut()
        mapped = (try spill!.text.map(), try spill!.ends.map())
        bytes = []
        ends = []
    }

    /// Writes string `index` through `write`; false when the table has no such string.
    func append(_ index: Int, to out: inout [UInt8], as write: (UnsafeRawBufferPointer, inout [UInt8]) -> Void) -> Bool {
        guard index >= 0, index < count else { return false }
        if let mapped {
            let ends = mapped.ends.bindMemory(to: Int.self)
            write(UnsafeRawBufferPointer(rebasing: mapped.text[(index == 0 ? 0 : ends[index - 1])..<ends[index]]), &out)
        } else {
            let start = index == 0 ? 0 : ends[index - 1]
            bytes.withUnsafeBytes { write(UnsafeRawBufferPointer(rebasing: $0[start..<ends[index]]), &out) }
        }
        return true
    }

    /// Lets go of the mapped pages read so far (they stay in the page cache, out of this
    /// process's memory).
    func release() {
        guard let mapped else { return }
        for region in [mapped.text, mapped.ends] where region.count > 0 {
            madvise(UnsafeMutableRawPointer(mutating: region.baseAddress!), region.count, Int32(MADV_DONTNEED))
        }
    }
}

/// Reads `xl/sharedStrings.xml` into a `SharedStrings`: each item's text is its `<t>`, or the
/// `<t>` of each rich-text run (`<r>`); phonetic runs (`<rPh>`) are left out.
private final class SharedStringsReader: SAXClient {
    private let strings: SharedStrings
    private var text: [UInt8] = []
    private var inItem = false
    private var inText = false
    private var phonetic = 0

    init(_ strings: SharedStrings) { self.strings = strings }

    override func start(_ name: UnsafePointer<UInt8>, _ attributes: WorkbookPart.Attributes) {
        switch WorkbookPart.element(name) {
        case .si:
            text.removeAll(keepingCapacity: true)
            inItem = true
        case .t where inItem && phonetic == 0: inText = true
        case .rPh: phonetic += 1
        default: break
        }
    }

    override func end(_ name: UnsafePointer<UInt8>) {
        switch WorkbookPart.element(name) {
        case .t: inText = false
        case .rPh: phonetic = max(0, phonetic - 1)
        case .si where inItem:
            inItem = false
            do throws(Diagnostic) { try strings.append(ExcelText.unescape(text)) } catch { stop(error) }
        default: break
        }
    }

    override func text(_ bytes: UnsafeBufferPointer<UInt8>) {
        if inText { text.append(contentsOf: bytes) }
    }
}

/// Reads a small part (the workbook, its relationships, styles): each element's local name and
/// attributes to `body`, each end to `ends`.
private final class PartWalker: SAXClient {
    private let body: (String, [String: String]) -> Void
    private let ends: (String) -> Void

    init(body: @escaping (String, [String: String]) -> Void, ends: @escaping (String) -> Void) {
        self.body = body
        self.ends = ends
    }

    override func start(_ name: UnsafePointer<UInt8>, _ attributes: WorkbookPart.Attributes) { body(WorkbookPart.name(name), attributes.all) }
    override func end(_ name: UnsafePointer<UInt8>) { ends(WorkbookPart.name(name)) }
}

/// An unlinked temporary file in `TMPDIR`, written in order and then read or mapped: `purpose`
/// and `room` (how much it needs) are for the error when it cannot be made or written.
final class SpillFile {
    private let descriptor: Int32
    private(set) var size = 0
    private let purpose: String
    private let room: String

    init(purpose: String = "the workbook's strings", room: String = "a little more than the workbook's xl/sharedStrings.xml, unzipped") throws(Diagnostic) {
        self.purpose = purpose
        self.room = room
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((directory + "/refundflow-sheet-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw Diagnostic(
                code: "input.workbook_spill", message: "cannot make a temporary file in '\(directory)' for \(purpose): \(String(cString: strerror(errno)))",
                notes: ["set TMPDIR to a directory with room (\(room))"])
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// For `pread`.
    var fileDescriptor: Int32 { descriptor }

    func write(_ bytes: [UInt8]) throws(Diagnostic) {
        var done = 0
        while done < bytes.count {
            let result = bytes.withUnsafeBytes { systemWrite(descriptor, $0.baseAddress! + done, bytes.count - done) }
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else {
                throw Diagnostic(
                    code: "input.workbook_spill", message: "cannot write \(purpose) to a temporary file: \(String(cString: strerror(errno)))",
                    notes: ["set TMPDIR to a directory with room (\(room))"])
            }
            done += result
        }
        size += bytes.count
    }

    func map() throws(Diagnostic) -> UnsafeRawBufferPointer {
        guard size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), base != MAP_FAILED else {
            throw Diagnostic(code: "input.workbook_spill", message: "cannot map the workbook's strings: \(String(cString: strerror(errno)))")
        }
        return UnsafeRawBufferPointer(start: base, count: size)
    }
}

private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(descriptor, bytes, count) }

/// Receives a workbook part's elements and text from `WorkbookPart` (a class, so that libxml2's
/// callbacks reach it through a pointer, without reference counting). Names are local names,
/// NUL-terminated; everything is valid during the call only.
class SAXClient {
    /// Why the parse was stopped (a DOCTYPE or entity, or the client's own failure); `feed` throws it.
    private(set) var stopped: Diagnostic?
    let errors = XMLErrors()
    private var parser: xmlParserCtxtPtr?
    private var part = ""
    private var path = ""

    func start(_ name: UnsafePointer<UInt8>, _ attributes: WorkbookPart.Attributes) {}
    func end(_ name: UnsafePointer<UInt8>) {}
    func text(_ text: UnsafeBufferPointer<UInt8>) {}

    fileprivate func begin(part: String, path: String, parser: xmlParserCtxtPtr) {
        self.part = part
        self.path = path
        self.parser = parser
    }

    /// Stops the parse with `error` (the first one given is kept).
    final func stop(_ error: Diagnostic) {
        if stopped == nil { stopped = error }
        if let parser { xmlStopParser(parser) }
    }

    /// A DOCTYPE, an entity declaration or a custom entity reference: no spreadsheet writes
    /// them (OOXML forbids a DTD), and they carry entity bombs and external entities.
    fileprivate final func refuseEntities() {
        stop(
            Diagnostic(
                code: "input.workbook_broken",
                message: "'\(path)' was refused: its part '\(part)' declares a DOCTYPE or uses a custom entity, which no spreadsheet writes (nothing was expanded)",
                location: SourceLocation(file: path, line: 1), notes: ["open it in Excel and save it again, or export it again"]))
    }
}

/// One XML part of a workbook through libxml2's SAX2 push parser, fed in chunks as the part is
/// inflated: element starts (local name — a writer may prefix it, `x:row` — and attributes),
/// ends and text go to its `SAXClient`; no tree is built, so memory stays flat however large the
/// sheet. The parser options are the XML reader's (no network, no entity expansion, no DTD
/// loading); a DOCTYPE, an entity declaration or a custom entity reference stops the part
/// (no spreadsheet writes them, and they carry entity bombs).
final class WorkbookPart {
    /// The elements the sheet and shared-string walks look at.
    enum Element { case row, c, v, t, r, si, `is`, rPh, other }

    /// SAX2's attributes: five pointers each (local name, prefix, URI, value start, value end).
    struct Attributes {
        let base: UnsafeMutablePointer<UnsafePointer<xmlChar>?>?
        let count: Int

        /// Each attribute's local name (NUL-terminated) and value (not terminated; entities
        /// already replaced).
        func forEach(_ body: (UnsafePointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void) {
            guard let base else { return }
            for index in 0..<count {
                guard let name = base[index * 5], let start = base[index * 5 + 3], let end = base[index * 5 + 4] else { continue }
                body(name, UnsafeBufferPointer(start: start, count: end - start))
            }
        }

        /// Every attribute by local name, as text.
        var all: [String: String] {
            var all: [String: String] = [:]
            forEach { name, value in
                all[String(cString: UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))] = String(decoding: value, as: UTF8.self)
            }
            return all
        }
    }

    private let source: ZipEntryReader
    private let part: String
    private let path: String
    /// Gets the events; owns this part (or outlives it), so it is held unowned.
    private unowned(unsafe) let client: SAXClient
    private let context: xmlParserCtxtPtr
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var finished = false

    init(_ source: ZipEntryReader, part: String, path: String, client: SAXClient) throws(Diagnostic) {
        self.source = source
        self.part = part
        self.path = path
        self.client = client
        LibXML2.initialize()
        // Each callback reaches the client through its pointer, without reference counting.
        var handler = xmlSAXHandler()
        handler.initialized = XML_SAX2_MAGIC
        handler.startElementNs = { context, name, _, _, _, _, count, _, attributes in
            guard let context, let name else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.start(name, Attributes(base: attributes, count: Int(count))) }
        }
        handler.endElementNs = { context, name, _, _ in
            guard let context, let name else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.end(name) }
        }
        let characters: charactersSAXFunc = { context, text, length in
            guard let context, let text, length > 0 else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.text(UnsafeBufferPointer(start: text, count: Int(length))) }
        }
        handler.characters = characters
        handler.cdataBlock = characters
        handler.internalSubset = { context, _, _, _ in
            guard let context else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.refuseEntities() }
        }
        handler.entityDecl = { context, _, _, _, _, _ in
            guard let context else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.refuseEntities() }
        }
        handler.reference = { context, _ in
            guard let context else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.refuseEntities() }
        }
        handler.serror = { context, error in
            guard let context, let error else { return }
            Unmanaged<SAXClient>.fromOpaque(context)._withUnsafeGuaranteedRef { $0.errors.record(error.pointee) }
        }
        guard let context = xmlCreatePushParserCtxt(&handler, Unmanaged.passUnretained(client).toOpaque(), nil, 0, part) else {
            chunk.deallocate()
            throw Diagnostic(code: "input.unreadable", message: "libxml2 could not start reading '\(part)' in '\(path)'")
        }
        xmlCtxtUseOptions(context, XMLReader.parserOptions)
        self.context = context
        client.begin(part: part, path: path, parser: context)
    }

    deinit {
        if let document = context.pointee.myDoc { xmlFreeDoc(document) }
        xmlFreeParserCtxt(context)
        chunk.deallocate()
    }

    /// Parses the next chunk of the part; false once the part has ended (and was well-formed).
    func feed() throws(Diagnostic) -> Bool {
        guard !finished else { return false }
        let count = try source.read(into: chunk)
        let status = xmlParseChunk(context, chunk.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(count), count == 0 ? 1 : 0)
        if let stopped = client.stopped { throw stopped }
        if status != 0 || client.errors.first != nil { throw failure() }
        if count == 0 { finished = true }
        return !finished
    }

    /// Parses the whole part.
    func parse() throws(Diagnostic) { while try feed() {} }

    /// An element by its local name.
    static func element(_ name: UnsafePointer<UInt8>) -> Element {
        switch (name[0], name[1]) {
        case (0x63, 0): return .c
        case (0x76, 0): return .v
        case (0x74, 0): return .t
        case (0x72, 0): return .r
        case (0x69, 0x73) where name[2] == 0: return .is
        case (0x72, 0x6F) where name[2] == 0x77 && name[3] == 0: return .row
        case (0x73, 0x69) where name[2] == 0: return .si
        case (0x72, 0x50) where name[2] == 0x68 && name[3] == 0: return .rPh
        default: return .other
        }
    }

    static func name(_ name: UnsafePointer<UInt8>) -> String { String(cString: UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self)) }

    /// A non-negative decimal integer (spaces around it allowed); nil for anything else.
    static func integer(_ text: some Collection<UInt8>) -> Int? {
        var value = 0
        var digits = 0
        for byte in text {
            if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { continue }
            guard byte >= 0x30, byte <= 0x39, digits < 18 else { return nil }
            value = value * 10 + Int(byte - 0x30)
            digits += 1
        }
        return digits == 0 ? nil : value
    }

    private func failure() -> Diagnostic {
        let errors = client.errors
        let where_ = errors.first.map { " at line \($0.line), column \($0.column) of the part" } ?? ""
        if errors.entityAttack {
            return Diagnostic(
                code: "input.workbook_broken",
                message: "'\(path)' was refused: its part '\(part)' has an entity bomb or entity tricks\(where_): \(errors.first?.message ?? "") (nothing was expanded)",
                location: SourceLocation(file: path, line: 1), notes: ["no spreadsheet writes entities; export the workbook again"])
        }
        return Diagnostic(
            code: "input.workbook_broken",
            message: "'\(path)' is a broken workbook: its part '\(part)' is not well-formed XML\(where_): \(errors.first?.message ?? "libxml2 stopped")",
            location: SourceLocation(file: path, line: 1),
            notes: ["open it in Excel and save it again, or export it again"])
    }
}

/// A ZIP archive's directory (the central directory at its end, ZIP64 too), read with `pread`.
struct ZipDirectory {
    struct Entry {
        var name: String
        var method: UInt16
        var flags: UInt16
        var crc: UInt32
        var compressedSize: Int
        var size: Int
        var localOffset: Int
    }

    let descriptor: Int32
    let path: String
    private var entries: [String: Entry] = [:]

    init(descriptor: Int32, size: Int, path: String) throws(Diagnostic) {
        self.descriptor = descriptor
        self.path = path
        let tailSize = min(size, 22 + 65_535 + 20)
        let tail = try Self.read(descriptor, count: tailSize, at: size - tailSize, path: path)
        guard let end = stride(from: tail.count - 22, through: 0, by: -1).first(where: { Self.u32(tail, $0) == 0x0605_4B50 }) else {
            throw Self.broken(path, "it has no ZIP directory at its end (the file was cut short)")
        }
        var count = Int(Self.u16(tail, end + 10))
        var directorySize = Int(Self.u32(tail, end + 12))
        var directoryOffset = Int(Self.u32(tail, end + 16))
        if count == 0xFFFF || directorySize == 0xFFFF_FFFF || directoryOffset == 0xFFFF_FFFF, end >= 20, Self.u32(tail, end - 20) == 0x0706_4B50 {
            // ZIP64: the locator names the ZIP64 end record.
            let record = try Self.read(descriptor, count: 56, at: Self.size(Self.u64(tail, end - 20 + 8)), path: path)
            guard Self.u32(record, 0) == 0x0606_4B50 else { throw Self.broken(path, "its ZIP64 directory record is missing") }
            count = Self.size(Self.u64(record, 32))
            directorySize = Self.size(Self.u64(record, 40))
            directoryOffset = Self.size(Self.u64(record, 48))
        }
        guard directoryOffset <= size, directorySize <= size - directoryOffset, directorySize < 64 << 20 else {
            throw Self.broken(path, "its ZIP directory lies outside the file")
        }
        let directory = try Self.read(descriptor, count: directorySize, at: directoryOffset, path: path)
        var offset = 0
        for _ in 0..<count {
            guard offset + 46 <= directory.count, Self.u32(directory, offset) == 0x0201_4B50 else {
                throw Self.broken(path, "its ZIP directory is damaged")
            }
            let nameLength = Int(Self.u16(directory, offset + 28))
            let extraLength = Int(Self.u16(directory, offset + 30))
            let commentLength = Int(Self.u16(directory, offset + 32))
            guard offset + 46 + nameLength + extraLength <= directory.count else { throw Self.broken(path, "its ZIP directory is damaged") }
            var entry = Entry(
                name: String(decoding: directory[(offset + 46)..<(offset + 46 + nameLength)], as: UTF8.self),
                method: Self.u16(directory, offset + 10), flags: Self.u16(directory, offset + 8), crc: Self.u32(directory, offset + 16),
                compressedSize: Int(Self.u32(directory, offset + 20)), size: Int(Self.u32(directory, offset + 24)),
                localOffset: Int(Self.u32(directory, offset + 42)))
            // ZIP64 sizes and offset, in that order, for each field that says 0xFFFFFFFF.
            var extra = offset + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = Self.u16(directory, extra)
                let length = Int(Self.u16(directory, extra + 2))
                if id == 1 {
                    var field = extra + 4
                    if entry.size == 0xFFFF_FFFF, field + 8 <= extraEnd { entry.size = Self.size(Self.u64(directory, field)); field += 8 }
                    if entry.compressedSize == 0xFFFF_FFFF, field + 8 <= extraEnd { entry.compressedSize = Self.size(Self.u64(directory, field)); field += 8 }
                    if entry.localOffset == 0xFFFF_FFFF, field + 8 <= extraEnd { entry.localOffset = Self.size(Self.u64(directory, field)) }
                }
                extra += 4 + length
            }
            // A part must lie inside the file (a damaged or crafted directory says otherwise).
            guard entry.localOffset <= size - 30, entry.compressedSize <= size - entry.localOffset - 30 else {
                throw Self.broken(path, "its ZIP directory puts the part '\(entry.name)' outside the file")
            }
            entries[entry.name] = entry
            offset += 46 + nameLength + extraLength + commentLength
        }
    }

    /// The entry of a part name (as the package names it, or in another case: writers differ).
    func entry(_ name: String) -> Entry? {
        entries[name] ?? entries.values.first { $0.name.lowercased() == name.lowercased() }
    }

    func reader(for name: String, progress: ByteCounter?) throws(Diagnostic) -> ZipEntryReader {
        guard let entry = entry(name) else { throw Self.broken(path, "it has no part '\(name)'") }
        return try ZipEntryReader(entry, descriptor: descriptor, path: path, progress: progress)
    }

    /// Reads a small part (the workbook, its relationships, styles), calling `body` with each
    /// element's local name and attributes, and `ends` at each element's end.
    func walkSmallPart(_ name: String, ends: @escaping (String) -> Void = { _ in }, _ body: @escaping (String, [String: String]) -> Void) throws(Diagnostic) {
        let walker = PartWalker(body: body, ends: ends)
        try WorkbookPart(reader(for: name, progress: nil), part: name, path: path, client: walker).parse()
    }

    /// The relationships of a part (`xl/workbook.xml` → `xl/_rels/workbook.xml.rels`; the
    /// package's own: ""), by id, with their targets made into part names.
    func relationshipTargets(of part: String) throws(Diagnostic) -> [String: (type: String, target: String)] {
        let folder = part.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let file = part.split(separator: "/").last.map(String.init) ?? ""
        let relsName = (folder.isEmpty ? "" : folder + "/") + "_rels/" + file + ".rels"
        guard entry(relsName) != nil else { return [:] }
        var targets: [String: (type: String, target: String)] = [:]
        try walkSmallPart(relsName) { element, attributes in
            guard element == "Relationship", let id = attributes["Id"], let target = attributes["Target"],
                attributes["TargetMode"] != "External"
            else { return }
            targets[id] = (attributes["Type"] ?? "", Self.resolve(target, from: folder))
        }
        return targets
    }

    func relationships(of part: String, type: String) throws(Diagnostic) -> [String] {
        try relationshipTargets(of: part).values.filter { $0.type.hasSuffix(type) }.map(\.target)
    }

    /// A relationship target as a part name: absolute (`/xl/…`) or relative to `folder` (`../`).
    static func resolve(_ target: String, from folder: String) -> String {
        var parts: [Substring] = target.hasPrefix("/") ? [] : folder.split(separator: "/")
        for piece in target.split(separator: "/") {
            if piece == ".." {
                if !parts.isEmpty { parts.removeLast() }
            } else if piece != "." {
                parts.append(piece)
            }
        }
        return parts.joined(separator: "/")
    }

    static func read(_ descriptor: Int32, count: Int, at offset: Int, path: String) throws(Diagnostic) -> [UInt8] {
        guard offset >= 0, count >= 0 else { throw broken(path, "it points outside itself") }
        var bytes = [UInt8](repeating: 0, count: count)
        var failure: Diagnostic?  // (withUnsafeMutableBytes rethrows untyped)
        bytes.withUnsafeMutableBytes { space in
            do throws(Diagnostic) {
                try read(descriptor, into: space, at: offset, path: path, short: "it is shorter than its ZIP directory says (cut short)")
            } catch { failure = error }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Fills `destination` from the file at `offset` (`pread`, retried when interrupted); a file
    /// that ends first is broken, for the reason `short`.
    static func read(_ descriptor: Int32, into destination: UnsafeMutableRawBufferPointer, at offset: Int, path: String, short: String) throws(Diagnostic) {
        var done = 0
        while done < destination.count {
            let result = pread(descriptor, destination.baseAddress! + done, destination.count - done, off_t(offset + done))
            if result < 0 && errno == EINTR { continue }
            guard result > 0 else { throw broken(path, result == 0 ? short : String(cString: strerror(errno))) }
            done += result
        }
    }

    static func broken(_ path: String, _ reason: String) -> Diagnostic {
        Diagnostic(
            code: "input.workbook_broken", message: "'\(path)' is a broken Excel workbook: \(reason)",
            location: SourceLocation(file: path, line: 1),
            notes: ["download or export it again; if Excel opens it, save it again as .xlsx or as 'CSV UTF-8 (comma delimited)'"])
    }

    /// A 64-bit size or offset as an `Int`; past `Int.max` (no real file) it is `Int.max`, which
    /// the checks against the file's size refuse.
    static func size(_ value: UInt64) -> Int { value > UInt64(Int.max) ? .max : Int(value) }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { UInt32(u16(bytes, at)) | UInt32(u16(bytes, at + 2)) << 16 }
    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 { UInt64(u32(bytes, at)) | UInt64(u32(bytes, at + 4)) << 32 }
}

/// One part of a ZIP archive, stored or deflated, read in order with `pread` and checked
/// against its CRC-32 and size at its end.
final class ZipEntryReader {
    private let entry: ZipDirectory.Entry
    private let descriptor: Int32
    private let path: String
    private let progress: ByteCounter?
    private var position: Int
    private var compressedLeft: Int
    private var stream = z_stream()
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var crc: uLong = crc32(0, nil, 0)
    private var produced = 0
    private var finished = false

    init(_ entry: ZipDirectory.Entry, descriptor: Int32, path: String, progress: ByteCounter?) throws(Diagnostic) {
        self.entry = entry
        self.descriptor = descriptor
        self.path = path
        self.progress = progress
        compressedLeft = entry.compressedSize
        position = 0
        // Every property is set: a throw from here on runs deinit, which frees `input`.
        guard entry.flags & 1 == 0 else {
            throw Diagnostic(
                code: "input.workbook_encrypted", message: "'\(path)' is a password-protected workbook",
                location: SourceLocation(file: path, line: 1), notes: ["open it in Excel, remove the password, and save it again"])
        }
        guard entry.method == 0 || entry.method == 8 else {
            throw ZipDirectory.broken(path, "its part '\(entry.name)' is compressed with method \(entry.method), which Excel never uses")
        }
        let header = try ZipDirectory.read(descriptor, count: 30, at: entry.localOffset, path: path)
        guard ZipDirectory.u32(header, 0) == 0x0403_4B50 else {
            throw ZipDirectory.broken(path, "its part '\(entry.name)' is not where its directory says")
        }
        position = entry.localOffset + 30 + Int(ZipDirectory.u16(header, 26)) + Int(ZipDirectory.u16(header, 28))
        // -15: raw deflate (no zlib or gzip header), as ZIP stores it.
        if entry.method == 8, inflateInit2_(&stream, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) != Z_OK {
            throw ZipDirectory.broken(path, "zlib could not start")
        }
    }

    deinit {
        if entry.method == 8 { inflateEnd(&stream) }
        input.deallocate()
    }

    func read(into destination: UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int {
        guard !finished, destination.count > 0 else { return 0 }
        var count = 0
        if entry.method == 0 {
            let wanted = min(destination.count, compressedLeft)
            if wanted > 0 {
                try ZipDirectory.read(
                    descriptor, into: UnsafeMutableRawBufferPointer(rebasing: destination[0..<wanted]), at: position, path: path,
                    short: "its part '\(entry.name)' is cut short")
                position += wanted
                compressedLeft -= wanted
                progress?.add(wanted)
            }
            count = wanted
        } else {
            let room = UInt32(min(destination.count, Int(UInt32.max)))
            stream.next_out = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = room
            var ended = false
            while stream.avail_out == room && !ended {
                if stream.avail_in == 0 && compressedLeft > 0 {
                    let wanted = min(input.count, compressedLeft)
                    try ZipDirectory.read(
                        descriptor, into: UnsafeMutableRawBufferPointer(rebasing: input[0..<wanted]), at: position, path: path,
                        short: "its part '\(entry.name)' is cut short")
                    position += wanted
                    compressedLeft -= wanted
                    progress?.add(wanted)
                    stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                    stream.avail_in = UInt32(wanted)
                }
                let status = inflate(&stream, Z_NO_FLUSH)
                switch status {
                case Z_STREAM_END: ended = true
                case Z_OK: break
                case Z_BUF_ERROR where stream.avail_in == 0 && compressedLeft == 0:
                    throw ZipDirectory.broken(path, "its part '\(entry.name)' ends inside its compressed data")
                case Z_BUF_ERROR: break
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw ZipDirectory.broken(path, "its part '\(entry.name)' does not decompress (\(reason))")
                }
            }
            count = Int(room - stream.avail_out)
            if ended { finished = true }
        }
        if count > 0 {
            crc = crc32(crc, destination.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt(count))
            produced += count
            // More than the directory says: damaged, or a ZIP bomb; stopped here, not at its end.
            guard produced <= entry.size else { throw ZipDirectory.broken(path, "its part '\(entry.name)' is larger than its directory says (damaged)") }
        }
        if entry.method == 0 && compressedLeft == 0 { finished = true }
        if finished {
            guard produced == entry.size, UInt32(truncatingIfNeeded: crc) == entry.crc else {
                throw ZipDirectory.broken(path, "its part '\(entry.name)' does not match its checksum (damaged)")
            }
        }
        return count
    }
}
