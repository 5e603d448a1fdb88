import Foundation

/// The run's record sink: map → validate → de-duplicate → accept or reject, and count.
///
/// Every record read ends in exactly one place: `records.jsonl` (and the writer) or
/// `rejects.jsonl`. Nothing is dropped.
struct RecordProcessor: RecordSink {
    private var mapper: DeclarativeMapper
    private let validator: RefundValidator
    private let definition: PipelineDefinition
    private let valid: ValidRecordOutput
    private let rejects: BufferedOutput
    private let refeed: RefeedOutput
    private let duplicates: DuplicateIndex
    private let limits: ErrorLimits
    private let maxPrinted: Int
    private let emit: (String) -> Void
    private let defaultShop: [UInt8]?
    private let progress: RunProgress?
    /// Which canonical field reads which slot, for locating validation errors.
    private var fieldSlots: [RefundField: Int] = [:]

    private var counts = RunCounts()
    private var fileCounts = RunCounts()
    private var currentFile: InputFile?
    private var inputs: [InputReport] = []
    private var printed = 0
    private var missingColumnWarnings: [String] = []  // this file's, for the report's input notes
    /// This file's records rejected as missing each field: when that is every record, the file
    /// lacks the field, and one note says so (with the pipeline's hint) rather than only N errors.
    private var missingInFile: [String: Int] = [:]
    private var lostIdDigits = LostIdDigits()  // this file's valid ids, rounded by a number type?
    private var paging = ResponsePaging()  // what the run's API responses say of their query
    private var unknownValues = UnknownValueTally()
    private var unprinted = 0  // diagnostics past maxPrinted: counted, and the end says so

    private var errors: [RowError] = []
    private var record = RefundRecord()
    private var keyBytes: [UInt8] = []
    private var shopNames = ShopNames()
    private let line = JSONBytes(capacity: 4096)

    init(
        pipeline: Pipeline, writer: any RecordWriter, options: RunOptions, limits: ErrorLimits,
        emit: @escaping (String) -> Void
    ) throws {
        mapper = pipeline.mapper
        validator = pipeline.validator
        definition = pipeline.definition
        self.limits = limits
        self.emit = emit
        maxPrinted = options.maxPrintedDiagnostics
        valid = ValidRecordOutput(
            records: try BufferedOutput(path: options.outputDirectory + "/records.jsonl"), writer: writer,
            background: options.handsOffWork)
        rejects = try BufferedOutput(path: options.outputDirectory + "/rejects.jsonl")
        refeed = try RefeedOutput(outputDirectory: options.outputDirectory, readerName: definition.reader.name)
        duplicates = DuplicateIndex(directory: options.outputDirectory)
        defaultShop = definition.target.options["shopNo"].flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        progress = options.progress
        for field in definition.fields { unknownValues.hints[field.field.rawValue] = field.unmappedHint }
    }

    /// Which slot locates each field's errors: the first of its source names the file has.
    private mutating func locateFields(available: [String]?) {
        fieldSlots = [:]
        for field in definition.fields {
            guard case .source(let names) = field.value else { continue }
            let name = available.flatMap { available in names.first(where: available.contains) } ?? names.first
            if let name, let slot = mapper.sourceFieldNames.firstIndex(of: name) { fieldSlots[field.field] = slot }
        }
    }

    // MARK: - RecordSink

