import Foundation
#if canImport(Glibc)
    import Glibc
#endif
import Testing

@testable import RefundFlow

/// Collects what a reader delivers, as plain values.
struct CollectedRow {
    var line: Int
    var record: Int
    var values: [String?]
    var problems: [RowProblem]
    var raw: [String]
    /// The record's text in its input, as a re-feed file gets it.
    var source: String? = nil
}

struct Collector: RecordSink {
    var slots: Int
    var rows: [CollectedRow] = []
    var header: [String]?

    mutating func begin(file: InputFile, shape: SourceShape) throws { header = shape.availableFields }

    mutating func consume(_ row: some SourceRow) throws {
        let values = (0..<slots).map { slot in
            row.withValue(slot: slot) { $0.map { String(decoding: $0, as: UTF8.self) } }
        }
        rows.append(CollectedRow(line: row.origin.line, record: row.origin.record, values: values, problems: row.problems, raw: row.rawFields().map(\.value),
            source: row.rawBytes().map { String(decoding: $0, as: UTF8.self) }))
    }
}

func readCSV(
    _ bytes: [UInt8], fields: [String], encoding: SourceEncoding = .auto, chunkSize: Int = 1 << 20, skipLines: Int = 0,
    commentPrefix: String = "#", delimiter: String = ","
) throws -> (rows: [CollectedRow], summary: ReadSummary, header: [String]?) {
    let directory = try Fixtures.temporaryDirectory()
    let path = directory + "/input.csv"
    try Fixtures.write(bytes, to: path)
    var options = CSVReaderOptions()
    options.encoding = encoding
    options.chunkSize = chunkSize
    options.skipLines = skipLines
    options.commentPrefix = Array(commentPrefix.utf8)
    if delimiter == "auto" { options.detectDelimiter = true } else { options.delimiter = Array(delimiter.utf8)[0] }
    var collector = Collector(slots: fields.count)
    let summary = try CSVReader(options: options).read(InputFile(path: path), fieldNames: fields, into: &collector)
    return (collector.rows, summary, collector.header)
}

struct CSVReaderTests {
    static let tricky: [UInt8] = Array(
        [
            "id,name,note\r\n", "1,plain,\"quoted, with comma\"\r\n", "2,\"multi\r\nline\",\"say \"\"hi\"\"\"\r\n", "\r\n",
            "3,,\"LF only\ninside\"\r\n", "4,x,last-no-newline",
        ].joined().utf8)

