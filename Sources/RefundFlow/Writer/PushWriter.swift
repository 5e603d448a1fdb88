/// One call as planned: units of one call group.
struct PlannedCall: Sendable {
    var group: String
    var units: [[RefundRecord]]

    var recordCount: Int { units.reduce(0) { $0 + $1.count } }
}

/// Where planned calls go: written as exact requests (dry run) or delivered.
protocol CallSink: AnyObject {
    /// Takes one call; may block while earlier calls are in flight (back-pressure).
    func submit(_ call: PlannedCall) throws
    /// Records the ledger kept from sending (acknowledged or refused before with this payload).
    func skipped(_ records: [(RefundRecord, LedgerGate.Skip)]) throws
    /// Completes every call submitted and adds what happened to the summary.
    func finish(into summary: inout WriterSummary) throws
}

/// The writer every target shares: groups valid records into units and calls the way the
/// target says, and hands each full call to the sink. Holds only the open calls.
final class PushWriter: RecordWriter {
    private let target: any PushTarget
    private let sink: any CallSink
    private let gate: LedgerGate?
    private var open: [String: OpenCall] = [:]
    private var order: [String] = []
    private var summary: WriterSummary
    /// Records waiting for one ledger lookup together (bounded).
    private var unchecked: [RefundRecord] = []
    private static let checkBatch = 256
    /// Unit keys of the most recent calls sent (bounded), to notice a refund whose lines are
    /// not next to each other in the input.
    private var recentKeys = Set<String>()
    /// A ring of the keys in `recentKeys`, oldest at `recentCursor` once full.
    private var recentOrder: [String] = []
    private var recentCursor = 0
    private static let recentLimit = 10_000
    private var lateLines = 0

    private final class OpenCall {
        var units: [[RefundRecord]] = []
        var unitIndex: [String: Int] = [:]
    }

    init(target: any PushTarget, sink: any CallSink, gate: LedgerGate? = nil, notes: [String] = []) {
        self.target = target
        self.sink = sink
        self.gate = gate
        summary = WriterSummary(target: target.name, api: target.api)
        summary.notes = notes
    }

    func add(_ record: RefundRecord) throws {
        summary.records += 1
        guard gate != nil else { return try plan(record) }
        unchecked.append(record)
        if unchecked.count >= Self.checkBatch { try check() }
    }

    /// Asks the ledger about the waiting records; sends what it lets through.
    private func check() throws {
        guard let gate, !unchecked.isEmpty else { return }
        let decision = try gate.decide(unchecked)
        unchecked.removeAll(keepingCapacity: true)
        summary.changedSinceAcknowledged += decision.changed
        if !decision.skip.isEmpty { try sink.skipped(decision.skip) }
        for record in decision.send { try plan(record) }
    }

    private func plan(_ record: RefundRecord) throws {
        let group = target.callGroup(record)
        let call: OpenCall
        if let existing = open[group] {
            call = existing
        } else {
            call = OpenCall()
            open[group] = call
            order.append(group)
        }
        guard let key = target.unitKey(record) else {
            call.units.append([record])
            if call.units.count >= target.maxUnitsPerCall { try flush(group, call) }
            return
        }
        if let index = call.unitIndex[key] {
            call.units[index].append(record)
            return
        }
        // A new unit: the call is sent once full, when the next unit arrives, so that the
        // later lines of its last unit still join it.
        if recentKeys.contains(key) { lateLines += 1 }
        if call.units.count >= target.maxUnitsPerCall { try flush(group, call) }
        call.unitIndex[key] = call.units.count
        call.units.append([record])
    }

    private func flush(_ group: String, _ call: OpenCall) throws {
        guard !call.units.isEmpty else { return }
        for key in call.unitIndex.keys where recentKeys.insert(key).inserted {
            if recentOrder.count < Self.recentLimit {
                recentOrder.append(key)
            } else {
                recentKeys.remove(recentOrder[recentCursor])
                recentOrder[recentCursor] = key
                recentCursor = (recentCursor + 1) % Self.recentLimit
            }
        }
        let planned = PlannedCall(group: group, units: call.units)
        call.units.removeAll(keepingCapacity: true)
        call.unitIndex.removeAll(keepingCapacity: true)
        summary.requests += 1
        try sink.submit(planned)
    }

    /// Sends what is still open and waits for every call. The sink always finishes, so every
    /// record gets its outcome; a stopped push is in `summary.stopped`, not thrown.
    func finish() throws -> WriterSummary {
        var failure: (any Error)?
        do { try check() } catch { failure = error }
        for group in order {
            do { try flush(group, open[group]!) } catch { failure = failure ?? error }
        }
        if lateLines > 0 {
            summary.notes.append(
                "\(counted(lateLines, "line")) arrived after \(lateLines == 1 ? "its" : "their") refund's call had gone and \(lateLines == 1 ? "was" : "were") sent in a later call (the ERP updates that refund with them); sort the export by refund so that a refund's lines travel together")
        }
        try sink.finish(into: &summary)
        if let failure, summary.stopped == nil { throw failure }
        return summary
    }
}

