import CZlib
import Synchronization
import Crypto

/// An input file as the user named it.
public struct InputFile: Sendable, Hashable {
    /// Path as typed on the command line (used in diagnostics).
    public var path: String
    /// Counts the bytes read, for a progress display (shared by a run's files).
    var progress: ByteCounter?

    public init(path: String) { self.path = path }

    init(path: String, progress: ByteCounter?) {
        self.path = path
        self.progress = progress
    }

    public static func == (a: InputFile, b: InputFile) -> Bool { a.path == b.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}

/// Bytes read so far by a run's readers, read from another thread by the progress display.
public final class ByteCounter: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    func add(_ count: Int) { value.add(count, ordering: .relaxed) }

    public var bytes: Int { value.load(ordering: .relaxed) }
}

/// A problem the reader found in one record's structure or bytes: the record is rejected,
/// never dropped.
public struct RowProblem: Sendable, Hashable {
    public var code: RowErrorCode
    public var message: String
    /// Source field name, when the problem is in one field.
    public var sourceField: String?
    public var location: SourceLocation

    public init(code: RowErrorCode, message: String, sourceField: String?, location: SourceLocation) {
        self.code = code
        self.message = message
        self.sourceField = sourceField
        self.location = location
    }
}

/// One source record, valid only during the reader's callback.
///
/// Field values are addressed by *slot*: the position of a source field name in the list the
/// pipeline asked for. Values are UTF-8 bytes after decoding; `nil` means the field is absent.
public protocol SourceRow {
    var origin: RecordOrigin { get }
    /// Structural or encoding problems; a row with any is rejected as a whole.
    var problems: [RowProblem] { get }
    /// Whether `problems` is non-empty (checked for every row, so it must be cheap).
    var hasProblems: Bool { get }
    /// The decoded bytes of a slot, or `nil` when the record has no such field.
    func withValue<R>(slot: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R
    /// Where a slot's value starts, for diagnostics.
    func location(slot: Int) -> SourceLocation
    /// Every source field as read, in source order, for the reject file. Undecodable bytes are
    /// written as U+FFFD here *and* the row carries an `encoding` problem plus `rawBytes`.
    func rawFields() -> [(name: String, value: String)]
    /// The record's exact source bytes, when the reader can give them: a CSV row with its line
    /// end, a JSON Lines line, a JSON record object; an XML record element as libxml2 writes it.
    func rawBytes() -> [UInt8]?
    /// How a file of rejected records in the input's own format is put together, for writing
    /// the record back (`rawBytes`) to fix and run again with the same pipeline; nil when the
    /// reader cannot (the record is in `rejects.jsonl` only).
    func refeedFormat() -> RefeedFormat?
    /// Whether some slot's path holds a list or nested fields instead of one value (cheap: asked
    /// for every row the general mapping path sees).
    var holdsContainers: Bool { get }
    /// The first field inside a slot's path when the record has a list or nested fields there
    /// (JSON `"refund_fee": [1]` or `{…}`, XML `<sku><id>…</id></sku>`) and no value of its own.
    func containerInside(slot: Int) -> SourceContainer?
}

extension SourceRow {
    public func refeedFormat() -> RefeedFormat? { nil }
    public var holdsContainers: Bool { false }
    public func containerInside(slot: Int) -> SourceContainer? { nil }
}

/// A list or nested fields where a pipeline reads one value, shown by the first field inside it.
public struct SourceContainer: Sendable, Hashable {
    /// The inner field's path (`refund_fee/0`, `sku/id`) and value.
    public var innerPath: String
    public var innerValue: String
    public var location: SourceLocation

    /// Whether the path `name` holds a list: the inner path goes on from it with an index.
    public func isList(under name: String) -> Bool {
        let next = innerPath.dropFirst(name.count + 1).prefix { $0 != "/" }
        return !next.isEmpty && next.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}

/// How a re-feed file is put together: `lead` once (a CSV's byte-order mark and the lines a
/// pipeline's `skipLines` drops, a JSON array's `[`, an XML document's declaration and the
/// elements down to the records), `header` before the first record and again where it changes
/// (the CSV header line in effect), `separator` between records (`,` in a JSON array), and
/// `trailer` once at the end (`]`, the closing elements).
public struct RefeedFormat: Sendable, Hashable {
    public var lead: [UInt8]
    public var header: [UInt8] = []
    public var separator: [UInt8] = []
    public var trailer: [UInt8] = []
    /// Each record ends a line (CSV rows, JSON Lines): one whose input had no line end gets one.
    public var endsLines = true
    /// The re-feed file's extension when it is not the input's (`csv` for an `.xlsx` sheet's rows).
    public var fileExtension: String?

