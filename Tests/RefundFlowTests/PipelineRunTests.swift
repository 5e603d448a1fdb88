import Foundation
import Testing

@testable import RefundFlow

/// Runs small pipelines over inline CSV through the library and reads the outputs.
struct PipelineRunTests {
    static let header = """
        version: 1
        variables: { shop_no: { default: S1 } }
        reader: { csv: { encoding: utf-8 } }
        clean: [excel, trim, crlf]
        target: { wdt-qjb-raw-refund: { shopNo: "${shop_no}", batchSize: 2 } }

        """

    static let fields = """
        fields:
          refund_no: { from: rn, pattern: { regex: '^[0-9]+$', code: invalid_id } }
          tid: { from: tid, pattern: { regex: '^[0-9]+$', code: invalid_id } }
          oid: { from: oid, pattern: { regex: '^[0-9]+$', code: invalid_id } }
          num: { from: n, default: "1" }
          status: { from: st, map: { ok: 5, wait: 2 }, mapDefault: 2 }
          type:
            when:
              - if: { field: kind, equals: exchange }
                value: 3
              - if: { all: [ { field: ret, equals: "Y" }, { not: { field: kind, in: [refund] } } ] }
                value: 2
            value: 4
          refund_amount: amt
          actual_refund_amount:
            when: [ { if: { field: st, equals: ok }, from: amt } ]
            value: "0"
          buyer_nick: nick
          is_aftersale: { value: 1 }
          refund_time: { from: t, timeZone: UTC }
          remark: note

        """

    struct Outputs {
        var report: RunReport
        var records: [[String: Any]]
        var rejects: [[String: Any]]
        var requests: [[String: Any]]
        var directory: String
    }

    func run(
        _ csv: String, pipeline: String = header + fields, limits: ErrorLimits = ErrorLimits(),
        environment: [String: String] = [:], variables: [String: String] = [:]
    ) throws -> Outputs {
        try run(bytes: Array(csv.utf8), pipeline: pipeline, limits: limits, environment: environment, variables: variables)
    }

    func run(
        bytes: [UInt8], pipeline: String = header + fields, limits: ErrorLimits = ErrorLimits(),
        environment: [String: String] = [:], variables: [String: String] = [:]
    ) throws -> Outputs {
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(bytes, to: directory + "/in.csv")
        let definition = try PipelineLoader.load(yaml: pipeline, path: "p.yaml", variables: variables)
        var options = RunOptions(inputs: [directory + "/in.csv"], outputDirectory: directory + "/out")
        options.errorLimits = limits
        options.environment = environment
        options.unixTime = { 1_725_328_800 }  // 2024-09-03 02:00:00 UTC
        options.runID = "test-run"
        let report = try Pipeline(definition).run(options) { _ in }
        return Outputs(
            report: report, records: try Fixtures.jsonLines(directory + "/out/records.jsonl"),
            rejects: try Fixtures.jsonLines(directory + "/out/rejects.jsonl"),
            requests: try Fixtures.jsonLines(directory + "/out/requests.jsonl"), directory: directory + "/out")
    }

    static let columns = "rn,tid,oid,n,st,kind,ret,amt,nick,t,note\n"

    @Test func aFieldNoRecordHasIsOneNoteWithThePipelinesHint() throws {
        // Every row lacks the buyer nick: besides an error per row, one note says the export lacks it.
        let csv = Self.columns + "11,22,33,1,ok,,,5,,2024-09-03 02:00:00,\n12,22,34,1,ok,,,5,,2024-09-03 02:00:00,\n"
        let pipeline = Self.header + Self.fields.replacingOccurrences(of: "buyer_nick: nick", with: "buyer_nick: { from: nick, missingHint: \"export the nick too\" }")
        let out = try run(csv, pipeline: pipeline)
        #expect(out.report.counts.rejected == 2)
        #expect(out.report.inputs.first?.notes == ["'\(out.report.inputs[0].path)': no record has a value for buyer_nick (all 2 were rejected for it): the export lacks it; export the nick too"])
        // One record with it: no such note.
        let some = try run(csv.replacingOccurrences(of: ",5,,2024-09-03 02:00:00,\n12", with: ",5,bob,2024-09-03 02:00:00,\n12"), pipeline: pipeline)
        #expect(some.report.inputs.first?.notes.isEmpty == true)
        // The TOP pipelines name what a list call's export lacks: num, from the detail call.
        let directory = try Fixtures.temporaryDirectory()
        let refund = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        try Fixtures.write(refund + "\n" + refund.replacingOccurrences(of: #""oid":3"#, with: #""oid":4"#) + "\n", to: directory + "/list.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/list.jsonl"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.inputs.first?.notes.first?.contains("no record has a value for num (all 2 were rejected for it): the export lacks it; taobao.refunds.receive.get does not return num") == true)
    }

    @Test func idsThatAllEndInZerosAreAWarningThatTheirDigitsWereLost() throws {
        // Excel kept 15 significant digits of each tid: every one ends in 0000.
        let rows = (1...12).map { "\($0),30501234567890\(100 + $0)0000,\(40 + $0),1,ok,,,5,bob,2024-09-03 02:00:00,\n" }
        let out = try run(Self.columns + rows.joined())
        #expect(out.report.counts.valid == 12)
        let path = out.report.inputs[0].path
        #expect(out.report.inputs[0].notes == [
            "'\(path)': every long tid of the file (all 12, from this line on) ends in 00: their last digits were lost (a number type of 15–17 digits rounded them), so these ids are wrong; in Excel, format the id columns as text before saving (or export the CSV again without opening it in Excel), and run again"
        ])
        // One real id among them, or fewer than ten long ids: nothing to say.
        let real = try run(Self.columns + rows.joined() + "13,3050123456789012345,53,1,ok,,,5,bob,2024-09-03 02:00:00,\n")
        #expect(real.report.inputs[0].notes.isEmpty)
        let few = try run(Self.columns + rows.prefix(9).joined())
        #expect(few.report.inputs[0].notes.isEmpty)
    }

