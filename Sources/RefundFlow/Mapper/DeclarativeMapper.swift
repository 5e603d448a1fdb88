import Foundation

/// Stage 2: turns one source row into a canonical refund record, collecting every conversion
/// error (never only the first).
public protocol RecordMapper {
    /// Source field names the mapper reads, in slot order; the reader resolves them.
    var sourceFieldNames: [String] { get }
    /// Fills `record` from `row`; appends one error per field that cannot be converted.
    /// Returns the set of fields that failed (so validation does not report them twice).
    mutating func map(_ row: some SourceRow, into record: inout RefundRecord, errors: inout [RowError]) -> FieldSet
}

/// A small set of canonical fields as a bit mask.
public struct FieldSet: Sendable, Hashable {
    var bits: UInt32 = 0
    public init() {}
    public mutating func insert(_ field: RefundField) { bits |= 1 << UInt32(field.ordinal) }
    public func contains(_ field: RefundField) -> Bool { bits & (1 << UInt32(field.ordinal)) != 0 }
}

/// The pipeline's `fields:` compiled for one run.
public struct DeclarativeMapper: RecordMapper {
    enum Expression: Sendable {
        case slots([Int])
        case constant([UInt8])
    }

    indirect enum CompiledCondition: Sendable {
        case equals(slots: [Int], values: [[UInt8]], negated: Bool)
        case isEmpty(slots: [Int], Bool)
        case matches(slots: [Int], TextPattern)
        case all([CompiledCondition])
        case any([CompiledCondition])
        case not(CompiledCondition)
    }

    /// A class, so the hot loop borrows one reference instead of copying a dozen fields.
    final class Plan: Sendable {
        let field: RefundField
        let clauses: [(CompiledCondition, Expression?)]
        let base: Expression?
        let clean: [CleanStep]
        let defaultValue: [UInt8]?
        let map: [String: [UInt8]]?
        /// The map's keys and values as bytes, for lookups without making a String.
        let mapEntries: [(key: [UInt8], value: [UInt8])]?
        let mapDefault: [UInt8]?
        let pattern: TextPattern?
        let formats: [DateFormat]
        let dates: DateNormalizer?

        init(
            field: RefundField, clauses: [(CompiledCondition, Expression?)], base: Expression?, clean: [CleanStep],
            defaultValue: [UInt8]?, map: [String: [UInt8]]?, mapDefault: [UInt8]?, pattern: TextPattern?,
            formats: [DateFormat], dates: DateNormalizer?
        ) {
            self.field = field
            self.clauses = clauses
            self.base = base
            self.clean = clean
            self.defaultValue = defaultValue
            self.map = map
            self.mapEntries = map?.map { (Array($0.key.utf8), $0.value) }
            self.mapDefault = mapDefault
            self.pattern = pattern
            self.formats = formats
            self.dates = dates
        }
    }

    public private(set) var sourceFieldNames: [String] = []
    let plans: [Plan]
    let fast: FastPlanTable
    let conditionClean: [CleanStep]
    /// Per-row scratch: resolved values live here, so no field allocates until it becomes a String.
    private var arena: [UInt8] = []
    private var scratch: [UInt8] = []

