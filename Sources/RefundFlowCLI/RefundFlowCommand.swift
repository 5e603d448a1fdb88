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
        subcommands: [
            RunCommand.self, LintCommand.self, ReconcileCommand.self, LedgerCommand.self, ERPSearchCommand.self, SandboxCommand.self,
            BenchCommand.self,
        ])
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

/// What `run` and `reconcile` share: the pipeline, its variables and target, the inputs and
/// where the outputs go.
struct PipelineInputs: ParsableArguments {
    @Argument(help: ArgumentHelp("The pipeline YAML, e.g. pipelines/taobao-seller-refunds-csv.yaml.", valueName: "pipeline"))
    var pipelineArgument: String?

    /// The pipeline YAML; set once `validate` has run.
    var pipeline: String { pipelineArgument ?? "" }

    @Option(
        name: .customLong("input"), parsing: .upToNextOption,
        help: "Input files or directories (a directory: its files for the pipeline's reader, by name); several after one --input, or repeat it.")
    var inputs: [String] = []

    @Option(help: "Directory for the outputs (records.jsonl, rejects.jsonl, outcomes.jsonl, reports).")
    var out: String

    @Option(name: .customLong("set"), help: "Fill a pipeline variable: --set shop_no=LCJ.")
    var assignments: [String] = []

    @Option(help: "Send to another target than the pipeline names: \(TargetNames.list).")
    var target: String?

    @Option(name: .customLong("target-option"), help: "Set a target option over the pipeline's: --target-option warehouseNo=WH01.")
    var targetOptions: [String] = []

    @Option(help: "Base URL of the ERP/TOP (or the sandbox), e.g. http://127.0.0.1:8080; each API appends its path. Default: the pipeline's, the profile's, else the production hosts.")
    var endpoint: String?

    @OptionGroup var credentials: CredentialOptions

    mutating func validate() throws {
        // `--input` takes every value up to the next option, so a pipeline written after it
        // lands among the inputs: take it back from there.
        if pipelineArgument == nil, let index = inputs.lastIndex(where: { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }) {
            pipelineArgument = inputs.remove(at: index)
        }
        if pipelineArgument == nil { throw ValidationError("give the pipeline YAML, e.g. pipelines/taobao-seller-refunds-csv.yaml") }
        if inputs.isEmpty { throw ValidationError("give at least one --input FILE (or a directory of them)") }
        if let endpoint { try validateEndpoint(endpoint) }
    }

    /// Loads and compiles the pipeline with `--set`, `--target` and `--target-option`; prints
    /// every problem and exits 1 on errors.
    func compile() throws -> Pipeline {
        var definition = try loadPipeline(pipeline, variables: try parseAssignments(assignments), requireVariables: true)
        let extra = try parseAssignments(targetOptions, flag: "--target-option")
        do {
            if target != nil || !extra.isEmpty {
                let (changed, notes) = try Pipeline.retarget(definition, to: target ?? definition.target.name, extra: extra)
                definition = changed
                for note in notes { printError("note: \(note)") }
            }
            return try Pipeline(definition)
        } catch {
            for diagnostic in error.diagnostics { printError(diagnostic.description) }
            throw ExitCode(1)
        }
    }

    func options(for pipeline: Pipeline) throws -> RunOptions {
        let files: [String]
        do {
            files = try pipeline.inputFiles(inputs)
        } catch {
            printError(error.description)
            throw ExitCode(1)
        }
        var options = RunOptions(inputs: files, outputDirectory: out)
        options.environment = ProcessInfo.processInfo.environment
        options.endpoint = endpoint
        options.credentials = try credentials.resolve()
        return options
    }
}

