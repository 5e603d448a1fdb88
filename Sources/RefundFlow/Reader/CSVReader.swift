#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options of the CSV reader, as a pipeline's `reader: csv:` gives them.
public struct CSVReaderOptions: Sendable, Hashable {
    public var encoding: SourceEncoding = .auto
    public var delimiter: UInt8 = UInt8(ascii: ",")
    /// `delimiter: auto`: the header line decides among comma, tab, semicolon and bar (the one
    /// that splits it into the most of the pipeline's columns; comma on a tie). With a fixed
    /// delimiter a header that only another one splits into the pipeline's columns is an error
    /// that names it.
    public var detectDelimiter = false
    public var quote: UInt8 = UInt8(ascii: "\"")
    /// Physical lines before the header (e.g. an export's `#title` line).
    public var skipLines: Int = 0
    /// Lines before the header that start with these bytes are title lines and are skipped
    /// (Alipay and some seller-center exports put `#…` lines first). Empty: none. After the
    /// header every line is data.
    public var commentPrefix: [UInt8] = Array("#".utf8)
    /// The sheet of an `.xlsx` workbook to read (by name); nil reads the first visible one.
    public var sheet: String?
    /// A record larger than this is a fatal error (almost always an unterminated quote).
    public var maxRecordBytes: Int = 16 << 20
    /// Bytes read per system call (also the first buffer size). Tests shrink it to cross
    /// chunk boundaries everywhere.
    var chunkSize: Int = 1 << 20

    public init() {}
}

/// RFC 4180 CSV, streamed and tokenized on bytes.
///
/// - Quoted fields may hold delimiters, doubled quotes, CR and LF; rows end with CRLF, LF or CR.
/// - The physical line where each record starts is kept, and so is each field's position.
/// - Decoding is strict and per field, only where a field has non-ASCII bytes. An undecodable
///   byte makes an `encoding` problem that names line and byte offset.
/// - Ragged rows and unterminated quotes are `malformed` problems; the row is still delivered,
///   so it lands in the rejects with its raw content.
/// - A BOM is removed. Lines with no content (empty, or only delimiters and spaces, as Excel
///   writes formatted empty rows) carry no record and are counted as blank lines.
public struct CSVReader: RecordReader {
    public var options: CSVReaderOptions

    public init(options: CSVReaderOptions = CSVReaderOptions()) { self.options = options }

    public func read(_ file: InputFile, fieldNames: [String], into sink: inout some RecordSink) throws -> ReadSummary {
        let decoder = try FieldDecoder(options.encoding)
        var state = CSVReadState(file: file, options: options, decoder: decoder, input: try ChunkedFile(file, decompresses: true, convertsUTF16: true, opensWorkbooks: true, sheet: options.sheet))
        return try state.run(fieldNames: fieldNames, sink: &sink)
    }
}

/// Position of one field inside the raw record bytes.
struct RawFieldSpan {
    var start: Int  // offset in record, after an opening quote
    var end: Int
    var quoted: Bool
    var hasEscapedQuote: Bool
    var hasHighBytes: Bool
}

/// A field after decoding: its bytes are in the raw record (`inRecord`, zero-copy: unquoted or
/// simply quoted, and already valid UTF-8) or in the row's arena (unescaped or converted).
struct DecodedSpan {
    var start: Int
    var end: Int
    /// Offset (in the raw field) of the first undecodable byte, or -1.
    var badByte: Int
    var inRecord: Bool
}

private enum RecordScan {
    case record(end: Int, lineBreaks: Int)
    case blank(end: Int)
    case needMore
}

/// The mutable state of one CSV read. Owns its buffer; nothing escapes the call.
private struct CSVReadState: ~Copyable {
    let file: InputFile
    var options: CSVReaderOptions
    var window: InputWindow
    let decoder: FieldDecoder

    // The unread input is window.buffer[dataStart..<dataEnd].
    var buffer: UnsafeMutableRawBufferPointer { window.buffer }
    var dataStart: Int {
        get { window.start }
        set { window.start = newValue }
    }
    var dataEnd: Int { window.end }
    var endOfInput: Bool { window.endOfInput }

    // Per-record scratch, reused.
    var fields: [RawFieldSpan] = []
    var decoded: [DecodedSpan] = []
    var arena: [UInt8] = []
    var scratch: [UInt8] = []
    var problems: [RowProblem] = []
    var unterminatedQuote = false
    var junkAfterQuote: Int? = nil

    var line = 1  // physical line of the next byte at dataStart (an .xlsx: the sheet row)
    /// The input is an Excel workbook's sheet as CSV text: each record is one sheet row (cells
    /// may hold line breaks), and a field's column is its cell's.
    var isWorkbook = false
    var summary: ReadSummary
    /// What a re-feed file needs before the header line: a BOM when the file had one (or was
    /// UTF-16), and the `skipLines` lines as in the file.
    var refeedLead: [UInt8] = []
    static let byteOrderMark: [UInt8] = [0xEF, 0xBB, 0xBF]

    init(file: InputFile, options: CSVReaderOptions, decoder: FieldDecoder, input: consuming ChunkedFile) {
        self.file = file
        self.options = options
        self.decoder = decoder
        self.window = InputWindow(file: input, chunkSize: options.chunkSize, maxBytes: options.maxRecordBytes)
        summary = ReadSummary(file: file)
        fields.reserveCapacity(64)
        decoded.reserveCapacity(64)
        arena.reserveCapacity(4096)
    }

    /// Buffers more input past `dataEnd` (moving the unread bytes to the front); false at the end.
    mutating func fill() throws -> Bool {
        let maxBytes = options.maxRecordBytes
        let path = file.path
        let line = line
        return try window.refill(tooLarge: {
            Diagnostic(
                code: "input.record_too_large", message: "a record starting here is larger than \(maxBytes >> 20) MiB",
                location: SourceLocation(file: path, line: line),
                notes: ["this is almost always a quote that is never closed; check the quoting on this line"])
        }).more
    }