/// Dry run: writes one line per call to `requests.jsonl` with the URL, query, form and body
/// exactly as they would be sent (secret parameters such as TOP's session shown as
/// `<redacted>`). Without credentials, a labelled placeholder signs.
final class DryRunCallSink: CallSink {
    private let target: any PushTarget
    private let signer: RequestSigner
    private let output: BufferedOutput
    private let line = JSONBytes(capacity: 64 * 1024)
    private let signedWith: String

    init(target: any PushTarget, signer: RequestSigner, outputDirectory: String) throws {
        self.target = target
        var signer = signer
        var placeholder = false
        switch target.family {
        case .qjb, .openAPI2:
            if signer.credentials.wdt == nil {
                signer.credentials.wdt = WDTCredentials(
                    sid: "DRY-RUN-PLACEHOLDER-SID", appKey: "DRY-RUN-PLACEHOLDER-KEY",
                    appSecret: "dry-run-placeholder-secret:DRY-RUN-PLACEHOLDER-SALT")
                placeholder = true
            }
        case .top:
            if signer.credentials.top == nil {
                signer.credentials.top = TOPCredentials(
                    appKey: "DRY-RUN-PLACEHOLDER-KEY", secret: "dry-run-placeholder-secret", session: "DRY-RUN-PLACEHOLDER-SESSION")
                placeholder = true
            }
        }
        self.signer = signer
        signedWith = placeholder ? "placeholder credentials (dry run only)" : signer.credentials.source
        output = try BufferedOutput(path: outputDirectory + "/requests.jsonl")
    }

    /// The note a dry run without credentials carries.
    static func placeholderNote(_ family: APIFamily) -> String {
        "no \(family.credentialNames) given: requests are signed with placeholder credentials and would be refused"
    }

    var usesPlaceholder: Bool { signedWith.hasPrefix("placeholder") }

    func submit(_ call: PlannedCall) throws {
        let request = try signer.sign(target.payload(group: call.group, units: call.units))
        line.removeAll()
        line.raw("{")
        line.keyValue("api", target.api, first: true)
        line.keyValue("http_method", "POST")
        line.keyValue("url", request.redactedURL)
        line.key("query")
        Self.object(request.redactedQuery, into: line)
        if let form = request.redactedForm {
            line.key("form")
            Self.object(form, into: line)
        }
        line.keyValue("content_type", request.contentType)
        line.key("body")
        // Secret parameters (TOP's session) travel in the query, never in a body.
        request.body.withUnsafeBufferPointer { line.string($0) }
        line.keyValue("record_count", call.recordCount)
        line.keyValue("signed_with", signedWith)
        line.raw("}")
        try output.writeLine(line.buffer)
    }

    static func object(_ pairs: [(String, String)], into line: JSONBytes) {
        line.raw("{")
        for (index, (key, value)) in pairs.enumerated() { line.keyValue(key, value, first: index == 0) }
        line.raw("}")
    }

    /// Against a ledger (`--ledger`), the records a push would not send, by why.
    private var leftOut: [LedgerGate.Skip: Int] = [:]

    func skipped(_ records: [(RefundRecord, LedgerGate.Skip)]) throws {
        for (_, reason) in records { leftOut[reason, default: 0] += 1 }
    }

    func finish(into summary: inout WriterSummary) throws {
        try output.flush()
        if usesPlaceholder { summary.notes.append(Self.placeholderNote(target.family)) }
        summary.leftOutByLedger = Dictionary(uniqueKeysWithValues: leftOut.map { ($0.key.rawValue, $0.value) })
        let total = leftOut.values.reduce(0, +)
        guard total > 0 || summary.changedSinceAcknowledged > 0 else { return }
        var reasons: [String] = []
        if let count = leftOut[.acknowledged] { reasons.append("\(count) the ERP acknowledged with this same payload (unchanged)") }
        if let count = leftOut[.rejected] { reasons.append("\(count) it refused with this same payload (--retry-rejected sends them)") }
        if let count = leftOut[.ambiguous] {
            reasons.append("\(count) sent without an answer, which a push reads back from the ERP first (or sends with --resend-ambiguous)")
        }
        summary.notes.append(
            "\(total) valid record\(total == 1 ? " is" : "s are") not in requests.jsonl, as a push now would not send \(total == 1 ? "it" : "them")"
                + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; "))
                + (summary.changedSinceAcknowledged > 0 ? "; \(summary.changedSinceAcknowledged) of those in it changed since the ERP acknowledged them" : ""))
    }
}
