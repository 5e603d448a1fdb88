import Testing

@testable import RefundFlow

struct PipelineLoaderTests {
    static let minimal = """
        version: 1
        variables:
          shop_no: { required: true }
        reader: { csv: { encoding: gbk } }
        target:
          wdt-qjb-raw-refund: { shopNo: "${shop_no}" }
        fields:
          refund_no: 退款编号
        """

    func errors(_ yaml: String, variables: [String: String] = [:], requireVariables: Bool = true) -> [String] {
        do {
            _ = try PipelineLoader.load(yaml: yaml, path: "p.yaml", variables: variables, requireVariables: requireVariables)
            return []
        } catch {
            return error.diagnostics.map(\.description)
        }
    }

    @Test func loadsAndSubstitutesVariables() throws {
        let definition = try PipelineLoader.load(yaml: Self.minimal, path: "p.yaml", variables: ["shop_no": "LCJ"])
        #expect(definition.target.options["shopNo"] == "LCJ")
        #expect((definition.reader.options as? CSVReaderOptions)?.encoding == .gbk)
        #expect(definition.fields.map(\.field) == [.refundNo])
    }

    @Test func aRecordPathIsOnePathOrAList() throws {
        let one = Self.minimal.replacingOccurrences(of: "csv: { encoding: gbk }", with: "xml: { recordPath: a/b/c }")
        #expect((try PipelineLoader.load(yaml: one, path: "p.yaml", variables: ["shop_no": "S"]).reader.options as? XMLReaderOptions)?.recordPaths == [["a", "b", "c"]])
        let two = Self.minimal.replacingOccurrences(of: "csv: { encoding: gbk }", with: "json: { recordPath: [a/b/c, d/e] }")
        #expect((try PipelineLoader.load(yaml: two, path: "p.yaml", variables: ["shop_no": "S"]).reader.options as? JSONReaderOptions)?.recordPaths == [["a", "b", "c"], ["d", "e"]])
        let bad = Self.minimal.replacingOccurrences(of: "csv: { encoding: gbk }", with: "xml: { recordPath: { a: b } }")
        #expect(errors(bad, variables: ["shop_no": "S"]).first?.hasPrefix("p.yaml:4:30: error: 'recordPath' must be a value or a list of values") == true)
    }

