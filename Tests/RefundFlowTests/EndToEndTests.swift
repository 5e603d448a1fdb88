import Foundation
import Testing

/// Drives the real CLI on the bundled pipeline and samples, as the README does.
@Suite(.serialized) struct EndToEndTests {
    static let pipeline = "pipelines/taobao-seller-refunds-csv.yaml"

    func runSample(_ sample: String, extra: [String] = [], environment: [String: String] = [:]) throws -> (CLI.Result, String) {
        let out = try Fixtures.temporaryDirectory("refundflow-e2e")
        let result = try CLI.run(
            ["run", Self.pipeline, "--set", "shop_no=LCJ", "--input", "pipelines/samples/\(sample)", "--out", out, "--dry-run"] + extra,
            environment: environment)
        return (result, out)
    }

    /// The GBK export (CRLF rows, quoted newlines, ="…" ids) gives exactly the golden records.
    @Test(arguments: ["taobao-refunds-gbk.csv", "taobao-refunds-utf8-bom.csv"])
    func sampleGivesTheGoldenRecords(_ sample: String) throws {
        let (result, out) = try runSample(sample)
        #expect(result.status == 2, "completed with rejects")
        let records = try Fixtures.read(out + "/records.jsonl")
        let golden = try Fixtures.read(Fixtures.path("golden/\(sample).records.jsonl"))
        #expect(records == golden)
        #expect(result.stderr.contains("read = valid + rejected holds"))
    }