    @Test(arguments: [1, 2, 3, 5, 7, 64, 1 << 20])
    func tokenizesRFC4180AtEveryChunkBoundary(chunkSize: Int) throws {
        let result = try readCSV(Self.tricky, fields: ["id", "name", "note"], chunkSize: chunkSize)
        #expect(result.header == ["id", "name", "note"])
        #expect(result.rows.map(\.values) == [
            ["1", "plain", "quoted, with comma"],
            ["2", "multi\r\nline", "say \"hi\""],
            ["3", "", "LF only\ninside"],
            ["4", "x", "last-no-newline"],
        ])
        // Physical lines: the quoted CRLF and LF move the next records down; the blank line counts.
        #expect(result.rows.map(\.line) == [2, 3, 6, 8])
        #expect(result.rows.map(\.record) == [1, 2, 3, 4])
        #expect(result.summary.blankLines == 1)
        #expect(result.summary.records == 4)
        #expect(result.rows.allSatisfy { $0.problems.isEmpty })
    }

    @Test func removesABOMAndHashesTheFile() throws {
        let bytes: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("退款编号,金额\n1,2\n".utf8)
        let result = try readCSV(bytes, fields: ["退款编号"])
        #expect(result.header == ["退款编号", "金额"])
        #expect(result.rows.first?.values == ["1"])
        #expect(result.summary.encoding == "auto → utf-8 (byte-order mark)")
        #expect(result.summary.bytes == bytes.count)
        #expect(result.summary.sha256.count == 64)
    }

    @Test func decodesGBKAndDetectsItUnderAuto() throws {
        let text = "退款编号,宝贝标题\r\n1,纯棉T恤 白色\r\n"
        let gbk = try IconvEncoder(to: "GBK").encode(Array(text.utf8))
        for encoding in [SourceEncoding.gbk, .gb18030, .auto] {
            let result = try readCSV(gbk, fields: ["宝贝标题"], encoding: encoding)
            #expect(result.rows.first?.values == ["纯棉T恤 白色"], "\(encoding)")
        }
        #expect(try readCSV(gbk, fields: [], encoding: .auto).summary.encoding.contains("gb18030"))
    }

    @Test func anUndecodableByteIsARowProblemWithLineAndOffset() throws {
        var bytes = Array("a,b\n1,ok\n2,".utf8)
        bytes += [0xE7, 0xBA]  // truncated UTF-8 sequence
        bytes += Array("x\n3,fine\n".utf8)
        let result = try readCSV(bytes, fields: ["b"], encoding: .utf8)
        #expect(result.rows.count == 3)
        let problem = try #require(result.rows[1].problems.first)
        #expect(problem.code == .encoding)
        #expect(problem.location.line == 3)
        #expect(problem.location.column == 3)
        #expect(problem.message.contains("file byte offset 11"))
        #expect(result.rows[1].raw == ["2", "\u{FFFD}\u{FFFD}x"])
        #expect(result.rows[2].problems.isEmpty)
    }

    @Test func raggedRowsAndUnterminatedQuotesAreMalformed() throws {
        let bytes = Array("a,b,c\n1,2\n1,2,3,4\n1,2,3,,\n5,\"never closed\n6,7,8\n".utf8)
        let result = try readCSV(bytes, fields: ["a"])
        #expect(result.rows.count == 4)
        #expect(result.rows[0].problems.map(\.message) == ["the row has 2 fields but the header has 3"])
        #expect(result.rows[1].problems.map(\.code) == [.malformed])
        #expect(result.rows[2].problems.isEmpty, "extra empty trailing fields carry no data")
        #expect(result.rows[3].problems.map(\.code).contains(.malformed))
        #expect(result.rows[3].line == 5)
        #expect(result.summary.truncated != nil)
    }

    /// A one-cell line in a wide export (a footer such as 共 17 条记录) says what it most likely is;
    /// a totals row keeps its own message; one field is one, not "1 fields".
    @Test func aOneCellLineOfAWideExportIsNamedAsAFooterOrABrokenCell() throws {
        let result = try readCSV(Array("a,b,c\n1,2,3\n共 17 条记录\n合计\n".utf8), fields: ["a"])
        #expect(result.rows.map { $0.problems.map(\.message) } == [
            [],
            ["the row is one cell ('共 17 条记录') but the header has 3 columns: a note or footer line the export added, not a refund (remove it from the export), or the end of a cell the line before broke (check its quotes)"],
            ["this is a totals row ('合计'), as a spreadsheet adds under the data, not a refund; remove it from the export"],
        ])
        let narrow = try readCSV(Array("a,b\n1\n".utf8), fields: ["a"])
        #expect(narrow.rows.first?.problems.map(\.message) == ["the row has 1 field but the header has 2"])
    }

    @Test func textAfterAClosingQuoteIsMalformed() throws {
        let result = try readCSV(Array("a,b\n\"x\"y,2\n".utf8), fields: ["a"])
        #expect(result.rows.first?.problems.first?.message.contains("closing quote") == true)
    }

    @Test func skipsLeadingTitleLines() throws {
        let result = try readCSV(Array("#支付宝账务明细查询\na,b\n1,2\n".utf8), fields: ["b"], skipLines: 1)
        #expect(result.rows.first?.values == ["2"])
        #expect(result.rows.first?.line == 3)
    }

    @Test(arguments: [1, 2, 3, 1 << 20])
    func hashTitleLinesBeforeTheHeaderAreSkippedAndNoted(chunkSize: Int) throws {
        // A GBK export with two title lines; after the header a '#' line is data like any other.
        let title: [UInt8] = [0xCC, 0xD4, 0xB1, 0xA6, 0xCD, 0xCB, 0xBF, 0xEE, 0xB5, 0xBC, 0xB3, 0xF6]  // 淘宝退款导出 in GBK
        let bytes = Array("#".utf8) + title + Array("\r\n#导出时间 2024-03-05\na,b\n#1,2\n".utf8)
        let result = try readCSV(bytes, fields: ["a", "b"], chunkSize: chunkSize)
        #expect(result.header == ["a", "b"])
        #expect(result.rows.map(\.values) == [["#1", "2"]])
        #expect(result.rows.first?.line == 4)
        #expect(result.summary.notes.count == 1)
        let note = try #require(result.summary.notes.first)
        #expect(note.contains("skipped 2 title lines before the header: '#淘宝退款导出', "))
        #expect(note.contains("'#导出时间 2024-03-05'"))
    }

    @Test func aHashLineThatNamesAReadColumnIsTheHeader() throws {
        let result = try readCSV(Array("#导出 2024\n#,退款编号\n1,2\n".utf8), fields: ["退款编号"])
        #expect(result.header == ["#", "退款编号"])
        #expect(result.rows.map(\.values) == [["2"]])
        #expect(result.summary.notes.first?.hasSuffix("skipped 1 title line before the header: '#导出 2024'") == true)
    }

    @Test func manyTitleLinesAreCountedAndThreeShown() throws {
        let titles = (1...5_000).map { "#title \($0)\n" }.joined()
        let result = try readCSV(Array((titles + "a\n1\n").utf8), fields: ["a"], chunkSize: 4096)
        #expect(result.rows.map(\.line) == [5_002])
        #expect(result.summary.notes.first?.hasSuffix("skipped 5000 title lines before the header: '#title 1', '#title 2', '#title 3', …") == true)
    }

    @Test(arguments: [1, 5, 1 << 20])
    func delimiterAutoPicksTheOneThatSplitsOutThePipelinesColumns(chunkSize: Int) throws {
        // A GBK tab-separated export after a blank line and a title line; a comma inside a field is data.
        let bytes =
            Array("#导出\r\n\r\n".utf8) + [0xCD, 0xCB, 0xBF, 0xEE, 0xB1, 0xE0, 0xBA, 0xC5]  // 退款编号 in GBK
            + Array("\t\"b\"\tc\r\n1\t2,5\t3\r\n".utf8)
        let result = try readCSV(bytes, fields: ["退款编号", "b"], chunkSize: chunkSize, delimiter: "auto")
        #expect(result.header == ["退款编号", "b", "c"])
        #expect(result.rows.map(\.values) == [["1", "2,5"]])
        #expect(result.rows.first?.line == 4)
        #expect(result.summary.notes.last?.hasSuffix("the columns are separated by tabs (delimiter: auto)") == true)
    }

    @Test func delimiterAutoKeepsCommasWhenCommasFindTheColumns() throws {
        // Semicolons inside a column name do not win: commas split out more of the columns.
        let result = try readCSV(Array("a;x,b\n1;2,3\n".utf8), fields: ["a;x", "b"], delimiter: "auto")
        #expect(result.rows.map(\.values) == [["1;2", "3"]])
        #expect(result.summary.notes.isEmpty)
        let semicolons = try readCSV(Array("a;b;c\n1;2;3\n".utf8), fields: ["a", "c"], delimiter: "auto")
        #expect(semicolons.rows.map(\.values) == [["1", "3"]])
    }

    @Test func aDelimiterThatGBKUsesInsideCharactersIsRefusedForGBKText() throws {
        // 乗 is 81 7C in GBK: its second byte is '|'.
        let gbk: [UInt8] = Array("a|b\n1|".utf8) + [0x81, 0x7C] + Array("\n".utf8)
        for (encoding, line) in [(SourceEncoding.auto, 2), (.gb18030, 1)] {
            #expect {
                _ = try readCSV(gbk, fields: ["a", "b"], encoding: encoding, delimiter: "auto")
            } throws: { error in
                let diagnostic = error as? Diagnostic
                return diagnostic?.code == "input.ambiguous_delimiter" && diagnostic?.location?.line == line
                    && diagnostic?.message.hasSuffix("is GB18030, where the byte of the delimiter '|' also occurs inside Chinese characters") == true
            }
        }
        // UTF-8 never has it inside a character: the same delimiter is fine there.
        let utf8 = try readCSV(Array("a|b\n1|乗\n".utf8), fields: ["a", "b"], delimiter: "auto")
        #expect(utf8.rows.map(\.values) == [["1", "乗"]])
    }

    @Test func aFixedDelimiterThatFindsNoColumnNamesTheOneThatWould() throws {
        #expect {
            _ = try readCSV(Array("a\tb\n1\t2\n".utf8), fields: ["a", "b"])
        } throws: { error in
            let diagnostic = error as? Diagnostic
            return diagnostic?.code == "input.delimiter" && diagnostic?.location?.line == 1
                && diagnostic?.message.hasSuffix("separates its columns with tabs, not ','") == true
                && diagnostic?.notes == ["set delimiter: \"\\t\" (or delimiter: auto) in the pipeline's reader"]
        }
        // Where the fixed delimiter finds a column, it is kept.
        let result = try readCSV(Array("a;b,c\n1;2,3\n".utf8), fields: ["c", "a"])
        #expect(result.rows.map(\.values) == [["3", nil]])
    }

    @Test func columnNamesLoseUnicodeSpacesAtTheirEnds() throws {
        let result = try readCSV(Array("\u{3000}退款编号\u{00A0},\" b \"\t\n1,2\n".utf8), fields: ["退款编号", "b"])
        #expect(result.header == ["退款编号", "b"])
        #expect(result.rows.map(\.values) == [["1", "2"]])
    }

    @Test func aColumnWrittenAnotherWayIsReadAndNoted() throws {
        // Full-width letters and brackets, case and spaces fold; an exact name always wins, and a
        // folding that two columns share picks neither.
        let text = "商品ＩＤ,金额（元）,a b,ab,x_y,XY\n1,2,3,4,5,6\n"
        let result = try readCSV(Array(text.utf8), fields: ["商品id", "金额(元)", "ab", "xy"])
        #expect(result.header == ["商品id", "金额(元)", "a b", "ab", "x_y", "XY"])
        #expect(result.rows.map(\.values) == [["1", "2", "4", nil]])
        #expect(result.rows.first?.raw == ["1", "2", "3", "4", "5", "6"])
        #expect(result.summary.notes.map { $0.components(separatedBy: "': ").last! } == [
            "column '商品ＩＤ' is read as '商品id'", "column '金额（元）' is read as '金额(元)'",
        ])
    }

    /// A unit of yuan or pieces in a column's name (`买家退款金额(元)`, `退款数量（件）`,
    /// `商品单价(单位：元)`) does not change what it holds; a unit of fen does, and is not read.
    @Test func aColumnNamedWithItsUnitIsReadUnlessTheUnitIsFen() throws {
        let text = "买家退款金额(元),退款数量（件）,商品单价(单位：元),运费(分),(元)\n12.50,1,9.90,500,x\n"
        let result = try readCSV(Array(text.utf8), fields: ["买家退款金额", "退款数量", "商品单价", "运费", "元"])
        #expect(result.header == ["买家退款金额", "退款数量", "商品单价", "运费(分)", "(元)"])
        #expect(result.rows.map(\.values) == [["12.50", "1", "9.90", nil, nil]])
        #expect(result.summary.notes.map { $0.components(separatedBy: "': ").last! } == [
            "column '买家退款金额(元)' is read as '买家退款金额'", "column '退款数量（件）' is read as '退款数量'",
            "column '商品单价(单位：元)' is read as '商品单价'",
        ])
        #expect("金额（人民币）".foldedColumnName == "金额" && "Amount (RMB)".foldedColumnName == "amount" && "金额(分)".foldedColumnName == "金额(分)")
    }

    @Test(arguments: [2, 1 << 20])
    func aColumnNamedTwiceIsReadOnlyWhenItsValuesAgree(chunkSize: Int) throws {
        // Same value: read. One empty: the other is read. Different values (GBK too): a problem, no guess.
        var bytes = Array("id,x,id,y\n1,a,1,b\n,c,2,d\n3,e,,f\n4,g,5,h\n".utf8)
        bytes += [0x36, 0x2C, 0xD6, 0xD0, 0x2C, 0x37, 0x2C, 0x7A, 0x0A]  // 6,中,7,z in GBK
        let result = try readCSV(bytes, fields: ["id", "y"], chunkSize: chunkSize)
        #expect(result.rows.map(\.values) == [["1", "b"], ["2", "d"], ["3", "f"], ["4", "h"], ["6", "z"]])
        #expect(result.rows.map { $0.problems.map(\.message) } == [
            [], [], [],
            ["column 'id' is in the header twice (columns 1 and 3) and this row has different values in them ('4', then '5'); RefundFlow does not guess which one is meant"],
            ["column 'id' is in the header twice (columns 1 and 3) and this row has different values in them ('6', then '7'); RefundFlow does not guess which one is meant"],
        ])
        #expect(result.rows[3].problems.first.map { "\($0.location.line):\($0.location.column)" } == "5:5")
        #expect(result.rows[3].raw == ["4", "g", "5", "h"])
        #expect(result.summary.notes.contains { $0.hasSuffix("line 1 names column 'id' twice (columns 1 and 3); a row with different values in them is rejected, an empty one takes the other's value") })
    }

    @Test func anXMLOrJSONFileGivenAsCSVIsNamedAsOne() throws {
        for (text, found) in [("<?xml version=\"1.0\"?>\n<r/>\n", "XML"), ("{\n \"a\": 1\n}\n", "JSON"), ("[{\"a\":1}]", "JSON")] {
            #expect {
                _ = try readCSV(Array(text.utf8), fields: ["a"])
            } throws: { error in
                let diagnostic = error as? Diagnostic
                return diagnostic?.code == "input.wrong_format" && diagnostic?.message.contains("looks like \(found), not CSV") == true
                    && diagnostic?.notes == ["give it to a pipeline whose reader is \(found.lowercased()) (this pipeline's reader is csv)"]
            }
        }
    }

    @Test func whatTheFirstLineLooksLike() {
        func format(_ text: String) -> String? { StartOfInput.format(Array(text.utf8)) }
        #expect(format("<?xml version=\"1.0\"?>") == "XML")
        #expect(format("\u{FEFF}  <refunds_receive_get_response>") == "XML")
        #expect(format("{\"a\":1}") == "JSON")
        #expect(format("{") == "JSON")
        #expect(format("[ {\"a\":1}, ") == "JSON")
        #expect(format("[淘宝] 退款导出,2024") == "CSV")
        #expect(format("<淘宝> 退款导出") == nil)
        #expect(format("退款编号\t订单编号") == "CSV")
        #expect(format("退款导出") == nil)
        #expect(format("<html xmlns:o=\"urn:schemas-microsoft-com:office:office\">") == "HTML")
        #expect(format("<!DOCTYPE html>") == "HTML")
        #expect(format("<table border=1><tr><td>订单编号</td>") == "HTML")
        #expect(format("<tables>") == "XML")
        #expect(format("<HTML>") == "HTML")
        #expect(format("<refunds_receive_get_response>") == "XML")
        // A JSON record's broken tail (`":` never follows a closing quote in CSV): unsure, not CSV.
        #expect(format("123, \"alipay_no\": \"2024\"}") == nil)
        #expect(format("\"a\",\"b\":c") == nil)
        #expect(format("\"a\",\"b\"") == "CSV")
    }

    /// The ".xls" that is an HTML table (old seller-center and script exports) says how to save it as CSV.
    @Test func anHTMLTableSavedAsXLSSaysHowToMakeACSV() throws {
        let error = #expect(throws: Diagnostic.self) {
            try readCSV(Array("<table border=1><tr><th>订单编号</th></tr></table>\n".utf8), fields: ["订单编号"])
        }
        #expect(error?.code == "input.wrong_format")
        #expect(error?.message.contains("looks like HTML, not CSV: it starts with '<table border=1>") == true)
        #expect(error?.notes.first?.contains("save it as 'CSV UTF-8 (comma delimited)'") == true)
        let xml = #expect(throws: Diagnostic.self) {
            try readKeyed("<html><body>Service Unavailable</body></html>", reader: xmlReader("r/refunds/refund"), fields: ["tid"])
        }
        #expect(xml?.message.contains("looks like HTML, not XML") == true)
    }

    @Test func aTitleInBracketsBeforeTheHeaderIsATitleNotJSON() throws {
        let result = try readCSV(Array("[淘宝] 退款导出\na,b\n1,2\n".utf8), fields: ["a", "b"])
        #expect(result.rows.map(\.values) == [["1", "2"]])
        #expect(result.rows.first?.line == 3)
    }

    @Test func anEmptyFileIsNotAFileWithNoRows() throws {
        #expect {
            _ = try readCSV([], fields: ["a"])
        } throws: { error in
            (error as? Diagnostic)?.code == "input.empty" && (error as? Diagnostic)?.message.hasSuffix("is empty (0 bytes)") == true
        }
        #expect { _ = try readCSV(Array("\r\n\n".utf8), fields: ["a"]) } throws: { ($0 as? Diagnostic)?.code == "input.no_header" }
        let headerOnly = try readCSV(Array("a,b\r\n".utf8), fields: ["a"])
        #expect(headerOnly.rows.isEmpty && headerOnly.header == ["a", "b"])
    }

    @Test func anEmptyCommentPrefixReadsTheFirstLineAsTheHeader() throws {
        let result = try readCSV(Array("#a,b\n1,2\n".utf8), fields: ["#a"], commentPrefix: "")
        #expect(result.header == ["#a", "b"])
        #expect(result.rows.map(\.values) == [["1"]])
        #expect(result.summary.notes.isEmpty)
    }

    @Test(arguments: [1, 3, 1 << 20])
    func rowsOfOnlyDelimitersAndSpacesAreBlankLines(chunkSize: Int) throws {
        // Excel writes ",,,," for formatted empty rows; a quoted space is still nothing.
        let text = "a,b,c\r\n1,2,3\r\n,,\r\n , \t,\r\n\" \",\"\",\r\n   \r\n4,,\r\n,,\"\"\"\"\r\n"
        let result = try readCSV(Array(text.utf8), fields: ["a", "c"], chunkSize: chunkSize)
        #expect(result.rows.map(\.values) == [["1", "3"], ["4", ""], ["", "\""]])
        #expect(result.rows.map(\.line) == [2, 7, 8])
        #expect(result.summary.blankLines == 4)
        #expect(result.summary.records == 3)
    }

    /// A ZIP archive's first local file header, naming `name` (the bytes after it do not matter here).
    static func zipHeader(_ name: [UInt8]) -> [UInt8] {
        [0x50, 0x4B, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00] + [UInt8](repeating: 0, count: 16)
            + [UInt8(name.count & 0xFF), UInt8(name.count >> 8), 0x00, 0x00] + name
    }

    /// An old binary .xls is refused with what to do; an .xlsx is read (`WorkbookTests`), and one
    /// that is only the start of a workbook is a broken one.
    @Test func anOldExcelWorkbookIsRefusedWithWhatToDo() throws {
        let error = #expect(throws: Diagnostic.self) { try readCSV([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1] + Array("a,b\n".utf8), fields: ["a"]) }
        #expect(error?.code == "input.workbook")
        #expect(error?.message.hasSuffix("is an Excel workbook (.xls), not a CSV file") == true)
        #expect(error?.notes.first == "in Excel, save it as an .xlsx workbook or as 'CSV UTF-8 (comma delimited)'")
        let cut = #expect(throws: Diagnostic.self) { try readCSV(Self.zipHeader(Array("[Content_Types].xml".utf8)) + Array("a,b\n".utf8), fields: ["a"]) }
        #expect(cut?.code == "input.workbook_broken")
        #expect(cut?.message.hasSuffix("is a broken Excel workbook: it has no ZIP directory at its end (the file was cut short)") == true)
    }

    /// A ZIP archive (a merchant's downloaded export) is not called a workbook: its first file is
    /// named (a GBK name as Windows writes it, too), with how to unzip it; the JSON and XML readers
    /// say the same, not "looks like CSV". RAR, 7-Zip and PDF are named as well.
    @Test func anArchiveIsNamedWithItsFirstFileNotCalledAWorkbook() throws {
        let gbkName: [UInt8] = [0xCD, 0xCB, 0xBF, 0xEE] + Array(".csv".utf8)  // 退款.csv in GBK
        let error = #expect(throws: Diagnostic.self) { try readCSV(Self.zipHeader(gbkName) + [0x0A, 0x00], fields: ["a"]) }
        #expect(error?.code == "input.archive")
        #expect(error?.message.hasSuffix("is a ZIP archive (its first file is '退款.csv'), not a CSV file") == true)
        #expect(error?.notes == ["unzip it and run on the file inside (unzip -O GBK keeps the Chinese names of an archive made on Windows)"])
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(Self.zipHeader(Array("refunds.json".utf8)) + [0x01, 0x02], to: directory + "/r.zip")
        for (reader, expected) in [(jsonReader() as any RecordReader, "a JSON file"), (xmlReader("r/refund"), "an XML file")] {
            var collector = Collector(slots: 1)
            let refused = #expect(throws: Diagnostic.self) { _ = try reader.read(InputFile(path: directory + "/r.zip"), fieldNames: ["a"], into: &collector) }
            #expect(refused?.message == "'\(directory)/r.zip' is a ZIP archive (its first file is 'refunds.json'), not \(expected)")
        }
        for (magic, kind) in [(Array("Rar!\u{1A}\u{07}".utf8), "a RAR archive"), ([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C], "a 7-Zip archive"), (Array("%PDF-1.7\n".utf8), "a PDF document")] {
            let other = #expect(throws: Diagnostic.self) { try readCSV(magic + Array("a\n".utf8), fields: ["a"]) }
            #expect(other?.message.hasSuffix("is \(kind), not a CSV file") == true)
        }
    }

    @Test func missingColumnsAreAbsentNotEmpty() throws {
        let result = try readCSV(Array("a,b\n1,\n".utf8), fields: ["b", "nope"])
        #expect(result.rows.first?.values == ["", nil])
    }

    /// Excel's "Unicode Text" (UTF-16 with a byte-order mark, tab-separated) reads like the
    /// UTF-8 file it converts to; size and sha256 are the file's own.
    @Test(arguments: [(true, 1), (true, 3), (true, 1 << 20), (false, 5), (false, 1 << 20)])
    func aUTF16FileIsConvertedAsItIsRead(littleEndian: Bool, chunkSize: Int) throws {
        let text = "退款编号\t备注\r\n2012\t\"第一行\n第二行 😀\"\r\n2013\tok\r\n"
        let units = Array(text.utf16)
        let bytes: [UInt8] = (littleEndian ? [0xFF, 0xFE] : [0xFE, 0xFF])
            + units.flatMap { littleEndian ? [UInt8($0 & 0xFF), UInt8($0 >> 8)] : [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        let result = try readCSV(bytes, fields: ["退款编号", "备注"], chunkSize: chunkSize, delimiter: "auto")
        #expect(result.rows.map(\.values) == [["2012", "第一行\n第二行 😀"], ["2013", "ok"]])
        #expect(result.rows.map(\.line) == [2, 4])
        #expect(result.summary.encoding == "utf-16\(littleEndian ? "le" : "be") (byte-order mark), converted to UTF-8")
        #expect(result.summary.bytes == bytes.count)
        let path = try Fixtures.temporaryDirectory() + "/utf16.txt"
        try Fixtures.write(bytes, to: path)
        #expect(result.summary.sha256 == (try fileSHA256(path)))
    }

    /// Characters cut by the converter's reads (a surrogate pair across 64 KiB) come out whole;
    /// a lone surrogate or a cut last character stops the read with the file offset.
    @Test func utf16IsConvertedAcrossReadsAndStrictly() throws {
        let emoji = String(repeating: "😀", count: 20_000)
        let little = { (text: String) -> [UInt8] in [0xFF, 0xFE] + Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        let result = try readCSV(little("a\n" + emoji + "\n"), fields: ["a"])
        #expect(result.rows.map(\.values) == [[emoji]])
        let lone = little("a\nx") + [0x00, 0xDC] + little("\n").dropFirst(2)
        let bad = #expect(throws: Diagnostic.self) { try readCSV(lone, fields: ["a"]) }
        #expect(bad?.code == "input.encoding")
        #expect(bad?.message.hasSuffix("is not valid UTF-16LE at file byte offset 8") == true)
        #expect(bad?.location?.line == 2)
        let gzipped = #expect(throws: Diagnostic.self) { try readCSV(try Fixtures.gzip(lone), fields: ["a"]) }
        #expect(gzipped?.message.hasSuffix("is not valid UTF-16LE at decompressed byte offset 8") == true)
        #expect(try readCSV(try Fixtures.gzip(little("a\n" + emoji + "\n")), fields: ["a"]).rows.map(\.values) == [[emoji]])
        let cut = #expect(throws: Diagnostic.self) { try readCSV(little("a\nxy") + [0x3D], fields: ["a"]) }
        #expect(cut?.message.contains("ends inside a UTF-16LE character (file byte offset 10)") == true)
        #expect(cut?.location?.line == 2)
    }

    @Test func anEmptyFileHasNoHeader() throws {
        #expect(throws: Diagnostic.self) { try readCSV([], fields: []) }
    }

    /// Exports joined with `cat` (the second one with its own BOM) or pasted one under another:
    /// the header again is no record; it is counted in a note with its line.
    @Test(arguments: [1, 4, 1 << 20])
    func aRepeatedHeaderIsSkippedAndNoted(chunkSize: Int) throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let first = bom + Array("退款编号,金额,备注\r\n1,2.00,a\r\n".utf8)
        let second = bom + Array("退款编号,金额,备注\r\n3,4.00,b\r\n".utf8)
        let third = Array("\"退款编号\",金额,备注\n5,6.00,\"退款编号\"\n".utf8)  // quoted: the names, not the bytes, repeat
        let result = try readCSV(first + second + third, fields: ["退款编号", "金额"], chunkSize: chunkSize)
        #expect(result.rows.map(\.values) == [["1", "2.00"], ["3", "4.00"], ["5", "6.00"]])
        #expect(result.rows.map(\.line) == [2, 4, 6])
        #expect(result.rows.map(\.record) == [1, 2, 3])
        #expect(result.summary.records == 3)
        #expect(result.summary.truncated == nil)
        #expect(result.summary.notes.contains {
            $0.contains("2 more header lines after line 1 (lines 3, 5)") && $0.contains("were skipped") && !$0.contains("differently")
        })
    }

    /// A later header with the columns in another order: the rows under it are read by it, so
    /// no value lands in the wrong field.
    @Test(arguments: [1, 1 << 20])
    func rowsAfterAReorderedHeaderAreReadByIt(chunkSize: Int) throws {
        let text = "id,refund,paid\n1,2.00,9.00\nid,paid,refund,extra\n3,8.00,4.00,x\n"
        let result = try readCSV(Array(text.utf8), fields: ["id", "refund", "paid"], chunkSize: chunkSize)
        #expect(result.rows.map(\.values) == [["1", "2.00", "9.00"], ["3", "4.00", "8.00"]])
        #expect(result.rows.map(\.line) == [2, 4])
        #expect(result.rows.allSatisfy { $0.problems.isEmpty })
        #expect(result.rows.last?.raw == ["3", "8.00", "4.00", "x"])
        #expect(result.summary.notes.contains { $0.contains("line 3") && $0.contains("orders the columns differently") })
    }

    /// A later header without a column the first one has: reading on could not fill that field,
    /// so the file stops there, plainly truncated, and the whole file is still hashed.
    @Test func aLaterHeaderWithoutAColumnStopsTheFile() throws {
        let text = "id,refund,paid\n1,2.00,9.00\nid,paid\n3,8.00\n4,5.00\n"
        let result = try readCSV(Array(text.utf8), fields: ["id", "refund", "paid"])
        #expect(result.rows.map(\.values) == [["1", "2.00", "9.00"]])
        #expect(result.summary.records == 1)
        #expect(result.summary.truncated?.contains("line 3 is another header, without the column 'refund' that line 1 has") == true)
        #expect(result.summary.truncated?.contains("Split the file at line 3") == true)
        #expect(result.summary.bytes == text.utf8.count)
        let path = try Fixtures.temporaryDirectory() + "/whole.csv"
        try Fixtures.write(Array(text.utf8), to: path)
        #expect(result.summary.sha256 == (try fileSHA256(path)))
    }

    /// A short last row with no line end is a download or export cut off mid-row: the row is a
    /// `malformed` reject as always, and the file is reported cut short. A complete last row
    /// without a line end, or a short row that ends its line, is no such sign.
    @Test(arguments: [1, 1 << 20])
    func aShortLastRowWithoutALineEndMeansTheFileWasCutShort(chunkSize: Int) throws {
        let cut = try readCSV(Array("a,b,c\n1,2,3\n4,\"x\ny\"".utf8), fields: ["a", "b", "c"], chunkSize: chunkSize)
        #expect(cut.rows.count == 2)
        #expect(cut.rows.last?.problems.first?.code == .malformed)
        #expect(cut.summary.truncated == "the file ends in the middle of line 4: its last row has 2 of 3 fields and no line end, so the file looks cut short; export or download it again")
        let short = try readCSV(Array("a,b,c\n1,2,3\n4,5".utf8), fields: ["a", "b", "c"], chunkSize: chunkSize)
        #expect(short.summary.truncated == "the file ends in the middle of line 3: its last row has 2 of 3 fields and no line end, so the file looks cut short; export or download it again")
        #expect(try readCSV(Array("a,b,c\n1,2,3\n4,5,6".utf8), fields: ["a"], chunkSize: chunkSize).summary.truncated == nil)
        #expect(try readCSV(Array("a,b,c\n1,2\n".utf8), fields: ["a"], chunkSize: chunkSize).summary.truncated == nil)
    }

    /// A totals row that a spreadsheet added under the data is one clear reject, not a missing
    /// field each; only the word alone in the first column counts.
    @Test(arguments: [SourceEncoding.utf8, .gbk])
    func aTotalsRowIsNamedAsOne(_ encoding: SourceEncoding) throws {
        let text = "订单编号,金额\n1,2.00\n合计,2.00\n 合计： ,\nTotal,\n合计金额,3\n总计\n"
        let bytes = encoding == .gbk ? try IconvEncoder(to: "GBK").encode(Array(text.utf8)) : Array(text.utf8)
        let result = try readCSV(bytes, fields: ["订单编号", "金额"], encoding: encoding)
        let messages = result.rows.map { $0.problems.map(\.message) }
        #expect(messages[0].isEmpty)
        #expect(messages[1] == ["this is a totals row ('合计'), as a spreadsheet adds under the data, not a refund; remove it from the export"])
        #expect(messages[2] == messages[1])
        #expect(messages[3].first?.contains("('Total')") == true)
        #expect(messages[4].isEmpty)  // 合计金额 is a value, not the totals word
        #expect(messages[5].contains { $0.contains("('总计')") })  // also ragged: every reason stays
        #expect(result.rows[1].problems.first?.code == .malformed)
        #expect(result.rows[1].problems.first?.location.line == 3)
    }

    /// A gzip export (also two members joined with `cat`) reads like the plain file; size and
    /// sha256 are the compressed file's own.
    @Test(arguments: [1, 3, 1 << 20])
    func aGzipFileIsReadDecompressed(chunkSize: Int) throws {
        let first = try IconvEncoder(to: "GBK").encode(Array("退款编号,备注\r\n1,\"第一行\n第二行\"\r\n".utf8))
        let second = try IconvEncoder(to: "GBK").encode(Array("2,ok\r\n".utf8))
        let plain = try readCSV(first + second, fields: ["退款编号", "备注"], chunkSize: chunkSize)
        let joined = try Fixtures.gzip(first) + Fixtures.gzip(second)
        let result = try readCSV(joined, fields: ["退款编号", "备注"], chunkSize: chunkSize)
        #expect(result.rows.map(\.values) == [["1", "第一行\n第二行"], ["2", "ok"]])
        #expect(result.rows.map(\.values) == plain.rows.map(\.values))
        #expect(result.rows.map(\.line) == [2, 4])
        #expect(result.summary.encoding == "gzip, " + plain.summary.encoding)
        #expect(result.summary.bytes == joined.count)
        let path = try Fixtures.temporaryDirectory() + "/joined.gz"
        try Fixtures.write(joined, to: path)
        #expect(result.summary.sha256 == (try fileSHA256(path)))
    }

    /// A cut or corrupt gzip file stops with what is wrong and where, never as fewer rows.
    @Test func aCutOrCorruptGzipFileSaysSo() throws {
        let text = Array(("a,b\n" + (1...2_000).map { "\($0),\($0 * 7)\n" }.joined()).utf8)
        let compressed = try Fixtures.gzip(text)
        let cut = #expect(throws: Diagnostic.self) { try readCSV(Array(compressed.prefix(compressed.count / 2)), fields: ["a"]) }
        #expect(cut?.code == "input.gzip")
        #expect(cut?.message.contains("ends inside its gzip stream") == true)
        var corrupt = compressed
        corrupt[corrupt.count - 6] ^= 0xFF  // the CRC-32 in the trailer
        let bad = #expect(throws: Diagnostic.self) { try readCSV(corrupt, fields: ["a"]) }
        #expect(bad?.code == "input.gzip")
        #expect(bad?.message.contains("is not valid gzip at compressed byte") == true)
        let trailing = #expect(throws: Diagnostic.self) { try readCSV(compressed + [0, 0, 0, 0], fields: ["a"]) }
        #expect(trailing?.code == "input.gzip")
    }

    /// A header cell wrapped over two lines in Excel (`"退款\n编号"`) is the column written another
    /// way; the note shows it on one line.
    @Test func aWrappedHeaderCellIsReadAndShownOnOneLine() throws {
        let result = try readCSV(Array("金额,\"退款\r\n编号\"\n2,1\n".utf8), fields: ["退款编号", "金额"])
        #expect(result.rows.map(\.values) == [["1", "2"]])
        #expect(result.rows.first?.line == 3)
        #expect(result.summary.notes.contains { $0.hasSuffix("column '退款\\r\\n编号' is read as '退款编号'") })
    }

    /// Data rows that happen to hold a column name stay data rows.
    @Test func aRowWithOneColumnNameIsData() throws {
        let text = "状态,备注,金额\n退款成功,状态,1.00\n状态,备注,2.00\n"
        let result = try readCSV(Array(text.utf8), fields: ["状态", "金额"])
        #expect(result.rows.map(\.values) == [["退款成功", "1.00"], ["状态", "2.00"]])
        #expect(result.summary.notes.isEmpty)
    }
}

