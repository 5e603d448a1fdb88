/// Where a diagnostic points: a file as the user named it, and a 1-based line and column.
///
/// Column 0 means "the whole line" and is not rendered.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int = 0) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String {
        column > 0 ? "\(file):\(line):\(column)" : "\(file):\(line)"
    }
}

/// The one diagnostic type of RefundFlow: bad input rows, bad pipeline YAML and fatal run errors.
///
/// Recoverable problems (a bad row) are collected; fatal ones (an unusable file, a bad pipeline)
/// are thrown. Rendered like a compiler: `file:line:col: error: message [code]`.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error, warning, note
    }

    public var severity: Severity
    /// A stable code such as `invalid_number` or `pipeline.unknown_key`.
    public var code: String
    public var message: String
    public var location: SourceLocation?
    /// Canonical field the problem is about, when there is one.
    public var field: String?
    /// The offending source value, as read (never a secret).
    public var value: String?
    /// Extra lines that say what to do.
    public var notes: [String]

    public init(
        _ severity: Severity = .error, code: String, message: String, location: SourceLocation? = nil,
        field: String? = nil, value: String? = nil, notes: [String] = []
    ) {
        self.severity = severity
        self.code = code
        self.message = message
        self.location = location
        self.field = field
        self.value = value
        self.notes = notes
    }

    /// `file:line:col: error: message [code]`, then a line per note. A line break inside the
    /// message or a note (a value quoted from a multi-line cell) is shown as `\n`, so that each
    /// diagnostic keeps to its lines.
    public var description: String {
        var text = ""
        if let location { text += "\(location): " }
        text += "\(severity.rawValue): \(Self.oneLine(message)) [\(code)]"
        for note in notes { text += "\n  note: \(Self.oneLine(note))" }
        return text
    }

    static func oneLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D }) else { return text }
        return text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// Several diagnostics thrown together, e.g. every error of a pipeline file at once.
public struct DiagnosticList: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}

/// `1 record`, `2 records`: a count with its noun, for messages (`noun` takes an `s`).
func counted(_ count: Int, _ noun: String) -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
}
