import CLibXML2

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options of the XML reader, as a pipeline's `reader: xml:` gives them.
public struct XMLReaderOptions: Sendable, Hashable {
    /// Element names from the root to a record, e.g. `refunds_receive_get_response/refunds/refund`;
    /// one path per kind of response, and the document's root element picks it.
    public var recordPaths: [[String]] = []
    /// One record path.
    public var recordPath: [String] {
        get { recordPaths.first ?? [] }
        set { recordPaths = newValue.isEmpty ? [] : [newValue] }
    }
    /// A text value larger than this is refused (fatal).
    public var maxTextBytes = 1 << 20
    /// A record element larger than this is refused (fatal), as in the other readers. Smaller
    /// than their 16 MiB: libxml2 builds each record's tree in memory, up to ~25 times the bytes
    /// of many small elements, and a TOP record is about 1 KB.
    public var maxRecordBytes = 4 << 20
    /// Bytes handed to libxml2 per read at most. Tests shrink it to cut documents everywhere.
    var readSize = Int(Int32.max)

    public init() {}
}

/// XML through libxml2's streaming reader (`xmlTextReader`): no tree of the document is built
/// (one record's subtree at a time), so memory stays flat with file size.
///
/// - Child elements of a record become fields; nested children are reachable by path
///   (`refund_remind_timeout/timeout`). Attributes are ignored unless a pipeline maps one
///   (`sku/@id`, or `@id` on the record element). An empty or self-closing element is missing. Entities (`&quot;`), CDATA and CRLF are handled by libxml2; comments are skipped.
/// - Security: `XML_PARSE_NONET`; never `XML_PARSE_NOENT` or `XML_PARSE_DTDLOAD`; a DOCTYPE
///   (the carrier of entity bombs and external entities) is refused before anything is expanded;
///   oversized text is refused.
/// - A TOP `error_response` document is a fatal error showing code, msg, sub_code and sub_msg.
/// - Malformed XML is reported with line:column; the records before it are kept and the file is
///   reported as broken.
public struct XMLReader: RecordReader {
    public var options: XMLReaderOptions

    public init(options: XMLReaderOptions = XMLReaderOptions()) { self.options = options }