    mutating func begin(file: InputFile, shape: SourceShape) throws {
        currentFile = file
        fileCounts = RunCounts()
        missingColumnWarnings = []
        missingInFile = [:]
        lostIdDigits = LostIdDigits()
        mapper.prepare(availableFields: shape.availableFields)
        locateFields(available: shape.availableFields)
        guard let available = shape.availableFields else { return }
        let sourceNames = definition.fields.flatMap { field -> [String] in
            guard case .source(let names) = field.value else { return [] }
            return names
        }
        if !sourceNames.isEmpty, !sourceNames.contains(where: available.contains) {
            // Not one column matches: the header is not where the reader looked, or it is another file.
            let shown = available.prefix(5).map { "'\($0)'" }.joined(separator: ", ") + (available.count > 5 ? ", …" : "")
            throw Diagnostic(
                code: "input.no_header",
                message: "'\(file.path)' has none of the columns the pipeline reads; the header found is \(shown)",
                location: shape.location,
                notes: [
                    "if the export starts with title lines, set 'skipLines' (or 'commentPrefix') in the pipeline's reader",
                    "otherwise this file is not what \(definition.name.isEmpty ? "the pipeline" : definition.name) expects (it reads e.g. '\(sourceNames[0])')",
                ])
        }
        var missing: [Diagnostic] = []
        for field in definition.fields {
            guard case .source(let names) = field.value, !names.contains(where: available.contains) else { continue }
            let list = names.map { "'\($0)'" }.joined(separator: " or ")
            if field.optionalSource {
                let similar = names.lazy.compactMap { closestColumn($0, in: available) }.first
                let fen = names.lazy.compactMap { fenColumn($0, in: available) }.first
                let warning =
                    "no column \(list) for \(field.field.rawValue); it stays empty"
                    + (similar.map { " (the file has '\($0)': if that is it, add it to the field's 'from')" } ?? "")
                    + (fen.map { " (\($0))" } ?? "")
                    + (field.missingHint.map { ". \($0)" } ?? "")
                emit("\(shape.location.map { "\($0): " } ?? "")warning: \(warning) [input.missing_column]")
                missingColumnWarnings.append("'\(file.path)': \(warning)")
                continue
            }
            missing.append(
                Diagnostic(
                    code: "input.missing_column",
                    message: "'\(file.path)' has no column \(list), which the pipeline maps to \(field.field.rawValue)",
                    location: shape.location, field: field.field.rawValue,
                    notes: missingColumnNotes(field, names, available: available)))
        }
        if !missing.isEmpty { throw DiagnosticList(missing) }
    }

    /// A close column name the file does have, and the pipeline's own hint for this field.
    private func missingColumnNotes(_ field: FieldDefinition, _ names: [String], available: [String]) -> [String] {
        var notes: [String] = []
        if let suggestion = names.lazy.compactMap({ closestColumn($0, in: available) }).first {
            notes.append("the file has '\(suggestion)'; if that is it, add it to the field's 'from'")
        }
        if let fen = names.lazy.compactMap({ fenColumn($0, in: available) }).first { notes.append(fen) }
        if let hint = field.missingHint { notes.append(hint) }
        return notes
    }

    mutating func consume(_ row: some SourceRow) throws {
        counts.read += 1
        fileCounts.read += 1
        errors.removeAll(keepingCapacity: true)
        if row.hasProblems {
            // The structure or the bytes are broken: mapping would only add noise.
            for problem in row.problems {
                errors.append(RowError(code: problem.code, field: problem.sourceField, value: nil, message: problem.message, location: problem.location))
            }
            try reject(row, structural: true)
            return
        }
        record.reset()
        let failed = mapper.map(row, into: &record, errors: &errors)
        applyDefaults()
        let slots = fieldSlots
        validator.validate(record, skipping: failed, locate: { field in
            if let slot = slots[field] { return row.location(slot: slot) }
            return SourceLocation(file: row.origin.file, line: row.origin.line)
        }, errors: &errors)
        if errors.isEmpty, let first = try firstWithSameKey(line: row.origin.line) {
            let key = definition.duplicateKey.map { "\($0.rawValue)=\(keyText($0))" }.joined(separator: ", ")
            errors.append(
                RowError(
                    code: .duplicate, field: definition.duplicateKey.map(\.rawValue).joined(separator: "+"), value: key,
                    message: "an earlier record has the same key (\(key)), at \(first); the first one is kept",
                    location: SourceLocation(file: row.origin.file, line: row.origin.line)))
        }
        if errors.isEmpty {
            lostIdDigits.add(record, line: row.origin.line)
            try accept()
        } else {
            try reject(row)
        }
    }

    private static let one: [UInt8] = [UInt8(ascii: "1")]

    private mutating func applyDefaults() {
        if !record.has(.shopNo), let defaultShop { record.setText(.shopNo, defaultShop) }
        if !record.has(.refundVersion) { record.setText(.refundVersion, Self.one) }
        if !record.has(.title) { record.setText(.title, []) }
        if !record.has(.reason) { record.setText(.reason, []) }
    }

    private func keyText(_ field: RefundField) -> String {
        switch record[field] {
        case .text(let text): return text
        case .decimal(let amount): return amount.formatted()
        case .integer(let number): return String(number)
        case nil: return ""
        }
    }

