#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options of the JSON reader, as a pipeline's `reader: json:` gives them.
public struct JSONReaderOptions: Sendable, Hashable {
    public enum Shape: String, Sendable, Hashable, CaseIterable {
        /// `[` at the start: an array of records; `{`: a document when there is a `recordPath`,
        /// else JSON Lines.
        case auto
        /// A top-level array of record objects.
        case array
        /// JSON Lines: one record object per line.
        case lines
        /// One document; `recordPath` names where the records are.
        case document
    }

    public var shape: Shape = .auto
    /// Keys from the root to the records, e.g. `refunds_receive_get_response/refunds/refund`.
    /// There an array holds the records, or a single object is one record. One path per kind of
    /// response; the document's root key picks it.
    public var recordPaths: [[String]] = []
    /// One record path.
    public var recordPath: [String] {
        get { recordPaths.first ?? [] }
        set { recordPaths = newValue.isEmpty ? [] : [newValue] }
    }
    /// A record larger than this is refused (fatal): almost always a broken file.
    public var maxRecordBytes = 16 << 20
    var chunkSize = 1 << 20

    public init() {}
}

/// JSON, JSON Lines, or records at a path inside one document, read with a streaming tokenizer.
///
/// - Numbers keep their exact source text (19-digit ids and money never go through `Double`);
///   `true`/`false` become text; `null` is absent. Nested objects are reachable by path.
/// - Invalid JSON is reported with line:column. In JSON Lines a bad line is rejected and the
///   rest continue; in an array or document the records before the fault are kept and the
///   file is reported as broken.
/// - A TOP `error_response` instead of data is a fatal error that shows code, msg, sub_code
///   and sub_msg.
public struct JSONReader: RecordReader {
    public var options: JSONReaderOptions

    public init(options: JSONReaderOptions = JSONReaderOptions()) { self.options = options }

    public func read(_ file: InputFile, fieldNames: [String], into sink: inout some RecordSink) throws -> ReadSummary {
        let stream = try JSONStream(file: file, options: options)
        let builder = KeyedRecordBuilder(file: file, fieldNames: fieldNames)
        var summary = ReadSummary(file: file)
        summary.encoding = "utf-8"
        try sink.begin(file: file, shape: SourceShape(availableFields: nil, location: nil))
        do {
            try stream.skipByteOrderMark()
            if let refusal = StartOfInput.refusal(path: file.path, firstLine: try stream.peekFirstLine(), expected: "JSON", reader: "json"),
                try !stream.laterLineStartsAnObject()
            {
                // (Lines after it that are objects: JSON Lines whose first line broke, or a re-feed
                // file that starts with a broken line. Read it; that line is a reject.)
                throw refusal
            }
            if stream.bytesHandedOut == 0 {
                // JSON Lines with no records is an empty file; an array or a document never is.
                guard options.shape == .lines || (options.shape == .auto && options.recordPaths.isEmpty) else {
                    throw Diagnostic.emptyInput(file.path, format: options.shape == .array ? "its brackets, []" : "its response object")
                }
                summary.notes.append("'\(file.path)' is empty (0 bytes): no records")
            }
            var shape = stream.bytesHandedOut == 0 ? .lines : options.shape
            if shape == .auto {
                // `[`: an array of records, even where a response document was expected.
                if try stream.peekNonSpace() == UInt8(ascii: "[") {
                    shape = .array
                } else {
                    shape = options.recordPaths.isEmpty ? .lines : .document
                }
            }
            switch shape {
            case .lines: try readLines(stream, builder, &sink, &summary)
            case .array: try readArray(stream, builder, &sink, &summary)
            case .document, .auto: try readDocument(stream, builder, &sink, &summary)
            }
        } catch let error as JSONSyntaxError {
            // The file is broken here: what came before stays; the break itself is a reject.
            builder.begin(line: error.line, column: error.column)
            builder.addProblem(.malformed, "invalid JSON: \(error.message); nothing after this point was read", line: error.line, column: error.column)
            try builder.deliver(to: &sink)
            summary.truncated = "invalid JSON at line \(error.line), column \(error.column): \(error.message)"
            try stream.drain()
        }
        summary.records = builder.ordinal
        summary.bytes = stream.bytesRead
        summary.sha256 = stream.hexDigest
        if let utf16 = stream.convertedFrom { summary.encoding = "\(utf16.lowercased()) (byte-order mark), converted to UTF-8" }
        if summary.truncated == nil, let missing = stream.missingPages { summary.truncated = missing }
        if stream.isCompressed { summary.encoding = "gzip, " + summary.encoding }
        summary.blankLines = stream.blankLines
        return summary
    }

