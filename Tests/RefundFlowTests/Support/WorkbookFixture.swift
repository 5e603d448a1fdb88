import Foundation

/// Small `.xlsx` workbooks made in tests: a ZIP archive of stored parts (ZIP64 records on
/// request), so each test states the sheet XML it reads.
struct WorkbookFixture {
    /// Sheets in workbook order: name, `<sheetData>` rows, and whether hidden.
    var sheets: [(name: String, rows: String, hidden: Bool)] = []
    var sharedStrings: [String] = []
    /// `<numFmts>`/`<cellXfs>` content of styles.xml; the default has style 1 as a date-time format.
    var styles = #"<numFmts count="1"><numFmt numFmtId="176" formatCode="yyyy/m/d h:mm"/></numFmts><cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="176"/><xf numFmtId="14"/></cellXfs>"#
    var uses1904 = false
    var zip64 = false

    static let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    static let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

    /// A one-sheet workbook whose rows are given as cell texts (shared strings; `""` left out).
    static func table(_ rows: [[String]], sheet: String = "export") -> WorkbookFixture {
        var fixture = WorkbookFixture()
        var xml = ""
        for (number, cells) in rows.enumerated() {
            xml += "<row r=\"\(number + 1)\">"
            for (column, text) in cells.enumerated() where !text.isEmpty {
                xml += "<c r=\"\(columnName(column))\(number + 1)\" t=\"s\"><v>\(fixture.string(text))</v></c>"
            }
            xml += "</row>"
        }
        fixture.sheets = [(sheet, xml, false)]
        return fixture
    }

    /// The index of `text` in the shared strings, added when new.
    mutating func string(_ text: String) -> Int {
        if let index = sharedStrings.firstIndex(of: text) { return index }
        sharedStrings.append(text)
        return sharedStrings.count - 1
    }