    /// Records the duplicate key of the record at `line` of the current file; when an earlier
    /// accepted record had the key, returns where that one is (`file:line`).
    private mutating func firstWithSameKey(line: Int) throws -> String? {
        var key = keyBytes  // moved out, so the closure below needs no access to self
        keyBytes = []
        defer { keyBytes = key }
        key.removeAll(keepingCapacity: true)
        for field in definition.duplicateKey {
            if record.withText(field, { key.append(contentsOf: $0) }) == nil { key.append(contentsOf: keyText(field).utf8) }
            key.append(0x1F)
        }
        let index = duplicates
        // Origin: the file's number in this run (inputs done so far) and the line.
        let origin = UInt64(inputs.count) << 40 | UInt64(line)
        guard let first = try key.withUnsafeBufferPointer({ try index.insert($0, origin: origin) }) else { return nil }
        let fileNumber = Int(first >> 40)
        let path = fileNumber < inputs.count ? inputs[fileNumber].path : currentFile?.path ?? ""
        return "\(path):\(first & (1 << 40 - 1))"
    }

    private mutating func accept() throws {
        progress?.valid.add(1, ordering: .relaxed)
        let shop = shopNames.name(of: record)
        counts.addValid(record, shop: shop)
        fileCounts.addValid(record, shop: shop)
        try valid.add(record)
    }

    private mutating func reject(_ row: some SourceRow, structural: Bool = false) throws {
        let mapped = structural ? nil : record  // a structural reject was never mapped
        counts.addRejected(errors, structural: structural, record: mapped)
        for error in errors where error.code == .unknownValue { unknownValues.add(error) }
        for (index, error) in errors.enumerated() where error.code == .missing {
            if let field = error.field, !errors[..<index].contains(where: { $0.code == .missing && $0.field == field }) { missingInFile[field, default: 0] += 1 }
        }
        fileCounts.addRejected(errors, structural: structural, record: mapped)
        progress?.rejected.add(1, ordering: .relaxed)
        line.removeAll()
        line.raw("{")
        line.keyValue("file", row.origin.file, first: true)
        line.keyValue("line", row.origin.line)
        line.keyValue("record", row.origin.record)
        line.key("errors")
        line.raw("[")
        for (index, error) in errors.enumerated() {
            if index > 0 { line.raw(",") }
            line.raw("{")
            line.keyValue("code", error.code.rawValue, first: true)
            line.keyValue("field", error.field)
            line.keyValue("value", error.value)
            line.keyValue("message", error.message)
            if let location = error.location {
                line.keyValue("line", location.line)
                line.keyValue("column", location.column)
            }
            line.raw("}")
        }
        line.raw("]")
        line.key("raw")
        line.raw("{")
        for (index, field) in row.rawFields().enumerated() { line.keyValue(field.name, field.value, first: index == 0) }
        line.raw("}")
        if errors.contains(where: { $0.code == .encoding }), let bytes = row.rawBytes() {
            // The exact source bytes, so an undecodable row is not lost.
            line.keyValue("raw_bytes_base64", Data(bytes).base64EncodedString())
        }
        line.raw("}")
        try rejects.writeLine(line.buffer)
        if errors.contains(where: { $0.code != .duplicate }), let format = row.refeedFormat() {
            if let bytes = row.rawBytes() {
                try refeed.add(input: row.origin.file, format: format, record: bytes)
            } else {
                refeed.leaveOut(input: row.origin.file)
            }
        }

        for error in errors {
            guard printed < maxPrinted else {
                unprinted += 1
                continue
            }
            emit(error.diagnostic.description)
            printed += 1
        }
        if let maxErrors = limits.maxErrors, counts.rejected > maxErrors {
            throw ErrorLimitReached(message: "more than --max-errors \(maxErrors) records rejected; stopped at \(row.origin.file):\(row.origin.line)")
        }
    }

    // MARK: - End

    mutating func finishFile(_ summary: ReadSummary?) {
        guard let file = currentFile ?? summary?.file else { return }
        var input = InputReport(path: file.path)
        if let summary {
            input.bytes = summary.bytes
            input.sha256 = summary.sha256
            input.blankLines = summary.blankLines
            input.encoding = summary.encoding
            input.truncated = summary.truncated
            if let truncated = summary.truncated { emit("\(file.path): warning: \(truncated) [input.truncated]") }
            paging.merge(summary.paging, file: file.path)
            for note in summary.notes {
                emit("note: \(note)")
                input.notes.append(note)
            }
        } else {
            input.incomplete = true
            input.sha256 = (try? fileSHA256(file.path)) ?? ""
        }
        input.notes += missingColumnWarnings
        for warning in lostIdDigits.warnings(csv: definition.readsSpreadsheetText) {
            emit("\(file.path):\(warning.line): warning: \(warning.message) [input.ids_lost_digits]")
            input.notes.append("'\(file.path)': \(warning.message)")
        }
        if fileCounts.read > 1 {
            for field in missingInFile.keys.sorted() where missingInFile[field] == fileCounts.read {
                var note = "'\(file.path)': no record has a value for \(field) (all \(fileCounts.read) were rejected for it): the export lacks it"
                if let hint = definition.fields.first(where: { $0.field.rawValue == field })?.missingHint { note += "; \(hint)" }
                emit("note: \(note)")
                input.notes.append(note)
            }
        }
        let delivered = summary?.records ?? fileCounts.read
        counts.delivered += delivered
        fileCounts.delivered = delivered
        input.counts = fileCounts
        inputs.append(input)
        currentFile = nil
    }