    private func readLines(_ stream: JSONStream, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink, _ summary: inout ReadSummary) throws {
        builder.sourceFormat = .jsonLines  // a rejected line that is a record is re-fed as it is
        // With record paths, a line may be a whole response (one API call's answer per line):
        // its records are taken from the path; other lines are records themselves.
        let response = options.recordPaths.isEmpty ? nil : KeyedRecordBuilder(file: builder.file, fieldNames: [])
        var responses = ResponseLines()
        if try stream.peekFirstLine().filter({ $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) == [UInt8(ascii: "{")],
            let next = try stream.secondLineStart(), next == UInt8(ascii: "\"") || next == UInt8(ascii: "}")
        {
            // A line that is `{` alone, then a key (or `}`): objects written over several lines each
            // (pretty-printed, as `jq` writes them without -c), read one after another like lines.
            // A rejected one is re-fed as written (over several lines too): the re-feed file is read
            // the same way. (A `{` line followed by anything else is a broken line of JSON Lines.)
            var objects = 0
            while let next = try stream.skipSpace() {
                guard next == UInt8(ascii: "{") else { throw stream.error("expected another JSON object (the file holds pretty-printed objects one after another)") }
                let value = try stream.captureValue()
                objects += 1
                try readObject(
                    value.bytes, line: value.line, column: value.column, lineEnded: true, stream, builder, response, &responses, &sink,
                    &summary)
            }
            summary.notes.append("'\(stream.path)': \(objects) JSON object\(objects == 1 ? "" : "s") written over several lines each (pretty-printed, as jq writes them), read one after another")
        } else {
            while let line = try stream.nextLine() {
                try readObject(
                    line.bytes, line: line.number, column: 1, lineEnded: stream.lineWasTerminated, stream, builder, response, &responses,
                    &sink, &summary)
            }
        }
        if responses.empty > 0 {
            summary.notes.append("'\(stream.path)': \(responses.empty) line\(responses.empty == 1 ? " is a response" : "s are responses") with no records in it")
        }
        for (key, count) in responses.wrapped.sorted(by: { $0.key < $1.key }) {
            summary.notes.append("'\(stream.path)': \(counted(count, "line")) hold\(count == 1 ? "s" : "") a response under '\(key)' (one level down), read there")
        }
    }

    /// What the lines that are whole responses were: how many had no records, and how many held
    /// their response under a key (by key).
    private struct ResponseLines {
        var empty = 0
        var wrapped: [String: Int] = [:]
    }

    /// One line's object (or one pretty-printed object): a whole response whose records are taken
    /// from the path, or a record itself; invalid JSON is a reject and reading goes on.
    private func readObject(
        _ bytes: UnsafeBufferPointer<UInt8>, line: Int, column: Int, lineEnded: Bool, _ stream: JSONStream, _ builder: KeyedRecordBuilder,
        _ response: KeyedRecordBuilder?, _ responses: inout ResponseLines, _ sink: inout some RecordSink, _ summary: inout ReadSummary
    ) throws {
        if let response, let delivered = try readResponse(bytes, line: line, column: column, stream, response, builder, &sink, &summary) {
            if delivered == 0 { responses.empty += 1 }
            return
        }
        // Invalid JSON or text: rejected below like any bad line.
        var parser = JSONRecordParser(bytes, line: line, column: column, builder: builder, buffers: stream.parseBuffers)
        builder.begin(line: line, column: column)
        var missingPage = false
        do {
            try parser.parseRecord(requireEnd: true)
            missingPage = try Self.refuseErrorResponse(builder, stream)
            if !missingPage, let response, builder.problems.isEmpty, !builder.hasReadField, let wrapped = wrappedResponse(in: builder) {
                // A response one level down (a middleware's {"code":0,"data":{…}} per line): its records.
                builder.withdraw()
                if let delivered = try readResponse(bytes, line: line, column: column, stream, response, builder, &sink, &summary, wrapped: wrapped) {
                    responses.wrapped[wrapped.key, default: 0] += 1
                    if delivered == 0 { responses.empty += 1 }
                    return
                }
                builder.begin(line: line, column: column)  // not readable as one after all: the line is a record
                var again = JSONRecordParser(bytes, line: line, column: column, builder: builder, buffers: stream.parseBuffers)
                try again.parseRecord(requireEnd: true)
            }
        } catch let error as JSONSyntaxError {
            builder.restart(line: line, column: column)
            builder.addProblem(.malformed, "invalid JSON: \(error.message)", line: error.line, column: error.column)
            if !lineEnded {
                // A broken last line without a line end: a download or export cut off mid-record.
                summary.truncated =
                    "the file ends in the middle of line \(line): its last line is not complete JSON and has no line end, so the file looks cut short; export or download it again"
            }
            Self.lineKey.withUnsafeBufferPointer { key in
                // Invalid UTF-8 is shown lossily here; the problem names the position.
                let text = Array(String(decoding: bytes, as: UTF8.self).utf8)
                text.withUnsafeBufferPointer { builder.add(path: key, value: $0, line: line, column: column) }
            }
        }
        builder.source = missingPage ? nil : bytes
        defer { builder.source = nil }
        try builder.deliver(to: &sink)
    }

    private static let lineKey: [UInt8] = Array("line_text".utf8)

    /// `bytes` as a whole response (one API call's answer) whose root key picks a record path:
    /// its records are delivered from that path and their count returned. Nil when the root is no
    /// response the pipeline reads, or the text is not valid JSON: the caller takes it as a record.
    /// `wrapped`: the response is under that key, and its record path is `path` below it.
    private func readResponse(
        _ bytes: UnsafeBufferPointer<UInt8>, line: Int, column: Int, _ stream: JSONStream, _ response: KeyedRecordBuilder,
        _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink, _ summary: inout ReadSummary, wrapped: (key: String, path: [String])? = nil
    ) throws -> Int? {
        let inner: [String]
        if let wrapped {
            inner = wrapped.path
        } else {
            guard let found = RecordPaths.path(forRoot: Self.firstKey(bytes), in: options.recordPaths) else { return nil }
            inner = found
        }
        let path = (wrapped.map { [$0.key] } ?? []) + inner
        var parser = JSONRecordParser(bytes, line: line, column: column, builder: response, buffers: stream.parseBuffers)
        parser.marksEmptyElements = true
        parser.recordPath = Array(path.joined(separator: "/").utf8)
        response.begin(line: line, column: column)
        guard (try? parser.parseRecord(requireEnd: true)) != nil, response.problems.isEmpty else { return nil }
        // The response's own keys: at its root (a simplified response's, at the top), under the wrapper's key.
        let prefix = (wrapped.map { $0.key + "/" } ?? "") + (inner.count == 1 ? "" : inner[0] + "/")
        let (total, hasNext) = (response.value(at: prefix + RecordPaths.totalKey), response.value(at: prefix + RecordPaths.hasNextKey))
        if parser.recordSpans.isEmpty, let stray = response.strayRecords(of: path, wrapped: wrapped != nil) {
            // Its records off the path: a reject that says where they are (the line kept to re-feed).
            try RecordPaths.rejectMisplaced(
                "the response", found: stray, expected: path, line: line, column: column, source: bytes, in: builder, into: &sink)
            return 1
        }
        let texts = parser.recordSpans.map { UnsafeBufferPointer(rebasing: bytes[$0]) }
        let delivered = try Self.deliverRecords(of: response, at: path, texts: texts, line: line, to: builder, &sink)
        summary.paging.add(total: total, hasNext: hasNext, records: delivered)
        return delivered
    }

    /// The key of a record (a parsed line) that holds a response the pipeline reads
    /// (`data/refunds_receive_get_response/…`), and the response's path; nil when it holds none.
    private func wrappedResponse(in record: KeyedRecordBuilder) -> (key: String, path: [String])? {
        let bytes = record.bytes
        for field in record.fields {
            let names = bytes[field.pathStart..<field.pathEnd].split(separator: UInt8(ascii: "/"), maxSplits: 2, omittingEmptySubsequences: false)
            guard names.count >= 2, let path = RecordPaths.path(forRoot: names[1], in: options.recordPaths) else { continue }
            return (String(decoding: names[0], as: UTF8.self), path)
        }
        return nil
    }

    /// The first key of an object's text, when it is a plain one (`{"name":`), else empty.
    private static func firstKey(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard case .key(let range) = FirstKey.scan(bytes) else { return UnsafeBufferPointer(rebasing: bytes[0..<0]) }
        return UnsafeBufferPointer(rebasing: bytes[range])
    }

    /// Delivers the records a parsed response holds at `path`: one object there, or each element
    /// of an array (its fields `path/<index>/…`). Field paths lose the prefix. `texts` are the
    /// records' source texts (the one object, or element n at n), given to the sink as theirs.
    /// Returns the count.
    private static func deliverRecords(
        of response: KeyedRecordBuilder, at path: [String], texts: [UnsafeBufferPointer<UInt8>], line: Int, to builder: KeyedRecordBuilder,
        _ sink: inout some RecordSink
    ) throws -> Int {
        defer { builder.source = nil }
        let prefix = Array((path.joined(separator: "/") + "/").utf8)
        let bytes = response.bytes
        var delivered = 0
        var isArray: Bool?
        var current: Range<Int>?  // where the array index of the record being built sits, or an empty range
        for field in response.fields {
            guard field.pathEnd - field.pathStart > prefix.count,
                bytes[field.pathStart..<field.pathStart + prefix.count].elementsEqual(prefix)
            else { continue }
            var pathStart = field.pathStart + prefix.count
            var headEnd = pathStart
            while headEnd < field.pathEnd, bytes[headEnd] != UInt8(ascii: "/") { headEnd += 1 }
            let numberedHead = headEnd > pathStart && bytes[pathStart..<headEnd].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            // An element without fields ({} or null) is marked by the parser: its path ends at the index.
            let emptyElement = numberedHead && headEnd == field.pathEnd && field.valueStart == field.valueEnd
            if isArray == nil { isArray = numberedHead && (headEnd < field.pathEnd || emptyElement) }
            var index = pathStart..<pathStart
            if isArray == true {
                index = pathStart..<headEnd
                pathStart = min(headEnd + 1, field.pathEnd)
            }
            if current == nil || !bytes[current!].elementsEqual(bytes[index]) {
                if current != nil { try builder.deliver(to: &sink) }
                builder.begin(line: line, column: field.column)
                let element = index.isEmpty ? 0 : Int(String(decoding: bytes[index], as: UTF8.self)) ?? -1
                builder.source = texts.indices.contains(element) ? texts[element] : nil
                delivered += 1
            }
            current = index
            if isArray == true && emptyElement { continue }
            builder.add(
                path: UnsafeBufferPointer(rebasing: bytes[pathStart..<field.pathEnd]),
                value: UnsafeBufferPointer(rebasing: bytes[field.valueStart..<field.valueEnd]), line: field.line, column: field.column)
        }
        if current != nil { try builder.deliver(to: &sink) }
        return delivered
    }

    /// Arrays one after another (`[…][…]` or one per line, as a script appends each page) are
    /// read one after the other.
    private func readArray(_ stream: JSONStream, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink, _ summary: inout ReadSummary) throws {
        builder.sourceFormat = .jsonArray
        // With record paths, an element may be a whole response (a script that collects each
        // page's response into one array): its records are taken from the path.
        var arrays = 0
        var pages = 0
        var emptyPages = 0
        repeat {
            arrays += 1
            try stream.expect(UInt8(ascii: "["))
            try readElements(inArrayOf: stream) {
                guard !options.recordPaths.isEmpty, try stream.peekNonSpace() == UInt8(ascii: "{"),
                    RecordPaths.path(forRoot: try stream.peekFirstKey(), in: options.recordPaths) != nil
                else {
                    builder.sourceFormat = .jsonArray  // a page before may have set its own
                    try readRecord(try stream.captureValue(), stream, builder, &sink)
                    return
                }
                // Walked like a response document: record by record, each with its text.
                pages += 1
                let recordsBefore = builder.ordinal
                var walk = DocumentWalk()
                let (line, column) = (stream.line, stream.column)
                try stream.expect(UInt8(ascii: "{"))
                try walkObject(stream, depth: 0, builder, &sink, &walk)
                if let path = walk.path, walk.reached < path.count, let stray = walk.strayRecords {
                    // Its records off the path: a reject that says where they are.
                    try RecordPaths.rejectMisplaced("the response", found: stray, expected: path, line: line, column: column, in: builder, into: &sink)
                    return
                }
                if builder.ordinal == recordsBefore { emptyPages += 1 }
                summary.paging.add(total: walk.totals.total, hasNext: walk.totals.hasNext, records: builder.ordinal - recordsBefore)
            }
        } while try stream.skipSpace() == UInt8(ascii: "[")
        try stream.expectEnd()
        if arrays > 1 { summary.notes.append("'\(stream.path)': \(arrays) JSON arrays one after another (pages saved into one file); each was read") }
        if pages > 0 {
            let empty = emptyPages == 0 ? "" : ", \(emptyPages) of them with no records"
            summary.notes.append("'\(stream.path)': the array holds \(counted(pages, "response")) (pages saved into one array)\(empty); the records of each were read")
        }
    }

    /// After `[`: each element is a record, until `]`.
    private func readRecords(inArrayOf stream: JSONStream, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink) throws {
        try readElements(inArrayOf: stream) { try readRecord(try stream.captureValue(), stream, builder, &sink) }
    }

    /// After `[`: `element` reads each element, until `]`.
    private func readElements(inArrayOf stream: JSONStream, _ element: () throws -> Void) throws {
        if try stream.peekNonSpace() == UInt8(ascii: "]") {
            stream.advance()
            return
        }
        while true {
            try element()
            let next = try stream.peekNonSpace()
            guard next == UInt8(ascii: ",") || next == UInt8(ascii: "]") else { throw stream.error("expected ',' or ']' after a record") }
            stream.advance()
            if next == UInt8(ascii: "]") { return }
        }
    }

    private func readRecord(_ value: JSONStream.Captured, _ stream: JSONStream, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink) throws {
        builder.begin(line: value.line, column: value.column)
        var parser = JSONRecordParser(value.bytes, line: value.line, column: value.column, builder: builder, buffers: stream.parseBuffers)
        var missingPage = false
        do {
            try parser.parseRecord(requireEnd: true)
            missingPage = try Self.refuseErrorResponse(builder, stream)
        } catch let error as JSONSyntaxError {
            builder.restart(line: value.line, column: value.column)
            builder.addProblem(.malformed, "invalid JSON: \(error.message)", line: error.line, column: error.column)
        }
        builder.source = missingPage ? nil : value.bytes
        defer { builder.source = nil }
        try builder.deliver(to: &sink)
    }

    /// One response document, or several one after another (a script that appends each page's
    /// response to one file): each is read. A later one that is no response the pipeline reads is
    /// a reject naming its root, and the next ones are still read.
    private func readDocument(
        _ stream: JSONStream, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink, _ summary: inout ReadSummary
    ) throws {
        guard !options.recordPaths.isEmpty else {
            throw Diagnostic(code: "input.json_shape", message: "a JSON document needs 'recordPath' to say where the records are")
        }
        // Rejected record objects are re-fed in a response of the kind they came from (set when
        // the walk finds its record path).
        builder.sourceFormat = .jsonArray
        var documents = 0
        var empty: [[String]] = []
        var errorPages = 0
        repeat {
            documents += 1
            let recordsBefore = builder.ordinal
            _ = try stream.peekNonSpace()
            let (line, column) = (stream.line, stream.column)
            var walk = DocumentWalk(isLaterDocument: documents > 1)
            try stream.expect(UInt8(ascii: "{"))
            try walkObject(stream, depth: 0, builder, &sink, &walk)
            if walk.wasErrorResponse {
                errorPages += 1
                continue
            }
            guard let path = walk.path else {
                var error = RecordPaths.notFound(path: stream.path, root: walk.firstKey, options.recordPaths)
                guard documents == 1 else {
                    builder.begin(line: line, column: column)
                    builder.addProblem(
                        .malformed, RecordPaths.otherDocument(format: "JSON", root: walk.firstKey, options.recordPaths), line: line,
                        column: column)
                    try builder.deliver(to: &sink)
                    continue
                }
                if let key = walk.firstKey, walk.firstKeyHoldsContainer, let first = options.recordPaths.first {
                    error.notes.append(
                        "a response is read at the top, or one level down (under a key such as '\(key)', alone or in a list); if it is deeper, "
                            + "add its whole path to recordPath ('\(key)/…/\(first.joined(separator: "/"))')")
                } else if let key = walk.firstKey, !key.hasSuffix("_response") {
                    // Not an API response at all: most likely refund objects, one per line.
                    error.notes.insert("refund objects one after another (one per line, or pretty-printed as jq writes them) are JSON Lines: read them with shape: lines (pipelines/taobao-top-refunds-jsonl.yaml)", at: 0)
                }
                throw error
            }
            if walk.reached < path.count {
                if let stray = walk.strayRecords {
                    guard documents > 1 else { throw RecordPaths.misplaced(path: stream.path, found: stray, expected: path) }
                    try RecordPaths.rejectMisplaced(
                        "the JSON document starting here", found: stray, expected: path, line: line, column: column, in: builder, into: &sink)
                    continue
                }
                empty.append(path)
            }
            if let wrapper = walk.wrapper {
                let note = "'\(stream.path)': the responses are under '\(wrapper)' (one level down, alone or in a list) and were read there"
                if !summary.notes.contains(note) { summary.notes.append(note) }
            }
            summary.paging.add(total: walk.totals.total, hasNext: walk.totals.hasNext, records: builder.ordinal - recordsBefore)
        } while try stream.skipSpace() == UInt8(ascii: "{")
        try stream.expectEnd()
        if documents == 1, let path = empty.first { summary.notes.append(RecordPaths.emptyNote(path: stream.path, path)) }
        if documents > 1 {
            summary.notes.append(
                RecordPaths.pagesNote(
                    path: stream.path, format: "JSON", documents: documents, brokenDocument: nil, empty: empty.count, errorPages: errorPages))
        }
    }

    /// What a walk through a document found: its first root key, the record path that key picked,
    /// and how many names of that path the document has.
    private struct DocumentWalk {
        /// Not the file's first document: an error response here is a missing page, not fatal.
        var isLaterDocument = false
        var wasErrorResponse = false
        var firstKey: String?
        /// The first key's value is an object or a list (a wrapper of responses?), not a scalar.
        var firstKeyHoldsContainer = false
        var path: [String]?
        var reached = 0
        /// The key at the top whose value is being looked into for a response (one level of
        /// wrapping: `{"data":{"refunds_receive_get_response":…}}`, `{"pages":[{…},{…}]}`).
        var probing: String?
        /// The key the response was found under, when it was.
        var wrapper: String?
        /// The first key off the record path named as its records (`…/refund` without `refunds`),
        /// or in the records' list under another name (`refunds/item`).
        var strayRecords: [String]?
        /// `total_results` and `has_next` as written: keys of the root's object (TOP's
        /// `{"refunds_receive_get_response":{…,"total_results":…}}`), or of the document itself
        /// (its simplified JSON, `{"refunds":[…],"total_results":…}`, whose record path is one name).
        var wrappedTotals = ResponseTotals()
        var rootTotals = ResponseTotals()

        var totals: ResponseTotals { path?.count == 1 ? rootTotals : wrappedTotals }

        /// Whether keys at `depth` are a response's own (where its `total_results` sits): the
        /// root's, and the response object's (one level further down under a wrapper).
        func isResponseLevel(_ depth: Int) -> Bool {
            let wrapped = probing != nil
            return depth == 0 || (wrapped && depth == 1) || (path != nil && depth <= (wrapped ? 2 : 1))
        }
    }

    struct ResponseTotals {
        var total: String?
        var hasNext: String?
    }

    /// Inside an object at `depth` of the record path (after `{`), until its `}`.
    private func walkObject(
        _ stream: JSONStream, depth: Int, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink,
        _ walk: inout DocumentWalk
    ) throws {
        if try stream.peekNonSpace() == UInt8(ascii: "}") {
            stream.advance()
            return
        }
        while true {
            let key = try stream.readKey()
            try stream.expect(UInt8(ascii: ":"))
            var consumed = false  // the value was read here already
            if depth == 0 {
                if key == "error_response" {
                    let value = try stream.captureValue()
                    let error = topError(value, path: stream.path)
                    guard walk.isLaterDocument else { throw error.diagnostic }
                    // A later page's error: a reject for the missing page; the next pages are read.
                    builder.begin(line: value.line, column: value.column)
                    error.reject(in: builder)
                    try builder.deliver(to: &sink)
                    stream.noteMissingPage(error)
                    walk.wasErrorResponse = true
                    consumed = true
                }
                if walk.firstKey == nil { walk.firstKey = key }
                if walk.path == nil, let path = RecordPaths.path(forRoot: key.utf8, in: options.recordPaths) {
                    walk.path = path
                    builder.sourceFormat = .jsonDocument(recordPath: path)  // rejected records go back into such a response
                }
            } else if depth == 1, walk.path == nil, let wrapper = walk.probing, let path = RecordPaths.path(forRoot: key.utf8, in: options.recordPaths) {
                // A response one level down: the record path goes through the wrapper's key.
                walk.path = [wrapper] + path
                walk.wrapper = wrapper
                builder.sourceFormat = .jsonDocument(recordPath: [wrapper] + path)
            }
            if consumed {
                // The error response's value, read above.
            } else if let path = walk.path, depth < path.count, key == path[depth] {
                walk.reached = max(walk.reached, depth + 1)
                let isLast = depth == path.count - 1
                let next = try stream.peekNonSpace()
                if isLast {
                    if next == UInt8(ascii: "[") {
                        stream.advance()
                        try readRecords(inArrayOf: stream, builder, &sink)
                    } else if next == UInt8(ascii: "{") {
                        try readRecord(try stream.captureValue(), stream, builder, &sink)  // a single object is one record
                    } else {
                        _ = try stream.captureValue()  // null or a scalar: no records here
                    }
                } else {
                    try walkObjects(stream, depth: depth + 1, builder, &sink, &walk)  // an object, or a list of them (pages)
                }
            } else if depth == 0, walk.path == nil, case let next = try stream.peekNonSpace(), next == UInt8(ascii: "{") || next == UInt8(ascii: "[") {
                // No response at the top (yet): one level down there may be one, or a list of them.
                if walk.firstKey == key { walk.firstKeyHoldsContainer = true }
                walk.probing = key
                try walkObjects(stream, depth: 1, builder, &sink, &walk)
                walk.probing = nil
            } else if let path = walk.path, depth > 0, case let names = Array(path[..<depth]) + [key],
                RecordPaths.holdsRecordsOffPath(names, recordPath: path, wrapped: walk.wrapper != nil)
            {
                if walk.strayRecords == nil { walk.strayRecords = names }
                _ = try stream.captureValue()
            } else if key == RecordPaths.totalKey || key == RecordPaths.hasNextKey, walk.isResponseLevel(depth) {
                // At the root, before or after the path's name (a simplified response's keys come in any order).
                let text = Self.scalarText(try stream.captureValue().bytes)
                let totals: WritableKeyPath<DocumentWalk, ResponseTotals> = depth == 0 ? \.rootTotals : \.wrappedTotals
                if key == RecordPaths.totalKey { walk[keyPath: totals].total = text } else { walk[keyPath: totals].hasNext = text }
            } else {
                _ = try stream.captureValue()  // skipped, but checked
            }
            let next = try stream.peekNonSpace()
            guard next == UInt8(ascii: ",") || next == UInt8(ascii: "}") else { throw stream.error("expected ',' or '}' in an object") }
            stream.advance()
            if next == UInt8(ascii: "}") { return }
        }
    }

    /// The value at the stream: an object is walked at `depth`, each object of a list too (other
    /// values are skipped, but checked).
    private func walkObjects(
        _ stream: JSONStream, depth: Int, _ builder: KeyedRecordBuilder, _ sink: inout some RecordSink, _ walk: inout DocumentWalk
    ) throws {
        switch try stream.peekNonSpace() {
        case UInt8(ascii: "{"):
            stream.advance()
            try walkObject(stream, depth: depth, builder, &sink, &walk)
        case UInt8(ascii: "["):
            stream.advance()
            try readElements(inArrayOf: stream) {
                if try stream.peekNonSpace() == UInt8(ascii: "{") {
                    stream.advance()
                    try walkObject(stream, depth: depth, builder, &sink, &walk)
                } else {
                    _ = try stream.captureValue()
                }
            }
        default:
            _ = try stream.captureValue()
        }
    }

    /// A captured scalar as text: a string without its quotes, a number or literal as written.
    private static func scalarText(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        let text = String(decoding: bytes, as: UTF8.self).trimmingASCIIWhitespace()
        return text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }

    private static let errorResponsePrefix = Array("error_response/".utf8)

    /// A record that is a TOP `{"error_response":{…}}`: the export failed there. The file's first
    /// record: fatal. After others: the record is rejected as the missing page it stands for, and
    /// the stream notes that the file is incomplete.
    /// Returns whether it was one: a missing page is no row to fix, so its text is not re-fed.
    private static func refuseErrorResponse(_ builder: KeyedRecordBuilder, _ stream: JSONStream) throws -> Bool {
        let prefix = Self.errorResponsePrefix
        let bytes = builder.bytes
        // Every field of an error response is under it: a record whose first one is not, is none.
        guard let first = builder.fields.first, bytes[first.pathStart..<first.pathEnd].starts(with: prefix) else { return false }
        var fields: [String: String] = [:]
        for field in builder.fields {
            let path = bytes[field.pathStart..<field.pathEnd]
            guard path.starts(with: prefix) else { continue }
            fields[String(decoding: path.dropFirst(prefix.count), as: UTF8.self)] =
                String(decoding: bytes[field.valueStart..<field.valueEnd], as: UTF8.self)
        }
        guard !fields.isEmpty, fields.count == builder.fields.count else { return false }
        let error = TOPErrorResponse(fields: fields, location: SourceLocation(file: builder.file.path, line: builder.line, column: builder.column))
        guard builder.ordinal > 1 else { throw error.diagnostic }
        error.reject(in: builder)
        stream.noteMissingPage(error)
        return true
    }

    private func topError(_ value: JSONStream.Captured, path: String) -> TOPErrorResponse {
        let collector = KeyedRecordBuilder(file: InputFile(path: "-"), fieldNames: [])
        collector.begin(line: value.line, column: value.column)
        var parser = JSONRecordParser(value.bytes, line: value.line, column: value.column, builder: collector)
        try? parser.parseRecord(requireEnd: true)
        var fields: [String: String] = [:]
        withExtendedLifetime(collector) {  // `bytes` points into its store
            let bytes = collector.bytes
            for field in collector.fields {
                fields[String(decoding: bytes[field.pathStart..<field.pathEnd], as: UTF8.self)] =
                    String(decoding: bytes[field.valueStart..<field.valueEnd], as: UTF8.self)
            }
        }
        return TOPErrorResponse(fields: fields, location: SourceLocation(file: path, line: value.line, column: value.column))
    }
}

/// A TOP `error_response` (code, msg, sub_code, sub_msg). Instead of data it is a fatal
/// diagnostic; after records or pages of the same file (a paging script that wrote the error it
/// got for one page and went on) it is a reject, and the file is reported incomplete: that page
/// is missing from the export.
struct TOPErrorResponse {
    var fields: [String: String]
    var location: SourceLocation

