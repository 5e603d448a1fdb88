import Dispatch
import Synchronization

/// What the push did, for the report: counts and money per outcome.
public struct PushCounts: Sendable, Hashable {
    public typealias Totals = StageTotals

    /// HTTP requests sent, retries and re-signed ones included.
    public var httpRequests = 0
    /// Calls the ERP refused as a whole that were split to isolate the refused records.
    public var splits = 0
    public var accepted = Totals()
    /// Not sent: the ledger shows the ERP acknowledged (or refused) this exact payload before.
    public var unchanged = Totals()
    public var rejected = Totals()
    /// No final answer after the retries (or never sent because the run stopped).
    public var failed = Totals()
    /// Of `failed`, the records never sent because the run stopped first.
    public var notSent = Totals()
    /// The ERP's own counts over accepted calls (`new_count`, `chg_count`), where it gives them.
    public var newCount = 0
    public var changedCount = 0

    /// Every record handed to the push has exactly one outcome.
    public var outcomes: Int { accepted.records + unchanged.records + rejected.records + failed.records }
}

/// Delivers calls to the ERP: `concurrency` calls in flight, at most `requestsPerMinute`
/// requests, retries with backoff, whole-call refusals split down to the refused units, and one
/// line per record in `outcomes.jsonl`. A credentials/sign/permission failure stops the run:
/// nothing more is sent, and every record not sent gets a `failed` outcome saying so.
final class LivePushSink: CallSink, Sendable {
    private let target: any PushTarget
    private let signer: RequestSigner
    private let transport: any HTTPTransport
    private let delivery: Delivery
    private let pacer: RequestPacer?
    private let slots: DispatchSemaphore
    private let concurrency: Int
    private let state: Mutex<State>
    private let ledger: LedgerLink?
    private let progress: RunProgress?

    /// The ledger and what it needs to mark calls.
    struct LedgerLink: Sendable {
        var ledger: RunLedger
        var runID: String
        var clock: @Sendable () -> Int
    }

    private struct State: ~Copyable {
        var counts = PushCounts()
        var stopped: Diagnostic?
        var output: BufferedOutput
        var seed: UInt64
    }

    init(
        target: any PushTarget, signer: RequestSigner, transport: any HTTPTransport, settings: PushSettings,
        delivery: Delivery = Delivery(), outputDirectory: String, seed: UInt64, progress: RunProgress? = nil,
        ledger: LedgerLink? = nil
    ) throws {
        self.target = target
        self.progress = progress
        self.ledger = ledger
        self.signer = signer
        self.transport = transport
        self.delivery = delivery
        concurrency = max(1, settings.concurrency)
        slots = DispatchSemaphore(value: concurrency)
        pacer = settings.requestsPerMinute > 0 ? RequestPacer(perMinute: settings.requestsPerMinute) : nil
        state = Mutex(State(output: try BufferedOutput(path: outputDirectory + "/outcomes.jsonl"), seed: seed))
    }

    func submit(_ call: PlannedCall) throws {
        if let stopped = state.withLock({ $0.stopped }) {
            record(call.units, outcomes: Array(repeating: .failed(reason: "not sent: \(stopped.message)"), count: call.units.count), details: [:], sent: [])
            throw stopped
        }
        if let ledger {
            let scratch = JSONBytes(capacity: 2048)
            let planned = call.units.joined().map { record in
                RunLedger.Planned(
                    key: RunLedger.Key(record), hash: RunLedger.hash(target: target.name, record: record, scratch: scratch), refundAmount: record.decimal(.refundAmount) ?? .zero,
                    actualRefundAmount: record.decimal(.actualRefundAmount) ?? .zero, status: record.integer(.status))
            }
            do {
                try ledger.ledger.markPlanned(target: target.name, runID: ledger.runID, planned, now: ledger.clock())
            } catch {
                let stop = Self.ledgerFailure(error)
                state.withLock { $0.stopped = $0.stopped ?? stop }
                record(call.units, outcomes: Array(repeating: .failed(reason: "not sent: \(stop.message)"), count: call.units.count), details: [:], sent: [])
                throw stop
            }
        }
        slots.wait()
        Task.detached { [self] in
            await deliver(call)
            slots.signal()
        }
    }

