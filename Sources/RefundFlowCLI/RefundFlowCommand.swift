import ArgumentParser
import Foundation
import RefundFlow

@main
struct RefundFlowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refundflow",
        abstract: "Load marketplace refund exports into WangDianTong exactly: validate, and dry-run the signed requests.",
        discussion: """
            Exit codes: 0 every record valid and written; 2 completed, some records rejected \
            (see rejects.jsonl); 3 stopped by --max-errors/--max-error-rate; 4 an input is broken or truncated \
            (records before the fault were processed); 1 fatal error; 64 usage error.
            """,
        version: RefundFlowVersion.string,
        subcommands: [RunCommand.self, LintCommand.self, BenchCommand.self])
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Parses `--set key=value` pairs.
func parseAssignments(_ pairs: [String]) throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ValidationError("--set takes name=value, not '\(pair)'")
        }
        result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return result
}

/// Loads a pipeline, printing every problem compiler-style; exits 1 on errors.
func loadPipeline(_ path: String, variables: [String: String], requireVariables: Bool) throws -> PipelineDefinition {
    do {
        return try PipelineLoader.load(path: path, variables: variables, requireVariables: requireVariables)
    } catch {
        for diagnostic in error.diagnostics { printError(diagnostic.description) }
        printError("\(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s") in \(path)")
        throw ExitCode(1)
    }
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a pipeline over input files.")

    @Argument(help: "The pipeline YAML, e.g. pipelines/taobao-seller-refunds-csv.yaml.")
    var pipeline: String

    @Option(name: .customLong("input"), help: "An input file; repeat for several.")
    var inputs: [String] = []

    @Option(help: "Directory for records.jsonl, rejects.jsonl, requests.jsonl and the report.")
    var out: String

    @Flag(help: "Write the exact requests to requests.jsonl instead of sending them.")
    var dryRun = false

    @Option(name: .customLong("set"), help: "Fill a pipeline variable: --set shop_no=LCJ.")
    var assignments: [String] = []

    @Option(help: "Stop (exit 3) once more than N records are rejected.")
    var maxErrors: Int?

    @Option(help: "Exit 3 when more than this share of records is rejected: 0.05 or 5%.")
    var maxErrorRate: String?

    @Option(help: "How many reject diagnostics to print before only counting them.")
    var showErrors = 20

    func validate() throws {
        if inputs.isEmpty { throw ValidationError("give at least one --input FILE") }
        if let maxErrorRate, PipelineLoader.parseRate(maxErrorRate) == nil {
            throw ValidationError("--max-error-rate takes a fraction 0...1 or a percentage like 5%, not '\(maxErrorRate)'")
        }
        if !dryRun {
            throw ValidationError("sending to the ERP is not available in this version; add --dry-run to write the exact requests")
        }
    }

    func run() throws {
        let definition = try loadPipeline(pipeline, variables: try parseAssignments(assignments), requireVariables: true)
        let compiled: Pipeline
        do {
            compiled = try Pipeline(definition)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
        var options = RunOptions(inputs: inputs, outputDirectory: out)
        options.dryRun = dryRun
        options.errorLimits = ErrorLimits(maxErrors: maxErrors, maxErrorRate: maxErrorRate.flatMap(PipelineLoader.parseRate))
        options.environment = ProcessInfo.processInfo.environment
        options.maxPrintedDiagnostics = showErrors
        let report = try compiled.run(options) { printError($0) }
        if let fatal = report.fatal { printError(fatal.description) }
        let counts = report.counts
        printError(
            "\(report.status.rawValue): read \(counts.read), valid \(counts.valid), rejected \(counts.rejected) (read = valid + rejected \(counts.isBalanced ? "holds" : "DOES NOT HOLD")); refund_amount \(counts.refundAmount.formatted(minFractionDigits: 2)); outputs in \(out)/"
        )
        if report.status.exitCode != 0 { throw ExitCode(report.status.exitCode) }
    }
}

struct LintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint", abstract: "Check pipeline files and report every error at once, reading no data.")

    @Argument(help: "Pipeline YAML files.")
    var pipelines: [String]

    @Option(name: .customLong("set"), help: "Variables, as for run; required ones may be left out here.")
    var assignments: [String] = []

    func run() throws {
        var failed = false
        for path in pipelines {
            do {
                let definition = try PipelineLoader.load(path: path, variables: try parseAssignments(assignments), requireVariables: false)
                _ = try Pipeline(definition)
                print("\(path): ok (\(definition.fields.count) fields, reader \(definition.reader.name), target \(definition.target.name))")
            } catch let error as DiagnosticList {
                failed = true
                for diagnostic in error.diagnostics { printError(diagnostic.description) }
                printError("\(path): \(error.diagnostics.count) error\(error.diagnostics.count == 1 ? "" : "s")")
            }
        }
        if failed { throw ExitCode(1) }
    }
}
