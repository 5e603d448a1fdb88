import Foundation

/// How a reader kind is decoded from a pipeline's `reader:` and made for a run.
struct ReaderRegistration: Sendable {
    let name: String
    /// File name endings a directory given as input is searched for (lower case, no dot).
    let fileExtensions: [String]
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

    /// Input paths with each directory replaced by its files of this reader kind (sorted by
    /// name, not recursive, hidden files, subdirectories and Excel's `~$` owner files left out),
    /// and `-` by standard input. A directory with none is an error.
    static func inputFiles(_ paths: [String], readerName: String) throws(Diagnostic) -> [String] {
        let extensions = entries.first { $0.name == readerName }?.fileExtensions ?? []
        var files: [String] = []
        for path in paths {
            if path == "-" {
                files.append("/dev/stdin")  // streamed like any file
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                files.append(path)  // a file, or a missing path the reader reports
                continue
            }
            let directory = path.hasSuffix("/") ? String(path.dropLast()) : path
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { name in
                // `.gz` too: a compressed export is read through zlib like any other.
                let plain = name.lowercased().hasSuffix(".gz") ? String(name.lowercased().dropLast(3)) : name.lowercased()
                // `~$export.xlsx`: the owner file Excel keeps beside a file it has open, not an export.
                guard !name.hasPrefix("."), !name.hasPrefix("~$"), extensions.contains(where: { plain.hasSuffix("." + $0) }) else { return false }
                // Files only: a subdirectory named like an export (`out.json/`) is not one.
                var isFolder: ObjCBool = false
                return FileManager.default.fileExists(atPath: directory + "/" + name, isDirectory: &isFolder) && !isFolder.boolValue
            }
            guard !names.isEmpty else {
                throw Diagnostic(
                    code: "input.empty_directory",
                    message: "the input directory '\(path)' has no \(extensions.map { "." + $0 }.joined(separator: ", ")) files (nor .gz ones)",
                    notes: ["give files with --input FILE, or the directory the exports are in"])
            }
            files += names.sorted().map { directory + "/" + $0 }
        }
        return files
    }
}