    /// The parser options: no network, and nothing that expands entities or loads DTDs.
    static let parserOptions: Int32 = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOCDATA.rawValue | XML_PARSE_BIG_LINES.rawValue)

    public func read(_ file: InputFile, fieldNames: [String], into sink: inout some RecordSink) throws -> ReadSummary {
        LibXML2.initialize()
        let input = XMLInput(file: try ChunkedFile(file, decompresses: true), readSize: options.readSize)
        guard try input.readFirstBytes() else { throw Diagnostic.emptyInput(file.path, format: "its response element") }
        if let refusal = StartOfInput.refusal(path: file.path, firstLine: input.firstLine, expected: "XML", reader: "xml") { throw refusal }
        let context = Unmanaged.passRetained(input)
        defer { context.release() }
        try sink.begin(file: file, shape: SourceShape(availableFields: nil, location: nil))
        let builder = KeyedRecordBuilder(file: file, fieldNames: fieldNames)
        let readsAttributes = fieldNames.contains { $0.contains("@") }
        var summary = ReadSummary(file: file)
        summary.encoding = "utf-8 (XML)"
        // Responses saved one after another into one file (a script appending each page) are
        // read one after the other: each `<?xml` declaration after a `>` starts a document.
        var documents = 0
        var empty: [[String]] = []
        var missingPages: [TOPErrorResponse] = []
        var brokenDocument: Int?
        var lineOffset = 0
        repeat {
            documents += 1
            let recordsBefore = builder.ordinal
            let document = try readDocument(
                input, context: context, file: file, builder: builder, readsAttributes: readsAttributes, lineOffset: lineOffset,
                isLaterDocument: documents > 1, into: &sink)
            let firstLine = lineOffset + 1
            lineOffset += document.lines - 1  // the next document starts on this one's last line
            if let declared = document.encoding {
                // libxml2 converts a declared encoding (e.g. GBK) to UTF-8 itself; the report names it.
                summary.encoding = declared + " (XML declaration)"
            }
            if let broken = document.broken {
                summary.truncated = broken
                brokenDocument = documents
                input.drain()
                break
            }
            if let error = document.walker.errorResponse {
                // A page the paging script could not fetch: a reject for it, and the file is incomplete.
                builder.begin(line: error.location.line, column: 0)
                error.reject(in: builder)
                try builder.deliver(to: &sink)
                missingPages.append(error)
                continue
            }
            if !document.walker.foundRecordPath {
                guard let matched = document.walker.matchedPath else {
                    guard documents > 1 else { throw RecordPaths.notFound(path: file.path, root: document.walker.root, options.recordPaths, nestsPaths: true) }
                    builder.begin(line: firstLine, column: 0)
                    builder.addProblem(
                        .malformed, RecordPaths.otherDocument(format: "XML", root: document.walker.root, options.recordPaths),
                        line: firstLine, column: 0)
                    try builder.deliver(to: &sink)
                    continue
                }
                if let stray = document.walker.strayRecords {
                    guard documents > 1 else { throw RecordPaths.misplaced(path: file.path, found: stray, expected: matched) }
                    try RecordPaths.rejectMisplaced(
                        "the XML document starting here", found: stray, expected: matched, line: firstLine, column: 0, in: builder, into: &sink)
                    continue
                }
                empty.append(matched)
            }
            missingPages += document.walker.wrappedErrors
            if document.walker.wrapsResponses {
                for response in document.walker.wrappedResponses {
                    summary.paging.add(total: response.total, hasNext: response.hasNext, records: response.records)
                }
                let errors = document.walker.wrappedErrors.count
                summary.notes.append(
                    "'\(file.path)': '\(document.walker.root ?? "")' wraps \(counted(document.walker.wrappedResponses.count + errors, "response")) "
                        + "(pages gathered into one document); each was read"
                        + (errors == 0 ? "" : "; \(errors) of them \(errors == 1 ? "is a TOP error response" : "are TOP error responses") (missing pages)"))
            } else if document.walker.matchedPath != nil {
                summary.paging.add(total: document.walker.totalResults, hasNext: document.walker.hasNext, records: builder.ordinal - recordsBefore)
            }
        } while input.startNextDocument()
        if summary.truncated == nil, let first = missingPages.first {
            summary.truncated = TOPErrorResponse.missingPages(first: first, count: missingPages.count)
        }
        if documents == 1, let matched = empty.first { summary.notes.append(RecordPaths.emptyNote(path: file.path, matched)) }
        if documents > 1 {
            summary.notes.append(
                RecordPaths.pagesNote(
                    path: file.path, format: "XML", documents: documents, brokenDocument: brokenDocument, empty: empty.count,
                    errorPages: missingPages.count))
        }
        summary.records = builder.ordinal
        summary.bytes = input.bytesRead
        summary.sha256 = input.hexDigest
        if input.isCompressed { summary.encoding = "gzip, " + summary.encoding }
        return summary
    }

    /// One document of the file through its own libxml2 reader: the walk, where it broke, its
    /// declared encoding and how many lines it spans (libxml2 counts lines from 1 in each).
    private func readDocument(
        _ input: XMLInput, context: Unmanaged<XMLInput>, file: InputFile, builder: KeyedRecordBuilder, readsAttributes: Bool,
        lineOffset: Int, isLaterDocument: Bool, into sink: inout some RecordSink
    ) throws -> (walker: XMLWalker, broken: String?, encoding: String?, lines: Int) {
        let readCallback: xmlInputReadCallback = { context, buffer, length in
            let input = Unmanaged<XMLInput>.fromOpaque(context!).takeUnretainedValue()
            return input.read(into: buffer, length: length)
        }
        let closeCallback: xmlInputCloseCallback = { _ in 0 }
        guard let reader = xmlReaderForIO(readCallback, closeCallback, context.toOpaque(), file.path, nil, Self.parserOptions) else {
            throw Diagnostic(code: "input.unreadable", message: "libxml2 could not start reading '\(file.path)'")
        }
        defer { xmlFreeTextReader(reader) }
        let errors = XMLErrors()
        let errorContext = Unmanaged.passUnretained(errors).toOpaque()
        xmlTextReaderSetStructuredErrorHandler(
            reader,
            { context, error in
                guard let context, let error else { return }
                Unmanaged<XMLErrors>.fromOpaque(context).takeUnretainedValue().record(error.pointee)
            }, errorContext)
        var walker = XMLWalker(
            reader: reader, input: input, file: file, recordPaths: options.recordPaths, maxTextBytes: options.maxTextBytes,
            maxRecordBytes: options.maxRecordBytes, builder: builder, readsAttributes: readsAttributes, lineOffset: lineOffset,
            isLaterDocument: isLaterDocument)
        // A rejected record element is written back as libxml2 writes it (`XMLCurrentRecord`).
        let current = walker.current
        builder.dumpSource = { current.dump() }
        defer { builder.dumpSource = nil }
        let broken = try withExtendedLifetime(errors) { try walker.walk(into: &sink, errors: errors) }
        let encoding = xmlTextReaderConstEncoding(reader).map {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)).lowercased()
        }
        return (walker, broken, encoding, Int(xmlTextReaderGetParserLineNumber(reader)))
    }
}

