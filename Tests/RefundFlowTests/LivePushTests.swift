import Foundation
import Synchronization
import Testing

@testable import RefundFlow

/// An ERP in memory: answers each request by a script and keeps what it was sent.
final class FakeTransport: HTTPTransport {
    let script: @Sendable (Int) -> ERPAnswer
    let sent = Mutex<[WireRequest]>([])

    init(_ script: @escaping @Sendable (Int) -> ERPAnswer) { self.script = script }

    func send(_ request: WireRequest) async throws -> ERPAnswer {
        let index = sent.withLock { sent in
            sent.append(request)
            return sent.count - 1
        }
        return script(index)
    }

    func shutdown() async throws {}
}

/// The live sink blocks its caller while calls are in flight, as the CLI's pipeline thread does;
/// the tests run it on a thread of its own, outside Swift's concurrency pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

struct LivePushTests {
    static let ok = ERPAnswer(httpStatus: 200, body: Array(#"{"status":0,"data":{"chg_count":0,"new_count":1}}"#.utf8))

    func record(_ refundNo: String) -> RefundRecord {
        var record = RefundRecord()
        record[.shopNo] = .text("LCJ")
        record[.refundNo] = .text(refundNo)
        record[.oid] = .text(refundNo + "-1")
        record[.tid] = .text("T" + refundNo)
        record[.num] = .decimal(Decimal4(1))
        record[.refundAmount] = .decimal(Decimal4(10))
        record[.actualRefundAmount] = .decimal(Decimal4(10))
        return record
    }

    /// Pushes records through the real writer and live sink against `transport`.
    func push(_ records: [RefundRecord], _ transport: FakeTransport, clock: @escaping @Sendable () -> Int) async throws -> (WriterSummary, [String]) {
        let directory = try Fixtures.temporaryDirectory("refundflow-live")
        let summary = try await onThread {
            let signer = RequestSigner(
                credentials: Credentials(wdt: WDTCredentials(sid: "s", appKey: "k", appSecret: "secret:salt"), source: "test"),
                endpoint: "http://erp.invalid", unixTime: clock)
            let sink = try LivePushSink(
                target: RawRefundTarget(maxUnitsPerCall: 50), signer: signer, transport: transport, settings: PushSettings(),
                delivery: Delivery(backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(5), maxAttempts: 3)),
                outputDirectory: directory, seed: 1)
            let writer = PushWriter(target: RawRefundTarget(maxUnitsPerCall: 50), sink: sink)
            for record in records { try writer.add(record) }
            return try writer.finish()
        }
        let outcomes = try Fixtures.read(directory + "/outcomes.jsonl").split(separator: "\n").map(String.init)
        return (summary, outcomes)
    }

    @Test func aTimestampErrorIsSignedAgainWithAFreshTimestamp() async throws {
        let transport = FakeTransport { index in
            index == 0 ? ERPAnswer(httpStatus: 200, body: Array(#"{"status":7,"message":"时间戳错误"}"#.utf8)) : Self.ok
        }
        let ticks = Mutex(1_800_000_000)
        let (summary, outcomes) = try await push([record("R1")], transport) {
            ticks.withLock { now in
                now += 300
                return now
            }
        }
        let sent = transport.sent.withLock { $0 }
        #expect(sent.count == 2)
        let stamps = sent.map { request in request.query.first { $0.0 == "timestamp" }!.1 }
        let signs = sent.map { $0.query.last!.1 }
        #expect(stamps[0] != stamps[1] && signs[0] != signs[1], "signed again, not resent as is")
        #expect(summary.push?.accepted.records == 1 && summary.push?.httpRequests == 2)
        #expect(outcomes.count == 1 && outcomes[0].contains(#""outcome":"accepted""#))
    }

    @Test func aPermissionFailureStopsAndEveryRecordSaysWhy() async throws {
        let transport = FakeTransport { _ in ERPAnswer(httpStatus: 200, body: Array(#"{"status":100,"message":"权限不足"}"#.utf8)) }
        let (summary, outcomes) = try await push((1...120).map { record("R\($0)") }, transport) { 1_800_000_000 }
        #expect(summary.stopped?.code == "push.stopped")
        #expect(summary.stopped?.message.contains("权限不足") == true)
        #expect(transport.sent.withLock { $0.count } <= 4, "no retries; at most the calls already in flight")
        #expect(outcomes.count == 120, "every record has an outcome")
        #expect(outcomes.allSatisfy { $0.contains(#""outcome":"failed""#) && $0.contains("not sent") })
    }

    @Test func aSecretEchoedByTheERPIsRedactedFromOutcomes() async throws {
        let transport = FakeTransport { _ in
            ERPAnswer(httpStatus: 200, body: Array(#"{"status":100,"message":"店铺编号不存在或已停用 (secret was secret)"}"#.utf8))
        }
        let (summary, outcomes) = try await push([record("R1")], transport) { 1_800_000_000 }
        #expect(summary.push?.rejected.records == 1)
        #expect(outcomes[0].contains("<redacted>") && !outcomes[0].contains("secret was secret"))
    }

    @Test func aCallThatNeverGetsAnAnswerFailsAfterItsRetries() async throws {
        let transport = FakeTransport { _ in ERPAnswer(httpStatus: 503, body: []) }
        let (summary, outcomes) = try await push([record("R1"), record("R2")], transport) { 1_800_000_000 }
        #expect(transport.sent.withLock { $0.count } == 4, "one try and three retries")
        #expect(summary.push?.failed.records == 2)
        #expect(summary.push?.failed.refundAmount == Decimal4(20))
        #expect(outcomes.allSatisfy { $0.contains("gave up after 4 tries: HTTP 503") })
        #expect(outcomes.allSatisfy { $0.contains(#""ambiguous":true"#) }, "a 5xx may have been processed")
    }

    struct Refused: Error, CustomStringConvertible {
        var description: String { "connect(descriptor:addr:size:): Connection refused (errno: 111)" }
    }

    @Test func aConnectionThatNeverOpenedIsNotAmbiguous() throws {
        #expect(LivePushSink.neverConnected(Refused()))
        #expect(!LivePushSink.neverConnected(TransportError()))
    }
}

/// Keeps the calls a writer plans.
final class RecordingSink: CallSink {
    var calls: [PlannedCall] = []
    func submit(_ call: PlannedCall) throws { calls.append(call) }
    func skipped(_ records: [(RefundRecord, LedgerGate.Skip)]) throws {}
    func finish(into summary: inout WriterSummary) throws {}
}

struct PushWriterTests {
    func line(_ refundNo: String, _ oid: String) -> RefundRecord {
        var record = RefundRecord()
        record[.shopNo] = .text("S")
        record[.refundNo] = .text(refundNo)
        record[.oid] = .text(oid)
        return record
    }

    @Test func aRefundsLinesTravelTogetherAndLateOnesAreNoted() throws {
        let sink = RecordingSink()
        let writer = PushWriter(target: EnterpriseRefundTarget(maxUnitsPerCall: 2), sink: sink)
        for record in [line("A", "1"), line("B", "1"), line("A", "2"), line("C", "1"), line("A", "3")] { try writer.add(record) }
        let summary = try writer.finish()
        #expect(sink.calls.map { $0.units.map { $0.map { $0.text(.refundNo)! + $0.text(.oid)! } } } == [[["A1", "A2"], ["B1"]], [["C1"], ["A3"]]])
        #expect(summary.records == 5 && summary.requests == 2)
        #expect(summary.notes.first?.hasPrefix("1 line arrived after its refund's call had gone and was sent in a later call") == true)
    }
}
