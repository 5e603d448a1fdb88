/// Where a keyed document (JSON, XML) keeps its records: one path of names from the root, or
/// several, one per kind of response. The document's root picks the path, e.g.
/// `refunds_receive_get_response/refunds/refund` for TOP's list call and
/// `refund_get_response/refund` for its detail call.
enum RecordPaths {
    /// The path whose first name is the document's root, if any.
    static func path(forRoot root: some Collection<UInt8>, in paths: [[String]]) -> [String]? {
        paths.first { $0.first.map { $0.utf8.elementsEqual(root) } ?? false }
    }

    /// `'a/b/c'`, or `'a/b/c' or 'd/e'`, for messages.
    static func describe(_ paths: [[String]]) -> String {
        paths.map { "'\($0.joined(separator: "/"))'" }.joined(separator: " or ")
    }

    /// The note for a document that is the expected response with no records in it (TOP leaves
    /// the list out when there are none).
    static func emptyNote(path: String, _ recordPath: [String]) -> String {
        "'\(path)' is a '\(recordPath[0])' with no '\(recordPath.dropFirst().joined(separator: "/"))': no records in it"
    }

    /// The reject's message for a later document of a file (a page) that is none of the
    /// responses the pipeline reads; `format` is "JSON" or "XML".
    static func otherDocument(format: String, root: String?, _ paths: [[String]]) -> String {
        "the \(format) document starting here \(root.map { "has '\($0)' at its root" } ?? "is empty"), not a response the pipeline reads (\(describe(paths))); it was skipped"
    }

    /// The note for a file of several documents (pages saved one after another).
    static func pagesNote(path: String, format: String, documents: Int, brokenDocument: Int?, empty: Int, errorPages: Int) -> String {
        "'\(path)': \(documents) \(format) documents one after another (pages saved into one file); "
            + (brokenDocument.map { "reading stopped in document \($0), which is broken" } ?? "each was read")
            + (empty == 0 ? "" : "; \(empty) of them had no records")
            + (errorPages == 0 ? "" : "; \(errorPages) of them \(errorPages == 1 ? "is a TOP error response" : "are TOP error responses") (missing pages)")
    }

    /// The response fields that say how many records the query has: TOP's `total_results`
    /// (every page carries the query's total) and `has_next` (with `use_has_next=true`).
    static let totalKey = "total_results"
    static let hasNextKey = "has_next"

    /// The fatal error for a document with none of the paths: names the root it does have.
    /// `nestsPaths`: responses may sit below the root (XML reads them as the root's children by
    /// itself; deeper, a path from the root does), so the note shows such a path.
    static func notFound(path: String, root: String?, _ paths: [[String]], nestsPaths: Bool = false) -> Diagnostic {
        let found = root.map { "has '\($0)' at its root" } ?? "is empty"
        var notes = [
            "check the pipeline's recordPath against the file, or whether the file is another API's response",
            "recordPath may list several paths, one per kind of response; the document's root picks one",
        ]
        if nestsPaths, let root, let first = paths.first {
            notes.append(
                "a response is read at the root, or as a child of the root (pages gathered under one element); if the responses are deeper in '\(root)', "
                    + "add their whole path from the root to recordPath ('\(root)/…/\(first.joined(separator: "/"))')")
        }
        return Diagnostic(
            code: "input.no_records_path",
            message: "'\(path)' \(found); the pipeline reads records at \(describe(paths)); no records were read",
            location: SourceLocation(file: path, line: 1), notes: notes)
    }

    /// The fatal error for a response with no records at its record path but elements named as
    /// its records elsewhere (`refunds_receive_get_response/refund`, without `refunds`): an
    /// exporter's other shape, never "no records".
    static func misplaced(path: String, found: [String], expected: [String]) -> Diagnostic {
        Diagnostic(
            code: "input.no_records_path", message: "'\(path)' " + misplacedMessage(found: found, expected: expected),
            location: SourceLocation(file: path, line: 1),
            notes: ["if those are the records, add '\(found.joined(separator: "/"))' to the pipeline's recordPath (a list may hold both paths)"])
    }

