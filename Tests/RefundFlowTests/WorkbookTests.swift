import Foundation
import Testing

@testable import RefundFlow

#if canImport(Glibc)
    import Glibc
#endif

/// The CSV text a workbook's sheet is read as (what the CSV reader sees).
func sheetText(_ path: String, sheet: String? = nil, stringMemory: Int = SharedStrings.memoryLimit) throws -> String {
    let descriptor = open(path, O_RDONLY)
    defer { close(descriptor) }
    var info = stat()
    fstat(descriptor, &info)
    let workbook = try #require(
        try WorkbookSheet.open(descriptor: descriptor, size: Int(info.st_size), path: path, sheet: sheet, stringMemory: stringMemory))
    var text: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 7, alignment: 1)  // small reads cross every boundary
    defer { buffer.deallocate() }
    while case let count = try workbook.read(into: buffer), count > 0 { text += buffer[0..<count] }
    return String(decoding: text, as: UTF8.self)
}

/// The seller center's modern export is an `.xlsx` workbook: the CSV reader reads its sheet.
@Suite struct WorkbookTests {
    static let header = ["退款编号", "订单编号", "子订单编号", "退款数量", "买家退款金额", "退款状态", "买家会员名称", "退款的申请时间", "买家退款说明"]
    /// The columns the bundled CSV pipeline requires, and a valid row for them.
    static let loadable = [
        "退款编号", "订单编号", "子订单编号", "退款数量", "买家退款金额", "退款状态", "买家会员名称", "退款的申请时间", "买家退款原因", "宝贝标题", "售中或售后",
        "是否需要退货", "货物状态",
    ]
    static func loadableRow(_ index: Int) -> [String] {
        ["\(201_234_567_890_120 + index)", "4012345678901234567", "\(4_012_345_678_901_234_560 + index)", "1", "59.00", "退款关闭", "t**1", "2024-09-03 10:00:00",
            "不想要了", "T恤", "售后", "否", "已收到货"]
    }

    @Test func numbersAreShownAsExcelShowsThemExactly() {
        func shown(_ text: String) -> String { String(decoding: ExcelNumber.shown(Array(text.utf8)), as: UTF8.self) }
        #expect(shown("19.899999999999999") == "19.9")
        #expect(shown("0.30000000000000004") == "0.3")
        #expect(shown("1.0000000000000002") == "1")
        #expect(shown("9.9999999999999995") == "10")
        #expect(shown("-252.76999999999998") == "-252.77")
        #expect(shown("12.3456") == "12.3456")  // 15 digits or fewer: as written
        #expect(shown("252.77") == "252.77")
        #expect(shown("3050123456789012345") == "3050123456789012345")
        #expect(shown("3.0501234567890125E+18") == "3.0501234567890125E+18")  // an id Excel made a number stays one
        #expect(shown("1234567890123456.5") == "1234567890123456.5")  // more than 15 digits before the point: as written
        #expect(shown("0.000000000000000012345678901234567") == "0.0000000000000000123456789012346")
    }

