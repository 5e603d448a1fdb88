import ArgumentParser
import Foundation
import RefundFlow

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Generate a realistic export (CSV, .xlsx, XML, JSON or JSON Lines) and time a bundled pipeline end to end.")

    @Option(help: "Rows to generate.")
    var rows = 1_000_000

    @Option(help: "Working directory for the generated export and outputs.")
    var dir = "/tmp/refundflow-bench"

    @Option(help: "Input format: csv or xlsx (seller-center export), xml, json or jsonl (TOP refunds).")
    var format = "csv"

    @Option(help: "Pipeline to run (default: the bundled one for the format).")
    var pipeline: String?

    @Option(help: "Encoding of the generated CSV export: utf-8 or gbk.")
    var encoding = "utf-8"

    @Option(help: "What to time: all (the whole run with dry-run output) or read (the reader alone).")
    var stage = "all"

    @Flag(help: "Reuse an existing generated file of the same size.")
    var reuse = false

    @Flag(help: "Write only the 20 columns the bundled pipeline reads (a merchant-trimmed export).")
    var narrow = false

    func validate() throws {
        guard format == "csv" || format == "xlsx" || BenchmarkData.TOPFormat(rawValue: format) != nil else {
            throw ValidationError("--format takes csv, xlsx, xml, json or jsonl, not '\(format)'")
        }
        guard format == "csv" || (!narrow && encoding == "utf-8") else {
            throw ValidationError("--narrow and --encoding apply to the CSV export only (--format csv)")
        }
    }

    func run() throws {
        do {
            try Pipeline.createOutputDirectory(dir, option: "--dir")
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        let topFormat = BenchmarkData.TOPFormat(rawValue: format)
        let input =
            topFormat != nil ? "\(dir)/top-refunds-\(rows).\(format)"
            : format == "xlsx" ? "\(dir)/taobao-refunds-\(rows).xlsx"
            : "\(dir)/taobao-refunds-\(rows)-\(encoding)\(narrow ? "-narrow" : "").csv"
        if !(reuse && FileManager.default.fileExists(atPath: input)) {
            let started = Date()
            if let topFormat {
                try BenchmarkData.writeTOPExport(path: input, rows: rows, format: topFormat)
            } else if format == "xlsx" {
                try BenchmarkData.writeTaobaoWorkbook(path: input, rows: rows)
            } else {
                try BenchmarkData.writeTaobaoExport(path: input, rows: rows, gbk: encoding == "gbk", narrow: narrow)
            }
            printError("generated \(input) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
        }
        let pipelinePath = pipeline ?? (topFormat == nil ? "pipelines/taobao-seller-refunds-csv.yaml" : "pipelines/taobao-top-refunds-\(format).yaml")
        let definition = try loadPipeline(pipelinePath, variables: ["shop_no": "BENCH"], requireVariables: true)
        let compiled = try Pipeline(definition)
        if stage == "read" {
            let started = Date()
            let (records, bytes) = try compiled.readOnly([input])
            let seconds = Date().timeIntervalSince(started)
            print("read only: rows \(records)  bytes \(bytes)  time \(String(format: "%.3f", seconds)) s  \(String(format: "%.0f", Double(records) / seconds)) rows/s  \(String(format: "%.1f", Double(bytes) / seconds / 1_000_000)) MB/s  peak RSS \(String(format: "%.1f", Double(peakRSSKiB()) / 1024)) MiB")
            return
        }
        // A previous run's outputs are removed before the clock starts: freeing their pages is
        // not this run's work (on tmpfs it was ~5% of a run that truncated them).
        try? FileManager.default.removeItem(atPath: "\(dir)/out")
        var options = RunOptions(inputs: [input], outputDirectory: "\(dir)/out")
        options.maxPrintedDiagnostics = 0
        let started = Date()
        let cpuBefore = cpuSeconds()
        let report = try compiled.run(options) { _ in }
        let seconds = Date().timeIntervalSince(started)
        let cpu = String(format: "%.3f", cpuSeconds() - cpuBefore)
        let bytes = report.inputs.first?.bytes ?? 0
        let rss = peakRSSKiB()
        let rate = String(format: "%.0f", Double(report.read) / seconds)
        let throughput = String(format: "%.1f", Double(bytes) / seconds / 1_000_000)
        let memory = String(format: "%.1f", Double(rss) / 1024)
        print(
            "rows \(report.read)  bytes \(bytes)  time \(String(format: "%.3f", seconds)) s  cpu \(cpu) s  \(rate) rows/s  \(throughput) MB/s  peak RSS \(memory) MiB  valid \(report.valid)  rejected \(report.rejected)  requests \(report.writer?.requests ?? 0)"
        )
    }
}

/// User and system CPU time of the process so far, all threads: a dry run writes its output on a
/// second thread, so this can exceed the wall time.
func cpuSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)  // an enum in Glibc's headers
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// VmHWM from /proc/self/status, in KiB.
func peakRSSKiB() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}
