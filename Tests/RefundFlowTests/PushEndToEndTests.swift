import Foundation
import RefundFlow
import Testing

/// The real CLI pushes to a real `refundflow sandbox` over loopback, one test per API.
@Suite(.serialized) struct PushEndToEndTests {
    static let pipeline = "pipelines/taobao-seller-refunds-csv.yaml"
    static let sample = "pipelines/samples/taobao-refunds-gbk.csv"

    func push(_ sandbox: SandboxProcess, _ extra: [String] = [], input: String = sample, environment: [String: String] = [:]) throws -> (CLI.Result, String) {
        let out = try Fixtures.temporaryDirectory("refundflow-push")
        let result = try sandbox.push(
            ["run", Self.pipeline, "--set", "shop_no=LCJ", "--input", input, "--out", out] + extra, environment: environment)
        return (result, out)
    }

    func report(_ out: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
    }

    func keys(_ lines: [[String: Any]]) -> Set<String> {
        Set(lines.map { "\($0["shop_no"] as! String)/\($0["refund_no"] as! String)/\($0["oid"] as! String)" })
    }

    /// No secret in any output file or on the terminal.
    func expectNoSecrets(_ out: String, _ result: CLI.Result) throws {
        for name in try Fixtures.files(in: out) {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: out + "/" + name)), as: UTF8.self)
            for secret in SandboxProcess.secrets { #expect(!text.contains(secret), "\(name) holds a secret") }
        }
        for secret in SandboxProcess.secrets { #expect(!(result.stderr + result.stdout).contains(secret)) }
    }

    @Test func aSandboxThatCannotListenOrOpenItsStateSaysWhatToDo() throws {
        let running = try SandboxProcess()
        let port = String(running.address.split(separator: ":").last ?? "")
        let directory = try Fixtures.temporaryDirectory("refundflow-sandbox-errors")
        let busy = try CLI.run(["sandbox", "--port", port, "--db", directory + "/second.sqlite"], environment: SandboxProcess.environment)
        #expect(busy.status == 1)
        #expect(busy.stderr.hasPrefix("error: the sandbox cannot listen on 127.0.0.1:\(port): the port is in use (another sandbox?) [sandbox.listen]"))
        try Fixtures.write("a file", to: directory + "/file")
        let noDB = try CLI.run(["sandbox", "--port", "0", "--db", directory + "/file/state.sqlite"], environment: SandboxProcess.environment)
        #expect(noDB.status == 1)
        #expect(noDB.stderr.hasPrefix("error: the sandbox cannot open its state file '\(directory)/file/state.sqlite'"))
        #expect(noDB.stderr.contains("[sandbox.db]\n  note: give --db a file in a directory this user can write"))
    }

    // MARK: - aftersales.refund.RawRefund.upload

    @Test func rawRefundUploadStoresExactlyTheValidRecordsAndCountsNewThenUnchanged() async throws {
        let sandbox = try SandboxProcess()
        let (result, out) = try push(sandbox)
        #expect(result.status == 2, "the sample has rejected rows on purpose: \(result.stderr)")
        let records = try Fixtures.jsonLines(out + "/records.jsonl")
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(outcomes.count == 7 && records.count == 7)
        #expect(outcomes.allSatisfy { $0["outcome"] as? String == "accepted" && $0["change"] as? String == "new" })
        let stored = try await sandbox.jsonLines("/_sandbox/refunds")
        #expect(keys(stored) == keys(records))
        #expect(keys(outcomes) == keys(records))
        // Amounts arrive exactly as sent (PHP-style numbers), e.g. 1234.5.
        #expect(stored.contains { ($0["refund_amount"] as? NSNumber)?.stringValue == "1234.5" })
        let pushed = (try report(out)["writer"] as! [String: Any])["push"] as! [String: Any]
        #expect((pushed["accepted"] as! [String: Any])["records"] as? Int == 7)
        #expect(pushed["every_record_has_an_outcome"] as? Bool == true)
        #expect(pushed["new_count"] as? Int == 7)
        try expectNoSecrets(out, result)

        // A dry run into the same directory says that outcomes.jsonl is not its own.
        let dry = try CLI.run(["run", Self.pipeline, "--set", "shop_no=LCJ", "--input", Self.sample, "--out", out, "--dry-run"])
        let stale = "\(out)/outcomes.jsonl is left from an earlier push, not written by this run; use another --out to keep runs apart"
        #expect(dry.stderr.contains("warning: " + stale))
        #expect(try Fixtures.read(out + "/report.md").contains(stale))

        // The same input again: the ERP counts nothing new or changed.
        let (_, again) = try push(sandbox)
        #expect(try Fixtures.jsonLines(again + "/outcomes.jsonl").allSatisfy { $0["change"] as? String == "unchanged" })
        let requests = try await sandbox.jsonLines("/_sandbox/requests")
        #expect(requests.count == 2)
        #expect((requests[0]["new"] as! [Any]).count == 7)
        #expect((requests[1]["new"] as! [Any]).isEmpty && (requests[1]["changed"] as! [Any]).isEmpty)
        #expect(requests[1]["unchanged"] as? Int == 7)
    }

    // MARK: - sales_refund_push.php

    @Test func enterprisePushGroupsLinesPerRefundAndMapsTypeAndStatus() async throws {
        let sandbox = try SandboxProcess()
        let (result, out) = try push(sandbox, ["--target", "wdt-enterprise-refund", "--target-option", "batchSize=4"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(try Fixtures.jsonLines(out + "/outcomes.jsonl").allSatisfy { $0["outcome"] as? String == "accepted" })
        let refunds = try await sandbox.jsonLines("/_sandbox/enterprise-refunds")
        #expect(refunds.count == 6, "7 lines of 6 refunds")
        #expect(refunds.allSatisfy { $0["platform_id"] as? Int == 127 })
        let twoLines = refunds.first { $0["refund_no"] as? String == "201234567890125" }
        #expect((twoLines?["order_list"] as? [Any])?.count == 2)
        let records = try Fixtures.jsonLines(out + "/records.jsonl")
        for refund in refunds {
            let line = records.first { $0["refund_no"] as? String == refund["refund_no"] as? String }!
            let status = ["1": "closed", "2": "wait_seller_agree", "3": "goods_returning", "4": "goods_receiving", "5": "success"]
            #expect(refund["status"] as? String == status[String(line["status"] as! Int)])
            let type = [0: 1, 1: 1, 2: 3, 3: 3, 4: 2][line["type"] as! Int]
            #expect(refund["type"] as? Int == type)
        }
        // 6 refunds at most 4 per call: 2 calls.
        #expect(try await sandbox.jsonLines("/_sandbox/requests").count == 2)
    }

    // MARK: - wms.stockin.SmartRefund.upload

    @Test func stockinNeedsAKnownTidAndStoresOneStockinPerTid() async throws {
        let sandbox = try SandboxProcess()
        let stockin = ["--target", "wdt-qjb-stockin", "--target-option", "warehouseNo=WH01"]
        // Nothing pushed yet: every tid is unknown to the ERP.
        let (refused, refusedOut) = try push(sandbox, stockin)
        #expect(refused.status == 2)
        let outcomes = try Fixtures.jsonLines(refusedOut + "/outcomes.jsonl")
        #expect(outcomes.count == 7)
        #expect(outcomes.allSatisfy {
            $0["outcome"] as? String == "rejected" && ($0["erp"] as? [String: Any])?["message"] as? String == "未找到对应的单据信息!"
        })
        // After the raw refunds exist, the same stock-in goes through.
        _ = try push(sandbox)
        let (_, out) = try push(sandbox, stockin)
        let accepted = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(accepted.allSatisfy { $0["outcome"] as? String == "accepted" && ($0["erp"] as? [String: Any])?["type"] as? Int == 12 })
        let stockins = try await sandbox.jsonLines("/_sandbox/stockins")
        #expect(stockins.count == 6, "one call per tid")
        let arguments = stockins[0]["arguments"] as! [Any]
        #expect((arguments[0] as! [String: Any])["return_warehouse_no"] as? String == "WH01")
        #expect(arguments[2] as? Bool == false)
    }

    // MARK: - alibaba.wdk.trade.refund.create

    @Test func topCreateReturnsTheRefundGoodsIDAndSendsFen() async throws {
        let sandbox = try SandboxProcess()
        let (result, out) = try push(sandbox, ["--target", "top-wdk-refund", "--target-option", "shopId=10021", "--target-option", "fetchType=FETCH_HOME"])
        #expect(result.status == 2, "\(result.stderr)")
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(outcomes.allSatisfy { (($0["erp"] as? [String: Any])?["refund_goods_id"] as? String)?.hasPrefix("8000") == true })
        let created = try await sandbox.jsonLines("/_sandbox/top-refunds")
        #expect(created.count == 6)
        let request = created.map { $0["refund_goods_create_request"] as! [String: Any] }
        #expect(request.allSatisfy { $0["shop_id"] as? String == "10021" && $0["refund_fetch_type"] as? String == "FETCH_HOME" })
        let first = (request.first { $0["main_biz_order_id"] as? String == "4012345678901234569" })!
        let sub = (first["refund_goods_sub_orders"] as! [[String: Any]])[0]
        #expect((sub["refund_fee"] as? NSNumber)?.intValue == 0, "actual refund 0.00 yuan")
        let paid = (request.first { $0["main_biz_order_id"] as? String == "4012345678901234567" })!
        #expect(((paid["refund_goods_sub_orders"] as! [[String: Any]])[0]["refund_fee"] as? NSNumber)?.intValue == 5900, "59.00 yuan in fen")
        try expectNoSecrets(out, result)
    }

    // MARK: - aftersales.refund.Refund.search

    @Test func erpSearchReadsBackWhatWasPushedAcrossWindowsAndPages() async throws {
        let sandbox = try SandboxProcess()
        _ = try push(sandbox)
        let today = ShanghaiTime.format(Int(Date().timeIntervalSince1970))
        let from = ShanghaiTime.format(Int(Date().timeIntervalSince1970) - 65 * 86_400)
        let result = try sandbox.push(["erp-search", "--from", from, "--to", today, "--page-size", "4"])
        #expect(result.status == 0, "\(result.stderr)")
        let orders = result.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(Set(orders.map { $0["refund_no"] as! String }).count == 6)
        #expect(orders.count == 6, "no refund twice")
        #expect(result.stderr.contains("over 3 windows"), "65 days are 3 windows of at most 30: \(result.stderr)")
        // Exact amounts, as the ERP writes them.
        #expect(result.stdout.contains("\"actual_refund_amount\":59.0000"))
    }

    // MARK: - Credentials from a profile

    @Test func aPrivateProfileGivesCredentialsAndEndpointAndAReadableOneIsRefused() async throws {
        let sandbox = try SandboxProcess()
        let directory = try Fixtures.temporaryDirectory("refundflow-profile")
        let file = directory + "/credentials.yaml"
        let env = SandboxProcess.environment
        try Fixtures.write(
            """
            profiles:
              sandbox:
                endpoint: \(sandbox.address)
                WDT_SID: \(env["WDT_SID"]!)
                WDT_APPKEY: \(env["WDT_APPKEY"]!)
                WDT_APPSECRET: "\(env["WDT_APPSECRET"]!)"
            """, to: file)
        chmod(file, 0o600)
        let arguments = ["run", Self.pipeline, "--set", "shop_no=LCJ", "--input", Self.sample, "--credentials", file, "--profile", "sandbox"]
        let result = try CLI.run(arguments + ["--out", directory + "/out"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("pushing to \(sandbox.address) with credentials file \(file), profile sandbox"))
        #expect(try await sandbox.jsonLines("/_sandbox/refunds").count == 7)
        chmod(file, 0o644)
        let refused = try CLI.run(arguments + ["--out", directory + "/refused"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("run: chmod 600 \(file)"))
        #expect(!refused.stderr.contains("s3cr3t"))
    }

    @Test func aTOPPushNeedsASessionButAWangDianTongPushDoesNot() async throws {
        let sandbox = try SandboxProcess()
        let noSession = ["TOP_SESSION": ""]
        let (top, _) = try push(sandbox, ["--target", "top-wdk-refund", "--target-option", "shopId=1"], environment: noSession)
        #expect(top.status == 1)
        #expect(top.stderr.contains("TOP_SESSION is not set"))
        let (wdt, _) = try push(sandbox, environment: noSession)
        #expect(wdt.status == 2, "TOP variables without a session do not stop a qjb push: \(wdt.stderr)")
    }

    // MARK: - Failures

    @Test func aTamperedSignStopsTheRunWithoutRetrying() async throws {
        let sandbox = try SandboxProcess()
        let (result, out) = try push(sandbox, environment: ["WDT_APPSECRET": "tampered-secret:test_salt"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("验证失败"))
        #expect(result.stderr.contains("check WDT_SID, WDT_APPKEY and WDT_APPSECRET"))
        let pushed = (try report(out)["writer"] as! [String: Any])["push"] as! [String: Any]
        #expect(pushed["http_requests"] as? Int == 1, "never retried")
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(outcomes.count == 7 && outcomes.allSatisfy { $0["outcome"] as? String == "failed" })
        #expect(try await sandbox.get("/_sandbox/refunds").isEmpty)
        #expect(!result.stderr.contains("tampered-secret"))
    }

    @Test func aReadTimeoutIsRetriedThenTheRecordsFailAsPossiblyLanded() async throws {
        let sandbox = try SandboxProcess(["--latency-ms", "1500"])
        let (result, out) = try push(sandbox, ["--target-option", "readTimeoutMs=200", "--target-option", "maxRetries=1"])
        #expect(result.status == 2, "\(result.stderr)")
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(outcomes.count == 7)
        #expect(outcomes.allSatisfy { ($0["reason"] as? String)?.contains("gave up after 2 tries: no answer") == true }, "\(outcomes.first ?? [:])")
        #expect(outcomes.allSatisfy { $0["ambiguous"] as? Bool == true && ($0["reason"] as? String)?.contains("erp-search") == true })
    }

    @Test func aRefusedRecordIsIsolatedBySplittingItsBatch() async throws {
        let sandbox = try SandboxProcess(["--reject-refund-no", "201234567890126"])
        let (result, out) = try push(sandbox)
        #expect(result.status == 2)
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        let refused = outcomes.filter { $0["outcome"] as? String == "rejected" }
        #expect(refused.map { $0["refund_no"] as? String } == ["201234567890126"])
        #expect((refused[0]["erp"] as? [String: Any])?["message"] as? String == "退换单已存在: 201234567890126")
        #expect(outcomes.filter { $0["outcome"] as? String == "accepted" }.count == 6)
        #expect(try await sandbox.jsonLines("/_sandbox/refunds").count == 6)
    }

    /// 10k records through 20% injected failures, dropped connections and the sandbox's rate
    /// limit: the sandbox ends with exactly the valid records, and every record has an outcome.
    @Test func tenThousandRecordsThroughFaultsAndRateLimiting() async throws {
        let sandbox = try SandboxProcess(["--fail-rate", "0.2", "--drop-rate", "0.05", "--rate-limit-per-min", "3000", "--seed", "7"])
        let directory = try Fixtures.temporaryDirectory("refundflow-10k")
        let input = directory + "/export.csv"
        try BenchmarkData.writeTaobaoExport(path: input, rows: 10_000)
        let (result, out) = try push(
            sandbox,
            ["--target-option", "requestsPerMinute=0", "--target-option", "maxRetries=12", "--target-option", "batchSize=100", "--target-option", "concurrency=4"],
            input: input)
        #expect([0, 2].contains(result.status), "\(result.stderr)")
        let records = try Fixtures.jsonLines(out + "/records.jsonl")
        let outcomes = try Fixtures.jsonLines(out + "/outcomes.jsonl")
        #expect(records.count > 9_000)
        #expect(outcomes.count == records.count, "every record has an outcome")
        #expect(keys(outcomes) == keys(records))
        #expect(outcomes.allSatisfy { $0["outcome"] as? String == "accepted" })
        let stored = try await sandbox.jsonLines("/_sandbox/refunds")
        #expect(stored.count == records.count)
        #expect(keys(stored) == keys(records), "exactly the valid records")
        let pushed = (try report(out)["writer"] as! [String: Any])["push"] as! [String: Any]
        #expect((pushed["http_requests"] as! Int) > records.count / 100, "failures and throttling were retried")
        // No record was counted new twice, even when a dropped answer made the client resend.
        let requests = try await sandbox.jsonLines("/_sandbox/requests")
        let newKeys = requests.flatMap { ($0["new"] as! [[String: Any]]) }
        #expect(newKeys.count == records.count && keys(newKeys) == keys(records))
    }
}
