import Foundation

/// Options of one run, as the CLI resolves them (flags over pipeline over defaults).
public struct RunOptions: Sendable {
    public var inputs: [String]
    public var outputDirectory: String
    public var dryRun: Bool = true
    /// Command-line limits; each one given overrides the pipeline's.
    public var errorLimits = ErrorLimits()
    public var environment: [String: String] = [:]
    public var unixTime: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    public var runID: String = UUID().uuidString.lowercased()
    /// How many reject diagnostics go to the terminal before the rest are only counted.
    public var maxPrintedDiagnostics = 20
    /// Credentials for signing; nil reads them from `environment`.
    public var credentials: Credentials?
    /// Base URL (`--endpoint`), over the pipeline's and the profile's; nil: production hosts.
    public var endpoint: String?
    /// How requests are sent; nil: AsyncHTTPClient with the pipeline's timeouts.
    public var transport: (any HTTPTransport)?
    /// Retry policy; nil: the pipeline's `maxAttempts` with the default backoff.
    public var delivery: Delivery?
    /// Seeds the backoff jitter.
    public var seed: UInt64 = UInt64.random(in: 0...UInt64.max)
    /// The run ledger when pushing: `--ledger PATH`, default `ledger.sqlite` in the output directory.
    public var ledgerPath: String?
    /// `--ledger-reset`: forget every earlier run before this one.
    public var ledgerReset = false
    /// `--retry-rejected`: send again what the ERP refused before, even unchanged.
    public var retryRejected = false
    /// `--resend-ambiguous`: send again what may have landed, for targets the ERP cannot be read
    /// back for (企业版, stock-in, TOP).
    public var resendAmbiguous = false

    /// Live counters for a progress display (the CLI draws it on a terminal).
    public var progress: RunProgress?
    /// When set, valid records go here instead of to the target (reconcile reads its inputs so).
    public var collector: (@Sendable (RefundRecord) throws -> Void)?
    /// A dry run writes its output on a thread of its own; false keeps everything on the
    /// calling thread (tests compare the two).
    var usesThreads = true

    /// Whether this run hands work to another thread: a dry run, its own outputs.
    var handsOffWork: Bool { usesThreads && dryRun && collector == nil }

    /// The ledger file this run uses.
    public var resolvedLedgerPath: String { ledgerPath ?? outputDirectory + "/ledger.sqlite" }

    public init(inputs: [String], outputDirectory: String) {
        self.inputs = inputs
        self.outputDirectory = outputDirectory
    }
}

/// How a run ended. The exit codes are documented in the README.
public enum RunStatus: String, Sendable {
    /// Every record was valid and written: exit 0.
    case completed
    /// The run finished; some records were rejected (see rejects.jsonl): exit 2.
    case completedWithRejects = "completed_with_rejects"
    /// `--max-errors` or `--max-error-rate` was passed; the run stopped: exit 3.
    case stoppedAtErrorLimit = "stopped_error_limit"
    /// A fatal error (unreadable input, missing column, unwritable output): exit 1.
    case failed
    /// An input is broken or truncated (invalid JSON or XML, a quote never closed): the records
    /// before the fault were processed and are in the outputs; exit 4.
    case inputBroken = "input_broken"

    public var exitCode: Int32 {
        switch self {
        case .completed: return 0
        case .completedWithRejects: return 2
        case .stoppedAtErrorLimit: return 3
        case .failed: return 1
        case .inputBroken: return 4
        }
    }
}

/// A pipeline compiled for a run: the four stages, wired once.
public struct Pipeline {
    public let definition: PipelineDefinition
    let reader: any RecordReader
    var mapper: DeclarativeMapper
    let validator: RefundValidator
    let target: any PushTarget

    /// The one factory that wires Reader → Mapper → Validator → Writer from a definition.
    public init(_ definition: PipelineDefinition) throws(DiagnosticList) {
        self.definition = definition
        reader = ReaderRegistry.make(definition.reader)
        mapper = try DeclarativeMapper(definition: definition)
        guard let entry = TargetRegistry.entry(definition.target.name) else {
            throw DiagnosticList([Self.unknownTarget(definition.target.name)])
        }
        validator = RefundValidator(definition: definition, targetRequires: entry.requiredFields)
        target = entry.make(definition.target.options)
    }

