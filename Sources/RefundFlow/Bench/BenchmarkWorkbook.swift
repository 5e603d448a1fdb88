import CZlib
import Foundation

extension BenchmarkData {
    /// The columns written as number cells (the others are text).
    static let numberColumns: Set<String> = ["买家实际支付金额", "买家退款金额", "退款数量", "商品单价"]
    /// Text columns whose values are new in (almost) every row: written to the shared-string
    /// table without looking them up, as a writer that keeps no table in memory would.
    static let uniqueColumns: Set<String> = ["订单编号", "退款编号", "支付宝交易号", "发货物流信息", "退货物流单号", "子订单编号"]

    /// Writes the rows of `writeTaobaoExport` as the seller center's modern export: an `.xlsx`
    /// workbook with the sheet `export`, text in the shared-string table (ids as text, without
    /// Excel's `="…"` guard), money and quantities as number cells (a bad amount such as `12,50`
    /// stays text), a line break in a cell as Excel's `_x000D_`, empty cells left out. The sheet
    /// and the table are deflated as they are written (zlib, level 1), so memory stays flat;
    /// ZIP64 records are written where a part passes 4 GiB.
    public static func writeTaobaoWorkbook(path: String, rows: Int) throws {
        let sheet = try DeflatedPart(path: path + ".sheet.part")
        let strings = try DeflatedPart(path: path + ".strings.part")
        defer {
            unlink(path + ".sheet.part")
            unlink(path + ".strings.part")
        }
        var known: [String: Int] = [:]
        var stringCount = 0
        var text: [UInt8] = []
        func shared(_ value: String, unique: Bool) throws -> Int {
            if !unique, let index = known[value] { return index }
            text.removeAll(keepingCapacity: true)
            text += Array("<si><t>".utf8)
            appendXMLText(value, to: &text)
            text += Array("</t></si>".utf8)
            try strings.write(text)
            if !unique { known[value] = stringCount }
            stringCount += 1
            return stringCount - 1
        }
        let columns = header.indices.map { Array(columnName($0).utf8) }
        let isNumber = header.map { numberColumns.contains($0) }
        let isUnique = header.map { uniqueColumns.contains($0) }
        try strings.write(Array(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#.utf8))
        try sheet.write(Array(#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#.utf8))
        var random = SplitMix64(seed: 20_241_121)
        var line: [UInt8] = []
        for row in 0...rows {
            line.removeAll(keepingCapacity: true)
            let number = Array(String(row + 1).utf8)
            line += Array("<row r=\"".utf8) + number + Array("\">".utf8)
            let fields = row == 0 ? header : taobaoRow(row - 1, random: &random)
            for (column, field) in fields.enumerated() where !field.isEmpty {
                var value = field
                if value.hasPrefix("=\""), value.hasSuffix("\"") { value = String(value.dropFirst(2).dropLast()) }
                line += Array("<c r=\"".utf8) + columns[column] + number
                if row > 0, isNumber[column], value.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }) {
                    line += Array("\"><v>".utf8) + Array(value.utf8) + Array("</v></c>".utf8)
                } else {
                    let index = try shared(value, unique: row > 0 && isUnique[column])
                    line += Array("\" t=\"s\"><v>".utf8) + Array(String(index).utf8) + Array("</v></c>".utf8)
                }
            }
            line += Array("</row>".utf8)
            try sheet.write(line)
        }
        try sheet.write(Array("</sheetData></worksheet>".utf8))
        try strings.write(Array("</sst>".utf8))
        try sheet.finish()
        try strings.finish()

        let main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
        let relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
        let package = "http://schemas.openxmlformats.org/package/2006/relationships"
        let small: [(String, String)] = [
            ("[Content_Types].xml", #"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#),
            ("_rels/.rels", "<Relationships xmlns=\"\(package)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>"),
            ("xl/workbook.xml", "<workbook xmlns=\"\(main)\" xmlns:r=\"\(relationships)\"><sheets><sheet name=\"export\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"),
            ("xl/_rels/workbook.xml.rels", "<Relationships xmlns=\"\(package)\"><Relationship Id=\"rId1\" Type=\"\(relationships)/worksheet\" Target=\"worksheets/sheet1.xml\"/><Relationship Id=\"rId2\" Type=\"\(relationships)/sharedStrings\" Target=\"sharedStrings.xml\"/></Relationships>"),
        ]
        var archive = ZipWriter(output: try BufferedOutput(path: path))
        for (name, content) in small { try archive.addStored(name, Array(content.utf8)) }
        try archive.addDeflated("xl/worksheets/sheet1.xml", sheet)
        try archive.addDeflated("xl/sharedStrings.xml", strings)
        try archive.finish()
    }

    /// `A`, `B`, … `AS`: a sheet column's letters.
    static func columnName(_ index: Int) -> String {
        var name = ""
        var number = index + 1
        while number > 0 {
            name = String(UnicodeScalar(UInt8(65 + (number - 1) % 26))) + name
            number = (number - 1) / 26
        }
        return name
    }

    /// Cell text as XML text, a carriage return as Excel's `_x000D_`.
    static func appendXMLText(_ value: String, to out: inout [UInt8]) {
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "&"): out += Array("&amp;".utf8)
            case UInt8(ascii: "<"): out += Array("&lt;".utf8)
            case UInt8(ascii: ">"): out += Array("&gt;".utf8)
            case 0x0D: out += Array("_x000D_".utf8)
            default: out.append(byte)
            }
        }
    }
}

/// One ZIP part deflated (raw deflate, level 1) into a temporary file as it is written, with
/// its CRC-32 and sizes.
final class DeflatedPart {
    let path: String
    private let output: BufferedOutput
    private var stream = z_stream()
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
    private(set) var crc: UInt32 = 0
    private(set) var size = 0
    private(set) var compressedSize = 0