    /// `code 7 App Call Limited (sub_code …: …)`.
    var summary: String {
        var text = "code \(fields["code"] ?? "?")"
        if let msg = fields["msg"] { text += " \(msg)" }
        if let sub = fields["sub_code"] { text += " (sub_code \(sub)" + (fields["sub_msg"].map { ": \($0)" } ?? "") + ")" }
        return text
    }

    var diagnostic: Diagnostic {
        var notes: [String] = []
        switch fields["code"] ?? "?" {
        case "7": notes.append("the app was throttled (App Call Limited); fetch the export again later")
        case "25", "28", "29": notes.append("the exporter's app key or signature is wrong; fix its credentials and export again")
        case "26", "27": notes.append("the seller's session expired; re-authorise and export again")
        default: notes.append("fix the export and fetch it again; no records were read from this file")
        }
        return Diagnostic(
            code: "input.top_error_response", message: "the file is a TOP error response, not data: \(summary)", location: location,
            notes: notes)
    }

    /// What the file's report says when `count` pages are missing, the first at `first`.
    static func missingPages(first: TOPErrorResponse, count: Int) -> String {
        (count == 1 ? "" : "\(count) TOP error responses where pages of refunds should be, the first: ")
            + "line \(first.location.line) is a TOP error response (\(first.summary)) where a page of refunds should be: that page is missing from the export, the rest of the file was read; fetch the export again"
    }