    @Test func everyBadRowIsRejectedWithItsLineAndEveryReason() throws {
        let (result, out) = try runSample("taobao-refunds-gbk.csv")
        let rejects = try Fixtures.jsonLines(out + "/rejects.jsonl")
        let summary = rejects.map { reject -> String in
            let codes = (reject["errors"] as! [[String: Any]]).map { "\($0["field"] as? String ?? "-"):\($0["code"] as! String)" }
            return "\(reject["line"] as! Int) \(codes.joined(separator: " "))"
        }
        #expect(summary == [
            "10 refund_amount:invalid_number actual_refund_amount:invalid_number",
            "11 oid:invalid_id",
            "12 refund_amount:too_many_decimals actual_refund_amount:too_many_decimals",
            "13 status:unknown_value",
            "14 refund_time:invalid_date",
            "15 refund_no+oid:duplicate",
            "16 refund_amount:invalid_number actual_refund_amount:invalid_number refund_time:invalid_date tid:missing buyer_nick:missing",
            "17 title:too_long",
            "18 -:malformed",
            "19 宝贝标题:encoding",
        ])
        // Nothing is lost: raw fields for every reject, exact bytes for the undecodable one.
        #expect(rejects.allSatisfy { ($0["raw"] as? [String: Any])?.isEmpty == false })
        #expect(rejects.last?["raw_bytes_base64"] is String)
        #expect(result.stderr.contains("pipelines/samples/taobao-refunds-gbk.csv:11:"))
        #expect(result.stderr.contains("[invalid_id]"))
    }

    @Test func reportAccountsForEveryRowAndEveryYuan() throws {
        let (_, out) = try runSample("taobao-refunds-gbk.csv")
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/report.json"))) as! [String: Any]
        let counts = report["counts"] as! [String: Any]
        #expect(counts["read"] as? Int == 17)
        #expect(counts["valid"] as? Int == 7)
        #expect(counts["rejected"] as? Int == 10)
        #expect((report["check"] as! [String: Any])["holds"] as? Bool == true)
        let byStatus = counts["valid_by_status"] as! [String: [String: Any]]
        #expect(byStatus["5"]?["refund_amount"] as? String == "59.00")
        #expect(byStatus["5"]?["actual_refund_amount"] as? String == "59.00")
        #expect(byStatus["2"]?["count"] as? Int == 3)
        #expect((counts["valid_totals"] as! [String: String])["refund_amount"] == "1503.3456")
        let input = (report["inputs"] as! [[String: Any]])[0]
        #expect((input["sha256"] as? String)?.count == 64)
        #expect(input["encoding"] as? String == "auto → gb18030 (bytes at line 1 are not UTF-8)")
        #expect((report["pipeline"] as! [String: Any])["sha256"] is String)
        let markdown = try Fixtures.read(out + "/report.md")
        #expect(markdown.contains("| 17 | 7 | 10 | holds |"))
    }

    @Test func dryRunRequestsAreSignedAndKeepTheSecretOut() throws {
        let secret = "VerySecretPart"
        let (_, out) = try runSample(
            "taobao-refunds-utf8-bom.csv",
            environment: ["WDT_SID": "mysid", "WDT_APPKEY": "mykey", "WDT_APPSECRET": "\(secret):mysalt"])
        let requests = try Fixtures.jsonLines(out + "/requests.jsonl")
        #expect(requests.count == 1)
        let request = requests[0]
        #expect(request["api"] as? String == "aftersales.refund.RawRefund.upload")
        #expect((request["url"] as? String)?.hasPrefix("http://wdt.wangdian.cn/openapi?key=mykey&method=aftersales.refund.RawRefund.upload&salt=mysalt&sid=mysid&timestamp=") == true)
        let body = request["body"] as! String
        #expect(body.hasPrefix("[\"LCJ\",[{\"refund_no\":\"201234567890123\""))
        #expect(!body.contains("纯棉"), "the body is ASCII-escaped like the vendor SDK")
        for name in try Fixtures.files(in: out) {
            #expect(try !Fixtures.read(out + "/" + name).contains(secret), "\(name)")
        }
    }

    @Test func exitCodesAndUsageErrors() throws {
        let missingVariable = try CLI.run(["run", Self.pipeline, "--input", "x.csv", "--out", "/tmp/x", "--dry-run"])
        #expect(missingVariable.status == 1)
        #expect(missingVariable.stderr.contains("variable 'shop_no' has no value"))
        let noInput = try CLI.run(["run", Self.pipeline, "--out", "/tmp/x", "--dry-run"])
        #expect(noInput.status == 64)
        let noPipeline = try CLI.run(["run", "--input", "x.csv", "--out", "/tmp/x", "--dry-run"])
        #expect(noPipeline.status == 64)
        #expect(noPipeline.stderr.contains("give the pipeline YAML"))
        // The pipeline after `--input` (which takes several values) is still the pipeline.
        let directory = try Fixtures.temporaryDirectory()
        let after = try CLI.run([
            "run", "--input", "pipelines/samples/top-refunds.xml", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=A",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(after.status == 0)
        let (limited, _) = try runSample("taobao-refunds-gbk.csv", extra: ["--max-errors", "3"])
        #expect(limited.status == 3)
        let unreadable = try runSample("does-not-exist.csv").0
        #expect(unreadable.status == 1)
        #expect(unreadable.stderr.contains("cannot open input"))
    }

    @Test func errorsPastShowErrorsAreCountedAtTheEnd() throws {
        // The GBK sample's 10 rejected rows carry 16 errors; 3 are printed, the end counts the rest.
        let (limited, _) = try runSample("taobao-refunds-gbk.csv", extra: ["--show-errors", "3"])
        #expect(limited.status == 2)
        #expect(limited.stderr.components(separatedBy: ": error: ").count - 1 == 3)
        #expect(limited.stderr.contains("note: 13 more errors not shown (--show-errors); 10 records rejected in all, every one in rejects.jsonl with its line and reasons"))
        let (all, _) = try runSample("taobao-refunds-gbk.csv")
        #expect(all.stderr.components(separatedBy: ": error: ").count - 1 == 16)
        #expect(!all.stderr.contains("not shown"))
    }

    @Test func lintReportsEveryErrorWithItsPosition() throws {
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write("version: 1\nreader: { csv: { encodng: x } }\nfields:\n  refund_nr: a\n  tid: { form: b }\n", to: directory + "/bad.yaml")
        let result = try CLI.run(["lint", directory + "/bad.yaml", Self.pipeline])
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad.yaml:2:18: error: unknown key 'encodng'"))
        #expect(result.stderr.contains("bad.yaml:4:3: error: unknown canonical field 'refund_nr'"))
        #expect(result.stderr.contains("bad.yaml:5:10: error: unknown key 'form' in field 'tid'"))
        #expect(result.stderr.contains("bad.yaml:5:3: error: field 'tid' needs 'from', 'value', 'when' or 'default'"))
        #expect(result.stdout.contains("\(Self.pipeline): ok"))
    }
}

/// An export shaped differently from the samples: the newer column set in another order,
/// 买家昵称 instead of 买家会员名称, 退款总额, 售后类型, TOP status codes, no BOM, LF rows.
@Suite(.serialized) struct ExportVariantTests {
    static let variant = """
            退款编号,订单编号,子订单编号,售后类型,退款状态,货物状态,退款总额,退款数量,商品单价,宝贝标题,买家昵称,退款的申请时间,退款完结时间,售中或售后,买家退款原因,买家退款说明,退货物流单号,退货物流公司,商品编码,商品id,支付单号
            301,5001,5002,换货,WAIT_SELLER_AGREE,已收到货,88.00,1,88,换个颜色,t**9,2024/10/1 8:00,,售后,颜色不喜欢,,,,SKU-1,66001,P1
            302,5003,5004,退货退款,SUCCESS,已收到货,"1,088.80",2,544.4,羽绒服,t**8,2024-10-01 09:00:00,2024-10-03 10:00:00,售后,质量问题,"破了
            一个洞",SF100,顺丰速运,SKU-2,66002,P2
            303,5005,5005,仅退款,SELLER_REFUSE_BUYER,未发货,10,1,10,袜子,t**7,2024-10-02 10:00,,售中,拍错了,,,,SKU-3,66003,P3

            """

    @Test func theNewerExportShapeMapsTheSame() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-variant")
        try Fixtures.write(Self.variant, to: directory + "/variant.csv")
        let out = directory + "/out"
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/variant.csv",
            "--out", out, "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let records = try Fixtures.jsonLines(out + "/records.jsonl")
        #expect(records.count == 3)
        #expect(records.map { $0["type"] as? Int } == [3, 2, 1])
        #expect(records.map { $0["status"] as? Int } == [2, 5, 2])
        #expect(records.map { $0["refund_amount"] as? String } == ["88.00", "1088.80", "10.00"])
        #expect(records.map { $0["actual_refund_amount"] as? String } == ["0.00", "1088.80", "0.00"])
        #expect(records.map { $0["buyer_nick"] as? String } == ["t**9", "t**8", "t**7"])
        #expect(records.map { $0["is_aftersale"] as? Int } == [1, 1, 0])
        #expect(records[0]["refund_time"] as? String == "2024-10-01 08:00:00")
        #expect(records[1]["current_phase_timeout"] as? String == "2024-10-03 10:00:00")
        #expect(records[1]["remark"] as? String == "破了\n一个洞")
        #expect(records[1]["logistics_no"] as? String == "SF100")
        #expect(records[1]["goods_no"] as? String == "66002")
        #expect(records[2]["pay_no"] as? String == "P3")
        #expect(records[2]["num"] as? String == "1")
    }

    /// Times as other tools write them: a database's `.0`, Excel's Chinese long date, JavaScript's
    /// `toISOString()` (UTC, moved to Beijing time).
    @Test(arguments: [
        ("2024-10-01 08:00:00.0", "2024-10-01 08:00:00"), ("2024-10-01 08:00:00.123", "2024-10-01 08:00:00"),
        ("2024年10月1日 8:00", "2024-10-01 08:00:00"), ("2024年10月1日 08:00:05", "2024-10-01 08:00:05"),
        ("2024-10-01T00:00:00.000Z", "2024-10-01 08:00:00"), ("2024-10-01T08:00:00.5", "2024-10-01 08:00:00"),
        ("2024/10/01 08:00:00", "2024-10-01 08:00:00"),
    ])
    func timesWrittenByOtherToolsAreRead(_ written: String, _ expected: String) throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-times")
        let csv = Self.variant.replacingOccurrences(of: "2024/10/1 8:00", with: written)
        #expect(csv != Self.variant)
        try Fixtures.write(csv, to: directory + "/times.csv")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/times.csv",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let records = try Fixtures.jsonLines(directory + "/out/records.jsonl")
        #expect(records.first?["refund_time"] as? String == expected)
    }

    @Test func aTabSeparatedExportReadsTheSameAsTheCommaOne() throws {
        // The same export with tabs between the columns (a seller-center "xls" that is tab-separated text).
        let directory = try Fixtures.temporaryDirectory("refundflow-tsv")
        var quoted = false
        let tabs = String(Self.variant.map { character -> Character in
            if character == "\"" { quoted.toggle() }
            return character == "," && !quoted ? "\t" : character
        })
        #expect(tabs.contains("\t\"1,088.80\"\t"))
        try Fixtures.write(Self.variant, to: directory + "/comma.csv")
        try Fixtures.write(tabs, to: directory + "/tabs.tsv")
        for name in ["comma.csv", "tabs.tsv"] {
            let result = try CLI.run([
                "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/" + name,
                "--out", directory + "/out-" + name, "--dry-run",
            ])
            #expect(result.status == 0, "\(result.stderr)")
        }
        let comma = try Fixtures.read(directory + "/out-comma.csv/records.jsonl")
        #expect(comma.split(separator: "\n").count == 3)
        #expect(try Fixtures.read(directory + "/out-tabs.tsv/records.jsonl") == comma)
        let report = try Fixtures.read(directory + "/out-tabs.tsv/report.md")
        #expect(report.contains("tabs.tsv': the columns are separated by tabs (delimiter: auto)"))
        #expect(try !Fixtures.read(directory + "/out-comma.csv/report.md").contains("separated by"))
    }

    @Test func inputsMayBeDirectoriesAndSeveralFollowOneFlag() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-dir")
        try FileManager.default.createDirectory(atPath: directory + "/exports", withIntermediateDirectories: true)
        let samples = Fixtures.packageRoot + "/pipelines/samples/"
        try FileManager.default.copyItem(atPath: samples + "taobao-refunds-gbk.csv", toPath: directory + "/exports/2-gbk.csv")
        try FileManager.default.copyItem(atPath: samples + "taobao-refunds-utf8-bom.csv", toPath: directory + "/exports/1-bom.CSV")
        let equivalent = Array(try Data(contentsOf: URL(fileURLWithPath: samples + "taobao-refunds-equivalent.csv")))
        try Fixtures.write(try Fixtures.gzip(equivalent), to: directory + "/exports/3-archived.csv.gz")
        try Fixtures.write("not an export", to: directory + "/exports/readme.md")
        try Fixtures.write("a,b\n", to: directory + "/exports/.partial.csv")
        // A subdirectory named like an export (an earlier run's --out) is not read.
        try FileManager.default.createDirectory(atPath: directory + "/exports/0-out.csv", withIntermediateDirectories: true)
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=D", "--input", directory + "/exports",
            samples + "taobao-refunds-equivalent.csv", "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 2)
        // A refund repeated in a later file names the file and line of the one kept.
        #expect(result.stderr.contains(
            "exports/2-gbk.csv:2: error: an earlier record has the same key (refund_no=201234567890123, oid=4012345678901234568), at \(directory)/exports/1-bom.CSV:2; the first one is kept [duplicate]"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/out/report.json"))) as! [String: Any]
        let inputs = report["inputs"] as! [[String: Any]]
        #expect(inputs.map { $0["path"] as? String } == [
            directory + "/exports/1-bom.CSV", directory + "/exports/2-gbk.csv", directory + "/exports/3-archived.csv.gz",
            samples + "taobao-refunds-equivalent.csv",
        ])
        // The archived copy reads like the plain file: the same counts, read from its gzip.
        #expect((inputs[2]["encoding"] as? String)?.hasPrefix("gzip, ") == true)
        let read = inputs.map { ($0["counts"] as? [String: Any])?["read"] as? Int }
        #expect(read[2] != nil && read[2] == read[3])
        try FileManager.default.createDirectory(atPath: directory + "/none", withIntermediateDirectories: true)
        let empty = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=D", "--input", directory + "/none",
            "--out", directory + "/out2", "--dry-run",
        ])
        #expect(empty.status == 1)
        #expect(empty.stderr.contains("error: the input directory '\(directory)/none' has no .csv, .tsv, .txt, .xlsx files (nor .gz ones) [input.empty_directory]"))
    }

    @Test func aDashReadsStandardInput() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-stdin")
        let result = try CLI.run(
            [
                "run", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=I", "--input", "-", "--out", directory + "/out",
                "--dry-run",
            ], standardInput: Fixtures.packageRoot + "/pipelines/samples/top-refunds.xml")
        #expect(result.status == 0)
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").count == 6)
        #expect(try Fixtures.read(directory + "/out/report.json").contains("\"path\":\"/dev/stdin\""))
    }

    @Test func anOutputDirectoryThatCannotBeMadeIsADiagnosticThatSaysWhy() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-out-file")
        try Fixtures.write("not a directory", to: directory + "/taken")
        let result = try CLI.run([
            "run", "pipelines/taobao-top-refunds-jsonl.yaml", "--set", "shop_no=T", "--input",
            Fixtures.packageRoot + "/pipelines/samples/top-refunds.jsonl", "--out", directory + "/taken/out", "--dry-run",
        ])
        #expect(result.status == 1)
        let taken = URL(fileURLWithPath: directory + "/taken").standardizedFileURL.path
        #expect(result.stderr.hasPrefix(
            "error: cannot create the output directory '\(directory)/taken/out': '\(taken)' is a file, not a directory [output.unwritable]\n  note: give --out a directory"))
    }

    @Test func aLedgerThatIsNoDatabaseAndABenchDirectoryInTheWayAreDiagnostics() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-ledger-file")
        try Fixtures.write("not a database, but long enough that SQLite reads a header from it", to: directory + "/ledger.sqlite")
        let show = try CLI.run(["ledger", "show", "--ledger", directory + "/ledger.sqlite"])
        #expect(show.status == 1)
        #expect(show.stderr.hasPrefix("error: cannot open the run ledger '\(directory)/ledger.sqlite': "))
        #expect(show.stderr.contains("[ledger.unreadable]\n  note: --ledger names the ledger.sqlite a push wrote in its --out"))
        let bench = try CLI.run(["bench", "--rows", "10", "--dir", directory + "/ledger.sqlite/bench"])
        #expect(bench.status == 1)
        #expect(bench.stderr.contains("is a file, not a directory [output.unwritable]\n  note: give --dir a directory"))
    }

    @Test func theSameFileGivenTwiceIsNamedAndItsSecondReadingIsAllDuplicates() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-twice")
        let sample = Fixtures.packageRoot + "/pipelines/samples/top-refunds.jsonl"
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.jsonl", withDestinationPath: sample)
        let result = try CLI.run([
            "run", "pipelines/taobao-top-refunds-jsonl.yaml", "--set", "shop_no=T", "--input", sample, directory + "/link.jsonl",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 2)
        let warning = "'\(directory)/link.jsonl' is the same file as '\(sample)', given before it: its records are read again and each is rejected as a duplicate"
        #expect(result.stderr.contains("warning: \(warning)"))
        #expect(try Fixtures.read(directory + "/out/report.md").contains(warning))
        let records = try Fixtures.jsonLines(directory + "/out/records.jsonl").count
        let rejects = try Fixtures.jsonLines(directory + "/out/rejects.jsonl")
        #expect(rejects.filter { ($0["file"] as? String) == directory + "/link.jsonl" }.count >= records)
    }

    @Test func topTimesAsAnExporterScriptRewritesThemAreRead() throws {
        // TOP writes `yyyy-MM-dd HH:mm:ss`; a script or a database dump may write ISO 8601 (an
        // offset is honoured: 02:00 UTC is 10:00 in Shanghai) or add a '.0'.
        let directory = try Fixtures.temporaryDirectory("refundflow-iso")
        let sample = try Fixtures.read(Fixtures.packageRoot + "/pipelines/samples/top-refunds.xml")
        try Fixtures.write(
            sample.replacingOccurrences(of: "<created>2024-09-01 10:00:00</created>", with: "<created>2024-09-01T02:00:00Z</created>")
                .replacingOccurrences(of: "<end_time>2024-09-02 11:30:00</end_time>", with: "<end_time>2024-09-02 11:30:00.0</end_time>")
                .replacingOccurrences(of: "<created>2024-09-03 08:15:00</created>", with: "<created>2024-09-03T08:15:00</created>"),
            to: directory + "/iso.xml")
        let result = try CLI.run([
            "run", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=T", "--input", directory + "/iso.xml", "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let records = try Fixtures.jsonLines(directory + "/out/records.jsonl")
        #expect(records.count == 6)
        #expect(records[0]["refund_time"] as? String == "2024-09-01 10:00:00")
        #expect(records[0]["current_phase_timeout"] as? String == "2024-09-02 11:30:00")
        #expect(records[1]["refund_time"] as? String == "2024-09-03 08:15:00")
    }

    @Test func aPageOfAPagedResponseIsAWarningInTheTerminalAndTheReport() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-page")
        let sample = try Fixtures.read(Fixtures.packageRoot + "/pipelines/samples/top-refunds.xml")
        try Fixtures.write(sample.replacingOccurrences(of: "<total_results>6</total_results>", with: "<total_results>250</total_results>"), to: directory + "/page1.xml")
        let result = try CLI.run([
            "run", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=T", "--input", directory + "/page1.xml",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 0)
        let warning = "the responses say total_results 250, but the run read 6 records in 1 response ('\(directory)/page1.xml'): pages of the query are missing (at page_size 100 it has 3 pages); fetch every page and give them all, or their refunds are not loaded"
        #expect(result.stderr.contains("warning: \(warning) [input.missing_pages]"))
        #expect(try Fixtures.read(directory + "/out/report.md").contains(warning))
        // The same page with the rest of the query, in a file of its own: nothing is missing.
        try Fixtures.write(sample.replacingOccurrences(of: "<total_results>6</total_results>", with: "<total_results>12</total_results>"), to: directory + "/page1.xml")
        try Fixtures.write(
            sample.replacingOccurrences(of: "<total_results>6</total_results>", with: "<total_results>12</total_results>")
                .replacingOccurrences(of: "<refund_id>14653551226", with: "<refund_id>24653551226"), to: directory + "/page2.xml")
        let both = try CLI.run([
            "run", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=T", "--input", directory + "/page1.xml", directory + "/page2.xml",
            "--out", directory + "/out2", "--dry-run",
        ])
        #expect(both.status == 0, "\(both.stderr)")
        #expect(!both.stderr.contains("missing_pages"))
    }

    @Test func anExportWithoutTheColumnsWDTMayReceiveEmptyLoadsWithWarnings() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-variant")
        try Fixtures.write(
            """
            退款编号,订单编号,子订单编号,退款状态,货物状态,买家退款金额,退款数量,商品单价,宝贝标题,买家会员名称,退款的申请时间,退款完结时间,售中或售后,买家退款原因,是否需要退货,商品 编码
            7,8,9,退款成功,已收到货,5.00,1,5,T,n,2024-10-01 08:00:00,2024-10-02 08:00:00,售后,r,是,S-1

            """, to: directory + "/few.csv")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/few.csv",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        for (column, field) in [("退货物流公司", "logistics_name"), ("退货物流单号", "logistics_no"), ("买家退款说明", "remark")] {
            #expect(result.stderr.contains("few.csv:1: warning: no column '\(column)' for \(field); it stays empty [input.missing_column]"))
        }
        // A column written another way (a space) is read, and said so; no warning for it.
        #expect(result.stderr.contains("few.csv': column '商品 编码' is read as '商品编码'"))
        #expect(!result.stderr.contains("no column '商品编码'"))
        // The report, which a dry run is signed off on, names them too.
        let report = try Fixtures.read(directory + "/out/report.md")
        #expect(report.contains("few.csv': no column '买家退款说明' for remark; it stays empty"))
        let record = try #require(try Fixtures.jsonLines(directory + "/out/records.jsonl").first)
        #expect(record["logistics_no"] as? String == "")
        #expect(record["spec_no"] as? String == "S-1")
        #expect(record["type"] as? Int == 2)
        #expect(record["refund_amount"] as? String == "5.00")
    }

    @Test func aFileWithoutTheUnitPriceLoadsWithAWarningAndSendsNoPrice() throws {
        // WDT needs the sub-order id and the quantity, not the unit price.
        let directory = try Fixtures.temporaryDirectory("refundflow-variant")
        try Fixtures.write(
            "退款编号,订单编号,子订单编号,退款状态,买家退款金额,退款数量,宝贝标题,买家会员名称,退款的申请时间,售中或售后,买家退款原因\n"
                + "11,22,23,退款成功,5.00,1,t,b,2024-09-01 10:00:00,售后,r\n", to: directory + "/noprice.csv")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/noprice.csv",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 0)
        #expect(result.stderr.contains("warning: no column '商品单价' for price; it stays empty. Taobao's refund export has no unit price: add the column 商品单价"))
        let record = try #require(try Fixtures.jsonLines(directory + "/out/records.jsonl").first)
        #expect(record["price"] == nil)
        #expect(record["oid"] as? String == "23")
        let request = try #require(try Fixtures.jsonLines(directory + "/out/requests.jsonl").first)
        #expect((request["body"] as? String)?.contains("price") == false)
    }

    @Test func aFileWithoutTheMerchantColumnsSaysWhatToAdd() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-variant")
        try Fixtures.write("退款编号,订单编号,退款状态\n1,2,退款成功\n", to: directory + "/plain.csv")
        let result = try CLI.run([
            "run", "pipelines/taobao-seller-refunds-csv.yaml", "--set", "shop_no=V", "--input", directory + "/plain.csv",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("plain.csv:1: error: '\(directory)/plain.csv' has no column '子订单编号', which the pipeline maps to oid [input.missing_column]"))
        #expect(result.stderr.contains("add the columns 子订单编号, 退款数量 and 商品单价"))
        #expect(result.stderr.contains("the older 42-column Taobao export has no 买家会员名称"))
        #expect(FileManager.default.fileExists(atPath: directory + "/out/report.json"))
    }
}

