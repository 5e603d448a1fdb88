/// A value the pipeline does not map (an `unknown_value` reject), with how many rejected records
/// carry it: what to add to a field's `map` when an export starts carrying a new status or label.
public struct UnknownValue: Sendable, Hashable {
    /// The canonical field.
    public var field: String
    /// The value as read.
    public var value: String
    public var records: Int
    /// Where it was first seen.
    public var first: SourceLocation?
    /// The source field whose `knownValues` it is outside, when that is why (else a `map` of
    /// `field` lacks it).
    public var knownValuesOf: String?
    /// The pipeline's `unmappedHint` for `field`, when a `map` lacks the value.
    public var hint: String?
}

/// Counts the unknown values of a run by field and value, in bounded memory: the first
/// `limit` distinct pairs are kept; records with others are counted apart.
struct UnknownValueTally {
    static let limit = 1000

    private var positions: [String: Int] = [:]
    private(set) var values: [UnknownValue] = []
    /// Records whose unknown value came after the first `limit` distinct ones.
    private(set) var beyondLimit = 0

    /// The pipeline's `unmappedHint`s by field.
    var hints: [String: String] = [:]

    mutating func add(_ error: RowError) {
        guard error.code == .unknownValue, let field = error.field else { return }
        let value = error.value ?? ""
        let key = field + "\u{1F}" + value + "\u{1F}" + (error.knownValuesOf ?? "")
        if let position = positions[key] {
            values[position].records += 1
        } else if values.count < Self.limit {
            positions[key] = values.count
            values.append(
                UnknownValue(
                    field: field, value: value, records: 1, first: error.location, knownValuesOf: error.knownValuesOf,
                    hint: error.knownValuesOf == nil ? hints[field] : nil))
        } else {
            beyondLimit += 1
        }
    }

    /// Most frequent first; ties in the order they were first seen.
    var sorted: [UnknownValue] {
        values.enumerated().sorted { $0.element.records != $1.element.records ? $0.element.records > $1.element.records : $0.offset < $1.offset }.map(\.element)
    }
}

extension RunReport {
    /// One sentence per field with unknown values: the values, most frequent first (at most
    /// `shown`), with their records and where each was first seen, and what to do.
    func unknownValueSentences(shown: Int = 5) -> [String] {
        // One sentence per field and per source field whose knownValues the values are outside.
        var groups: [(field: String, knownValuesOf: String?)] = []
        for value in unknownValues where !groups.contains(where: { $0 == (value.field, value.knownValuesOf) }) {
            groups.append((value.field, value.knownValuesOf))
        }
        var sentences = groups.map { group in
            let values = unknownValues.filter { $0.field == group.field && $0.knownValuesOf == group.knownValuesOf }
            let listed = values.prefix(shown).map { value in
                "'\(value.value)' (\(value.records) record\(value.records == 1 ? "" : "s")\(value.first.map { ", first at \($0)" } ?? ""))"
            }
            let more = values.count > shown ? " and \(values.count - shown) more (report.json lists them)" : ""
            guard let source = group.knownValuesOf else {
                return "\(group.field) has values the pipeline does not map: " + listed.joined(separator: ", ") + more
                    + "; if they are real values, add them to the 'map' of \(group.field) in the pipeline"
                    + (values.lazy.compactMap(\.hint).first.map { ". \($0)" } ?? "")
            }
            return "'\(source)', which \(group.field) reads, has values outside its knownValues: " + listed.joined(separator: ", ") + more
                + "; if they are real values, add them to knownValues of '\(source)' in the pipeline and say in \(group.field)'s mapping what they mean"
        }
        if unknownValuesBeyondLimit > 0 {
            sentences.append("\(unknownValuesBeyondLimit) more record\(unknownValuesBeyondLimit == 1 ? " has an unknown value" : "s have unknown values") past the first \(UnknownValueTally.limit) distinct ones (see rejects.jsonl)")
        }
        return sentences
    }
}