    static func ledgerFailure(_ error: any Error) -> Diagnostic {
        Diagnostic(code: "ledger.unwritable", message: "cannot write the run ledger: \(error)", notes: ["nothing more is sent; free disk space or move the ledger with --ledger, then run again"])
    }

    func skipped(_ records: [(RefundRecord, LedgerGate.Skip)]) throws {
        let line = JSONBytes(capacity: 512)
        var lines: [UInt8] = []
        var totals = PushCounts.Totals()
        for (record, reason) in records {
            totals.add(record)
            line.removeAll()
            line.raw("{")
            Self.key(record, into: line)
            line.keyValue("target", target.name)
            line.keyValue("outcome", "unchanged")
            line.keyValue("previous", reason.rawValue)
            line.raw("}\n")
            lines.append(contentsOf: line.bytes)
        }
        progress?.unchanged.add(totals.records, ordering: .relaxed)
        try state.withLock { state in
            state.counts.unchanged.merge(totals)
            try state.output.write(lines)
        }
    }

    private static func key(_ record: RefundRecord, into line: JSONBytes) {
        line.keyValue("shop_no", record.text(.shopNo) ?? "", first: true)
        line.keyValue("refund_no", record.text(.refundNo) ?? "")
        line.keyValue("oid", record.text(.oid) ?? "")
    }

    func finish(into summary: inout WriterSummary) throws {
        for _ in 0..<concurrency { slots.wait() }
        for _ in 0..<concurrency { slots.signal() }
        let transport = self.transport
        try blockingWait { try await transport.shutdown() }
        let (counts, stopped) = try state.withLock { state in
            try state.output.flush()
            return (state.counts, state.stopped)
        }
        summary.push = counts
        summary.stopped = stopped
    }

    // MARK: - One call

    private struct Accepted {
        var new: Int?
        var changed: Int?
        var unitsInCall: Int
        var details: [JSONValue.Member]
    }