    /// The reject that stands for the missing page, as the builder's current record.
    func reject(in builder: KeyedRecordBuilder) {
        builder.addProblem(
            .malformed, "a TOP error response, not refunds: \(summary); the page of the export it stands for is missing",
            line: location.line, column: location.column)
    }
}

struct JSONSyntaxError: Error {
    var message: String
    var line: Int
    var column: Int
}

/// The chunked byte stream under the JSON reader: navigation tokens, and capture of whole
/// values as contiguous bytes. Tracks line and column. Not `Sendable`: one per read, on one
/// thread, with no overlapping access: hence `@exclusivity(unchecked)` on the cursor state.
final class JSONStream {
    struct Captured {
        var bytes: UnsafeBufferPointer<UInt8>
        var line: Int
        var column: Int
    }

    @exclusivity(unchecked) private var window: InputWindow
    /// Reused by every record parsed from this stream.
    let parseBuffers = JSONParseBuffers()
    private var buffer: UnsafeMutableRawBufferPointer { window.buffer }
    private var start: Int {  // next unread byte
        get { window.start }
        set { window.start = newValue }
    }
    private var end: Int { window.end }
    @exclusivity(unchecked) private(set) var line = 1
    @exclusivity(unchecked) private var lineStart = 0  // where the current line starts (may be negative after compaction)
    @exclusivity(unchecked) private(set) var blankLines = 0
    /// Set when a later record or page of the file is a TOP error response: the file is incomplete.
    @exclusivity(unchecked) private var firstMissingPage: TOPErrorResponse?
    @exclusivity(unchecked) private var missingPageCount = 0