    /// JSON Lines: each record a line as it is.
    static let jsonLines = RefeedFormat(lead: [])
    /// A JSON array of the record objects, which a JSON pipeline reads as records.
    static let jsonArray = RefeedFormat(lead: Array("[\n".utf8), separator: Array(",\n".utf8), trailer: Array("\n]\n".utf8), endsLines: false)

    /// A response document with the record objects in a list at `recordPath`
    /// (`{"a":{"b":{"c":[…]}}}`): read where they were read, inside a response, so a record that
    /// looks like a response itself stays a record.
    static func jsonDocument(recordPath: [String]) -> RefeedFormat {
        let keys = recordPath.map { name in
            "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\":"
        }
        return RefeedFormat(
            lead: Array((keys.map { "{" + $0 }.joined() + "[\n").utf8), separator: Array(",\n".utf8),
            trailer: Array(("\n]" + String(repeating: "}", count: recordPath.count) + "\n").utf8), endsLines: false)
    }
}

/// What a reader learned about the file's shape before the first record.
public struct SourceShape: Sendable {
    /// Field names the file offers (CSV header), or `nil` when the format has no fixed header.
    public var availableFields: [String]?
    /// Where the header sits, for diagnostics about missing columns.
    public var location: SourceLocation?
}

/// Receives a reader's output. The run's processing stage implements it.
public protocol RecordSink {
    /// Called once per file before any record; may throw to stop (e.g. a required column is missing).
    mutating func begin(file: InputFile, shape: SourceShape) throws
    mutating func consume(_ row: some SourceRow) throws
}

/// Totals of one read, for the report.
public struct ReadSummary: Sendable, Hashable {
    public var file: InputFile
    public var bytes: Int = 0
    public var sha256: String = ""
    /// Records delivered to the sink (good and bad).
    public var records: Int = 0
    /// Lines with no content (empty; in CSV also only delimiters and spaces), which carry no record.
    public var blankLines: Int = 0
    /// The encoding actually used (with `auto`, what was detected and why).
    public var encoding: String = ""
    /// Set when the file ended inside a record or was cut short; the run says so plainly.
    public var truncated: String?
    /// Things worth telling a person about the file (e.g. a response with no records).
    public var notes: [String] = []
    /// What the file's API responses say of the query's size (`total_results`, `has_next`),
    /// checked over the whole run: pages may be in files of their own.
    public var paging = ResponsePaging()

    public init(file: InputFile) { self.file = file }
}

/// Stage 1: turns a file into source rows, streaming, in file order.
public protocol RecordReader: Sendable {
    /// Reads `file`, calling the sink once per record. Memory stays flat with file size.
    /// Throws only when the file as a whole is unusable (cannot be opened, bad header).
    /// - Parameter fieldNames: the source fields the pipeline needs, in slot order.
    func read(_ file: InputFile, fieldNames: [String], into sink: inout some RecordSink) throws -> ReadSummary
}

/// Reads a file in large chunks with POSIX I/O, hashing every byte on the way (on another
/// thread: `BackgroundSHA256`).
///
/// With `decompresses`, a gzip file (an archived `refunds.csv.gz`, several members joined with
/// `cat` too) is handed out decompressed. With `convertsUTF16`, a file that starts with a UTF-16
/// byte-order mark (Excel's "Unicode Text") is handed out converted to UTF-8, without the mark.
/// With `opensWorkbooks`, an Excel `.xlsx` workbook is handed out as the CSV text of its sheet
/// (`WorkbookSheet`; the file is hashed whole first, as the workbook is read from its end).
/// Size and sha256 stay those of the file's own bytes.
struct ChunkedFile: ~Copyable {
    private let descriptor: Int32
    private let hasher = BackgroundSHA256()
    private(set) var bytesRead = 0
    /// Bytes given to the reader: `bytesRead` unless the file is decompressed or converted.
    private(set) var bytesHandedOut = 0
    let path: String
    private let progress: ByteCounter?
    private let decompresses: Bool
    private let convertsUTF16: Bool
    private var checkedStart = false
    private var gzip: GzipInflater?
    private var utf16: UTF16Converter?
    private let opensWorkbooks: Bool
    private let sheet: String?
    /// The workbook whose sheet is handed out as CSV, when the file is one.
    private(set) var workbook: WorkbookSheet?
    /// A workbook that came through a pipe, copied to a file to be read from its end.
    private var spooled: SpillFile?
    /// The file's first bytes, read to look at them, served before the next ones.
    private var pending: [UInt8] = []
    private var pendingServed = 0