    /// Compiles the field definitions; slots are assigned in first-use order.
    public init(definition: PipelineDefinition) throws(DiagnosticList) {
        var names: [String] = []
        func slot(_ name: String) -> Int {
            if let index = names.firstIndex(of: name) { return index }
            names.append(name)
            return names.count - 1
        }
        func compile(_ expression: ValueExpression?) -> Expression? {
            switch expression {
            case .source(let candidates): return .slots(candidates.map(slot))
            case .constant(let text): return .constant(Array(text.utf8))
            case nil: return nil
            }
        }
        func compile(_ condition: Condition) -> CompiledCondition {
            switch condition {
            case .equals(let field, let values):
                return .equals(slots: field.map(slot), values: values.map { Array($0.utf8) }, negated: false)
            case .notEquals(let field, let values):
                return .equals(slots: field.map(slot), values: values.map { Array($0.utf8) }, negated: true)
            case .isEmpty(let field, let empty): return .isEmpty(slots: field.map(slot), empty)
            case .matches(let field, let pattern): return .matches(slots: field.map(slot), pattern)
            case .all(let items): return .all(items.map(compile))
            case .any(let items): return .any(items.map(compile))
            case .not(let item): return .not(compile(item))
            }
        }
        var problems: [Diagnostic] = []
        guard let outputZone = TimeZone(identifier: definition.outputTimeZone) else {
            throw DiagnosticList([Diagnostic(code: "pipeline.unknown_time_zone", message: "unknown time zone '\(definition.outputTimeZone)'")])
        }
        var plans: [Plan] = []
        for field in definition.fields {
            var dates: DateNormalizer?
            if case .dateTime = field.field.kind {
                let zoneName = field.timeZone ?? definition.timeZone
                if let zone = TimeZone(identifier: zoneName) {
                    dates = DateNormalizer(inputZone: zone, outputZone: outputZone)
                } else {
                    problems.append(Diagnostic(code: "pipeline.unknown_time_zone", message: "unknown time zone '\(zoneName)'", location: field.location))
                }
            }
            plans.append(
                Plan(
                    field: field.field,
                    clauses: field.when.map { (compile($0.condition), compile($0.result)) },
                    base: compile(field.value),
                    clean: field.clean ?? definition.clean,
                    defaultValue: field.defaultValue.map { Array($0.utf8) },
                    map: field.map.map { $0.mapValues { Array($0.utf8) } },
                    mapDefault: field.mapDefault.map { Array($0.utf8) },
                    pattern: field.pattern,
                    formats: field.formats ?? definition.dateFormats,
                    dates: dates))
        }
        if !problems.isEmpty { throw DiagnosticList(problems) }
        self.plans = plans
        self.conditionClean = definition.clean
        self.sourceFieldNames = names
        self.fast = FastPlanTable(plans)
        arena.reserveCapacity(4096)
    }

    /// Fields whose source is read from the input (for the missing-column check).
    func sourceNames(of field: RefundField) -> [String] {
        guard let plan = plans.first(where: { $0.field == field }), case .slots(let slots) = plan.base else { return [] }
        return slots.map { sourceFieldNames[$0] }
    }

    // MARK: - Hot path

    public mutating func map(_ row: some SourceRow, into record: inout RefundRecord, errors: inout [RowError]) -> FieldSet {
        var failed = FieldSet()
        let table = fast.entries
        for index in 0..<table.count {
            // Fast path: one source column, simple cleaning, a valid value. Anything else,
            // including every error, takes the general path below.
            let entry = table[index]
            if entry.eligible, Self.convertFast(entry, fast, row, &record) { continue }
            let plan = plans[index]
            arena.removeAll(keepingCapacity: true)
            // 1. Which expression: the first matching clause, else the field's own.
            var expression = plan.base
            for (condition, result) in plan.clauses where evaluate(condition, row) {
                expression = result
                break
            }
            // 2. Resolve it into the arena, cleaned.
            var sourceSlot: Int?
            var present = false
            switch expression {
            case .slots(let slots):
                for slot in slots {
                    let found = row.withValue(slot: slot) { value -> Bool in
                        guard let value else { return false }
                        appendCleaned(value, steps: plan.clean, into: &arena)
                        return true
                    }
                    if found {
                        sourceSlot = slot
                        present = true
                        break
                    }
                }
            case .constant(let bytes):
                arena.append(contentsOf: bytes)
                present = true
            case nil: break
            }
            // 3. Empty means absent, unless there is a default.
            if !present || arena.isEmpty {
                guard let fallback = plan.defaultValue else {
                    record[plan.field] = nil
                    continue
                }
                arena.removeAll(keepingCapacity: true)
                arena.append(contentsOf: fallback)
            }
            // 4. Lookup map.
            if let map = plan.map, let entries = plan.mapEntries {
                if let mapped = entries.first(where: { $0.key == arena })?.value ?? plan.mapDefault {
                    arena.removeAll(keepingCapacity: true)
                    arena.append(contentsOf: mapped)
                } else {
                    let key = String(decoding: arena, as: UTF8.self)
                    var expected = map.keys.sorted()
                    if expected.count > 8 { expected = Array(expected.prefix(8)) + ["…"] }
                    errors.append(
                        RowError(
                            code: .unknownValue, field: plan.field.rawValue, value: key,
                            message: "\(plan.field.rawValue): '\(key)' is not a known value; expected one of: \(expected.joined(separator: ", "))",
                            location: location(sourceSlot, row)))
                    failed.insert(plan.field)
                    record[plan.field] = nil
                    continue
                }
            }
            // 5. Pattern, then 6. conversion by kind.
            var dateScratch = scratch
            scratch = []
            let problem: RowError? = arena.withUnsafeBufferPointer { bytes in
                if let pattern = plan.pattern, !pattern.matcher.matches(bytes) {
                    let value = String(decoding: bytes, as: UTF8.self)
                    return patternError(pattern, plan.field, value, location(sourceSlot, row))
                }
                return Self.convert(bytes, plan: plan, record: &record, scratch: &dateScratch, row: row, slot: sourceSlot)
            }
            scratch = dateScratch
            if let problem {
                errors.append(problem)
                failed.insert(plan.field)
                record[plan.field] = nil
            }
        }
        return failed
    }