    mutating func run(fieldNames: [String], sink: inout some RecordSink) throws -> ReadSummary {
        // BOM.
        while dataEnd - dataStart < 3, try fill() {}
        if let utf16 = window.convertedFrom {
            // Excel's "Unicode Text": UTF-16 with a byte-order mark, converted as it is read.
            decoder.sawUTF16(utf16)
            refeedLead = Self.byteOrderMark  // the re-feed file holds the converted UTF-8
        } else if let workbook = window.workbook {
            // An .xlsx: its sheet as UTF-8 CSV with commas and double quotes, whatever the pipeline says.
            isWorkbook = true
            decoder.sawWorkbook(sheet: workbook.sheetName)
            options.delimiter = UInt8(ascii: ",")
            options.quote = UInt8(ascii: "\"")
            options.detectDelimiter = false
            refeedLead = Self.byteOrderMark  // the re-feed file is CSV, which Excel opens as UTF-8 by the mark
            if workbook.sheetNames.count > 1 {
                summary.notes.append(
                    "'\(file.path)': read the sheet '\(workbook.sheetName)' of \(workbook.sheetNames.count): "
                        + workbook.sheetNames.map { "'\($0)'" }.joined(separator: ", ") + " (the reader's 'sheet' option picks another)")
            }
        } else if dataEnd - dataStart >= 3, buffer[0] == 0xEF, buffer[1] == 0xBB, buffer[2] == 0xBF {
            dataStart = 3
            decoder.sawByteOrderMark()
            refeedLead = Self.byteOrderMark
        }
        while dataEnd - dataStart < 1024, try fill() {}
        if var refusal = StartOfInput.binaryRefusal(path: file.path, firstBytes: buffer[dataStart..<dataEnd], expected: "CSV") {
            if refusal.code == "input.workbook", window.isCompressed, buffer[dataStart] == 0x50 {
                // An .xlsx inside gzip: a workbook is read from its end, so it is read as a file, or
                // through a pipe (copied to a temporary file), not through gzip's stream.
                refusal.message = "'\(file.path)' is an Excel .xlsx workbook compressed with gzip"
                refusal.notes = ["decompress it (gunzip) and run on the .xlsx, or give it through a pipe: gunzip -c '\(file.path)' | refundflow run … --input -"]
            }
            throw refusal
        }
        try skipLeadingLines()
        try skipTitleLines(unlessNaming: fieldNames)
        try findHeader(fieldNames: fieldNames)
        try refuseBytesThatGBKUsesInCharacters()
        guard var header = try readHeader() else {
            if let workbook = window.workbook {
                if let error = workbook.breakError { throw error }  // broken before its first row
                throw Diagnostic(
                    code: "input.empty", message: "the sheet '\(workbook.sheetName)' of '\(file.path)' has no rows",
                    location: SourceLocation(file: file.path, line: 1),
                    notes: [
                        workbook.sheetNames.count > 1
                            ? "its sheets are " + workbook.sheetNames.map { "'\($0)'" }.joined(separator: ", ") + ": set the reader's 'sheet' to the one with the refunds"
                            : "an export with no refunds still has its header row; this workbook was most likely not written completely: export it again"
                    ])
            }
            if window.bytesHandedOut == 0 { throw Diagnostic.emptyInput(file.path, format: "its header line") }
            throw Diagnostic(
                code: "input.no_header", message: "'\(file.path)' has no header row",
                location: SourceLocation(file: file.path, line: line),
                notes: ["the CSV reader expects the first line (after skipLines) to name the columns"])
        }
        let available = matchColumnsWrittenAnotherWay(header.names, fieldNames: fieldNames)
        var slotColumns = fieldNames.map { name in available.firstIndex(of: name) ?? -1 }
        var twins = twinColumns(available, slotColumns: slotColumns, headerLine: header.line)
        try sink.begin(
            file: file,
            shape: SourceShape(
                availableFields: available, location: SourceLocation(file: file.path, line: header.line)))
        var ordinal = 0
        var repeats = HeaderRepeats(firstLine: header.line)
        reading: while let scan = try nextRecord() {
            switch scan {
            case .blank(let end):
                summary.blankLines += 1
                line += 1
                dataStart = end
            case .record(let end, let lineBreaks) where isEmptyRow():
                // Only delimiters and spaces (Excel writes ",,,," for formatted empty rows): no record.
                summary.blankLines += 1
                line += isWorkbook ? 1 : lineBreaks
                dataStart = end
            case .record(let end, let lineBreaks) where header.isRepeated(by: fields, record: recordBytes(end: end)):
                // Another header: exports joined with `cat` or copied one under another.
                let names = try headerNames(recordEnd: end, line: line)
                if names == header.names {
                    repeats.add(line, same: true)
                } else {
                    let columns = matchColumnsWrittenAnotherWay(names, fieldNames: fieldNames)
                    let lost = fieldNames.indices.filter { slotColumns[$0] >= 0 && !columns.contains(fieldNames[$0]) }
                    guard lost.isEmpty else {
                        // Reading on would put values under the wrong fields: stop here, say where.
                        summary.truncated =
                            "line \(line) is another header, without the column\(lost.count == 1 ? "" : "s") "
                            + lost.map { "'\(fieldNames[$0])'" }.joined(separator: ", ")
                            + " that line \(header.line) has; the rest of the file was not read. Split the file at line \(line) and run the second part on its own"
                        try window.drain()
                        break reading
                    }
                    repeats.add(line, same: false)
                    header = Header(names: names, line: line, record: recordBytes(end: end), fields: fields, lead: refeedLead)
                    slotColumns = fieldNames.map { name in columns.firstIndex(of: name) ?? -1 }
                    twins = twinColumns(columns, slotColumns: slotColumns, headerLine: line)
                }
                line += isWorkbook ? 1 : lineBreaks
                dataStart = end
            case .record(let end, let lineBreaks):
                ordinal += 1
                let recordLine = line
                if endOfInput, end == dataEnd, fields.count < header.names.count, !unterminatedQuote,
                    buffer[end - 1] != 0x0A, buffer[end - 1] != 0x0D
                {
                    // A short last row without a line end: a download or export cut off mid-row.
                    summary.truncated =
                        "the file ends in the middle of line \(recordLine + lineBreaks): its last row has \(fields.count) of \(header.names.count) fields and no line end, so the file looks cut short; export or download it again"
                }
                try deliver(
                    end: end, recordLine: recordLine, ordinal: ordinal, header: header, slotColumns: slotColumns, twins: twins,
                    sink: &sink)
                line += isWorkbook ? 1 : lineBreaks
                dataStart = end
            case .needMore:
                preconditionFailure("nextRecord resolves needMore itself")
            }
        }
        repeats.note(into: &summary, path: file.path)
        if let broken = window.workbook?.broken, summary.truncated == nil { summary.truncated = broken }
        if let workbook = window.workbook, workbook.hiddenRows > 0 {
            summary.notes.append(
                "'\(file.path)': \(counted(workbook.hiddenRows, "row")) of the sheet '\(workbook.sheetName)' \(workbook.hiddenRows == 1 ? "is" : "are") hidden in Excel "
                    + "(the first is row \(workbook.firstHiddenRow); a filter hides rows too): \(workbook.hiddenRows == 1 ? "it was" : "they were") read like the others; "
                    + "to leave rows out, delete them from the sheet")
        }
        summary.records = ordinal
        summary.bytes = window.bytesRead
        summary.encoding = (window.isCompressed ? "gzip, " : "") + decoder.decision
        summary.sha256 = window.hexDigest
        return summary
    }

    /// Where the line at `dataStart` ends: the index of its LF, or `dataEnd` when the input ends
    /// first. Buffers more input as needed.
    mutating func endOfLine() throws -> Int {
        let end = try lineEnd(from: 0)  // first: buffering may move dataStart
        return dataStart + end
    }

    /// Where the line that starts `offset` bytes after `dataStart` ends, relative to `dataStart`
    /// (buffering moves `dataStart`): its LF, or the end of the input. Consumes nothing.
    mutating func lineEnd(from offset: Int) throws -> Int {
        var index = offset
        while true {
            if dataStart + index == dataEnd {
                guard try fill() else { return index }
                continue
            }
            if buffer[dataStart + index] == 0x0A { return index }
            index += 1
        }
    }