    /// Whether `names` (a path from the root) is where a response holds records off
    /// `recordPath`: an element or key named as its records elsewhere (`…/refund` without
    /// `refunds`), or one in the records' list under another name (`refunds/item`) — when that
    /// list is not the response itself (whose own keys sit beside a single record, as in
    /// `refund_get_response/refund`). `wrapped`: the path's first name is a wrapper's.
    static func holdsRecordsOffPath(_ names: [some StringProtocol], recordPath: [String], wrapped: Bool) -> Bool {
        guard names.count > 1, !names.elementsEqual(recordPath, by: { $0 == $1 }) else { return false }
        if names[names.count - 1] == recordPath[recordPath.count - 1] { return true }
        return names.count == recordPath.count && recordPath.count - (wrapped ? 1 : 0) > 2
            && names.dropLast().elementsEqual(recordPath.dropLast(), by: { $0 == $1 })
    }

    /// What `misplaced` says of a document (after its name).
    static func misplacedMessage(found: [String], expected: [String]) -> String {
        "has '\(found.last ?? "")' at '\(found.joined(separator: "/"))', not at the record path '\(expected.joined(separator: "/"))'; its records were not read"
    }

    /// A page or line (`what`: "the response", "the XML document starting here") whose records
    /// sit off the path, as one `malformed` reject at `line`:`column`; `source` is its text to re-feed.
    static func rejectMisplaced(
        _ what: String, found: [String], expected: [String], line: Int, column: Int, source: UnsafeBufferPointer<UInt8>? = nil,
        in builder: KeyedRecordBuilder, into sink: inout some RecordSink
    ) throws {
        builder.begin(line: line, column: column)
        builder.addProblem(.malformed, what + " " + misplacedMessage(found: found, expected: expected), line: line, column: column)
        builder.source = source
        defer { builder.source = nil }
        try builder.deliver(to: &sink)
    }

    /// `recordPath: a/b/c`, or a list of such paths.
    static func decode(_ pair: YAMLPair, _ context: inout YAMLContext) -> [[String]] {
        guard let texts = context.stringList(pair.value, "'recordPath'") else { return [] }
        var paths: [[String]] = []
        for text in texts {
            let path = text.split(separator: "/").map(String.init)
            if path.isEmpty {
                context.error(pair.value, "wrong_type", "a record path must name at least the root, e.g. refunds_receive_get_response/refunds/refund")
            } else {
                paths.append(path)
            }
        }
        return paths
    }
}

/// Collects one record of a keyed format (JSON object, XML element) as `path → value` pairs,
/// and hands it to a sink as a `SourceRow`. Paths join nested names with `/`
/// (`refund_remind_timeout/timeout`). One builder is reused for every record of a read.
///
/// Not `Sendable`: it belongs to one read, on one thread, and no access to its state overlaps
/// another; hence `@exclusivity(unchecked)` on its hot state (checked in debug builds anyway).
final class KeyedRecordBuilder {
    struct Field {
        var pathStart: Int
        var pathEnd: Int
        var valueStart: Int
        var valueEnd: Int
        var line: Int
        var column: Int
    }

    private let slotsByPath: [String: Int]
    private let slotCount: Int
    /// Paths and values of the current record, back to back.
    private let store = ByteBuffer(capacity: 4096)
    @exclusivity(unchecked) private(set) var fields: [Field] = []
    @exclusivity(unchecked) private var slotFields: [Int]
    /// Per slot, the first field found inside it when the record has a list or nested fields
    /// (JSON array or object, XML element with children) where the pipeline reads one value.
    @exclusivity(unchecked) private var containerFields: [Int]
    /// Whether any slot has such a field this record (so a record without them pays nothing).
    private(set) var holdsContainers = false
    @exclusivity(unchecked) private(set) var problems: [RowProblem] = []
    /// The slot of every distinct path seen, found from the path's bytes (no String per field).
    @exclusivity(unchecked) private var pathSlots = PathSlotCache()
    private(set) var line = 0
    private(set) var column = 0
    private(set) var ordinal = 0
    let file: InputFile
    /// The record's exact text in the file when the reader has it on its own (a JSON Lines
    /// line, a JSON record object), set around `deliver`; or what `dumpSource` makes of it (an
    /// XML record element). For `rawBytes` and the re-feed file.
    var source: UnsafeBufferPointer<UInt8>?
    var dumpSource: (() -> [UInt8]?)?
    /// How this file's re-feed file is put together (`SourceRow.refeedFormat`).
    var sourceFormat: RefeedFormat?

    /// The current record's path and value bytes (valid until the next `add`).
    var bytes: UnsafeBufferPointer<UInt8> { store.buffer }

