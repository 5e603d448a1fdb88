import Foundation

/// One file of rejected rows written back in their input's format.
public struct RefeedFile: Sendable, Hashable {
    /// The input the rows came from, as given.
    public var input: String
    /// The file written (`OUT/rejects/<input's name>`).
    public var path: String
    public var rows: Int
    /// Rejected rows of the input that have no text to write back (a break in the file, a missing
    /// page): in `rejects.jsonl` only. Counted on the input's first file.
    public var notWritten = 0
    /// The rows are written in another format than the input's (`csv`: an `.xlsx` sheet's rows).
    public var convertedTo: String?
}

/// Rejected rows written back as their input had them — a CSV's bytes and encoding under its
/// header and the lines a pipeline skips before it, JSON Lines lines, JSON record objects in an
/// array, XML record elements in a document — one file per input in `OUT/rejects/`, to fix (in
/// Excel or an editor) and run again on their own with the same pipeline.
///
/// Only for readers that give a re-feed format (`SourceRow.refeedFormat`). A row rejected only
/// as a duplicate is left out: run again, it would be the refund's second copy and be sent.
final class RefeedOutput {
    static let directoryName = "rejects"
    /// Marks `rejects/` as made by RefundFlow: only then are files in it removed.
    static let markerName = ".refundflow"

    private let directory: String
    /// The reader kind (`csv`, `json`, `xml`), for naming the file of standard input's rows.
    private let readerName: String
    private var output: BufferedOutput?
    /// The input being written, and the format last written for it (its header line).
    private var input: String?
    private var format: RefeedFormat?
    private var names: Set<String> = []
    private(set) var files: [RefeedFile] = []
    private var notWritten: [String: Int] = [:]

    /// Removes the files an earlier run into the same directory left in `rejects/`: they are not
    /// this run's (its inputs may not lie there, see `Pipeline.refuseInputsAmongOutputs`). A
    /// `rejects/` with files that RefundFlow did not make (no marker) is left alone and the run
    /// refused: `--out` named a directory that holds other things.
    init(outputDirectory: String, readerName: String) throws(Diagnostic) {
        directory = outputDirectory + "/" + Self.directoryName
        self.readerName = readerName
        let manager = FileManager.default
        let names = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
        guard names.isEmpty || names.contains(Self.markerName) else {
            throw Diagnostic(
                code: "output.not_ours", message: "'\(directory)' holds files RefundFlow did not write; a run writes its rejected rows there",
                notes: ["give --out a directory of its own (or move that folder)"])
        }
        for name in names where name != Self.markerName {
            var isDirectory: ObjCBool = false
            if manager.fileExists(atPath: directory + "/" + name, isDirectory: &isDirectory), !isDirectory.boolValue {
                try? manager.removeItem(atPath: directory + "/" + name)
            }
        }
    }

    /// Appends one rejected record (its bytes as in the input) to its input's file, starting
    /// the file, or repeating the header where the input's header changed.
    func add(input: String, format: RefeedFormat, record: [UInt8]) throws {
        // A new input, or another shape of document in it (a response of another kind): a file of its own.
        if input != self.input || output == nil || format.lead != self.format?.lead || format.trailer != self.format?.trailer {
            try finishFile()
            try Pipeline.createOutputDirectory(directory)
            if !FileManager.default.fileExists(atPath: directory + "/" + Self.markerName) {
                try BufferedOutput(path: directory + "/" + Self.markerName).flush()
            }
            let path = directory + "/" + uniqueName(for: input, format: format)
            let output = try BufferedOutput(path: path)
            try output.write(format.lead)
            try output.write(format.header)
            self.output = output
            self.input = input
            files.append(RefeedFile(input: input, path: path, rows: 0, convertedTo: format.fileExtension))
        } else if format.header != self.format?.header {
            try output?.write(format.header)
        } else {
            try output?.write(format.separator)
        }
        self.format = format
        try output?.write(record)
        if format.endsLines, record.last != 0x0A { try output?.write([0x0A]) }  // a last row without a line end, a JSON Lines line
        files[files.count - 1].rows += 1
    }

    /// A rejected row of `input` with no text to write back.
    func leaveOut(input: String) { notWritten[input, default: 0] += 1 }

    /// Ends the last file, and counts on each input's first file its rows not written back.
    func finish() throws -> [RefeedFile] {
        try finishFile()
        var files = self.files
        for (input, count) in notWritten {
            if let first = files.firstIndex(where: { $0.input == input }) { files[first].notWritten = count }
        }
        return files
    }

    /// Ends the file being written (its trailer) and writes out what is buffered.
    private func finishFile() throws {
        if let format { try output?.write(format.trailer) }
        try output?.flush()
        output = nil
        format = nil
    }

    /// The input's file name (without `.gz`: the rows are written uncompressed), or `stdin.csv`,
    /// `stdin.jsonl`, `stdin.json`, `stdin.xml` by what is written; `name-2.csv` and so on when
    /// two inputs (or two kinds of document in one) share one.
    private func uniqueName(for input: String, format: RefeedFormat) -> String {
        let stdinName = "stdin." + (readerName == "json" ? (format.endsLines ? "jsonl" : "json") : readerName)
        var base = input == "-" || input == "/dev/stdin" ? stdinName : URL(fileURLWithPath: input).lastPathComponent
        if base.lowercased().hasSuffix(".gz") { base.removeLast(3) }
        if let replaced = format.fileExtension {
            // Rows read from a workbook are written back as CSV: `export.xlsx` → `export.csv`.
            base = URL(fileURLWithPath: base).deletingPathExtension().lastPathComponent + "." + replaced
        }
        var name = base
        var number = 1
        while names.contains(name) {
            number += 1
            let url = URL(fileURLWithPath: base)
            let stem = url.deletingPathExtension().lastPathComponent
            name = url.pathExtension.isEmpty ? "\(stem)-\(number)" : "\(stem)-\(number).\(url.pathExtension)"
        }
        names.insert(name)
        return name
    }
}