    @Test func negativeAmountsAndQuantitiesAreRejectedZeroIsNot() throws {
        let csv = Self.columns + """
            11,22,33,1,ok,,,-5.00,bob,2024-09-03 02:00:00,
            12,22,34,-1,wait,,,5,amy,2024-09-03 02:00:00,
            13,22,35,0,wait,,,0,cat,2024-09-03 02:00:00,
            """
        let out = try run(csv)
        #expect(out.records.map { $0["refund_no"] as? String } == ["13"])
        let errors = out.rejects.map { ($0["errors"] as? [[String: Any]] ?? []).map { "\($0["code"]!) \($0["field"]!): \($0["message"]!)" } }
        #expect(errors == [
            ["out_of_range refund_amount: refund_amount is negative (-5); refunds carry positive amounts",
             "out_of_range actual_refund_amount: actual_refund_amount is negative (-5); refunds carry positive amounts"],
            ["out_of_range num: num is negative (-1); refunds carry positive quantities"],
        ])
    }

    @Test func mapsCleansAndConverts() throws {
        let csv = Self.columns + """
            ="11",\t22\t,'33,,ok,exchange,Y,"¥1,234.5",bob,2024-09-03 02:00:00,"a\r\nb"
            12,22,34,2,odd,refund,Y,0.10,amy,2024/9/3 9:05,
            13,22,35,3,wait,,Y,7,cat,2024-09-03 23:30,
            """
        let out = try run(csv)
        #expect(out.rejects.isEmpty)
        #expect(out.records.count == 3)
        let first = out.records[0]
        #expect(first["refund_no"] as? String == "11")
        #expect(first["tid"] as? String == "22")
        #expect(first["oid"] as? String == "33")
        #expect(first["num"] as? String == "1")
        #expect(first["status"] as? Int == 5)
        #expect(first["type"] as? Int == 3)
        #expect(first["refund_amount"] as? String == "1234.50")
        #expect(first["actual_refund_amount"] as? String == "1234.50")
        #expect(first["shop_no"] as? String == "S1")
        #expect(first["refund_version"] as? String == "1")
        #expect(first["remark"] as? String == "a\nb")
        // UTC source time → Asia/Shanghai output (+8), also across midnight.
        #expect(first["refund_time"] as? String == "2024-09-03 10:00:00")
        #expect(out.records[1]["refund_time"] as? String == "2024-09-03 17:05:00")
        #expect(out.records[2]["refund_time"] as? String == "2024-09-04 07:30:00")
        #expect(out.records[1]["status"] as? Int == 2, "mapDefault")
        #expect(out.records[1]["type"] as? Int == 4, "not(kind in [refund]) fails")
        #expect(out.records[2]["type"] as? Int == 2)
        #expect(out.records[1]["actual_refund_amount"] as? String == "0.00")
        // Batches of 2 per call.
        #expect(out.requests.map { $0["record_count"] as? Int } == [2, 1])
        #expect(out.report.status == .completed)
        #expect(out.report.counts.isBalanced)
    }

    @Test func reportsEveryReasonOnARow() throws {
        let csv = Self.columns + "x1,,3.50000E+18,1.23456,nope,,,12abc,,2024-13-01 00:00,\n"
        let out = try run(csv, pipeline: Self.header + Self.fields.replacingOccurrences(of: ", mapDefault: 2", with: ""))
        #expect(out.records.isEmpty)
        let reject = try #require(out.rejects.first)
        #expect(reject["line"] as? Int == 2)
        #expect(reject["record"] as? Int == 1)
        let errors = reject["errors"] as! [[String: Any]]
        let codes = errors.map { "\($0["field"] as! String):\($0["code"] as! String)" }
        #expect(Set(codes) == [
            "refund_no:invalid_id", "oid:invalid_id", "num:too_many_decimals", "status:unknown_value",
            "refund_amount:invalid_number", "refund_time:invalid_date", "tid:missing", "buyer_nick:missing",
        ])
        let status = try #require(errors.first { $0["field"] as? String == "status" })
        #expect(status["message"] as? String == "status: 'nope' is not a known value; expected one of: ok, wait; if it is a real value, add it to the 'map' of status in the pipeline (or give a 'mapDefault')")
        let refundNo = try #require(errors.first { $0["field"] as? String == "refund_no" })
        #expect(refundNo["message"] as? String == "refund_no: 'x1' does not match ^[0-9]+$")
        let oid = try #require(errors.first { $0["field"] as? String == "oid" })
        #expect((oid["message"] as! String).contains("Excel turned this id into a number"))
        #expect(oid["column"] as? Int == 5)
        let raw = reject["raw"] as! [String: String]
        #expect(raw["oid"] == "3.50000E+18")
        #expect(out.report.status == .completedWithRejects)
        #expect(out.report.counts.rejectedByCode[.invalidId] == 1)
        #expect(out.report.counts.errorsByCode[.invalidId] == 2)
    }

    @Test func quotedLiteralsInDateFormatsAndHintsForWhatIsNoDateTime() throws {
        let pipeline = Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }",
            with: #"refund_time: { from: t, formats: ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ssXXX", "d''M''yyyy"] }"#)
        let csv = Self.columns + """
            1,2,3,1,ok,,,1,a,2024-09-03T02:00:00,
            2,2,3,1,ok,,,1,a,2024-09-03T02:00:00Z,
            3,2,3,1,ok,,,1,a,3'9'2024,
            4,2,3,1,ok,,,1,a,45538.0833,
            5,2,3,1,ok,,,1,a,2024-09-03,
            6,2,3,1,ok,,,1,a,2024-09-03 02:00:00,
            7,2,3,1,ok,,,1,a,2023-02-29T10:00:00,
            8,2,3,1,ok,,,1,a,2024-13-01T10:00:00,
            9,2,3,1,ok,,,1,a,2024-09-03T24:00:00Z,
            """
        let out = try run(csv, pipeline: pipeline)
        // Asia/Shanghai source times stay; an explicit offset is honoured.
        #expect(out.records.map { $0["refund_time"] as? String } == ["2024-09-03 02:00:00", "2024-09-03 10:00:00", "2024-09-03 00:00:00"])
        let messages = out.rejects.map { (($0["errors"] as! [[String: Any]])[0]["message"] as! String) }
        #expect(messages.count == 6)
        // A value of a format's shape that names no real date-time says what is wrong with it.
        #expect(messages[3] == "refund_time: '2023-02-29T10:00:00' is not a real date-time: 2023-02 has no day 29 (it has 28 days)")
        #expect(messages[4] == "refund_time: '2024-13-01T10:00:00' is not a real date-time: there is no month 13")
        #expect(messages[5] == "refund_time: '2024-09-03T24:00:00Z' is not a real date-time: 24:00:00 is not a time of day")
        #expect(messages[0].hasSuffix("; this looks like an Excel date serial number: format the column as a date (yyyy-mm-dd hh:mm:ss) before saving as CSV"))
        #expect(messages[1].hasSuffix("; it has a date but no time of day: if midnight is right, add a date-only format such as 'yyyy-MM-dd' to the pipeline's dateFormats"))
        #expect(messages[2] == "refund_time: '2024-09-03 02:00:00' is not a valid date-time in any of: yyyy-MM-dd'T'HH:mm:ss, yyyy-MM-dd'T'HH:mm:ssXXX, d''M''yyyy")
        #expect(throws: DateFormat.InvalidPattern.self) { try DateFormat("yyyy-MM-dd'T") }
    }

    /// A 12-hour clock: `h` (1–12) placed by `a` (AM/PM in any case, 上午/下午 as Chinese Excel
    /// shows them); one without the other is a pattern error; a 12-hour value the formats do not
    /// read says which format to add.
    @Test func aTwelveHourClockNeedsItsMarker() throws {
        let pipeline = Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }",
            with: #"refund_time: { from: t, formats: ["yyyy/M/d a h:mm", "yyyy/M/d h:mm:ss a", "yyyy-MM-dd hh:mm a"] }"#)
        let csv = Self.columns + """
            1,2,3,1,ok,,,1,a,2024/9/3 下午 2:05,
            2,2,3,1,ok,,,1,a,2024/9/3 上午 12:30,
            3,2,3,1,ok,,,1,a,2024/9/3 12:00:00 PM,
            4,2,3,1,ok,,,1,a,2024/9/3 9:15:00 am,
            5,2,3,1,ok,,,1,a,2024-09-03 11:59 Pm,
            6,2,3,1,ok,,,1,a,2024/9/3 下午 13:05,
            7,2,3,1,ok,,,1,a,2024/9/3 0:05:00 AM,
            8,2,3,1,ok,,,1,a,2024-09-03 1:05 PM,
            9,2,3,1,ok,,,1,a,2024/9/3 中午 12:05,
            """
        let out = try run(csv, pipeline: pipeline)
        #expect(out.records.map { $0["refund_time"] as? String } == [
            "2024-09-03 14:05:00", "2024-09-03 00:30:00", "2024-09-03 12:00:00", "2024-09-03 09:15:00", "2024-09-03 23:59:00",
        ])
        #expect(out.rejects.map { $0["line"] as? Int } == [7, 8, 9, 10])
        #expect(throws: DateFormat.InvalidPattern.self) { try DateFormat("yyyy/M/d h:mm") }
        #expect(throws: DateFormat.InvalidPattern.self) { try DateFormat("yyyy/M/d HH:mm a") }
        // Without such a format, the value says what to add.
        let plain = try run(Self.columns + "1,2,3,1,ok,,,1,a,2024/9/3 下午 2:05,\n2,2,3,1,ok,,,1,a,2024/9/3 2:05:00 PM,\n", pipeline: Self.header + Self.fields)
        #expect(plain.rejects.map { (($0["errors"] as! [[String: Any]])[0]["message"] as! String).components(separatedBy: "; ").last } == [
            "it is a 12-hour time: add a format with h and a for it to the pipeline's dateFormats, such as 'yyyy/M/d a h:mm'",
            "it is a 12-hour time: add a format with h and a for it to the pipeline's dateFormats, such as 'yyyy/M/d h:mm:ss a'",
        ])
    }

    /// Unix time is a format of its own, of a fixed length: an instant, shown in the output zone.
    @Test func unixTimeIsAWholeFormatOfFixedLength() throws {
        let pipeline = Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }", with: #"refund_time: { from: t, formats: ["epochMillis", "epochSeconds"] }"#)
        let csv = Self.columns + """
            1,2,3,1,ok,,,1,a,1725328800000,
            2,2,3,1,ok,,,1,a,1725328800,
            3,2,3,1,ok,,,1,a,1725328859999,
            4,2,3,1,ok,,,1,a,20240903,
            5,2,3,1,ok,,,1,a,17253288000000,
            6,2,3,1,ok,,,1,a,172532880,
            7,2,3,1,ok,,,1,a,-1725328800,
            8,2,3,1,ok,,,1,a,1725328800.5,
            """
        let out = try run(csv, pipeline: pipeline)
        // Fractions of a second are dropped, as with SSS.
        #expect(out.records.map { $0["refund_time"] as? String } == ["2024-09-03 10:00:00", "2024-09-03 10:00:00", "2024-09-03 10:00:59"])
        #expect(out.rejects.map { ($0["errors"] as! [[String: Any]])[0]["code"] as? String } == Array(repeating: "invalid_date", count: 5))
        // Without the format, a value that looks like one says what it would be and what to add.
        let plain = try run(Self.columns + "1,2,3,1,ok,,,1,a,1725328800000,\n", pipeline: Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }", with: "refund_time: t"))
        #expect(((plain.rejects.first?["errors"] as? [[String: Any]])?.first?["message"] as? String)?.hasSuffix(
            "; this looks like Unix time in milliseconds (2024-09-03 10:00:00 in Asia/Shanghai): if it is, add 'epochMillis' to the pipeline's dateFormats") == true)
        #expect(throws: DateFormat.InvalidPattern.self) { try DateFormat("epochMinutes") }
        // The TOP JSON pipelines read what a Java exporter writes for a Date: the same record.
        let text = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"title":"t","buyer_nick":"b","created":"2024-09-03 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let directory = try Fixtures.temporaryDirectory()
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        var records: [String] = []
        for (name, line) in [("text", text), ("millis", text.replacingOccurrences(of: #""2024-09-03 10:00:00""#, with: "1725328800000"))] {
            try Fixtures.write(line + "\n", to: directory + "/\(name).jsonl")
            _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/\(name).jsonl"], outputDirectory: directory + "/\(name)")) { _ in }
            records.append(try Fixtures.read(directory + "/\(name)/records.jsonl"))
        }
        #expect(records[0].contains(#""refund_time":"2024-09-03 10:00:00""#))
        #expect(records[0] == records[1])
    }

    @Test func timesInAZoneWithDaylightSavingTimeMoveByTheOffsetInForceThen() throws {
        let newYork = Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }", with: "refund_time: { from: t, timeZone: America/New_York }")
        let csv = Self.columns + """
            1,2,3,1,ok,,,1,a,2026-03-08 01:30:00,
            2,2,3,1,ok,,,1,a,2026-03-08 03:30:00,
            3,2,3,1,ok,,,1,a,2026-03-08 06:59:59,
            4,2,3,1,ok,,,1,a,2026-03-08 02:30:00,
            5,2,3,1,ok,,,1,a,2026-11-01 01:30:00,
            6,2,3,1,ok,,,1,a,2026-11-01 02:00:00,
            7,2,3,1,ok,,,1,a,2026-07-01 12:00:00,
            """
        let out = try run(csv, pipeline: newYork)
        // EST is UTC−5 and EDT UTC−4; Shanghai is UTC+8. 03:30 on the day clocks go forward is
        // EDT (07:30 UTC), not EST. 01:30 on the day they go back happens twice: the first
        // (EDT) is taken.
        #expect(out.records.map { $0["refund_time"] as? String } == [
            "2026-03-08 14:30:00", "2026-03-08 15:30:00", "2026-03-08 18:59:59",
            "2026-11-01 13:30:00", "2026-11-01 15:00:00", "2026-07-02 00:00:00",
        ])
        // 02:30 on 8 March 2026 never happened in New York.
        let reject = try #require(out.rejects.first)
        #expect(reject["line"] as? Int == 5)
        let error = (reject["errors"] as! [[String: Any]])[0]
        #expect(error["code"] as? String == "invalid_date")
        #expect(error["message"] as? String == "refund_time: '2026-03-08 02:30:00' never happened in America/New_York: its clocks skip that hour when daylight saving time starts; if the export's times are in another zone, set 'timeZone' in the pipeline")

        // East of Greenwich too: 01:30 CET on the day Berlin goes forward (at 02:00) is 00:30 UTC.
        let berlin = Self.header + Self.fields.replacingOccurrences(
            of: "refund_time: { from: t, timeZone: UTC }", with: "refund_time: { from: t, timeZone: Europe/Berlin }")
        let berlinOut = try run(Self.columns + "1,2,3,1,ok,,,1,a,2026-03-29 01:30:00,\n2,2,3,1,ok,,,1,a,2026-03-29 03:00:00,\n", pipeline: berlin)
        #expect(berlinOut.records.map { $0["refund_time"] as? String } == ["2026-03-29 08:30:00", "2026-03-29 09:00:00"])
    }

    @Test func anIdWrittenBackAsAFloatSaysSo() throws {
        let out = try run(Self.columns + "2012345.0,9,1.0,1,ok,,,5,a,,\n")
        let messages = (out.rejects[0]["errors"] as! [[String: Any]]).map { $0["message"] as! String }
        #expect(messages == [
            "refund_no: '2012345.0' does not match ^[0-9]+$; a tool read this id as a number and wrote it back with '.0' (an id over 16 digits may have lost digits that way): export the column as text",
            "oid: '1.0' does not match ^[0-9]+$; a tool read this id as a number and wrote it back with '.0' (an id over 16 digits may have lost digits that way): export the column as text",
        ])
    }

    @Test func anIdInFullWidthDigitsSaysSo() throws {
        let out = try run(Self.columns + "２０1２,9,1,1,ok,,,5,a,,\n")
        let message = (out.rejects[0]["errors"] as! [[String: Any]])[0]["message"] as? String
        #expect(message == "refund_no: '２０1２' does not match ^[0-9]+$; it is written in full-width digits, as a Chinese input method types them: write them as ASCII digits")
    }

    @Test func anInvisibleCharacterInsideAnIdIsNamedWithItsPlace() throws {
        let out = try run(Self.columns + "20\u{200B}12,9,1,1,ok,,,5,a,,\n")
        let message = (out.rejects[0]["errors"] as! [[String: Any]])[0]["message"] as? String
        #expect(message == "refund_no: '20\u{200B}12' does not match ^[0-9]+$; it holds an invisible character, U+200B (zero width space), at character 3: delete it")
    }

    @Test func numbersThatAreNotExactSayWhatTheyLookLike() {
        #expect(DeclarativeMapper.numberHint("1.2E+3") == "; it is in scientific notation: write it as a plain decimal (in Excel, format the column as a number with its decimals before saving; an exporter should write money as decimal text)")
        #expect(DeclarativeMapper.numberHint("12,50") == "; a comma only separates thousands (1,234.50): if it is a decimal comma, write a point (12.50)")
        #expect(DeclarativeMapper.numberHint(".5") == "; write a digit on both sides of the point (0.50, 12.00)")
        #expect(DeclarativeMapper.numberHint("12 34.50") == "; a space between digits only separates thousands (1 234.50): remove it or group the digits by three")
        #expect(DeclarativeMapper.numberHint("12.") == DeclarativeMapper.numberHint(".5"))
        #expect(DeclarativeMapper.numberHint("５９.００") == "; it is written in full-width digits: write them as ASCII digits (59.00)")
        #expect(DeclarativeMapper.numberHint("１") == DeclarativeMapper.numberHint("５９．００"))
        #expect(DeclarativeMapper.numberHint("1，234.50") == "; it holds a full-width '，', as a Chinese input method types it: write the ASCII ','")
        #expect(DeclarativeMapper.numberHint("12．50") == "; it holds a full-width '．', as a Chinese input method types it: write the ASCII '.'")
        #expect(DeclarativeMapper.numberHint("－12.50") == "; it holds a full-width '－', as a Chinese input method types it: write the ASCII '-'")
        #expect(DeclarativeMapper.numberHint("RMB 59.00") == "; write the amount alone, without 'RMB' (amounts are in yuan)")
        #expect(DeclarativeMapper.numberHint("59.00cny") == "; write the amount alone, without 'cny' (amounts are in yuan)")
        #expect(DeclarativeMapper.numberHint("USD 59.00") == "")
        #expect(DeclarativeMapper.numberHint("abc") == "")
        #expect(DeclarativeMapper.floatingPointHint("19.900000000000002").hasPrefix("; this is what binary floating point makes"))
        #expect(DeclarativeMapper.floatingPointHint("0.30000000000000004") == DeclarativeMapper.floatingPointHint("19.900000000000002"))
        #expect(DeclarativeMapper.floatingPointHint("2.6999999999999997") == DeclarativeMapper.floatingPointHint("19.900000000000002"))
        #expect(DeclarativeMapper.floatingPointHint("19.99999") == "")
        #expect(DeclarativeMapper.floatingPointHint("12.34567") == "")
        #expect(DeclarativeMapper.numberHint("2件") == "; write the number alone, without the unit '件'")
        #expect(DeclarativeMapper.numberHint("件") == "")
        #expect(Array("2024".utf8).withUnsafeBufferPointer { DeclarativeMapper.dateHint($0) } == "")
        #expect(Array("45538".utf8).withUnsafeBufferPointer { DeclarativeMapper.dateHint($0) }.contains("Excel date serial number"))
        #expect(DeclarativeMapper.numberHint("12元元") == "; write the number alone, without the unit '元元'")
        #expect(DeclarativeMapper.numberHint("12\u{200B}.50") == "; it holds an invisible character, U+200B (zero width space), at character 3: delete it")
        #expect(DeclarativeMapper.invisibleHint("30501\u{00AD}23") == "; it holds an invisible character, U+00AD (soft hyphen), at character 6: delete it")
        #expect(DeclarativeMapper.invisibleHint("纯棉 T恤") == "")
        #expect(Array("2024-09-03\u{200E} 10:00".utf8).withUnsafeBufferPointer { DeclarativeMapper.dateHint($0) }.contains("U+200E (left-to-right mark), at character 11"))
        #expect(DeclarativeMapper.numberHint("1,2345") == DeclarativeMapper.numberHint("12,50"))
    }

    @Test func aColumnWrittenAnotherWayIsSuggestedAndADifferentOneIsNot() {
        #expect(closestColumn("商品id", in: ["商品单价", "商品ID"]) == "商品ID")
        #expect(closestColumn("商品id", in: ["商品 ｉｄ"]) == "商品 ｉｄ")
        #expect(closestColumn("金额(元)", in: ["金额（元）"]) == "金额（元）")
        #expect(closestColumn("退货物流单号", in: ["发货物流单号", "商品单价"]) == nil)
        #expect(closestColumn("商品编码", in: ["商品单价"]) == nil)
        #expect(closestColumn("refund_id", in: ["refund_ld", "tid"]) == "refund_ld")
        #expect(closestColumn("tid", in: ["oid"]) == nil)
        // A column in fen is never offered as the yuan one; the note says what it is.
        #expect(closestColumn("买家退款金额", in: ["买家退款金额(分)"]) == nil)
        #expect(fenColumn("买家退款金额", in: ["退款编号", "买家退款金额（分）"]) == "the file has '买家退款金额（分）', in fen (分, hundredths of a yuan); the pipeline reads yuan: convert that column to yuan and name it '买家退款金额'")
        #expect(fenColumn("买家退款金额", in: ["退款金额(分)"]) == nil)
    }

    @Test func keepsTheFirstOfDuplicatesAndNotTheLinesOfOneRefund() throws {
        let csv = Self.columns + """
            1,9,100,1,ok,,,5,a,,
            1,9,101,1,ok,,,5,a,,
            1,9,100,1,ok,,,6,a,,
            1,9,100,1,ok,,,7,a,,
            """
        let out = try run(csv)
        #expect(out.records.map { $0["oid"] as! String } == ["100", "101"])
        #expect(out.rejects.map { $0["line"] as! Int } == [4, 5])
        #expect(out.rejects.allSatisfy { (($0["errors"] as! [[String: Any]])[0]["code"] as! String) == "duplicate" })
        // Each duplicate says where the record it repeats is.
        let input = String(out.directory.dropLast("/out".count)) + "/in.csv"
        #expect(out.rejects.map { (($0["errors"] as! [[String: Any]])[0]["message"] as! String) } == [
            "an earlier record has the same key (refund_no=1, oid=100), at \(input):2; the first one is kept",
            "an earlier record has the same key (refund_no=1, oid=100), at \(input):2; the first one is kept",
        ])
        #expect(out.report.counts.byStatus[5].refundAmount.formatted() == "10")
    }

    /// A new status label in tonight's export: one line says which values, how often, where first,
    /// and what to do, however many rows carry them (enum drift, counted and sampled).
    @Test func valuesThePipelineDoesNotMapAreCountedByFieldAndValue() throws {
        let pipeline = Self.header + Self.fields.replacingOccurrences(of: ", mapDefault: 2", with: "")
        let csv = Self.columns + """
            1,2,3,1,odd,,,1,a,,
            2,2,3,1,weird,,,1,a,,
            3,2,3,1,odd,,,1,a,,
            4,2,3,1,ok,,,1,a,,
            5,2,3,1,odd,,,1,a,,
            """
        let out = try run(csv, pipeline: pipeline)
        #expect(out.report.unknownValues.map { "\($0.field)=\($0.value)×\($0.records)@\($0.first?.line ?? 0)" } == ["status=odd×3@2", "status=weird×1@3"])
        let sentence = "status has values the pipeline does not map: 'odd' (3 records, first at \(out.directory.replacingOccurrences(of: "/out", with: "/in.csv")):2:9), 'weird' (1 record, first at \(out.directory.replacingOccurrences(of: "/out", with: "/in.csv")):3:9); if they are real values, add them to the 'map' of status in the pipeline"
        #expect(out.report.unknownValueSentences() == [sentence])
        #expect(try Fixtures.read(out.directory + "/report.md").contains(sentence + "."))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.directory + "/report.json"))) as? [String: Any])
        #expect((json["unknown_values"] as? [[String: Any]])?.map { $0["records"] as? Int } == [3, 1])

        // The pipeline's unmappedHint (e.g. values left out on purpose) is told once, in the note
        // and the report, not on every reject.
        let hinted = pipeline.replacingOccurrences(of: "map: { ok: 5, wait: 2 }", with: "map: { ok: 5, wait: 2 }, unmappedHint: \"'odd' is left out on purpose\"")
        let told = try run(csv, pipeline: hinted)
        let toldInput = told.directory.replacingOccurrences(of: "/out", with: "/in.csv")
        #expect(told.report.unknownValueSentences() == [
            "status has values the pipeline does not map: 'odd' (3 records, first at \(toldInput):2:9), 'weird' (1 record, first at \(toldInput):3:9); "
                + "if they are real values, add them to the 'map' of status in the pipeline. 'odd' is left out on purpose"
        ])
        #expect(told.report.unknownValues.map(\.hint) == ["'odd' is left out on purpose", "'odd' is left out on purpose"])
        #expect(try Fixtures.read(told.directory + "/report.json").contains(#""hint":"'odd' is left out on purpose""#))
        #expect(told.rejects.allSatisfy { !((($0["errors"] as! [[String: Any]])[0]["message"] as! String).contains("on purpose")) })

        var tally = UnknownValueTally()
        for index in 0...UnknownValueTally.limit {
            tally.add(RowError(code: .unknownValue, field: "status", value: String(index), message: ""))
        }
        tally.add(RowError(code: .unknownValue, field: "status", value: "0", message: ""))
        tally.add(RowError(code: .invalidNumber, field: "num", value: "x", message: ""))
        #expect(tally.values.count == UnknownValueTally.limit)
        #expect(tally.beyondLimit == 1)
        #expect(tally.sorted.first?.value == "0")
    }

    @Test func theReportSaysHowMuchMoneyIsInTheRejects() throws {
        let csv = Self.columns + """
            1,9,100,1,ok,,,5.50,a,,
            2,9,101,1,ok,,,12abc,a,,
            3,9,102,1,odd,,,7.25,a,,
            1,9,100,1,ok,,,6,a,,
            4,9,103
            """
        let pipeline = Self.header + Self.fields.replacingOccurrences(of: ", mapDefault: 2", with: "")
        let out = try run(csv, pipeline: pipeline)
        #expect(out.report.counts.rejectedMoney == Amounts(records: 1, refundAmount: Decimal4(units: 72_500), actualRefundAmount: .zero))
        #expect(out.report.counts.duplicateMoney.refundAmount == Decimal4(units: 60_000))
        #expect(out.report.rejectedMoneySentence == "Money not loaded: the 3 rejected records carry refund_amount 7.25 where it could be read (2 have no readable amount); the 1 duplicate 6.00 (already counted once in valid).")
        let json = try Fixtures.read(out.directory + "/report.json")
        #expect(json.contains(#""rejected_money":{"records_with_amount":1,"records_without_amount":2,"refund_amount":"7.25","actual_refund_amount":"0.00","duplicate_records":1,"duplicate_refund_amount":"6.00"}"#))
        #expect(try Fixtures.read(out.directory + "/report.md").contains(out.report.rejectedMoneySentence!))
        #expect(try Fixtures.read(out.directory + "/report.html").contains("Money not loaded: the 3 rejected records"))
    }

    @Test func tooLongTextIsCountedInCharacters() throws {
        let nick100 = String(repeating: "买", count: 100)  // 300 bytes, 100 characters: fine
        let nick101 = String(repeating: "买", count: 101)
        let out = try run(Self.columns + "1,9,100,1,ok,,,5,\(nick100),,\n2,9,100,1,ok,,,5,\(nick101),,\n")
        #expect(out.records.count == 1)
        let error = (out.rejects[0]["errors"] as! [[String: Any]])[0]
        #expect(error["code"] as? String == "too_long")
        #expect(error["message"] as? String == "buyer_nick is 101 characters long; the ERP allows at most 100")
    }

    @Test func errorsPointAtTheCandidateColumnTheFileHas() throws {
        let pipeline = Self.header + Self.fields.replacingOccurrences(of: "  buyer_nick: nick", with: "  buyer_nick: { from: [nickname, nick] }")
        let long = String(repeating: "x", count: 101)
        let out = try run(Self.columns + "1,9,100,1,ok,,,5,\(long),,\n", pipeline: pipeline)
        let error = try #require((out.rejects.first?["errors"] as? [[String: Any]])?.first)
        #expect(error["code"] as? String == "too_long")
        #expect(error["column"] as? Int == 18, "the nick column: `1,9,100,1,ok,,,5,` is 17 characters")
    }

    @Test func maxErrorsStopsTheRunAndStillWritesTheReport() throws {
        let bad = (1...5).map { "\($0),9,x,1,ok,,,5,a,,\n" }.joined()
        let out = try run(Self.columns + bad, limits: ErrorLimits(maxErrors: 2))
        #expect(out.report.status == .stoppedAtErrorLimit)
        #expect(out.report.status.exitCode == 3)
        #expect(out.rejects.count == 3)
        #expect(out.report.counts.isBalanced)
        let report = try Fixtures.read(out.directory + "/report.json")
        #expect(report.contains("\"status\":\"stopped_error_limit\""))
        #expect(report.contains("\"read_completely\":false"))
    }

    @Test func maxErrorRateIsCheckedOverTheWholeRun() throws {
        let rows = (1...10).map { "\($0),9,\($0 <= 2 ? "x" : "1\($0)"),1,ok,,,5,a,,\n" }.joined()
        #expect(try run(Self.columns + rows, limits: ErrorLimits(maxErrorRate: 0.25)).report.status == .completedWithRejects)
        #expect(try run(Self.columns + rows, limits: ErrorLimits(maxErrorRate: 0.1)).report.status == .stoppedAtErrorLimit)
    }

    @Test func aMissingColumnIsAFatalErrorThatSaysWhatToDo() throws {
        let out = try run("rn,tid\n1,2\n")
        #expect(out.report.status == .failed)
        let fatal = try #require(out.report.fatal)
        #expect(fatal.code == "input.missing_column")
        #expect(fatal.location?.line == 1)
    }

    @Test func titleLinesThatNameNoColumnAreSkippedUpToTen() throws {
        // An export's title and a blank line before the header: skipped, noted, lines kept right.
        let out = try run("退款管理导出 2024-03,\n\n" + Self.columns + "1,9,100,1,ok,,,5,a,,\n")
        #expect(out.report.status == .completed)
        #expect(out.records.first?["refund_no"] as? String == "1")
        #expect(out.report.inputs.first?.notes.first?.hasSuffix("skipped 1 line before the header that names none of the pipeline's columns: '退款管理导出 2024-03,'") == true)
        let titles = (1...10).map { "title \($0)\n" }.joined()
        let ten = try run(titles + Self.columns + "x,9,100,1,ok,,,5,a,,\n")
        #expect(ten.rejects.first?["line"] as? Int == 12)
        #expect(ten.report.inputs.first?.notes.first?.hasSuffix("skipped 10 lines before the header that name none of the pipeline's columns: 'title 1', 'title 2', 'title 3', …") == true)
    }

    @Test func aHeaderWithNoKnownColumnIsOneErrorThatPointsAtSkipLines() throws {
        // Eleven lines before the header are more than titles: the first line is the header.
        let titles = (1...11).map { "title \($0)\n" }.joined()
        let out = try run(titles + Self.columns + "1,9,100,1,ok,,,5,a,,\n")
        #expect(out.report.status == .failed)
        let fatal = try #require(out.report.fatal)
        #expect(fatal.code == "input.no_header")
        #expect(fatal.location?.line == 1)
        #expect(fatal.message.contains("none of the columns the pipeline reads; the header found is 'title 1'"))
        #expect(fatal.notes.contains { $0.contains("'skipLines'") })
    }

    @Test func aSkippedTitleLineIsNamedInEveryReport() throws {
        let out = try run("#退款导出 2024-09\n" + Self.columns + "1,9,100,1,ok,,,5,a,,\n")
        #expect(out.report.counts.read == 1)
        #expect(out.records.first?["refund_no"] as? String == "1")
        for name in ["report.json", "report.md", "report.html"] {
            let text = try Fixtures.read(out.directory + "/" + name)
            #expect(text.contains("skipped 1 title line before the header: ") && text.contains("#退款导出 2024-09"), "\(name)")
        }
    }

    @Test func excelEmptyRowsAreBlankLinesInTheReportNotRejects() throws {
        let out = try run(Self.columns + "1,9,100,1,ok,,,5,a,,\n,,,,,,,,,,\n,,,,,,,,,,\n")
        #expect(out.report.status == .completed)
        #expect(out.report.counts.read == 1)
        #expect(out.rejects.isEmpty)
        #expect(out.report.inputs.first?.blankLines == 2)
        #expect(try Fixtures.read(out.directory + "/report.json").contains("\"blank_lines\":2"))
        #expect(try Fixtures.read(out.directory + "/report.md").contains("2 blank lines (empty, or only delimiters and spaces as Excel writes empty rows) carried no record"))
        #expect(try Fixtures.read(out.directory + "/report.html").contains("2 blank lines (empty, or only delimiters and spaces as Excel writes empty rows) carried no record"))
    }

    @Test func inputsAfterAFatalErrorAreStillListed() throws {
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write("rn,tid\n1,2\n", to: directory + "/first.csv")
        try Fixtures.write(Self.columns + "1,9,100,1,ok,,,5,a,,\n", to: directory + "/second.csv")
        let definition = try PipelineLoader.load(yaml: Self.header + Self.fields, path: "p.yaml")
        let report = try Pipeline(definition).run(
            RunOptions(inputs: [directory + "/first.csv", directory + "/second.csv"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.status == .failed)
        #expect(report.inputs.map(\.path) == [directory + "/first.csv", directory + "/second.csv"])
        #expect(report.inputs[1].incomplete)
        #expect(report.inputs[1].sha256.count == 64)
        #expect(report.inputs[1].notes.first?.hasPrefix("not read") == true)
    }

    /// The rejected rows, written back as the input had them (bytes, BOM, line ends, header),
    /// read by the same pipeline give the same rejects; duplicates are left out.
    @Test func rejectedRowsAreWrittenBackAsTheInputHadThemToFixAndRunAgain() throws {
        let rows = [
            "1,2,3,1,ok,,,1.00,a,2024-09-03 02:00:00,\r\n",
            "2,2,3,1,ok,,,12abc,a,2024-09-03 02:00:00,\"two\r\nlines\"\r\n",
            "1,2,3,1,ok,,,1.00,a,2024-09-03 02:00:00,\r\n",
            "4,2,3\r\n",
            "5,2,3,1,ok,,,7,,2024-09-03 02:00:00,",
        ]
        let headerLine = "rn,tid,oid,n,st,kind,ret,amt,nick,t,note\r\n"
        let input = [0xEF, 0xBB, 0xBF] + Array(("#退款导出\r\n" + headerLine + rows.joined()).utf8)
        let out = try run(bytes: input)
        #expect(out.rejects.count == 4)
        let path = out.directory + "/rejects/in.csv"
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        // The title line the reader skips is not needed; the last row gets a line end.
        #expect(written == [0xEF, 0xBB, 0xBF] + Array((headerLine + rows[1] + rows[3] + rows[4] + "\n").utf8))
        #expect(out.report.refeedFiles == [RefeedFile(input: out.directory.replacingOccurrences(of: "/out", with: "/in.csv"), path: path, rows: 3)])
        let again = try run(bytes: written)
        func reasons(_ rejects: [[String: Any]]) -> [String] {
            rejects.map { reject in
                ((reject["errors"] as! [[String: Any]]).map { "\($0["code"]!):\($0["field"] ?? "")" }.sorted() + [(reject["raw"] as! [String: String]).sorted { $0.key < $1.key }.description]).joined(separator: " ")
            }
        }
        #expect(reasons(again.rejects) == reasons(out.rejects.filter { ($0["errors"] as! [[String: Any]])[0]["code"] as? String != "duplicate" }))
        #expect(again.rejects.map { $0["line"] as? Int } == [2, 4, 5])
        #expect(again.report.refeedFiles.map(\.rows) == [3])
        for report in ["report.md", "report.html"] {
            #expect(try Fixtures.read(out.directory + "/" + report).contains("to fix and run again (duplicates left out): \(path) (3 rows of "))
        }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out.directory + "/report.json"))) as? [String: Any])
        #expect((json["refeed"] as? [[String: Any]])?.first?["rows"] as? Int == 3)

        // GBK stays GBK, and the lines skipLines drops are kept, so the same pipeline reads it.
        let gbk = Self.header.replacingOccurrences(of: "csv: { encoding: utf-8 }", with: "csv: { encoding: gbk, skipLines: 1 }") + Self.fields
        let lead: [UInt8] = [0xB5, 0xBC, 0xB3, 0xF6, 0x0A]  // 导出
        let row = Array("9,2,3,1,ok,,,x,".utf8) + [0xD5, 0xC5, 0xC8, 0xFD] + Array(",2024-09-03 02:00:00,\n".utf8)  // 张三
        let gbkInput = lead + Array(headerLine.utf8) + row + Array("10,2,3,1,ok,,,1,a,2024-09-03 02:00:00,\n".utf8)
        let gbkOut = try run(bytes: gbkInput, pipeline: gbk)
        let gbkWritten = Array(try Data(contentsOf: URL(fileURLWithPath: gbkOut.directory + "/rejects/in.csv")))
        #expect(gbkWritten == lead + Array(headerLine.utf8) + row)
        let gbkAgain = try run(bytes: gbkWritten, pipeline: gbk)
        #expect(reasons(gbkAgain.rejects) == reasons(gbkOut.rejects))
        #expect((gbkAgain.rejects[0]["raw"] as! [String: String])["nick"] == "张三")

        // A compressed export's rows are written uncompressed, named without `.gz`.
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(try Fixtures.gzip(input), to: directory + "/in.csv.gz")
        let definition = try PipelineLoader.load(yaml: Self.header + Self.fields, path: "p.yaml")
        let gzipped = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.csv.gz"], outputDirectory: directory + "/out")) { _ in }
        #expect(gzipped.refeedFiles.map(\.path) == [directory + "/out/rejects/in.csv"])
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/out/rejects/in.csv"))) == written)

        // No rejects, no file; one left by an earlier run into the same --out is removed.
        let clean = try run(Self.columns + "1,2,3,1,ok,,,1,a,2024-09-03 02:00:00,\n")
        #expect(clean.report.refeedFiles.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: clean.directory + "/rejects"))
    }

    /// JSON Lines: a rejected line that is a record itself is written back as it is; a rejected
    /// record of a response line (the line holds good records too) as its object alone, on a line
    /// of its own; duplicates are not.
    /// A value outside a source field's knownValues makes every field that reads it (here type,
    /// by a condition) an unknown_value, counted with the other unmapped values; it does not fall
    /// through the conditions to the default. Empty or absent is not a value.
    @Test func aValueOutsideKnownValuesIsUnknownNotAFallThrough() throws {
        let pipeline = Self.header + "knownValues: { ret: [\"Y\", \"N\"], kind: [refund, exchange, return] }\n" + Self.fields
        let csv = Self.columns + """
            11,22,31,1,ok,return,Y,5,a,2024-09-03 02:00:00,
            12,22,32,1,ok,refund,,5,a,2024-09-03 02:00:00,
            13,22,33,1,ok,return,yes,5,a,2024-09-03 02:00:00,
            14,22,34,1,ok,repair, Y ,5,a,2024-09-03 02:00:00,
            15,22,35,1,ok,repair,True,5,a,2024-09-03 02:00:00,
            """
        let out = try run(csv, pipeline: pipeline)
        #expect(out.records.map { $0["type"] as? Int } == [2, 4])
        let errors = out.rejects.map { ($0["errors"] as? [[String: Any]] ?? []).map { "\($0["code"]!) \($0["field"]!) \($0["column"]!): \($0["message"]!)" } }
        let repair = "unknown_value type 15: type: 'kind' is 'repair', not one of its known values (refund, exchange, return); if it is a real value, add it to knownValues of 'kind' in the pipeline and say in type's mapping what it means"
        #expect(errors == [
            ["unknown_value type 22: type: 'ret' is 'yes', not one of its known values (Y, N); if it is a real value, add it to knownValues of 'ret' in the pipeline and say in type's mapping what it means"],
            [repair],
            ["unknown_value type 22: type: 'ret' is 'True', not one of its known values (Y, N); if it is a real value, add it to knownValues of 'ret' in the pipeline and say in type's mapping what it means", repair],
        ])
        #expect(out.report.unknownValues.map { "\($0.field) \($0.value) \($0.records) \($0.knownValuesOf ?? "-")" } == ["type repair 2 kind", "type yes 1 ret", "type True 1 ret"])
        // The terminal, report.md and report.html say whose list to extend, not a map of type
        // (the most frequent first).
        let first = "\(out.directory.replacingOccurrences(of: "/out", with: ""))/in.csv"
        #expect(out.report.unknownValueSentences() == [
            "'kind', which type reads, has values outside its knownValues: 'repair' (2 records, first at \(first):5:15); if they are real values, add them to knownValues of 'kind' in the pipeline and say in type's mapping what they mean",
            "'ret', which type reads, has values outside its knownValues: 'yes' (1 record, first at \(first):4:22), 'True' (1 record, first at \(first):6:22); if they are real values, add them to knownValues of 'ret' in the pipeline and say in type's mapping what they mean",
        ])
        #expect(try Fixtures.read(out.directory + "/report.json").contains(#""value":"repair","records":2,"first":"\#(first):5:15","known_values_of":"kind""#))
        // The bundled TOP pipelines know has_good_return's values (true and false, as TOP, Python
        // or a number write them): a Y or yes would otherwise make a returned-goods refund type 4.
        let refund = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":true}"#
        let directory = try Fixtures.temporaryDirectory()
        func with(_ oid: Int, _ value: String) -> String {
            refund.replacingOccurrences(of: #""oid":3"#, with: "\"oid\":\(oid)").replacingOccurrences(of: "true}", with: value + "}")
        }
        try Fixtures.write([refund, with(4, #""True""#), with(5, "1"), with(6, #""Y""#), with(7, #""yes""#), with(8, #""False""#)].joined(separator: "\n") + "\n", to: directory + "/in.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.jsonl"], outputDirectory: directory + "/out")) { _ in }
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").map { $0["type"] as? Int } == [2, 2, 2, 4])
        #expect(report.unknownValues.map { "\($0.field) \($0.value)" } == ["type Y", "type yes"])
        // A name no field reads, or no values: errors at the pipeline's line:column.
        let bad = Self.header + "knownValues:\n  kinds: [Y]\n  kind: []\n" + Self.fields
        let problems = #expect(throws: DiagnosticList.self) { try PipelineLoader.load(yaml: bad, path: "p.yaml") }
        #expect(problems?.diagnostics.map(\.description) == [
            "p.yaml:7:3: error: no field or condition of the pipeline reads 'kinds', which 'knownValues' names [pipeline.unknown_field]\n  note: did you mean 'kind'?\n  note: knownValues names source fields that a field's 'from' or a condition reads",
            "p.yaml:8:9: error: the known values of 'kind' need at least one value [pipeline.wrong_type]",
        ])
    }

    /// TOP's exchange-flow statuses have no status in WDT's upload: every bundled pipeline leaves
    /// them out on purpose (rejected as unknown_value, nothing guessed) and its note says what
    /// each means and what to do.
    @Test func theBundledPipelinesLeaveExchangeStatusesOutAndSayWhy() throws {
        let statuses = ["WAIT_SELLER_CONSIGN_GOODS", "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS", "EXCHANGE_TRANSFORM_TO_REFUND"]
        let refund = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","dispute_type":"TMALL_EXCHANGE","refund_fee":"0.00","num":1,"title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"aftersale","has_good_return":true}"#
        let lines = [refund] + statuses.enumerated().map { index, status in
            refund.replacingOccurrences(of: #""oid":3"#, with: "\"oid\":\(4 + index)").replacingOccurrences(of: "SUCCESS", with: status)
        }
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(lines.joined(separator: "\n") + "\n", to: directory + "/in.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.jsonl"], outputDirectory: directory + "/out")) { _ in }
        #expect(try Fixtures.jsonLines(directory + "/out/records.jsonl").map { $0["type"] as? Int } == [3])
        #expect(report.unknownValues.map(\.value) == statuses)
        let note = try #require(report.unknownValueSentences().first)
        #expect(statuses.allSatisfy(note.contains) && note.contains("left out on purpose") && note.contains("decide which WDT status each means"))
        // The same hint in the XML and JSON pipelines, and the CSV one's names the statuses too.
        for name in ["xml", "json"] {
            let other = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-\(name).yaml", variables: ["shop_no": "S1"])
            #expect(other.fields.first { $0.field == .status }?.unmappedHint == definition.fields.first { $0.field == .status }?.unmappedHint)
        }
        let csv = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-seller-refunds-csv.yaml", variables: ["shop_no": "S1"])
        let csvHint = try #require(csv.fields.first { $0.field == .status }?.unmappedHint)
        #expect(statuses.allSatisfy(csvHint.contains) && csv.fields.first { $0.field == .status }?.map?.keys.contains { statuses.contains($0) } == false)
    }

    /// TOP's simplified JSON (simplify=true: no *_response wrapper, the list a plain array) is read
    /// by the bundled JSON pipelines as the wrapped form is, and re-fed in its own form.
    @Test func topsSimplifiedJSONGivesTheSameRecordsAsTheWrappedForm() throws {
        let refund = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let second = refund.replacingOccurrences(of: #""oid":3"#, with: #""oid":4"#)
        let bad = refund.replacingOccurrences(of: #""oid":3"#, with: #""oid":5"#).replacingOccurrences(of: #""1.00""#, with: #""1,5""#)
        let inputs = [
            ("wrapped.json", "json", #"{"refunds_receive_get_response":{"refunds":{"refund":["# + [refund, second, bad].joined(separator: ",") + #"]},"total_results":3}}"#),
            ("simplified.json", "json", #"{"total_results":3,"refunds":["# + [refund, second, bad].joined(separator: ",") + "]}"),
            ("lines.jsonl", "jsonl", #"{"refunds":["# + [refund, second].joined(separator: ",") + #"],"total_results":3}"# + "\n" + #"{"refunds":["# + bad + "]}"),
            ("detail.json", "json", #"{"refund":"# + refund + #","request_id":"r"}"#),
        ]
        let directory = try Fixtures.temporaryDirectory()
        var records: [String] = []
        for (name, kind, text) in inputs {
            try Fixtures.write(text + "\n", to: directory + "/" + name)
            let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-\(kind).yaml", variables: ["shop_no": "S1"])
            let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/" + name], outputDirectory: directory + "/out-" + name)) { _ in }
            #expect(!report.notes.contains { $0.contains("total_results") }, "\(name)")
            records.append(try Fixtures.read(directory + "/out-\(name)/records.jsonl"))
            if name == "simplified.json" {
                // The rejected record goes back into a simplified response, which reads as one again.
                #expect(try Fixtures.read(directory + "/out-simplified.json/rejects/simplified.json") == "{\"refunds\":[\n" + bad + "\n]}\n")
                let again = try Pipeline(definition).run(RunOptions(inputs: [directory + "/out-simplified.json/rejects/simplified.json"], outputDirectory: directory + "/again")) { _ in }
                #expect(again.counts.rejected == 1)
            }
        }
        #expect(records[0].split(separator: "\n").count == 2)
        #expect(records[1] == records[0])
        #expect(records[2] == records[0])
        #expect(records[3] == String(records[0].split(separator: "\n")[0]) + "\n")
    }

    /// An id in scientific notation lost its digits to a number type: in a CSV, Excel's; in JSON
    /// or XML, the exporter's floating point, and the message says who has to change what.
    @Test func anIdInScientificNotationNamesExcelOnlyForSpreadsheetText() throws {
        let refund = #"{"refund_id":1,"tid":3.050123456789012e+18,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(refund + "\n", to: directory + "/in.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.jsonl"], outputDirectory: directory + "/out")) { _ in }
        let errors = try Fixtures.jsonLines(directory + "/out/rejects.jsonl").first?["errors"] as? [[String: Any]]
        #expect(errors?.map { $0["message"] as? String } == [
            "tid: '3.050123456789012e+18' is not an id of digits; the exporter wrote this id as a floating-point number and its digits are lost: it must write ids as strings or whole numbers"
        ])
    }

    /// A list or nested fields where the pipeline reads one value (`"refund_fee": [1]`, an
    /// exporter's `{"text": …}`, `<refund_fee><amount>…`) is said as such at its place, with the
    /// path that would read it; it is not "missing", and an optional field does not lose it.
    @Test func aListOrNestedFieldsWhereAValueIsReadIsSaidNotCalledMissing() throws {
        let good = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"price":"1.00","title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let list = good.replacingOccurrences(of: #""oid":3"#, with: #""oid":4"#).replacingOccurrences(of: #""refund_fee":"1.00""#, with: #""refund_fee":["1.00"]"#)
        let nested = good.replacingOccurrences(of: #""oid":3"#, with: #""oid":5"#).replacingOccurrences(of: #","has_good_return""#, with: #","desc":{"text":"broken lid"},"has_good_return""#)
        let withAttribute = good.replacingOccurrences(of: #""oid":3"#, with: #""oid":6"#)
        let inCondition = good.replacingOccurrences(of: #""oid":3"#, with: #""oid":7"#).replacingOccurrences(of: #""has_good_return":false"#, with: #""has_good_return":{"value":true}"#)
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write([good, list, nested, withAttribute, inCondition].joined(separator: "\n") + "\n", to: directory + "/in.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.jsonl"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.counts.valid == 2)
        let rejects = try Fixtures.jsonLines(directory + "/out/rejects.jsonl")
        let errors = rejects.map { ($0["errors"] as? [[String: Any]] ?? []).map { "\($0["code"]!) \($0["line"]!):\($0["column"]!) \($0["message"]!)" } }
        // At the value inside: the list's element, the nested field's value.
        let listColumn = list.utf8.distance(from: list.startIndex, to: list.range(of: #"["1.00"]"#)!.lowerBound) + 2
        let nestedColumn = nested.utf8.distance(from: nested.startIndex, to: nested.range(of: #""broken lid""#)!.lowerBound) + 1
        #expect(errors == [
            ["malformed 2:\(listColumn) refund_amount: 'refund_fee' is a list here ('refund_fee/0' is '1.00'), not one value; export it as a plain value, or point the field's 'from' in the pipeline at the part meant (e.g. 'refund_fee/0')",
             "malformed 2:\(listColumn) actual_refund_amount: 'refund_fee' is a list here ('refund_fee/0' is '1.00'), not one value; export it as a plain value, or point the field's 'from' in the pipeline at the part meant (e.g. 'refund_fee/0')"],
            ["malformed 3:\(nestedColumn) remark: 'desc' holds nested fields here ('desc/text' is 'broken lid'), not one value; export it as a plain value, or point the field's 'from' in the pipeline at the part meant (e.g. 'desc/text')"],
            // A condition reading it would decide wrong (here: goods returned or not).
            ["malformed 5:\(inCondition.utf8.count - 5) type: 'has_good_return', which a condition of type reads, holds nested fields here ('has_good_return/value' is 'true'), not one value; export it as a plain value, or point the condition's 'field' in the pipeline at the part meant (e.g. 'has_good_return/value')"],
        ])
        // XML: an element with child elements is nested fields; an attribute beside a value is not.
        let xml = """
            <refunds_receive_get_response><refunds><refund><refund_id>1</refund_id><tid>2</tid><oid>3</oid><status>SUCCESS</status><refund_fee currency="CNY">1.00</refund_fee><num>1</num><title>t</title><buyer_nick>b</buyer_nick><created>2024-09-01 10:00:00</created><refund_phase>onsale</refund_phase><has_good_return>false</has_good_return></refund>
            <refund><refund_id>1</refund_id><tid>2</tid><oid>4</oid><status>SUCCESS</status><refund_fee><amount>1.00</amount></refund_fee><num>1</num><title>t</title><buyer_nick>b</buyer_nick><created>2024-09-01 10:00:00</created><refund_phase>onsale</refund_phase><has_good_return>false</has_good_return></refund></refunds></refunds_receive_get_response>
            """
        try Fixtures.write(xml, to: directory + "/in.xml")
        let xmlPipeline = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-xml.yaml", variables: ["shop_no": "S1"])
        let xmlReport = try Pipeline(xmlPipeline).run(RunOptions(inputs: [directory + "/in.xml"], outputDirectory: directory + "/xml")) { _ in }
        #expect(xmlReport.counts.valid == 1)
        let xmlRejects = try Fixtures.jsonLines(directory + "/xml/rejects.jsonl")
        let messages = (xmlRejects.first?["errors"] as? [[String: Any]] ?? []).map { "\($0["line"]!) \($0["message"]!)" }
        #expect(messages.first == "2 refund_amount: 'refund_fee' holds nested fields here ('refund_fee/amount' is '1.00'), not one value; export it as a plain value, or point the field's 'from' in the pipeline at the part meant (e.g. 'refund_fee/amount')")
        #expect(messages.count == 2)
    }

    @Test func rejectedJSONLinesAreWrittenBackWhenTheLineIsTheRecord() throws {
        let good = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"price":"1.00","title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let badMoney = good.replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":4,"#).replacingOccurrences(of: #""1.00","num""#, with: #""12,50","num""#)
        let broken = #"{"refund_id":5,"tid":"#
        let notUTF8 = Array(good.replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":6,"#).replacingOccurrences(of: #""title":"t""#, with: #""title":"tX""#).utf8)
            .map { $0 == UInt8(ascii: "X") ? 0xFF : $0 }
        let badInResponse = badMoney.replacingOccurrences(of: #""refund_id":4,"#, with: #""refund_id":7,"#)
        let inResponse = #"{"refunds_receive_get_response":{"refunds":{"refund":["# + good.replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":8,"#) + "," + badInResponse + "]},\"total_results\":2}}"
        let lines: [[UInt8]] = [Array(good.utf8), Array(badMoney.utf8), Array(good.utf8), Array(broken.utf8), notUTF8, Array(inResponse.utf8)]
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(Array(lines.joined(separator: [0x0A])) + [0x0A], to: directory + "/in.jsonl")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-jsonl.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.jsonl"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.counts.rejected == 5)
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/out/rejects/in.jsonl")))
        // The line that is not UTF-8 too, byte for byte (rejects.jsonl can show it only lossily).
        #expect(written == Array([lines[1], lines[3], lines[4], Array(badInResponse.utf8)].joined(separator: [0x0A])) + [0x0A])
        let again = try Pipeline(definition).run(RunOptions(inputs: [directory + "/out/rejects/in.jsonl"], outputDirectory: directory + "/again")) { _ in }
        #expect(again.counts.rejected == 4)
        #expect(again.counts.valid == 0)
    }

    @Test func reFeedFilesAreNamedForTheirInputAndWhatTheyHold() throws {
        let directory = try Fixtures.temporaryDirectory()
        let refeed = try RefeedOutput(outputDirectory: directory, readerName: "json")
        try refeed.add(input: "/dev/stdin", format: .jsonArray, record: Array("{}".utf8))
        try refeed.add(input: "/a/x.jsonl.gz", format: .jsonLines, record: Array("{}".utf8))
        try refeed.add(input: "/b/x.jsonl", format: .jsonLines, record: Array("{}".utf8))
        try refeed.add(input: "/b/x.jsonl", format: .jsonLines, record: Array("{}\n".utf8))
        refeed.leaveOut(input: "/b/x.jsonl")
        refeed.leaveOut(input: "/b/x.jsonl")
        refeed.leaveOut(input: "/c/broken.jsonl")  // no row of it written: no file, nothing to count on
        let files = try refeed.finish()
        #expect(files.map { URL(fileURLWithPath: $0.path).lastPathComponent } == ["stdin.json", "x.jsonl", "x-2.jsonl"])
        #expect(files.map(\.rows) == [1, 1, 2])
        #expect(files.map(\.notWritten) == [0, 0, 2])
        #expect(try Fixtures.read(directory + "/rejects/stdin.json") == "[\n{}\n]\n")
        #expect(try Fixtures.read(directory + "/rejects/x-2.jsonl") == "{}\n{}\n")
        #expect(try RefeedOutput(outputDirectory: directory, readerName: "xml").files.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/rejects") == [".refundflow"], "a new run removes what an earlier one left")
        // A `rejects` folder RefundFlow did not make (--out names a shared directory) is left alone.
        let shared = try Fixtures.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: shared + "/rejects", withIntermediateDirectories: true)
        try Fixtures.write("mine", to: shared + "/rejects/notes.txt")
        let error = #expect(throws: Diagnostic.self) { try RefeedOutput(outputDirectory: shared, readerName: "csv") }
        #expect(error?.code == "output.not_ours")
        #expect(try Fixtures.read(shared + "/rejects/notes.txt") == "mine")
    }

    /// A JSON document's rejected record objects are re-fed in a response of the same kind (at
    /// the same record path), which the same pipeline reads; pages one after another end up in
    /// the one response. Records of a top-level array go back into an array.
    @Test func rejectedRecordsOfAJSONDocumentAreWrittenBackInAResponse() throws {
        let good = #"{"refund_id":1,"tid":2,"oid":3,"status":"SUCCESS","refund_fee":"1.00","num":1,"price":"1.00","title":"t","buyer_nick":"b","created":"2024-09-01 10:00:00","refund_phase":"onsale","has_good_return":false}"#
        let badMoney = good.replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":4,"#).replacingOccurrences(of: #""1.00","num""#, with: #""12,50","num""#)
        let noNick = "{\n  " + good.dropFirst().replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":5,"#).replacingOccurrences(of: #""buyer_nick":"b","#, with: "")
        func page(_ records: [String]) -> String { #"{"refunds_receive_get_response":{"refunds":{"refund":["# + records.joined(separator: ",\n") + #"]},"total_results":3}}"# + "\n" }
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(page([good, badMoney]) + page([noNick]), to: directory + "/in.json")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-json.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.json"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.counts.rejected == 2)
        let written = try Fixtures.read(directory + "/out/rejects/in.json")
        #expect(written == #"{"refunds_receive_get_response":{"refunds":{"refund":["# + "\n" + badMoney + ",\n" + noNick + "\n]}}}\n")
        let again = try Pipeline(definition).run(RunOptions(inputs: [directory + "/out/rejects/in.json"], outputDirectory: directory + "/again")) { _ in }
        #expect(again.counts.rejected == 2)
        #expect(again.counts.valid == 0)
        #expect(try Fixtures.read(directory + "/again/rejects/in.json") == written)
        // A top-level array of records: an array again.
        try Fixtures.write("[" + good.replacingOccurrences(of: #""refund_id":1,"#, with: #""refund_id":9,"#) + ",\n" + badMoney + "]", to: directory + "/array.json")
        _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/array.json"], outputDirectory: directory + "/out-array")) { _ in }
        #expect(try Fixtures.read(directory + "/out-array/rejects/array.json") == "[\n" + badMoney + "\n]\n")
        // Pages in a list under one key: written back under that key, and read back the same.
        try Fixtures.write(#"{"code":0,"pages":["# + page([good, badMoney]) + "," + page([noNick]) + "]}", to: directory + "/wrapped.json")
        _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/wrapped.json"], outputDirectory: directory + "/w")) { _ in }
        let wrapped = try Fixtures.read(directory + "/w/rejects/wrapped.json")
        #expect(wrapped == #"{"pages":"# + written.dropLast() + "}\n")
        let wrappedAgain = try Pipeline(definition).run(RunOptions(inputs: [directory + "/w/rejects/wrapped.json"], outputDirectory: directory + "/w2")) { _ in }
        #expect(wrappedAgain.counts.rejected == 2)
        #expect(try Fixtures.read(directory + "/w2/rejects/wrapped.json") == wrapped)
        // Names with quotes or backslashes are escaped in the response's keys.
        #expect(String(decoding: RefeedFormat.jsonDocument(recordPath: ["a\"b", "c\\d"]).lead, as: UTF8.self) == #"{"a\"b":{"c\\d":["# + "\n")
    }

    /// An XML document's rejected record elements are written back as libxml2 writes them, in a
    /// document the same pipeline reads (pages of one file into one); the text stays the same.
    @Test func rejectedRecordElementsOfAnXMLDocumentAreWrittenBackAsADocument() throws {
        func refund(_ id: Int, fee: String = "1.00", nick: String = "<buyer_nick>张三</buyer_nick>") -> String {
            "<refund id=\"r\(id)\"><refund_id>\(id)</refund_id><tid>2</tid><oid>3</oid><status>SUCCESS</status><refund_fee>\(fee)</refund_fee><num>1</num><price>1.00</price>"
                + "<title><![CDATA[纯棉 & <T恤>]]></title>\(nick)<created>2024-09-01 10:00:00</created><refund_phase>onsale</refund_phase><has_good_return>false</has_good_return><desc>a &amp; b\nc</desc></refund>"
        }
        func page(_ refunds: [String]) -> String {
            #"<?xml version="1.0" encoding="utf-8" ?><refunds_receive_get_response><refunds list="true">"# + refunds.joined(separator: "\n")
                + "</refunds><total_results>3</total_results></refunds_receive_get_response>\n"
        }
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(page([refund(1), refund(4, fee: "12,50")]) + page([refund(5, nick: "")]), to: directory + "/in.xml")
        let definition = try PipelineLoader.load(path: Fixtures.packageRoot + "/pipelines/taobao-top-refunds-xml.yaml", variables: ["shop_no": "S1"])
        let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.xml"], outputDirectory: directory + "/out")) { _ in }
        #expect(report.counts.rejected == 2)
        let written = try Fixtures.read(directory + "/out/rejects/in.xml")
        let element4 = refund(4, fee: "12,50").replacingOccurrences(of: "<![CDATA[纯棉 & <T恤>]]>", with: "纯棉 &amp; &lt;T恤&gt;")
        let element5 = refund(5, nick: "").replacingOccurrences(of: "<![CDATA[纯棉 & <T恤>]]>", with: "纯棉 &amp; &lt;T恤&gt;")
        #expect(written == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<refunds_receive_get_response><refunds>\n\(element4)\n\(element5)\n</refunds></refunds_receive_get_response>\n")
        let again = try Pipeline(definition).run(RunOptions(inputs: [directory + "/out/rejects/in.xml"], outputDirectory: directory + "/again")) { _ in }
        #expect(again.counts.rejected == 2)
        #expect(again.counts.valid == 0)
        #expect(try Fixtures.read(directory + "/again/rejects/in.xml") == written)
        let raw = try Fixtures.jsonLines(directory + "/again/rejects.jsonl").map { $0["raw"] as! [String: String] }
        #expect(raw == (try Fixtures.jsonLines(directory + "/out/rejects.jsonl").map { $0["raw"] as! [String: String] }))

        // Pages wrapped in one element are written back under the same wrapper, and read back.
        let stripped = { (text: String) in text.replacingOccurrences(of: #"<?xml version="1.0" encoding="utf-8" ?>"#, with: "") }
        try Fixtures.write("<pages>" + stripped(page([refund(1), refund(4, fee: "12,50")])) + stripped(page([refund(5, nick: "")])) + "</pages>\n", to: directory + "/wrapped.xml")
        _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/wrapped.xml"], outputDirectory: directory + "/w")) { _ in }
        let wrapped = try Fixtures.read(directory + "/w/rejects/wrapped.xml")
        #expect(wrapped == written.replacingOccurrences(of: "<refunds_receive_get_response>", with: "<pages><refunds_receive_get_response>")
            .replacingOccurrences(of: "</refunds_receive_get_response>", with: "</refunds_receive_get_response></pages>"))
        let wrappedAgain = try Pipeline(definition).run(RunOptions(inputs: [directory + "/w/rejects/wrapped.xml"], outputDirectory: directory + "/w2")) { _ in }
        #expect(wrappedAgain.counts.rejected == 2)
        #expect(try Fixtures.read(directory + "/w2/rejects/wrapped.xml") == wrapped)

        // A record the XML breaks in is no element to write back; the ones before it are.
        // (libxml2 reads ahead in 512-byte chunks: good records keep the fault apart.)
        let beforeBreak = [refund(4, fee: "12,50")] + (10..<20).map { refund($0) }
        try Fixtures.write(page(beforeBreak).replacingOccurrences(of: "</refunds>", with: "<refund><tid>9</tid></refnd></refunds>"), to: directory + "/broken.xml")
        let broken = try Pipeline(definition).run(RunOptions(inputs: [directory + "/broken.xml"], outputDirectory: directory + "/broken")) { _ in }
        #expect(broken.counts.rejected == 2)
        #expect(broken.refeedFiles.map(\.rows) == [1])
    }

    /// `--input out/ --out out` (or a file of an earlier run's outputs given as input) emptied
    /// the input before reading it, and the run said "completed: read 0".
    @Test func anInputThatIsOneOfTheRunsOutputsIsRefusedAndLeftAlone() throws {
        let directory = try Fixtures.temporaryDirectory()
        let csv = Self.columns + "1,2,3,1,ok,,,1,a,2024-09-03 02:00:00,\n"
        try Fixtures.write(csv, to: directory + "/rejects.jsonl")
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.csv", withDestinationPath: directory + "/rejects.jsonl")
        let definition = try PipelineLoader.load(yaml: Self.header + Self.fields, path: "p.yaml")
        for input in [directory + "/rejects.jsonl", directory + "/link.csv", directory + "/./report.md"] {
            if input.hasSuffix("report.md") { try Fixtures.write(csv, to: input) }
            let options = RunOptions(inputs: [input], outputDirectory: directory)
            let error = #expect(throws: Diagnostic.self) { try Pipeline(definition).run(options) { _ in } }
            #expect(error?.code == "input.is_output")
            #expect(error?.message == "'\(input)' is an output of this run (--out \(directory)): the run would empty it before reading it")
            #expect(try String(contentsOfFile: input, encoding: .utf8) == csv)
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/report.json"), "nothing is written, not even a report")
        // So is a file in OUT/rejects/, which a run empties: a fixed re-feed file run again into
        // the same --out is refused, not deleted; an earlier run's file there is removed.
        try FileManager.default.createDirectory(atPath: directory + "/rejects", withIntermediateDirectories: true)
        try Fixtures.write(csv, to: directory + "/rejects/in.csv")
        try Fixtures.write("", to: directory + "/rejects/.refundflow")  // as an earlier run leaves it
        let refeed = RunOptions(inputs: [directory + "/rejects/in.csv"], outputDirectory: directory)
        #expect((#expect(throws: Diagnostic.self) { try Pipeline(definition).run(refeed) { _ in } })?.code == "input.is_output")
        #expect(try String(contentsOfFile: directory + "/rejects/in.csv", encoding: .utf8) == csv)
        try Fixtures.write(csv, to: directory + "/elsewhere.csv")
        _ = try Pipeline(definition).run(RunOptions(inputs: [directory + "/elsewhere.csv"], outputDirectory: directory)) { _ in }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/rejects") == [".refundflow"])
        // A push's ledger, wherever --ledger puts it, is an output too.
        var push = RunOptions(inputs: [directory + "/ledger.db"], outputDirectory: directory + "/out")
        push.ledgerPath = directory + "/ledger.db"
        push.dryRun = false
        #expect(throws: Diagnostic.self) { try Pipeline(definition).run(push) { _ in } }
        // Another file in the output directory is read as usual.
        try Fixtures.write(csv, to: directory + "/in.csv")
        let dry = RunOptions(inputs: [directory + "/in.csv"], outputDirectory: directory)
        #expect(try Pipeline(definition).run(dry) { _ in }.counts.read == 1)
    }

    /// A dry run started while the nightly push writes into the same directory would mix or
    /// delete its outputs: it is refused before it writes anything.
    @Test func aSecondRunIntoTheSameOutputDirectoryIsRefused() throws {
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(Self.columns + "1,2,3,1,ok,,,1,a,2024-09-03 02:00:00,\n", to: directory + "/in.csv")
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        let definition = try PipelineLoader.load(yaml: Self.header + Self.fields, path: "p.yaml")
        let options = RunOptions(inputs: [directory + "/in.csv"], outputDirectory: directory + "/out")
        do {
            let held = try FileLock(path: directory + "/out/.refundflow.lock", unopenableCode: "x", busy: Diagnostic(code: "x", message: "x"))
            let error = #expect(throws: Diagnostic.self) { try Pipeline(definition).run(options) { _ in } }
            #expect(error?.code == "output.busy")
            #expect(error?.message == "another run is writing into '\(directory)/out'")
            #expect(!FileManager.default.fileExists(atPath: directory + "/out/records.jsonl"))
            withExtendedLifetime(held) {}
        }
        // Once the other run is over, the directory is free again.
        #expect(try Pipeline(definition).run(options) { _ in }.counts.valid == 1)
    }

    /// A full disk (outputs that are /dev/full): the run's own error is said, and the report's
    /// error says what the run came to, rather than the report's error alone.
    @Test func whenTheReportCannotBeWrittenTheRunsOwnErrorIsStillSaid() throws {
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(Self.columns + "1,2,3,1,ok,,,1,a,2024-09-03 02:00:00,\n", to: directory + "/in.csv")
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        for name in ["records.jsonl", "report.json"] {
            try FileManager.default.createSymbolicLink(atPath: directory + "/out/" + name, withDestinationPath: "/dev/full")
        }
        let definition = try PipelineLoader.load(yaml: Self.header + Self.fields, path: "p.yaml")
        var said: [String] = []
        let error = #expect(throws: Diagnostic.self) {
            try Pipeline(definition).run(RunOptions(inputs: [directory + "/in.csv"], outputDirectory: directory + "/out")) { said.append($0) }
        }
        #expect(said.contains { $0.hasPrefix("error: cannot write '\(directory)/out/records.jsonl': No space left on device") })
        #expect(error?.message == "cannot write '\(directory)/out/report.json': No space left on device")
        #expect(error?.notes == ["the run itself: failed, read 1, valid 1, rejected 0; its report could not be written"])
    }

    @Test func theSecretNeverAppearsInAnyOutput() throws {
        let environment = ["WDT_SID": "sid1", "WDT_APPKEY": "key1", "WDT_APPSECRET": "SuperSecretValue42:pepper"]
        let out = try run(Self.columns + "1,9,100,1,ok,,,5,a,,\nbad,9,100,1,ok,,,5,a,,\n", environment: environment)
        #expect(out.requests.count == 1)
        #expect(out.requests[0]["signed_with"] as? String == "the environment")
        let query = out.requests[0]["query"] as! [String: String]
        #expect(query["salt"] == "pepper")
        #expect(query["timestamp"] == String(1_725_328_800 - 1_325_347_200))
        for name in try Fixtures.files(in: out.directory) {
            #expect(try !Fixtures.read(out.directory + "/" + name).contains("SuperSecretValue42"), "\(name)")
        }
    }

    /// One `taobao.refund.get` detail response, as XML and as JSON, through the bundled pipelines.
    @Test func theBundledTOPPipelinesReadADetailResponse() throws {
        let xml = #"<?xml version="1.0" encoding="utf-8" ?><refund_get_response><refund><buyer_nick>t**9</buyer_nick><created>2024-09-01 10:00:00</created><desc>a &amp; b</desc><end_time>2024-09-02 10:00:00</end_time><has_good_return>true</has_good_return><num>2</num><oid>3050123456789012399</oid><outer_id>SKU-9</outer_id><price>5.00</price><reason>x</reason><refund_fee>10.00</refund_fee><refund_id>146535512261099</refund_id><refund_phase>aftersale</refund_phase><status>SUCCESS</status><tid>3050123456789012398</tid><title>T</title></refund></refund_get_response><!--top011184081134.na62-->"#
        let json = #"{"refund_get_response":{"refund":{"buyer_nick":"t**9","created":"2024-09-01 10:00:00","desc":"a & b","end_time":"2024-09-02 10:00:00","has_good_return":true,"num":2,"oid":3050123456789012399,"outer_id":"SKU-9","price":"5.00","reason":"x","refund_fee":"10.00","refund_id":146535512261099,"refund_phase":"aftersale","status":"SUCCESS","tid":3050123456789012398,"title":"T"},"request_id":"r1"}}"#
        var records: [String] = []
        for (pipeline, text, name) in [("taobao-top-refunds-xml", xml, "detail.xml"), ("taobao-top-refunds-json", json, "detail.json")] {
            let directory = try Fixtures.temporaryDirectory()
            try Fixtures.write(text, to: directory + "/" + name)
            let definition = try PipelineLoader.load(
                path: Fixtures.packageRoot + "/pipelines/\(pipeline).yaml", variables: ["shop_no": "S1"])
            let report = try Pipeline(definition).run(RunOptions(inputs: [directory + "/" + name], outputDirectory: directory + "/out")) { _ in }
            #expect(report.status == .completed)
            records.append(try Fixtures.read(directory + "/out/records.jsonl"))
        }
        #expect(records[0] == records[1])
        #expect(records[0].hasPrefix(#"{"shop_no":"S1","refund_no":"146535512261099","num":"2","tid":"3050123456789012398","oid":"3050123456789012399","type":2,"status":5,"#))
    }

    @Test func withoutCredentialsThePlaceholderIsLabelled() throws {
        let out = try run(Self.columns + "1,9,100,1,ok,,,5,a,,\n")
        #expect(out.requests[0]["signed_with"] as? String == "placeholder credentials (dry run only)")
        #expect(try Fixtures.read(out.directory + "/report.md").contains("placeholder credentials"))
    }
}

/// The mapper's fast path must never change a result: every sample, with it on and off, gives
/// byte-identical records and rejects.
struct FastPathEquivalenceTests {
    @Test(arguments: [
        ("taobao-seller-refunds-csv", "taobao-refunds-gbk.csv"),
        ("taobao-seller-refunds-csv", "taobao-refunds-utf8-bom.csv"),
        ("taobao-seller-refunds-csv", "taobao-refunds-equivalent.csv"),
        ("taobao-seller-refunds-csv", "taobao-refunds-equivalent.xlsx"),
        ("taobao-top-refunds-xml", "top-refunds.xml"),
        ("taobao-top-refunds-json", "top-refunds.json"),
        ("taobao-top-refunds-jsonl", "top-refunds.jsonl"),
    ])
    func fastAndGeneralPathsAgree(_ pipeline: String, _ sample: String) throws {
        let definition = try PipelineLoader.load(
            path: Fixtures.packageRoot + "/pipelines/\(pipeline).yaml", variables: ["shop_no": "EQ"])
        var outputs: [[String]] = []
        for fast in [true, false] {
            var compiled = try Pipeline(definition)
            compiled.mapper.usesFastPath = fast
            let directory = try Fixtures.temporaryDirectory("refundflow-fast")
            var options = RunOptions(inputs: [Fixtures.packageRoot + "/pipelines/samples/" + sample], outputDirectory: directory)
            options.unixTime = { 1_725_328_800 }
            _ = try compiled.run(options) { _ in }
            outputs.append(try ["records.jsonl", "rejects.jsonl", "requests.jsonl"].map { try Fixtures.read(directory + "/" + $0) })
        }
        #expect(outputs[0] == outputs[1])
        #expect(!outputs[0][0].isEmpty)
    }

    /// Runs `csv` through the test pipeline with the fast path on, then off: the output
    /// directories, in that order.
    func runBothPaths(_ csv: String) throws -> [String] {
        let definition = try PipelineLoader.load(yaml: PipelineRunTests.header + PipelineRunTests.fields, path: "p.yaml")
        var directories: [String] = []
        for fast in [true, false] {
            var compiled = try Pipeline(definition)
            compiled.mapper.usesFastPath = fast
            let directory = try Fixtures.temporaryDirectory("refundflow-fast")
            try Fixtures.write(csv, to: directory + "/in.csv")
            _ = try compiled.run(RunOptions(inputs: [directory + "/in.csv"], outputDirectory: directory + "/out")) { _ in }
            directories.append(directory + "/out")
        }
        return directories
    }

    /// Also the invisible ones copy-paste leaves (a zero-width space after an id pasted from a
    /// chat made it `invalid_id` with nothing to see in the message).
    @Test func trimCutsNoBreakIdeographicAndZeroWidthSpacesAtTheEndsOnBothPaths() throws {
        let csv = PipelineRunTests.columns
            + "\u{3000}14\u{00A0},\u{200B}22\u{FEFF},36\u{2060},1,ok,\u{00A0}exchange\u{3000},N,5\u{200B},\u{3000}dan\u{3000},,a\u{3000}\u{200B}b\n"
        let directories = try runBothPaths(csv)
        for directory in directories {
            let records = try Fixtures.jsonLines(directory + "/records.jsonl")
            #expect(records.first?["refund_no"] as? String == "14")
            #expect(records.first?["tid"] as? String == "22")
            #expect(records.first?["oid"] as? String == "36")
            #expect(records.first?["refund_amount"] as? String == "5.00")
            #expect(records.first?["buyer_nick"] as? String == "dan")
            #expect(records.first?["type"] as? Int == 3, "the condition sees the trimmed value")
            #expect(records.first?["remark"] as? String == "a\u{3000}\u{200B}b", "inside a value nothing changes")
        }
        #expect(try Fixtures.read(directories[0] + "/records.jsonl") == Fixtures.read(directories[1] + "/records.jsonl"))
    }

    @Test func conditionsWithEmptyCRAndAbsentValuesAgree() throws {
        let csv = PipelineRunTests.columns + """
            1,9,100,1,ok,exchange,Y,5,a,,
            2,9,101,1,wait,refund,Y,5,b,,
            3,9,102,1,wait,,,5,c,,
            4,9,103,1,ok,"ex\r\nchange",Y,5,d,,
            5,9,104,1,ok, exchange ,N,5,e,,
            """
        let outputs = try runBothPaths(csv).map { try Fixtures.read($0 + "/records.jsonl") + Fixtures.read($0 + "/rejects.jsonl") }
        #expect(outputs[0] == outputs[1])
    }
}