    init(_ file: InputFile, decompresses: Bool = false, convertsUTF16: Bool = false, opensWorkbooks: Bool = false, sheet: String? = nil) throws(Diagnostic) {
        try self.init(
            path: file.path, progress: file.progress, decompresses: decompresses, convertsUTF16: convertsUTF16, opensWorkbooks: opensWorkbooks,
            sheet: sheet)
    }

    /// `UTF-16LE` or `UTF-16BE` when the file is converted from UTF-16 (known after the first read).
    var convertedFrom: String? { utf16?.name }
    /// Whether the file is gzip and handed out decompressed (known after the first read).
    var isCompressed: Bool { gzip != nil }

    init(
        path: String, progress: ByteCounter? = nil, decompresses: Bool = false, convertsUTF16: Bool = false, opensWorkbooks: Bool = false,
        sheet: String? = nil
    ) throws(Diagnostic) {
        self.path = path
        self.progress = progress
        self.decompresses = decompresses
        self.convertsUTF16 = convertsUTF16
        self.opensWorkbooks = opensWorkbooks
        self.sheet = sheet
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw Diagnostic(
                code: "input.unreadable", message: "cannot open input '\(path)': \(reason)",
                notes: ["check the path given to --input"])
        }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Reads up to `destination.count` bytes into `destination`; returns how many (0 at end of file).
    mutating func read(into destination: UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int {
        guard destination.count > 0 else { return 0 }
        if !checkedStart { try lookAtTheStart() }
        let count: Int
        if let workbook {
            count = try workbook.read(into: destination)
        } else if let utf16 {
            count = try utf16.read(into: destination) { (space) throws(Diagnostic) -> Int in try readPlain(into: space) }
        } else {
            count = try readPlain(into: destination)
        }
        bytesHandedOut += count
        return count
    }

    /// gzip by its magic bytes, then UTF-16 by its byte-order mark (in the decompressed bytes).
    private mutating func lookAtTheStart() throws(Diagnostic) {
        checkedStart = true
        if decompresses {
            let head = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { head.deallocate() }
            var count = 0
            while count < 2 {  // a pipe may give one byte at a time
                let got = try readFile(into: UnsafeMutableRawBufferPointer(rebasing: head[count...]))
                if got == 0 { break }
                count += got
            }
            pending = Array(head[0..<count])
            if count >= 2, pending[0] == 0x1F, pending[1] == 0x8B { gzip = try GzipInflater(path: path) }
            if opensWorkbooks, let name = StartOfInput.zipFirstName(pending), StartOfInput.isWorkbookPart(name) {
                try openWorkbook()
                if workbook != nil { return }
            }
        }
        if convertsUTF16 {
            let converter = UTF16Converter(path: path)
            var count = 0
            while count < 2 {
                let got = try readPlain(into: UnsafeMutableRawBufferPointer(rebasing: converter.rawSpace[count...]))
                if got == 0 { break }
                count += got
            }
            if count >= 2, let name = UTF16Converter.byteOrder(converter.rawSpace[0], converter.rawSpace[1]) {
                try converter.start(name, received: count, decompressed: gzip != nil)
            } else {
                converter.passThrough(count: count)
            }
            utf16 = converter
        }
    }

    /// Opens the workbook this ZIP archive is (its first part says so), after hashing the whole
    /// file: the workbook is read from its end, out of order. One that comes through a pipe
    /// (standard input) is first copied to an unlinked temporary file.
    private mutating func openWorkbook() throws(Diagnostic) {
        var info = stat()
        let isFile = fstat(descriptor, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { scratch.deallocate() }
        if !isFile {
            let copy = try SpillFile(purpose: "the workbook given through a pipe", room: "the workbook's size")
            try copy.write(pending)
            while case let count = try readFile(into: scratch, counts: true), count > 0 { try copy.write(Array(scratch[0..<count])) }
            spooled = copy
        }
        let opened = try WorkbookSheet.open(
            descriptor: spooled?.fileDescriptor ?? descriptor, size: spooled?.size ?? Int(info.st_size), path: path, sheet: sheet,
            progress: isFile ? progress : nil)
        guard let opened else {
            // A ZIP archive that is no workbook: refused as an archive (from its first bytes).
            spooled = nil
            return
        }
        if isFile { while try readFile(into: scratch, counts: false) > 0 {} }
        pending = []
        pendingServed = 0
        workbook = opened
    }

    /// The file's bytes, decompressed when it is gzip.
    private mutating func readPlain(into destination: UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int {
        if let gzip {
            return try gzip.read(into: destination) { (space) throws(Diagnostic) -> Int in try readRaw(into: space) }
        }
        return try readRaw(into: destination)
    }

    /// The file's own bytes: first those read to look at the start.
    private mutating func readRaw(into destination: UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int {
        guard pendingServed < pending.count else { return try readFile(into: destination) }
        let count = min(destination.count, pending.count - pendingServed)
        pending.withUnsafeBytes { destination.baseAddress!.copyMemory(from: $0.baseAddress! + pendingServed, byteCount: count) }
        pendingServed += count
        if pendingServed == pending.count {
            pending = []
            pendingServed = 0
        }
        return count
    }

    /// The file's own bytes, hashed and counted (for the progress display too, unless not `counts`).
    private mutating func readFile(into destination: UnsafeMutableRawBufferPointer, counts: Bool = true) throws(Diagnostic) -> Int {
        guard destination.count > 0 else { return 0 }
        while true {
            let result = systemRead(descriptor, destination.baseAddress!, destination.count)
            if result < 0 && errno == EINTR { continue }
            guard result >= 0 else {
                let reason = String(cString: strerror(errno))
                throw Diagnostic(code: "input.unreadable", message: "cannot read input '\(path)': \(reason)")
            }
            if result > 0 {
                hasher.update(UnsafeRawBufferPointer(rebasing: destination[0..<result]))
                bytesRead += result
                if counts { progress?.add(result) }
            }
            return result
        }
    }

    /// SHA-256 of every byte read so far, in lowercase hex.
    var hexDigest: String { lowercaseHex(hasher.finalize()) }
}

/// UTF-16 (after its byte-order mark) to UTF-8 through iconv, for `ChunkedFile`. Strict: a
/// lone surrogate or an odd last byte stops the read with the file offset; nothing is replaced.
/// Also serves, unconverted, the first bytes of a file that turned out not to be UTF-16.
final class UTF16Converter {
    private(set) var name: String?
    private let path: String
    private var converter: iconv_t?
    /// File bytes waiting to be converted: `raw[rawStart..<rawEnd]`; `rawOffset` is the file
    /// offset of `raw[rawStart]`.
    private let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var rawStart = 0
    private var rawEnd = 0
    private var rawOffset = 0
    /// Converted bytes not yet handed out: `out[outStart..<outEnd]`.
    private let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 160 << 10, alignment: 16)
    private var outStart = 0
    private var outEnd = 0
    private var rawEnded = false
    /// The line of the next character to convert.
    private var line = 1

    init(path: String) { self.path = path }

    deinit {
        if let converter { iconv_close(converter) }
        raw.deallocate()
        out.deallocate()
    }

    /// Where the first read of the file goes.
    var rawSpace: UnsafeMutableRawBufferPointer { raw }

    static func byteOrder(_ first: UInt8, _ second: UInt8) -> String? {
        switch (first, second) {
        case (0xFF, 0xFE): return "UTF-16LE"
        case (0xFE, 0xFF): return "UTF-16BE"
        default: return nil
        }
    }

    /// The first read held `received` bytes of UTF-16 in `rawSpace`, the mark first.
    /// "file byte offset", or "decompressed byte offset" when the UTF-16 came out of gzip.
    private var offsetName = "file byte offset"

    func start(_ name: String, received: Int, decompressed: Bool = false) throws(Diagnostic) {
        if decompressed { offsetName = "decompressed byte offset" }
        let handle = iconv_open("UTF-8", name)
        guard handle != iconv_t(bitPattern: -1), let handle else {
            throw Diagnostic(
                code: "input.encoding_unavailable", message: "this system's iconv cannot decode '\(name)'",
                notes: ["convert the file to UTF-8: iconv -f UTF-16 -t UTF-8"])
        }
        self.name = name
        converter = handle
        rawStart = 2
        rawEnd = received
        rawOffset = 2
    }

    /// Not UTF-16: serves the first `count` bytes of `rawSpace` as they are, then the file's.
    func passThrough(count: Int) {
        out.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: count)
        outStart = 0
        outEnd = count
    }

    /// Hands out converted bytes, reading the file through `readRaw` as needed.
    func read(
        into destination: UnsafeMutableRawBufferPointer, readRaw: (UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int
    ) throws(Diagnostic) -> Int {
        while outStart == outEnd {
            guard let converter else { return try readRaw(destination) }  // passing through: done
            var needMore = rawStart == rawEnd
            if !needMore {
                var input: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(OpaquePointer(raw.baseAddress! + rawStart))
                var inputLeft = rawEnd - rawStart
                var output: UnsafeMutablePointer<CChar>? = UnsafeMutablePointer(OpaquePointer(out.baseAddress!))
                var outputLeft = out.count
                let result = iconv(converter, &input, &inputLeft, &output, &outputLeft)
                let consumed = (rawEnd - rawStart) - inputLeft
                rawStart += consumed
                rawOffset += consumed
                let failure = result == -1 ? errno : 0
                outStart = 0
                outEnd = out.count - outputLeft
                // Lines so far, to say where a bad character is.
                line += UnsafeRawBufferPointer(rebasing: out[0..<outEnd]).reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
                if failure == EILSEQ {
                    throw Diagnostic(
                        code: "input.encoding", message: "'\(path)' is not valid \(name ?? "UTF-16") at \(offsetName) \(rawOffset)",
                        location: SourceLocation(file: path, line: line),
                        notes: ["the file was read as UTF-16 by its byte-order mark; save it again from Excel as 'CSV UTF-8 (comma delimited)'"])
                }
                needMore = failure == EINVAL  // a character cut by the end of what was read
            }
            if outStart < outEnd { break }
            if needMore || rawStart == rawEnd {
                if rawEnded {
                    guard rawStart == rawEnd else {
                        throw Diagnostic(
                            code: "input.encoding", message: "'\(path)' ends inside a \(name ?? "UTF-16") character (\(offsetName) \(rawOffset))",
                            location: SourceLocation(file: path, line: line),
                            notes: ["the file was cut short; export it again"])
                    }
                    return 0
                }
                let kept = rawEnd - rawStart
                if rawStart > 0, kept > 0 { raw.baseAddress!.copyMemory(from: raw.baseAddress! + rawStart, byteCount: kept) }
                rawStart = 0
                rawEnd = kept
                let count = try readRaw(UnsafeMutableRawBufferPointer(rebasing: raw[rawEnd...]))
                if count == 0 { rawEnded = true }
                rawEnd += count
            }
        }
        let count = min(destination.count, outEnd - outStart)
        destination.baseAddress!.copyMemory(from: out.baseAddress! + outStart, byteCount: count)
        outStart += count
        return count
    }
}


#if canImport(Glibc)
    import Glibc
    @inline(__always) private func systemRead(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        Glibc.read(fd, pointer, count)
    }
#elseif canImport(Darwin)
    import Darwin
    @inline(__always) private func systemRead(_ fd: Int32, _ pointer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        Darwin.read(fd, pointer, count)
    }
#endif

/// A sliding window over an input file, shared by the streaming readers: the bytes not yet
/// consumed sit in `buffer[start..<end]`. It refills in chunks and grows only for a record that
/// does not fit, up to a limit, so memory stays flat with file size.
struct InputWindow: ~Copyable {
    private(set) var buffer: UnsafeMutableRawBufferPointer
    /// The first byte not yet consumed; readers move it forward.
    var start = 0
    private(set) var end = 0
    private(set) var endOfInput = false
    private var file: ChunkedFile
    let maxBytes: Int

    init(file: consuming ChunkedFile, chunkSize: Int, maxBytes: Int) {
        self.file = file
        self.maxBytes = maxBytes
        buffer = .allocate(byteCount: max(4, min(chunkSize, maxBytes)), alignment: 16)
    }

    deinit { buffer.deallocate() }

    var bytesRead: Int { file.bytesRead }
    var hexDigest: String { file.hexDigest }
    /// `UTF-16LE`/`UTF-16BE` when the file is handed out converted to UTF-8.
    var convertedFrom: String? { file.convertedFrom }
    /// Whether the file is gzip, handed out decompressed.
    var isCompressed: Bool { file.isCompressed }
    /// The workbook whose sheet is handed out as CSV, when the file is an `.xlsx`.
    var workbook: WorkbookSheet? { file.workbook }
    /// Bytes the reader has been given (decompressed or converted ones when the file is).
    var bytesHandedOut: Int { file.bytesHandedOut }

    /// Reads more input. First moves the unconsumed bytes (from `start`) to the front — the
    /// returned `shift` is how far they moved, for callers to rebase their own offsets — then
    /// grows a full buffer up to `maxBytes`; past that it throws what `tooLarge` makes.
    /// `more` is false at the end of the input.
    mutating func refill(tooLarge: () -> Diagnostic) throws -> (shift: Int, more: Bool) {
        if endOfInput { return (0, false) }
        let shift = start
        if shift > 0 {
            let live = end - shift
            if live > 0 { memmove(buffer.baseAddress!, buffer.baseAddress! + shift, live) }
            start = 0
            end = live
        }
        if end == buffer.count {
            guard buffer.count < maxBytes else { throw tooLarge() }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, maxBytes), alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
            buffer.deallocate()
            buffer = bigger
        }
        let got = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
        if got == 0 {
            endOfInput = true
            return (shift, false)
        }
        end += got
        return (shift, true)
    }

    /// Consumes the rest of the file so that size and sha256 cover all of it.
    mutating func drain() throws {
        start = end
        while try refill(tooLarge: { Diagnostic(code: "input.unreadable", message: "unreachable") }).more { start = end }
    }
}

/// gzip to plain bytes through zlib's streaming inflate, for `ChunkedFile`: memory stays flat.
/// Members joined with `cat` are read one after another. A corrupt stream, or a file that ends
/// inside one (a cut download), stops the read with the compressed byte offset.
final class GzipInflater {
    private var stream = z_stream()
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    private var inputEnded = false
    private var inMember = true
    /// Compressed bytes consumed so far (the file offset of the next one).
    private var consumed = 0
    private let path: String

    init(path: String) throws(Diagnostic) {
        self.path = path
        // 15 + 16: a 32 KiB window, gzip header and trailer (CRC-32 and size are checked).
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            // Fully initialized: deinit runs and frees `input` (inflateEnd of a stream that never
            // started does nothing).
            throw Diagnostic(code: "input.gzip", message: "zlib could not start decompressing '\(path)'")
        }
    }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    /// Decompressed bytes into `destination`, reading the file through `readRaw`; 0 at the end.
    func read(
        into destination: UnsafeMutableRawBufferPointer, readRaw: (UnsafeMutableRawBufferPointer) throws(Diagnostic) -> Int
    ) throws(Diagnostic) -> Int {
        let room = UInt32(min(destination.count, Int(UInt32.max)))
        stream.next_out = destination.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = room
        while stream.avail_out == room {
            if stream.avail_in == 0 {
                if inputEnded {
                    guard !inMember else {
                        throw Diagnostic(
                            code: "input.gzip", message: "'\(path)' ends inside its gzip stream (after \(consumed) compressed bytes)",
                            location: SourceLocation(file: path, line: 0),
                            notes: ["the file was cut short (an interrupted download or copy); fetch it again"])
                    }
                    return 0
                }
                let count = try readRaw(input)
                if count == 0 {
                    inputEnded = true
                    continue
                }
                stream.next_in = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.avail_in = UInt32(count)
            }
            if !inMember {
                // More bytes after a member: the next member of a joined file (or not gzip: an error below).
                inflateReset(&stream)
                inMember = true
            }
            let before = stream.avail_in
            let status = inflate(&stream, Z_NO_FLUSH)
            consumed += Int(before - stream.avail_in)
            switch status {
            case Z_STREAM_END: inMember = false
            case Z_OK, Z_BUF_ERROR: break
            default:
                let reason = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw Diagnostic(
                    code: "input.gzip", message: "'\(path)' is not valid gzip at compressed byte \(consumed): \(reason)",
                    location: SourceLocation(file: path, line: 0),
                    notes: ["check the file with 'gzip -t'; fetch or compress it again"])
            }
        }
        return Int(room - stream.avail_out)
    }
}

extension Diagnostic {
    /// A file of 0 bytes where a format always writes something (a CSV header, an XML or JSON
    /// document): a failed or unfinished export, not a day without refunds.
    static func emptyInput(_ path: String, format: String) -> Diagnostic {
        Diagnostic(
            code: "input.empty", message: "'\(path)' is empty (0 bytes)",
            location: SourceLocation(file: path, line: 1),
            notes: ["an export with no refunds still has \(format); this file was most likely not written completely: export it again"])
    }
}

/// What the first line of a file looks like, to refuse a file given to the wrong kind of reader
/// with a message that names what it is, not a parse error from its first byte.
enum StartOfInput {
    /// "XML", "JSON" or "CSV" by the first line (after a UTF-8 BOM and spaces); nil when unsure.
    /// XML starts with `<?`, `<!` or `<` and a letter; JSON with `{` and then `"` or `}`, or `[` and
    /// then a value or `]` (so that a title line such as `[淘宝] 退款导出` is not JSON).
    static func format(_ firstLine: [UInt8]) -> String? {
        var bytes = firstLine[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0D }
        bytes = bytes.drop(while: isSpace)
        guard let first = bytes.first else { return nil }
        let next = bytes.dropFirst().drop(while: isSpace).first
        func isLetter(_ byte: UInt8?) -> Bool { byte.map { (0x61...0x7A).contains($0 | 0x20) } ?? false }
        switch first {
        case UInt8(ascii: "<") where next == UInt8(ascii: "?") || next == UInt8(ascii: "!") || isLetter(next):
            // An HTML table that a seller center or a script saved as `.xls`.
            let tag = Array(bytes.dropFirst().prefix(15)).map { $0 | 0x20 }  // lowercase enough to compare letters
            let isHTML = ["html", "!doctype html", "table", "head", "meta", "body"].contains { name in
                tag.starts(with: name.utf8) && (tag.count == name.utf8.count || !isLetter(tag[name.utf8.count]))
            }
            return isHTML ? "HTML" : "XML"
        case UInt8(ascii: "{") where next == nil || next == UInt8(ascii: "\"") || next == UInt8(ascii: "}"):
            return "JSON"
        case UInt8(ascii: "{") where next == UInt8(ascii: "'"):
            return "Python"  // a dict written with str() or print: single quotes, True, None
        case UInt8(ascii: "[") where next == nil || "{[\"]-0123456789tfn".utf8.contains(next!):
            return "JSON"
        default:
            // A line holding `{"` or `":` is JSON whose start broke (a JSON Lines file's first
            // line cut or mangled, or a re-feed file of such lines), not CSV: the reader rejects
            // that line and reads the others. (In CSV a closing quote is followed by a delimiter.)
            if bytes.indices.dropLast().contains(where: {
                (bytes[$0] == UInt8(ascii: "{") && bytes[$0 + 1] == UInt8(ascii: "\"")) || (bytes[$0] == UInt8(ascii: "\"") && bytes[$0 + 1] == UInt8(ascii: ":"))
            }) { return nil }
            return bytes.contains { $0 == UInt8(ascii: ",") || $0 == 0x09 || $0 == UInt8(ascii: ";") } ? "CSV" : nil
        }
    }