    private func location(_ slot: Int?, _ row: some SourceRow) -> SourceLocation {
        if let slot { return row.location(slot: slot) }
        return SourceLocation(file: row.origin.file, line: row.origin.line)
    }

    private func patternError(_ pattern: TextPattern, _ field: RefundField, _ value: String, _ location: SourceLocation) -> RowError {
        var message = "\(field.rawValue): '\(value)' " + (pattern.message ?? "does not match \(pattern.source)")
        if pattern.code == .invalidId && looksLikeScientific(value) {
            message += "; Excel turned this id into a number and its digits are lost: export the column as text"
        }
        return RowError(code: pattern.code, field: field.rawValue, value: value, message: message, location: location)
    }

    private func looksLikeScientific(_ value: String) -> Bool {
        value.contains("E+") || value.contains("e+") || value.contains("E-")
    }

    /// Converts cleaned bytes into the field's typed value, or returns why not.
    private static func convert(
        _ bytes: UnsafeBufferPointer<UInt8>, plan: Plan, record: inout RefundRecord, scratch: inout [UInt8],
        row: some SourceRow, slot: Int?
    ) -> RowError? {
        func location() -> SourceLocation {
            if let slot { return row.location(slot: slot) }
            return SourceLocation(file: row.origin.file, line: row.origin.line)
        }
        let field = plan.field
        switch field.kind {
        case .text:
            record.setText(field, bytes)
            return nil
        case .decimal:
            switch Decimal4.parse(buffer: bytes) {
            case .success(let value):
                record.setDecimal(field, value)
                return nil
            case .failure(let failure):
                let value = String(decoding: bytes, as: UTF8.self)
                switch failure {
                case .notANumber:
                    return RowError(
                        code: .invalidNumber, field: field.rawValue, value: value,
                        message: "\(field.rawValue): '\(value)' is not an exact decimal number", location: location())
                case .tooManyDecimals:
                    return RowError(
                        code: .tooManyDecimals, field: field.rawValue, value: value,
                        message: "\(field.rawValue): '\(value)' has more than 4 decimal places; Decimal(19,4) cannot hold it and RefundFlow never rounds",
                        location: location())
                case .outOfRange:
                    return RowError(
                        code: .outOfRange, field: field.rawValue, value: value,
                        message: "\(field.rawValue): '\(value)' is outside Decimal(19,4) (at most 15 integer digits)", location: location())
                }
            }
        case .integer(let range):
            var value = 0
            var valid = !bytes.isEmpty && bytes.count <= 9
            for byte in bytes where valid {
                if byte >= 0x30 && byte <= 0x39 { value = value * 10 + Int(byte - 0x30) } else { valid = false }
            }
            guard valid else {
                let text = String(decoding: bytes, as: UTF8.self)
                return RowError(
                    code: .invalidNumber, field: field.rawValue, value: text,
                    message: "\(field.rawValue): '\(text)' is not a whole number", location: location())
            }
            guard range.contains(value) else {
                return RowError(
                    code: .unknownValue, field: field.rawValue, value: String(value),
                    message: "\(field.rawValue): \(value) is not one of \(range.lowerBound)–\(range.upperBound)", location: location())
            }
            record.setInteger(field, value)
            return nil
        case .dateTime:
            for format in plan.formats {
                if let parsed = format.parse(bytes), let dates = plan.dates {
                    scratch.removeAll(keepingCapacity: true)
                    dates.append(parsed, to: &scratch)
                    record.setText(field, scratch)
                    return nil
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            return RowError(
                code: .invalidDate, field: field.rawValue, value: text,
                message: "\(field.rawValue): '\(text)' is not a valid date-time in any of: \(plan.formats.map(\.pattern).joined(separator: ", "))",
                location: location())
        }
    }

    // MARK: - Fast path

    /// Converts a simple field straight from the row's bytes; false when the general path must
    /// decide (absent or empty value, CR inside, or a value that does not convert).
    @inline(__always)
    private static func convertFast(
        _ entry: FastPlan, _ table: FastPlanTable, _ row: some SourceRow, _ record: inout RefundRecord
    ) -> Bool {
        row.withValue(slot: entry.slot) { value -> Bool in
            guard let value else { return false }
            var start = 0
            var end = value.count
            if entry.clean & FastPlan.excelFirst != 0 {
                (start, end) = excelUnwrapped(value, start, end)
                if entry.clean & FastPlan.trimAfter != 0 { (start, end) = trimmed(value, start, end) }
            } else if entry.clean & FastPlan.trimFirst != 0 {
                (start, end) = trimmed(value, start, end)
                if entry.clean & FastPlan.excelAfter != 0 { (start, end) = excelUnwrapped(value, start, end) }
            }
            guard end > start else { return false }
            var bytes = UnsafeBufferPointer(rebasing: value[start..<end])
            if entry.clean & FastPlan.crlf != 0, bytes.contains(0x0D) { return false }
            if entry.mapStart >= 0 {
                var found = false
                for mapIndex in entry.mapStart..<(entry.mapStart + entry.mapCount) {
                    let mapEntry = table.mapEntries[mapIndex]
                    if mapEntry.keyCount == bytes.count
                        && memcmp(table.mapBytes.baseAddress! + mapEntry.keyStart, bytes.baseAddress!, bytes.count) == 0
                    {
                        bytes = UnsafeBufferPointer(rebasing: table.mapBytes[mapEntry.valueStart..<(mapEntry.valueStart + mapEntry.valueCount)])
                        found = true
                        break
                    }
                }
                guard found, !bytes.isEmpty else { return false }
            }
            if entry.hasPattern {
                guard bytes.count >= entry.patternMin, bytes.count <= entry.patternMax else { return false }
                for byte in bytes where !entry.patternSet.contains(byte) { return false }
            }
            switch entry.kind {
            case .text:
                record.setText(entry.field, bytes)
                return true
            case .decimal:
                guard case .success(let amount) = Decimal4.parse(buffer: bytes) else { return false }
                record.setDecimal(entry.field, amount)
                return true
            case .integer:
                guard bytes.count <= 9 else { return false }
                var number = 0
                for byte in bytes {
                    guard byte >= 0x30 && byte <= 0x39 else { return false }
                    number = number * 10 + Int(byte - 0x30)
                }
                guard number >= entry.low && number <= entry.high else { return false }
                record.setInteger(entry.field, number)
                return true
            case .canonicalDate:
                guard bytes.count == 19, isCanonicalDateTime(bytes) else { return false }
                record.setText(entry.field, bytes)
                return true
            }
        }
    }

    /// `yyyy-MM-dd HH:mm:ss` naming a real time (the same checks as `DateFormat.parse`).
    @inline(__always) private static func isCanonicalDateTime(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        for index in [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18] where b[index] < 0x30 || b[index] > 0x39 {
            return false
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: " "),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":")
        else { return false }
        func number(_ at: Int, _ count: Int) -> Int {
            var value = 0
            for index in at..<(at + count) { value = value * 10 + Int(b[index] - 0x30) }
            return value
        }
        let year = number(0, 4)
        let month = number(5, 2)
        let day = number(8, 2)
        return year >= 1 && month >= 1 && month <= 12 && day >= 1 && day <= CivilTime.daysInMonth(year: year, month: month)
            && number(11, 2) <= 23 && number(14, 2) <= 59 && number(17, 2) <= 59
    }

    /// Tells the fast path which source fields the next file has (its header), or `nil`.
    public func prepare(availableFields: [String]?) {
        let available = availableFields.map { names in
            Set(sourceFieldNames.indices.filter { names.contains(sourceFieldNames[$0]) })
        }
        fast.prepare(available: available)
    }

    // MARK: - Conditions

    private mutating func evaluate(_ condition: CompiledCondition, _ row: some SourceRow) -> Bool {
        switch condition {
        case .equals(let slots, let values, let negated):
            let equal = withCleaned(slots, row) { value in values.contains { $0.elementsEqual(value) } }
            return negated ? !equal : equal
        case .isEmpty(let slots, let empty):
            return withCleaned(slots, row) { $0.isEmpty } == empty
        case .matches(let slots, let pattern):
            return withCleaned(slots, row) { pattern.matcher.matches($0) }
        case .all(let items):
            for item in items where !evaluate(item, row) { return false }
            return true
        case .any(let items):
            for item in items where evaluate(item, row) { return true }
            return false
        case .not(let item):
            return !evaluate(item, row)
        }
    }

    /// The first present slot's value after the pipeline's default cleaning ("" when absent).
    private mutating func withCleaned<R>(_ slots: [Int], _ row: some SourceRow, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        scratch.removeAll(keepingCapacity: true)
        for slot in slots {
            let found = row.withValue(slot: slot) { value -> Bool in
                guard let value else { return false }
                appendCleaned(value, steps: conditionClean, into: &scratch)
                return true
            }
            if found { break }
        }
        return scratch.withUnsafeBufferPointer(body)
    }
}

/// Applies cleaning steps to `value` and appends the result. Steps that only cut ends work on
/// the range; `crlf` copies.
func appendCleaned(_ value: UnsafeBufferPointer<UInt8>, steps: [CleanStep], into out: inout [UInt8]) {
    var start = 0
    var end = value.count
    var normalizeNewlines = false
    for step in steps {
        switch step {
        case .trim:
            while start < end, isASCIISpace(value[start]) { start += 1 }
            while end > start, isASCIISpace(value[end - 1]) { end -= 1 }
        case .excel:
            (start, end) = excelUnwrapped(value, start, end)
        case .crlf:
            normalizeNewlines = true
        }
    }
    let slice = UnsafeBufferPointer(rebasing: value[start..<end])
    guard normalizeNewlines, slice.contains(0x0D) else {
        out.append(contentsOf: slice)
        return
    }
    var index = 0
    while index < slice.count {
        if slice[index] == 0x0D, index + 1 < slice.count, slice[index + 1] == 0x0A {
            index += 1
            continue
        }
        out.append(slice[index])
        index += 1
    }
}

private func trimmed(_ value: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int, Int) {
    var start = start
    var end = end
    while start < end, isASCIISpace(value[start]) { start += 1 }
    while end > start, isASCIISpace(value[end - 1]) { end -= 1 }
    return (start, end)
}

/// What the fast path needs of a plan, as plain values (no reference counting in the hot loop).
struct FastPlan {
    enum Kind { case text, decimal, integer, canonicalDate }