    /// Where a response parsed into this builder holds records off `path`
    /// (`RecordPaths.holdsRecordsOffPath`), if it does: the first such path of its fields.
    func strayRecords(of path: [String], wrapped: Bool) -> [String]? {
        let bytes = self.bytes
        for field in fields {
            let names = String(decoding: UnsafeBufferPointer(rebasing: bytes[field.pathStart..<field.pathEnd]), as: UTF8.self)
                .split(separator: "/")
            guard names.count > 1 else { continue }
            for length in 2...min(names.count, path.count) where RecordPaths.holdsRecordsOffPath(Array(names[..<length]), recordPath: path, wrapped: wrapped) {
                return names[..<length].map(String.init)
            }
        }
        return nil
    }

    /// The current record's value at `path` (names joined by `/`), if it has one.
    func value(at path: String) -> String? {
        let bytes = self.bytes
        let wanted = Array(path.utf8)
        return fields.first { bytes[$0.pathStart..<$0.pathEnd].elementsEqual(wanted) }.map {
            String(decoding: UnsafeBufferPointer(rebasing: bytes[$0.valueStart..<$0.valueEnd]), as: UTF8.self)
        }
    }

    init(file: InputFile, fieldNames: [String]) {
        self.file = file
        var slots: [String: Int] = [:]
        for (index, name) in fieldNames.enumerated() where slots[name] == nil { slots[name] = index }
        slotsByPath = slots
        slotCount = fieldNames.count
        slotFields = Array(repeating: -1, count: fieldNames.count)
        containerFields = slotFields
    }

    func begin(line: Int, column: Int) {
        restart(line: line, column: column)
        ordinal += 1
    }

    /// Takes back the record begun: it is not one (a line that turned out to be a wrapped
    /// response, whose records are delivered instead).
    func withdraw() {
        restart(line: line, column: column)
        ordinal -= 1
    }

    /// Whether a field the pipeline reads is in the current record.
    var hasReadField: Bool { slotFields.contains { $0 >= 0 } }

    /// Starts the current record over (e.g. to reject it whole after a parse error), without
    /// counting another record.
    func restart(line: Int, column: Int) {
        store.removeAll()
        fields.removeAll(keepingCapacity: true)
        problems.removeAll(keepingCapacity: true)
        for index in slotFields.indices { slotFields[index] = -1 }
        if holdsContainers {
            for index in containerFields.indices { containerFields[index] = -1 }
            holdsContainers = false
        }
        self.line = line
        self.column = column
    }

    /// Adds a field. A path the pipeline reads that comes again keeps its first value for mapping;
    /// with a different value it is also a problem (`repeated`). Every field stays in `raw`.
    func add(path: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>, line: Int, column: Int) {
        let pathStart = store.count
        store.append(path)
        let valueStart = store.count
        store.append(value)
        fields.append(Field(pathStart: pathStart, pathEnd: valueStart, valueStart: valueStart, valueEnd: store.count, line: line, column: column))
        let position = fields.count - 1
        let slot =
            pathSlots.slotSeenBefore(path, position: position)
            ?? pathSlots.slot(path, position: position) { resolveSlot($0) }
        guard slot >= 0 else {
            if slot <= -2, containerFields[-2 - slot] < 0 {
                containerFields[-2 - slot] = position
                holdsContainers = true
            }
            return
        }
        let first = slotFields[slot]
        if first < 0 {
            slotFields[slot] = position
        } else {
            repeated(first: fields[first], second: fields[position])
        }
    }

    /// A path's slot; -1 when the pipeline does not read it, or `-2 - slot` when it lies inside
    /// a path the pipeline reads as one value (`refund_fee/0` of `"refund_fee": [1]`, `sku/id`
    /// of `<sku><id>…`), the nearest such path. An attribute (`refund_fee/@currency`) is not
    /// inside the value: attributes are fields only when a pipeline asks for one.
    private func resolveSlot(_ path: UnsafeBufferPointer<UInt8>) -> Int {
        if let slot = slotsByPath[String(decoding: path, as: UTF8.self)] { return slot }
        var end = path.count
        while let slash = path[..<end].lastIndex(of: UInt8(ascii: "/")) {
            if slash + 1 < path.count, path[slash + 1] != UInt8(ascii: "@"),
                let slot = slotsByPath[String(decoding: UnsafeBufferPointer(rebasing: path[..<slash]), as: UTF8.self)]
            {
                return -2 - slot
            }
            end = slash
        }
        return -1
    }

