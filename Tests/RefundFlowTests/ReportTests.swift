import Foundation
import Testing

@testable import RefundFlow

struct ReportTests {
    func record(_ shop: String, _ amount: Int, status: Int) -> RefundRecord {
        var record = RefundRecord()
        record[.shopNo] = .text(shop)
        record[.refundAmount] = .decimal(Decimal4(amount))
        record[.actualRefundAmount] = .decimal(Decimal4(amount))
        record[.status] = .integer(status)
        return record
    }

    @Test func stagesAddUpAndABrokenAccountFailsItsInvariants() {
        var counts = RunCounts()
        counts.read = 5
        counts.delivered = 5
        let valid = [record("A", 10, status: 5), record("A", 20, status: 2), record("B", 5, status: 5)]
        for record in valid { counts.addValid(record) }
        counts.addRejected([RowError(code: .duplicate, field: nil, value: nil, message: "", location: nil)])
        counts.addRejected([RowError(code: .malformed, field: nil, value: nil, message: "", location: nil)], structural: true)
        var push = PushCounts()
        push.unchanged.add(valid[0])
        push.accepted.add(valid[1])
        push.failed.add(valid[2])
        push.notSent.add(valid[2])
        let report = StageReport(counts: counts, push: push, dryRun: false)
        #expect(report.stages.map(\.name) == ["read", "parsed", "valid", "rejected", "duplicate", "unchanged", "pushed", "acknowledged", "erp_rejected", "failed", "pending"])
        #expect(report.stages.map(\.totals.records) == [5, 4, 3, 1, 1, 1, 2, 1, 0, 0, 1])
        #expect(report.holds)
        #expect(report.stages.first { $0.name == "pending" }?.totals.byShop["B"]?.refundAmount == Decimal4(5))

        // A record that vanished between the stages is caught, in count and in money.
        var lost = push
        lost.notSent = StageTotals()
        lost.failed = StageTotals()
        let broken = StageReport(counts: counts, push: lost, dryRun: false)
        #expect(!broken.holds)
        #expect(broken.invariants.filter { !$0.holds }.map(\.rule).contains("refund_amount in = refund_amount out"))

        // A record a reader gave that never reached processing is caught too.
        var dropped = counts
        dropped.delivered = 6
        let short = StageReport(counts: dropped, push: push, dryRun: false)
        #expect(short.invariants.filter { !$0.holds }.map(\.rule) == ["records the readers gave = read"])
    }

    @Test func theHTMLReportIsSelfContainedAndEscaped() throws {
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-seller-refunds-csv.yaml", variables: ["shop_no": "<b>&"], requireVariables: true)
        var report = RunReport(runID: "r1", definition: definition, startedAt: Date(), dryRun: false)
        report.notes = ["<script>alert(1)</script>"]
        report.counts.read = 1
        report.counts.addValid(record("<shop>", 7, status: 5))
        let html = ReportHTML.render(report)
        #expect(html.contains("<svg") && html.contains("Records at each stage") && html.contains("Rejected records by error code"))
        #expect(!html.contains("<script") && html.contains("&lt;script&gt;"))
        #expect(!html.contains("http://") && !html.contains("https://"), "nothing is fetched")
        #expect(html.contains("&lt;shop&gt;"))
    }

    @Test func bothReportsSayWhatTheWriterMadeOfTheValidRecords() throws {
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-seller-refunds-csv.yaml", variables: ["shop_no": "S"], requireVariables: true)
        var report = RunReport(runID: "r1", definition: definition, startedAt: Date(), dryRun: true)
        report.writer = WriterSummary(target: "wdt-qjb-raw-refund", api: "aftersales.refund.RawRefund.upload", requests: 1, records: 1)
        #expect(report.markdown().contains("`aftersales.refund.RawRefund.upload` via `wdt-qjb-raw-refund`: 1 record in 1 request (written to requests.jsonl, not sent)"))
        report.writer?.requests = 2
        report.writer?.records = 150
        #expect(ReportHTML.render(report).contains("Output: <code>aftersales.refund.RawRefund.upload</code> — 150 records in 2 requests (written to requests.jsonl, not sent)"))
    }
}

struct LedgerLockTests {
    @Test func aSecondRunOnTheSameLedgerIsRefusedUntilTheFirstEnds() throws {
        let path = try Fixtures.temporaryDirectory("refundflow-lock") + "/ledger.sqlite"
        var first: RunLedger.RunLock? = try RunLedger.RunLock(ledgerPath: path)
        #expect(first != nil)
        do {
            _ = try RunLedger.RunLock(ledgerPath: path)
            Issue.record("a second hold must be refused")
        } catch {
            #expect(error.code == "ledger.busy")
        }
        first = nil
        #expect(throws: Never.self) { _ = try RunLedger.RunLock(ledgerPath: path) }
    }
}