    /// A line as text for a message: UTF-8 when it is, else read as GB18030.
    static func text(_ bytes: [UInt8], gb18030: inout FieldDecoder?) -> String {
        var text = String(validating: bytes, as: UTF8.self)
        if text == nil, gb18030 == nil { gb18030 = try? FieldDecoder(.gb18030) }
        if text == nil, let decoder = gb18030 {
            var out: [UInt8] = []
            if bytes.withUnsafeBufferPointer({ decoder.decode($0, into: &out) }) == nil {
                text = String(decoding: out, as: UTF8.self)
            }
        }
        return text ?? String(decoding: bytes, as: UTF8.self)
    }

    /// A file that is no text at all, by its first bytes: an Excel workbook (`input.workbook`), or
    /// an archive or a PDF (`input.archive`), with what to do. A ZIP archive is told from an
    /// `.xlsx` (also a ZIP) by its first file's name, when the bytes given reach it.
    static func binaryRefusal(path: String, firstBytes bytes: some Collection<UInt8>, expected: String) -> Diagnostic? {
        let head = Array(bytes.prefix(1024))
        let location = SourceLocation(file: path, line: 1)
        let csvPipeline = "give it to a CSV pipeline, which reads an .xlsx workbook's sheet as it is"
        func workbook(_ kind: String) -> Diagnostic {
            // The CSV reader reads an .xlsx itself (`WorkbookSheet`), so it refuses only one that
            // holds no workbook; the old binary .xls it cannot read.
            let note =
                switch (kind, expected) {
                case (".xlsx", "CSV"): "it holds no workbook part (xl/workbook.xml): open it in Excel and save it again, or export it again"
                case (".xlsx", _): csvPipeline
                default: "in Excel, save it as an .xlsx workbook or as 'CSV UTF-8 (comma delimited)'" + (expected == "CSV" ? "" : ", and give that to a CSV pipeline")
                }
            return Diagnostic(
                code: "input.workbook", message: "'\(path)' is an Excel workbook (\(kind)), not a\(expected == "XML" ? "n" : "") \(expected) file",
                location: location, notes: [note])
        }
        func archive(_ kind: String, _ inside: String, _ how: String) -> Diagnostic {
            Diagnostic(
                code: "input.archive", message: "'\(path)' is \(kind)\(inside), not a\(expected == "XML" ? "n" : "") \(expected) file",
                location: location, notes: [how])
        }
        if head.starts(with: [0xD0, 0xCF, 0x11, 0xE0]) { return workbook(".xls") }
        if head.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            guard let name = zipFirstName(head) else {
                return archive("a ZIP archive", " (an Excel .xlsx workbook is one too)", "unzip it and run on the file inside" + (expected == "CSV" ? "" : "; a workbook: " + csvPipeline))
            }
            if isWorkbookPart(name) { return workbook(".xlsx") }
            return archive(
                "a ZIP archive", " (its first file is '\(name)')",
                "unzip it and run on the file inside (unzip -O GBK keeps the Chinese names of an archive made on Windows)")
        }
        if head.starts(with: Array("Rar!".utf8)) { return archive("a RAR archive", "", "extract it and run on the file inside") }
        if head.starts(with: [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) { return archive("a 7-Zip archive", "", "extract it and run on the file inside") }
        if head.starts(with: Array("%PDF-".utf8)) {
            return archive("a PDF document", "", "export the refunds from the seller center as CSV (or fetch them from the API) instead")
        }
        return nil
    }