    init(path: String) throws {
        self.path = path
        output = try BufferedOutput(path: path)
        guard deflateInit2_(&stream, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Diagnostic(code: "bench.zlib", message: "zlib could not start compressing")
        }
    }

    deinit {
        deflateEnd(&stream)
        buffer.deallocate()
    }

    func write(_ bytes: [UInt8]) throws {
        size += bytes.count
        try bytes.withUnsafeBufferPointer { input in
            crc = UInt32(crc32(uLong(crc), input.baseAddress, uInt(input.count)))
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            try pump(flush: Z_NO_FLUSH)
        }
    }

    func finish() throws {
        stream.next_in = nil
        stream.avail_in = 0
        try pump(flush: Z_FINISH)
        try output.flush()
    }

    private func pump(flush: Int32) throws {
        repeat {
            stream.next_out = buffer.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.avail_out = uInt(buffer.count)
            let status = deflate(&stream, flush)
            guard status != Z_STREAM_ERROR else { throw Diagnostic(code: "bench.zlib", message: "zlib failed compressing") }
            let produced = buffer.count - Int(stream.avail_out)
            if produced > 0 {
                try output.write(Array(buffer[0..<produced]))
                compressedSize += produced
            }
        } while stream.avail_out == 0 || (flush == Z_FINISH && stream.avail_in > 0)
    }
}

/// Writes a ZIP archive in order: stored or already deflated parts, then the directory (ZIP64
/// records for a part or an offset past 4 GiB).
struct ZipWriter {
    let output: BufferedOutput
    private var offset = 0
    private var directory: [UInt8] = []
    private var count = 0

    init(output: BufferedOutput) { self.output = output }

    mutating func addStored(_ name: String, _ data: [UInt8]) throws {
        let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        let output = output
        try add(name, method: 0, crc: crc, size: data.count, compressedSize: data.count) { try output.write(data) }
    }

    mutating func addDeflated(_ name: String, _ part: DeflatedPart) throws {
        let output = output
        try add(name, method: 8, crc: part.crc, size: part.size, compressedSize: part.compressedSize) {
            let input = try FileHandle(forReadingFrom: URL(fileURLWithPath: part.path))
            defer { try? input.close() }
            while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty { try output.write(Array(chunk)) }
        }
    }

    private mutating func add(_ name: String, method: Int, crc: UInt32, size: Int, compressedSize: Int, data: () throws -> Void) throws {
        let name = Array(name.utf8)
        let large = size >= 0xFFFF_FFFF || compressedSize >= 0xFFFF_FFFF || offset >= 0xFFFF_FFFF
        var local: [UInt8] = []
        Self.put(0x0403_4B50, 4, &local); Self.put(45, 2, &local); Self.put(0x800, 2, &local); Self.put(method, 2, &local)
        Self.put(0, 4, &local); Self.put(Int(crc), 4, &local)
        Self.put(large ? 0xFFFF_FFFF : compressedSize, 4, &local); Self.put(large ? 0xFFFF_FFFF : size, 4, &local)
        Self.put(name.count, 2, &local); Self.put(large ? 20 : 0, 2, &local)
        local += name
        if large { Self.put(1, 2, &local); Self.put(16, 2, &local); Self.put(size, 8, &local); Self.put(compressedSize, 8, &local) }
        try output.write(local)
        try data()
        var entry: [UInt8] = []
        Self.put(0x0201_4B50, 4, &entry); Self.put(45, 2, &entry); Self.put(45, 2, &entry); Self.put(0x800, 2, &entry)
        Self.put(method, 2, &entry); Self.put(0, 4, &entry); Self.put(Int(crc), 4, &entry)
        Self.put(large ? 0xFFFF_FFFF : compressedSize, 4, &entry); Self.put(large ? 0xFFFF_FFFF : size, 4, &entry)
        Self.put(name.count, 2, &entry); Self.put(large ? 28 : 0, 2, &entry); Self.put(0, 2, &entry); Self.put(0, 2, &entry)
        Self.put(0, 2, &entry); Self.put(0, 4, &entry); Self.put(large ? 0xFFFF_FFFF : offset, 4, &entry)
        entry += name
        if large { Self.put(1, 2, &entry); Self.put(24, 2, &entry); Self.put(size, 8, &entry); Self.put(compressedSize, 8, &entry); Self.put(offset, 8, &entry) }
        directory += entry
        offset += local.count + compressedSize
        count += 1
    }

    func finish() throws {
        var end: [UInt8] = []
        let large = offset >= 0xFFFF_FFFF
        if large {
            Self.put(0x0606_4B50, 4, &end); Self.put(44, 8, &end); Self.put(45, 2, &end); Self.put(45, 2, &end); Self.put(0, 4, &end)
            Self.put(0, 4, &end); Self.put(count, 8, &end); Self.put(count, 8, &end); Self.put(directory.count, 8, &end); Self.put(offset, 8, &end)
            Self.put(0x0706_4B50, 4, &end); Self.put(0, 4, &end); Self.put(offset + directory.count, 8, &end); Self.put(1, 4, &end)
        }
        Self.put(0x0605_4B50, 4, &end); Self.put(0, 2, &end); Self.put(0, 2, &end); Self.put(count, 2, &end); Self.put(count, 2, &end)
        Self.put(directory.count, 4, &end); Self.put(large ? 0xFFFF_FFFF : offset, 4, &end); Self.put(0, 2, &end)
        try output.write(directory)
        try output.write(end)
        try output.flush()
    }

    /// `value` as `bytes` little-endian bytes.
    static func put(_ value: Int, _ bytes: Int, _ out: inout [UInt8]) {
        for index in 0..<bytes { out.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }
}