/// The line every run ends with on the terminal.
func printSummary(_ report: RunReport, out: String) {
    if let fatal = report.fatal { printError(fatal.description) }
    let counts = report.counts
    printError(
        "\(report.status.rawValue): read \(counts.read), valid \(counts.valid), rejected \(counts.rejected) (read = valid + rejected \(counts.isBalanced ? "holds" : "DOES NOT HOLD")); refund_amount \(counts.refundAmount.formatted(minFractionDigits: 2)); outputs in \(out)/"
    )
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a pipeline over input files: dry-run or push.")

    @OptionGroup var source: PipelineInputs

    @Flag(help: "Write the exact requests to requests.jsonl instead of sending them.")
    var dryRun = false

    @Option(help: "The run ledger (SQLite) that makes re-runs safe; default OUT/ledger.sqlite. Keep it across nightly runs. With --dry-run it is only read, and requests.jsonl holds what a push now would send.")
    var ledger: String?

    @Flag(help: "Forget every earlier run in the ledger first: every valid record is sent.")
    var ledgerReset = false

    @Flag(help: "Send again records the ERP refused before, even when unchanged.")
    var retryRejected = false

    @Flag(help: "Send again records that may have landed, for targets the ERP cannot be read back for (企业版, stock-in, TOP).")
    var resendAmbiguous = false

    @Option(help: "Stop (exit 3) once more than N records are rejected.")
    var maxErrors: Int?

    @Option(help: "Exit 3 when more than this share of records is rejected: 0.05 or 5%.")
    var maxErrorRate: String?

    @Option(help: "How many reject diagnostics to print before only counting them.")
    var showErrors = 20

    func validate() throws {
        if let maxErrorRate, PipelineLoader.parseRate(maxErrorRate) == nil {
            throw ValidationError("--max-error-rate takes a fraction 0...1 or a percentage like 5%, not '\(maxErrorRate)'")
        }
    }

    func run() throws {
        let compiled = try source.compile()
        var options = try source.options(for: compiled)
        options.dryRun = dryRun
        options.errorLimits = ErrorLimits(maxErrors: maxErrors, maxErrorRate: maxErrorRate.flatMap(PipelineLoader.parseRate))
        options.maxPrintedDiagnostics = showErrors
        options.ledgerPath = ledger
        options.ledgerReset = ledgerReset
        options.retryRejected = retryRejected
        options.resendAmbiguous = resendAmbiguous
        let total = options.inputs.reduce(0) { $0 + (((try? FileManager.default.attributesOfItem(atPath: $1))?[.size] as? Int) ?? 0) }
        let progress = RunProgress(totalBytes: total)
        options.progress = progress
        let display = ProgressDisplay.make(for: progress, environment: options.environment)
        display?.start()
        let report: RunReport
        do {
            report = try compiled.run(options) { line in
                display?.pauseLine()
                printError(line)
            }
        } catch let diagnostic as Diagnostic {
            // Before any input is read (e.g. --out cannot be created): said as a diagnostic.
            display?.stop()
            printError(diagnostic.description)
            throw ExitCode(1)
        }
        display?.stop()
        printSummary(report, out: source.out)
        if let push = report.writer?.push {
            printError(
                "push: accepted \(push.accepted.records) (of them changed since acknowledged \(report.writer?.changedSinceAcknowledged ?? 0)), unchanged (not sent) \(push.unchanged.records), rejected by the ERP \(push.rejected.records), failed \(push.failed.records) (\(push.httpRequests) HTTP request\(push.httpRequests == 1 ? "" : "s")); every record's outcome is in \(source.out)/outcomes.jsonl"
            )
        }
        if report.status.exitCode != 0 { throw ExitCode(report.status.exitCode) }
    }
}

struct ReconcileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare the inputs' valid records with what the ERP holds (Refund.search).",
        discussion: """
            Lists refunds missing in the ERP, refunds in the ERP (in the inputs' shops) that are not in the \
            inputs, and amount or status mismatches, in OUT/differences.jsonl, with OUT/reconcile.json and \
            reconcile.md. Exit 0 when they agree, 2 when there are differences, 1 on errors.
            """)

    @OptionGroup var source: PipelineInputs

    @Option(help: "Start of the ERP span (modified time); default the earliest refund_time of the inputs.")
    var from: String?

    @Option(help: "End of the ERP span; default now.")
    var to: String?

    @Option(help: "Orders per Refund.search page.")
    var pageSize = 100

    func run() throws {
        let compiled = try source.compile()
        let options = try source.options(for: compiled)
        guard let credentials = options.credentials, credentials.wdt != nil else {
            printError("error: reconcile reads the ERP with Refund.search and needs WDT_SID, WDT_APPKEY and WDT_APPSECRET (or a --profile) [credentials.missing]")
            throw ExitCode(1)
        }
        let transport = AsyncHTTPTransport(connectTimeout: .seconds(10), readTimeout: .seconds(60))
        defer { try? blockingShutdown(transport) }
        let search = RefundSearch(
            signer: RequestSigner(credentials: credentials, endpoint: source.endpoint, unixTime: options.unixTime),
            transport: transport, pageSize: pageSize, seed: options.seed)
        do {
            let (report, summary) = try Reconciler.run(compiled, options: options, search: search, from: from, to: to) { printError($0) }
            printSummary(report, out: source.out)
            let kinds = Reconciler.Kind.allCases.map { "\($0.rawValue.replacingOccurrences(of: "_", with: " ")) \(summary.differences[$0] ?? 0)" }
            printError(
                "reconcile: \(summary.inputRecords) valid input records, \(summary.erpLines) ERP lines (\(summary.from) … \(summary.to)); matched \(summary.matched); \(kinds.joined(separator: ", ")); see \(source.out)/differences.jsonl"
            )
            if report.fatal != nil { throw ExitCode(1) }
            if summary.total > 0 { throw ExitCode(2) }
        } catch let diagnostic as Diagnostic {
            printError(diagnostic.description)
            throw ExitCode(1)
        }
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

    /// The credentials; a TOP session is checked only where a TOP call needs one, so that
    /// TOP_APPKEY/TOP_SECRET set for the sandbox never get in the way of a WangDianTong run.
    func resolve() throws -> Credentials {
        do {
            return try Credentials.resolve(
                environment: ProcessInfo.processInfo.environment, file: credentials, profile: profile, requireSession: false)
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
