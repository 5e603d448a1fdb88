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
        /// The slots the `when` conditions read.
        let conditionSlots: [Int]

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
            self.conditionSlots = clauses.flatMap { Self.slots(of: $0.0) }
        }

        private static func slots(of condition: CompiledCondition) -> [Int] {
            switch condition {
            case .equals(let slots, _, _), .isEmpty(let slots, _), .matches(let slots, _): return slots
            case .all(let items), .any(let items): return items.flatMap(slots(of:))
            case .not(let item): return slots(of: item)
            }
        }
    }

    public private(set) var sourceFieldNames: [String] = []
    let plans: [Plan]
    /// `knownValues`, compiled: the slot, its values, and the fields that read it (by `from` or a
    /// condition), which a value outside the list makes `unknown_value`.
    let known: [(slot: Int, values: [[UInt8]], shown: String, readers: [RefundField])]
    let fast: FastPlanTable
    /// Tests turn the fast path off to prove it changes nothing.
    var usesFastPath = true
    let conditionClean: [CleanStep]
    /// `PipelineDefinition.readsSpreadsheetText`, for the hint of an id in scientific notation.
    let readsSpreadsheetText: Bool
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
        func valueSlots(_ expression: Expression?) -> [Int] {
            if case .slots(let slots)? = expression { return slots }
            return []
        }
        known = definition.knownValues.map { entry in
            let index = slot(entry.sourceField)
            let readers = plans.filter { plan in
                plan.conditionSlots.contains(index) || valueSlots(plan.base).contains(index)
                    || plan.clauses.contains { valueSlots($0.1).contains(index) }
            }
            return (index, entry.values.map { Array($0.utf8) }, entry.values.joined(separator: ", "), readers.map(\.field))
        }
        self.plans = plans
        self.conditionClean = definition.clean
        self.readsSpreadsheetText = definition.readsSpreadsheetText
        self.sourceFieldNames = names
        self.fast = FastPlanTable(plans, conditionClean: definition.clean)
        arena.reserveCapacity(4096)
    }

    // MARK: - Hot path

    public mutating func map(_ row: some SourceRow, into record: inout RefundRecord, errors: inout [RowError]) -> FieldSet {
        var failed = FieldSet()
        let table = fast.entries
        // A record with a list or nested fields where a value is read takes the general path,
        // which says so (step 3) instead of calling the value missing.
        let fastPath = usesFastPath && !row.holdsContainers
        // A value outside a source field's knownValues: its readers are unknown_value, not mapped.
        if !known.isEmpty { checkKnownValues(row, &errors, &failed) }
        for index in 0..<table.count {
            // Fast path: flat tables (columns, constants, simple conditions, maps, char-class
            // patterns), straight from the row's bytes. Anything else, including every error,
            // takes the general path below, which is the one source of error messages.
            let entry = table[index]
            if failed.bits != 0, failed.contains(plans[index].field) {
                record[plans[index].field] = nil
                continue
            }
            if fastPath, entry.eligible, Self.convertFast(entry, fast, row, &record) { continue }
            let plan = plans[index]
            arena.removeAll(keepingCapacity: true)
            // A condition that would read a list or nested fields as a value would decide wrong.
            if row.holdsContainers, let problem = containerError(plan.field, plan.conditionSlots, row, readBy: "a condition of") {
                errors.append(problem)
                failed.insert(plan.field)
                record[plan.field] = nil
                continue
            }
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
            // 3. Empty means absent, unless there is a default; a list or nested fields where
            // the value should be is neither (the data is there, in a shape the pipeline misses).
            if !present, case .slots(let slots)? = expression, row.holdsContainers,
                let problem = containerError(plan.field, slots, row)
            {
                errors.append(problem)
                failed.insert(plan.field)
                record[plan.field] = nil
                continue
            }
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
                            message: "\(plan.field.rawValue): '\(key)' is not a known value; expected one of: \(expected.joined(separator: ", "))"
                                + "; if it is a real value, add it to the 'map' of \(plan.field.rawValue) in the pipeline (or give a 'mapDefault')",
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

    /// Checks the row's values of the `knownValues` fields: one present (after the default
    /// cleaning) and not listed is an `unknown_value` of every field that reads it.
    private mutating func checkKnownValues(_ row: some SourceRow, _ errors: inout [RowError], _ failed: inout FieldSet) {
        for entry in known {
            func isKnown(_ value: UnsafeBufferPointer<UInt8>) -> Bool { value.isEmpty || entry.values.contains { $0.elementsEqual(value) } }
            // Mostly the value is known as it stands: no cleaning needed to say so.
            if row.withValue(slot: entry.slot, { $0.map(isKnown) ?? true }) { continue }
            let unknown: String? = withCleaned([entry.slot], row) { isKnown($0) ? nil : String(decoding: $0, as: UTF8.self) }
            guard let unknown else { continue }
            let name = sourceFieldNames[entry.slot]
            for field in entry.readers {  // every reason: a second unknown value of a field too
                errors.append(
                    RowError(
                        code: .unknownValue, field: field.rawValue, value: unknown,
                        message: "\(field.rawValue): '\(name)' is '\(unknown)', not one of its known values (\(entry.shown)); if it is a real value, "
                            + "add it to knownValues of '\(name)' in the pipeline and say in \(field.rawValue)'s mapping what it means",
                        location: row.location(slot: entry.slot), knownValuesOf: name))
                failed.insert(field)
            }
        }
    }

    /// The first of `slots` whose path holds a list or nested fields in `row`, as an error that
    /// shows what is inside and how to point the pipeline at it.
    private func containerError(_ field: RefundField, _ slots: [Int], _ row: some SourceRow, readBy: String? = nil) -> RowError? {
        for slot in slots {
            guard let inside = row.containerInside(slot: slot) else { continue }
            let name = sourceFieldNames[slot]
            let shown = inside.innerValue.count > 60 ? String(inside.innerValue.prefix(60)) + "…" : inside.innerValue
            let what = inside.isList(under: name) ? "is a list here" : "holds nested fields here"
            return RowError(
                code: .malformed, field: field.rawValue, value: nil,
                message: "\(field.rawValue): '\(name)'\(readBy.map { ", which \($0) \(field.rawValue) reads," } ?? "") \(what) ('\(inside.innerPath)' is '\(shown)'), not one value; "
                    + "export it as a plain value, or point \(readBy == nil ? "the field's 'from'" : "the condition's 'field'") in the pipeline at the part meant (e.g. '\(inside.innerPath)')",
                location: inside.location)
        }
        return nil
    }

    private func location(_ slot: Int?, _ row: some SourceRow) -> SourceLocation {
        if let slot { return row.location(slot: slot) }
        return SourceLocation(file: row.origin.file, line: row.origin.line)
    }

    private func patternError(_ pattern: TextPattern, _ field: RefundField, _ value: String, _ location: SourceLocation) -> RowError {
        var message = "\(field.rawValue): '\(value)' " + (pattern.message ?? "does not match \(pattern.source)")
        if pattern.code == .invalidId && looksLikeScientific(value) {
            message +=
                readsSpreadsheetText
                ? "; Excel turned this id into a number and its digits are lost: export the column as text"
                : "; the exporter wrote this id as a floating-point number and its digits are lost: it must write ids as strings or whole numbers"
        } else if pattern.code == .invalidId, value.hasSuffix(".0"), value.dropLast(2).allSatisfy(\.isASCII), value.dropLast(2).allSatisfy(\.isNumber),
            !value.dropLast(2).isEmpty
        {
            message += "; a tool read this id as a number and wrote it back with '.0' (an id over 16 digits may have lost digits that way): export the column as text"
        } else if pattern.code == .invalidId, value.contains(where: { ("０"..."９").contains($0) }),
            value.allSatisfy({ ("０"..."９").contains($0) || ("0"..."9").contains($0) })
        {
            message += "; it is written in full-width digits, as a Chinese input method types them: write them as ASCII digits"
        } else {
            message += Self.invisibleHint(value)
        }
        return RowError(code: pattern.code, field: field.rawValue, value: value, message: message, location: location)
    }

    /// An invisible character inside a value (copying from a web page or a chat leaves them; at
    /// the ends `trim` cuts the common ones), named with its place: the message shows the value
    /// as if it were not there.
    static func invisibleHint(_ value: String) -> String {
        for (position, scalar) in value.unicodeScalars.enumerated()
        where scalar.properties.generalCategory == .format || (scalar.value < 0x20 && scalar != "\t" && scalar != "\n" && scalar != "\r") {
            let hex = String(scalar.value, radix: 16, uppercase: true)
            let name = scalar.properties.name.map { " (\($0.lowercased()))" } ?? ""
            return "; it holds an invisible character, U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex)\(name), at character \(position + 1): delete it"
        }
        return ""
    }

    /// What a value that is no exact decimal most likely is, and what to do about it.
    static func numberHint(_ value: String) -> String {
        let text = value.trimmingASCIIWhitespace()
        let digits = Set("0123456789")
        if text.contains(where: { $0 == "E" || $0 == "e" }), text.allSatisfy({ digits.contains($0) || "Ee+-.".contains($0) }) {
            return "; it is in scientific notation: write it as a plain decimal (in Excel, format the column as a number with its decimals before saving; an exporter should write money as decimal text)"
        }
        if let comma = text.lastIndex(of: ","), !text.contains("."), text[text.index(after: comma)...].count != 3,
            text.allSatisfy({ digits.contains($0) || $0 == "," || $0 == "-" })
        {
            return "; a comma only separates thousands (1,234.50): if it is a decimal comma, write a point (12.50)"
        }
        if text.contains(" "), text.allSatisfy({ digits.contains($0) || $0 == " " || $0 == "." || $0 == "-" }) {
            return "; a space between digits only separates thousands (1 234.50): remove it or group the digits by three"
        }
        if text.first == "." || text.last == "." {
            return "; write a digit on both sides of the point (0.50, 12.00)"
        }
        let unit = text.drop { digits.contains($0) || $0 == "." || $0 == "," }
        if unit.count < text.count, !unit.isEmpty, unit.allSatisfy({ !$0.isASCII && $0.isLetter }) {
            return "; write the number alone, without the unit '\(unit)'"
        }
        // Full-width digits (５９．００), as a Chinese input method types them in a cell.
        if text.contains(where: { ("０"..."９").contains($0) }),
            text.allSatisfy({ ("０"..."９").contains($0) || digits.contains($0) || "．.,，-－".contains($0) })
        {
            return "; it is written in full-width digits: write them as ASCII digits (59.00)"
        }
        // ASCII digits with a full-width point, comma or minus (1，234.50; 12．50).
        if let wide = text.first(where: { "．，－".contains($0) }), text.contains(where: { digits.contains($0) }),
            text.allSatisfy({ digits.contains($0) || "．.,，-－".contains($0) })
        {
            let ascii: Character = wide == "．" ? "." : wide == "，" ? "," : "-"
            return "; it holds a full-width '\(wide)', as a Chinese input method types it: write the ASCII '\(ascii)'"
        }
        // A currency code before or after the amount (RMB 59.00, 59.00 CNY).
        let letters = text.filter { $0.isASCII && $0.isLetter }.uppercased()
        if ["RMB", "CNY"].contains(letters), text.contains(where: { digits.contains($0) }) {
            return "; write the amount alone, without '\(text.filter { $0.isASCII && $0.isLetter })' (amounts are in yuan)"
        }
        return invisibleHint(text)
    }

    /// A long fraction with a run of six 0s or 9s (`19.900000000000002`, `0.30000000000000004`) is
    /// what binary floating point makes of a short decimal: say so, since the fix is at the source.
    static func floatingPointHint(_ value: String) -> String {
        guard let point = value.firstIndex(of: "."), value.distance(from: point, to: value.endIndex) > 12 else { return "" }
        let fraction = value[value.index(after: point)...]
        guard fraction.contains("000000") || fraction.contains("999999") else { return "" }
        return "; this is what binary floating point makes of a short decimal: have the exporter write money as text (or as the decimal it shows)"
    }

    /// What a value that is no date-time most likely is, and what to do about it.
    static func dateHint(_ bytes: UnsafeBufferPointer<UInt8>, dates: DateNormalizer? = nil) -> String {
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let whole = bytes[..<(dot ?? bytes.endIndex)]
        // Excel serial numbers of the years 1927–2173 have five digits (45538 is 2024-09-03).
        if whole.count == 5, whole.allSatisfy(isDigit), dot.map({ bytes[($0 + 1)...].allSatisfy(isDigit) }) ?? true {
            return "; this looks like an Excel date serial number: format the column as a date (yyyy-mm-dd hh:mm:ss) before saving as CSV"
        }
        // Unix time, as exporters write it (Java's JSON libraries: milliseconds).
        if (bytes.count == 13 || bytes.count == 10), bytes.allSatisfy(isDigit) {
            let millis = bytes.count == 13
            let name = millis ? "epochMillis" : "epochSeconds"
            // What it would be: in the output zone, as the field would carry it.
            let zone = dates ?? DateNormalizer(inputZone: TimeZone(identifier: "UTC")!, outputZone: TimeZone(identifier: "UTC")!)
            var text: [UInt8] = []
            let shown = (try? DateFormat(name)).flatMap { $0.parse(bytes) }.flatMap { parsed in
                zone.append(parsed, to: &text) ? String(decoding: text, as: UTF8.self) + " in \(zone.outputZone.identifier)" : nil
            }
            return "; this looks like Unix time in \(millis ? "milliseconds" : "seconds")\(shown.map { " (\($0))" } ?? ""): if it is, add '\(name)' to the pipeline's dateFormats"
        }
        // A 12-hour clock with its marker, as Excel shows a time formatted so (下午 2:05, 2:05 PM).
        let text = String(decoding: bytes, as: UTF8.self)
        if text.contains(where: { $0 == ":" }), ["上午", "下午", "AM", "PM", "am", "pm"].contains(where: text.contains) {
            return "; it is a 12-hour time: add a format with h and a for it to the pipeline's dateFormats, such as "
                + (text.contains("午") ? "'yyyy/M/d a h:mm'" : "'yyyy/M/d h:mm:ss a'")
        }
        let parts = bytes.split(whereSeparator: { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "/") })
        if parts.count == 3, parts[0].count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(isDigit) }) {
            return "; it has a date but no time of day: if midnight is right, add a date-only format such as 'yyyy-MM-dd' to the pipeline's dateFormats"
        }
        return invisibleHint(text)
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
                        message: "\(field.rawValue): '\(value)' is not an exact decimal number" + Self.numberHint(value),
                        location: location())
                case .tooManyDecimals:
                    return RowError(
                        code: .tooManyDecimals, field: field.rawValue, value: value,
                        message: "\(field.rawValue): '\(value)' has more than 4 decimal places; Decimal(19,4) cannot hold it and RefundFlow never rounds"
                            + Self.floatingPointHint(value),
                        location: location())
                case .outOfRange:
                    return RowError(
                        code: .outOfRange, field: field.rawValue, value: value,
                        message: "\(field.rawValue): '\(value)' is outside Decimal(19,4) (at most 15 integer digits)", location: location())
                }
            }
        case .integer(let range):
            guard let value = wholeNumber(bytes) else {
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
                    guard dates.append(parsed, to: &scratch) else {
                        let text = String(decoding: bytes, as: UTF8.self)
                        return RowError(
                            code: .invalidDate, field: field.rawValue, value: text,
                            message: "\(field.rawValue): '\(text)' never happened in \(dates.inputZone.identifier): its clocks skip that hour when daylight saving time starts; if the export's times are in another zone, set 'timeZone' in the pipeline",
                            location: location())
                    }
                    record.setText(field, scratch)
                    return nil
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let reason = plan.formats.lazy.compactMap({ $0.parseShape(bytes).flatMap(DateFormat.impossibility) }).first {
                return RowError(
                    code: .invalidDate, field: field.rawValue, value: text,
                    message: "\(field.rawValue): '\(text)' is not a real date-time: \(reason)", location: location())
            }
            return RowError(
                code: .invalidDate, field: field.rawValue, value: text,
                message: "\(field.rawValue): '\(text)' is not a valid date-time in any of: \(plan.formats.map(\.pattern).joined(separator: ", "))"
                    + Self.dateHint(bytes, dates: plan.dates),
                location: location())
        }
    }

    /// A whole number of ASCII digits, at most 9 of them (the API's enums), as `.integer`
    /// fields take it; nil otherwise.
    static func wholeNumber(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard !bytes.isEmpty && bytes.count <= 9 else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            value = value * 10 + Int(byte - 0x30)
        }
        return value
    }

    // MARK: - Fast path

    /// Converts a field straight from the row's bytes; false when the general path must decide
    /// (a default to apply, CR inside a value, a value that does not convert, an undecidable
    /// condition). The general path then repeats the work and reports any error.
    @inline(__always)
    private static func convertFast(
        _ entry: FastPlan, _ table: FastPlanTable, _ row: some SourceRow, _ record: inout RefundRecord
    ) -> Bool {
        var source = entry.base
        if entry.clauseCount > 0 {
            for index in entry.clauseStart..<(entry.clauseStart + entry.clauseCount) {
                guard let matched = evaluate(table.clauses[index].condition, table, row) else { return false }
                if matched {
                    source = table.clauses[index].result
                    break
                }
            }
        }
        switch source.kind {
        case .absent:
            return !entry.hasDefault  // absent; the record was reset, so nothing to write
        case .constant:
            return finish(UnsafeBufferPointer(rebasing: table.mapBytes[source.start..<(source.start + source.count)]), entry, table, &record)
        case .slot:
            return row.withValue(slot: source.slot) { value -> Bool in
                guard let value else { return !entry.hasDefault }
                guard let bytes = cleaned(value, entry.clean) else { return false }
                return finish(bytes, entry, table, &record)
            }
        }
    }

    /// The value after narrowing cleaning; `nil` when `crlf` would have to rewrite it.
    @inline(__always)
    private static func cleaned(_ value: UnsafeBufferPointer<UInt8>, _ clean: UInt8) -> UnsafeBufferPointer<UInt8>? {
        var start = 0
        var end = value.count
        if clean & FastPlan.excelFirst != 0 {
            (start, end) = excelUnwrapped(value, start, end)
            if clean & FastPlan.trimAfter != 0 { (start, end) = trimmed(value, start, end) }
        } else if clean & FastPlan.trimFirst != 0 {
            (start, end) = trimmed(value, start, end)
            if clean & FastPlan.excelAfter != 0 { (start, end) = excelUnwrapped(value, start, end) }
        }
        let bytes = UnsafeBufferPointer(rebasing: value[start..<end])
        if clean & FastPlan.crlf != 0, bytes.contains(0x0D) { return nil }
        return bytes
    }

    /// Map, pattern and conversion of a resolved value.
    @inline(__always)
    private static func finish(
        _ value: UnsafeBufferPointer<UInt8>, _ entry: FastPlan, _ table: FastPlanTable, _ record: inout RefundRecord
    ) -> Bool {
        var bytes = value
        if bytes.isEmpty { return !entry.hasDefault }
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

    /// A compiled condition; `nil` when it cannot be decided here (CR under `crlf`).
    private static func evaluate(_ index: Int, _ table: FastPlanTable, _ row: some SourceRow) -> Bool? {
        let condition = table.conditions[index]
        switch condition.op {
        case .equals, .notEquals, .empty, .notEmpty:
            let clean = table.conditionClean ?? 0
            let result: Bool? = row.withValue(slot: condition.slot) { value -> Bool? in
                var bytes = UnsafeBufferPointer<UInt8>(start: nil, count: 0)  // absent compares as ""
                if let value {
                    guard let cleanedValue = cleaned(value, clean) else { return nil }
                    bytes = cleanedValue
                }
                if condition.op == .empty || condition.op == .notEmpty { return bytes.isEmpty }
                for valueIndex in condition.first..<(condition.first + condition.count) {
                    let candidate = table.mapEntries[valueIndex]
                    if candidate.keyCount == bytes.count
                        && (bytes.count == 0
                            || memcmp(table.mapBytes.baseAddress! + candidate.keyStart, bytes.baseAddress!, bytes.count) == 0)
                    {
                        return true
                    }
                }
                return false
            }
            guard let result else { return nil }
            return condition.op == .equals || condition.op == .empty ? result : !result
        case .all:
            for child in condition.first..<(condition.first + condition.count) {
                guard let value = evaluate(table.children[child], table, row) else { return nil }
                if !value { return false }
            }
            return true
        case .any:
            for child in condition.first..<(condition.first + condition.count) {
                guard let value = evaluate(table.children[child], table, row) else { return nil }
                if value { return true }
            }
            return false
        case .not:
            return evaluate(condition.first, table, row).map { !$0 }
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
            (start, end) = trimmed(value, start, end)
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

/// Cuts spaces, tabs, CR and LF from both ends, and what copy-paste and Chinese input leave
/// there unseen: the no-break space (U+00A0), the ideographic space (U+3000), the zero-width
/// space (U+200B), the word joiner (U+2060) and a stray byte-order mark (U+FEFF).
private func trimmed(_ value: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> (Int, Int) {
    var start = start
    var end = end
    while start < end {
        if isASCIISpace(value[start]) {
            start += 1
        } else if value[start] >= 0xC2, let width = wideSpaceWidth(value, at: start, end: end) {
            start += width
        } else {
            break
        }
    }
    while end > start {
        let last = value[end - 1]
        if isASCIISpace(last) {
            end -= 1
        } else if last == 0xA0 || last == 0x80 || last == 0x8B || last == 0xBF {  // how the characters above end
            if end - start >= 2, wideSpaceWidth(value, at: end - 2, end: end) == 2 {
                end -= 2
            } else if end - start >= 3, wideSpaceWidth(value, at: end - 3, end: end) == 3 {
                end -= 3
            } else {
                break
            }
        } else {
            break
        }
    }
    return (start, end)
}

/// 2 for U+00A0 (C2 A0); 3 for U+3000 (E3 80 80), U+200B (E2 80 8B), U+2060 (E2 81 A0) and
/// U+FEFF (EF BB BF) at `index`; else nil.
@inline(__always) private func wideSpaceWidth(_ value: UnsafeBufferPointer<UInt8>, at index: Int, end: Int) -> Int? {
    let lead = value[index]
    if lead == 0xC2, index + 1 < end, value[index + 1] == 0xA0 { return 2 }
    guard lead >= 0xE2, lead <= 0xEF, index + 2 < end else { return nil }
    switch (lead, value[index + 1], value[index + 2]) {
    case (0xE3, 0x80, 0x80), (0xE2, 0x80, 0x8B), (0xE2, 0x81, 0xA0), (0xEF, 0xBB, 0xBF): return 3
    default: return nil
    }
}

/// Where a fast field's value comes from.
struct FastSource {
    enum Kind { case absent, slot, constant }
    var kind = Kind.absent
    /// For `.slot`; resolved per file when the pipeline names candidates.
    var slot = 0
    /// For `.constant`: a range of the table's byte store.
    var start = 0
    var count = 0
}

/// One node of a compiled condition.
struct FastCondition {
    enum Op { case equals, notEquals, empty, notEmpty, all, any, not }
    var op: Op
    var slot = 0
    /// equals: values `first..<first+count` in `values`; all/any: children in `children`;
    /// not: the child's index in `first`.
    var first = 0
    var count = 0
}

/// `if` → `then` of a `when` clause.
struct FastClause {
    var condition: Int
    var result: FastSource
}

/// What the fast path needs of a plan, as plain values (no reference counting in the hot loop).
struct FastPlan {
    enum Kind { case text, decimal, integer, canonicalDate }

    static let trimFirst: UInt8 = 1
    static let excelAfter: UInt8 = 2
    static let excelFirst: UInt8 = 4
    static let trimAfter: UInt8 = 8
    static let crlf: UInt8 = 16

    /// Eligible apart from source columns, which may depend on the file's header.
    var shapeEligible = false
    var eligible = false
    /// Some source has candidate names, settled per file by `prepare`.
    var needsHeader = false
    var field = RefundField.refundNo
    var base = FastSource()
    var clauseStart = 0
    var clauseCount = 0
    var hasDefault = false
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

    /// The flags for cleaning steps, or `nil` when the fast path cannot apply them: at most one
    /// trim and one excel step, in either order, plus crlf.
    static func cleanFlags(_ steps: [CleanStep]) -> UInt8? {
        var steps = steps
        var flags: UInt8 = 0
        if let crlfIndex = steps.firstIndex(of: .crlf) {
            flags |= crlf
            steps.remove(at: crlfIndex)
        }
        switch steps {
        case []: return flags
        case [.trim]: return flags | trimFirst
        case [.excel]: return flags | excelFirst
        case [.trim, .excel]: return flags | trimFirst | excelAfter
        case [.excel, .trim]: return flags | excelFirst | trimAfter
        default: return nil
        }
    }
}

/// One lookup-map entry (or condition value when `valueCount` is 0): ranges of the byte store.
struct FastMapEntry {
    var keyStart: Int
    var keyCount: Int
    var valueStart: Int
    var valueCount: Int
}

/// The fast-path tables, one plan entry per field, in memory that the hot loop reads without
/// retains. Not `Sendable`: it belongs to one mapper, which belongs to one run.
final class FastPlanTable {
    let entries: UnsafeMutableBufferPointer<FastPlan>
    let mapEntries: UnsafeMutableBufferPointer<FastMapEntry>
    let mapBytes: UnsafeMutableBufferPointer<UInt8>
    let conditions: UnsafeMutableBufferPointer<FastCondition>
    let children: UnsafeMutableBufferPointer<Int>
    let clauses: UnsafeMutableBufferPointer<FastClause>
    /// Cleaning of condition values (the pipeline's default), or `nil` when not fast.
    let conditionClean: UInt8?
    private let baseCandidates: [[Int]]
    private let clauseCandidates: [[Int]]

    init(_ plans: [DeclarativeMapper.Plan], conditionClean steps: [CleanStep]) {
        var mapIndex: [FastMapEntry] = []
        var bytes: [UInt8] = []
        var conditions: [FastCondition] = []
        var children: [Int] = []
        var clauses: [FastClause] = []
        var baseCandidates: [[Int]] = []
        var clauseCandidates: [[Int]] = []
        var entries: [FastPlan] = []
        let conditionClean = FastPlan.cleanFlags(steps)

        func store(_ value: [UInt8]) -> (Int, Int) {
            bytes += value
            return (bytes.count - value.count, value.count)
        }
        /// A source; candidates are kept for `prepare`. Returns nil when not fast.
        func source(_ expression: DeclarativeMapper.Expression?, candidates: inout [Int]) -> FastSource {
            switch expression {
            case .slots(let slots):
                candidates = slots
                return FastSource(kind: .slot, slot: slots[0])
            case .constant(let value):
                let (start, count) = store(value)
                return FastSource(kind: .constant, start: start, count: count)
            case nil:
                return FastSource()
            }
        }
        /// A condition's index, or nil when it cannot run on the fast path.
        func condition(_ compiled: DeclarativeMapper.CompiledCondition) -> Int? {
            switch compiled {
            case .equals(let slots, let values, let negated):
                guard slots.count == 1 else { return nil }
                let first = mapIndex.count
                for value in values {
                    let (start, count) = store(value)
                    mapIndex.append(FastMapEntry(keyStart: start, keyCount: count, valueStart: 0, valueCount: 0))
                }
                conditions.append(FastCondition(op: negated ? .notEquals : .equals, slot: slots[0], first: first, count: values.count))
            case .isEmpty(let slots, let empty):
                guard slots.count == 1 else { return nil }
                conditions.append(FastCondition(op: empty ? .empty : .notEmpty, slot: slots[0]))
            case .matches:
                return nil
            case .all(let items), .any(let items):
                var indices: [Int] = []
                for item in items {
                    guard let index = condition(item) else { return nil }
                    indices.append(index)
                }
                let first = children.count
                children += indices
                if case .all = compiled {
                    conditions.append(FastCondition(op: .all, first: first, count: indices.count))
                } else {
                    conditions.append(FastCondition(op: .any, first: first, count: indices.count))
                }
            case .not(let item):
                guard let index = condition(item) else { return nil }
                conditions.append(FastCondition(op: .not, first: index))
            }
            return conditions.count - 1
        }

        for plan in plans {
            var entry = FastPlan()
            entry.field = plan.field
            var eligible = true
            var candidates: [Int] = []
            entry.base = source(plan.base, candidates: &candidates)
            baseCandidates.append(candidates)
            entry.needsHeader = candidates.count > 1
            entry.hasDefault = plan.defaultValue != nil
            entry.clauseStart = clauses.count
            for (compiled, result) in plan.clauses {
                guard conditionClean != nil, let root = condition(compiled) else {
                    eligible = false
                    break
                }
                var resultCandidates: [Int] = []
                clauses.append(FastClause(condition: root, result: source(result, candidates: &resultCandidates)))
                clauseCandidates.append(resultCandidates)
                if resultCandidates.count > 1 { entry.needsHeader = true }
            }
            entry.clauseCount = clauses.count - entry.clauseStart
            if let flags = FastPlan.cleanFlags(plan.clean) { entry.clean = flags } else { eligible = false }
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
                    let (keyStart, keyCount) = store(key)
                    let (valueStart, valueCount) = store(value)
                    mapIndex.append(FastMapEntry(keyStart: keyStart, keyCount: keyCount, valueStart: valueStart, valueCount: valueCount))
                }
            }
            entry.shapeEligible = eligible
            entry.eligible = eligible && !entry.needsHeader
            entries.append(entry)
        }
        func allocate<T>(_ values: [T]) -> UnsafeMutableBufferPointer<T> {
            let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(1, values.count))
            _ = buffer.initialize(from: values)
            return UnsafeMutableBufferPointer(rebasing: buffer[0..<values.count])
        }
        self.entries = allocate(entries)
        self.mapEntries = allocate(mapIndex)
        self.mapBytes = allocate(bytes)
        self.conditions = allocate(conditions)
        self.children = allocate(children)
        self.clauses = allocate(clauses)
        self.conditionClean = conditionClean
        self.baseCandidates = baseCandidates
        self.clauseCandidates = clauseCandidates
    }

    /// Settles `from: [a, b]` for a file whose fields are known: the first name present wins,
    /// none present means absent, as in the general path. Without a fixed header, such fields
    /// stay on the general path.
    func prepare(available: Set<Int>?) {
        for index in 0..<entries.count where entries[index].needsHeader {
            guard let available else {
                entries[index].eligible = false
                continue
            }
            func resolve(_ candidates: [Int], into source: inout FastSource) {
                guard candidates.count > 1 else { return }
                if let slot = candidates.first(where: available.contains) {
                    source = FastSource(kind: .slot, slot: slot)
                } else {
                    source = FastSource(kind: .absent)
                }
            }
            resolve(baseCandidates[index], into: &entries[index].base)
            for clause in entries[index].clauseStart..<(entries[index].clauseStart + entries[index].clauseCount) {
                resolve(clauseCandidates[clause], into: &clauses[clause].result)
            }
            entries[index].eligible = entries[index].shapeEligible
        }
    }

    deinit {
        for buffer in [UnsafeMutableRawBufferPointer(entries), UnsafeMutableRawBufferPointer(mapEntries),
                       UnsafeMutableRawBufferPointer(mapBytes), UnsafeMutableRawBufferPointer(conditions),
                       UnsafeMutableRawBufferPointer(children), UnsafeMutableRawBufferPointer(clauses)] {
            buffer.baseAddress?.deallocate()
        }
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