    static let trimFirst: UInt8 = 1
    static let excelAfter: UInt8 = 2
    static let excelFirst: UInt8 = 4
    static let trimAfter: UInt8 = 8
    static let crlf: UInt8 = 16

    /// Eligible apart from the source column, which may depend on the file's header.
    var shapeEligible = false
    var eligible = false
    var field = RefundField.refundNo
    var slot = 0
    var clean: UInt8 = 0
    var kind = Kind.text
    var low = 0
    var high = 0
    var hasPattern = false
    var patternSet = ASCIISet()
    var patternMin = 0
    var patternMax = 0
    /// Lookup map entries `mapStart..<mapStart+mapCount` in the table's map index; -1: no map.
    var mapStart = -1
    var mapCount = 0
}

/// One lookup-map entry: key and value as ranges of the table's byte store.
struct FastMapEntry {
    var keyStart: Int
    var keyCount: Int
    var valueStart: Int
    var valueCount: Int
}

/// The fast-path table, one entry per plan, in memory that the hot loop reads without retains.
final class FastPlanTable {
    let entries: UnsafeMutableBufferPointer<FastPlan>
    let mapEntries: UnsafeMutableBufferPointer<FastMapEntry>
    let mapBytes: UnsafeMutableBufferPointer<UInt8>
    private let candidates: [[Int]]

