/// Why a source record was rejected. The raw values are the `code` written to `rejects.jsonl`.
public enum RowErrorCode: String, Sendable, Hashable, CaseIterable, Comparable {
    /// An earlier accepted record has the same duplicate key.
    case duplicate
    /// Bytes that are not valid in the file's encoding.
    case encoding
    /// A date-time that matches none of the accepted formats, or is not a real time.
    case invalidDate = "invalid_date"
    /// An id that is not what the pipeline's pattern allows (e.g. Excel's `3.50000E+18`).
    case invalidId = "invalid_id"
    /// Text that is not an exact decimal or integer.
    case invalidNumber = "invalid_number"
    /// A value that fails a pipeline pattern (other than ids).
    case invalidValue = "invalid_value"
    /// Broken record structure: ragged row, unterminated quote, invalid JSON or XML.
    case malformed
    /// A required field is absent or empty.
    case missing
    /// A number outside Decimal(19,4) or an integer outside its range.
    case outOfRange = "out_of_range"
    /// More than 4 non-zero decimal places: never rounded silently.
    case tooManyDecimals = "too_many_decimals"
    /// Text longer than the API allows (counted in characters).
    case tooLong = "too_long"
    /// A value outside an enum or a lookup map with no default.
    case unknownValue = "unknown_value"

    public static func < (a: RowErrorCode, b: RowErrorCode) -> Bool { a.rawValue < b.rawValue }
}

/// One reason a record was rejected: what the reject file lists under `errors`.
public struct RowError: Sendable, Hashable {
    public var code: RowErrorCode
    /// Canonical field (or source field for structural problems); `nil` for the whole row.
    public var field: String?
    /// The offending value as read.
    public var value: String?
    public var message: String
    /// Where the value sits in the input.
    public var location: SourceLocation?
    /// For an `unknown_value` outside a source field's `knownValues`: that source field (the
    /// value is its, and its list is what to extend), not a `map` of `field`.
    public var knownValuesOf: String?

    public init(
        code: RowErrorCode, field: String?, value: String?, message: String, location: SourceLocation? = nil, knownValuesOf: String? = nil
    ) {
        self.code = code
        self.field = field
        self.value = value
        self.message = message
        self.location = location
        self.knownValuesOf = knownValuesOf
    }

    /// The compiler-style rendering for the terminal.
    public var diagnostic: Diagnostic {
        Diagnostic(.error, code: code.rawValue, message: message, location: location, field: field, value: value)
    }
}
