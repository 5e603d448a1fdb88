import Yams

/// One `key: value` pair of a YAML mapping, with the key's position.
struct YAMLPair {
    var key: String
    var keyNode: Node
    var value: Node
}

/// Walks a composed YAML tree, collecting every problem as a located diagnostic instead of
/// stopping at the first. Used by the pipeline loader and the reader/target registrations.
struct YAMLContext {
    let path: String
    var diagnostics: [Diagnostic] = []
    /// Values for `${name}` substitution.
    var variables: [String: String] = [:]
    /// Declared variable names (a reference to an undeclared one is an error).
    var declaredVariables: Set<String> = []

    init(path: String) { self.path = path }

    func location(_ node: Node) -> SourceLocation {
        SourceLocation(file: path, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0)
    }

    mutating func error(_ node: Node, _ code: String, _ message: String, notes: [String] = []) {
        diagnostics.append(Diagnostic(.error, code: "pipeline.\(code)", message: message, location: location(node), notes: notes))
    }

    /// The pairs of a mapping, or an error naming what was expected.
    mutating func mapping(_ node: Node, _ what: String) -> [YAMLPair]? {
        guard case .mapping(let mapping) = node else {
            error(node, "wrong_type", "\(what) must be a mapping (key: value)")
            return nil
        }
        var pairs: [YAMLPair] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                error(key, "wrong_type", "keys in \(what) must be plain text")
                continue
            }
            pairs.append(YAMLPair(key: scalar.string, keyNode: key, value: value))
        }
        return pairs
    }

    /// Reports keys that are not in `allowed`, with a suggestion when one is close.
    mutating func checkKeys(_ pairs: [YAMLPair], allowed: [String], in what: String) {
        for pair in pairs where !allowed.contains(pair.key) {
            var notes = ["allowed keys: \(allowed.joined(separator: ", "))"]
            if let suggestion = closest(pair.key, in: allowed) { notes.insert("did you mean '\(suggestion)'?", at: 0) }
            error(pair.keyNode, "unknown_key", "unknown key '\(pair.key)' in \(what)", notes: notes)
        }
    }

    /// A scalar's text. Quoted or plain both work; mappings and lists are errors.
    mutating func string(_ node: Node, _ what: String) -> String? {
        guard case .scalar(let scalar) = node else {
            error(node, "wrong_type", "\(what) must be a single value, not a \(node.kindName)")
            return nil
        }
        return scalar.string
    }

    /// Whether a scalar refers to a variable that has no value yet (`lint` without `--set`).
    func hasUnsetVariable(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node else { return false }
        var rest = Substring(scalar.string)
        while let open = rest.range(of: "${"), let close = rest[open.upperBound...].firstIndex(of: "}") {
            if variables[String(rest[open.upperBound..<close])] == nil { return true }
            rest = rest[rest.index(after: close)...]
        }
        return false
    }

    /// A scalar with `${var}` substituted.
    mutating func template(_ node: Node, _ what: String) -> String? {
        guard let raw = string(node, what) else { return nil }
        return substitute(raw, at: node)
    }

    mutating func substitute(_ text: String, at node: Node) -> String {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                error(node, "bad_variable", "'${' without a closing '}' in '\(text)'")
                return text
            }
            let name = String(rest[open.upperBound..<close])
            if !declaredVariables.contains(name) {
                var notes = ["declare it under 'variables:'"]
                if let suggestion = closest(name, in: Array(declaredVariables)) {
                    notes.insert("did you mean '\(suggestion)'?", at: 0)
                }
                error(node, "unknown_variable", "unknown variable '\(name)'", notes: notes)
            } else if let value = variables[name] {
                result += value
            }
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }

    mutating func int(_ node: Node, _ what: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(node, what) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            error(node, "wrong_type", "\(what) must be a whole number in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, _ what: String) -> Bool? {
        guard let text = string(node, what) else { return nil }
        switch text {
        case "true", "yes": return true
        case "false", "no": return false
        default:
            error(node, "wrong_type", "\(what) must be true or false, not '\(text)'")
            return nil
        }
    }

    /// A single value or a list of values.
    mutating func stringList(_ node: Node, _ what: String) -> [String]? {
        switch node {
        case .scalar(let scalar): return [scalar.string]
        case .sequence(let sequence):
            var values: [String] = []
            for item in sequence {
                guard let value = string(item, "each item of \(what)") else { return nil }
                values.append(value)
            }
            return values
        default:
            error(node, "wrong_type", "\(what) must be a value or a list of values")
            return nil
        }
    }

    /// A value from a closed set of names.
    mutating func choice<T>(_ node: Node, _ what: String, _ options: [(String, T)]) -> T? {
        guard let text = string(node, what) else { return nil }
        if let match = options.first(where: { $0.0 == text }) { return match.1 }
        var notes = ["expected one of: \(options.map(\.0).joined(separator: ", "))"]
        if let suggestion = closest(text, in: options.map(\.0)) { notes.insert("did you mean '\(suggestion)'?", at: 0) }
        error(node, "unknown_value", "unknown \(what) '\(text)'", notes: notes)
        return nil
    }
}

extension Node {
    var kindName: String {
        switch self {
        case .scalar: return "value"
        case .mapping: return "mapping"
        case .sequence: return "list"
        case .alias: return "alias"
        }
    }
}

/// The closest candidate by edit distance, when it is close enough to be a likely typo.
func closest(_ word: String, in candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
    return best.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = Array(repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