/// Feeds libxml2 from a `ChunkedFile`, so the file is hashed and counted as it streams.
/// Only libxml2's callbacks on the reading thread touch it.
///
/// A file may hold several documents one after another (each page of a paged API response
/// appended to one file). An `<?xml` declaration whose previous non-space byte is `>` starts the
/// next one: the current document ends there (libxml2 sees the end of its input), and
/// `startNextDocument` serves the rest to the next reader. A declaration is valid only at the
/// start of a document and element text holds `<` only as `&lt;`, so a well-formed document is
/// split only where a CDATA section or a comment holds `>`, spaces and then `<?xml ` (an XML
/// document quoted inside a field; no TOP field does that). Were that to happen the split part
/// would be malformed, and the file reported broken (exit 4), never read wrong. The search looks
/// for the rare `?` (memchr), not for every `<`.
final class XMLInput {
    private var file: ChunkedFile
    /// Bytes handed to libxml2 per read at most (tests shrink it).
    private let readSize: Int
    private var firstBytes: [UInt8] = []
    /// Read from the file: `staged[start..<end]` is still to be served; before `start`, served.
    private let staged: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var fileEnded = false
    /// No document starts before this index of `staged` (bytes up to it may be served).
    private var scanned = 0
    /// Where the next document starts in `staged`, once found.
    private var boundary: Int?
    /// The last non-space byte of what was moved out of `staged` (0: none yet).
    private var carried: UInt8 = 0
    /// The current document has ended; reads return 0 until `startNextDocument`.
    private var atBoundary = false
    /// Bytes served to libxml2 so far, over all documents.
    private var served = 0
    /// While a record is expanded: the `served` count past which it is too large.
    private var recordLimit = Int.max
    /// A read was refused because the record being expanded passed `recordLimit`.
    private(set) var recordTooLarge = false

    init(file: consuming ChunkedFile, readSize: Int = Int(Int32.max), stagingBytes: Int = 256 << 10) {
        self.file = file
        self.readSize = readSize
        staged = .allocate(byteCount: max(stagingBytes, 64), alignment: 16)
    }

    deinit { staged.deallocate() }

    /// Reads the first bytes ahead of libxml2; false when the file is empty.
    func readFirstBytes() throws -> Bool {
        while end < 4096, !fileEnded { try refill() }
        firstBytes = Array(staged[0..<min(end, 4096)])
        return end > 0
    }

    /// The first line of what `readFirstBytes` read (at most its 4 KiB).
    var firstLine: [UInt8] { Array(firstBytes.prefix { $0 != 0x0A }) }

    var bytesRead: Int { file.bytesRead }
    var hexDigest: String { file.hexDigest }
    var isCompressed: Bool { file.isCompressed }

    /// After a document ended at a boundary: true when another one follows.
    func startNextDocument() -> Bool {
        guard atBoundary, let next = boundary else { return false }
        atBoundary = false
        boundary = nil
        scanned = next + 2  // past this document's own declaration
        return true
    }

    /// While libxml2 expands one record, at most `maxBytes` more may be served (its look-ahead
    /// of a few KiB counts too); `nil` lifts the limit.
    func limitRecord(to maxBytes: Int?) {
        recordLimit = maxBytes.map { served + $0 } ?? .max
    }

    func read(into buffer: UnsafeMutablePointer<CChar>?, length: Int32) -> Int32 {
        guard let buffer, length > 0, !atBoundary else { return 0 }
        guard served < recordLimit else {
            recordTooLarge = true
            return -1
        }
        do {
            while true {
                findBoundary()
                let limit = boundary ?? (fileEnded ? end : scanned)
                if limit > start {
                    let count = min(Int(length), readSize, limit - start)
                    UnsafeMutableRawPointer(buffer).copyMemory(from: staged.baseAddress! + start, byteCount: count)
                    start += count
                    served += count
                    return Int32(count)
                }
                if boundary == start {
                    atBoundary = true
                    return 0
                }
                if fileEnded { return 0 }
                try refill()
            }
        } catch {
            return -1
        }
    }

