import Foundation
import Testing

@testable import RefundFlow

/// A dry run hands valid records to an output thread. Whatever the input, the outputs must be
/// exactly those of the same run on one thread, also when the run stops at an error limit in the
/// middle of a batch, at a broken page or after a TOP error response.
struct ThreadedRunTests {
    /// 1,500 generated refunds (about 1% bad) written twice into one file, so the second half
    /// is all duplicates of records in earlier batches: pages of XML, JSON Lines, a CSV with its
    /// header repeated, and one JSON document (once). `xml-cut` is the XML twice with the second copy cut in half (a broken page: the file
    /// stops there), `jsonl-error` is the JSON Lines with a TOP error response between the copies.
    static func input(_ shape: String, in directory: String) throws -> (pipeline: String, path: String) {
        let format = String(shape.prefix { $0 != "-" })
        let single = directory + "/single." + format
        if format == "csv" {
            try BenchmarkData.writeTaobaoExport(path: single, rows: 1_500)
        } else {
            try BenchmarkData.writeTOPExport(path: single, rows: 1_500, format: BenchmarkData.TOPFormat(rawValue: format)!)
        }
        let content = try Data(contentsOf: URL(fileURLWithPath: single))
        let path = directory + "/twice." + format
        let error = Data(#"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-api-access-count"}}"#.utf8 + [0x0A])
        let written: Data
        switch shape {
        case "json": written = content
        case "xml-cut": written = content + content.prefix(content.count / 2)
        case "jsonl-error": written = content + error + content
        default: written = content + content
        }
        try written.write(to: URL(fileURLWithPath: path))
        let pipeline = format == "csv" ? "taobao-seller-refunds-csv" : "taobao-top-refunds-\(format)"
        return (Fixtures.packageRoot + "/pipelines/\(pipeline).yaml", path)
    }

    static func run(_ pipeline: String, _ path: String, threads: Bool, maxErrors: Int?) throws -> (outputs: [String], report: RunReport) {
        let definition = try PipelineLoader.load(path: pipeline, variables: ["shop_no": "THREADS"])
        let directory = try Fixtures.temporaryDirectory("refundflow-threads")
        var options = RunOptions(inputs: [path], outputDirectory: directory)
        options.unixTime = { 1_725_328_800 }
        options.usesThreads = threads
        options.errorLimits.maxErrors = maxErrors
        let report = try Pipeline(definition).run(options) { _ in }
        let outputs = try ["records.jsonl", "rejects.jsonl", "requests.jsonl"].map { try Fixtures.read(directory + "/" + $0) }
        return (outputs, report)
    }

    @Test(arguments: ["xml", "jsonl", "json", "csv", "xml-cut", "jsonl-error"], [nil, 7])
    func threadsWriteExactlyWhatOneThreadWrites(format: String, maxErrors: Int?) throws {
        let (pipeline, path) = try Self.input(format, in: try Fixtures.temporaryDirectory("refundflow-threads-in"))
        let one = try Self.run(pipeline, path, threads: false, maxErrors: maxErrors)
        let threaded = try Self.run(pipeline, path, threads: true, maxErrors: maxErrors)
        for (name, (a, b)) in zip(["records.jsonl", "rejects.jsonl", "requests.jsonl"], zip(threaded.outputs, one.outputs)) {
            let same = a == b  // not the texts themselves: they run to megabytes
            #expect(same, "\(format): \(name) differs between threads and one thread")
        }
        #expect(threaded.report.status == one.report.status)
        #expect(threaded.report.read == one.report.read)
        #expect(threaded.report.valid == one.report.valid)
        #expect(threaded.report.rejected == one.report.rejected)
        #expect(threaded.report.read == threaded.report.valid + threaded.report.rejected)
        #expect(threaded.report.stages.invariants.allSatisfy { $0.holds })
        #expect(threaded.outputs[0].split(separator: "\n").count == threaded.report.valid)
        if format.contains("-"), maxErrors == nil {
            #expect(threaded.report.status == .inputBroken)
        } else if let maxErrors {
            #expect(threaded.report.status == .stoppedAtErrorLimit)
            #expect(threaded.report.rejected == maxErrors + 1)
        } else {
            #expect(threaded.report.valid > 1_000)
            #expect(format == "json" || threaded.report.rejected > 1_500)  // the second copy: duplicates
        }
    }
}