    static func columnName(_ index: Int) -> String {
        var name = ""
        var number = index + 1
        while number > 0 {
            let rest = (number - 1) % 26
            name = String(UnicodeScalar(UInt8(65 + rest))) + name
            number = (number - 1) / 26
        }
        return name
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "\r", with: "_x000D_")
    }

    var parts: [(String, String)] {
        let declaration = #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>"#
        var result: [(String, String)] = [
            ("[Content_Types].xml", declaration + #"<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#),
            ("_rels/.rels", declaration + #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="\#(Self.relationships)/officeDocument" Target="xl/workbook.xml"/></Relationships>"#),
        ]
        let sheetList = sheets.enumerated().map { index, sheet in
            "<sheet name=\"\(Self.escape(sheet.name))\" sheetId=\"\(index + 1)\" r:id=\"rId\(index + 1)\"\(sheet.hidden ? " state=\"hidden\"" : "")/>"
        }.joined()
        result.append((
            "xl/workbook.xml",
            declaration + "<workbook xmlns=\"\(Self.main)\" xmlns:r=\"\(Self.relationships)\">" + (uses1904 ? "<workbookPr date1904=\"1\"/>" : "")
                + "<sheets>\(sheetList)</sheets></workbook>"))
        var rels = sheets.indices.map { index in
            "<Relationship Id=\"rId\(index + 1)\" Type=\"\(Self.relationships)/worksheet\" Target=\"worksheets/sheet\(index + 1).xml\"/>"
        }.joined()
        rels += "<Relationship Id=\"rIdS\" Type=\"\(Self.relationships)/sharedStrings\" Target=\"/xl/sharedStrings.xml\"/>"
        rels += "<Relationship Id=\"rIdT\" Type=\"\(Self.relationships)/styles\" Target=\"styles.xml\"/>"
        result.append(("xl/_rels/workbook.xml.rels", declaration + #"<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">"# + rels + "</Relationships>"))
        for (index, sheet) in sheets.enumerated() {
            result.append(("xl/worksheets/sheet\(index + 1).xml", declaration + "<worksheet xmlns=\"\(Self.main)\"><sheetData>\(sheet.rows)</sheetData></worksheet>"))
        }
        result.append(("xl/styles.xml", declaration + "<styleSheet xmlns=\"\(Self.main)\">\(styles)</styleSheet>"))
        result.append((
            "xl/sharedStrings.xml",
            declaration + "<sst xmlns=\"\(Self.main)\">" + sharedStrings.map { "<si><t xml:space=\"preserve\">\(Self.escape($0))</t></si>" }.joined() + "</sst>"))
        return result
    }

    var bytes: [UInt8] { Self.zip(parts.map { ($0.0, Array($0.1.utf8)) }, zip64: zip64) }

    func write(to path: String) throws { try Fixtures.write(bytes, to: path) }

    /// A ZIP archive of stored entries; with `zip64`, sizes and offsets in ZIP64 extra fields and
    /// the ZIP64 end records, as writers do for large sheets.
    static func zip(_ entries: [(name: String, data: [UInt8])], zip64: Bool = false) -> [UInt8] {
        var archive: [UInt8] = []
        var directory: [UInt8] = []
        func u16(_ value: Int, _ out: inout [UInt8]) { out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF)] }
        func u32(_ value: Int, _ out: inout [UInt8]) { u16(value & 0xFFFF, &out); u16(value >> 16 & 0xFFFF, &out) }
        func u64(_ value: Int, _ out: inout [UInt8]) { u32(value & 0xFFFF_FFFF, &out); u32(value >> 32, &out) }
        for (name, data) in entries {
            let offset = archive.count
            let crc = crc32(data)
            let nameBytes = Array(name.utf8)
            u32(0x0403_4B50, &archive); u16(45, &archive); u16(0x800, &archive); u16(0, &archive); u32(0, &archive)
            u32(crc, &archive); u32(data.count, &archive); u32(data.count, &archive)
            u16(nameBytes.count, &archive); u16(0, &archive)
            archive += nameBytes + data
            var extra: [UInt8] = []
            if zip64 { u16(1, &extra); u16(24, &extra); u64(data.count, &extra); u64(data.count, &extra); u64(offset, &extra) }
            u32(0x0201_4B50, &directory); u16(45, &directory); u16(45, &directory); u16(0x800, &directory); u16(0, &directory); u32(0, &directory)
            u32(crc, &directory)
            u32(zip64 ? 0xFFFF_FFFF : data.count, &directory); u32(zip64 ? 0xFFFF_FFFF : data.count, &directory)
            u16(nameBytes.count, &directory); u16(extra.count, &directory); u16(0, &directory); u16(0, &directory); u16(0, &directory)
            u32(0, &directory); u32(zip64 ? 0xFFFF_FFFF : offset, &directory)
            directory += nameBytes + extra
        }
        let directoryOffset = archive.count
        archive += directory
        if zip64 {
            let recordOffset = archive.count
            u32(0x0606_4B50, &archive); u64(44, &archive); u16(45, &archive); u16(45, &archive); u32(0, &archive); u32(0, &archive)
            u64(entries.count, &archive); u64(entries.count, &archive); u64(directory.count, &archive); u64(directoryOffset, &archive)
            u32(0x0706_4B50, &archive); u32(0, &archive); u64(recordOffset, &archive); u32(1, &archive)
        }
        u32(0x0605_4B50, &archive); u16(0, &archive); u16(0, &archive)
        u16(zip64 ? 0xFFFF : entries.count, &archive); u16(zip64 ? 0xFFFF : entries.count, &archive)
        u32(zip64 ? 0xFFFF_FFFF : directory.count, &archive); u32(zip64 ? 0xFFFF_FFFF : directoryOffset, &archive); u16(0, &archive)
        return archive
    }

    static func crc32(_ data: [UInt8]) -> Int {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return Int(crc ^ 0xFFFF_FFFF)
    }
}