    private func deliver(_ call: PlannedCall) async {
        var random = SplitMix64(seed: state.withLock { state in
            state.seed &+= 0x9E37_79B9_7F4A_7C15
            return state.seed
        })
        var accepted: [Int: Accepted] = [:]
        // Units whose call may have been processed without the client learning the result:
        // no answer after the connection was made, or a 5xx.
        var unanswered = Set<Int>()
        // Units that went out at least once (the ledger says `sent` before the first request).
        var sent = Set<Int>()
        var splits = 0
        do {
            let outcomes = try await delivery.deliver(Array(call.units.indices)) { indices in
                let payload = target.payload(group: call.group, units: indices.map { call.units[$0] })
                var lastAnswer: ERPAnswer?
                let verdict = try await delivery.call(
                    send: {
                        let request = try signer.sign(payload)
                        if let pacer { try await pacer.wait() }
                        if let ledger, !indices.allSatisfy(sent.contains) {
                            do {
                                try ledger.ledger.markSent(target: target.name, indices.flatMap { call.units[$0].map(RunLedger.Key.init) }, now: ledger.clock())
                            } catch {
                                let failure = Self.ledgerFailure(error)
                                throw DeliveryStopped(code: failure.code, message: failure.message, hint: failure.notes.joined(separator: "; "))
                            }
                        }
                        sent.formUnion(indices)
                        state.withLock { $0.counts.httpRequests += 1 }
                        do {
                            let answer = try await transport.send(request)
                            lastAnswer = answer
                            if answer.httpStatus >= 500 { unanswered.formUnion(indices) }
                            return answer
                        } catch {
                            if !Self.neverConnected(error) { unanswered.formUnion(indices) }
                            throw error
                        }
                    },
                    classify: target.classify, sleep: { try await Task.sleep(for: $0) }, random: &random)
                switch verdict {
                case .accepted(let new, let changed):
                    // The ERP's counts are per call: added once, not per unit.
                    state.withLock { state in
                        state.counts.newCount += new ?? 0
                        state.counts.changedCount += changed ?? 0
                    }
                    let details = lastAnswer.map(target.acceptedDetails) ?? []
                    for index in indices {
                        accepted[index] = Accepted(new: new, changed: changed, unitsInCall: indices.count, details: details)
                    }
                case .rejected where indices.count > 1:
                    splits += 1
                default:
                    break
                }
                return verdict
            }
            state.withLock { $0.counts.splits += splits }
            let scrubbed = outcomes.map { outcome -> DeliveryOutcome in
                switch outcome {
                case .accepted: return outcome
                case .rejected(let code, let message): return .rejected(code: code, message: signer.credentials.scrub(message))
                case .failed(let reason): return .failed(reason: signer.credentials.scrub(reason))
                }
            }
            record(call.units, outcomes: scrubbed, details: accepted, unanswered: unanswered, sent: sent)
        } catch {
            let diagnostic: Diagnostic
            switch error {
            case let stop as DeliveryStopped where stop.code == "ledger.unwritable":
                diagnostic = Diagnostic(code: stop.code, message: stop.message, notes: [stop.hint])
            case let stop as DeliveryStopped:
                diagnostic = Diagnostic(code: "push.stopped", message: signer.credentials.scrub(stop.description), notes: ["nothing more is sent; fix this and run again"])
            case let given as Diagnostic:
                diagnostic = given
            default:
                diagnostic = Diagnostic(code: "push.stopped", message: signer.credentials.scrub("\(error)"))
            }
            state.withLock { state in
                if state.stopped == nil { state.stopped = diagnostic }
            }
            let message = "not sent: \(diagnostic.message)"
            record(call.units, outcomes: Array(repeating: .failed(reason: message), count: call.units.count), details: accepted, unanswered: unanswered, sent: sent)
        }
    }

    /// Writes one outcome line per record and counts it.
    /// Writes the outcomes and, with a ledger, the final states (one transaction per call):
    /// acknowledged, rejected, or ambiguous for a call that went out without a final answer.
    /// Units never sent stay `planned`.
    private func record(
        _ units: [[RefundRecord]], outcomes: [DeliveryOutcome], details: [Int: Accepted], unanswered: Set<Int> = [],
        sent: Set<Int>
    ) {
        let line = JSONBytes(capacity: 512)
        var lines: [UInt8] = []
        var counts = PushCounts()
        var answered: [RunLedger.Answered] = []
        for (index, unit) in units.enumerated() {
            let outcome = outcomes[index]
            if ledger != nil, sent.contains(index) {
                for record in unit {
                    let key = RunLedger.Key(record)
                    switch outcome {
                    case .accepted: answered.append(.init(key: key, state: .acknowledged, code: nil, message: nil))
                    case .rejected(let code, let message): answered.append(.init(key: key, state: .rejected, code: code, message: message))
                    case .failed(let reason):
                        // Never connected, or only refusals that say nothing was done: as good as
                        // never sent, so the next run sends it without reading the ERP first.
                        let state: RunLedger.State = unanswered.contains(index) ? .ambiguous : .planned
                        answered.append(.init(key: key, state: state, code: nil, message: reason))
                    }
                }
            }
            for record in unit {
                line.removeAll()
                line.raw("{")
                Self.key(record, into: line)
                line.keyValue("target", target.name)
                switch outcome {
                case .accepted:
                    counts.accepted.add(record)
                    line.keyValue("outcome", "accepted")
                    let info = details[index]
                    line.keyValue("change", Self.change(info))
                    line.key("erp")
                    line.raw("{")
                    line.key("new_count", first: true)
                    if let new = info?.new { line.integer(new) } else { line.raw("null") }
                    line.key("chg_count")
                    if let changed = info?.changed { line.integer(changed) } else { line.raw("null") }
                    line.keyValue("units_in_call", info?.unitsInCall ?? 0)
                    for member in info?.details ?? [] {
                        line.key(member.key)
                        member.value.write(into: line)
                    }
                    line.raw("}")
                case .rejected(let code, let message):
                    counts.rejected.add(record)
                    line.keyValue("outcome", "rejected")
                    line.key("erp")
                    line.raw("{")
                    line.keyValue("code", code, first: true)
                    line.keyValue("message", message)
                    line.raw("}")
                case .failed(let reason):
                    counts.failed.add(record)
                    if !sent.contains(index) { counts.notSent.add(record) }
                    line.keyValue("outcome", "failed")
                    let ambiguous = unanswered.contains(index)
                    line.keyValue("reason", ambiguous ? reason + Self.mayHaveLanded : reason)
                    line.keyValue("ambiguous", ambiguous)
                }
                line.raw("}\n")
                lines.append(contentsOf: line.bytes)
            }
        }
        var ledgerError: Diagnostic?
        if let ledger, !answered.isEmpty {
            do { try ledger.ledger.markAnswered(target: target.name, answered, now: ledger.clock()) } catch { ledgerError = Self.ledgerFailure(error) }
        }
        if let progress {
            progress.acknowledged.add(counts.accepted.records, ordering: .relaxed)
            progress.erpRejected.add(counts.rejected.records, ordering: .relaxed)
            progress.failed.add(counts.failed.records, ordering: .relaxed)
        }
        state.withLock { state in
            if let ledgerError, state.stopped == nil { state.stopped = ledgerError }
            state.counts.notSent.merge(counts.notSent)
            state.counts.accepted.merge(counts.accepted)
            state.counts.rejected.merge(counts.rejected)
            state.counts.failed.merge(counts.failed)
            // Outcomes must not be lost: a write error here surfaces at finish's flush.
            try? state.output.write(lines)
        }
    }

