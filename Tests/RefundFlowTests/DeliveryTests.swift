import Testing

@testable import RefundFlow

/// A scripted ERP: answers in order, and records what it was asked.
final class ScriptedERP {
    var answers: [Result<ERPAnswer, any Error>]
    var calls = 0

    init(_ answers: [Result<ERPAnswer, any Error>]) { self.answers = answers }

    func send() throws -> ERPAnswer {
        calls += 1
        return try answers.removeFirst().get()
    }
}

func qjbAnswer(_ json: String) -> Result<ERPAnswer, any Error> { .success(ERPAnswer(httpStatus: 200, body: Array(json.utf8))) }

struct TransportError: Error {}

struct DeliveryTests {
    let delivery = Delivery(backoff: Backoff(base: .milliseconds(100), cap: .seconds(2), maxAttempts: 3), maxResigns: 1)

    func run(_ erp: ScriptedERP, sleeps: inout [Duration]) async throws -> ERPVerdict {
        var random = SplitMix64(seed: 3)
        var waits: [Duration] = []
        let verdict = try await delivery.call(
            send: { try erp.send() }, classify: { ERPResponse.qjb(httpStatus: $0.httpStatus, body: $0.body) },
            sleep: { waits.append($0) }, random: &random)
        sleeps = waits
        return verdict
    }

    @Test func throttlingAndDroppedConnectionsAreRetriedWithBackoff() async throws {
        let erp = ScriptedERP([
            qjbAnswer(#"{"status":100,"message":"超过每分钟最大调用频率限制"}"#), .failure(TransportError()),
            qjbAnswer(#"{"status":0,"data":{"new_count":2,"chg_count":0}}"#),
        ])
        var sleeps: [Duration] = []
        #expect(try await run(erp, sleeps: &sleeps) == .accepted(new: 2, changed: 0))
        #expect(erp.calls == 3)
        #expect(sleeps.count == 2)
        #expect(sleeps.allSatisfy { $0 <= .seconds(2) })
    }

    @Test func aTimestampErrorIsSignedAgainWithoutWaiting() async throws {
        let erp = ScriptedERP([qjbAnswer(#"{"status":7,"message":"时间戳错误"}"#), qjbAnswer(#"{"status":0,"data":{}}"#)])
        var sleeps: [Duration] = []
        #expect(try await run(erp, sleeps: &sleeps) == .accepted(new: nil, changed: nil))
        #expect(sleeps.isEmpty)
        let again = ScriptedERP(Array(repeating: qjbAnswer(#"{"status":7,"message":"时间戳错误"}"#), count: 3))
        guard case .retry(let reason, _) = try await run(again, sleeps: &sleeps) else { Issue.record("must give up"); return }
        #expect(reason.hasPrefix("gave up"))
        #expect(again.calls == 2)
    }

    @Test func aSignFailureStopsAtOnceAndIsNeverRetried() async throws {
        let erp = ScriptedERP([qjbAnswer(#"{"status":1,"message":"验证失败"}"#), qjbAnswer(#"{"status":0}"#)])
        var sleeps: [Duration] = []
        await #expect(throws: DeliveryStopped.self) { try await run(erp, sleeps: &sleeps) }
        #expect(erp.calls == 1)
    }

    @Test func retriesEndAsAFailureThatSaysWhy() async throws {
        let erp = ScriptedERP(Array(repeating: qjbAnswer(#"{"status":5,"message":"数据库错误"}"#), count: 4))
        var sleeps: [Duration] = []
        guard case .retry(let reason, _) = try await run(erp, sleeps: &sleeps) else { Issue.record("must fail"); return }
        #expect(reason == "gave up after 4 tries: server side: 数据库错误")
        #expect(erp.calls == 4)
    }

    @Test func aRefusedBatchIsSplitUntilTheBadRecordsStandAlone() async throws {
        let bad: Set<Int> = [3, 7]
        var calls = 0
        let outcomes = try await delivery.deliver(Array(0..<10)) { batch in
            calls += 1
            return batch.contains(where: bad.contains) ? .rejected(code: "100", message: "退换单已存在") : .accepted(new: batch.count, changed: 0)
        }
        #expect(outcomes.count == 10)
        for (record, outcome) in outcomes.enumerated() {
            #expect(outcome == (bad.contains(record) ? .rejected(code: "100", message: "退换单已存在") : .accepted), "\(record)")
        }
        #expect(calls < 20)
    }

    @Test func anUnanswerableBatchFailsEveryRecordForALaterCheck() async throws {
        let outcomes = try await delivery.deliver(["a", "b"]) { _ in .retry(reason: "gave up", minimumWait: nil) }
        #expect(outcomes == [.failed(reason: "gave up"), .failed(reason: "gave up")])
    }
}