    /// Moves the unserved bytes to the front and reads more behind them.
    private func refill() throws {
        carried = Self.lastNonSpace(staged, from: 0, to: start) ?? carried
        let kept = end - start
        if start > 0, kept > 0 { staged.baseAddress!.copyMemory(from: staged.baseAddress! + start, byteCount: kept) }
        scanned = max(scanned - start, 0)
        boundary = boundary.map { $0 - start }
        start = 0
        end = kept
        let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: staged[end...]))
        if count == 0 { fileEnded = true }
        end += count
    }

    /// Moves `scanned` forward to the next document's declaration (setting `boundary`), or to
    /// where what was read cannot tell yet (a `<` or `<?xm` at the end of the staged bytes).
    private func findBoundary() {
        guard boundary == nil else { return }
        let base = staged.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let declaration = Self.declaration
        while scanned < end {
            guard let found = memchr(base + scanned, Int32(UInt8(ascii: "?")), end - scanned) else {
                // A `<` last may be followed by `?xml`: undecided until more is read.
                scanned = !fileEnded && base[end - 1] == UInt8(ascii: "<") ? end - 1 : end
                return
            }
            let question = UnsafeMutableRawPointer(found).assumingMemoryBound(to: UInt8.self) - base
            let at = question - 1  // where the declaration's `<` would be
            if at >= start, at + declaration.count >= end, !fileEnded {
                scanned = at  // its end is not read yet
                return
            }
            if at >= start, at + declaration.count < end, memcmp(base + at, declaration, declaration.count) == 0,
                Self.isSpace(base[at + declaration.count]),
                (Self.lastNonSpace(staged, from: 0, to: at) ?? carried) == UInt8(ascii: ">")
            {
                scanned = at
                boundary = at
                return
            }
            scanned = question + 1
        }
    }

    private static let declaration: [UInt8] = Array("<?xml".utf8)

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    /// The last byte before `end` (back to `start`) that is not white space.
    private static func lastNonSpace(_ bytes: UnsafeMutableRawBufferPointer, from start: Int, to end: Int) -> UInt8? {
        var index = end - 1
        while index >= start {
            if !isSpace(bytes[index]) { return bytes[index] }
            index -= 1
        }
        return nil
    }

    /// Reads what libxml2 left, so that size and sha256 cover the whole file.
    func drain() {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { scratch.deallocate() }
        while (try? file.read(into: scratch)) ?? 0 > 0 {}
    }
}

/// The first error libxml2 reports, with its position.
/// libxml2's one-time set-up, which is not safe to run on two threads at once: done once, by
/// whichever reader comes first (a Swift `static let` is initialized exactly once).
enum LibXML2 {
    private static let initialized: Bool = {
        xmlInitParser()
        return true
    }()

    static func initialize() { _ = initialized }
}

final class XMLErrors {
    private(set) var first: (message: String, line: Int, column: Int)?
    /// libxml2 stopped an entity expansion (a loop or an amplification attack).
    private(set) var entityAttack = false
    /// The bytes are not in the document's encoding (UTF-8 when it declares none).
    private(set) var badEncoding = false

    func record(_ error: xmlError) {
        guard first == nil, error.level.rawValue >= XML_ERR_ERROR.rawValue else { return }
        var message = error.message.map { String(cString: $0) } ?? "malformed XML"
        while message.last == "\n" { message.removeLast() }
        // One line, as every diagnostic is (libxml2 puts the offending bytes on a second line).
        message = message.split(separator: "\n").joined(separator: " ")
        if message.hasPrefix("Excessive depth in document") {
            // libxml2's advice (XML_PARSE_HUGE) is for programmers, and no export needs it.
            let limit = message.split(whereSeparator: { !$0.isNumber }).first.map(String.init) ?? "256"
            message = "elements nest more than \(limit) deep (a refund record is a few levels deep)"
        }
        first = (message, Int(error.line), Int(error.int2))
        entityAttack = error.code == Int32(XML_ERR_ENTITY_LOOP.rawValue) || message.lowercased().contains("entity")
        badEncoding = error.code == Int32(XML_ERR_INVALID_CHAR.rawValue) || message.contains("not proper UTF-8")
    }
}

/// Walks the reader's node stream and builds records at `recordPath`.
///
/// Outside records it follows `xmlTextReaderRead` node by node. At each record element it asks
/// the reader to expand just that element (`xmlTextReaderExpand`: a tree of one record, freed
/// when the reader moves on, so memory stays flat) and walks its nodes through their pointers,
/// then skips past it (`xmlTextReaderNext`): a few calls per record instead of several per field.
struct XMLWalker {
    let reader: xmlTextReaderPtr
    /// What feeds `reader`; it bounds the bytes one record may take.
    let input: XMLInput
    let file: InputFile
    let recordPaths: [[String]]
    /// The path the root element picked (until then the first one: nothing matches before the root).
    private var recordPath: [[UInt8]]
    let maxTextBytes: Int
    let maxRecordBytes: Int
    let builder: KeyedRecordBuilder
    /// The record element being delivered.
    let current = XMLCurrentRecord()
    /// Attributes are ignored unless a pipeline asks for one (`path/@name`, or `@name` on the record).
    let readsAttributes: Bool
    private(set) var foundRecordPath = false
    /// The document's root element, and the record path it picked (the expected response).
    private(set) var root: String?
    private(set) var matchedPath: [String]?