    /// The first field inside `slot`'s path when the record has a list or nested fields there
    /// and no value of its own (`SourceRow.containerInside`).
    func containerInside(slot: Int) -> SourceContainer? {
        guard holdsContainers, slotFields[slot] < 0, containerFields[slot] >= 0 else { return nil }
        let field = fields[containerFields[slot]]
        let bytes = store.buffer
        let path = String(decoding: bytes[field.pathStart..<field.pathEnd], as: UTF8.self)
        let value = String(decoding: bytes[field.valueStart..<field.valueEnd], as: UTF8.self)
        return SourceContainer(innerPath: path, innerValue: value, location: SourceLocation(file: file.path, line: field.line, column: field.column))
    }

    /// A field the pipeline reads appears twice in one record (`<title>` twice, a repeated JSON
    /// key). The same value twice is harmless; different values are a problem, not a guess.
    private func repeated(first: Field, second: Field) {
        let bytes = store.buffer
        let a = bytes[first.valueStart..<first.valueEnd]
        let b = bytes[second.valueStart..<second.valueEnd]
        guard !a.elementsEqual(b) else { return }
        let path = String(decoding: bytes[second.pathStart..<second.pathEnd], as: UTF8.self)
        func shown(_ value: Slice<UnsafeBufferPointer<UInt8>>) -> String {
            let text = String(decoding: value, as: UTF8.self)
            return text.count > 60 ? String(text.prefix(60)) + "…" : text  // both stay whole in `raw`
        }
        addProblem(
            .malformed,
            "'\(path)' appears twice in the record with different values ('\(shown(a))', then '\(shown(b))'); RefundFlow does not guess which one is meant",
            line: second.line, column: second.column, field: path)
    }

    func addProblem(_ code: RowErrorCode, _ message: String, line: Int, column: Int, field: String? = nil) {
        problems.append(RowProblem(code: code, message: message, sourceField: field, location: SourceLocation(file: file.path, line: line, column: column)))
    }

    /// Delivers the record to `sink`.
    func deliver(to sink: inout some RecordSink) throws {
        let bytes = store.buffer
        try fields.withUnsafeBufferPointer { fields in
            try slotFields.withUnsafeBufferPointer { slots in
                try problems.withUnsafeBufferPointer { problems in
                    try sink.consume(
                        KeyedRow(
                            origin: RecordOrigin(file: file.path, line: line, record: ordinal), bytes: bytes,
                            fields: fields, slotFields: slots, problemList: problems, column: column, builder: self))
                }
            }
        }
    }
}

/// Field paths → slots, keyed by the path bytes: an open-addressing table over every distinct
/// path seen (at most `limit`; past that, paths are resolved each time and not kept). Records of
/// one file mostly repeat their keys in the same order, so the path seen last time at the same
/// position is tried first: one memcmp instead of a hash.
struct PathSlotCache {
    private struct Entry {
        var path: Range<Int>
        var hash: UInt64
        var slot: Int
    }

    private let store = ByteBuffer(capacity: 4096)
    private var entries: [Entry] = []
    private var table = [Int32](repeating: 0, count: 4096)  // entry index + 1; 0 is empty
    /// The entry found at each field position last time (-1: none yet).
    private var byPosition: [Int] = []
    static let limit = 2048

    /// The slot of the path seen last time at this position, when `path` is that one again: the
    /// common case, with no closure (and no reference counting) involved.
    @inline(__always) func slotSeenBefore(_ path: UnsafeBufferPointer<UInt8>, position: Int) -> Int? {
        guard position < byPosition.count, byPosition[position] >= 0 else { return nil }
        let entry = entries[byPosition[position]]
        return store.equals(entry.path, path) ? entry.slot : nil
    }

    mutating func slot(
        _ path: UnsafeBufferPointer<UInt8>, position: Int, resolve: (UnsafeBufferPointer<UInt8>) -> Int
    ) -> Int {
        if let slot = slotSeenBefore(path, position: position) { return slot }
        let hash = ByteHash.hash(path)
        let mask = table.count - 1
        var index = Int(truncatingIfNeeded: hash) & mask
        while table[index] != 0 {
            let found = Int(table[index]) - 1
            if entries[found].hash == hash && store.equals(entries[found].path, path) {
                remember(found, at: position)
                return entries[found].slot
            }
            index = (index + 1) & mask
        }
        let slot = resolve(path)
        if entries.count < Self.limit {
            entries.append(Entry(path: store.count..<(store.count + path.count), hash: hash, slot: slot))
            store.append(path)
            table[index] = Int32(entries.count)
            remember(entries.count - 1, at: position)
        }
        return slot
    }

    private mutating func remember(_ entry: Int, at position: Int) {
        guard position < Self.limit else { return }
        while byPosition.count <= position { byPosition.append(-1) }
        byPosition[position] = entry
    }
}

