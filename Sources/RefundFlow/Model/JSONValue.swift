/// A JSON document held in memory, exactly: numbers keep their source text (`0.1000`, a 19-digit
/// id) and objects keep their key order. For API answers and requests, which are small; input
/// files go through the streaming readers instead.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's exact text, e.g. `19.90` or `4611686018427387904123`.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([Member])

    public struct Member: Sendable, Hashable {
        public var key: String
        public var value: JSONValue

        public init(_ key: String, _ value: JSONValue) {
            self.key = key
            self.value = value
        }
    }

    /// The first member named `key` of an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var members: [Member]? {
        if case .object(let members) = self { return members }
        return nil
    }

    public var elements: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// A string's value or a number's text: APIs send ids and money either way.
    public var text: String? {
        switch self {
        case .string(let text), .number(let text): return text
        default: return nil
        }
    }

    public var int: Int? { text.flatMap { Int($0) } }

    public var bool: Bool? {
        switch self {
        case .bool(let value): return value
        case .string("true"), .number("1"), .string("1"): return true
        case .string("false"), .number("0"), .string("0"): return false
        default: return nil
        }
    }

    public var isNull: Bool { self == .null }

    /// Compact JSON text: strings as raw UTF-8 (or PHP-escaped), numbers as their source text.
    public func serialized(style: JSONStringStyle = .utf8) -> String {
        let json = JSONBytes(capacity: 256)
        write(into: json, style: style)
        return String(decoding: json.buffer.buffer, as: UTF8.self)
    }

    func write(into json: JSONBytes, style: JSONStringStyle = .utf8) {
        switch self {
        case .null: json.raw("null")
        case .bool(let value): if value { json.raw("true") } else { json.raw("false") }
        case .number(let text): json.raw(Array(text.utf8))
        case .string(let text): json.string(text, style: style)
        case .array(let elements):
            json.raw("[")
            for (index, element) in elements.enumerated() {
                if index > 0 { json.raw(",") }
                element.write(into: json, style: style)
            }
            json.raw("]")
        case .object(let members):
            json.raw("{")
            for (index, member) in members.enumerated() {
                if index > 0 { json.raw(",") }
                json.string(member.key, style: style)
                json.raw(":")
                member.value.write(into: json, style: style)
            }
            json.raw("}")
        }
    }

    /// Parses a whole document (RFC 8259; nesting at most `JSONRecordParser.maxNesting` deep), with the JSON reader's
    /// own tokenizer.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONValueError) -> JSONValue {
        let array = Array(bytes)
        do {
            return try array.withUnsafeBufferPointer { buffer in
                var parser = JSONRecordParser(buffer, line: 1, column: 1, builder: nil)
                parser.skipSpace()
                let value = try parser.parseJSONValue(depth: 0)
                parser.skipSpace()
                if parser.index < buffer.count { throw parser.error("unexpected text after the JSON value") }
                return value
            }
        } catch let error as JSONSyntaxError {
            throw JSONValueError(message: error.message, line: error.line, column: error.column)
        } catch {
            throw JSONValueError(message: "\(error)", line: 0, column: 0)
        }
    }

    public static func parse(_ text: String) throws(JSONValueError) -> JSONValue { try parse(Array(text.utf8)) }
}

extension JSONRecordParser {
    /// One value at the cursor, as a tree.
    mutating func parseJSONValue(depth: Int) throws -> JSONValue {
        guard depth < Self.maxNesting else { throw error("nested more than \(Self.maxNesting) deep") }
        skipSpace()
        guard index < bytes.count else { throw error("unexpected end of the value") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            var members: [JSONValue.Member] = []
            if isEmptyContainer(closing: UInt8(ascii: "}")) { return .object(members) }
            repeat {
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key in quotes") }
                let key = String(decoding: try parseStringValue(), as: UTF8.self)
                skipSpace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                index += 1
                members.append(JSONValue.Member(key, try parseJSONValue(depth: depth + 1)))
            } while try another(closing: UInt8(ascii: "}"), in: "an object")
            return .object(members)
        case UInt8(ascii: "["):
            var elements: [JSONValue] = []
            if isEmptyContainer(closing: UInt8(ascii: "]")) { return .array(elements) }
            repeat {
                elements.append(try parseJSONValue(depth: depth + 1))
            } while try another(closing: UInt8(ascii: "]"), in: "an array")
            return .array(elements)
        case UInt8(ascii: "\""):
            return .string(String(decoding: try parseStringValue(), as: UTF8.self))
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        default:
            let start = index
            try number()
            return .number(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self))
        }
    }
}

public struct JSONValueError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var line: Int
    public var column: Int

    public var description: String { "invalid JSON at \(line):\(column): \(message)" }
}