    /// Drops the line at `dataStart` that ends at `end` (as `endOfLine` gives it).
    mutating func dropLine(endingAt end: Int) {
        line += 1
        dataStart = min(end + 1, dataEnd)
    }

    mutating func skipLeadingLines() throws {
        for _ in 0..<options.skipLines {
            if dataStart == dataEnd, try !fill() { return }
            let end = try endOfLine()
            // Kept for the re-feed file, which the same pipeline must read the same way.
            refeedLead += buffer[dataStart..<min(end + 1, dataEnd)]
            if end == dataEnd { refeedLead.append(0x0A) }
            dropLine(endingAt: end)
        }
    }

    /// Skips lines that start with `commentPrefix` and says so in the summary's notes. A line that
    /// names a column the pipeline reads is the header (e.g. one whose first column is `#`).
    mutating func skipTitleLines(unlessNaming fieldNames: [String]) throws {
        let prefix = options.commentPrefix
        guard !prefix.isEmpty else { return }
        var skipped = 0
        var shown: [String] = []  // the first three, for the note: memory stays flat however many
        var gb18030: FieldDecoder?  // made once, for title lines that are not UTF-8
        while true {
            while dataEnd - dataStart < prefix.count, try fill() {}
            guard dataEnd - dataStart >= prefix.count,
                prefix.indices.allSatisfy({ buffer[dataStart + $0] == prefix[$0] })
            else { break }
            let end = try endOfLine()
            var bytes = [UInt8](buffer[dataStart..<end])
            if bytes.last == 0x0D { bytes.removeLast() }
            let text = StartOfInput.text(bytes, gb18030: &gb18030)
            if fieldNames.contains(where: { !$0.isEmpty && text.contains($0) }) { break }
            skipped += 1
            if shown.count < 3 { shown.append(text.count > 80 ? String(text.prefix(80)) + "…" : text) }
            dropLine(endingAt: end)
        }
        guard skipped > 0 else { return }
        summary.notes.append(
            "'\(file.path)': skipped \(skipped) title line\(skipped == 1 ? "" : "s") before the header: "
                + shown.map { "'\($0)'" }.joined(separator: ", ") + (skipped > 3 ? ", …" : ""))
    }

    /// A column the pipeline reads whose name the header has again, further right.
    struct TwinColumn {
        let slot: Int
        let name: String
        let first: Int
        let other: Int
    }

    /// The pipeline's columns that the header names more than once, each noted for the report.
    /// Reading one of them would be a guess when a row holds different values in them.
    mutating func twinColumns(_ available: [String], slotColumns: [Int], headerLine: Int) -> [TwinColumn] {
        var twins: [TwinColumn] = []
        for (slot, first) in slotColumns.enumerated() where first >= 0 {
            for other in available.indices where other > first && available[other] == available[first] {
                twins.append(TwinColumn(slot: slot, name: available[first], first: first, other: other))
                let note =
                    "'\(file.path)': line \(headerLine) names column '\(available[first])' twice (columns \(first + 1) and \(other + 1)); "
                    + "a row with different values in them is rejected, an empty one takes the other's value"
                if !summary.notes.contains(note) { summary.notes.append(note) }
            }
        }
        return twins
    }

    /// Resolves a row's twin columns: the same value (or one empty) is no question and the
    /// column with the value is read; different values are a problem of the row, not a guess.
    mutating func resolveTwins(
        _ twins: [TwinColumn], slotColumns: inout [Int], record: UnsafeBufferPointer<UInt8>, arena: [UInt8], recordLine: Int
    ) {
        func text(_ span: DecodedSpan) -> String {
            // Zero-copy spans are ASCII or valid UTF-8; the arena holds UTF-8.
            if span.inRecord { return String(decoding: UnsafeBufferPointer(rebasing: record[span.start..<span.end]), as: UTF8.self) }
            return String(decoding: arena[span.start..<span.end], as: UTF8.self)
        }
        for twin in twins where twin.other < decoded.count {
            let (first, other) = (text(decoded[twin.first]), text(decoded[twin.other]))
            let isBlank = { (text: String) in text.allSatisfy { $0 == " " || $0 == "\t" } }
            if first == other || isBlank(other) { continue }
            if isBlank(first) {
                slotColumns[twin.slot] = twin.other
                continue
            }
            problems.append(
                RowProblem(
                    code: .malformed,
                    message: "column '\(twin.name)' is in the header twice (columns \(twin.first + 1) and \(twin.other + 1)) and this row has different values in them ('\(first)', then '\(other)'); RefundFlow does not guess which one is meant",
                    sourceField: twin.name,
                    location: fieldLocation(record: record, recordLine: recordLine, offset: fields[twin.other].start)))
        }
    }

    /// The header's names, where a column the pipeline reads but the file does not name exactly
    /// is taken from the one column written the same way but for letter case, spaces and
    /// full-width forms (`商品ID` for `商品id`, `金额（元）` for `金额(元)`), named in a note.
    mutating func matchColumnsWrittenAnotherWay(_ names: [String], fieldNames: [String]) -> [String] {
        var available = names
        for wanted in fieldNames where !wanted.isEmpty && !available.contains(wanted) {
            let key = wanted.foldedColumnName
            let candidates = available.indices.filter { available[$0].foldedColumnName == key && !fieldNames.contains(available[$0]) }
            guard candidates.count == 1, let column = candidates.first else { continue }
            // A name with a line break (a wrapped header cell) is shown on one line, as every note is.
            let shown = available[column].replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
                .replacingOccurrences(of: "\t", with: "\\t")
            let note = "'\(file.path)': column '\(shown)' is read as '\(wanted)'"
            if !summary.notes.contains(note) { summary.notes.append(note) }
            available[column] = wanted
        }
        return available
    }

    static let delimiterCandidates: [(byte: UInt8, name: String)] = [
        (UInt8(ascii: ","), "commas"), (0x09, "tabs"), (UInt8(ascii: ";"), "semicolons"), (UInt8(ascii: "|"), "bars"),
    ]

    /// Lines before the header that name none of the pipeline's columns are title lines (an
    /// export's "退款管理导出 2024-09-01"); at most this many are skipped.
    static let maxTitleLines = 10