    private var elementPath: [[UInt8]] = []  // open elements from the root
    private let fieldPath = ByteBuffer(capacity: 256)  // below the record, joined by "/"
    private let text = ByteBuffer(capacity: 1024)
    /// Where the last delivered record ended.
    private(set) var lastRecordLine: Int?
    /// Lines of the file before this document (libxml2 counts from 1 in each document).
    let lineOffset: Int
    /// Not the file's first document: an error response here is a missing page, not fatal.
    let isLaterDocument: Bool
    /// The TOP error response this (later) document is.
    private(set) var errorResponse: TOPErrorResponse?
    /// The response's `total_results` and `has_next`, as written (a child of the root).
    private(set) var totalResults: String?
    private(set) var hasNext: String?
    /// The root wraps responses (pages gathered into one document, `<pages><refunds_receive_get_response>…`):
    /// the first child that is a response the pipeline reads made it so.
    private(set) var wrapsResponses = false
    /// Each wrapped response's `total_results`, `has_next` and records, in order.
    private(set) var wrappedResponses: [(total: String?, hasNext: String?, records: Int)] = []
    /// The wrapped responses that are TOP error responses (pages the script could not fetch).
    private(set) var wrappedErrors: [TOPErrorResponse] = []
    /// Where the wrapped response being read started counting records.
    private var responseStart = 0
    /// The first element off the record path named as its records (`…/refund` without
    /// `refunds`), or in the records' list under another name (`refunds/item`): where the
    /// records are when none is at the path.
    private(set) var strayRecords: [String]?

    init(
        reader: xmlTextReaderPtr, input: XMLInput, file: InputFile, recordPaths: [[String]], maxTextBytes: Int, maxRecordBytes: Int,
        builder: KeyedRecordBuilder, readsAttributes: Bool, lineOffset: Int = 0, isLaterDocument: Bool = false
    ) {
        self.input = input
        self.maxRecordBytes = maxRecordBytes
        self.lineOffset = lineOffset
        self.isLaterDocument = isLaterDocument
        self.reader = reader
        self.file = file
        self.recordPaths = recordPaths
        recordPath = (recordPaths.first ?? []).map { Array($0.utf8) }
        self.maxTextBytes = maxTextBytes
        self.builder = builder
        self.readsAttributes = readsAttributes
    }

    private func name() -> [UInt8] { Array(nameBytes()) }

    /// The current node's local name, owned by libxml2's dictionary (no copy).
    private func nameBytes() -> UnsafeBufferPointer<UInt8> {
        Self.bytes(xmlTextReaderConstLocalName(reader))
    }

