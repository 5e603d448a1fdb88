import Foundation
import GRDB
import Testing

@testable import RefundFlow

/// Re-runs against the sandbox with the run ledger: nothing twice, nothing lost.
@Suite(.serialized) struct LedgerTests {
    static let jsonl = "pipelines/taobao-top-refunds-jsonl.yaml"

    func run(_ sandbox: SandboxProcess, _ input: String, out: String, pipeline: String = PushEndToEndTests.pipeline, _ extra: [String] = []) throws -> (CLI.Result, [[String: Any]], [String: Any]) {
        let result = try sandbox.push(["run", pipeline, "--set", "shop_no=LCJ", "--input", input, "--out", out] + extra)
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
        return (result, outcomes, (report["writer"] as! [String: Any])["push"] as! [String: Any])
    }

    /// A generated TOP JSON Lines export of `rows` refunds, pushed once to a fresh sandbox with a
    /// ledger in `out`; the outcomes of that push.
    func pushedExport(rows: Int, label: String) throws -> (sandbox: SandboxProcess, directory: String, input: String, out: String, first: [[String: Any]]) {
        let sandbox = try SandboxProcess()
        let directory = try Fixtures.temporaryDirectory(label)
        let input = directory + "/refunds.jsonl"
        try BenchmarkData.writeTOPExport(path: input, rows: rows, format: .jsonl)
        let out = directory + "/out"
        let (_, first, _) = try run(sandbox, input, out: out, pipeline: Self.jsonl)
        return (sandbox, directory, input, out, first)
    }