/// One set of refunds written as seller-center CSV, TOP XML, TOP JSON and JSON Lines gives
/// byte-identical records through the four bundled pipelines (and as the seller center's .xlsx
/// export, through the CSV pipeline).
@Suite(.serialized) struct FourFormatEquivalenceTests {
    static let runs = [
        ("taobao-seller-refunds-csv", "taobao-refunds-equivalent.csv"),
        ("taobao-seller-refunds-csv", "taobao-refunds-equivalent.xlsx"),
        ("taobao-top-refunds-xml", "top-refunds.xml"),
        ("taobao-top-refunds-json", "top-refunds.json"),
        ("taobao-top-refunds-jsonl", "top-refunds.jsonl"),
    ]

    @Test func theFourFormatsGiveByteIdenticalRecords() throws {
        var outputs: [String] = []
        for (pipeline, sample) in Self.runs {
            let out = try Fixtures.temporaryDirectory("refundflow-4f")
            let result = try CLI.run([
                "run", "pipelines/\(pipeline).yaml", "--set", "shop_no=LCJ", "--input", "pipelines/samples/\(sample)",
                "--out", out, "--dry-run",
            ])
            #expect(result.status == 0, "\(pipeline): \(result.stderr)")
            outputs.append(try Fixtures.read(out + "/records.jsonl"))
        }
        #expect(outputs.allSatisfy { $0 == outputs[0] })
        #expect(outputs[0] == (try Fixtures.read(Fixtures.path("golden/top-refunds.records.jsonl"))))
    }

    @Test func aTruncatedXMLExportExitsFourAndKeepsWhatCameBefore() throws {
        let directory = try Fixtures.temporaryDirectory("refundflow-4f")
        let full = try Fixtures.read(Fixtures.packageRoot + "/pipelines/samples/top-refunds.xml")
        let cut = String(full.prefix(full.utf8.count * 2 / 3))
        try Fixtures.write(cut, to: directory + "/cut.xml")
        let result = try CLI.run([
            "run", "pipelines/taobao-top-refunds-xml.yaml", "--set", "shop_no=LCJ", "--input", directory + "/cut.xml",
            "--out", directory + "/out", "--dry-run",
        ])
        #expect(result.status == 4)
        #expect(result.stderr.contains("warning: malformed XML"))
        let report = try Fixtures.read(directory + "/out/report.json")
        #expect(report.contains("\"status\":\"input_broken\""))
        let records = try Fixtures.jsonLines(directory + "/out/records.jsonl")
        #expect(records.count >= 3)
        #expect(try Fixtures.jsonLines(directory + "/out/rejects.jsonl").count == 1)
    }
}