    /// Creates the directory `option` (`--out`) names, and its parents, or says why it cannot
    /// be and what to do.
    public static func createOutputDirectory(_ path: String, option: String = "--out") throws(Diagnostic) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw Diagnostic(
                code: "output.unwritable", message: "cannot create the output directory '\(path)': \(whyNotCreatable(path, error))",
                notes: ["give \(option) a directory this user can create and write, e.g. \(option) ./refundflow-out"])
        }
    }

    /// The files a run writes in its output directory (and the ledger, wherever it is).
    static let runOutputNames = ["records.jsonl", "rejects.jsonl", "requests.jsonl", "outcomes.jsonl", "report.json", "report.md", "report.html"]

    /// Refuses an input that is one of the outputs about to be written (`names` in `directory`,
    /// and `files`) or lies in the re-feed directory a run empties (`OUT/rejects/`): the run
    /// would empty it before reading it, and report a file of 0 records. Nothing is written
    /// then, not even a report.
    public static func refuseInputsAmongOutputs(
        _ inputs: [String], directory: String, names: [String], files: [String] = [], option: String = "--out"
    ) throws(Diagnostic) {
        func real(_ path: String) -> String { URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path }
        let realDirectory = real(directory)
        let outputs = Set(names.map { real(realDirectory + "/" + $0) } + files.flatMap { [real($0), real($0 + "-wal"), real($0 + "-shm")] })
        let refeed = real(realDirectory + "/" + RefeedOutput.directoryName) + "/"
        for input in inputs where input != "-" && input != "/dev/stdin" && (outputs.contains(real(input)) || real(input).hasPrefix(refeed)) {
            throw Diagnostic(
                code: "input.is_output", message: "'\(input)' is an output of this run (\(option) \(directory)): the run would empty it before reading it",
                notes: ["write the outputs to another directory (\(option)), or move the file out of '\(directory)'"])
        }
    }

    /// Why a directory cannot be made at `path`: what the nearest part of it that exists is.
    private static func whyNotCreatable(_ path: String, _ error: any Error) -> String {
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
                if !isDirectory.boolValue { return "'\(url.path)' is a file, not a directory" }
                if access(url.path, W_OK) != 0 { return "this user may not write in '\(url.path)'" }
                break
            }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return error.localizedDescription
    }

    /// Every target's name, for help texts.
    public static var targetNames: [String] { TargetRegistry.names }

    static func unknownTarget(_ name: String) -> Diagnostic {
        Diagnostic(code: "pipeline.unknown_target", message: "no target named '\(name)'", notes: ["targets: \(TargetRegistry.names.joined(separator: ", "))"])
    }

    /// The definition with another target (`--target`): options the new target does not take
    /// are dropped with a note; its own requirements are checked.
    /// `extra` (`--target-option key=value`) sets options over the pipeline's.
    public static func retarget(
        _ definition: PipelineDefinition, to name: String, extra: [String: String] = [:]
    ) throws(DiagnosticList) -> (PipelineDefinition, notes: [String]) {
        guard let entry = TargetRegistry.entry(name) else { throw DiagnosticList([unknownTarget(name)]) }
        if let unknown = extra.keys.sorted().first(where: { !entry.keys.contains($0) }) {
            throw DiagnosticList([
                Diagnostic(code: "pipeline.bad_target_option", message: "target \(name) has no option '\(unknown)'", notes: ["its options: \(entry.keys.joined(separator: ", "))"])
            ])
        }
        var changed = definition
        var notes: [String] = []
        let keys = Set(entry.keys)
        var options: [String: String] = [:]
        for (key, value) in definition.target.options.sorted(by: { $0.key < $1.key }) {
            if key == "batchSize", let size = Int(value), size > entry.maxBatch, entry.maxBatch > 1 {
                notes.append("--target \(name) takes at most \(entry.maxBatch) refunds per call; the pipeline's batchSize \(value) is ignored")
            } else if keys.contains(key) { options[key] = value } else { notes.append("--target \(name) does not take the pipeline's target option '\(key)'; it is ignored") }
        }
        options.merge(extra) { _, given in given }
        changed.target = TargetDefinition(name: name, options: options, location: definition.target.location)
        let problems = entry.problems(options).map { problem in
            Diagnostic(code: "pipeline.bad_target_option", message: problem, location: definition.target.location, notes: ["set it under target: { \(name): { … } } in the pipeline"])
        }
        if !problems.isEmpty { throw DiagnosticList(problems) }
        return (changed, notes)
    }

    /// The sink for this run: the exact requests (dry run) or delivery.
    private func makeSink(_ options: RunOptions, ledger: RunLedger?) throws -> (any CallSink, [String]) {
        let credentials = try options.credentials ?? Credentials.from(options.environment, source: "the environment")
        let settings = PushSettings(options: definition.target.options)
        let signer = RequestSigner(
            credentials: credentials, endpoint: options.endpoint ?? settings.endpoint, unixTime: options.unixTime)
        if options.dryRun {
            return (try DryRunCallSink(target: target, signer: signer, outputDirectory: options.outputDirectory), [])
        }
        // Fail before reading anything when the credentials are missing.
        let hasCredentials = target.family == .top ? credentials.top != nil : credentials.wdt != nil
        if !hasCredentials {
            var diagnostic = signer.missingCredentials(target.family)
            diagnostic.notes.append("or add --dry-run to write the exact requests without sending them")
            throw diagnostic
        }
        if target.family == .top, credentials.top?.hasSession == false {
            throw Diagnostic(
                code: "credentials.incomplete", message: "TOP_SESSION is not set in \(credentials.source); \(target.api) acts for a seller and needs one",
                notes: ["authorise the app for the seller and set TOP_SESSION (or TOP_SESSION in the profile)"])
        }
        let transport = options.transport ?? AsyncHTTPTransport(connectTimeout: settings.connectTimeout, readTimeout: settings.readTimeout)
        var delivery = options.delivery ?? Delivery()
        if options.delivery == nil, let attempts = definition.target.options["maxRetries"].flatMap(Int.init) { delivery.backoff.maxAttempts = attempts }
        let sink = try LivePushSink(
            target: target, signer: signer, transport: transport, settings: settings, delivery: delivery,
            outputDirectory: options.outputDirectory, seed: options.seed, progress: options.progress,
            ledger: ledger.map { LivePushSink.LedgerLink(ledger: $0, runID: options.runID, clock: options.unixTime) })
        return (sink, ["pushing to \(signer.base(target.family)) with \(credentials.source); concurrency \(settings.concurrency), \(settings.requestsPerMinute == 0 ? "no request limit" : "at most \(settings.requestsPerMinute) requests/minute")"])
    }

    /// The input paths with each directory replaced by its files for this pipeline's reader
    /// (`.csv`/`.txt`, `.json`/`.jsonl`/`.ndjson`, `.xml`), sorted by name.
    public func inputFiles(_ paths: [String]) throws(Diagnostic) -> [String] {
        try ReaderRegistry.inputFiles(paths, readerName: definition.reader.name)
    }

    /// Runs the pipeline over the inputs. Always writes the report, also when it stops early.
    /// - Parameter emit: receives terminal lines (diagnostics, notes); the library never prints.
    public func run(_ options: RunOptions, emit: @escaping (String) -> Void) throws -> RunReport {
        let startedAt = Date()
        try Self.refuseInputsAmongOutputs(
            options.inputs, directory: options.outputDirectory, names: Self.runOutputNames,
            files: options.dryRun || options.collector != nil ? [] : [options.resolvedLedgerPath])
        try Self.createOutputDirectory(options.outputDirectory)
        // Held until the run returns: a second run writing into the same directory (a dry run
        // while the nightly push runs) would mix or delete this one's outputs.
        let outputLock = try FileLock(
            path: options.outputDirectory + "/.refundflow.lock", unopenableCode: "output.unwritable",
            busy: Diagnostic(
                code: "output.busy", message: "another run is writing into '\(options.outputDirectory)'",
                notes: ["wait for it to finish, or give this run another --out"]))
        defer { withExtendedLifetime(outputLock) {} }
        var limits = definition.errorLimits
        if let maxErrors = options.errorLimits.maxErrors { limits.maxErrors = maxErrors }
        if let rate = options.errorLimits.maxErrorRate { limits.maxErrorRate = rate }

        var report = RunReport(runID: options.runID, definition: definition, startedAt: startedAt, dryRun: options.dryRun)
        report.errorLimits = limits
        // The other mode's output, left by an earlier run in this directory, is not this run's.
        let stale = options.dryRun ? "outcomes.jsonl" : "requests.jsonl"
        if options.collector == nil, FileManager.default.fileExists(atPath: options.outputDirectory + "/" + stale) {
            let message = "\(options.outputDirectory)/\(stale) is left from an earlier \(options.dryRun ? "push" : "dry run"), not written by this run; use another --out to keep runs apart"
            emit("warning: \(message)")
            report.notes.append(message)
        }
        // The same file given twice (a path and a directory holding it, say): its second reading
        // is all duplicates. Said up front, so a reject file full of them is no surprise.
        var seen: [String: String] = [:]
        for path in options.inputs where path != "/dev/stdin" {
            let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().standardizedFileURL.path
            if let first = seen[real] {
                let message = "'\(path)' is the same file as '\(first)', given before it: its records are read again and each is rejected as a duplicate"
                emit("warning: \(message)")
                report.notes.append(message)
            } else {
                seen[real] = path
            }
        }
        var processor: RecordProcessor
        var ledger: RunLedger?
        // Held until the run returns: no other run may use the ledger meanwhile.
        var ledgerLock: RunLedger.RunLock?
        do {
            let writer: any RecordWriter
            if let collector = options.collector {
                writer = CollectingWriter(collect: collector, target: target)
            } else {
                var gate: LedgerGate?
                if !options.dryRun {
                    let (opened, lock) = try openLedger(options, emit: emit, report: &report)
                    ledger = opened
                    ledgerLock = lock
                    let readBack = try resolveUnanswered(opened, options, emit: emit, report: &report)
                    gate = LedgerGate(
                        ledger: opened, target: target.name, retryRejected: options.retryRejected,
                        resendAmbiguous: readBack || options.resendAmbiguous)
                } else if let path = options.ledgerPath, !options.ledgerReset {
                    // A dry run against a push's ledger: what a push now would send, read only.
                    gate = LedgerGate(
                        ledger: try RunLedger(readingOnly: path), target: target.name, retryRejected: options.retryRejected,
                        resendAmbiguous: options.resendAmbiguous)
                    let message = "dry run against the ledger \(path): requests.jsonl holds what a push now would send (new and changed records); the ledger is only read"
                    emit("note: \(message)")
                    report.notes.append(message)
                }
                let (sink, notes) = try makeSink(options, ledger: ledger)
                for note in notes { emit("note: \(note)") }
                writer = PushWriter(target: target, sink: sink, gate: gate)
            }
            processor = try RecordProcessor(pipeline: self, writer: writer, options: options, limits: limits, emit: emit)
        } catch let diagnostic as Diagnostic {
            report.fail(diagnostic)
            try Self.write(report, to: options.outputDirectory, emit: emit)
            return report
        }
        var fatal: Diagnostic?
        var stopped = false
        for (position, path) in options.inputs.enumerated() {
            if fatal != nil || stopped {
                // Not read at all: listed, so the report accounts for every input given.
                processor.skipFile(InputFile(path: path), reason: "not read: the run stopped at \(options.inputs[position - 1])")
                continue
            }
            let file = InputFile(path: path, progress: options.progress?.bytes)
            do {
                let summary = try reader.read(file, fieldNames: mapper.sourceFieldNames, into: &processor)
                processor.finishFile(summary)
            } catch let limit as ErrorLimitReached {
                processor.finishFile(nil)
                report.notes.append(limit.message)
                emit("error: \(limit.message) [error_limit]")
                stopped = true
            } catch let diagnostic as Diagnostic {
                processor.finishFile(nil)
                fatal = diagnostic
            } catch let list as DiagnosticList {
                processor.finishFile(nil)
                fatal = list.diagnostics.first
                for extra in list.diagnostics.dropFirst() { emit(extra.description) }
            }
        }
        do {
            try processor.finish(into: &report)
        } catch let diagnostic as Diagnostic {
            fatal = fatal ?? diagnostic
        }
        if let stopped = report.writer?.stopped {
            // The push stopped (credentials, sign, permission): that is the run's cause.
            if fatal?.code != stopped.code { fatal = stopped }
        }
        if fatal == nil && !stopped, let rate = limits.maxErrorRate, report.read > 0 {
            let actual = Double(report.rejected) / Double(report.read)
            if actual > rate {
                let message = "rejected \(report.rejected) of \(counted(report.read, "record")) (\(percent(actual))), more than --max-error-rate \(percent(rate))"
                report.notes.append(message)
                emit("error: \(message) [error_limit]")
                stopped = true
            }
        }
        if let fatal {
            report.fail(fatal)
        } else if stopped {
            report.status = .stoppedAtErrorLimit
        } else if report.inputs.contains(where: { $0.truncated != nil }) {
            report.status = .inputBroken
        } else {
            let push = report.writer?.push
            let refusedOrFailed = (push?.rejected.records ?? 0) + (push?.failed.records ?? 0)
            report.status = report.rejected > 0 || refusedOrFailed > 0 ? .completedWithRejects : .completed
        }
        report.finishedAt = Date()
        if report.fatal == nil, case let broken = report.stages.invariants.filter({ !$0.holds }), !broken.isEmpty {
            // A run that cannot account for every row or every yuan has not succeeded.
            report.fail(
                Diagnostic(
                    code: "report.invariant",
                    message: "the run does not add up: " + broken.map { "\($0.rule) (\($0.detail))" }.joined(separator: "; "),
                    notes: ["this is a bug in RefundFlow; keep the outputs and report it"]))
            emit(report.fatal!.description)
        }
        if let ledger {
            do {
                let changed = try ledger.finishRun(
                    runID: options.runID, target: target.name, status: report.status.rawValue,
                    inputs: report.inputs.map { ($0.path, $0.sha256) }, now: options.unixTime())
                for input in changed {
                    let message = "\(input.path) changed since run \(input.runID) (sha256 \(input.sha256.prefix(12))… → \(report.inputs.first { $0.path == input.path }?.sha256.prefix(12) ?? "")…); records were matched by key: unchanged ones were not sent again, changed and new ones were"
                    report.notes.append(message)
                    emit("note: \(message)")
                }
            } catch {
                report.notes.append("the ledger could not record the end of the run: \(error)")
            }
        }
        try Self.write(report, to: options.outputDirectory, emit: emit)
        withExtendedLifetime(ledgerLock) {}
        return report
    }

    /// Writes the report; when it cannot be (the disk is full, say), what the run came to is said
    /// with the error instead, so the cause (often the same full disk, met earlier) is not lost.
    static func write(_ report: RunReport, to directory: String, emit: (String) -> Void) throws {
        do {
            try report.write(to: directory)
        } catch var error as Diagnostic {
            if let fatal = report.fatal { emit(fatal.description) }
            let counts = report.counts
            error.notes.append(
                "the run itself: \(report.status.rawValue), read \(counts.read), valid \(counts.valid), rejected \(counts.rejected); its report could not be written")
            throw error
        }
    }

    /// Opens (or, with `--ledger-reset`, recreates) the ledger and records the run's start.
    private func openLedger(_ options: RunOptions, emit: (String) -> Void, report: inout RunReport) throws -> (RunLedger, RunLedger.RunLock) {
        let path = options.resolvedLedgerPath
        let lock = try RunLedger.RunLock(ledgerPath: path)
        do {
            if options.ledgerReset {
                try RunLedger.reset(path: path)
                emit("note: --ledger-reset: \(path) starts empty; every valid record is sent")
            }
            let ledger = try RunLedger(path: path)
            try ledger.startRun(
                runID: options.runID, pipeline: definition.path, pipelineSHA256: definition.sha256, target: target.name,
                now: options.unixTime())
            report.ledger = path
            return (ledger, lock)
        } catch let diagnostic as Diagnostic {
            throw diagnostic
        } catch {
            throw Diagnostic(
                code: "ledger.unreadable", message: "cannot open the run ledger '\(path)': \(error)",
                notes: ["move it with --ledger PATH, or start afresh with --ledger-reset"])
        }
    }

    /// Records an earlier run sent without a final answer may be in the ERP. For targets whose
    /// records Refund.search shows (qjb raw refunds), reads the ERP and marks the
    /// ones found as acknowledged; true when the rest are known to be missing and may be sent.
    private func resolveUnanswered(_ ledger: RunLedger, _ options: RunOptions, emit: @escaping (String) -> Void, report: inout RunReport) throws -> Bool {
        let unresolved = try ledger.unresolved(target: target.name)
        guard !unresolved.isEmpty else { return true }
        let readable = target.showsInRefundSearch
        let credentials = try options.credentials ?? Credentials.from(options.environment, source: "the environment")
        guard readable, credentials.wdt != nil else {
            let message = "\(counted(unresolved.count, "record")) of earlier runs \(unresolved.count == 1 ? "was" : "were") sent without a final answer and may be in the ERP; \(target.name) cannot be read back, so they are \(options.resendAmbiguous ? "sent again (--resend-ambiguous)" : "not sent again (check them, then use --resend-ambiguous)")"
            report.notes.append(message)
            emit("note: \(message)")
            return false
        }
        let settings = PushSettings(options: definition.target.options)
        let signer = RequestSigner(credentials: credentials, endpoint: options.endpoint ?? settings.endpoint, unixTime: options.unixTime)
        let transport = options.transport ?? AsyncHTTPTransport(connectTimeout: settings.connectTimeout, readTimeout: settings.readTimeout)
        let shops = Set(unresolved.map(\.key.shopNo)).sorted().joined(separator: ",")
        let earliest = unresolved.compactMap(\.entry.sentAt).min() ?? options.unixTime()
        let search = RefundSearch(signer: signer, transport: transport, delivery: options.delivery ?? Delivery(), shopNos: shops, seed: options.seed)
        let from = ShanghaiTime.format(earliest - 600)
        let to = ShanghaiTime.format(options.unixTime() + 60)
        let shutdown = options.transport == nil
        // Only the keys in question are kept, however much the ERP holds for the span.
        let wanted = Set(unresolved.map(\.key))
        let inERP: [RunLedger.Key: Decimal4]
        do {
            inERP = try blockingWait {
                var found: [RunLedger.Key: Decimal4] = [:]
                do {
                    _ = try await search.search(from: from, to: to) { order in
                        let shop = order["shop_no"]?.text ?? ""
                        let refundNo = order["refund_no"]?.text ?? ""
                        for line in order["detail_list"]?.elements ?? [] {
                            let key = RunLedger.Key(shopNo: shop, refundNo: refundNo, oid: line["oid"]?.text ?? "")
                            guard wanted.contains(key) else { continue }
                            found[key] = line["refund_amount"]?.text.flatMap { try? Decimal4.parse(Array($0.utf8)).get() } ?? .zero
                        }
                    }
                } catch {
                    if shutdown { try? await transport.shutdown() }
                    throw error
                }
                if shutdown { try await transport.shutdown() }
                return found
            }
        } catch let diagnostic as Diagnostic {
            throw Diagnostic(
                code: "ledger.unresolved",
                message: "\(counted(unresolved.count, "record")) of earlier runs may be in the ERP, and reading it back failed: \(diagnostic.message)",
                notes: ["nothing was sent; run again when the ERP answers Refund.search"])
        }
        var landed: [RunLedger.Key] = []
        for item in unresolved {
            let sent = (try? Decimal4.parse(Array(item.refundAmount.utf8)).get()) ?? .zero
            if let amount = inERP[item.key], amount == sent { landed.append(item.key) }
        }
        try ledger.markFoundInERP(target: target.name, landed, now: options.unixTime())
        let message = "\(counted(unresolved.count, "record")) of earlier runs \(unresolved.count == 1 ? "was" : "were") sent without a final answer; Refund.search (\(from) … \(to)) found \(landed.count) in the ERP (not sent again); \(unresolved.count - landed.count) missing are sent again with this run's input"
        report.notes.append(message)
        emit("note: \(message)")
        return true
    }
}

func percent(_ fraction: Double) -> String {
    String(format: "%.2f%%", fraction * 100)
}

/// Thrown by the processor when `--max-errors` is passed.
struct ErrorLimitReached: Error {
    var message: String
}

extension Pipeline {
    /// Reads the inputs with this pipeline's reader into a sink that only counts, touching every
    /// mapped value: the reader's share of a run, for the benchmark.
    public func readOnly(_ inputs: [String]) throws -> (records: Int, bytes: Int) {
        struct CountingSink: RecordSink {
            var slots: Int
            var records = 0
            var checksum = 0
            mutating func begin(file: InputFile, shape: SourceShape) throws {}
            mutating func consume(_ row: some SourceRow) throws {
                records += 1
                for slot in 0..<slots { checksum &+= row.withValue(slot: slot) { $0?.count ?? 0 } }
            }
        }
        var sink = CountingSink(slots: mapper.sourceFieldNames.count)
        var bytes = 0
        for path in inputs {
            bytes += try reader.read(InputFile(path: path), fieldNames: mapper.sourceFieldNames, into: &sink).bytes
        }
        return (sink.records, bytes)
    }
}