/// The two-byte table decoder of GBK/GB18030 against iconv itself: the same text, or the same
/// first bad byte, for every pair of bytes and for random mixes of everything.
struct DoubleByteTableTests {
    enum Outcome: Equatable {
        case text([UInt8])
        case bad(at: Int)
    }

    /// What iconv alone makes of `bytes`: the UTF-8, or the offset of the first bad byte.
    static func iconvOnly(_ bytes: [UInt8], _ encoding: String) -> Outcome {
        let converter = iconv_open("UTF-8", encoding)!
        defer { iconv_close(converter) }
        var input = bytes
        var output = [UInt8](repeating: 0, count: bytes.count * 2 + 8)
        let (result, inLeft, outLeft) = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                var inPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(inBuffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                var inLeft = inBuffer.count
                var outPointer: UnsafeMutablePointer<CChar>? = UnsafeMutableRawPointer(outBuffer.baseAddress!).assumingMemoryBound(to: CChar.self)
                var outLeft = outBuffer.count
                let result = iconv(converter, &inPointer, &inLeft, &outPointer, &outLeft)
                return (result, inLeft, outLeft)
            }
        }
        if result == -1 || inLeft > 0 { return .bad(at: bytes.count - inLeft) }
        return .text(Array(output[0..<(output.count - outLeft)]))
    }

    static func decoded(_ bytes: [UInt8], _ encoding: SourceEncoding) throws -> Outcome {
        let decoder = try FieldDecoder(encoding)
        var output: [UInt8] = []
        if let bad = bytes.withUnsafeBufferPointer({ decoder.decode($0, into: &output) }) { return .bad(at: bad) }
        return .text(output)
    }

    @Test(arguments: [(SourceEncoding.gbk, "GBK"), (.gb18030, "GB18030")])
    func everyPairDecodesAsIconvDoes(_ encoding: SourceEncoding, _ name: String) throws {
        var mismatches: [String] = []
        for lead in 0x80...0xFF {
            for trail in 0x00...0xFF {
                let bytes: [UInt8] = [UInt8(lead), UInt8(trail), 0x41]
                if try Self.decoded(bytes, encoding) != Self.iconvOnly(bytes, name) { mismatches.append("\(lead) \(trail)") }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test(arguments: [(SourceEncoding.gbk, "GBK"), (.gb18030, "GB18030")])
    func randomTextDecodesAsIconvDoes(_ encoding: SourceEncoding, _ name: String) throws {
        let pieces: [[UInt8]] = [
            Array("ab, ".utf8), try IconvEncoder(to: name).encode(Array("纯棉T恤 白色/XL，退款".utf8)),
            [0xB0, 0xA1], [0xFE, 0xFE], [0x81, 0x30, 0x81, 0x30], [0x95, 0x32, 0x82, 0x36], [0x81], [0xFF], [0x80], [0xA1, 0x7F],
        ]
        var random = SplitMix64(seed: 5)
        for _ in 0..<3_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(random.next() % 8) { bytes += pieces[Int(random.next() % UInt64(pieces.count))] }
            #expect(try Self.decoded(bytes, encoding) == Self.iconvOnly(bytes, name), "\(bytes)")
        }
    }
}

struct UTF8ValidationTests {
    /// Random mixes of ASCII runs (longer than a word), valid sequences of every length and
    /// broken ones: the validator agrees with the standard library, and points at the first
    /// bad byte (everything before it is valid).
    @Test func agreesWithTheStandardLibrary() {
        let pieces: [[UInt8]] = [
            Array("plain ascii text".utf8), Array("a".utf8), Array("é".utf8), Array("纯".utf8), Array("😀".utf8),
            [0xFF], [0xC0, 0x80], [0xE4, 0xBD], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE0, 0x80, 0x80],
        ]
        var random = SplitMix64(seed: 3)
        for _ in 0..<5_000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(random.next() % 12) { bytes += pieces[Int(random.next() % UInt64(pieces.count))] }
            let offset = bytes.withUnsafeBufferPointer { UTF8Validation.firstInvalidOffset($0) }
            let valid = String(validating: bytes, as: UTF8.self) != nil
            #expect((offset == nil) == valid, "\(bytes)")
            if let offset {
                #expect(String(validating: bytes[..<offset], as: UTF8.self) != nil, "\(bytes) at \(offset)")
            }
        }
    }
}