    func noteMissingPage(_ error: TOPErrorResponse) {
        missingPageCount += 1
        if firstMissingPage == nil { firstMissingPage = error }
    }

    var missingPages: String? { firstMissingPage.map { TOPErrorResponse.missingPages(first: $0, count: missingPageCount) } }

    /// Whether the line `nextLine` gave last ended with a line break (the last one may not).
    @exclusivity(unchecked) private(set) var lineWasTerminated = true
    let path: String

    init(file: InputFile, options: JSONReaderOptions) throws {
        window = InputWindow(file: try ChunkedFile(file, decompresses: true, convertsUTF16: true), chunkSize: options.chunkSize, maxBytes: options.maxRecordBytes)
        path = file.path
    }

    var bytesRead: Int { window.bytesRead }
    var hexDigest: String { window.hexDigest }
    var convertedFrom: String? { window.convertedFrom }
    var isCompressed: Bool { window.isCompressed }
    var bytesHandedOut: Int { window.bytesHandedOut }
    var column: Int { start - lineStart + 1 }

    func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, line: line, column: column)
    }

    /// Reads more input, keeping the bytes from `start` on (they move to the front, and the
    /// line start with them); false at the end.
    private func fill() throws -> Bool {
        let (path, line, column, maxBytes) = (path, line, column, window.maxBytes)
        let (shift, more) = try window.refill(tooLarge: {
            Diagnostic(
                code: "input.record_too_large", message: "a JSON value starting here is larger than \(maxBytes >> 20) MiB",
                location: SourceLocation(file: path, line: line, column: column),
                notes: ["this is almost always a broken file; a refund record is a few KB"])
        })
        lineStart -= shift
        return more
    }

    func skipByteOrderMark() throws {
        while end - start < 3, try fill() {}
        if end - start >= 3, buffer[start] == 0xEF, buffer[start + 1] == 0xBB, buffer[start + 2] == 0xBF {
            start += 3
            lineStart = start
        }
    }

    /// The bytes from here to the end of the line (at most 4 KiB of them), not consumed.
    func peekFirstLine() throws -> [UInt8] {
        while end - start < 4096, try fill() {}
        var bytes: [UInt8] = []
        var index = start
        while index < end, bytes.count < 4096, buffer[index] != 0x0A {
            bytes.append(buffer[index])
            index += 1
        }
        return bytes
    }

    /// Whether a line after the first, among the next 64 KiB, starts with `{"` (after spaces):
    /// nothing is consumed.
    func laterLineStartsAnObject() throws -> Bool {
        while end - start < 1 << 16, try fill() {}
        var index = start
        while index < end {
            guard let lineEnd = (index..<end).first(where: { buffer[$0] == 0x0A }) else { return false }
            index = lineEnd + 1
            while index < end, buffer[index] == 0x20 || buffer[index] == 0x09 { index += 1 }
            if index + 1 < end, buffer[index] == UInt8(ascii: "{"), buffer[index + 1] == UInt8(ascii: "\"") { return true }
        }
        return false
    }

    /// The first byte (after spaces) of the first line after the first one that is not blank,
    /// among the next 64 KiB; nil when there is none. Nothing is consumed.
    func secondLineStart() throws -> UInt8? {
        while end - start < 1 << 16, try fill() {}
        guard var index = (start..<end).first(where: { buffer[$0] == 0x0A }) else { return nil }
        index += 1
        while index < end, isJSONSpace(buffer[index]) { index += 1 }
        return index < end ? buffer[index] : nil
    }

    /// The first key of the object that starts here (after white space), when it is a plain one
    /// (`{"name":`), else empty. Nothing but the white space before the object is consumed.
    func peekFirstKey() throws -> [UInt8] {
        guard try skipSpace() != nil else { return [] }
        while true {
            let window = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, count: end - start)
            switch FirstKey.scan(window) {
            case .key(let range): return Array(window[range])
            case .none: return []
            case .incomplete:
                // Not all here yet: read more (the bytes from `start` on are kept), a few KiB at most.
                guard end - start < 4096, try fill() else { return [] }
            }
        }
    }

    /// The next byte that is not white space (not consumed), or `nil` at the end of input.
    func skipSpace() throws -> UInt8? {
        while true {
            if start == end {
                guard try fill() else { return nil }
                continue
            }
            let byte = buffer[start]
            switch byte {
            case 0x20, 0x09, 0x0D: start += 1
            case 0x0A:
                start += 1
                line += 1
                lineStart = start
            default: return byte
            }
        }
    }

    /// The next byte that is not white space (not consumed); throws at the end of input.
    func peekNonSpace() throws -> UInt8 {
        guard let byte = try skipSpace() else { throw error("unexpected end of input") }
        return byte
    }

    func advance() { start += 1 }

    func expect(_ byte: UInt8) throws {
        let next = try peekNonSpace()
        guard next == byte else {
            throw error("expected '\(Character(UnicodeScalar(byte)))' but found '\(Character(UnicodeScalar(next)))'")
        }
        start += 1
    }

    /// Only white space may follow the document.
    func expectEnd() throws {
        if try skipSpace() != nil { throw error("unexpected text after the end of the JSON document") }
    }

    /// Reads the rest of the file so that size and sha256 cover it all.
    func drain() throws { try window.drain() }

    /// An object key (a short string), decoded.
    func readKey() throws -> String {
        let value = try captureValue()
        guard value.bytes.first == UInt8(ascii: "\"") else {
            throw JSONSyntaxError(message: "expected a key in quotes", line: value.line, column: value.column)
        }
        var builderless = JSONRecordParser(value.bytes, line: value.line, column: value.column, builder: nil)
        return String(decoding: try builderless.parseStringValue(), as: UTF8.self)
    }

    /// The extent of the next value (object, array, string or literal), contiguous in the
    /// buffer and valid until the next call. Brackets and quotes are balanced; the value's own
    /// grammar is checked later by `JSONRecordParser`.
    func captureValue() throws -> Captured {
        _ = try peekNonSpace()
        let valueLine = line
        let valueColumn = column
        var index = start
        var depth = 0
        var inString = false
        var escaped = false
        var lines = 0
        var lastLineStart = lineStart
        let first = buffer[start]
        let isScalar = first != UInt8(ascii: "{") && first != UInt8(ascii: "[") && first != UInt8(ascii: "\"")
        while true {
            if index == end {
                let offset = index - start
                let lineOffset = lastLineStart - start
                let more = try fill()
                index = start + offset  // rebased even when nothing more came: fill compacts first
                lastLineStart = start + lineOffset
                if !more {
                    if isScalar && depth == 0 { break }
                    throw JSONSyntaxError(message: inString ? "a string is never closed" : "the file ends inside a value", line: valueLine + lines, column: index - lastLineStart + 1)
                }
                continue
            }
            if inString && !escaped {
                index = Self.skipPlainString(buffer, from: index, to: end)
                if index == end { continue }
            }
            let byte = buffer[index]
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                    if depth == 0 {
                        index += 1
                        break
                    }
                } else if byte == 0x0A {
                    lines += 1
                    lastLineStart = index + 1
                }
                index += 1
                continue
            }
            if isScalar {
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == 0x20
                    || byte == 0x0A || byte == 0x0D || byte == 0x09
                {
                    break
                }
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            case 0x0A:
                lines += 1
                lastLineStart = index + 1
            default: break
            }
            index += 1
            if depth == 0 && !inString { break }
        }
        if index == start {
            // A closing bracket or a comma where a value belongs (`[1,]`, `{"a":}`): no value at all.
            throw JSONSyntaxError(message: "expected a value but found '\(Character(UnicodeScalar(first)))'", line: valueLine, column: valueColumn)
        }
        let captured = Captured(
            bytes: UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, count: index - start),
            line: valueLine, column: valueColumn)
        line += lines
        lineStart = lastLineStart
        start = index
        return captured
    }

    /// Where the next `"`, `\` or line feed at or after `index` is (or `end`): string bytes
    /// that change nothing for the capture, skipped eight at a time.
    private static func skipPlainString(_ buffer: UnsafeMutableRawBufferPointer, from index: Int, to end: Int) -> Int {
        var index = index
        let base = UnsafeRawPointer(buffer.baseAddress!)
        while index + 8 <= end {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let stops = SWAR.bytes(word, equalTo: 0x22) | SWAR.bytes(word, equalTo: 0x5C) | SWAR.bytes(word, equalTo: 0x0A)
            if stops != 0 { return index + stops.trailingZeroBitCount >> 3 }
            index += 8
        }
        return index
    }

    /// The next non-blank line of a JSON Lines file (without its line break), or `nil`.
    func nextLine() throws -> (bytes: UnsafeBufferPointer<UInt8>, number: Int)? {
        while true {
            var index = start
            while true {
                if index < end, let found = memchr(buffer.baseAddress! + index, 0x0A, end - index) {
                    index = found - buffer.baseAddress!
                    break
                }
                index = end
                let offset = index - start
                let more = try fill()
                index = start + offset  // rebased even when nothing more came: fill compacts first
                if !more { break }
            }
            if index == start && start == end { return nil }  // end of input
            var lineEnd = index
            if lineEnd > start, buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
            let number = line
            let bytes = UnsafeBufferPointer(start: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self) + start, count: lineEnd - start)
            let isBlank = bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 }
            lineWasTerminated = index < end
            start = index < end ? index + 1 : index
            line += 1
            lineStart = start
            if isBlank {
                blankLines += 1
                continue
            }
            return (bytes, number)
        }
    }
}

