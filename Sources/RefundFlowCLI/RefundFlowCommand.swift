import ArgumentParser
import Foundation
import RefundFlow

@main
struct RefundFlowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refundflow",
        abstract: "Load marketplace refund exports into WangDianTong exactly: validate, dry-run or push the signed requests.",
        discussion: """
            Exit codes: 0 every record valid and written (and, when pushing, accepted); 2 completed, some records \
            rejected (see rejects.jsonl) or refused by the ERP or failed (see outcomes.jsonl); 3 stopped by \
            --max-errors/--max-error-rate; 4 an input is broken or truncated (records before the fault were \
            processed); 1 fatal error (including credentials, sign or permission refused by the ERP); 64 usage error.
            """,
        version: RefundFlowVersion.string,
        subcommands: [RunCommand.self, LintCommand.self, ERPSearchCommand.self, SandboxCommand.self, BenchCommand.self])
}

/// Writes a line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Parses `--set key=value` pairs.
func parseAssignments(_ pairs: [String], flag: String = "--set") throws -> [String: String] {
    var result: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ValidationError("\(flag) takes name=value, not '\(pair)'")
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

    @Option(help: "Base URL of the ERP/TOP (or the sandbox), e.g. http://127.0.0.1:8080; each API appends its path. Default: the pipeline's, the profile's, else the production hosts.")
    var endpoint: String?

    @Option(help: "Send to another target than the pipeline names: \(TargetNames.list).")
    var target: String?

    @Option(name: .customLong("target-option"), help: "Set a target option over the pipeline's: --target-option warehouseNo=WH01.")
    var targetOptions: [String] = []

    @OptionGroup var credentials: CredentialOptions

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
        if let endpoint { try validateEndpoint(endpoint) }
    }

    func run() throws {
        var definition = try loadPipeline(pipeline, variables: try parseAssignments(assignments), requireVariables: true)
        let compiled: Pipeline
        let extra = try parseAssignments(targetOptions, flag: "--target-option")
        do {
            if target != nil || !extra.isEmpty {
                let (changed, notes) = try Pipeline.retarget(definition, to: target ?? definition.target.name, extra: extra)
                definition = changed
                for note in notes { printError("note: \(note)") }
            }
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
        options.endpoint = endpoint
        options.credentials = try credentials.resolve(requireSession: true)
        let report = try compiled.run(options) { printError($0) }
        if let fatal = report.fatal { printError(fatal.description) }
        let counts = report.counts
        printError(
            "\(report.status.rawValue): read \(counts.read), valid \(counts.valid), rejected \(counts.rejected) (read = valid + rejected \(counts.isBalanced ? "holds" : "DOES NOT HOLD")); refund_amount \(counts.refundAmount.formatted(minFractionDigits: 2)); outputs in \(out)/"
        )
        if let push = report.writer?.push {
            printError(
                "push: accepted \(push.accepted.records), rejected by the ERP \(push.rejected.records), failed \(push.failed.records) (\(push.httpRequests) HTTP requests); every record's outcome is in \(out)/outcomes.jsonl"
            )
        }
        if report.status.exitCode != 0 { throw ExitCode(report.status.exitCode) }
    }
}

enum TargetNames {
    static var list: String { Pipeline.targetNames.joined(separator: ", ") }
}

func validateEndpoint(_ endpoint: String) throws {
    if !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
        throw ValidationError("--endpoint takes a base URL such as http://127.0.0.1:8080, not '\(endpoint)'")
    }
}

/// `--credentials FILE` and `--profile NAME`; without them the environment's WDT_*/TOP_*.
struct CredentialOptions: ParsableArguments {
    @Option(help: "A credentials file (mode 600) with profiles; default $REFUNDFLOW_CREDENTIALS or ~/.config/refundflow/credentials.yaml when --profile is given.")
    var credentials: String?

    @Option(help: "The profile to use from the credentials file, e.g. sandbox or production.")
    var profile: String?

    func resolve(requireSession: Bool) throws -> Credentials {
        do {
            return try Credentials.resolve(
                environment: ProcessInfo.processInfo.environment, file: credentials, profile: profile, requireSession: requireSession)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
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
