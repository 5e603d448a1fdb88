/// How a reader kind is decoded from a pipeline's `reader:` and made for a run.
struct ReaderRegistration: Sendable {
    let name: String
    /// Option keys the kind accepts; others are `unknown_key` errors.
    let keys: [String]
    let decode: @Sendable ([YAMLPair], inout YAMLContext) -> (any Sendable)?
    let make: @Sendable (any Sendable) -> any RecordReader
}

/// Every reader kind. Adding one is a new file with its `registration` plus one line here.
enum ReaderRegistry {
    static let entries: [ReaderRegistration] = [
        CSVReader.registration,
        JSONReader.registration,
        XMLReader.registration,
    ]

    static func make(_ definition: ReaderDefinition) -> any RecordReader {
        entries.first { $0.name == definition.name }!.make(definition.options)
    }
}