    /// A transport error raised before any byte of the request could reach the ERP.
    static func neverConnected(_ error: any Error) -> Bool {
        let text = String(describing: error)
        return text.contains("Connection refused") || text.contains("connectTimeout") || text.contains("NIOConnectionError")
            || text.contains("No route to host") || text.contains("Name or service not known") || text.contains("dnsResolve")
    }

    static let mayHaveLanded = "; a request got no answer, so it may have reached the ERP: check with `refundflow erp-search` before sending again"

    /// `new`, `changed` or `unchanged` when the ERP's counts say so for every unit of the
    /// call; `mixed` when they differ; `unknown` when the API gives no counts.
    private static func change(_ info: Accepted?) -> String {
        guard let info, let new = info.new, let changed = info.changed else { return "unknown" }
        if new == info.unitsInCall && changed == 0 { return "new" }
        if changed == info.unitsInCall && new == 0 { return "changed" }
        if new == 0 && changed == 0 { return "unchanged" }
        return "mixed"
    }
}

/// Spaces requests evenly: at most `perMinute` per minute over the run, whatever the
/// concurrency (each request takes the next free slot).
actor RequestPacer {
    private let interval: Duration
    private var next: ContinuousClock.Instant?

    init(perMinute: Int) { interval = .seconds(60) / perMinute }

    private func reserve() -> ContinuousClock.Instant {
        let now = ContinuousClock.now
        let slot = max(now, next ?? now)
        next = slot + interval
        return slot
    }

    func wait() async throws {
        let slot = reserve()
        if slot > .now { try await Task.sleep(until: slot, clock: .continuous) }
    }
}

/// Shuts a transport down from synchronous code.
public func blockingShutdown(_ transport: any HTTPTransport) throws {
    try blockingWait { try await transport.shutdown() }
}

/// Runs async work from synchronous code and waits for it. Only for threads outside Swift's
/// concurrency pool (the CLI's main thread runs the pipeline), never from inside a task.
func blockingWait<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Result<T, any Error>?>(nil)
    Task.detached {
        let outcome: Result<T, any Error>
        do { outcome = .success(try await operation()) } catch { outcome = .failure(error) }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