    /// Finds the header: the first line with content that, split by the delimiter (or, with
    /// `delimiter: auto`, by the candidate that does best), names a column the pipeline reads.
    /// The lines before it (at most `maxTitleLines`) are skipped and named in a note; when none
    /// of the first lines names a column, nothing is skipped and the first one is the header.
    /// With a fixed delimiter, a header that only another one splits into the pipeline's
    /// columns is refused with the delimiter to set.
    mutating func findHeader(fieldNames: [String]) throws {
        // Compared folded, so that a header that writes the names another way is found too.
        let wanted = Set(fieldNames.filter { !$0.isEmpty }.map(\.foldedColumnName))
        guard !wanted.isEmpty else { return }
        // An XML or JSON file given to the CSV reader is named as one, from its first 4 KiB (its
        // first "line" may be the whole file).
        while dataEnd - dataStart < 4096, try fill() {}
        let start = [UInt8](buffer[dataStart..<min(dataEnd, dataStart + 4096)].prefix { $0 != 0x0A })
        if let refusal = StartOfInput.refusal(path: file.path, firstLine: start, expected: "CSV", reader: "csv") { throw refusal }
        var gb18030: FieldDecoder?
        var offset = 0
        var titles: [String] = []
        while titles.count <= Self.maxTitleLines, let peeked = try peekContentLine(from: offset) {
            let text = StartOfInput.text(peeked.bytes, gb18030: &gb18030)
            func matches(_ delimiter: UInt8) -> Int {
                let quote = Character(Unicode.Scalar(options.quote))
                return text.split(separator: Character(Unicode.Scalar(delimiter)), omittingEmptySubsequences: false)
                    .reduce(0) { count, field in
                        var name = String(field).trimmingWhitespace()
                        if name.count >= 2, name.first == quote, name.last == quote { name = String(name.dropFirst().dropLast()) }
                        return wanted.contains(name.foldedColumnName) ? count + 1 : count
                    }
            }
            let counts = Self.delimiterCandidates.map { (candidate: $0, count: matches($0.byte)) }
            let current = counts.first { $0.candidate.byte == options.delimiter }?.count ?? matches(options.delimiter)
            guard let best = counts.max(by: { $0.count < $1.count }), best.count > 0 || current > 0 else {
                titles.append(text.count > 80 ? String(text.prefix(80)) + "…" : text)
                offset = peeked.next
                continue
            }
            if !titles.isEmpty {
                // The header is here: the lines before it are titles.
                for index in dataStart..<(dataStart + peeked.start) where buffer[index] == 0x0A { line += 1 }
                dataStart += peeked.start
                summary.notes.append(
                    "'\(file.path)': skipped \(titles.count) line\(titles.count == 1 ? "" : "s") before the header that name\(titles.count == 1 ? "s" : "") "
                        + "none of the pipeline's columns: " + titles.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (titles.count > 3 ? ", …" : ""))
            }
            guard best.count > current else { return }
            if options.detectDelimiter {
                options.delimiter = best.candidate.byte
                summary.notes.append("'\(file.path)': the columns are separated by \(best.candidate.name) (delimiter: auto)")
            } else if current == 0 {
                let shown = best.candidate.byte == 0x09 ? "\\t" : String(UnicodeScalar(best.candidate.byte))
                throw Diagnostic(
                    code: "input.delimiter",
                    message: "'\(file.path)' separates its columns with \(best.candidate.name), not '\(String(UnicodeScalar(options.delimiter)))'",
                    location: SourceLocation(file: file.path, line: line),
                    notes: ["set delimiter: \"\(shown)\" (or delimiter: auto) in the pipeline's reader"])
            }
            return
        }
    }

    /// In GBK/GB18030 the second byte of a Chinese character may be any byte from 0x40 up, so a
    /// delimiter or quote there (`|`, `~`, a letter) would split characters: such a file is
    /// refused once its encoding is known. Comma, tab, semicolon and `"` never occur inside one.
    func refuseBytesThatGBKUsesInCharacters() throws {
        guard case .iconv = decoder.mode else { return }
        for (key, byte) in [("delimiter", options.delimiter), ("quote", options.quote)] where byte >= 0x40 {
            throw Diagnostic(
                code: "input.ambiguous_\(key)", message: "'\(file.path)' is \(decoder.name), where the byte of the \(key) '\(String(UnicodeScalar(byte)))' also occurs inside Chinese characters",
                location: SourceLocation(file: file.path, line: line),
                notes: ["convert the file to UTF-8 (iconv -f GB18030 -t UTF-8), or export it with commas or tabs"])
        }
    }