/// The growable buffers a `JSONRecordParser` works in; a reader keeps one for all its records.
final class JSONParseBuffers {
    let path = ByteBuffer(capacity: 256)
    let scratch = ByteBuffer(capacity: 1024)
}

/// JSON's white space: space, tab, line feed, carriage return.
@inline(__always) func isJSONSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
}

/// The first key of an object's text (`{"name":`, after JSON white space: a pretty-printed
/// object has a line end after its `{`), for telling a whole response from a record.
enum FirstKey {
    case key(Range<Int>)
    /// Not an object, or its first key is not a plain string.
    case none
    /// The text ends before the key does.
    case incomplete

    /// A response's own keys, which may come before the one that names its records in TOP's
    /// simplified JSON (`{"total_results":3,"refunds":[…]}`): passed over when their value is a
    /// scalar, so the key after them is the one that tells a response.
    private static let responseKeys: [[UInt8]] = [RecordPaths.totalKey, RecordPaths.hasNextKey, "request_id"].map { Array($0.utf8) }

    static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> FirstKey {
        var index = 0
        func skipSpace() { while index < bytes.count, isJSONSpace(bytes[index]) { index += 1 } }
        skipSpace()
        guard index < bytes.count else { return .incomplete }
        guard bytes[index] == UInt8(ascii: "{") else { return .none }
        index += 1
        var first: Range<Int>?
        while true {
            skipSpace()
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == UInt8(ascii: "\"") else { return first.map { .key($0) } ?? .none }
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
            guard end < bytes.count else { return .incomplete }
            let key = UnsafeBufferPointer(rebasing: bytes[start..<end])
            guard bytes[end] == UInt8(ascii: "\""), responseKeys.contains(where: { key.elementsEqual($0) }) else { return .key(start..<end) }
            // A response's own key: pass over `: scalar ,` to the next key.
            first = first ?? start..<end
            index = end + 1
            skipSpace()
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == UInt8(ascii: ":") else { return .key(first!) }
            index += 1
            skipSpace()
            guard index < bytes.count else { return .incomplete }
            if bytes[index] == UInt8(ascii: "\"") {
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "\"") { index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1 }
                guard index < bytes.count else { return .incomplete }
                index += 1
            } else {
                guard bytes[index] != UInt8(ascii: "{"), bytes[index] != UInt8(ascii: "[") else { return .key(first!) }
                while index < bytes.count, bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}"), !isJSONSpace(bytes[index]) { index += 1 }
            }
            skipSpace()
            guard index < bytes.count else { return .incomplete }
            guard bytes[index] == UInt8(ascii: ",") else { return .key(first!) }  // only its own keys: no records
            index += 1
        }
    }
}