    init(_ plans: [DeclarativeMapper.Plan]) {
        entries = .allocate(capacity: plans.count)
        var mapIndex: [FastMapEntry] = []
        var bytes: [UInt8] = []
        var candidates: [[Int]] = []
        for (index, plan) in plans.enumerated() {
            var entry = FastPlan()
            entry.field = plan.field
            var eligible = plan.clauses.isEmpty
            if case .slots(let slots) = plan.base {
                entry.slot = slots[0]
                candidates.append(slots)
            } else {
                eligible = false
                candidates.append([])
            }
            // Cleaning: at most one trim and one excel step, in either order, plus crlf.
            var steps = plan.clean
            if let crlfIndex = steps.firstIndex(of: .crlf) {
                entry.clean |= FastPlan.crlf
                steps.remove(at: crlfIndex)
            }
            switch steps {
            case []: break
            case [.trim]: entry.clean |= FastPlan.trimFirst
            case [.excel]: entry.clean |= FastPlan.excelFirst
            case [.trim, .excel]: entry.clean |= FastPlan.trimFirst | FastPlan.excelAfter
            case [.excel, .trim]: entry.clean |= FastPlan.excelFirst | FastPlan.trimAfter
            default: eligible = false
            }
            switch plan.field.kind {
            case .text: entry.kind = .text
            case .decimal: entry.kind = .decimal
            case .integer(let range):
                entry.kind = .integer
                entry.low = range.lowerBound
                entry.high = range.upperBound
            case .dateTime:
                // Only text already in the output form, with no zone change, skips the parser.
                entry.kind = .canonicalDate
                let canonical = plan.formats.first?.pattern == "yyyy-MM-dd HH:mm:ss"
                if !canonical || plan.dates?.sameZone != true { eligible = false }
            }
            if let pattern = plan.pattern {
                if case .characterClass(let allowed, let minCount, let maxCount) = pattern.matcher {
                    entry.hasPattern = true
                    entry.patternSet = allowed
                    entry.patternMin = minCount
                    entry.patternMax = maxCount
                } else {
                    eligible = false
                }
            }
            if let map = plan.mapEntries {
                entry.mapStart = mapIndex.count
                entry.mapCount = map.count
                for (key, value) in map {
                    mapIndex.append(FastMapEntry(keyStart: bytes.count, keyCount: key.count, valueStart: bytes.count + key.count, valueCount: value.count))
                    bytes += key
                    bytes += value
                }
            }
            entry.shapeEligible = eligible
            entry.eligible = eligible && candidates[index].count == 1
            entries[index] = entry
        }
        mapEntries = .allocate(capacity: mapIndex.count)
        _ = mapEntries.initialize(from: mapIndex)
        mapBytes = .allocate(capacity: bytes.count)
        _ = mapBytes.initialize(from: bytes)
        self.candidates = candidates
    }