    private static func bytes(_ pointer: UnsafePointer<xmlChar>?) -> UnsafeBufferPointer<UInt8> {
        guard let pointer else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: pointer, count: strlen(UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self)))
    }

    /// The current node's line in the file (the parser's line when libxml2 kept none).
    private func line() -> Int {
        guard let node = xmlTextReaderCurrentNode(reader) else { return lineOffset + Int(xmlTextReaderGetParserLineNumber(reader)) }
        return line(of: node)
    }

    private func line(of node: xmlNodePtr) -> Int {
        let line = Int(xmlGetLineNo(node))
        return lineOffset + (line > 0 ? line : Int(xmlTextReaderGetParserLineNumber(reader)))
    }

    private func column() -> Int { Int(xmlTextReaderGetParserColumnNumber(reader)) }

    /// Walks to the end. Returns a description when the document is broken part-way.
    mutating func walk(into sink: inout some RecordSink, errors: XMLErrors) throws -> String? {
        var positioned = false  // `xmlTextReaderNext` already moved onto the next node
        while true {
            let status = positioned ? 1 : xmlTextReaderRead(reader)
            positioned = false
            if status == 0 { return nil }
            if status < 0 { return try broken(errors, recordLine: nil, &sink) }
            let type = xmlTextReaderNodeType(reader)
            switch type {
            case Int32(XML_READER_TYPE_ELEMENT.rawValue):
                let elementName = nameBytes()
                let isEmpty = xmlTextReaderIsEmptyElement(reader) == 1
                if elementPath.isEmpty && elementName.elementsEqual("error_response".utf8) {
                    let error = topErrorResponse()
                    // The file's first document: fatal. A later page's: the reader says that page is missing.
                    guard isLaterDocument else { throw error.diagnostic }
                    errorResponse = error
                    continue
                }
                if elementPath.count == 1, matchedPath == nil || wrapsResponses, let wrapped = try wrappedResponse(elementName, into: &sink),
                    !wrapped || isEmpty
                {
                    continue  // an error response (a missing page), or a response with nothing in it
                }
                elementPath.append(Array(elementName))
                if elementPath.count == 1 {
                    root = String(decoding: elementName, as: UTF8.self)
                    matchedPath = RecordPaths.path(forRoot: elementName, in: recordPaths)
                    if let matchedPath { recordPath = matchedPath.map { Array($0.utf8) } }
                    builder.sourceFormat = XMLCurrentRecord.refeedFormat(recordPath: recordPath)
                }
                if wrapsResponses, elementPath.count == 3, !isEmpty {
                    // A wrapped response's totals.
                    if elementName.elementsEqual(RecordPaths.totalKey.utf8) {
                        wrappedResponses[wrappedResponses.count - 1].total = readString()
                    } else if elementName.elementsEqual(RecordPaths.hasNextKey.utf8) {
                        wrappedResponses[wrappedResponses.count - 1].hasNext = readString()
                    }
                }
                if elementPath.count == 2, matchedPath != nil, !wrapsResponses, !isEmpty {
                    if elementName.elementsEqual(RecordPaths.totalKey.utf8) {
                        totalResults = readString()
                    } else if elementName.elementsEqual(RecordPaths.hasNextKey.utf8) {
                        hasNext = readString()
                    }
                }
                if strayRecords == nil, let matchedPath, elementPath.count > 1, elementPath != recordPath,
                    case let names = elementPath.map({ String(decoding: $0, as: UTF8.self) }),
                    RecordPaths.holdsRecordsOffPath(names, recordPath: matchedPath, wrapped: wrapsResponses)
                {
                    strayRecords = names
                }
                if elementPath == recordPath {
                    foundRecordPath = true
                    let recordLine = line()
                    input.limitRecord(to: maxRecordBytes)
                    let expanded = xmlTextReaderExpand(reader)
                    input.limitRecord(to: nil)
                    guard let record = expanded else {
                        if input.recordTooLarge {
                            throw Diagnostic(
                                code: "input.record_too_large", message: "a record starting here is larger than \(maxRecordBytes >> 20) MiB",
                                location: SourceLocation(file: file.path, line: recordLine),
                                notes: ["this is almost always a broken file; a refund record is a few KB"])
                        }
                        return try broken(errors, recordLine: recordLine, &sink)
                    }
                    builder.begin(line: recordLine, column: 0)
                    fieldPath.removeAll()
                    if readsAttributes { addAttributes(of: record) }
                    try addChildren(of: record)
                    // Only while it is delivered: `xmlTextReaderNext` below frees the tree.
                    current.node = record
                    let delivered = Result { try builder.deliver(to: &sink) }
                    current.node = nil
                    try delivered.get()
                    lastRecordLine = endLine(of: record)
                    elementPath.removeLast()
                    let next = xmlTextReaderNext(reader)
                    if next == 0 { return nil }
                    if next < 0 { return try broken(errors, recordLine: nil, &sink) }
                    positioned = true
                } else if isEmpty {
                    elementPath.removeLast()
                }
            case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
                if wrapsResponses, elementPath.count == 2 { wrappedResponses[wrappedResponses.count - 1].records = builder.ordinal - responseStart }
                if !elementPath.isEmpty { elementPath.removeLast() }
            case Int32(XML_READER_TYPE_DOCUMENT_TYPE.rawValue):
                throw Diagnostic(
                    code: "input.xml_doctype",
                    message: "the XML declares a DOCTYPE; RefundFlow refuses DTDs and entity declarations (they carry entity bombs and external entities)",
                    location: SourceLocation(file: file.path, line: line(), column: column()),
                    notes: ["TOP exports never have a DOCTYPE; remove it, or export the data again"])
            case Int32(XML_READER_TYPE_ENTITY_REFERENCE.rawValue):
                throw customEntity(name(), line: line())
            default:
                break  // text between records, comments, processing instructions, the XML declaration
            }
        }
    }

    /// The text of the current element (the reader stays on it).
    private func readString() -> String? {
        guard let text = xmlTextReaderReadString(reader) else { return nil }
        defer { refundflow_xmlFree(text) }
        return String(cString: UnsafeRawPointer(text).assumingMemoryBound(to: CChar.self))
    }

    private func customEntity(_ name: [UInt8], line: Int) -> Diagnostic {
        Diagnostic(
            code: "input.xml_entity",
            message: "the XML uses a custom entity '&\(String(decoding: name, as: UTF8.self));'; RefundFlow does not expand entities",
            location: SourceLocation(file: file.path, line: line, column: column()))
    }

    /// The document broke (libxml2 reported an error): the record in progress, if any, or the
    /// break itself becomes a reject; what came before stays. Returns the file's note.
    private mutating func broken(_ errors: XMLErrors, recordLine: Int?, _ sink: inout some RecordSink) throws -> String {
        let first = errors.first ?? ("malformed XML", line() - lineOffset, column())
        let error = (message: first.message, line: lineOffset + first.line, column: first.column)
        if errors.entityAttack {
            throw Diagnostic(
                code: "input.xml_entities",
                message: "the XML was refused: \(error.message) (an entity bomb or entity tricks); nothing was expanded",
                location: SourceLocation(file: file.path, line: error.line, column: error.column),
                notes: ["TOP exports declare no entities; export the data again"])
        }
        let location = "line \(error.line), column \(error.column)"
        // libxml2's reader parses ahead in 512-byte chunks and stops at an error, so the
        // records it had parsed in that chunk cannot be walked: say exactly what was processed.
        let processed = lastRecordLine.map { "records up to the one ending at line \($0) were processed; " } ?? "no complete record came before it; "
        var message = "malformed XML at \(location): \(error.message); \(processed)nothing after that was processed"
        if errors.badEncoding {
            message += " (a GBK export must say so in its first line, <?xml version=\"1.0\" encoding=\"GBK\"?>, or be converted: iconv -f GBK -t UTF-8)"
        }
        builder.begin(line: recordLine ?? error.line, column: recordLine == nil ? error.column : 0)
        builder.addProblem(.malformed, message, line: error.line, column: error.column)
        try builder.deliver(to: &sink)
        return message
    }

    /// Adds an element's attributes as `fieldPath/@name` fields, when the pipeline reads any.
    private func addAttributes(of node: xmlNodePtr) {
        guard readsAttributes else { return }
        var attribute = node.pointee.properties
        let elementLine = line(of: node)
        while let current = attribute {
            var path = fieldPath.array
            if !path.isEmpty { path.append(UInt8(ascii: "/")) }
            path.append(UInt8(ascii: "@"))
            path.append(contentsOf: Self.bytes(current.pointee.name))
            var value: [UInt8] = []
            var child = current.pointee.children
            while let piece = child {
                value.append(contentsOf: Self.bytes(piece.pointee.content))
                child = piece.pointee.next
            }
            path.withUnsafeBufferPointer { path in
                value.withUnsafeBufferPointer { builder.add(path: path, value: $0, line: elementLine, column: 0) }
            }
            attribute = current.pointee.next
        }
    }

    /// The line where an expanded element ends: that of its last node in document order
    /// (libxml2 gives a text node the line where its text ends).
    private func endLine(of element: xmlNodePtr) -> Int {
        var node = element
        while let last = node.pointee.last { node = last }
        return line(of: node)
    }

    /// The fields below `parent`: each child element extends the path; a leaf's text is its
    /// value (no text: missing); text beside child elements is ignored.
    private mutating func addChildren(of parent: xmlNodePtr) throws {
        var child = parent.pointee.children
        while let node = child {
            child = node.pointee.next
            switch node.pointee.type {
            case XML_ELEMENT_NODE:
                let saved = fieldPath.count
                if saved > 0 { fieldPath.append(UInt8(ascii: "/")) }
                fieldPath.append(Self.bytes(node.pointee.name))
                if readsAttributes { addAttributes(of: node) }  // checked here: a call per element costs
                if !hasChildElements(node) { try addLeaf(node) } else { try addChildren(of: node) }
                fieldPath.truncate(to: saved)
            case XML_ENTITY_REF_NODE:
                throw customEntity(Array(Self.bytes(node.pointee.name)), line: line(of: node))
            default:
                break  // text beside child elements (not a field), comments, processing instructions
            }
        }
    }

    private func hasChildElements(_ node: xmlNodePtr) -> Bool {
        var child = node.pointee.children
        while let current = child {
            if current.pointee.type == XML_ELEMENT_NODE { return true }
            child = current.pointee.next
        }
        return false
    }

    /// A leaf element: its text (and CDATA) joined is the value; empty text is missing.
    private mutating func addLeaf(_ element: xmlNodePtr) throws {
        text.removeAll()
        var textLine = line(of: element)
        var child = element.pointee.children
        while let node = child {
            child = node.pointee.next
            switch node.pointee.type {
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
                let value = Self.bytes(node.pointee.content)
                if text.count + value.count > maxTextBytes {
                    throw Diagnostic(
                        code: "input.text_too_large",
                        message: "the text of '\(String(decoding: fieldPath.buffer, as: UTF8.self))' is larger than \(maxTextBytes >> 10) KiB",
                        location: SourceLocation(file: file.path, line: line(of: node), column: 0),
                        notes: ["a refund field is at most a few hundred characters; the file is broken or hostile"])
                }
                if text.count == 0 { textLine = line(of: node) }
                text.append(value)
            case XML_ENTITY_REF_NODE:
                throw customEntity(Array(Self.bytes(node.pointee.name)), line: line(of: node))
            default:
                break  // comments, processing instructions
            }
        }
        if text.count > 0, memchr(text.base, 0x0D, text.count) != nil { normalizeLineEnds(text) }
        if text.count > 0 {
            builder.add(path: fieldPath.buffer, value: text.buffer, line: textLine, column: 0)
        }
    }

    /// XML end-of-line handling (XML 1.0 §2.11): CRLF and a lone CR become LF. libxml2's reader
    /// leaves them in CDATA sections.
    private func normalizeLineEnds(_ text: ByteBuffer) {
        let bytes = text.buffer
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0D {
                out.append(0x0A)
                if index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
            } else {
                out.append(bytes[index])
            }
            index += 1
        }
        text.removeAll()
        text.append(out)
    }

    /// At a child of a root that is no response the pipeline reads: true when it is a response
    /// that is (the root then wraps responses; the record path goes through the root), false
    /// when it is a TOP error response among wrapped ones (a page that could not be fetched: a
    /// reject, consumed), nil for anything else. An error response before any wrapped one is
    /// fatal, as a file that is one is.
    private mutating func wrappedResponse(_ name: UnsafeBufferPointer<UInt8>, into sink: inout some RecordSink) throws -> Bool? {
        if name.elementsEqual("error_response".utf8), wrapsResponses || !isLaterDocument {
            let error = topErrorResponse()
            guard wrapsResponses else { throw error.diagnostic }
            builder.begin(line: error.location.line, column: 0)
            error.reject(in: builder)
            try builder.deliver(to: &sink)
            wrappedErrors.append(error)
            return false
        }
        if !wrapsResponses, let root, let path = RecordPaths.path(forRoot: name, in: recordPaths) {
            wrapsResponses = true
            matchedPath = [root] + path
            recordPath = matchedPath!.map { Array($0.utf8) }
            builder.sourceFormat = XMLCurrentRecord.refeedFormat(recordPath: recordPath)
        }
        guard wrapsResponses, name.elementsEqual(recordPath[1]) else { return nil }
        responseStart = builder.ordinal
        wrappedResponses.append((nil, nil, 0))
        return true
    }

    /// Reads an `error_response` element's children.
    private mutating func topErrorResponse() -> TOPErrorResponse {
        let startLine = line()
        var fields: [String: String] = [:]
        var current: String?
        let depth = xmlTextReaderDepth(reader)
        while xmlTextReaderRead(reader) == 1 {
            let type = xmlTextReaderNodeType(reader)
            if type == Int32(XML_READER_TYPE_ELEMENT.rawValue) {
                current = String(decoding: name(), as: UTF8.self)
            } else if type == Int32(XML_READER_TYPE_TEXT.rawValue) || type == Int32(XML_READER_TYPE_CDATA.rawValue),
                let current, let value = xmlTextReaderConstValue(reader)
            {
                fields[current, default: ""] += String(cString: UnsafeRawPointer(value).assumingMemoryBound(to: CChar.self))
            } else if type == Int32(XML_READER_TYPE_END_ELEMENT.rawValue) {
                current = nil
                if xmlTextReaderDepth(reader) == depth { break }
            }
        }
        return TOPErrorResponse(fields: fields, location: SourceLocation(file: file.path, line: startLine))
    }
}