/// Parses one captured JSON record (an object) in memory into path → value fields.
struct JSONRecordParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let builder: KeyedRecordBuilder?
    var index = 0
    private var line: Int
    private var lineStart: Int
    private let path: ByteBuffer
    private let scratch: ByteBuffer
    /// Where the first byte that is not UTF-8 sits (`Int.max`: none). Checked once for the whole
    /// record; a string whose raw bytes contain it is refused. (Escapes always decode to valid
    /// UTF-8 and never complete a raw sequence, so this equals checking every decoded string.)
    private let firstInvalidUTF8: Int
    /// An array element that is `{}`, `[]` or `null` adds a field with the element's path and an
    /// empty value, so that a response's record list keeps elements without fields (they become
    /// records that are rejected, not nothing).
    var marksEmptyElements = false
    /// The record path of a response being parsed (its names joined by `/`), or nil. There the
    /// parser notes where each record's text lies (`recordSpans`), for a rejected record's bytes.
    var recordPath: [UInt8]?
    /// Where the value at `recordPath` lies when it is one object, or where each element lies when
    /// it is an array (element n at n); empty when the path was not found, or found twice.
    private(set) var recordSpans: [Range<Int>] = []
    private var recordPathsFound = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>, line: Int, column: Int, builder: KeyedRecordBuilder?, buffers: JSONParseBuffers = JSONParseBuffers()) {
        self.bytes = bytes
        self.builder = builder
        self.line = line
        lineStart = -(column - 1)
        path = buffers.path
        scratch = buffers.scratch
        path.removeAll()
        firstInvalidUTF8 = UTF8Validation.firstInvalidOffset(bytes) ?? Int.max
    }

    private var column: Int { index - lineStart + 1 }

    func error(_ message: String) -> JSONSyntaxError {
        JSONSyntaxError(message: message, line: line, column: column)
    }

    mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0D: index += 1
            case 0x0A:
                index += 1
                line += 1
                lineStart = index
            default: return
            }
        }
    }

    /// The whole input must be one object.
    mutating func parseRecord(requireEnd: Bool) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else {
            let found = index < bytes.count && bytes[index] == UInt8(ascii: "[") ? ", not an array (a file of JSON arrays, one or several one after another or one per line, needs the reader's shape: array or auto, as pipelines/taobao-top-refunds-json.yaml has)" : ""
            throw error("a record must be a JSON object\(found)")
        }
        try parseValue(depth: 0)
        skipSpace()
        if requireEnd && index < bytes.count { throw error("unexpected text after the record") }
    }

    /// How deep values may nest: far more than any export needs (a TOP record is about five
    /// deep), and shallow enough that a corrupt or hostile file cannot exhaust the stack.
    static let maxNesting = 64

    private mutating func parseValue(depth: Int) throws {
        guard depth < Self.maxNesting else { throw error("nested more than \(Self.maxNesting) deep") }
        skipSpace()
        guard index < bytes.count else { throw error("unexpected end of the value") }
        let valueLine = line
        let valueColumn = column
        let atRecordPath = recordPath.map { recordPath in recordPath.withUnsafeBufferPointer { path.equals(0..<path.count, $0) } } ?? false
        if atRecordPath {
            recordPathsFound += 1
            recordSpans.removeAll()
        }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            let objectStart = index
            defer { if atRecordPath && recordPathsFound == 1 { recordSpans = [objectStart..<index] } }
            if isEmptyContainer(closing: UInt8(ascii: "}")) { return }
            repeat {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key in quotes" + notJSONHint()) }
                let key = try stringBytes()  // first: a mutating call inside pushPath's arguments would copy the parser
                let saved = pushPath(key)
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                index += 1
                try parseValue(depth: depth + 1)
                path.truncate(to: saved)
            } while try another(closing: UInt8(ascii: "}"), in: "an object")
        case UInt8(ascii: "["):
            if isEmptyContainer(closing: UInt8(ascii: "]")) { return }
            var element = 0
            repeat {
                let saved = Array(String(element).utf8).withUnsafeBufferPointer { pushPath($0) }
                skipSpace()
                let elementStart = index
                if try !marksEmptyElements || !markEmptyElement() { try parseValue(depth: depth + 1) }
                if atRecordPath && recordPathsFound == 1 { recordSpans.append(elementStart..<index) }
                path.truncate(to: saved)
                element += 1
            } while try another(closing: UInt8(ascii: "]"), in: "an array")
        case UInt8(ascii: "\""):
            let value = try stringBytes()
            emit(value, line: valueLine, column: valueColumn)
        case UInt8(ascii: "t"):
            try literal("true")
            emit(literal: "true", line: valueLine, column: valueColumn)
        case UInt8(ascii: "f"):
            try literal("false")
            emit(literal: "false", line: valueLine, column: valueColumn)
        case UInt8(ascii: "n"):
            try literal("null")  // absent
        default:
            let start = index
            try number()
            emit(UnsafeBufferPointer(rebasing: bytes[start..<index]), line: valueLine, column: valueColumn)
        }
    }

    /// An array element that is `{}`, `[]` or `null`: consumed, and marked with an empty value
    /// at its path (`marksEmptyElements`). Anything else is left for `parseValue`.
    private mutating func markEmptyElement() throws -> Bool {
        skipSpace()
        guard index < bytes.count else { return false }
        let (elementLine, elementColumn, saved) = (line, column, (line, lineStart, index))
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let closing = bytes[index] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            guard isEmptyContainer(closing: closing) else {
                (line, lineStart, index) = saved  // not empty: parse it whole
                return false
            }
        case UInt8(ascii: "n"):
            try literal("null")
        default:
            return false
        }
        emit(UnsafeBufferPointer(start: nil, count: 0), line: elementLine, column: elementColumn)
        return true
    }

    /// After `{` or `[`: consumes it, and the closing bracket too when the container is empty.
    mutating func isEmptyContainer(closing: UInt8) -> Bool {
        index += 1
        skipSpace()
        guard index < bytes.count, bytes[index] == closing else { return false }
        index += 1
        return true
    }

    /// After an item: true (and the `,` consumed) when another follows, false (and the closing
    /// bracket consumed) at the end.
    mutating func another(closing: UInt8, in container: String) throws -> Bool {
        skipSpace()
        guard index < bytes.count else { throw error("\(container) is not closed") }
        if bytes[index] == UInt8(ascii: ",") {
            index += 1
            return true
        }
        guard bytes[index] == closing else {
            throw error("expected ',' or '\(Character(UnicodeScalar(closing)))' in \(container)")
        }
        index += 1
        return false
    }

    /// Appends a path component (after `/`); returns where to cut back to.
    private func pushPath(_ component: UnsafeBufferPointer<UInt8>) -> Int {
        let saved = path.count
        if path.count > 0 { path.append(UInt8(ascii: "/")) }
        path.append(component)
        return saved
    }

    private func emit(literal: StaticString, line: Int, column: Int) {
        literal.withUTF8Buffer { emit($0, line: line, column: column) }
    }

    private func emit(_ value: UnsafeBufferPointer<UInt8>, line: Int, column: Int) {
        builder?.add(path: path.buffer, value: value, line: line, column: column)
    }

    mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count,
            memcmp(bytes.baseAddress! + index, word.utf8Start, count) == 0
        else { throw error("unexpected character; expected a value" + notJSONHint()) }
        index += count
    }

    /// JSON number grammar; the text is kept exactly.
    mutating func number() throws {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else {
            index = start
            throw error("unexpected character; expected a value" + notJSONHint())
        }
        if bytes[index] == UInt8(ascii: "0") { index += 1 } else { while index < bytes.count, isDigit(bytes[index]) { index += 1 } }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("a digit must follow the decimal point") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("a digit must follow the exponent") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
    }

    @inline(__always) private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// What a value that is not JSON at `index` most likely is, as a clause to add to the error:
    /// what a script writes when it does not write JSON (Python's `NaN`, `None`, `True`, a
    /// single-quoted string; JavaScript's `undefined`).
    func notJSONHint() -> String {
        let rest = UnsafeBufferPointer(rebasing: bytes[index..<min(bytes.count, index + 10)])
        func starts(_ word: String) -> Bool {
            rest.starts(with: word.utf8) && (rest.count == word.utf8.count || !Self.isWordByte(rest[word.utf8.count]))
        }
        if let word = ["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf"].first(where: starts) {
            return ": \(word) is not JSON (Python's json.dumps writes it for a float that is not a number, such as a pandas empty cell); "
                + "the exporter should write null for no value"
        }
        if let word = ["None", "True", "False"].first(where: starts) {
            return ": \(word) is Python, not JSON (the file was written with str() or print, not json.dumps): "
                + "write it with json.dumps, which writes \(word == "None" ? "null" : word.lowercased())"
        }
        if starts("undefined") { return ": undefined is JavaScript, not JSON; the exporter should write null for no value" }
        if rest.first == UInt8(ascii: "'") {
            return ": JSON strings are in double quotes (single quotes are Python's repr of a dict): write the file with json.dumps"
        }
        return ""
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || ((byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A) || byte == UInt8(ascii: "_")
    }

    /// A string at `index` (which holds `"`), unescaped: its own bytes in the record when it has
    /// no escape (most keys and values: no copy), else unescaped into the scratch buffer. Valid
    /// until the next string. The scan takes eight bytes at a time.
    mutating func stringBytes() throws -> UnsafeBufferPointer<UInt8> {
        let start = index + 1
        let count = bytes.count
        var end = start
        let base = UnsafeRawPointer(bytes.baseAddress!)
        while end + 8 <= count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: end, as: UInt64.self))
            let flags =
                SWAR.bytes(word, equalTo: UInt8(ascii: "\"")) | SWAR.bytes(word, equalTo: UInt8(ascii: "\\"))
                | SWAR.bytes(word, below: 0x20)
            if flags != 0 {
                end += flags.trailingZeroBitCount >> 3
                break
            }
            end += 8
        }
        while end < count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
        guard end < count, bytes[end] == UInt8(ascii: "\"") else {
            try parseString(into: scratch)  // escapes, or an error to report: the careful way
            return scratch.buffer
        }
        index = end + 1
        if firstInvalidUTF8 >= start && firstInvalidUTF8 < end { throw notUTF8(start..<end) }
        return UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// The error for a string whose bytes (`range`) are not UTF-8; when they read as GB18030 (a
    /// file a Chinese Windows tool wrote in GBK), it shows them so and says how to convert.
    private func notUTF8(_ range: Range<Int>) -> JSONSyntaxError {
        var message = "a string holds bytes that are not UTF-8"
        var decoded: [UInt8] = []
        if let decoder = try? FieldDecoder(.gb18030), decoder.decode(UnsafeBufferPointer(rebasing: bytes[range]), into: &decoded) == nil {
            var text = String(decoding: decoded, as: UTF8.self)
            if text.count > 20 { text = String(text.prefix(20)) + "…" }
            message += "; read as GBK they are '\(text)': the file is GBK (GB18030), and JSON is UTF-8: convert it (iconv -f GB18030 -t UTF-8)"
        }
        return error(message)
    }

    /// A string at `index` (which holds `"`), unescaped to UTF-8. Raw bytes must be valid UTF-8.
    mutating func parseStringValue() throws -> [UInt8] {
        try parseString(into: scratch)
        return scratch.array
    }

    /// The same, into a reused buffer (the hot path).
    mutating func parseString(into out: ByteBuffer) throws {
        out.removeAll()
        index += 1
        let runStart = index
        // Fast path: no escapes.
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 {
            index += 1
        }
        out.append(UnsafeBufferPointer(rebasing: bytes[runStart..<index]))
        while true {
            guard index < bytes.count else { throw error("a string is never closed") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                break
            }
            if byte < 0x20 {
                throw error(byte == 0x0A ? "a line break inside a string must be written \\n" : "a control character inside a string must be escaped")
            }
            if byte != UInt8(ascii: "\\") {
                out.append(byte)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw error("a string is never closed") }
            let escape = bytes[index]
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("a lone surrogate in a \\u escape")
                    }
                    index += 2
                    let low = try hex4()
                    guard low >= 0xDC00 && low < 0xE000 else { throw error("a lone surrogate in a \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    throw error("a lone surrogate in a \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw error("an invalid \\u escape") }
                for unit in UTF8.encode(unicode)! { out.append(unit) }
            default:
                throw error("an invalid escape '\\\(Character(UnicodeScalar(escape)))'")
            }
        }
        if firstInvalidUTF8 >= runStart && firstInvalidUTF8 < index { throw notUTF8(runStart..<index) }
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("a \\u escape needs 4 hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - 0x41 + 10)
            default: throw error("a \\u escape needs 4 hex digits")
            }
            value = value * 16 + digit
            index += 1
        }
        return value
    }
}

extension JSONReader {
    /// `reader: { json: { shape, recordPath } }`; `recordPath` is one path or a list of them.
    static let registration = ReaderRegistration(
        name: "json", fileExtensions: ["json", "jsonl", "ndjson"], keys: ["shape", "recordPath"],
        decode: { pairs, context in
            var options = JSONReaderOptions()
            for pair in pairs {
                switch pair.key {
                case "shape":
                    options.shape = context.choice(pair.value, "JSON shape", JSONReaderOptions.Shape.allCases.map { ($0.rawValue, $0) }) ?? .auto
                case "recordPath":
                    options.recordPaths = RecordPaths.decode(pair, &context)
                default: break
                }
            }
            return options
        },
        make: { options in JSONReader(options: options as! JSONReaderOptions) })
}