    /// Gives one yuan more to the refunds of the JSON Lines `input` that `pick` (line index,
    /// refund id) chooses among those whose fee is a decimal string; returns their ids.
    func addOneYuan(_ input: String, pick: (Int, String) -> Bool) throws -> Set<String> {
        var edited = Set<String>()
        var lines = try Fixtures.read(input).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() where line.contains("\"refund_fee\":\"") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let id = "\(object["refund_id"]!)"
            guard let fee = object["refund_fee"] as? String, let value = Decimal(string: fee), fee.contains("."), pick(index, id) else { continue }
            lines[index] = line.replacingOccurrences(of: "\"refund_fee\":\"\(fee)\"", with: "\"refund_fee\":\"\(value + 1)\"")
            edited.insert(id)
        }
        try Fixtures.write(lines.joined(separator: "\n"), to: input)
        return edited
    }

    func keys(_ lines: [[String: Any]]) -> Set<String> {
        Set(lines.map { "\($0["shop_no"] as! String)/\($0["refund_no"] as! String)/\($0["oid"] as! String)" })
    }

    @Test func aReRunOnUnchangedInputSendsNothing() async throws {
        let sandbox = try SandboxProcess()
        let out = try Fixtures.temporaryDirectory("refundflow-ledger")
        let (_, first, firstPush) = try run(sandbox, PushEndToEndTests.sample, out: out)
        #expect(first.count == 7 && firstPush["http_requests"] as? Int == 1)
        let (result, again, push) = try run(sandbox, PushEndToEndTests.sample, out: out)
        #expect(result.status == 2, "the sample's bad rows are still rejected")
        #expect(push["http_requests"] as? Int == 0, "nothing sent")
        #expect(again.count == 7 && again.allSatisfy { $0["outcome"] as? String == "unchanged" && $0["previous"] as? String == "acknowledged" })
        #expect(try await sandbox.jsonLines("/_sandbox/requests").count == 1)
    }

    @Test func aReRunAfterEditingOnePercentOfRowsSendsExactlyThose() async throws {
        let (sandbox, _, input, out, first) = try pushedExport(rows: 2_000, label: "refundflow-ledger-edit")
        let valid = first.count
        #expect(valid > 1_900)
        // Every 100th line gets one yuan more.
        var edited = try addOneYuan(input) { index, _ in index % 100 == 0 }
        // A generated row may be one of the ~1% bad ones, rejected before any push.
        edited.formIntersection(first.map { $0["refund_no"] as! String })
        #expect(edited.count >= 15)
        let (result, again, push) = try run(sandbox, input, out: out, pipeline: Self.jsonl)
        let sent = again.filter { $0["outcome"] as? String == "accepted" }
        #expect(Set(sent.map { $0["refund_no"] as! String }) == edited, "exactly the edited rows are sent")
        #expect(sent.allSatisfy { $0["change"] as? String == "changed" })
        #expect(push["changed_since_acknowledged"] as? Int == edited.count)
        #expect(again.filter { $0["outcome"] as? String == "unchanged" }.count == valid - edited.count)
        #expect(result.stderr.contains("changed since run"), "the edited input is noticed: \(result.stderr)")
        let requests = try await sandbox.jsonLines("/_sandbox/requests")
        let changedKeys = requests.dropFirst((valid + 49) / 50).flatMap { $0["changed"] as! [[String: Any]] }
        #expect(Set(changedKeys.map { $0["refund_no"] as! String }) == edited)
        #expect((push["http_requests"] as! Int) == (edited.count + 49) / 50)
    }

    /// Before a nightly push: a dry run against its ledger shows exactly what it would send now
    /// (the edited rows), and leaves the ledger as it was.
    @Test func aDryRunAgainstTheLedgerWritesWhatAPushWouldSendNow() async throws {
        let (sandbox, directory, input, out, first) = try pushedExport(rows: 300, label: "refundflow-ledger-dry")
        let valid = first.count
        // Three valid refunds get one yuan more.
        let validIDs = Set(first.map { $0["refund_no"] as! String })
        var picked = 0
        let edited = try addOneYuan(input) { _, id in
            guard picked < 3, validIDs.contains(id) else { return false }
            picked += 1
            return true
        }
        let ledger = out + "/ledger.sqlite"
        let before = try Data(contentsOf: URL(fileURLWithPath: ledger))
        let dry = directory + "/dry"
        let result = try sandbox.push(["run", Self.jsonl, "--set", "shop_no=LCJ", "--input", input, "--out", dry, "--dry-run", "--ledger", ledger])
        #expect(result.status == 0 || result.status == 2, "\(result.stderr)")
        let requests = try Fixtures.jsonLines(dry + "/requests.jsonl")
        let sent = requests.flatMap { request -> [String] in
            let body = try! JSONSerialization.jsonObject(with: Data((request["body"] as! String).utf8)) as! [Any]
            return (body[1] as! [[String: Any]]).map { $0["refund_no"] as! String }
        }
        #expect(Set(sent) == edited && sent.count == 3, "exactly the edited records")
        #expect(result.stderr.contains("\(valid - 3) valid records are not in requests.jsonl, as a push now would not send them: \(valid - 3) the ERP acknowledged with this same payload (unchanged); 3 of those in it changed since the ERP acknowledged them"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dry + "/report.json"))) as! [String: Any]
        #expect((report["writer"] as! [String: Any])["left_out_by_ledger"] as? [String: Int] == ["acknowledged": valid - 3])
        #expect(try Data(contentsOf: URL(fileURLWithPath: ledger)) == before, "the ledger is only read")
        #expect(try await sandbox.jsonLines("/_sandbox/requests").count == (valid + 49) / 50, "nothing was sent")
        // A ledger that is not there is an error, not a dry run of everything.
        let missing = try sandbox.push(["run", Self.jsonl, "--set", "shop_no=LCJ", "--input", input, "--out", dry, "--dry-run", "--ledger", directory + "/nope.sqlite"])
        #expect(missing.status == 1 && missing.stderr.contains("[ledger.missing]"))
    }

    @Test func callsThatGotNoAnswerAreReadBackNotSentTwice() async throws {
        // Every call is processed and its connection dropped: the client cannot know.
        let dropping = try SandboxProcess(["--drop-rate", "1"])
        let out = try Fixtures.temporaryDirectory("refundflow-ledger-ambiguous")
        let (_, first, _) = try run(dropping, PushEndToEndTests.sample, out: out, ["--target-option", "maxRetries=0", "--target-option", "batchSize=2"])
        #expect(first.count == 7 && first.allSatisfy { $0["ambiguous"] as? Bool == true })
        dropping.stop()
        // One refund line never made it (deleted behind the client's back).
        let database = try DatabaseQueue(path: dropping.database)
        try await database.write { db in try db.execute(sql: "DELETE FROM raw_refunds WHERE refund_no = '201234567890126'") }
        let sandbox = try SandboxProcess(database: dropping.database)
        let (result, again, _) = try run(sandbox, PushEndToEndTests.sample, out: out)
        #expect(result.stderr.contains("found 6 in the ERP (not sent again); 1 missing are sent again with this run's input"), "\(result.stderr)")
        #expect(again.filter { $0["outcome"] as? String == "accepted" }.map { $0["refund_no"] as? String } == ["201234567890126"])
        #expect(again.filter { $0["outcome"] as? String == "unchanged" }.count == 6)
        let requests = try await sandbox.jsonLines("/_sandbox/requests")
        let news = requests.flatMap { $0["new"] as! [[String: Any]] }
        #expect(news.count == 8 && keys(news).count == 7, "7 first, then only the missing one again")
    }

    @Test func reconcileFindsEveryPlantedDifference() async throws {
        let sandbox = try SandboxProcess()
        let out = try Fixtures.temporaryDirectory("refundflow-reconcile")
        _ = try run(sandbox, PushEndToEndTests.sample, out: out + "/push")
        let clean = try sandbox.push(["reconcile", PushEndToEndTests.pipeline, "--set", "shop_no=LCJ", "--input", PushEndToEndTests.sample, "--out", out + "/clean"])
        #expect(clean.status == 0, "\(clean.stderr)")
        let database = try DatabaseQueue(path: sandbox.database)
        try await database.write { db in
            try db.execute(sql: "DELETE FROM raw_refunds WHERE refund_no = '201234567890123'")
            try db.execute(sql: "UPDATE raw_refunds SET fields = json_set(fields, '$.refund_amount', 1234.55) WHERE refund_no = '201234567890124'")
            try db.execute(sql: "UPDATE raw_refunds SET fields = json_set(fields, '$.status', 1) WHERE refund_no = '201234567890126'")
            try db.execute(
                sql: """
                    INSERT INTO raw_refunds SELECT shop_no, 'EXTRA-1', oid, tid, json_set(fields, '$.refund_no', 'EXTRA-1'), created_at, modified_at
                    FROM raw_refunds WHERE refund_no = '201234567890127'
                    """)
        }
        let result = try sandbox.push(["reconcile", PushEndToEndTests.pipeline, "--set", "shop_no=LCJ", "--input", PushEndToEndTests.sample, "--out", out + "/planted"])
        #expect(result.status == 2, "\(result.stderr)")
        let differences = try Fixtures.jsonLines(out + "/planted/differences.jsonl").map { "\($0["difference"]!) \($0["refund_no"]!)" }
        #expect(differences == [
            "missing_in_erp 201234567890123", "not_in_input EXTRA-1", "amount_mismatch 201234567890124", "status_mismatch 201234567890126",
        ])
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/planted/reconcile.json"))) as! [String: Any]
        #expect(summary["in_agreement"] as? Bool == false && summary["matched"] as? Int == 6)
    }
}