/// One keyed record as a `SourceRow`; pointers only, valid during the sink's call.
struct KeyedRow: SourceRow {
    let origin: RecordOrigin
    let bytes: UnsafeBufferPointer<UInt8>
    let fields: UnsafeBufferPointer<KeyedRecordBuilder.Field>
    let slotFields: UnsafeBufferPointer<Int>
    let problemList: UnsafeBufferPointer<RowProblem>
    let column: Int
    /// For the record's source text, asked for only when it is rejected. Alive during the
    /// sink's call, as the row is: no reference counting per record.
    unowned(unsafe) let builder: KeyedRecordBuilder

    var problems: [RowProblem] { Array(problemList) }
    var hasProblems: Bool { !problemList.isEmpty }

    func withValue<R>(slot: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let index = slotFields[slot]
        guard index >= 0 else { return try body(nil) }
        let field = fields[index]
        return try body(UnsafeBufferPointer(rebasing: bytes[field.valueStart..<field.valueEnd]))
    }

    var holdsContainers: Bool { builder.holdsContainers }

    func containerInside(slot: Int) -> SourceContainer? { builder.containerInside(slot: slot) }

    func location(slot: Int) -> SourceLocation {
        let index = slotFields[slot]
        guard index >= 0 else { return SourceLocation(file: origin.file, line: origin.line, column: column) }
        return SourceLocation(file: origin.file, line: fields[index].line, column: fields[index].column)
    }

    func rawFields() -> [(name: String, value: String)] {
        var seen: [String: Int] = [:]
        return fields.map { field in
            var name = String(decoding: bytes[field.pathStart..<field.pathEnd], as: UTF8.self)
            seen[name, default: 0] += 1
            if seen[name]! > 1 { name += "#\(seen[name]!)" }
            return (name, String(decoding: bytes[field.valueStart..<field.valueEnd], as: UTF8.self))
        }
    }

    func rawBytes() -> [UInt8]? { builder.source.map(Array.init) ?? builder.dumpSource?() }

    func refeedFormat() -> RefeedFormat? { builder.sourceFormat }
}

/// What TOP's paged list responses say about themselves, over the responses of a run (one
/// page, pages saved one after another into a file, or a file per page). Nothing in the records
/// shows that a page is missing; this does: fewer records than the largest `total_results` (every
/// page carries the query's total), or `has_next` true on every response (the last page says
/// false). Two queries in one run can hide a missing page, never invent one.
public struct ResponsePaging: Sendable, Hashable {
    private var total: Int?
    private var records = 0
    private var responses = 0
    private var hasNext = false
    private var lastPageSeen = false
    /// The files the responses came from, in run order.
    private var files: [String] = []

    public init() {}

    /// One response: its `total_results` and `has_next` as written (nil when absent), and the
    /// records read from it.
    mutating func add(total: String?, hasNext: String?, records: Int) {
        responses += 1
        self.records += records
        if let total, let value = Int(total.trimmingASCIIWhitespace()), value >= 0 { self.total = max(self.total ?? 0, value) }
        if hasNext?.trimmingASCIIWhitespace() == "true" { self.hasNext = true } else { lastPageSeen = true }
    }

    /// Adds a file's responses to the run's.
    mutating func merge(_ other: ResponsePaging, file: String) {
        guard other.responses > 0 else { return }
        total = [total, other.total].compactMap { $0 }.max()
        records += other.records
        responses += other.responses
        hasNext = hasNext || other.hasNext
        lastPageSeen = lastPageSeen || other.lastPageSeen
        files.append(file)
    }

    /// The warning when pages look missing (code `input.missing_pages`), else nil.
    var warning: String? {
        guard responses > 0 else { return nil }
        let shown = files.prefix(3).map { "'\($0)'" }.joined(separator: ", ") + (files.count > 3 ? " and \(files.count - 3) more" : "")
        let held = "\(records) record\(records == 1 ? "" : "s") in \(responses) response\(responses == 1 ? "" : "s") (\(shown))"
        if let total, records < total {
            let pages = (total + 99) / 100
            return "the responses say total_results \(total), but the run read \(held): pages of the query are missing"
                + (pages > 1 ? " (at page_size 100 it has \(pages) pages)" : "")
                + "; fetch every page and give them all, or their refunds are not loaded"
        }
        if hasNext && !lastPageSeen {
            return "every response says has_next true (\(held)): the last page of the query is missing; fetch the pages after them too"
        }
        return nil
    }
}