    /// The name of a ZIP archive's first file, from its local file header (name length at 26, the
    /// name at 30; UTF-8, or GBK as Chinese Windows tools write it: shown as UTF-8 when it is one,
    /// else as GB18030); nil when `head` is no ZIP archive or does not reach the name.
    static func zipFirstName(_ head: [UInt8]) -> String? {
        guard head.starts(with: [0x50, 0x4B, 0x03, 0x04]), head.count >= 30,
            case let length = Int(head[26]) | Int(head[27]) << 8, length > 0, head.count >= 30 + length
        else { return nil }
        var gb18030: FieldDecoder?
        return text(Array(head[30..<(30 + length)]), gb18030: &gb18030)
    }

    /// Whether a ZIP archive's first file is a part of an Excel workbook (an `.xlsx`).
    static func isWorkbookPart(_ name: String) -> Bool {
        ["[Content_Types].xml", "xl/", "_rels/", "docProps/"].contains(where: name.hasPrefix)
    }

    /// `input.wrong_format` when `firstLine` looks like another format than `expected` (or is no
    /// text at all: `binaryRefusal`).
    static func refusal(path: String, firstLine: [UInt8], expected: String, reader: String) -> Diagnostic? {
        if let binary = binaryRefusal(path: path, firstBytes: firstLine, expected: expected) { return binary }
        guard let found = format(firstLine), found != expected else { return nil }
        var gb18030: FieldDecoder?
        var shown = text(Array(firstLine.prefix(4096)), gb18030: &gb18030).trimmingWhitespace()
        if shown.hasPrefix("\u{FEFF}") { shown.removeFirst() }
        if shown.count > 60 { shown = String(shown.prefix(60)) + "…" }
        let note =
            switch found {
            case "HTML":
                "it is a web page or an HTML table (some seller centers and scripts save one as .xls): open it in Excel and save it as 'CSV UTF-8 (comma delimited)', then give that to a CSV pipeline"
            case "Python":
                "it is Python's dicts written with str() or print (single quotes, True, None), which no JSON reader takes: write each refund with json.dumps (one per line for JSON Lines)"
            default: "give it to a pipeline whose reader is \(found.lowercased()) (this pipeline's reader is \(reader))"
            }
        return Diagnostic(
            code: "input.wrong_format", message: "'\(path)' looks like \(found), not \(expected): it starts with '\(shown)'",
            location: SourceLocation(file: path, line: 1), notes: [note])
    }
}