    /// An input the run never opened (it stopped earlier): size and sha256 where readable.
    mutating func skipFile(_ file: InputFile, reason: String) {
        var input = InputReport(path: file.path)
        input.incomplete = true
        input.sha256 = (try? fileSHA256(file.path)) ?? ""
        input.bytes = ((try? FileManager.default.attributesOfItem(atPath: file.path))?[.size] as? Int) ?? 0
        input.notes.append(reason)
        inputs.append(input)
    }

    mutating func finish(into report: inout RunReport) throws {
        report.inputs = inputs
        report.counts = counts
        try rejects.flush()
        report.refeedFiles = try refeed.finish()
        report.unknownValues = unknownValues.sorted
        report.unknownValuesBeyondLimit = unknownValues.beyondLimit
        for sentence in report.unknownValueSentences() { emit("note: \(sentence)") }
        for file in report.refeedFiles {
            let notWritten =
                file.notWritten == 0
                ? "" : "; \(file.notWritten) more rejected \(file.notWritten == 1 ? "is" : "are") in rejects.jsonl only (where the file breaks, or a missing page, there is no row to write back)"
            emit(
                "note: \(file.rows == 1 ? "the rejected row" : "the \(file.rows) rejected rows") of '\(file.input)' \(file.rows == 1 ? "is" : "are") in \(file.path) "
                    + (file.convertedTo == "csv" ? "as CSV (UTF-8 with a BOM, which Excel opens)" : "as the file had \(file.rows == 1 ? "it" : "them")")
                    + ": fix \(file.rows == 1 ? "it" : "them") there and run on that file (with another --out)\(notWritten)")
        }
        report.writer = try valid.finish()
        if unprinted > 0 {
            emit(
                "note: \(unprinted) more error\(unprinted == 1 ? "" : "s") not shown (--show-errors); \(counts.rejected) "
                    + "record\(counts.rejected == 1 ? "" : "s") rejected in all, every one in rejects.jsonl with its line and reasons")
        }
        for note in report.writer?.notes ?? [] { emit("note: \(note)") }
        // Checked over every file read to its end: pages may each be a file of their own.
        if !inputs.contains(where: { $0.incomplete || $0.truncated != nil }), let warning = paging.warning {
            emit("warning: \(warning) [input.missing_pages]")
            report.notes.append(warning)
        }
    }
}

/// A column of the file that is `name` written another way: other letter case, spaces,
/// full-width letters or brackets (`商品ID`, `商品 id`, `金额（元）`), or, for an ASCII name, one
/// typo. Chinese names that differ by a character are different columns (退货物流单号 is not
/// 发货物流单号), so nothing else is suggested.
func closestColumn(_ name: String, in available: [String]) -> String? {
    let key = name.foldedColumnName
    if let match = available.first(where: { $0.foldedColumnName == key }) { return match }
    guard name.unicodeScalars.allSatisfy(\.isASCII), name.count >= 4 else { return nil }
    return available.first { $0.unicodeScalars.allSatisfy(\.isASCII) && editDistance(key, $0.foldedColumnName) == 1 }
}

/// What to say of a column that is `name` in fen (`退款金额(分)`, as Pinduoduo's and Douyin's
/// amounts are): never read as the yuan the pipeline means, a hundred times too much.
func fenColumn(_ name: String, in available: [String]) -> String? {
    let key = name.foldedColumnName
    guard
        let column = available.first(where: { column in
            let folded = column.foldedColumnName
            return folded.columnUnit.map { $0.name == "分" && folded[..<$0.start] == key } ?? false
        })
    else { return nil }
    return "the file has '\(column)', in fen (分, hundredths of a yuan); the pipeline reads yuan: convert that column to yuan and name it '\(name)'"
}

/// SHA-256 of a whole file, streamed (for inputs a run could not finish reading).
func fileSHA256(_ path: String) throws -> String {
    var file = try ChunkedFile(path: path)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while try file.read(into: buffer) > 0 {}
    return file.hexDigest
}