    @Test func serialDatesBecomeExactTimes() {
        func date(_ text: String, _ kind: DateKind = .dateTime, in1904: Bool = false) -> String? {
            ExcelNumber.dateText(Array(text.utf8), kind: kind, uses1904: in1904).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(date("45536.416666666664") == "2024-09-01 10:00:00")
        #expect(date("45536.416666666664", .date) == "2024-09-01 10:00:00")  // a date format with a time: nothing dropped
        #expect(date("45536", .date) == "2024-09-01")
        #expect(date("45536", .dateTime) == "2024-09-01 00:00:00")
        #expect(date("44074.416666666664", in1904: true) == "2024-09-01 10:00:00")
        #expect(date("0.5", .time) == "12:00:00")
        #expect(date("45536.99999999999") == "2024-09-02 00:00:00")  // rounds to the nearest second
        #expect(date("1") == "1900-01-01 00:00:00")
        #expect(date("59") == "1900-02-28 00:00:00")
        #expect(date("60") == nil)  // 1900-02-29, which Excel counts and the calendar does not
        #expect(date("61") == "1900-03-01 00:00:00")
        #expect(date("-1") == nil)
        #expect(date("4.5536E4") == nil)
    }

    @Test func numberFormatsTellDatesFromNumbers() {
        #expect(WorkbookStyles.kind(ofFormat: "yyyy/m/d h:mm") == .dateTime)
        #expect(WorkbookStyles.kind(ofFormat: #"yyyy"年"m"月"d"日""#) == .date)
        #expect(WorkbookStyles.kind(ofFormat: "[$-804]yyyy-mm-dd") == .date)
        #expect(WorkbookStyles.kind(ofFormat: "h:mm:ss;@") == .time)
        #expect(WorkbookStyles.kind(ofFormat: "mm:ss") == .time)
        #expect(WorkbookStyles.kind(ofFormat: "0.00") == nil)
        #expect(WorkbookStyles.kind(ofFormat: #"#,##0.00"元""#) == nil)
        #expect(WorkbookStyles.kind(ofFormat: "[Red]#,##0.00;[Red]-#,##0.00") == nil)
        #expect(WorkbookStyles.kind(ofFormat: "@") == nil)
        #expect(WorkbookStyles.kind(ofFormat: "General") == nil)
        #expect(WorkbookStyles.builtInKind(14) == .date)
        #expect(WorkbookStyles.builtInKind(22) == .dateTime)
        #expect(WorkbookStyles.builtInKind(2) == nil)
    }

    @Test func excelEscapesAreDecoded() {
        func text(_ value: String) -> String { String(decoding: ExcelText.unescape(Array(value.utf8)), as: UTF8.self) }
        #expect(text("杯盖漏水_x000D_\n第二次了") == "杯盖漏水\r\n第二次了")
        #expect(text("_x005F_x0041_") == "_x0041_")  // a literal _x0041_, escaped
        #expect(text("a_xD83D__xDE00_b") == "a😀b")
        #expect(text("_x00zz_ and _x12") == "_x00zz_ and _x12")
    }

    @Test func aSheetIsReadAsCSVWithRowsOnTheirLines() throws {
        var fixture = WorkbookFixture()
        let id = fixture.string("201234567890123")
        let remark = fixture.string("尺码偏小\r\n换不了就退, \"谢谢\"")
        fixture.sheets = [(
            "export",
            """
            <row r="1"><c r="A1" t="inlineStr"><is><t>退款编号</t></is></c><c r="B1" t="inlineStr"><is><r><t>金</t></r><r><t>额</t></r><rPh><t>きん</t></rPh></is></c><c r="C1" t="inlineStr"><is><t>时间</t></is></c><c r="E1" t="inlineStr"><is><t>说明</t></is></c></row>
            <row r="2"><c r="A2" t="s"><v>\(id)</v></c><c r="B2"><v>19.899999999999999</v></c><c r="C2" s="1"><v>45536.416666666664</v></c><c r="D2" t="b"><v>1</v></c><c r="E2" t="s"><v>\(remark)</v></c></row>
            <row r="4" spans="1:5"><c r="A4" t="str"><f>A2</f><v>201234567890123</v></c><c r="B4" t="e"><v>#N/A</v></c><c r="C4" s="2"><v>45536</v></c></row>
            <row r="5"><c r="A5" s="1"/><c r="B5" s="2"/></row>
            <row r="6"><c r="C6" t="inlineStr"><is><t>2024-09-01 10:00:00</t></is></c></row>
            """,
            false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        let expected =
            "退款编号,金额,时间,,说明\n" + "201234567890123,19.9,2024-09-01 10:00:00,TRUE,\"尺码偏小\r\n换不了就退, \"\"谢谢\"\"\"\n" + "\n"
            + "201234567890123,#N/A,2024-09-01,,\n" + "\n" + ",,2024-09-01 10:00:00,,\n"
        #expect(try sheetText(directory + "/a.xlsx") == expected)
        // Shared strings in a temporary file instead of memory: the same text.
        #expect(try sheetText(directory + "/a.xlsx", stringMemory: 8) == expected)
        fixture.zip64 = true
        try fixture.write(to: directory + "/b.xlsx")
        #expect(try sheetText(directory + "/b.xlsx") == expected)
    }

    /// A writer that indents its XML: the spaces between elements are not text; rich text runs
    /// are joined and phonetic runs (ruby) left out.
    @Test func indentedPartsAndRichText() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [(
            "export",
            """

              <row r="1">
                <c r="A1" t="s">
                  <v>0</v>
                </c>
                <c r="B1" t="inlineStr">
                  <is>
                    <r><rPr><b/></rPr><t>退款</t></r>
                    <r><t xml:space="preserve"> 编号</t></r>
                    <rPh sb="0" eb="2"><t>たいきん</t></rPh>
                  </is>
                </c>
              </row>

            """,
            false)]
        var parts = fixture.parts
        let index = try #require(parts.firstIndex { $0.0 == "xl/sharedStrings.xml" })
        parts[index].1 = """
            <?xml version="1.0" encoding="UTF-8"?>
            <sst xmlns="\(WorkbookFixture.main)" count="1" uniqueCount="1">
              <si>
                <r><t>买家</t></r>
                <r><rPr><sz val="11"/></rPr><t>昵称</t></r>
                <rPh sb="0" eb="1"><t>ばいか</t></rPh>
                <phoneticPr fontId="1"/>
              </si>
            </sst>
            """
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try Fixtures.write(WorkbookFixture.zip(parts.map { ($0.0, Array($0.1.utf8)) }), to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "买家昵称,退款 编号\n")
    }

    @Test func cdataAndCharacterReferencesAreText() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [(
            "export",
            #"<row r="1"><c r="A1" t="inlineStr"><is><t><![CDATA[a<b & "c"]]></t></is></c><c r="B1"><v><![CDATA[12.5]]></v></c>"#
                + #"<c r="C1" t="inlineStr"><is><t>x&#13;&#10;y&#x4E2D;&amp;</t></is></c></row>"#,
            false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "\"a<b & \"\"c\"\"\",12.5,\"x\r\ny中&\"\n")
    }

    /// Cells with a style and no value (a writer that formats a whole range) are no cells: rows
    /// are not padded out to the last styled column.
    @Test func styledEmptyCellsAddNothing() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [(
            "export",
            #"<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c><c r="B1" s="1"/><c r="XFD1" s="1"/></row>"#
                + #"<row r="2"><c r="A2" s="1"/><c r="B2"><v>2</v></c><c r="C2" s="1"><v></v></c><c r="XFC2" s="1"/></row>"#,
            false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "a\n,2\n")
    }

    /// Rows and cells may leave out their `r` (streaming writers do): they follow one another.
    @Test func rowsAndCellsWithoutReferences() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [(
            "export",
            #"<row><c t="inlineStr"><is><t>a</t></is></c><c><v>1</v></c></row><row><c t="str"><v>b_x000D_</v></c></row><row r="5"><c><v>2</v></c></row>"#,
            false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "a,1\n\"b\r\",\n\n\n2,\n")
    }

    @Test func prefixedElementsAndThe1904DateSystem() throws {
        var fixture = WorkbookFixture()
        fixture.uses1904 = true
        let row =
            "<x:row xmlns:x=\"" + WorkbookFixture.main + "\" r=\"1\"><x:c r=\"A1\" t=\"inlineStr\"><x:is><x:t>时间</x:t></x:is></x:c>"
            + "<x:c r=\"B1\" s=\"1\"><x:v>44074.5</x:v></x:c></x:row>"
        fixture.sheets = [("明细", row, false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "时间,2024-09-01 12:00:00\n")
    }

    @Test func theFirstVisibleSheetOrTheNamedOne() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [
            ("隐藏", #"<row r="1"><c r="A1" t="inlineStr"><is><t>hidden</t></is></c></row>"#, true),
            ("export", #"<row r="1"><c r="A1" t="inlineStr"><is><t>first</t></is></c></row>"#, false),
            ("说明", #"<row r="1"><c r="A1" t="inlineStr"><is><t>notes</t></is></c></row>"#, false),
        ]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        #expect(try sheetText(directory + "/a.xlsx") == "first\n")
        #expect(try sheetText(directory + "/a.xlsx", sheet: "说明") == "notes\n")
        #expect(try sheetText(directory + "/a.xlsx", sheet: "EXPORT") == "first\n")
        #expect(throws: Diagnostic.self) { try sheetText(directory + "/a.xlsx", sheet: "退款") }
        do {
            _ = try sheetText(directory + "/a.xlsx", sheet: "退款")
        } catch let error as Diagnostic {
            #expect(error.code == "input.no_sheet")
            #expect(error.notes.joined().contains("'隐藏', 'export', '说明'"))
        }
    }

    /// The bundled seller-center pipeline reads the workbook: rejects carry the sheet row and the
    /// cell's column, and are written back as CSV that the same pipeline reads.
    @Test func theCSVPipelineReadsAWorkbookWithRowsAndCellsInRejects() throws {
        let header = ["退款编号", "订单编号", "子订单编号", "退款数量", "商品单价", "买家退款金额", "退款状态", "买家会员名称", "退款的申请时间",
            "买家退款说明", "宝贝标题", "买家退款原因", "售中或售后", "是否需要退货", "货物状态"]
        func row(_ refund: String, amount: String = "59.00", oid: String = "4012345678901234568", remark: String = "") -> [String] {
            [refund, "4012345678901234567", oid, "1", "59.00", amount, "退款关闭", "t**1", "2024-09-03 10:00:00", remark, "T恤", "不想要了", "售后", "否", "已收到货"]
        }
        var fixture = WorkbookFixture.table([
            ["退款管理导出"],
            header,
            row("201234567890123", remark: "第一行\r\n第二行"),
            row("201234567890124", amount: "12,50"),
            [],
            row("201234567890125", oid: "3.50000E+18"),
        ])
        // Row 7 left out of the sheet; row 8 holds the amount as a number cell with binary noise.
        fixture.sheets[0].rows = fixture.sheets[0].rows.replacingOccurrences(of: "<row r=\"5\"></row>", with: "")
        var last = row("201234567890126")
        last[5] = ""
        var cells = ""
        for (column, text) in last.enumerated() {
            if column == 5 { cells += #"<c r="F8"><v>19.899999999999999</v></c>"# }
            if !text.isEmpty { cells += "<c r=\"\(WorkbookFixture.columnName(column))8\" t=\"s\"><v>\(fixture.string(text))</v></c>" }
        }
        fixture.sheets[0].rows += "<row r=\"8\">\(cells)</row>"
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/export.xlsx")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/export.xlsx",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("export.xlsx:4:6: error: refund_amount: '12,50'"))
        #expect(result.stderr.contains("export.xlsx:6:3: error: oid: '3.50000E+18'"))
        #expect(result.stderr.contains("skipped 1 line before the header"))
        let records = try Fixtures.jsonLines(directory + "/out/records.jsonl")
        #expect(records.map { $0["refund_no"] as? String } == ["201234567890123", "201234567890126"])
        #expect(records[0]["remark"] as? String == "第一行\n第二行")
        #expect(records[1]["refund_amount"] as? String == "19.90")
        let rejects = try Fixtures.jsonLines(directory + "/out/rejects.jsonl")
        #expect(rejects.map { $0["line"] as? Int } == [4, 6])
        #expect(rejects.map { $0["record"] as? Int } == [2, 3])
        #expect((rejects[0]["raw"] as? [String: Any])?["买家退款金额"] as? String == "12,50")
        let report = try Fixtures.read(directory + "/out/report.json")
        #expect(report.contains("xlsx workbook, sheet 'export', read as UTF-8"))
        // Written back as CSV (UTF-8 with a mark, the header first), which the same pipeline reads.
        let refeed = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/out/rejects/export.csv")))
        #expect(refeed.starts(with: [0xEF, 0xBB, 0xBF] + Array("退款编号,订单编号".utf8)))
        let again = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/out/rejects/export.csv",
            "--out", directory + "/again", "--dry-run",
        ])
        #expect(again.status == 2)
        let rejectedAgain = try Fixtures.jsonLines(directory + "/again/rejects.jsonl")
        #expect(rejectedAgain.map { ($0["raw"] as? [String: Any])?["退款编号"] as? String } == ["201234567890124", "201234567890125"])
    }

    @Test func aDirectoryOfExportsIncludesWorkbooks() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try FileManager.default.createDirectory(atPath: directory + "/in", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Fixtures.packageRoot + "/pipelines/samples/taobao-refunds-equivalent.xlsx", toPath: directory + "/in/2.xlsx")
        try FileManager.default.copyItem(
            atPath: Fixtures.packageRoot + "/pipelines/samples/taobao-refunds-equivalent.csv", toPath: directory + "/in/1.csv")
        // The owner file Excel keeps beside a workbook it has open: not an export, left out.
        try Fixtures.write([0x0C] + Array("zhangsan".utf8) + [UInt8](repeating: 0, count: 150), to: directory + "/in/~$2.xlsx")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/in", "--out", directory + "/out",
            "--dry-run",
        ])
        // The same refunds twice: the workbook's are duplicates of the CSV's.
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("read 12, valid 6, rejected 6"))
    }

    /// The benchmark's workbook (deflated parts, thousands of shared strings, multi-line cells,
    /// bad rows) gives the records and rejects of the same rows written as CSV; only where a
    /// reject sits differs: the sheet row and cell instead of the CSV line and character.
    @Test func theBenchmarkWorkbookGivesTheCSVRecords() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try BenchmarkData.writeTaobaoExport(path: directory + "/rows.csv", rows: 1_500)
        try BenchmarkData.writeTaobaoWorkbook(path: directory + "/rows.xlsx", rows: 1_500)
        var outputs: [(records: String, rejects: [[String: Any]])] = []
        for name in ["rows.csv", "rows.xlsx"] {
            let result = try CLI.run([
                "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/" + name,
                "--out", directory + "/out-" + name, "--dry-run",
            ])
            #expect(result.status == 2, "\(result.stderr)")
            outputs.append((try Fixtures.read(directory + "/out-\(name)/records.jsonl"), try Fixtures.jsonLines(directory + "/out-\(name)/rejects.jsonl")))
        }
        #expect(outputs[0].records == outputs[1].records)
        #expect(!outputs[0].records.isEmpty)
        func reasons(_ rejects: [[String: Any]]) -> [[String]] {
            rejects.map { ($0["errors"] as? [[String: Any]] ?? []).map { "\($0["code"] ?? "") \($0["field"] ?? "")" } }
        }
        #expect(reasons(outputs[0].rejects) == reasons(outputs[1].rejects))
        #expect(outputs[1].rejects.count > 5)
        // In the workbook a reject's line is its sheet row (the header is row 1) and its column the cell's.
        let rows = outputs[1].rejects.map { ($0["record"] as? Int ?? 0) + 1 }
        #expect(outputs[1].rejects.map { $0["line"] as? Int ?? 0 } == rows)
        let amountColumn = (BenchmarkData.header.firstIndex(of: "买家退款金额") ?? 0) + 1
        let amountErrors = outputs[1].rejects.flatMap { $0["errors"] as? [[String: Any]] ?? [] }.filter { $0["field"] as? String == "refund_amount" }
        #expect(!amountErrors.isEmpty && amountErrors.allSatisfy { $0["column"] as? Int == amountColumn })
    }

    /// A sheet whose XML breaks part-way keeps the whole rows before the break, and the file is
    /// reported broken (exit 4) with the last row read, as a broken XML file is.
    @Test func aSheetThatBreaksKeepsTheRowsBefore() throws {
        var fixture = WorkbookFixture.table([Self.loadable] + (0..<3).map(Self.loadableRow))
        fixture.sheets[0].rows = fixture.sheets[0].rows.replacingOccurrences(of: "<row r=\"4\">", with: "<row r=\"4\"><c r=\"A4\"><v>1</row>")
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/a.xlsx", "--out", directory + "/out",
            "--dry-run",
        ])
        #expect(result.status == 4, "\(result.stderr)")
        #expect(result.stderr.contains("is not well-formed XML"))
        #expect(result.stderr.contains("read up to row 3 of the sheet 'export', nothing after it (export the workbook again) [input.truncated]"))
        #expect(result.stderr.contains("input_broken: read 2, valid 2, rejected 0"))
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").map { $0["refund_no"] as? String } == ["201234567890120", "201234567890121"])
    }

    /// `sheet:` in the pipeline's csv reader picks the sheet; the note lists the workbook's sheets.
    @Test func thePipelineNamesTheSheet() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        let bundled = try Fixtures.read(Fixtures.packageRoot + "/pipelines/taobao-seller-refunds-csv.yaml")
        let yaml = bundled.replacingOccurrences(of: "    delimiter: auto", with: "    delimiter: auto\n    sheet: 明细")
        #expect(yaml != bundled)
        try Fixtures.write(yaml, to: directory + "/p.yaml")
        var fixture = WorkbookFixture.table([["说明：退款导出"]], sheet: "说明")
        let detail = WorkbookFixture.table([Self.loadable, Self.loadableRow(0)], sheet: "明细")
        // Both sheets share one table of strings: the second's indexes move past the first's.
        let offset = fixture.sharedStrings.count
        fixture.sharedStrings += detail.sharedStrings
        var rows = detail.sheets[0].rows
        for index in (0..<detail.sharedStrings.count).reversed() {
            rows = rows.replacingOccurrences(of: "<v>\(index)</v>", with: "<v>#\(index + offset)</v>")
        }
        fixture.sheets.append(("明细", rows.replacingOccurrences(of: "<v>#", with: "<v>"), false))
        try fixture.write(to: directory + "/a.xlsx")
        let result = try CLI.run(["run", directory + "/p.yaml", "--set", "shop_no=S1", "--input", directory + "/a.xlsx", "--out", directory + "/out", "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("read the sheet '明细' of 2: '说明', '明细'"))
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").map { $0["refund_no"] as? String } == ["201234567890120"])
        let lint = try CLI.run(["lint", directory + "/p.yaml"])
        #expect(lint.status == 0, "\(lint.stderr)")
    }

    /// Through a pipe (`gunzip -c export.xlsx.gz | refundflow … --input -`): the workbook is copied
    /// to a temporary file, as it is read from its end, and read as from the file.
    @Test func aWorkbookThroughAPipe() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        let sample = Fixtures.packageRoot + "/pipelines/samples/taobao-refunds-equivalent.xlsx"
        try Fixtures.write(try Fixtures.gzip(Array(try Data(contentsOf: URL(fileURLWithPath: sample)))), to: directory + "/export.xlsx.gz")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [
            "-c",
            "gunzip -c '\(directory)/export.xlsx.gz' | '\(CLI.executable)' run pipelines/taobao-seller-refunds-csv.yaml --set shop_no=LCJ --input - --out '\(directory)/out-pipe' --dry-run",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: Fixtures.packageRoot)
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try Fixtures.read(directory + "/out-pipe/records.jsonl") == (try Fixtures.read(Fixtures.path("golden/top-refunds.records.jsonl"))))
        // Size and sha256 are those of the workbook's bytes, as for the file.
        let file = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=LCJ", "--input", sample, "--out", directory + "/out-file", "--dry-run",
        ])
        #expect(file.status == 0)
        func sha(_ report: String) throws -> String? {
            try Fixtures.read(report).components(separatedBy: "\"sha256\":\"").dropFirst().first.map { String($0.prefix(64)) }
        }
        #expect(try sha(directory + "/out-pipe/report.json") != nil)
        #expect(try sha(directory + "/out-pipe/report.json") == (try sha(directory + "/out-file/report.json")))
    }

    /// Rows Excel hides (by hand or by a filter) are read like the others, and a note says so.
    @Test func hiddenRowsAreReadAndNamed() throws {
        var fixture = WorkbookFixture.table([Self.loadable] + (0..<3).map(Self.loadableRow))
        fixture.sheets[0].rows = fixture.sheets[0].rows.replacingOccurrences(of: "<row r=\"3\">", with: "<row r=\"3\" hidden=\"1\">")
            .replacingOccurrences(of: "<row r=\"4\">", with: "<row r=\"4\" hidden=\"true\" customHeight=\"1\">")
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        let result = try CLI.run(["run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/a.xlsx", "--out", directory + "/out", "--dry-run"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("2 rows of the sheet 'export' are hidden in Excel (the first is row 3; a filter hides rows too): they were read like the others"))
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").count == 3)
    }

    @Test func anEmptySheetIsNamed() throws {
        var fixture = WorkbookFixture()
        fixture.sheets = [("export", "", false), ("Sheet2", "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>x</t></is></c></row>", false)]
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        try fixture.write(to: directory + "/a.xlsx")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/a.xlsx", "--out", directory + "/out",
            "--dry-run",
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("error: the sheet 'export' of '\(directory)/a.xlsx' has no rows [input.empty]"))
        #expect(result.stderr.contains("note: its sheets are 'export', 'Sheet2': set the reader's 'sheet' to the one with the refunds"))
    }

    @Test func theXMLAndJSONPipelinesSendAWorkbookToTheCSVOne() throws {
        for pipeline in ["taobao-top-refunds-xml", "taobao-top-refunds-jsonl"] {
            let out = try Fixtures.temporaryDirectory("refundflow-xlsx")
            let result = try CLI.run([
                "run", "pipelines/\(pipeline).yaml", "--set", "shop_no=S1", "--input", "pipelines/samples/taobao-refunds-equivalent.xlsx",
                "--out", out, "--dry-run",
            ])
            #expect(result.status == 1)
            #expect(result.stderr.contains("is an Excel workbook (.xlsx), not a"))
            #expect(result.stderr.contains("note: give it to a CSV pipeline, which reads an .xlsx workbook's sheet as it is"))
        }
    }

    @Test func aBrokenWorkbookSaysSoAndWhatToDo() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-xlsx")
        let good = WorkbookFixture.table([Self.header, ["201234567890123"]]).bytes
        func run(_ bytes: [UInt8], _ name: String) throws -> CLI.Result {
            try Fixtures.write(bytes, to: directory + "/" + name)
            return try CLI.run([
                "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=S1", "--input", directory + "/" + name,
                "--out", directory + "/out-" + name, "--dry-run",
            ])
        }
        // Cut short: the directory at the end is gone.
        let cut = try run(Array(good.dropLast(200)), "cut.xlsx")
        #expect(cut.status == 1)
        #expect(cut.stderr.contains("is a broken Excel workbook: it has no ZIP directory at its end (the file was cut short) [input.workbook_broken]"))
        #expect(cut.stderr.contains("download or export it again"))
        // A changed byte inside the sheet: its checksum tells.
        var damaged = good
        let sheet = Array("201234567890123".utf8)
        let at = try #require((0..<(damaged.count - sheet.count)).first { Array(damaged[$0..<($0 + sheet.count)]) == sheet })
        damaged[at] = UInt8(ascii: "9")
        let changed = try run(damaged, "changed.xlsx")
        #expect(changed.status == 1)  // the shared strings are read before any row
        #expect(changed.stderr.contains("its part 'xl/sharedStrings.xml' does not match its checksum (damaged) [input.workbook_broken]"))
        // A sheet is checked at its end, after its rows: they are kept, and the file is reported broken.
        var damagedSheet = WorkbookFixture.table([Self.loadable] + (0..<2_000).map(Self.loadableRow)).bytes
        let lastRow = Array("<row r=\"2001\">".utf8)
        let rowAt = try #require((0..<(damagedSheet.count - lastRow.count)).first { Array(damagedSheet[$0..<($0 + lastRow.count)]) == lastRow })
        damagedSheet[rowAt + 11] = UInt8(ascii: "2")  // row 2001 now says 2002: well-formed, but not what was stored
        let changedSheet = try run(damagedSheet, "changed-sheet.xlsx")
        #expect(changedSheet.status == 4)
        // The checksum is known at the part's end, with its last chunk (64 KiB), before that chunk's
        // rows are parsed: the rows before it are kept, and the message names the last.
        let marker = "its part 'xl/worksheets/sheet1.xml' does not match its checksum (damaged); read up to row "
        let lastRead = try #require(changedSheet.stderr.components(separatedBy: marker).dropFirst().first?.prefix { $0.isNumber }).description
        #expect(changedSheet.stderr.contains(marker + lastRead + " of the sheet 'export', nothing after it (export the workbook again) [input.truncated]"))
        let kept = try Fixtures.jsonLines(directory + "/out-changed-sheet.xlsx/records.jsonl").count
        #expect(kept > 1_000 && kept == (Int(lastRead) ?? 0) - 1)
        // A DOCTYPE with an entity bomb in the shared strings: refused before anything is expanded.
        var bomb = WorkbookFixture.table([Self.header, ["201234567890123"]])
        bomb.sharedStrings = []
        var parts = bomb.parts
        let index = try #require(parts.firstIndex { $0.0 == "xl/sharedStrings.xml" })
        let entities = (1...9).map { "<!ENTITY e\($0) \"" + String(repeating: "&e\($0 - 1);", count: 10) + "\">" }.joined()
        parts[index].1 = "<?xml version=\"1.0\"?><!DOCTYPE sst [<!ENTITY e0 \"lol\">\(entities)]><sst xmlns=\"\(WorkbookFixture.main)\"><si><t>&e9;</t></si></sst>"
        let refused = try run(WorkbookFixture.zip(parts.map { ($0.0, Array($0.1.utf8)) }), "bomb.xlsx")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("declares a DOCTYPE or uses a custom entity, which no spreadsheet writes (nothing was expanded) [input.workbook_broken]"))
        // A harmless DOCTYPE and entity are refused as well: no spreadsheet writes them.
        parts[index].1 = "<?xml version=\"1.0\"?><!DOCTYPE sst [<!ENTITY e \"lol\">]><sst xmlns=\"\(WorkbookFixture.main)\"><si><t>&e;</t></si></sst>"
        let doctype = try run(WorkbookFixture.zip(parts.map { ($0.0, Array($0.1.utf8)) }), "doctype.xlsx")
        #expect(doctype.status == 1)
        #expect(doctype.stderr.contains("declares a DOCTYPE or uses a custom entity, which no spreadsheet writes (nothing was expanded) [input.workbook_broken]"))
        // A part that inflates past the size its directory gives (a ZIP bomb) stops there.
        var bombed = WorkbookFixture.table([Self.header, ["201234567890123"]]).bytes
        let entrySignature: [UInt8] = [0x50, 0x4B, 0x01, 0x02] + Array("xl/worksheets/sheet1.xml".utf8)
        func isSheetEntry(_ at: Int) -> Bool {
            Array(bombed[at..<(at + 4)]) + Array(bombed[(at + 46)..<(at + 70)]) == entrySignature
        }
        let sizeAt = try #require((0..<(bombed.count - 70)).first(where: isSheetEntry))
        bombed[sizeAt + 24] = 10  // the uncompressed size: 10 bytes
        bombed[sizeAt + 25] = 0
        let oversized = try run(bombed, "oversized.xlsx")
        #expect(oversized.status == 1)  // before its first row: nothing read
        #expect(oversized.stderr.contains("is larger than its directory says (damaged) [input.workbook_broken]"))
        #expect(oversized.stderr.contains("is larger than its directory says (damaged)"))
        // Inside gzip: said so, with what to do.
        let gzipped = try run(try Fixtures.gzip(good), "export.xlsx.gz")
        #expect(gzipped.status == 1)
        #expect(gzipped.stderr.contains("is an Excel .xlsx workbook compressed with gzip [input.workbook]"))
        #expect(gzipped.stderr.contains("note: decompress it (gunzip) and run on the .xlsx, or give it through a pipe: gunzip -c"))
        // A ZIP archive that holds no workbook is still refused as an archive.
        let archive = try run(WorkbookFixture.zip([("refunds.csv", Array("a,b\n".utf8))]), "archive.zip")
        #expect(archive.status == 1)
        #expect(archive.stderr.contains("[input.archive]"))
    }
}