    /// The first line with content at or after `offset` (relative to `dataStart`): its bytes
    /// without the line break, where it starts and where the next line starts (relative too);
    /// nil at the end of the input. Buffers as needed and consumes nothing.
    mutating func peekContentLine(from offset: Int) throws -> (bytes: [UInt8], start: Int, next: Int)? {
        var offset = offset
        while true {
            let end = try lineEnd(from: offset)
            var line = [UInt8](buffer[(dataStart + offset)..<(dataStart + end)])
            if line.last == 0x0D { line.removeLast() }
            let next = min(dataStart + end + 1, dataEnd) - dataStart
            if line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) { return (line, offset, next) }
            guard dataStart + end < dataEnd else { return nil }
            offset = next
        }
    }

    /// The header line: its names, and its bytes as in the file to tell a line that repeats it.
    struct Header {
        var names: [String]
        var rawNames: [String]  // unique names used in the reject file's `raw`
        var line: Int
        /// The line as in the file, without a BOM and the line end.
        let bytes: [UInt8]
        /// Each column name as in the file, by its length in bytes.
        let namesByLength: [[[UInt8]]]
        /// The first bytes of the names, as a 256-bit set: most data rows fail this test alone.
        private var leadBytes: [UInt64] = [0, 0, 0, 0]

        /// What a file of this header's rejected rows starts with (`SourceRow.refeedFormat`): `lead`
        /// (the first `leadCount` bytes), then this line as in the file with its line end.
        let refeed: [UInt8]
        let leadCount: Int

        init(names: [String], line: Int, record: UnsafeBufferPointer<UInt8>, fields: [RawFieldSpan], lead: [UInt8]) {
            self.names = names
            self.line = line
            var line = Array(record[(Self.hasByteOrderMark(record) ? 3 : 0)...])
            if line.last != 0x0A && line.last != 0x0D { line.append(0x0A) }
            refeed = lead + line
            leadCount = lead.count
            var seen: Set<String> = []
            rawNames = names.enumerated().map { index, name in seen.insert(name).inserted ? name : "\(name)#\(index + 1)" }
            bytes = Array(Self.content(of: record))
            var byLength: [[[UInt8]]] = []
            for span in fields where !span.hasEscapedQuote {
                let name = Array(record[Self.start(of: span, in: record)..<span.end])
                guard !name.isEmpty else { continue }
                if byLength.count <= name.count { byLength += Array(repeating: [], count: name.count + 1 - byLength.count) }
                byLength[name.count].append(name)
                leadBytes[Int(name[0] >> 6)] |= 1 << UInt64(name[0] & 63)
            }
            namesByLength = byLength
        }

        /// Whether the scanned record names the columns again: it is the header line byte for byte,
        /// or its first field is a column name, and so are at least two thirds of its non-empty
        /// fields, and three or more of them (all, when it has fewer): a header in another order
        /// or with other columns. A data row holding a name or two (a status `状态`) is no header.
        /// Cheap for data rows: a look at the first byte of the first field.
        @inline(__always) func isRepeated(by fields: [RawFieldSpan], record: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let first = fields.first else { return false }
            let start = Self.start(of: first, in: record)
            if start < first.end {
                let lead = record[start]
                guard leadBytes[Int(lead >> 6)] & (1 << UInt64(lead & 63)) != 0 else { return false }
            } else if record.count < bytes.count || record.count > bytes.count + 5 {
                return false  // an empty first field: only the header line itself (its length, give or take a BOM and line end)
            }
            return isRepeatedSlowly(by: fields, record: record)
        }

        private func isRepeatedSlowly(by fields: [RawFieldSpan], record: UnsafeBufferPointer<UInt8>) -> Bool {
            let content = Self.content(of: record)
            if content.count == bytes.count, bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, content.baseAddress!, content.count) == 0 }) {
                return true
            }
            guard let first = fields.first, isName(first, in: record) else { return false }
            var names = 0
            var nonEmpty = 0
            for span in fields where span.end > span.start {
                nonEmpty += 1
                if isName(span, in: record) { names += 1 }
            }
            return names >= min(3, nonEmpty) && names * 3 >= nonEmpty * 2
        }

        private func isName(_ span: RawFieldSpan, in record: UnsafeBufferPointer<UInt8>) -> Bool {
            let start = Self.start(of: span, in: record)
            let length = span.end - start
            guard length > 0, length < namesByLength.count, !span.hasEscapedQuote else { return false }
            return namesByLength[length].contains { name in
                name.withUnsafeBufferPointer { memcmp($0.baseAddress!, record.baseAddress! + start, length) == 0 }
            }
        }

        /// A field's start, after a BOM that begins the record (files joined with `cat`).
        private static func start(of span: RawFieldSpan, in record: UnsafeBufferPointer<UInt8>) -> Int {
            span.start == 0 && hasByteOrderMark(record) ? 3 : span.start
        }

        private static func hasByteOrderMark(_ record: UnsafeBufferPointer<UInt8>) -> Bool {
            record.count >= 3 && record[0] == 0xEF && record[1] == 0xBB && record[2] == 0xBF
        }

        /// The record without a leading BOM and its line end.
        private static func content(of record: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
            var end = record.count
            if end > 0, record[end - 1] == 0x0A { end -= 1 }
            if end > 0, record[end - 1] == 0x0D { end -= 1 }
            let start = hasByteOrderMark(record) ? min(3, end) : 0
            return UnsafeBufferPointer(rebasing: record[start..<end])
        }
    }

    /// Lines that name the columns again, for one note at the end of the file.
    struct HeaderRepeats {
        let firstLine: Int
        var same = 0
        var other = 0
        var shown: [Int] = []  // the first lines, for the note: memory stays flat however many

        mutating func add(_ line: Int, same isSame: Bool) {
            if isSame { same += 1 } else { other += 1 }
            if shown.count < 5 { shown.append(line) }
        }

        func note(into summary: inout ReadSummary, path: String) {
            let count = same + other
            guard count > 0 else { return }
            let lines = shown.map { "\($0)" }.joined(separator: ", ") + (count > shown.count ? ", …" : "")
            var text = "'\(path)': \(count) more header line\(count == 1 ? "" : "s") after line \(firstLine) (line\(count == 1 ? "" : "s") \(lines)): exports joined together; "
            text += count == 1 ? "it carries no record and was skipped" : "they carry no record and were skipped"
            if other > 0 {
                text += "; \(other == count ? (count == 1 ? "it orders" : "they order") : "\(other) of them order") the columns differently, and the rows after each were read by its own order"
            }
            summary.notes.append(text)
        }
    }

    /// The record from `dataStart` to `end`, as scanned last.
    func recordBytes(end: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress! + dataStart).assumingMemoryBound(to: UInt8.self), count: end - dataStart)
    }

    mutating func readHeader() throws -> Header? {
        while let scan = try nextRecord() {
            switch scan {
            case .blank(let end):
                line += 1
                dataStart = end
            case .record(let end, let lineBreaks):
                let headerLine = line
                if case .undecided = decoder.mode, fields.contains(where: \.hasHighBytes) {
                    try decoder.decide(sample: recordBytes(end: end), atLine: headerLine, isEndOfInput: endOfInput)
                    try refuseBytesThatGBKUsesInCharacters()
                }
                let header = Header(
                    names: try headerNames(recordEnd: end, line: headerLine), line: headerLine, record: recordBytes(end: end),
                    fields: fields, lead: refeedLead)
                line += isWorkbook ? 1 : lineBreaks
                dataStart = end
                return header
            case .needMore:
                preconditionFailure("nextRecord resolves needMore itself")
            }
        }
        return nil
    }

    /// The column names of the scanned record, decoded and trimmed.
    func headerNames(recordEnd end: Int, line headerLine: Int) throws -> [String] {
        let record = recordBytes(end: end)
        var scratch: [UInt8] = []
        return try fields.map { span in
            scratch.removeAll(keepingCapacity: true)
            Self.unescape(span, record: record, quote: options.quote, into: &scratch)
            var text: String
            if span.hasHighBytes {
                var out: [UInt8] = []
                let bad = scratch.withUnsafeBufferPointer { decoder.decode($0, into: &out) }
                if let bad {
                    throw Diagnostic(
                        code: "input.encoding",
                        message: "the header cannot be decoded as \(decoder.name) (byte offset \(bad) of a column name)",
                        location: SourceLocation(file: file.path, line: headerLine),
                        notes: ["set 'encoding' in the pipeline's reader to the file's real encoding"])
                }
                // A BOM in the middle of a file (exports joined with `cat`) is not part of the name.
                if out.starts(with: [0xEF, 0xBB, 0xBF]) { out.removeFirst(3) }
                text = String(decoding: out, as: UTF8.self)
            } else {
                text = String(decoding: scratch, as: UTF8.self)
            }
            return text.trimmingWhitespace()
        }
    }

    /// Scans the next record, reading more input as needed; `nil` at the end.
    mutating func nextRecord() throws -> RecordScan? {
        while true {
            if dataStart == dataEnd {
                guard try fill() else { return nil }
            }
            let scan = scanRecord(from: dataStart)
            if case .needMore = scan {
                if try fill() { continue }
                // End of input inside a record: take what is there.
                return finalRecord()
            }
            return scan
        }
    }

    mutating func finalRecord() -> RecordScan? {
        if dataStart == dataEnd { return nil }
        let scan = scanRecord(from: dataStart, atEnd: true)
        return scan
    }

    /// Tokenizes one record starting at `start`. With `atEnd`, the end of the buffer ends the record.
    mutating func scanRecord(from start: Int, atEnd: Bool = false) -> RecordScan {
        fields.removeAll(keepingCapacity: true)
        unterminatedQuote = false
        junkAfterQuote = nil
        let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<dataEnd])
        let count = bytes.count
        let delimiter = options.delimiter
        let quote = options.quote
        var index = 0
        var lineBreaks = 0
        // Blank line.
        if count > 0 && (bytes[0] == 0x0A || bytes[0] == 0x0D) {
            if bytes[0] == 0x0D {
                if count == 1 && !atEnd { return .needMore }
                return .blank(end: start + ((count > 1 && bytes[1] == 0x0A) ? 2 : 1))
            }
            return .blank(end: start + 1)
        }
        while true {
            if index < count && bytes[index] == quote {
                index += 1
                let contentStart = index
                var high: UInt8 = 0
                var escaped = false
                var closed = false
                while index < count {
                    let byte = bytes[index]
                    if byte == quote {
                        if index + 1 < count {
                            if bytes[index + 1] == quote {
                                escaped = true
                                index += 2
                                continue
                            }
                            closed = true
                            break
                        }
                        if atEnd {
                            closed = true
                            break
                        }
                        return .needMore
                    }
                    if byte == 0x0A { lineBreaks += 1 }
                    high |= byte
                    index += 1
                }
                if !closed {
                    if !atEnd { return .needMore }
                    unterminatedQuote = true
                    fields.append(
                        RawFieldSpan(
                            start: contentStart, end: index, quoted: true, hasEscapedQuote: escaped,
                            hasHighBytes: high >= 0x80))
                    return .record(end: start + count, lineBreaks: lineBreaks)
                }
                fields.append(
                    RawFieldSpan(
                        start: contentStart, end: index, quoted: true, hasEscapedQuote: escaped,
                        hasHighBytes: high >= 0x80))
                index += 1  // closing quote
                // After a closing quote only a delimiter or a line end may follow.
                if index < count, bytes[index] != delimiter, bytes[index] != 0x0A, bytes[index] != 0x0D {
                    if junkAfterQuote == nil { junkAfterQuote = index }
                    while index < count, bytes[index] != delimiter, bytes[index] != 0x0A, bytes[index] != 0x0D {
                        index += 1
                    }
                }
            } else {
                let fieldStart = index
                var high: UInt8 = 0
                while index < count {
                    let byte = bytes[index]
                    if byte == delimiter || byte == 0x0A || byte == 0x0D { break }
                    high |= byte
                    index += 1
                }
                fields.append(
                    RawFieldSpan(
                        start: fieldStart, end: index, quoted: false, hasEscapedQuote: false,
                        hasHighBytes: high >= 0x80))
            }
            guard index < count else {
                if atEnd { return .record(end: start + count, lineBreaks: lineBreaks) }
                return .needMore
            }
            let byte = bytes[index]
            if byte == delimiter {
                index += 1
                if index == count && !atEnd { return .needMore }
                if index == count {
                    fields.append(RawFieldSpan(start: index, end: index, quoted: false, hasEscapedQuote: false, hasHighBytes: false))
                    return .record(end: start + count, lineBreaks: lineBreaks)
                }
                continue
            }
            if byte == 0x0D {
                if index + 1 < count {
                    return .record(end: start + index + (bytes[index + 1] == 0x0A ? 2 : 1), lineBreaks: lineBreaks + 1)
                }
                if !atEnd { return .needMore }
                return .record(end: start + index + 1, lineBreaks: lineBreaks + 1)
            }
            // LF
            return .record(end: start + index + 1, lineBreaks: lineBreaks + 1)
        }
    }

    static func unescape(_ span: RawFieldSpan, record: UnsafeBufferPointer<UInt8>, quote: UInt8, into out: inout [UInt8]) {
        let slice = UnsafeBufferPointer(rebasing: record[span.start..<span.end])
        guard span.hasEscapedQuote else {
            out.append(contentsOf: slice)
            return
        }
        var index = 0
        while index < slice.count {
            out.append(slice[index])
            if slice[index] == quote, index + 1 < slice.count, slice[index + 1] == quote {
                index += 2
            } else {
                index += 1
            }
        }
    }

    /// True when every field of the scanned record is empty or spaces and tabs, and the record is
    /// well formed (no unterminated quote, nothing after a closing quote).
    func isEmptyRow() -> Bool {
        if unterminatedQuote || junkAfterQuote != nil { return false }
        let base = UnsafeRawPointer(buffer.baseAddress! + dataStart).assumingMemoryBound(to: UInt8.self)
        for span in fields {
            if span.hasEscapedQuote { return false }
            for offset in span.start..<span.end where base[offset] != 0x20 && base[offset] != 0x09 { return false }
        }
        return true
    }

    mutating func deliver(
        end: Int, recordLine: Int, ordinal: Int, header: Header, slotColumns: [Int], twins: [TwinColumn],
        sink: inout some RecordSink
    ) throws {
        let base = UnsafeRawPointer(buffer.baseAddress! + dataStart).assumingMemoryBound(to: UInt8.self)
        let record = UnsafeBufferPointer(start: base, count: end - dataStart)
        problems.removeAll(keepingCapacity: true)
        decoded.removeAll(keepingCapacity: true)
        // Work on local buffers (moved out, not copied) so closures need no access to self.
        var arena = self.arena
        self.arena = []
        var scratch = self.scratch
        self.scratch = []
        defer {
            self.arena = arena
            self.scratch = scratch
        }
        arena.removeAll(keepingCapacity: true)
        for (column, span) in fields.enumerated() {
            if span.hasHighBytes, case .undecided = decoder.mode {
                let sampleEnd = min(dataEnd - dataStart, span.start + 65_536)
                try decoder.decide(
                    sample: UnsafeBufferPointer(rebasing: UnsafeBufferPointer(start: base, count: dataEnd - dataStart)[span.start..<sampleEnd]),
                    atLine: recordLine, isEndOfInput: endOfInput && sampleEnd == dataEnd - dataStart)
                try refuseBytesThatGBKUsesInCharacters()
            }
            // Zero-copy: ASCII, or valid UTF-8, with no doubled quotes to undo.
            if !span.hasEscapedQuote
                && (!span.hasHighBytes
                    || (decoder.mode == .utf8
                        && UTF8Validation.firstInvalidOffset(UnsafeBufferPointer(rebasing: record[span.start..<span.end])) == nil))
            {
                decoded.append(DecodedSpan(start: span.start, end: span.end, badByte: -1, inRecord: true))
                continue
            }
            let start = arena.count
            var badByte = -1
            if span.hasHighBytes {
                let bad: Int?
                if span.hasEscapedQuote {
                    scratch.removeAll(keepingCapacity: true)
                    Self.unescape(span, record: record, quote: options.quote, into: &scratch)
                    bad = scratch.withUnsafeBufferPointer { decoder.decode($0, into: &arena) }
                } else {
                    bad = decoder.decode(UnsafeBufferPointer(rebasing: record[span.start..<span.end]), into: &arena)
                }
                if let bad {
                    badByte = bad
                    // Keep a visible stand-in so `raw` still shows the rest of the field.
                    arena.removeSubrange(start...)
                    appendLossy(UnsafeBufferPointer(rebasing: record[span.start..<span.end]), into: &arena)
                    let name = column < header.names.count ? header.names[column] : "#\(column + 1)"
                    let location = fieldLocation(record: record, recordLine: recordLine, offset: span.start + bad)
                    let absolute = window.bytesHandedOut - (dataEnd - dataStart) + span.start + bad
                    problems.append(
                        RowProblem(
                            code: .encoding,
                            message: "column '\(name)' has bytes that are not valid \(decoder.name) (\(window.isCompressed ? "decompressed " : "file ")byte offset \(absolute)); the row is kept byte for byte in raw_bytes_base64",
                            sourceField: name, location: location))
                }
            } else {
                Self.unescape(span, record: record, quote: options.quote, into: &arena)
            }
            decoded.append(DecodedSpan(start: start, end: arena.count, badByte: badByte, inRecord: false))
        }
        if unterminatedQuote {
            let quoteOffset = (fields.last?.start ?? 1) - 1
            problems.append(
                RowProblem(
                    code: .malformed,
                    message: "a quoted field is never closed; the file ends inside it",
                    sourceField: nil,
                    location: fieldLocation(record: record, recordLine: recordLine, offset: quoteOffset)))
            summary.truncated = "the file ends inside a quoted field that starts at line \(recordLine)"
        }
        let totals = decoded.first.flatMap { span in
            span.inRecord
                ? Self.totalsWord(UnsafeBufferPointer(rebasing: record[span.start..<span.end]))
                : arena.withUnsafeBufferPointer { Self.totalsWord(UnsafeBufferPointer(rebasing: $0[span.start..<span.end])) }
        }
        if let word = totals {
            // A totals row a spreadsheet added: one clear reason instead of a missing field each.
            problems.append(
                RowProblem(
                    code: .malformed, message: "this is a totals row ('\(word)'), as a spreadsheet adds under the data, not a refund; remove it from the export",
                    sourceField: header.names.first, location: SourceLocation(file: file.path, line: recordLine, column: 1)))
        }
        if let junk = junkAfterQuote {
            problems.append(
                RowProblem(
                    code: .malformed, message: "text follows a closing quote; a quote inside a quoted field must be doubled",
                    sourceField: nil, location: fieldLocation(record: record, recordLine: recordLine, offset: junk)))
        }
        if fields.count != header.names.count, totals == nil {  // a totals row is told as such
            let extraAreEmpty =
                fields.count > header.names.count
                && decoded[header.names.count...].allSatisfy { $0.start == $0.end }
            if !extraAreEmpty {
                var message = "the row has \(counted(fields.count, "field")) but the header has \(header.names.count)"
                if fields.count == 1, header.names.count >= 3, let span = decoded.first {
                    // One cell on a line of a wide export: most likely a note or footer line
                    // ("共 17 条记录"); else the end of a cell whose line break was not quoted.
                    var text =
                        span.inRecord
                        ? String(decoding: record[span.start..<span.end], as: UTF8.self)
                        : arena.withUnsafeBufferPointer { String(decoding: $0[span.start..<span.end], as: UTF8.self) }
                    if text.count > 40 { text = String(text.prefix(40)) + "…" }
                    message = "the row is one cell ('\(text)') but the header has \(header.names.count) columns: a note or footer line "
                        + "the export added, not a refund (remove it from the export), or the end of a cell the line before broke (check its quotes)"
                }
                problems.append(
                    RowProblem(code: .malformed, message: message, sourceField: nil, location: SourceLocation(file: file.path, line: recordLine, column: 1)))
            }
        }
        var slotColumns = slotColumns
        if !twins.isEmpty {
            resolveTwins(twins, slotColumns: &slotColumns, record: record, arena: arena, recordLine: recordLine)
        }
        let origin = RecordOrigin(file: file.path, line: recordLine, record: ordinal)
        let isGB = decoder.mode != .utf8 && decoder.mode != .undecided
        // The row holds only pointers: passing it around costs no reference counting.
        try fields.withUnsafeBufferPointer { fields in
            try decoded.withUnsafeBufferPointer { decoded in
                try arena.withUnsafeBufferPointer { arena in
                    try slotColumns.withUnsafeBufferPointer { slotColumns in
                        try header.rawNames.withUnsafeBufferPointer { names in
                            try header.refeed.withUnsafeBufferPointer { refeed in
                                try problems.withUnsafeBufferPointer { problems in
                                    try sink.consume(
                                        CSVRow(
                                            origin: origin, problemList: problems, record: record, fields: fields,
                                            decoded: decoded, arena: arena, slotColumns: slotColumns, header: names,
                                            refeed: refeed, refeedLeadCount: header.leadCount, isGB: isGB, isWorkbook: isWorkbook))
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    func fieldLocation(record: UnsafeBufferPointer<UInt8>, recordLine: Int, offset: Int) -> SourceLocation {
        CSVRow.location(
            record: record, recordLine: recordLine, offset: offset, file: file.path,
            isGB: decoder.mode != .utf8 && decoder.mode != .undecided)
    }
}

extension CSVReadState {
    /// The word of a totals row (`合计`, `总计`, `小计`, `汇总`, `Total`; a colon after it is fine)
    /// when the row's first field is one, else nil. Cheap for data rows: one byte decides.
    static func totalsWord(_ field: UnsafeBufferPointer<UInt8>) -> String? {
        var field = field
        guard let first = field.first, first == 0xE5 || first == 0xE6 || first == 0xE7 || first | 0x20 == 0x74 || first == 0x20 else { return nil }
        while let last = field.last, last == 0x20 || last == 0x3A { field = UnsafeBufferPointer(rebasing: field.dropLast()) }
        while let head = field.first, head == 0x20 { field = UnsafeBufferPointer(rebasing: field.dropFirst()) }
        if field.count > 3, field.suffix(3).elementsEqual([0xEF, 0xBC, 0x9A]) { field = UnsafeBufferPointer(rebasing: field.dropLast(3)) }  // ：
        guard let word = totalsWords.first(where: { $0.elementsEqual(field) }) else { return nil }
        return String(decoding: word, as: UTF8.self)
    }

    private static let totalsWords: [[UInt8]] = ["合计", "总计", "小计", "汇总", "合計", "總計", "Total", "TOTAL", "total"].map { Array($0.utf8) }
}

/// Replaces undecodable bytes by U+FFFD for display only; ASCII is kept.
private func appendLossy(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
    for byte in bytes {
        if byte < 0x80 { out.append(byte) } else { out.append(contentsOf: [0xEF, 0xBF, 0xBD]) }
    }
}

/// One CSV record as a `SourceRow`. Holds pointers into the reader's buffers; never escapes.
struct CSVRow: SourceRow {
    let origin: RecordOrigin
    let problemList: UnsafeBufferPointer<RowProblem>
    let record: UnsafeBufferPointer<UInt8>
    let fields: UnsafeBufferPointer<RawFieldSpan>
    let decoded: UnsafeBufferPointer<DecodedSpan>
    let arena: UnsafeBufferPointer<UInt8>
    let slotColumns: UnsafeBufferPointer<Int>
    let header: UnsafeBufferPointer<String>
    /// `Header.refeed`: the lead, then the header line.
    let refeed: UnsafeBufferPointer<UInt8>
    let refeedLeadCount: Int
    let isGB: Bool
    /// An .xlsx sheet's row: a field's column is its cell's (A = 1), on the row's line.
    let isWorkbook: Bool

    var filePath: String { origin.file }
    var hasProblems: Bool { !problemList.isEmpty }
    var problems: [RowProblem] { Array(problemList) }

    func withValue<R>(slot: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let column = slotColumns[slot]
        guard column >= 0, column < decoded.count else { return try body(nil) }
        let span = decoded[column]
        return try body(UnsafeBufferPointer(rebasing: (span.inRecord ? record : arena)[span.start..<span.end]))
    }

    func location(slot: Int) -> SourceLocation {
        let column = slotColumns[slot]
        guard column >= 0, column < fields.count else {
            return SourceLocation(file: filePath, line: origin.line, column: 1)
        }
        if isWorkbook { return SourceLocation(file: filePath, line: origin.line, column: column + 1) }
        return Self.location(
            record: record, recordLine: origin.line, offset: fields[column].start - (fields[column].quoted ? 1 : 0),
            file: filePath, isGB: isGB)
    }

    func rawFields() -> [(name: String, value: String)] {
        decoded.enumerated().map { column, span in
            let name = column < header.count ? header[column] : "#\(column + 1)"
            let bytes = span.inRecord ? Array(record[span.start..<span.end]) : Array(arena[span.start..<span.end])
            return (name, String(decoding: bytes, as: UTF8.self))
        }
    }

    func rawBytes() -> [UInt8]? { Array(record) }

    func refeedFormat() -> RefeedFormat? {
        RefeedFormat(
            lead: Array(refeed[..<refeedLeadCount]), header: Array(refeed[refeedLeadCount...]), fileExtension: isWorkbook ? "csv" : nil)
    }

    /// Line and 1-based character column of a byte offset inside a record.
    static func location(
        record: UnsafeBufferPointer<UInt8>, recordLine: Int, offset: Int, file: String, isGB: Bool
    ) -> SourceLocation {
        var line = recordLine
        var lineStart = 0
        let limit = min(offset, record.count)
        for index in 0..<limit where record[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        var column = 1
        var index = lineStart
        while index < limit {
            let byte = record[index]
            if byte < 0x80 {
                index += 1
            } else if isGB {
                index += (index + 1 < limit && record[index + 1] >= 0x30 && record[index + 1] <= 0x39) ? 4 : 2
            } else {
                index += 1
                while index < limit && record[index] & 0xC0 == 0x80 { index += 1 }
            }
            column += 1
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}

extension String {
    /// Trims ASCII spaces, tabs, CR and LF at both ends.
    func trimmingASCIIWhitespace() -> String {
        let utf8 = Array(self.utf8)
        var start = 0
        var end = utf8.count
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 || utf8[start] == 0x0D || utf8[start] == 0x0A {
            start += 1
        }
        while end > start,
            utf8[end - 1] == 0x20 || utf8[end - 1] == 0x09 || utf8[end - 1] == 0x0D || utf8[end - 1] == 0x0A
        {
            end -= 1
        }
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    /// A column name with letter case, spaces, underscores, full-width forms (ＩＤ, （元）) and a
    /// unit of yuan or of pieces (`(元)`, `（件）`, `(单位：元)`) folded away: two names with the
    /// same folding are the same column written another way. A unit of fen (`(分)`) stays: that
    /// column holds other numbers.
    var foldedColumnName: String {
        let folded = String(
            String.UnicodeScalarView(
                unicodeScalars.compactMap { scalar -> Unicode.Scalar? in
                    if scalar.properties.isWhitespace || scalar == "_" { return nil }
                    // Full-width ASCII (U+FF01–U+FF5E) to ASCII.
                    if (0xFF01...0xFF5E).contains(scalar.value) { return Unicode.Scalar(scalar.value - 0xFEE0) }
                    return scalar
                })
        ).lowercased()
        guard let unit = folded.columnUnit, Self.sameValueUnits.contains(unit.name) else { return folded }
        return String(folded[..<unit.start])
    }

    /// Units a column name may carry that do not change what its values mean to the pipeline:
    /// money in yuan, quantities in pieces.
    static let sameValueUnits: Set<String> = ["元", "人民币", "人民币元", "rmb", "cny", "￥", "¥", "件", "个"]

    /// The unit in brackets at the end of a folded column name (`金额(元)` → 元, `(单位:元)` → 元),
    /// and where the brackets start; nil when the name is only the brackets.
    var columnUnit: (name: String, start: String.Index)? {
        guard last == ")", let open = lastIndex(of: "("), open != startIndex else { return nil }
        var name = self[index(after: open)..<index(before: endIndex)]
        if name.hasPrefix("单位") { name = name.dropFirst(2).drop { $0 == ":" } }
        return name.isEmpty ? nil : (String(name), open)
    }

    /// Trims every Unicode space at both ends, also U+00A0 and U+3000 (ideographic space), as a
    /// column name typed in a Chinese spreadsheet may carry.
    func trimmingWhitespace() -> String {
        guard let first = firstIndex(where: { !$0.isWhitespace }), let last = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[first...last])
    }
}

/// Writes one CSV field (comma-separated, double quotes): quoted, its quotes doubled, when it
/// holds a comma, a quote or a line break. For the CSV text an `.xlsx` sheet becomes and the
/// benchmark's exports.
enum CSVField {
    static func append(_ value: some Collection<UInt8>, to out: inout [UInt8]) {
        guard value.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else {
            out.append(contentsOf: value)
            return
        }
        out.append(0x22)
        for byte in value {
            if byte == 0x22 { out.append(0x22) }
            out.append(byte)
        }
        out.append(0x22)
    }
}

extension CSVReader {
    /// `reader: { csv: { encoding, delimiter, quote, skipLines, commentPrefix, sheet } }` (`sheet`:
    /// which sheet of an `.xlsx` workbook).
    static let registration = ReaderRegistration(
        name: "csv", fileExtensions: ["csv", "tsv", "txt", "xlsx"], keys: ["encoding", "delimiter", "quote", "skipLines", "commentPrefix", "sheet"],
        decode: { pairs, context in
            var options = CSVReaderOptions()
            for pair in pairs {
                switch pair.key {
                case "encoding":
                    options.encoding =
                        context.choice(pair.value, "encoding", SourceEncoding.allCases.map { ($0.rawValue, $0) })
                        ?? options.encoding
                case "delimiter", "quote":
                    guard let text = context.string(pair.value, "'\(pair.key)'") else { continue }
                    if pair.key == "delimiter", text == "auto" {
                        options.detectDelimiter = true
                        continue
                    }
                    let byte: UInt8?
                    switch text {
                    case "\\t", "\t", "tab": byte = 0x09
                    default: byte = text.utf8.count == 1 ? text.utf8.first : nil
                    }
                    guard let byte, byte < 0x80, byte != 0x0A, byte != 0x0D else {
                        context.error(pair.value, "wrong_type", "'\(pair.key)' must be one ASCII character\(pair.key == "delimiter" ? " or auto" : ""), not '\(text)'")
                        continue
                    }
                    if pair.key == "delimiter" { options.delimiter = byte } else { options.quote = byte }
                case "skipLines":
                    options.skipLines = context.int(pair.value, "'skipLines'", range: 0...1_000) ?? 0
                case "commentPrefix":
                    guard let text = context.string(pair.value, "'commentPrefix'") else { continue }
                    options.commentPrefix = Array(text.utf8)
                case "sheet":
                    options.sheet = context.string(pair.value, "'sheet'")
                default: break
                }
            }
            return options
        },
        make: { options in CSVReader(options: options as! CSVReaderOptions) })
}