extension XMLReader {
    /// `reader: { xml: { recordPath } }`; `recordPath` is one path or a list of them.
    static let registration = ReaderRegistration(
        name: "xml", fileExtensions: ["xml"], keys: ["recordPath"],
        decode: { pairs, context in
            var options = XMLReaderOptions()
            for pair in pairs where pair.key == "recordPath" {
                options.recordPaths = RecordPaths.decode(pair, &context)
            }
            if options.recordPaths.isEmpty {
                context.diagnostics.append(
                    Diagnostic(code: "pipeline.missing_key", message: "the xml reader needs 'recordPath', e.g. refunds_receive_get_response/refunds/refund"))
            }
            return options
        },
        make: { options in XMLReader(options: options as! XMLReaderOptions) })
}

/// The record element a walker is delivering, written back as libxml2 writes it when the record
/// is rejected (`SourceRow.rawBytes`): its attributes and children, entities escaped again,
/// CDATA kept, in UTF-8.
final class XMLCurrentRecord {
    var node: xmlNodePtr?

    func dump() -> [UInt8]? {
        guard let node, let buffer = xmlBufferCreate() else { return nil }
        defer { xmlBufferFree(buffer) }
        guard xmlNodeDump(buffer, node.pointee.doc, node, 0, 0) >= 0, let content = xmlBufferContent(buffer) else { return nil }
        return Array(UnsafeBufferPointer(start: content, count: Int(xmlBufferLength(buffer))))
    }

    /// A document of the record elements under the elements of `recordPath` above them, which
    /// the same pipeline reads as records.
    static func refeedFormat(recordPath: [[UInt8]]) -> RefeedFormat {
        let above = recordPath.dropLast()
        let open = above.flatMap { Array("<".utf8) + $0 + Array(">".utf8) }
        let close = above.reversed().flatMap { Array("</".utf8) + $0 + Array(">".utf8) }
        return RefeedFormat(
            lead: Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".utf8) + open + [0x0A], separator: [0x0A],
            trailer: [0x0A] + close + [0x0A], endsLines: false)
    }
}
