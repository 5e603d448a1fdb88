import Crypto
import Foundation
import Yams

/// Reads `pipelines/*.yaml` into a `PipelineDefinition`, reporting every error at once with
/// its line:column, before any data is read.
public enum PipelineLoader {
    static let topLevelKeys = [
        "version", "name", "description", "variables", "reader", "timeZone", "outputTimeZone", "clean",
        "dateFormats", "duplicateKey", "errorLimits", "target", "fields", "knownValues",
    ]
    static let fieldKeys = [
        "from", "value", "default", "clean", "map", "mapDefault", "pattern", "formats", "timeZone", "required",
        "optional", "missingHint", "unmappedHint", "when",
    ]

    /// Loads a pipeline file.
    /// - Parameters:
    ///   - variables: values from `--set name=value`.
    ///   - requireVariables: whether a required variable without a value is an error (a run) or
    ///     not (lint).
    /// - Throws: `DiagnosticList` with every problem found.
    public static func load(
        path: String, variables: [String: String] = [:], requireVariables: Bool = true
    ) throws(DiagnosticList) -> PipelineDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DiagnosticList([
                Diagnostic(code: "pipeline.unreadable", message: "cannot read pipeline file '\(path)'")
            ])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            // Where: a Chinese editor's "ANSI" (GBK) is the usual cause, and the line shows it.
            let bytes = [UInt8](data)
            let offset = bytes.withUnsafeBufferPointer { UTF8Validation.firstInvalidOffset($0) } ?? 0
            let lineStart = bytes[..<offset].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
            throw DiagnosticList([
                Diagnostic(
                    code: "pipeline.encoding", message: "pipeline file '\(path)' is not UTF-8 (byte offset \(offset))",
                    location: SourceLocation(
                        file: path, line: bytes[..<offset].count { $0 == 0x0A } + 1,
                        column: String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1),
                    notes: ["save it as UTF-8 (an editor's \"ANSI\" on Chinese Windows is GBK), or convert it: iconv -f GBK -t UTF-8 '\(path)' > pipeline-utf8.yaml"])
            ])
        }
        var definition = try load(yaml: text, path: path, variables: variables, requireVariables: requireVariables)
        definition.sha256 = lowercaseHex(SHA256.hash(data: data))
        return definition
    }

    /// Loads pipeline text; `path` is used in diagnostics.
    public static func load(
        yaml: String, path: String, variables: [String: String] = [:], requireVariables: Bool = true
    ) throws(DiagnosticList) -> PipelineDefinition {
        var context = YAMLContext(path: path)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw DiagnosticList([
                    Diagnostic(
                        code: "pipeline.empty", message: "pipeline file is empty",
                        location: SourceLocation(file: path, line: 1))
                ])
            }
            root = node
        } catch let error as YamlError {
            throw DiagnosticList([yamlDiagnostic(error, path: path)])
        } catch let error as DiagnosticList {
            throw error
        } catch {
            throw DiagnosticList([Diagnostic(code: "pipeline.syntax", message: "\(error)")])
        }
        var definition = PipelineDefinition()
        definition.path = path
        guard let pairs = context.mapping(root, "a pipeline") else { throw DiagnosticList(context.diagnostics) }
        context.checkKeys(pairs, allowed: topLevelKeys, in: "the pipeline")
        let byKey = Dictionary(pairs.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })

        if let node = byKey["version"]?.value {
            if let version = context.int(node, "'version'", range: 1...1_000) {
                if version != 1 {
                    context.error(node, "unsupported_version", "pipeline version \(version) is not supported; this RefundFlow reads version 1")
                }
                definition.version = version
            }
        } else {
            context.diagnostics.append(
                Diagnostic(
                    code: "pipeline.missing_key", message: "the pipeline must say 'version: 1'",
                    location: context.location(root)))
        }
        if let node = byKey["name"]?.value { definition.name = context.string(node, "'name'") ?? "" }
        if let node = byKey["description"]?.value { definition.description = context.string(node, "'description'") }

        // Variables first: everything else may refer to them.
        if let node = byKey["variables"]?.value {
            definition.variables = decodeVariables(node, &context)
        }
        definition.resolvedVariables = resolveVariables(
            definition.variables, given: variables, requireVariables: requireVariables, root: root, &context)
        context.variables = definition.resolvedVariables
        context.declaredVariables = Set(definition.variables.map(\.name))

        if let node = byKey["timeZone"]?.value, let zone = zoneName(node, "'timeZone'", &context) {
            definition.timeZone = zone
        }
        if let node = byKey["outputTimeZone"]?.value, let zone = zoneName(node, "'outputTimeZone'", &context) {
            definition.outputTimeZone = zone
        }
        if let node = byKey["clean"]?.value, let steps = cleanSteps(node, &context) { definition.clean = steps }
        if let node = byKey["dateFormats"]?.value, let formats = dateFormats(node, &context) {
            definition.dateFormats = formats
        }
        if let node = byKey["duplicateKey"]?.value, let names = context.stringList(node, "'duplicateKey'") {
            var key: [RefundField] = []
            for name in names {
                if let field = RefundField(rawValue: name) { key.append(field) } else {
                    context.error(node, "unknown_field", "unknown field '\(name)' in 'duplicateKey'", notes: fieldNotes(name))
                }
            }
            if key.isEmpty { context.error(node, "wrong_type", "'duplicateKey' needs at least one field") }
            definition.duplicateKey = key
        }
        if let node = byKey["errorLimits"]?.value { definition.errorLimits = errorLimits(node, &context) }
        if let pair = byKey["reader"] {
            if let reader = decodeChoice(pair.value, "'reader'", registry: ReaderRegistry.entries.map { ($0.name, $0.keys) }, &context) {
                let entry = ReaderRegistry.entries.first { $0.name == reader.name }!
                if let options = entry.decode(reader.pairs, &context) {
                    definition.reader = ReaderDefinition(name: reader.name, options: options)
                }
            }
        } else {
            context.error(root, "missing_key", "the pipeline must name a 'reader'", notes: ["for example: reader: { csv: { encoding: auto } }"])
        }
        if let pair = byKey["target"] {
            if let target = decodeChoice(pair.value, "'target'", registry: TargetRegistry.entries.map { ($0.name, $0.keys) }, &context) {
                var options: [String: String] = [:]
                for option in target.pairs {
                    if let value = context.template(option.value, "target option '\(option.key)'") { options[option.key] = value }
                }
                let entry = TargetRegistry.entries.first { $0.name == target.name }!
                definition.target = TargetDefinition(name: target.name, options: options, location: context.location(pair.value))
                for problem in entry.problems(options) {
                    context.error(pair.value, "bad_target_option", problem)
                }
            }
        }
        if let node = byKey["fields"]?.value {
            definition.fields = decodeFields(node, definition: definition, &context)
        } else {
            context.error(root, "missing_key", "the pipeline must map 'fields'")
        }
        if let node = byKey["knownValues"]?.value {
            definition.knownValues = knownValues(node, read: definition.sourceFieldsRead, &context)
        }
        if !context.diagnostics.isEmpty { throw DiagnosticList(context.diagnostics) }
        return definition
    }

    /// `knownValues`: source field → the values it may hold. A field no `from` or condition reads
    /// is an error (a misspelt name would check nothing).
    static func knownValues(_ node: Node, read: Set<String>, _ context: inout YAMLContext) -> [KnownValues] {
        guard let pairs = context.mapping(node, "'knownValues'") else { return [] }
        var known: [KnownValues] = []
        for pair in pairs {
            guard let values = context.stringList(pair.value, "the known values of '\(pair.key)'") else { continue }
            if values.isEmpty {
                context.error(pair.value, "wrong_type", "the known values of '\(pair.key)' need at least one value")
                continue
            }
            guard read.contains(pair.key) else {
                var notes = ["knownValues names source fields that a field's 'from' or a condition reads"]
                if let suggestion = closest(pair.key, in: read.sorted()) { notes.insert("did you mean '\(suggestion)'?", at: 0) }
                context.error(pair.keyNode, "unknown_field", "no field or condition of the pipeline reads '\(pair.key)', which 'knownValues' names", notes: notes)
                continue
            }
            known.append(KnownValues(sourceField: pair.key, values: values))
        }
        return known
    }

    static func yamlDiagnostic(_ error: YamlError, path: String) -> Diagnostic {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return Diagnostic(
                code: "pipeline.syntax", message: "YAML syntax: \(problem)",
                location: SourceLocation(file: path, line: mark.line, column: mark.column))
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                code: "pipeline.duplicate_key", message: "duplicate key '\(duplicates.joined(separator: "', '"))'",
                location: SourceLocation(file: path, line: context.mark.line, column: context.mark.column))
        default:
            return Diagnostic(code: "pipeline.syntax", message: "YAML: \(error)", location: SourceLocation(file: path, line: 1))
        }
    }

    static func fieldNotes(_ name: String) -> [String] {
        let names = RefundField.allCases.map(\.rawValue)
        var notes = ["canonical fields: \(names.joined(separator: ", "))"]
        if let suggestion = closest(name, in: names) { notes.insert("did you mean '\(suggestion)'?", at: 0) }
        return notes
    }

    static func decodeVariables(_ node: Node, _ context: inout YAMLContext) -> [VariableDefinition] {
        guard let pairs = context.mapping(node, "'variables'") else { return [] }
        var result: [VariableDefinition] = []
        for pair in pairs {
            var variable = VariableDefinition(
                name: pair.key, description: nil, required: false, defaultValue: nil, allowed: nil,
                location: context.location(pair.keyNode))
            if case .scalar = pair.value {
                // Short form: `name: default`.
                variable.defaultValue = context.string(pair.value, "variable '\(pair.key)'")
            } else if let options = context.mapping(pair.value, "variable '\(pair.key)'") {
                context.checkKeys(options, allowed: ["description", "required", "default", "allowed"], in: "variable '\(pair.key)'")
                for option in options {
                    switch option.key {
                    case "description": variable.description = context.string(option.value, "'description'")
                    case "required": variable.required = context.bool(option.value, "'required'") ?? false
                    case "default": variable.defaultValue = context.string(option.value, "'default'")
                    case "allowed": variable.allowed = context.stringList(option.value, "'allowed'")
                    default: break
                    }
                }
            }
            result.append(variable)
        }
        return result
    }

    static func resolveVariables(
        _ declared: [VariableDefinition], given: [String: String], requireVariables: Bool, root: Node,
        _ context: inout YAMLContext
    ) -> [String: String] {
        var values: [String: String] = [:]
        for (name, value) in given.sorted(by: { $0.key < $1.key }) where !declared.contains(where: { $0.name == name }) {
            var notes = ["declared variables: \(declared.map(\.name).joined(separator: ", "))"]
            if let suggestion = closest(name, in: declared.map(\.name)) { notes.insert("did you mean '\(suggestion)'?", at: 0) }
            context.diagnostics.append(
                Diagnostic(
                    code: "pipeline.unknown_variable", message: "--set \(name)=\(value): the pipeline has no variable '\(name)'",
                    location: SourceLocation(file: context.path, line: root.mark?.line ?? 1), notes: notes))
        }
        for variable in declared {
            let value = given[variable.name] ?? variable.defaultValue
            if let value {
                if let allowed = variable.allowed, !allowed.contains(value) {
                    context.diagnostics.append(
                        Diagnostic(
                            code: "pipeline.bad_variable", message: "variable '\(variable.name)' is '\(value)'; allowed: \(allowed.joined(separator: ", "))",
                            location: variable.location))
                }
                values[variable.name] = value
            } else if variable.required && requireVariables {
                context.diagnostics.append(
                    Diagnostic(
                        code: "pipeline.missing_variable",
                        message: "variable '\(variable.name)' has no value" + (variable.description.map { " (\($0))" } ?? ""),
                        location: variable.location, notes: ["pass it on the command line: --set \(variable.name)=VALUE"]))
            }
        }
        return values
    }

    static func zoneName(_ node: Node, _ what: String, _ context: inout YAMLContext) -> String? {
        guard let name = context.string(node, what) else { return nil }
        guard TimeZone(identifier: name) != nil else {
            context.error(node, "unknown_time_zone", "unknown time zone '\(name)' in \(what)", notes: ["use an IANA name such as Asia/Shanghai"])
            return nil
        }
        // Abbreviations name different zones in different places, and Foundation takes some of
        // them: CST, Beijing time to many Chinese systems, is US Central time (UTC−6) to it.
        if name.count <= 5, name.allSatisfy({ $0.isASCII && $0.isUppercase }), !["UTC", "GMT", "PRC"].contains(name) {
            context.error(
                node, "ambiguous_time_zone", "'\(name)' in \(what) is an abbreviation, which names different zones in different places",
                notes: [(name == "CST" ? "CST is US Central time (UTC−6) here, not China Standard Time; " : "") + "use an IANA name such as Asia/Shanghai (Beijing time) or UTC"])
            return nil
        }
        return name
    }

    static func cleanSteps(_ node: Node, _ context: inout YAMLContext) -> [CleanStep]? {
        guard let names = context.stringList(node, "'clean'") else { return nil }
        var steps: [CleanStep] = []
        for name in names {
            if let step = CleanStep(rawValue: name) { steps.append(step) } else {
                var notes = ["cleaning steps: \(CleanStep.allCases.map(\.rawValue).joined(separator: ", "))"]
                if let suggestion = closest(name, in: CleanStep.allCases.map(\.rawValue)) {
                    notes.insert("did you mean '\(suggestion)'?", at: 0)
                }
                context.error(node, "unknown_value", "unknown cleaning step '\(name)'", notes: notes)
            }
        }
        return steps
    }

    static func dateFormats(_ node: Node, _ context: inout YAMLContext) -> [DateFormat]? {
        guard let patterns = context.stringList(node, "'formats'") else { return nil }
        var formats: [DateFormat] = []
        for pattern in patterns {
            do { formats.append(try DateFormat(pattern)) } catch {
                context.error(node, "bad_date_format", error.message)
            }
        }
        return formats.isEmpty ? nil : formats
    }

    static func errorLimits(_ node: Node, _ context: inout YAMLContext) -> ErrorLimits {
        var limits = ErrorLimits()
        guard let pairs = context.mapping(node, "'errorLimits'") else { return limits }
        context.checkKeys(pairs, allowed: ["maxErrors", "maxErrorRate"], in: "'errorLimits'")
        for pair in pairs {
            switch pair.key {
            case "maxErrors": limits.maxErrors = context.int(pair.value, "'maxErrors'", range: 0...Int.max)
            case "maxErrorRate":
                if let text = context.string(pair.value, "'maxErrorRate'") {
                    if let rate = parseRate(text) { limits.maxErrorRate = rate } else {
                        context.error(pair.value, "wrong_type", "'maxErrorRate' must be a fraction 0...1 or a percentage like 5%, not '\(text)'")
                    }
                }
            default: break
            }
        }
        return limits
    }

    /// `0.05` or `5%`.
    public static func parseRate(_ text: String) -> Double? {
        let trimmed = text.trimmingASCIIWhitespace()
        if trimmed.hasSuffix("%"), let percent = Double(trimmed.dropLast()), (0...100).contains(percent) {
            return percent / 100
        }
        if let fraction = Double(trimmed), (0...1).contains(fraction) { return fraction }
        return nil
    }

    /// `{ name: { options } }`: a component chosen by its single key.
    static func decodeChoice(
        _ node: Node, _ what: String, registry: [(String, [String])], _ context: inout YAMLContext
    ) -> (name: String, pairs: [YAMLPair])? {
        let names = registry.map(\.0)
        if case .scalar(let scalar) = node {
            guard let entry = registry.first(where: { $0.0 == scalar.string }) else {
                _ = context.choice(node, "\(what) kind", names.map { ($0, $0) })
                return nil
            }
            return (entry.0, [])
        }
        guard let pairs = context.mapping(node, what) else { return nil }
        guard pairs.count == 1, let pair = pairs.first else {
            context.error(node, "wrong_type", "\(what) must have exactly one key, the kind: \(names.joined(separator: ", "))")
            return nil
        }
        guard let entry = registry.first(where: { $0.0 == pair.key }) else {
            _ = context.choice(pair.keyNode, "\(what) kind", names.map { ($0, $0) })
            return nil
        }
        var options: [YAMLPair] = []
        if case .scalar(let scalar) = pair.value, scalar.string.isEmpty || scalar.tag.description.hasSuffix("null") {
            options = []
        } else if let decoded = context.mapping(pair.value, "options of \(what) '\(pair.key)'") {
            options = decoded
        } else {
            return nil
        }
        context.checkKeys(options, allowed: entry.1, in: "\(what) '\(pair.key)'")
        return (entry.0, options.filter { entry.1.contains($0.key) })
    }

    static func decodeFields(_ node: Node, definition: PipelineDefinition, _ context: inout YAMLContext) -> [FieldDefinition] {
        guard let pairs = context.mapping(node, "'fields'") else { return [] }
        var fields: [FieldDefinition] = []
        for pair in pairs {
            guard let field = RefundField(rawValue: pair.key) else {
                context.error(pair.keyNode, "unknown_field", "unknown canonical field '\(pair.key)'", notes: fieldNotes(pair.key))
                continue
            }
            var definition = FieldDefinition(field: field, location: context.location(pair.keyNode))
            var givesAValue = true
            switch pair.value {
            case .scalar:
                // Short form: `field: 源列名`.
                if let name = context.string(pair.value, "field '\(pair.key)'") { definition.value = .source([name]) }
            default:
                guard let options = context.mapping(pair.value, "field '\(pair.key)'") else { continue }
                context.checkKeys(options, allowed: fieldKeys, in: "field '\(pair.key)'")
                decodeField(&definition, options, &context)
                givesAValue = options.contains { ["from", "value", "when", "default"].contains($0.key) }
            }
            if !givesAValue {
                context.error(pair.keyNode, "missing_key", "field '\(pair.key)' needs 'from', 'value', 'when' or 'default'")
            }
            let isDateTime: Bool
            if case .dateTime = field.kind { isDateTime = true } else { isDateTime = false }
            if !isDateTime && (definition.formats != nil || definition.timeZone != nil) {
                context.error(pair.keyNode, "wrong_option", "'formats' and 'timeZone' apply only to date-time fields (refund_time, current_phase_timeout)")
            }
            fields.append(definition)
        }
        return fields
    }

    static func decodeField(_ definition: inout FieldDefinition, _ options: [YAMLPair], _ context: inout YAMLContext) {
        let name = definition.field.rawValue
        let hasFrom = options.contains { $0.key == "from" }
        let hasValue = options.contains { $0.key == "value" }
        if hasFrom && hasValue {
            context.error(options.first { $0.key == "value" }!.keyNode, "conflict", "field '\(name)' has both 'from' and 'value'; use 'when' for conditional values")
        }
        for option in options {
            switch option.key {
            case "from":
                if let names = context.stringList(option.value, "'from'") { definition.value = .source(names) }
            case "value":
                if let value = context.template(option.value, "'value'") {
                    definition.value = .constant(value)
                    checkConstant(option.value, value, for: definition.field, "'value'", &context)
                }
            case "default":
                definition.defaultValue = context.template(option.value, "'default'")
                if let value = definition.defaultValue { checkConstant(option.value, value, for: definition.field, "'default'", &context) }
            case "clean": definition.clean = cleanSteps(option.value, &context)
            case "map":
                guard let entries = context.mapping(option.value, "'map'") else { break }
                var map: [String: String] = [:]
                for entry in entries {
                    if let value = context.template(entry.value, "map value for '\(entry.key)'") {
                        map[entry.key] = value
                        checkConstant(entry.value, value, for: definition.field, "the map value for '\(entry.key)'", &context)
                    }
                }
                definition.map = map
            case "mapDefault":
                definition.mapDefault = context.template(option.value, "'mapDefault'")
                if let value = definition.mapDefault { checkConstant(option.value, value, for: definition.field, "'mapDefault'", &context) }
            case "pattern": definition.pattern = pattern(option.value, &context)
            case "formats": definition.formats = dateFormats(option.value, &context)
            case "timeZone": definition.timeZone = zoneName(option.value, "'timeZone'", &context)
            case "required": definition.required = context.bool(option.value, "'required'")
            case "optional": definition.optionalSource = context.bool(option.value, "'optional'") ?? false
            case "missingHint": definition.missingHint = context.string(option.value, "'missingHint'")
            case "unmappedHint": definition.unmappedHint = context.string(option.value, "'unmappedHint'")
            case "when":
                guard case .sequence(let clauses) = option.value else {
                    context.error(option.value, "wrong_type", "'when' must be a list of clauses, each with 'if' and 'value' or 'from'")
                    break
                }
                for clause in clauses {
                    if let decoded = whenClause(clause, field: definition.field, &context) { definition.when.append(decoded) }
                }
            default: break
            }
        }
        // Options that only act through a map would be ignored without one.
        if definition.map == nil {
            for option in options where option.key == "mapDefault" || option.key == "unmappedHint" {
                context.error(option.keyNode, "wrong_option", "'\(option.key)' of field '\(name)' applies only to a field with a 'map'")
            }
        } else if definition.mapDefault != nil, let hint = options.first(where: { $0.key == "unmappedHint" }) {
            context.error(hint.keyNode, "conflict", "'unmappedHint' of field '\(name)' is never shown: its 'mapDefault' maps every value the 'map' lacks")
        }
    }

    static func pattern(_ node: Node, _ context: inout YAMLContext) -> TextPattern? {
        var source: String?
        var code = RowErrorCode.invalidValue
        var message: String?
        if case .scalar = node {
            source = context.string(node, "'pattern'")
        } else if let pairs = context.mapping(node, "'pattern'") {
            context.checkKeys(pairs, allowed: ["regex", "code", "message"], in: "'pattern'")
            for pair in pairs {
                switch pair.key {
                case "regex": source = context.string(pair.value, "'regex'")
                case "code":
                    code = context.choice(pair.value, "error code", [("invalid_id", .invalidId), ("invalid_value", .invalidValue)]) ?? code
                case "message": message = context.string(pair.value, "'message'")
                default: break
                }
            }
        }
        guard let source else {
            context.error(node, "missing_key", "'pattern' needs a 'regex'")
            return nil
        }
        do {
            return TextPattern(source: source, code: code, message: message, matcher: try PatternMatcher(source))
        } catch {
            context.error(node, "bad_pattern", "'\(source)' is not a valid regular expression: \(error)")
            return nil
        }
    }

    /// A constant (`value`, `default`, a map value, `mapDefault`, a `when` value) that the
    /// field cannot hold would reject every row it reaches: it is a pipeline error, found before
    /// any data is read. Skipped while a variable in it has no value (`lint` without `--set`).
    static func checkConstant(_ node: Node, _ value: String, for field: RefundField, _ what: String, _ context: inout YAMLContext) {
        guard !value.isEmpty, !context.hasUnsetVariable(node) else { return }
        let problem: String?
        switch field.kind {
        case .decimal:
            switch Decimal4.parse(Array(value.utf8)) {
            case .success: problem = nil
            case .failure(.notANumber): problem = "'\(value)' is not an exact decimal number"
            case .failure(.tooManyDecimals): problem = "'\(value)' has more than 4 decimal places (Decimal(19,4))"
            case .failure(.outOfRange): problem = "'\(value)' is outside Decimal(19,4)"
            }
        case .integer(let range):
            let number = Array(value.utf8).withUnsafeBufferPointer(DeclarativeMapper.wholeNumber)
            problem = number.map(range.contains) == true ? nil : "'\(value)' is not one of \(range.lowerBound)–\(range.upperBound)"
        case .text(let maxLength):
            // Counted as the validator counts (Unicode scalars).
            let characters = Array(value.utf8).withUnsafeBufferPointer(UTF8Validation.scalarCount)
            problem = characters > maxLength ? "'\(value)' is \(characters) characters long; the ERP allows at most \(maxLength)" : nil
        case .dateTime:
            problem = nil  // parsed with the pipeline's date formats, which may come after it
        }
        if let problem {
            context.error(node, "bad_value", "\(what) of field '\(field.rawValue)': \(problem); every row it applies to would be rejected")
        }
    }

    static func whenClause(_ node: Node, field: RefundField, _ context: inout YAMLContext) -> WhenClause? {
        guard let pairs = context.mapping(node, "a 'when' clause") else { return nil }
        context.checkKeys(pairs, allowed: ["if", "value", "from"], in: "a 'when' clause")
        guard let condition = pairs.first(where: { $0.key == "if" }) else {
            context.error(node, "missing_key", "a 'when' clause needs 'if'")
            return nil
        }
        guard let decoded = self.condition(condition.value, &context) else { return nil }
        var result: ValueExpression?
        if let from = pairs.first(where: { $0.key == "from" }), let names = context.stringList(from.value, "'from'") {
            result = .source(names)
        }
        if let value = pairs.first(where: { $0.key == "value" }), let text = context.template(value.value, "'value'") {
            if result != nil { context.error(value.keyNode, "conflict", "a 'when' clause has both 'from' and 'value'") }
            result = .constant(text)
            checkConstant(value.value, text, for: field, "a 'when' value", &context)
        }
        if result == nil && !pairs.contains(where: { $0.key == "value" || $0.key == "from" }) {
            context.error(node, "missing_key", "a 'when' clause needs 'value' or 'from' (use value: '' for an empty value)")
        }
        return WhenClause(condition: decoded, result: result)
    }

    static let conditionKeys = ["field", "equals", "notEquals", "in", "notIn", "empty", "matches", "all", "any", "not"]

    static func condition(_ node: Node, _ context: inout YAMLContext) -> Condition? {
        guard let pairs = context.mapping(node, "a condition") else { return nil }
        context.checkKeys(pairs, allowed: conditionKeys, in: "a condition")
        let byKey = Dictionary(pairs.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        if let all = byKey["all"] ?? byKey["any"] {
            guard case .sequence(let items) = all.value else {
                context.error(all.value, "wrong_type", "'\(all.key)' must be a list of conditions")
                return nil
            }
            let conditions = items.compactMap { condition($0, &context) }
            guard conditions.count == items.count else { return nil }
            return all.key == "all" ? .all(conditions) : .any(conditions)
        }
        if let negated = byKey["not"] {
            return condition(negated.value, &context).map { .not($0) }
        }
        guard let fieldPair = byKey["field"], let names = context.stringList(fieldPair.value, "'field'") else {
            context.error(node, "missing_key", "a condition needs 'field' (or 'all', 'any', 'not')")
            return nil
        }
        let tests = pairs.filter { $0.key != "field" }
        guard tests.count == 1, let test = tests.first else {
            context.error(node, "wrong_type", "a condition needs exactly one test: equals, notEquals, in, notIn, empty or matches")
            return nil
        }
        switch test.key {
        case "equals", "in":
            return context.stringList(test.value, "'\(test.key)'").map { .equals(field: names, values: $0) }
        case "notEquals", "notIn":
            return context.stringList(test.value, "'\(test.key)'").map { .notEquals(field: names, values: $0) }
        case "empty":
            return context.bool(test.value, "'empty'").map { .isEmpty(field: names, $0) }
        case "matches":
            return pattern(test.value, &context).map { .matches(field: names, pattern: $0) }
        default:
            return nil  // an unknown key: checkKeys reported it, with a suggestion
        }
    }
}