    /// Settles `from: [a, b]` for a file whose fields are known: the first name present wins,
    /// as in the general path. Without a fixed header, such fields stay on the general path.
    func prepare(available: Set<Int>?) {
        for index in 0..<entries.count where candidates[index].count > 1 {
            guard let available, let slot = candidates[index].first(where: available.contains) else {
                entries[index].eligible = false
                continue
            }
            entries[index].slot = slot
            entries[index].eligible = entries[index].shapeEligible
        }
    }

    deinit {
        entries.deallocate()
        mapEntries.deallocate()
        mapBytes.deallocate()
    }
}

@inline(__always) private func isASCIISpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A
}

/// `="…"`, `=""…""`, `'…'`, a leading `'`, and tabs at either end.
private func excelUnwrapped(_ value: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int, Int) {
    var start = start
    var end = end
    func stripTabs() {
        while start < end, value[start] == 0x09 { start += 1 }
        while end > start, value[end - 1] == 0x09 { end -= 1 }
    }
    stripTabs()
    let equals = UInt8(ascii: "=")
    let quote = UInt8(ascii: "\"")
    let apostrophe = UInt8(ascii: "'")
    if end - start >= 5, value[start] == equals, value[start + 1] == quote, value[start + 2] == quote,
        value[end - 1] == quote, value[end - 2] == quote
    {
        start += 3
        end -= 2
    } else if end - start >= 3, value[start] == equals, value[start + 1] == quote, value[end - 1] == quote {
        start += 2
        end -= 1
    } else if end - start >= 2, value[start] == apostrophe, value[end - 1] == apostrophe {
        start += 1
        end -= 1
    } else if end - start >= 1, value[start] == apostrophe {
        start += 1
    }
    stripTabs()
    return (start, end)
}
