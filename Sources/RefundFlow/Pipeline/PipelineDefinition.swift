/// A pipeline as written in `pipelines/*.yaml`, after decoding and variable substitution.
///
/// The loader (`PipelineLoader`) fills it and reports every problem at once; `Pipeline` compiles
/// it into the run's stages.
public struct PipelineDefinition: Sendable {
    public var version: Int = 1
    public var name: String = ""
    public var description: String?
    /// Path of the YAML file as given, and the SHA-256 of its bytes.
    public var path: String = ""
    public var sha256: String = ""
    public var variables: [VariableDefinition] = []
    /// The values the variables resolved to (`--set`, then defaults).
    public var resolvedVariables: [String: String] = [:]
    public var reader: ReaderDefinition = ReaderDefinition(name: "csv", options: CSVReaderOptions())
    /// Zone of source times that carry no offset.
    public var timeZone: String = "Asia/Shanghai"
    /// Zone the ERP expects times in.
    public var outputTimeZone: String = "Asia/Shanghai"
    /// Cleaning applied to every field that does not give its own `clean`.
    public var clean: [CleanStep] = []
    /// Date formats tried in order for date-time fields that do not give their own.
    public var dateFormats: [DateFormat] = DateFormat.defaults
    public var duplicateKey: [RefundField] = [.refundNo, .oid]
    public var errorLimits = ErrorLimits()
    public var target: TargetDefinition = TargetDefinition(name: "wdt-qjb-raw-refund", options: [:])
    public var fields: [FieldDefinition] = []
    /// Source fields whose every value the pipeline knows (`knownValues`): a value outside the
    /// list is an `unknown_value` of each field that reads it, never a silent fall-through of
    /// its conditions to a default.
    public var knownValues: [KnownValues] = []

    public init() {}

    /// Whether the source is a spreadsheet's text (CSV), for hints that name Excel; JSON and XML
    /// come from an exporter.
    var readsSpreadsheetText: Bool { reader.name == "csv" }

    /// Every source field name the fields read, by `from` or in a condition.
    var sourceFieldsRead: Set<String> {
        func names(_ condition: Condition) -> [String] {
            switch condition {
            case .equals(let field, _), .notEquals(let field, _), .isEmpty(let field, _), .matches(let field, _): return field
            case .all(let items), .any(let items): return items.flatMap(names)
            case .not(let item): return names(item)
            }
        }
        func names(_ expression: ValueExpression?) -> [String] {
            if case .source(let names)? = expression { return names }
            return []
        }
        return Set(fields.flatMap { field in names(field.value) + field.when.flatMap { names($0.condition) + names($0.result) } })
    }
}

/// The values a source field may hold (besides none); `knownValues` in the pipeline.
public struct KnownValues: Sendable, Hashable {
    public var sourceField: String
    public var values: [String]
}

/// A pipeline variable, filled by `--set name=value` or its default.
public struct VariableDefinition: Sendable, Hashable {
    public var name: String
    public var description: String?
    public var required: Bool
    public var defaultValue: String?
    public var allowed: [String]?
    public var location: SourceLocation
}

/// DataX-style limits: the run stops (non-zero exit) when rejects pass either.
public struct ErrorLimits: Sendable, Hashable {
    public var maxErrors: Int?
    /// A fraction in 0...1 of the records read.
    public var maxErrorRate: Double?

    public init(maxErrors: Int? = nil, maxErrorRate: Double? = nil) {
        self.maxErrors = maxErrors
        self.maxErrorRate = maxErrorRate
    }
}

/// The chosen reader and its decoded options.
public struct ReaderDefinition: Sendable {
    public var name: String
    public var options: any Sendable

    public init(name: String, options: any Sendable) {
        self.name = name
        self.options = options
    }
}

/// The chosen ERP target and its options (strings after variable substitution).
public struct TargetDefinition: Sendable, Hashable {
    public var name: String
    public var options: [String: String]
    public var location: SourceLocation?

    public init(name: String, options: [String: String], location: SourceLocation? = nil) {
        self.name = name
        self.options = options
        self.location = location
    }
}

/// One cleaning step, applied to a source value's text in order.
public enum CleanStep: String, Sendable, Hashable, CaseIterable {
    /// Remove ASCII spaces, tabs, CR and LF at both ends.
    case trim
    /// Undo Excel's text guards: `="…"` (and `=""…""`), a leading `'` or wrapping `'…'`,
    /// and tabs at either end.
    case excel
    /// CRLF inside a value becomes LF; everything else is kept byte for byte.
    case crlf
}

/// Where a field's value comes from.
public enum ValueExpression: Sendable, Hashable {
    /// A source field, by name; the first name the file has wins (export variants).
    case source([String])
    /// A constant (after `${var}` substitution).
    case constant(String)
}

/// A condition over source fields, compared after the pipeline's default cleaning.
public indirect enum Condition: Sendable, Hashable {
    case equals(field: [String], values: [String])
    case notEquals(field: [String], values: [String])
    case isEmpty(field: [String], Bool)
    case matches(field: [String], pattern: TextPattern)
    case all([Condition])
    case any([Condition])
    case not(Condition)
}

/// `if` → `then` of a conditional value; the first matching clause wins.
public struct WhenClause: Sendable, Hashable {
    public var condition: Condition
    public var result: ValueExpression?
}

/// A pattern a value must match, and the error code when it does not.
public struct TextPattern: Sendable, Hashable {
    public var source: String
    public var code: RowErrorCode
    public var message: String?
    let matcher: PatternMatcher

    public static func == (a: TextPattern, b: TextPattern) -> Bool { a.source == b.source && a.code == b.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(source) }
}

/// How one canonical field is filled.
public struct FieldDefinition: Sendable, Hashable {
    public var field: RefundField
    public var location: SourceLocation
    public var value: ValueExpression?
    public var when: [WhenClause] = []
    public var defaultValue: String?
    public var clean: [CleanStep]?
    public var map: [String: String]?
    public var mapDefault: String?
    public var pattern: TextPattern?
    public var formats: [DateFormat]?
    public var timeZone: String?
    public var required: Bool?
    /// A missing source column is tolerated (the value is absent) instead of stopping the run.
    public var optionalSource: Bool = false
    /// What to tell a person whose file lacks the source column (e.g. where to get it).
    public var missingHint: String?
    /// What to tell a person whose value the `map` lacks (e.g. values left out on purpose, and why).
    public var unmappedHint: String?
}