    @Test func reportsEveryErrorAtOnceWithLineAndColumn() {
        let yaml = """
            version: 1
            reader:
              csv: { encodng: gbk }
            target:
              wdt-qjb-raw-refund: { batchSize: 500 }
            fields:
              refund_no: { from: 退款编号, clean: [trim, upper] }
              refund_amout: 金额
              status: { from: 状态, map: { 成功: "${nope}" } }
              refund_time: { from: 时间, formats: ["yyyy-QQ-dd"] }
              type: { when: [ { if: { field: x, equals: 1, matches: y }, value: 2 } ] }
            """
        #expect(errors(yaml) == [
            "p.yaml:3:10: error: unknown key 'encodng' in 'reader' 'csv' [pipeline.unknown_key]\n  note: did you mean 'encoding'?\n  note: allowed keys: encoding, delimiter, quote, skipLines, commentPrefix, sheet",
            "p.yaml:5:3: error: batchSize must be 1–100 (the ERP takes at most 100 refunds per call), not '500' [pipeline.bad_target_option]",
            "p.yaml:7:35: error: unknown cleaning step 'upper' [pipeline.unknown_value]\n  note: cleaning steps: trim, excel, crlf",
            "p.yaml:8:3: error: unknown canonical field 'refund_amout' [pipeline.unknown_field]\n  note: did you mean 'refund_amount'?\n  note: canonical fields: shop_no, refund_no, num, tid, oid, type, status, refund_version, refund_amount, actual_refund_amount, title, logistics_name, logistics_no, buyer_nick, refund_time, current_phase_timeout, is_aftersale, reason, price, pay_account, pay_no, remark, total_amount, spec_no, spec_id, goods_no, goods_id",
            "p.yaml:9:34: error: unknown variable 'nope' [pipeline.unknown_variable]\n  note: declare it under 'variables:'",
            "p.yaml:10:37: error: unsupported date token 'QQ' in 'yyyy-QQ-dd'; use yyyy, MM, M, dd, d, HH, H, hh, h, a, mm, ss, SSS, XXX (or the whole format epochMillis or epochSeconds, for Unix time) [pipeline.bad_date_format]",
            "p.yaml:11:25: error: a condition needs exactly one test: equals, notEquals, in, notIn, empty or matches [pipeline.wrong_type]",
        ])
        // A misspelt test is one error, with the suggestion.
        let misspelt = Self.minimal + "\n  type: { when: [ { if: { field: c, equal: d }, value: 1 } ], value: 4 }"
        #expect(errors(misspelt, variables: ["shop_no": "S"]).map { $0.components(separatedBy: "\n").prefix(2).joined(separator: " | ") } == [
            "p.yaml:9:37: error: unknown key 'equal' in a condition [pipeline.unknown_key] |   note: did you mean 'equals'?"
        ])
    }

    @Test func requiredVariablesAndUnknownSets() {
        #expect(errors(Self.minimal) == [
            "p.yaml:3:3: error: variable 'shop_no' has no value [pipeline.missing_variable]\n  note: pass it on the command line: --set shop_no=VALUE"
        ])
        #expect(errors(Self.minimal, variables: ["shop_no": "S", "shopno": "x"]).first?.contains("did you mean 'shop_no'?") == true)
    }

    @Test func wrongTypesAndSyntax() {
        #expect(errors("version: one\nreader: csv\nfields: {}") == [
            "p.yaml:1:10: error: 'version' must be a whole number in 1...1000, not 'one' [pipeline.wrong_type]"
        ])
        #expect(errors("version: 1\nfields: [a, b]\nreader: csv").first == "p.yaml:2:9: error: 'fields' must be a mapping (key: value) [pipeline.wrong_type]")
        #expect(errors("version: 1\nfields: {\n").first?.hasPrefix("p.yaml:3:1: error: YAML syntax:") == true)
        #expect(errors("version: 1\nversion: 2\n").first?.contains("duplicate key 'version'") == true)
        #expect(errors("version: 2\nreader: csv\nfields: { tid: a }").first == "p.yaml:1:10: error: pipeline version 2 is not supported; this RefundFlow reads version 1 [pipeline.unsupported_version]")
    }

    @Test func aPipelineSavedAsGBKSaysWhereAndHowToConvertIt() throws {
        let path = try Fixtures.temporaryDirectory() + "/p.yaml"
        // "version: 1\nfields:\n  refund_no: 退款编号" with 退款 in GBK.
        try Fixtures.write(Array("version: 1\nfields:\n  refund_no: ".utf8) + [0xCD, 0xCB, 0xBF, 0xEE] + Array("编号\n".utf8), to: path)
        let error = #expect(throws: DiagnosticList.self) { try PipelineLoader.load(path: path) }
        #expect(error?.diagnostics.map(\.description) == [
            "\(path):3:14: error: pipeline file '\(path)' is not UTF-8 (byte offset 32) [pipeline.encoding]\n  note: save it as UTF-8 (an editor's \"ANSI\" on Chinese Windows is GBK), or convert it: iconv -f GBK -t UTF-8 '\(path)' > pipeline-utf8.yaml"
        ])
    }

    @Test func aTimeZoneAbbreviationIsRefusedAndAnIANANameTaken() {
        let yaml = Self.minimal + "\n  refund_time: { from: 时间, timeZone: ZONE }\ntimeZone: ZONE\n"
        #expect(errors(yaml.replacingOccurrences(of: "ZONE", with: "CST"), variables: ["shop_no": "S"]) == [
            "p.yaml:10:11: error: 'CST' in 'timeZone' is an abbreviation, which names different zones in different places [pipeline.ambiguous_time_zone]\n  note: CST is US Central time (UTC−6) here, not China Standard Time; use an IANA name such as Asia/Shanghai (Beijing time) or UTC",
            "p.yaml:9:38: error: 'CST' in 'timeZone' is an abbreviation, which names different zones in different places [pipeline.ambiguous_time_zone]\n  note: CST is US Central time (UTC−6) here, not China Standard Time; use an IANA name such as Asia/Shanghai (Beijing time) or UTC",
        ])
        #expect(errors(yaml.replacingOccurrences(of: "ZONE", with: "IST"), variables: ["shop_no": "S"]).count == 2)
        #expect(errors(yaml.replacingOccurrences(of: "ZONE", with: "Beijing"), variables: ["shop_no": "S"]).first?.contains("[pipeline.unknown_time_zone]") == true)
        for zone in ["Asia/Shanghai", "UTC", "GMT", "PRC", "GMT+8", "Etc/GMT-8"] {
            #expect(errors(yaml.replacingOccurrences(of: "ZONE", with: zone), variables: ["shop_no": "S"]) == [], "\(zone)")
        }
    }

    @Test func aConstantTheFieldCannotHoldIsAPipelineError() {
        let yaml = """
            version: 1
            variables:
              refused: { default: "7" }
              shop: { required: true }
            reader: { csv: {} }
            target:
              wdt-qjb-raw-refund: { shopNo: S }
            fields:
              num: { from: a, default: 1.5.5 }
              status: { from: s, map: { x: 9, y: "${refused}", z: "${shop}" }, mapDefault: "+2" }
              type: { when: [ { if: { field: c, equals: d }, value: 1 } ], value: 4 }
              refund_amount: { value: "12.34567" }
              price: { value: "￥1,299.00" }
              buyer_nick: { from: b, default: "\(String(repeating: "买", count: 101))" }
            """
        let found = errors(yaml, requireVariables: false).map { $0.replacingOccurrences(of: String(repeating: "买", count: 101), with: "买…") }
        #expect(found == [
            "p.yaml:9:28: error: 'default' of field 'num': '1.5.5' is not an exact decimal number; every row it applies to would be rejected [pipeline.bad_value]",
            "p.yaml:10:32: error: the map value for 'x' of field 'status': '9' is not one of 1–5; every row it applies to would be rejected [pipeline.bad_value]",
            "p.yaml:10:38: error: the map value for 'y' of field 'status': '7' is not one of 1–5; every row it applies to would be rejected [pipeline.bad_value]",
            "p.yaml:10:80: error: 'mapDefault' of field 'status': '+2' is not one of 1–5; every row it applies to would be rejected [pipeline.bad_value]",
            "p.yaml:12:27: error: 'value' of field 'refund_amount': '12.34567' has more than 4 decimal places (Decimal(19,4)); every row it applies to would be rejected [pipeline.bad_value]",
            "p.yaml:14:35: error: 'default' of field 'buyer_nick': '买…' is 101 characters long; the ERP allows at most 100; every row it applies to would be rejected [pipeline.bad_value]",
        ])
        // Length in Unicode scalars, as the validator counts: 60 accented letters written with a
        // combining accent are 120.
        let accented = yaml.replacingOccurrences(of: String(repeating: "买", count: 101), with: String(repeating: "e\u{301}", count: 60))
        #expect(errors(accented, requireVariables: false).contains { $0.contains("'default' of field 'buyer_nick'") && $0.contains("is 120 characters long") })
        // The variable with no value (lint without --set) is not checked; given, it is.
        #expect(errors(yaml, variables: ["shop": "3", "refused": "2"]).count == 5)
        #expect(errors(yaml, variables: ["shop": "x", "refused": "2"]).contains { $0.contains("the map value for 'z' of field 'status': 'x'") })
    }

    /// `mapDefault` and `unmappedHint` act only through a `map`; without one they would be
    /// ignored, and a hint beside a `mapDefault` would never be shown.
    @Test func optionsOfAMapNeedAMap() {
        let yaml = """
            version: 1
            reader: { csv: {} }
            target:
              wdt-qjb-raw-refund: { shopNo: S }
            fields:
              status: { from: s, mapDefault: 2 }
              type: { from: t, unmappedHint: "say what the values mean" }
              is_aftersale: { from: a, map: { x: 1 }, mapDefault: 0, unmappedHint: "never shown" }
              refund_time: { from: r, map: { x: "2024-01-01 00:00:00" }, unmappedHint: "shown" }
            """
        #expect(errors(yaml) == [
            "p.yaml:6:22: error: 'mapDefault' of field 'status' applies only to a field with a 'map' [pipeline.wrong_option]",
            "p.yaml:7:20: error: 'unmappedHint' of field 'type' applies only to a field with a 'map' [pipeline.wrong_option]",
            "p.yaml:8:58: error: 'unmappedHint' of field 'is_aftersale' is never shown: its 'mapDefault' maps every value the 'map' lacks [pipeline.conflict]",
        ])
    }

    @Test func theBundledPipelinesLint() throws {
        let path = Fixtures.packageRoot + "/pipelines/taobao-seller-refunds-csv.yaml"
        let definition = try PipelineLoader.load(path: path, requireVariables: false)
        _ = try Pipeline(definition)
        #expect(definition.sha256.count == 64)
        #expect(definition.resolvedVariables["refused_status"] == "2")
    }
}

struct DiagnosticRenderingTests {
    /// A value quoted from a multi-line cell keeps the diagnostic on its line: `\n` is shown, and
    /// notes stay one per line.
    @Test func aLineBreakInAMessageIsShownNotBroken() {
        let diagnostic = Diagnostic(
            code: "unknown_value", message: "status: '退款\r\n成功' is not a known value", location: SourceLocation(file: "a.csv", line: 3, column: 7),
            notes: ["add it\nto the map"])
        #expect(diagnostic.description == "a.csv:3:7: error: status: '退款\\r\\n成功' is not a known value [unknown_value]\n  note: add it\\nto the map")
    }
}
