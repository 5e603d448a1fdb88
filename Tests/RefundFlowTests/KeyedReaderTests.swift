import Foundation
import Testing

@testable import RefundFlow

/// Reads text with a keyed reader (JSON or XML) and collects what it delivers.
func readKeyed(
    _ text: String, reader: some RecordReader, fields: [String], fileName: String = "input"
) throws -> (rows: [CollectedRow], summary: ReadSummary) {
    let directory = try Fixtures.temporaryDirectory()
    let path = directory + "/" + fileName
    try Fixtures.write(text, to: path)
    var collector = Collector(slots: fields.count)
    let summary = try reader.read(InputFile(path: path), fieldNames: fields, into: &collector)
    return (collector.rows, summary)
}

func jsonReader(_ shape: JSONReaderOptions.Shape = .auto, path: String = "") -> JSONReader {
    var options = JSONReaderOptions()
    options.shape = shape
    options.recordPath = path.split(separator: "/").map(String.init)
    return JSONReader(options: options)
}

func xmlReader(_ path: String) -> XMLReader {
    var options = XMLReaderOptions()
    options.recordPath = path.split(separator: "/").map(String.init)
    return XMLReader(options: options)
}

struct JSONReaderTests {
    @Test func readsATopLevelArrayKeepingNumbersExactly() throws {
        let text = """
            [
              {"refund_id": 146535512261065, "tid": "3050123456789012345", "refund_fee": 19.9, "ok": true, "gone": null},
              {"refund_id": "146535512261066", "tid": 3050123456789012347, "refund_fee": "252.77", "ok": false, "x": {"y": [1, {"z": "deep"}]}}
            ]
            """
        let result = try readKeyed(text, reader: jsonReader(), fields: ["refund_id", "tid", "refund_fee", "ok", "gone", "x/y/1/z"])
        #expect(result.rows.map(\.values) == [
            ["146535512261065", "3050123456789012345", "19.9", "true", nil, nil],
            ["146535512261066", "3050123456789012347", "252.77", "false", nil, "deep"],
        ])
        #expect(result.rows.map(\.line) == [2, 3])
        #expect(result.summary.records == 2)
    }

    @Test func readsRecordsAtAPathAndASingleObjectIsOneRecord() throws {
        let many = #"{"refunds_receive_get_response":{"total_results":2,"refunds":{"refund":[{"a":"1"},{"a":"2"}]},"request_id":"x"}}"#
        let path = "refunds_receive_get_response/refunds/refund"
        #expect(try readKeyed(many, reader: jsonReader(path: path), fields: ["a"]).rows.map(\.values) == [["1"], ["2"]])
        let one = #"{"refunds_receive_get_response":{"refunds":{"refund":{"a":"only"}}}}"#
        #expect(try readKeyed(one, reader: jsonReader(path: path), fields: ["a"]).rows.map(\.values) == [["only"]])
        #expect(throws: Diagnostic.self) { try readKeyed(#"{"other":{}}"#, reader: jsonReader(path: path), fields: ["a"]) }
    }

    @Test func theRootKeyPicksOneOfSeveralRecordPaths() throws {
        var options = JSONReaderOptions()
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"], ["refund_get_response", "refund"]]
        let reader = JSONReader(options: options)
        let detail = #"{"refund_get_response":{"refund":{"refund_id":146535512261065,"num":2},"request_id":"r"}}"#
        #expect(try readKeyed(detail, reader: reader, fields: ["refund_id", "num"]).rows.map(\.values) == [["146535512261065", "2"]])
        let list = #"{"refunds_receive_get_response":{"refunds":{"refund":[{"refund_id":1},{"refund_id":2}]}}}"#
        #expect(try readKeyed(list, reader: reader, fields: ["refund_id"]).rows.map(\.values) == [["1"], ["2"]])
        let error = #expect(throws: Diagnostic.self) {
            try readKeyed(#"{"refunds_apply_get_response":{"refunds":{}}}"#, reader: reader, fields: [])
        }
        #expect(error?.code == "input.no_records_path")
        #expect(error?.message.hasSuffix("has 'refunds_apply_get_response' at its root; the pipeline reads records at 'refunds_receive_get_response/refunds/refund' or 'refund_get_response/refund'; no records were read") == true)
    }

    @Test func anArrayIsReadAsRecordsEvenWhereAResponseWasExpected() throws {
        let reader = jsonReader(path: "refunds_receive_get_response/refunds/refund")
        let result = try readKeyed("\u{FEFF} [{\"a\":\"1\"},\n{\"a\":\"2\"}]", reader: reader, fields: ["a"])
        #expect(result.rows.map(\.values) == [["1"], ["2"]])
        #expect(result.rows.map(\.line) == [1, 2])
    }

    @Test func anArrayOfResponsesIsReadPageByPageWithEachRecordsText() throws {
        // A script that collects each page's response into one array: the records of each page
        // are read (with their text, for the re-feed file); an element that is a record is one;
        // a later error response is a missing page, with no text to write back.
        let reader = jsonReader(path: "refunds_receive_get_response/refunds/refund")
        let text = """
            [
              {
                "refunds_receive_get_response": {"refunds": {"refund": [{"refund_id": 1}, {"refund_id": 2}]}, "total_results": 3}
              },
              {"refund_id": 3},
              {"refunds_receive_get_response": {"total_results": 3}},
              {"error_response": {"code": 7, "msg": "App Call Limited"}}
            ]
            """
        let result = try readKeyed(text, reader: reader, fields: ["refund_id"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], ["3"], [nil]])
        #expect(result.rows.map(\.line) == [3, 3, 5, 7])
        #expect(result.rows.map(\.source) == [#"{"refund_id": 1}"#, #"{"refund_id": 2}"#, #"{"refund_id": 3}"#, nil])
        #expect(result.rows[3].problems.first?.message.hasPrefix("a TOP error response, not refunds: code 7 App Call Limited") == true)
        #expect(result.summary.notes == ["'\(result.summary.file.path)': the array holds 2 responses (pages saved into one array), 1 of them with no records; the records of each were read"])
        #expect(result.summary.truncated?.contains("line 7 is a TOP error response") == true)
    }

    @Test func anArrayOfResponsesBrokenInAPageKeepsThatPagesRecordsBeforeTheBreak() throws {
        let reader = jsonReader(path: "refunds_receive_get_response/refunds/refund")
        let text = #"[{"refunds_receive_get_response":{"refunds":{"refund":[{"refund_id":1},{"refund_id":2},{"refund_id":"#
        let result = try readKeyed(text, reader: reader, fields: ["refund_id"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], [nil]])
        #expect(result.rows[2].problems.first?.message.hasPrefix("invalid JSON") == true)
        #expect(result.summary.truncated != nil)
    }

    /// A response one level down — under a middleware's `data`, or pages in a list under one key —
    /// is read there, with its totals checked for missing pages, and a note says so; deeper, the
    /// error says which path to add. A path through a list reads each object in it.
    @Test func aResponseOneLevelDownIsReadThere() throws {
        let path = "refunds_receive_get_response/refunds/refund"
        func page(_ ids: [Int], total: Int) -> String {
            #"{"refunds_receive_get_response":{"refunds":{"refund":["# + ids.map { #"{"refund_id":\#($0)}"# }.joined(separator: ",")
                + #"]},"total_results":\#(total)}}"#
        }
        let middleware = try readKeyed(#"{"code":0,"msg":"ok","data":"# + page([1, 2], total: 2) + "}", reader: jsonReader(path: path), fields: ["refund_id"])
        #expect(middleware.rows.map(\.values) == [["1"], ["2"]])
        #expect(middleware.summary.notes == ["'\(middleware.summary.file.path)': the responses are under 'data' (one level down, alone or in a list) and were read there"])
        let pages = try readKeyed(#"{"pages":["# + page([1, 2], total: 4) + "," + page([3], total: 4) + "]}", reader: jsonReader(path: path), fields: ["refund_id"])
        #expect(pages.rows.map(\.values) == [["1"], ["2"], ["3"]])
        var paging = ResponsePaging()
        paging.merge(pages.summary.paging, file: "f")
        #expect(paging.warning?.contains("total_results 4, but the run read 3 records") == true)
        // Simplified JSON under a wrapper too, its totals before the list.
        var both = JSONReaderOptions()
        both.recordPaths = [path.split(separator: "/").map(String.init), ["refunds"]]
        let simplified = try readKeyed(#"{"data":{"total_results":2,"refunds":[{"refund_id":7}]}}"#, reader: JSONReader(options: both), fields: ["refund_id"])
        #expect(simplified.rows.map(\.values) == [["7"]])
        var simplifiedPaging = ResponsePaging()
        simplifiedPaging.merge(simplified.summary.paging, file: "f")
        #expect(simplifiedPaging.warning?.contains("total_results 2, but the run read 1 record") == true)
        // Deeper: the error's note names the path to add, and that path (through the list) reads it.
        let deep = #"{"export":{"pages":["# + page([1], total: 1) + "]}}"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(deep, reader: jsonReader(path: path), fields: []) }
        #expect(error?.notes.last == "a response is read at the top, or one level down (under a key such as 'export', alone or in a list); if it is deeper, add its whole path to recordPath ('export/…/\(path)')")
        #expect(error?.notes.contains { $0.contains("shape: lines") } == false)
        #expect(try readKeyed(deep, reader: jsonReader(path: "export/pages/" + path), fields: ["refund_id"]).rows.map(\.values) == [["1"]])
    }

    /// A response whose records sit off the record path (`refunds_receive_get_response/refund`,
    /// without `refunds`) is never "no records": a file that is one stops with where they are and
    /// the path to add; a page or line that is one is a reject saying so, and the rest are read.
    @Test func recordsOffTheRecordPathAreNamedNotZero() throws {
        let path = "refunds_receive_get_response/refunds/refund"
        let flat = #"{"refunds_receive_get_response":{"refund":[{"refund_id":1}],"total_results":1}}"#
        let good = #"{"refunds_receive_get_response":{"refunds":{"refund":[{"refund_id":2}]},"total_results":1}}"#
        let message = "has 'refund' at 'refunds_receive_get_response/refund', not at the record path '\(path)'; its records were not read"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(flat, reader: jsonReader(path: path), fields: ["refund_id"]) }
        #expect(error?.message.hasSuffix(message) == true)
        #expect(error?.notes == ["if those are the records, add 'refunds_receive_get_response/refund' to the pipeline's recordPath (a list may hold both paths)"])
        let xml = "<refunds_receive_get_response><refund><refund_id>1</refund_id></refund></refunds_receive_get_response>"
        let xmlError = #expect(throws: Diagnostic.self) { try readKeyed(xml, reader: xmlReader(path), fields: ["refund_id"]) }
        #expect(xmlError?.message.hasSuffix(message) == true)
        // Pages and lines: a reject each, the others read.
        let array = try readKeyed("[" + flat + "," + good + "]", reader: jsonReader(path: path), fields: ["refund_id"])
        #expect(array.rows.map(\.values) == [[nil], ["2"]])
        #expect(array.rows[0].problems.first?.message == "the response " + message)
        let lines = try readKeyed(flat + "\n" + good + "\n", reader: jsonReader(.lines, path: path), fields: ["refund_id"])
        #expect(lines.rows.map(\.values) == [[nil], ["2"]])
        #expect(lines.rows[0].problems.first?.message == "the response " + message)
        #expect(lines.rows[0].source == flat)
        let pages = try readKeyed(
            "<?xml version=\"1.0\"?>" + xml.replacingOccurrences(of: "<refund>", with: "<refunds><refund>").replacingOccurrences(of: "</refund>", with: "</refund></refunds>")
                + "\n<?xml version=\"1.0\"?>" + xml, reader: xmlReader(path), fields: ["refund_id"])
        #expect(pages.rows.map(\.values) == [["1"], [nil]])
        #expect(pages.rows[1].problems.first?.message == "the XML document starting here " + message)
        // Or in the records' list under another name: named so too.
        let item = "has 'item' at 'refunds_receive_get_response/refunds/item', not at the record path '\(path)'; its records were not read"
        let itemJSON = #"{"refunds_receive_get_response":{"refunds":{"item":[{"refund_id":1}]},"total_results":1}}"#
        #expect((#expect(throws: Diagnostic.self) { try readKeyed(itemJSON, reader: jsonReader(path: path), fields: []) })?.message.hasSuffix(item) == true)
        let itemXML = "<refunds_receive_get_response><refunds><item><refund_id>1</refund_id></item></refunds></refunds_receive_get_response>"
        #expect((#expect(throws: Diagnostic.self) { try readKeyed(itemXML, reader: xmlReader(path), fields: []) })?.message.hasSuffix(item) == true)
        let itemLine = try readKeyed(itemJSON + "\n", reader: jsonReader(.lines, path: path), fields: ["refund_id"])
        #expect(itemLine.rows.first?.problems.first?.message == "the response " + item)
        // A response whose list is empty, or whose own keys sit beside the record (refund.get), has no records and says only that.
        #expect(try readKeyed(#"{"refunds_receive_get_response":{"refunds":{"refund":[]},"total_results":0}}"#, reader: jsonReader(path: path), fields: []).rows.isEmpty)
        var detail = JSONReaderOptions()
        detail.recordPaths = [["refund_get_response", "refund"]]
        #expect(try readKeyed(#"{"refund_get_response":{"request_id":"x"}}"#, reader: JSONReader(options: detail), fields: []).rows.isEmpty)
    }

    @Test func recordsWhereAResponseWasExpectedPointAtJSONLines() throws {
        let reader = jsonReader(path: "refunds_receive_get_response/refunds/refund")
        let error = #expect(throws: Diagnostic.self) { try readKeyed(#"{"refund_id":1}"# + "\n" + #"{"refund_id":2}"#, reader: reader, fields: []) }
        #expect(error?.message.hasSuffix("has 'refund_id' at its root; the pipeline reads records at 'refunds_receive_get_response/refunds/refund'; no records were read") == true)
        #expect(error?.notes.first?.contains("shape: lines") == true)
        let lines = try readKeyed(#"[{"a":1}]"#, reader: jsonReader(.lines), fields: ["a"])
        #expect(lines.rows.first?.problems.first?.message.contains("not an array (a file of JSON arrays, one or several one after another or one per line, needs the reader's shape: array or auto, as pipelines/taobao-top-refunds-json.yaml has)") == true)
    }

    /// Objects written over several lines each (`jq` without -c, Python's indent=2), refunds or
    /// whole responses, read like JSON Lines: each object one record (or a response's records),
    /// with the line where it starts; a bad one is a reject and the next ones are read.
    @Test(arguments: [3, 64, 1 << 20])
    func prettyPrintedObjectsOneAfterAnotherAreReadLikeLines(chunkSize: Int) throws {
        let text = """
            {
              "a": "1",
              "b": {"c": "x"}
            }
            {
              "a": "2\\q"
            }

            {"refunds_receive_get_response": {
              "refunds": {"refund": [{"a": "3"}, {"a": "4"}]}}}
            {
              "a": "5"
            }
            """
        var options = JSONReaderOptions()
        options.shape = .lines
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"]]
        options.chunkSize = chunkSize
        let result = try readKeyed(text, reader: JSONReader(options: options), fields: ["a", "b/c"])
        #expect(result.rows.map(\.values) == [["1", "x"], [nil, nil], ["3", nil], ["4", nil], ["5", nil]])
        #expect(result.rows.map(\.line) == [1, 5, 9, 9, 11])
        #expect(result.rows[1].problems.first?.message.contains("invalid JSON") == true)
        #expect(result.rows[1].problems.first?.location.line == 6)
        #expect(result.summary.truncated == nil)
        #expect(result.summary.notes.contains { $0.hasSuffix("4 JSON objects written over several lines each (pretty-printed, as jq writes them), read one after another") })
        let broken = try readKeyed("{\n  \"a\": \"1\"\n}\n{\n  \"a\": \n", reader: jsonReader(.lines), fields: ["a"])
        #expect(broken.rows.first?.values == ["1"])
        #expect(broken.summary.truncated != nil)
    }

    @Test func aBadLineCountsAsOneRecordInTheOrdinals() throws {
        let lines = try readKeyed("{\"a\":\n{\"a\":\"2\"}\n[1]\n{\"a\":\"4\"}", reader: jsonReader(.lines), fields: ["a"])
        #expect(lines.rows.map(\.record) == [1, 2, 3, 4])
        #expect(lines.summary.records == 4)
        let array = try readKeyed(#"[{"a":"1"},{"a":"\x"},{"a":"3"}]"#, reader: jsonReader(.array), fields: ["a"])
        #expect(array.rows.map(\.record) == [1, 2, 3])
        #expect(array.rows[1].problems.first?.code == .malformed)
    }

    @Test func jsonLinesMayHoldWholeResponsesWhoseRecordsAreTakenFromThePaths() throws {
        var options = JSONReaderOptions()
        options.shape = .lines
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"], ["refund_get_response", "refund"]]
        let text = [
            #"{"refund_id":1,"sku":{"id":"s1"}}"#,
            #"{"refund_get_response":{"refund":{"refund_id":2,"sku":{"id":"s2"}},"request_id":"r"}}"#,
            #" {"refunds_receive_get_response":{"total_results":2,"refunds":{"refund":[{"refund_id":3},{"refund_id":4,"sku":{"id":"s4"}}]}}}"#,
            #"{"refunds_receive_get_response":{"total_results":0}}"#,
            #"{"refund_get_response":{"refund":{"refund_id":5,"refund_id":6}}}"#,
            #"{"refund_get_response":{"refund":{"refund_id":7}"#,
        ].joined(separator: "\n")
        let result = try readKeyed(text, reader: JSONReader(options: options), fields: ["refund_id", "sku/id"])
        #expect(result.rows.map(\.values) == [["1", "s1"], ["2", "s2"], ["3", nil], ["4", "s4"], ["5", nil], [nil, nil]])
        #expect(result.rows.map(\.line) == [1, 2, 3, 3, 5, 6])
        #expect(result.rows[4].problems.first?.message.hasPrefix("'refund_id' appears twice") == true)
        #expect(result.rows[5].problems.first?.message.hasPrefix("invalid JSON") == true)
        #expect(result.rows.map(\.record) == [1, 2, 3, 4, 5, 6])
        #expect(result.summary.records == 6)
        #expect(result.summary.notes == ["'\(result.summary.file.path)': 1 line is a response with no records in it"])
    }

    /// A line that holds its response under a key (a middleware's `{"code":0,"data":{…}}`) gives
    /// that response's records, each with its own text and with the ordinals unbroken, its
    /// totals counted; a line that is neither a response nor holds one stays a record.
    @Test func jsonLinesMayHoldAResponseOneLevelDown() throws {
        var options = JSONReaderOptions()
        options.shape = .lines
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"], ["refund"]]
        let text = [
            #"{"refund_id":1}"#,
            #"{"code":0,"data":{"refunds_receive_get_response":{"total_results":5,"refunds":{"refund":[{"refund_id":2},{"refund_id":3}]}}}}"#,
            #"{"code":0,"data":{"refund":{"refund_id":4}}}"#,
            #"{"code":0,"msg":"ok"}"#,
        ].joined(separator: "\n")
        let result = try readKeyed(text, reader: JSONReader(options: options), fields: ["refund_id"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], ["3"], ["4"], [nil]])
        #expect(result.rows.map(\.record) == [1, 2, 3, 4, 5])
        #expect(result.rows.map(\.line) == [1, 2, 2, 3, 4])
        #expect(result.rows.map(\.source) == [#"{"refund_id":1}"#, #"{"refund_id":2}"#, #"{"refund_id":3}"#, #"{"refund_id":4}"#, #"{"code":0,"msg":"ok"}"#])
        #expect(result.summary.notes == ["'\(result.summary.file.path)': 2 lines hold a response under 'data' (one level down), read there"])
        var paging = ResponsePaging()
        paging.merge(result.summary.paging, file: "f")
        #expect(paging.warning?.contains("total_results 5, but the run read 3 records") == true)
        // A wrapped detail response without its refund is a response with no records, not records off the path.
        var detail = JSONReaderOptions()
        detail.shape = .lines
        detail.recordPaths = [["refund_get_response", "refund"]]
        let empty = try readKeyed(#"{"code":0,"data":{"refund_get_response":{"request_id":"x"}}}"# + "\n", reader: JSONReader(options: detail), fields: ["refund_id"])
        #expect(empty.rows.isEmpty)
        #expect(empty.summary.notes.first == "'\(empty.summary.file.path)': 1 line is a response with no records in it")
    }

    @Test func recordsOfAResponseLineCarryTheirTextAndPrettyPrintedResponsesAreResponses() throws {
        var options = JSONReaderOptions()
        options.shape = .lines
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"], ["refund_get_response", "refund"]]
        let line = #"{"refunds_receive_get_response":{"refunds":{"refund":[{"refund_id":1}, {"refund_id":2,"sku":{"id":"s"}}]}}}"#
        let one = #"{"refund_get_response":{"refund":{"refund_id":3}}}"#
        let lines = try readKeyed(line + "\n" + one + "\n", reader: JSONReader(options: options), fields: ["refund_id"])
        #expect(lines.rows.map(\.source) == [#"{"refund_id":1}"#, #"{"refund_id":2,"sku":{"id":"s"}}"#, #"{"refund_id":3}"#])
        // Written over several lines each, as jq writes them: still responses (a line end after `{`).
        let pretty = "{\n  \"refunds_receive_get_response\": {\"refunds\": {\"refund\": [{\"refund_id\": 4}]}}\n}\n{\n  \"refund_id\": 5\n}\n"
        let result = try readKeyed(pretty, reader: JSONReader(options: options), fields: ["refund_id"])
        #expect(result.rows.map(\.values) == [["4"], ["5"]])
        // Re-fed as written: a re-feed file of them is read as pretty-printed objects again.
        #expect(result.rows.map(\.source) == [#"{"refund_id": 4}"#, "{\n  \"refund_id\": 5\n}"])
        #expect(result.rows.allSatisfy { $0.problems.isEmpty })
        // A `{` line followed by a record line (or by nothing) is a broken line of JSON Lines, not
        // the start of pretty-printed objects: it is a reject with its text, the next line a record
        // (so that a re-feed file that starts with such a line reads as it was written).
        for text in ["{\n{\"refund_id\":6}\n", "{\n"] {
            let broken = try readKeyed(text, reader: JSONReader(options: options), fields: ["refund_id"])
            #expect(broken.rows.map(\.source) == Array([#"{"#, #"{"refund_id":6}"#].prefix(text.count > 2 ? 2 : 1)))
            #expect(broken.rows.first?.problems.isEmpty == false)
        }
    }

    @Test func emptyElementsOfAResponsesRecordListAreRecordsNotNothing() throws {
        // {} and null in the list are records with no fields (rejected downstream as missing them).
        var options = JSONReaderOptions()
        options.shape = .lines
        options.recordPaths = [["refunds_receive_get_response", "refunds", "refund"]]
        let text = [
            #"{"refunds_receive_get_response":{"refunds":{"refund":[{},{"refund_id":2,"tags":[null,"t"]},null,{ }]}}}"#,
            #"{"refunds_receive_get_response":{"refunds":{"refund":[{"refund_id":5},{}]}}}"#,
            #"{"refunds_receive_get_response":{"refunds":{"refund":[]}}}"#,
        ].joined(separator: "\n")
        let result = try readKeyed(text, reader: JSONReader(options: options), fields: ["refund_id", "tags/1"])
        #expect(result.rows.map(\.values) == [[nil, nil], ["2", "t"], [nil, nil], [nil, nil], ["5", nil], [nil, nil]])
        #expect(result.rows.map(\.line) == [1, 1, 1, 1, 2, 2])
        #expect(result.rows.map(\.record) == [1, 2, 3, 4, 5, 6])
        #expect(result.rows.allSatisfy { $0.problems.isEmpty })
        #expect(result.summary.notes == ["'\(result.summary.file.path)': 1 line is a response with no records in it"])
    }

    @Test func anEmptyDocumentIsAnErrorAndEmptyJSONLinesAreNoRecords() throws {
        let path = "refunds_receive_get_response/refunds/refund"
        for reader in [xmlReader(path), jsonReader(path: path), jsonReader(.array)] as [any RecordReader] {
            #expect {
                _ = try readKeyed("", reader: reader, fields: ["a"])
            } throws: { error in
                let diagnostic = error as? Diagnostic
                return diagnostic?.code == "input.empty" && diagnostic?.message.hasSuffix("is empty (0 bytes)") == true
                    && diagnostic?.notes.first?.contains("not written completely") == true
            }
        }
        for reader in [jsonReader(.lines), jsonReader()] {
            let result = try readKeyed("", reader: reader, fields: ["a"])
            #expect(result.rows.isEmpty)
            #expect(result.summary.notes == ["'\(result.summary.file.path)' is empty (0 bytes): no records"])
        }
        // A small XML file is read whole through the first bytes taken ahead of libxml2.
        let text = "<r><refunds><refund><a>1</a></refund></refunds></r>"
        let small = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["a"])
        #expect(small.rows.map(\.values) == [["1"]])
        #expect(small.summary.bytes == text.utf8.count)
    }

    @Test func aFileOfAnotherFormatIsNamedAsOne() throws {
        let path = "refunds_receive_get_response/refunds/refund"
        let cases: [(String, any RecordReader, String)] = [
            ("订单编号,退款编号\n1,2\n", xmlReader(path), "looks like CSV, not XML: it starts with '订单编号,退款编号'"),
            ("\u{FEFF}订单编号\t退款编号\n1\t2\n", jsonReader(.lines), "looks like CSV, not JSON: it starts with '订单编号\t退款编号'"),
            ("<?xml version=\"1.0\"?><r/>", jsonReader(path: path), "looks like XML, not JSON: it starts with '<?xml version=\"1.0\"?><r/>'"),
            ("{'a': 1, 'b': None}\n", jsonReader(.lines), "looks like Python, not JSON: it starts with '{'a': 1, 'b': None}'"),
        ]
        for (text, reader, message) in cases {
            #expect {
                _ = try readKeyed(text, reader: reader, fields: ["a"])
            } throws: { error in
                let diagnostic = error as? Diagnostic
                return diagnostic?.code == "input.wrong_format" && diagnostic?.message.hasSuffix(message) == true
            }
        }
        // A JSON Lines file whose first line is broken JSON is still read line by line.
        let broken = try readKeyed("{\"a\":\n{\"a\":\"2\"}\n", reader: jsonReader(.lines), fields: ["a"])
        #expect(broken.rows.map(\.values) == [[nil], ["2"]])
        // Also when its start is mangled so that it no longer starts like JSON (it holds commas).
        let mangled = try readKeyed("null{\"a\":\"1\",\"b\":2}\n{\"a\":\"2\"}\n", reader: jsonReader(.lines), fields: ["a"])
        #expect(mangled.rows.map(\.values) == [[nil], ["2"]])
        #expect(mangled.rows[0].problems.first?.code == .malformed)
        // Or the tail of a record with no `{` left (a re-feed file of such lines starts so), or
        // a first line CSV-like in every way with objects on the lines after it.
        let tail = try readKeyed("123, \"b\": \"x\"}\n123, \"b\": \"y\"}\n", reader: jsonReader(.lines), fields: ["a"])
        #expect(tail.rows.map { $0.problems.first?.code } == [.malformed, .malformed])
        let commas = try readKeyed("1,2,3\n{\"a\":\"2\"}\n", reader: jsonReader(.lines), fields: ["a"])
        #expect(commas.rows.map(\.values) == [[nil], ["2"]])
    }

    /// What a script writes when it does not write JSON (Python's NaN, None, True, single quotes;
    /// JavaScript's undefined) is named in the record's malformed error, with what to do.
    @Test func valuesThatScriptsWriteInsteadOfJSONAreNamed() throws {
        let lines = [
            #"{"a": "1", "b": NaN}"#, #"{"a": "2", "b": -Infinity}"#, #"{"a": "3", "b": None}"#, #"{"a": "4", "b": True}"#,
            #"{"a": "5", "b": undefined}"#, #"{"a": "6", 'b': 1}"#, #"{"a": "7", "b": 'x'}"#, #"{"a": "8", "b": Nonesuch}"#, #"{"a": "9"}"#,
        ]
        let result = try readKeyed(lines.joined(separator: "\n") + "\n", reader: jsonReader(.lines), fields: ["a"])
        let messages = result.rows.map { $0.problems.first?.message ?? "" }
        #expect(messages[0].hasSuffix("NaN is not JSON (Python's json.dumps writes it for a float that is not a number, such as a pandas empty cell); the exporter should write null for no value"))
        #expect(messages[1].contains("-Infinity is not JSON"))
        #expect(messages[2].hasSuffix("None is Python, not JSON (the file was written with str() or print, not json.dumps): write it with json.dumps, which writes null"))
        #expect(messages[3].hasSuffix("which writes true"))
        #expect(messages[4].hasSuffix("undefined is JavaScript, not JSON; the exporter should write null for no value"))
        #expect(messages[5].hasPrefix("invalid JSON: expected a key in quotes: JSON strings are in double quotes"))
        #expect(messages[6].hasSuffix("write the file with json.dumps"))
        #expect(messages[7] == "invalid JSON: unexpected character; expected a value")
        #expect(messages[8].isEmpty && result.rows[8].values == ["9"])
    }

    @Test func theExpectedResponseWithoutRecordsIsZeroRecordsNotAnError() throws {
        let empty = #"{"refunds_receive_get_response":{"total_results":0,"request_id":"x"}}"#
        let result = try readKeyed(empty, reader: jsonReader(path: "refunds_receive_get_response/refunds/refund"), fields: ["a"])
        #expect(result.rows.isEmpty)
        #expect(result.summary.notes.first?.contains("no records in it") == true)
    }

    @Test func unescapesStringsStrictly() throws {
        let text = #"[{"s":"a\"b\\c\/d\n\u7eaf\ud83d\ude00"}]"#
        #expect(try readKeyed(text, reader: jsonReader(), fields: ["s"]).rows.first?.values == ["a\"b\\c/d\n纯😀"])
    }

    /// Bytes that are not UTF-8 inside a string reject that line with its position, whether the
    /// bad sequence stands alone or is cut short right before an escape; the rest continue.
    @Test func stringsThatAreNotUTF8RejectTheirLine() throws {
        let path = try Fixtures.temporaryDirectory() + "/bad.jsonl"
        var bytes = Array(#"{"a":"ok","b":"x"#.utf8) + [0xE4, 0xBD] + Array(#"\u00e9"}"#.utf8) + [0x0A]
        bytes += Array(#"{"a":"纯\u00e9","b":"😀"}"#.utf8) + [0x0A]
        bytes += Array(#"{"a":""#.utf8) + [0xFF] + Array(#""}"#.utf8) + [0x0A]
        bytes += Array(#"{"a":""#.utf8) + [0xB4, 0xBF, 0xC3, 0xDE] + Array(#""}"#.utf8) + [0x0A]  // 纯棉 in GBK
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        var collector = Collector(slots: 2)
        _ = try jsonReader(.lines).read(InputFile(path: path), fieldNames: ["a", "b"], into: &collector)
        let rows = collector.rows
        #expect(rows.count == 4)
        // GBK text (a Chinese Windows tool's file) is shown as such, with how to convert it.
        #expect(rows[3].problems.first?.message == "invalid JSON: a string holds bytes that are not UTF-8; read as GBK they are '纯棉': the file is GBK (GB18030), and JSON is UTF-8: convert it (iconv -f GB18030 -t UTF-8)")
        #expect(rows[2].problems.first?.message == "invalid JSON: a string holds bytes that are not UTF-8")
        #expect(rows[0].problems.first?.code == .malformed)
        #expect(rows[0].problems.first?.message.contains("not UTF-8") == true)
        #expect(rows[1].problems.isEmpty)
        #expect(rows[1].values == ["纯é", "😀"])
        #expect(rows[2].problems.first?.message.contains("not UTF-8") == true)
        #expect(rows[2].problems.first?.location.line == 3)
    }

    @Test func aBadJSONLinesLineIsRejectedAndTheRestContinue() throws {
        let text = "{\"a\":\"1\"}\n\n{\"a\": 2,}\n{\"a\":\"3\"}\r\n{\"a\":\"4\"} trailing\n"
        let result = try readKeyed(text, reader: jsonReader(.lines), fields: ["a"])
        #expect(result.rows.map(\.line) == [1, 3, 4, 5])
        #expect(result.rows[0].problems.isEmpty)
        #expect(result.rows[1].problems.first?.code == .malformed)
        #expect(result.rows[1].problems.first?.location == SourceLocation(file: result.summary.file.path, line: 3, column: 9))
        #expect(result.rows[1].raw == ["{\"a\": 2,}"])
        #expect(result.rows[2].values == ["3"])
        #expect(result.rows[3].problems.first?.message.contains("after the record") == true)
        #expect(result.summary.blankLines == 1)
        #expect(result.summary.truncated == nil)
    }

    /// A broken last line without a line end is a download cut off mid-record: rejected like any
    /// bad line, and the file is reported cut short. A whole last line without one is fine.
    @Test func aBrokenLastLineWithoutALineEndMeansTheFileWasCutShort() throws {
        let cut = try readKeyed("{\"a\":\"1\"}\n{\"a\":\"2\", \"b\": \"unfini", reader: jsonReader(.lines), fields: ["a"])
        #expect(cut.rows.map(\.line) == [1, 2])
        #expect(cut.rows[1].problems.first?.code == .malformed)
        #expect(cut.summary.truncated == "the file ends in the middle of line 2: its last line is not complete JSON and has no line end, so the file looks cut short; export or download it again")
        #expect(try readKeyed("{\"a\":\"1\"}\n{\"a\":\"2\"}", reader: jsonReader(.lines), fields: ["a"]).summary.truncated == nil)
    }

    @Test func invalidJSONInAnArrayKeepsWhatCameBeforeAndSaysWhere() throws {
        let text = "[\n{\"a\":\"1\"},\n{\"a\":\"2\"}\n{\"a\":\"3\"}]"
        let result = try readKeyed(text, reader: jsonReader(), fields: ["a"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], [nil]])
        #expect(result.rows[2].problems.first?.message.contains("expected ',' or ']'") == true)
        #expect(result.rows[2].line == 4)
        #expect(result.summary.truncated?.contains("line 4, column 1") == true)
        #expect(result.summary.bytes == text.utf8.count)
        // A trailing comma: one reject for the break, saying what is missing (no empty record
        // before it, which a re-feed file would have written back as nothing).
        let trailing = try readKeyed("[{\"a\":\"1\"},\n]", reader: jsonReader(), fields: ["a"])
        #expect(trailing.rows.map(\.values) == [["1"], [nil]])
        #expect(trailing.rows[1].problems.map(\.message) == ["invalid JSON: expected a value but found ']'; nothing after this point was read"])
        #expect(trailing.rows[1].source == nil)
        #expect(trailing.summary.truncated?.contains("line 2, column 1") == true)
    }

    /// A corrupt or hostile file cannot exhaust the stack: a record nested past the limit is a
    /// malformed reject (it crashed the run at ~50,000 levels before), the next line is read.
    @Test func nestingPastTheLimitRejectsTheRecordAndTheRestContinue() throws {
        func nested(_ depth: Int) -> String { #"{"a":"1","b":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}" }
        let text = nested(63) + "\n" + nested(200_000) + "\n" + #"{"a":"3"}"# + "\n"
        let result = try readKeyed(text, reader: jsonReader(.lines), fields: ["a"])
        #expect(result.rows.map(\.values) == [["1"], [nil], ["3"]])
        #expect(result.rows[0].problems.isEmpty)
        #expect(result.rows[1].problems.map(\.code) == [.malformed])
        #expect(result.rows[1].problems.first?.message.contains("nested more than 64 deep") == true)
        let document = #"{"r":{"refund":["# + nested(100_000) + "]}}"
        let inDocument = try readKeyed(document, reader: jsonReader(path: "r/refund"), fields: ["a"])
        #expect(inDocument.rows.first?.problems.first?.message.contains("nested more than 64 deep") == true)
    }

    @Test func aRecordThatIsNotAnObjectIsMalformed() throws {
        let result = try readKeyed(#"[{"a":"1"}, 7]"#, reader: jsonReader(), fields: ["a"])
        #expect(result.rows[1].problems.first?.message.contains("must be a JSON object") == true)
    }

    @Test func aTOPErrorResponseIsFatalAndShowsItsCodes() throws {
        let text = #"{"error_response":{"code":25,"msg":"Invalid signature","sub_code":"isv.invalid-signature","sub_msg":"签名错误","request_id":"1"}}"#
        let error = #expect(throws: Diagnostic.self) {
            try readKeyed(text, reader: jsonReader(path: "refunds_receive_get_response/refunds/refund"), fields: ["a"])
        }
        #expect(error?.code == "input.top_error_response")
        #expect(error?.message == "the file is a TOP error response, not data: code 25 Invalid signature (sub_code isv.invalid-signature: 签名错误)")
    }
}

extension JSONReaderTests {
    /// Tiny chunks put every token across a refill boundary: the rows must not change.
    @Test(arguments: [1, 2, 3, 7, 64])
    func readsTheSamplesAtEveryChunkBoundary(chunkSize: Int) throws {
        let fields = ["refund_id", "tid", "refund_fee", "desc", "title", "has_good_return", "refund_remind_timeout/timeout"]
        for (sample, shape, path) in [
            ("top-refunds.json", JSONReaderOptions.Shape.document, "refunds_receive_get_response/refunds/refund"),
            ("top-refunds.jsonl", .lines, ""),
        ] {
            let text = try Fixtures.read(Fixtures.packageRoot + "/pipelines/samples/" + sample)
            var options = JSONReaderOptions()
            options.shape = shape
            options.recordPath = path.split(separator: "/").map(String.init)
            let whole = try readKeyed(text, reader: JSONReader(options: options), fields: fields)
            options.chunkSize = chunkSize
            let chunked = try readKeyed(text, reader: JSONReader(options: options), fields: fields)
            #expect(chunked.rows.map(\.values) == whole.rows.map(\.values), "\(sample)")
            #expect(chunked.rows.map(\.line) == whole.rows.map(\.line), "\(sample)")
            #expect(chunked.summary.sha256 == whole.summary.sha256)
            #expect(whole.rows.count == 6)
        }
    }

    @Test func anErrorResponseLineInJSONLinesIsFatal() throws {
        let text = #"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count","sub_msg":"This ban will last for 2 more seconds"}}"# + "\n"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(text, reader: jsonReader(.lines), fields: ["a"]) }
        #expect(error?.code == "input.top_error_response")
        #expect(error?.notes.first?.contains("throttled") == true)
    }

    /// An error response after records (a paging script that wrote the error it got for one page
    /// and went on) is a reject standing for the missing page; the file is reported incomplete
    /// and the lines, elements or pages after it are still read.
    @Test func anErrorResponseAfterRecordsIsAMissingPage() throws {
        let error = #"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-access-count"}}"#
        let lines = try readKeyed(#"{"a":"1"}"# + "\n" + error + "\n" + #"{"a":"2"}"# + "\n", reader: jsonReader(.lines), fields: ["a"])
        let array = try readKeyed("[" + #"{"a":"1"}"# + ",\n" + error + ",\n" + #"{"a":"2"}"# + "]", reader: jsonReader(), fields: ["a"])
        let path = "refunds_receive_get_response/refunds/refund"
        let page = { (a: String) in #"{"refunds_receive_get_response":{"refunds":{"refund":[{"a":""# + a + #""}]}}}"# }
        let pages = try readKeyed(page("1") + "\n" + error + "\n" + page("2") + "\n", reader: jsonReader(path: path), fields: ["a"])
        for result in [lines, array, pages] {
            #expect(result.rows.map(\.values) == [["1"], [nil], ["2"]])
            #expect(result.rows.map(\.line) == [1, 2, 3])
            let problem = try #require(result.rows[1].problems.first)
            #expect(problem.code == .malformed)
            #expect(problem.message == "a TOP error response, not refunds: code 7 App Call Limited (sub_code accesscontrol.limited-by-app-access-count); the page of the export it stands for is missing")
            #expect(result.summary.truncated?.hasPrefix("line 2 is a TOP error response (code 7 App Call Limited") == true)
            #expect(result.summary.truncated?.hasSuffix("that page is missing from the export, the rest of the file was read; fetch the export again") == true)
        }
        #expect(pages.summary.notes.last?.hasSuffix("3 JSON documents one after another (pages saved into one file); each was read; 1 of them is a TOP error response (missing pages)") == true)
    }

    /// gzip JSON Lines and XML read like the plain files.
    @Test func gzipJSONAndXMLAreReadDecompressed() throws {
        let lines = "{\"a\":\"1\"}\n{\"a\":\"2\"}\n"
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(try Fixtures.gzip(Array(lines.utf8)), to: directory + "/r.jsonl.gz")
        var collector = Collector(slots: 1)
        let summary = try jsonReader(.lines).read(InputFile(path: directory + "/r.jsonl.gz"), fieldNames: ["a"], into: &collector)
        #expect(collector.rows.map(\.values) == [["1"], ["2"]])
        #expect(summary.encoding == "gzip, utf-8")
        let xml = #"<?xml version="1.0" ?><r><refunds><refund><tid>1</tid></refund><refund><tid>2</tid></refund></refunds></r>"#
        try Fixtures.write(try Fixtures.gzip(Array(xml.utf8)), to: directory + "/r.xml.gz")
        var xmlRows = Collector(slots: 1)
        let xmlSummary = try xmlReader("r/refunds/refund").read(InputFile(path: directory + "/r.xml.gz"), fieldNames: ["tid"], into: &xmlRows)
        #expect(xmlRows.rows.map(\.values) == [["1"], ["2"]])
        #expect(xmlSummary.encoding.hasPrefix("gzip, "))
    }

    /// JSON saved as UTF-16 with a byte-order mark (a Windows editor's "Unicode") is read converted.
    @Test func utf16JSONIsConverted() throws {
        let text = "[{\"a\": \"退款 😀\", \"b\": 19.9}]\n"
        let bytes: [UInt8] = [0xFF, 0xFE] + Array(text.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let path = try Fixtures.temporaryDirectory() + "/utf16.json"
        try Fixtures.write(bytes, to: path)
        var collector = Collector(slots: 2)
        let summary = try jsonReader().read(InputFile(path: path), fieldNames: ["a", "b"], into: &collector)
        #expect(collector.rows.map(\.values) == [["退款 😀", "19.9"]])
        #expect(summary.bytes == bytes.count)
        #expect(summary.encoding == "utf-16le (byte-order mark), converted to UTF-8")
    }

    /// Pages of a paged response saved one after another (pretty-printed or one per line), and
    /// arrays one after another: each is read, with a note.
    @Test func responsesAndArraysOneAfterAnotherAreEachRead() throws {
        let path = "refunds_receive_get_response/refunds/refund"
        let pages = """
            {"refunds_receive_get_response": {"refunds": {"refund": [{"a": "1"},
              {"a": "2"}]}}}
            {"refunds_receive_get_response": {"total_results": 0}}{"refunds_receive_get_response": {"refunds": {"refund": {"a": "3"}}}}
            """
        let result = try readKeyed(pages, reader: jsonReader(path: path), fields: ["a"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], ["3"]])
        #expect(result.rows.map(\.line) == [1, 2, 3])
        #expect(result.summary.truncated == nil)
        #expect(result.summary.notes == ["'\(result.summary.file.path)': 3 JSON documents one after another (pages saved into one file); each was read; 1 of them had no records"])

        let other = try readKeyed(#"{"refunds_receive_get_response":{"refunds":{"refund":[{"a":"1"}]}}}{"trades_sold_get_response":{}}{"refunds_receive_get_response":{"refunds":{"refund":[{"a":"2"}]}}}"#, reader: jsonReader(path: path), fields: ["a"])
        #expect(other.rows.map(\.values) == [["1"], [nil], ["2"]])
        #expect(other.rows[1].problems.first?.message.contains("has 'trades_sold_get_response' at its root, not a response the pipeline reads") == true)

        let arrays = try readKeyed("[{\"a\": \"1\"}]\n[]\n[{\"a\": \"2\"}]\n", reader: jsonReader(), fields: ["a"])
        #expect(arrays.rows.map(\.values) == [["1"], ["2"]])
        #expect(arrays.summary.notes.first?.contains("3 JSON arrays one after another") == true)
        // Anything else after the document is still invalid JSON.
        let trailing = try readKeyed(#"{"refunds_receive_get_response":{"refunds":{"refund":[{"a":"1"}]}}} x"#, reader: jsonReader(path: path), fields: ["a"])
        #expect(trailing.summary.truncated?.contains("unexpected text after the end of the JSON document") == true)
    }

}

struct XMLReaderTests {
    static let path = "refunds_receive_get_response/refunds/refund"

    @Test func readsTOPXMLWithEntitiesCDATAAndTheTrailingComment() throws {
        let text = """
            <?xml version="1.0" encoding="utf-8" ?><refunds_receive_get_response><refunds list="true">\r
            <refund><desc><![CDATA[a <b>\r
            c]]></desc><title>&quot;升级款&quot; &amp; &lt;礼盒&gt;</title><tid>3050123456789012345</tid><sid/><company_name></company_name><remind><timeout>2024-09-20 00:00:00</timeout></remind></refund>\r
            <refund><tid>2</tid></refund>\r
            </refunds><total_results>2</total_results></refunds_receive_get_response><!--top011184081134.na62-->
            """
        let result = try readKeyed(text, reader: xmlReader(Self.path), fields: ["desc", "title", "tid", "sid", "company_name", "remind/timeout"])
        #expect(result.rows.map(\.values) == [
            ["a <b>\nc", "\"升级款\" & <礼盒>", "3050123456789012345", nil, nil, "2024-09-20 00:00:00"],
            [nil, nil, "2", nil, nil, nil],
        ])
        #expect(result.rows.map(\.line) == [2, 4])
        #expect(result.summary.records == 2)
        #expect(result.summary.bytes == text.utf8.count)
        #expect(result.summary.sha256.count == 64)
    }

    /// libxml2's reader parses in 512-byte chunks: records well before the fault are delivered,
    /// and the message says up to where records were processed.
    @Test func attributesAreReadOnlyWhenAsked() throws {
        let text = #"<r><refunds list="true"><refund id="9"><sku code="A1">red</sku><empty flag="y"/></refund></refunds></r>"#
        let result = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["@id", "sku", "sku/@code", "empty/@flag", "empty"])
        #expect(result.rows.first?.values == ["9", "red", "A1", "y", nil])
        let plain = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["sku"])
        #expect(plain.rows.first?.raw == ["red"])
    }

    /// A self-closing record element is a record with nothing in it (its attributes still read).
    @Test func selfClosingRecordsAreRecords() throws {
        let text = #"<r><refunds><refund/><refund id="2"/><refund><tid>3</tid></refund></refunds></r>"#
        let result = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid", "@id"])
        #expect(result.rows.map(\.values) == [[nil, nil], [nil, "2"], ["3", nil]])
        #expect(result.summary.records == 3)
    }

    @Test func malformedXMLKeepsTheRecordsBeforeAndSaysWhere() throws {
        let good = (1...40).map { "<refund><tid>\($0)</tid><title>padding padding padding</title></refund>\n" }.joined()
        let text = "<r><refunds>\n" + good + "<refund><tid>41</tid></refnd>\n</refunds></r>"
        let result = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid"])
        let delivered = result.rows.filter(\.problems.isEmpty)
        #expect(delivered.count >= 30)
        #expect(delivered.map(\.values) == (1...delivered.count).map { [String($0)] })
        #expect(delivered.map(\.line) == (1...delivered.count).map { $0 + 1 })
        let problem = try #require(result.rows.last?.problems.first)
        #expect(problem.code == .malformed)
        #expect(problem.location.line == 42)
        #expect(problem.message.contains("malformed XML at line 42"))
        #expect(problem.message.contains("records up to the one ending at line \(delivered.count + 1) were processed"))
        #expect(result.summary.truncated != nil)
        #expect(result.summary.bytes == text.utf8.count)
    }

    /// libxml2 builds each record's tree in memory: a record past the limit stops the file (as in
    /// the other readers) instead of growing the process by ~25 times its bytes.
    @Test func aRecordLargerThanTheLimitIsRefusedBeforeItsTreeGrows() throws {
        var options = XMLReaderOptions()
        options.recordPath = ["r", "refunds", "refund"]
        options.maxRecordBytes = 1 << 20
        let small = (1...3).map { "<refund><tid>\($0)</tid></refund>\n" }.joined()
        let huge = "<refund><tid>4</tid>" + String(repeating: "<k>v</k>", count: 150_000) + "</refund>\n"
        let text = "<r><refunds>\n" + small + huge + "<refund><tid>5</tid></refund>\n</refunds></r>"
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(text, to: directory + "/in.xml")
        var collector = Collector(slots: 1)
        let error = #expect(throws: Diagnostic.self) {
            try XMLReader(options: options).read(InputFile(path: directory + "/in.xml"), fieldNames: ["tid"], into: &collector)
        }
        #expect(error?.code == "input.record_too_large")
        #expect(error?.message == "a record starting here is larger than 1 MiB")
        #expect(error?.location?.line == 5)
        #expect(collector.rows.map(\.values) == [["1"], ["2"], ["3"]])
        // Within the limit, the same record is read.
        options.maxRecordBytes = 4 << 20
        let read = try readKeyed(text, reader: XMLReader(options: options), fields: ["tid"])
        #expect(read.rows.map(\.values) == [["1"], ["2"], ["3"], ["4"], ["5"]])
    }

    @Test func nestingPastLibxml2sLimitSaysSoWithoutItsAdviceForProgrammers() throws {
        let deep = String(repeating: "<x>", count: 100_000) + String(repeating: "</x>", count: 100_000)
        let text = "<r><refunds><refund><tid>1</tid></refund><refund><tid>2</tid>" + deep + "</refund></refunds></r>"
        let result = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid"])
        let problem = try #require(result.rows.last?.problems.first)
        #expect(problem.code == .malformed)
        #expect(problem.message.contains(try Regex(#"elements nest more than [0-9]+ deep \(a refund record is a few levels deep\)"#)))
        #expect(!problem.message.contains("XML_PARSE_HUGE"))
        #expect(result.summary.truncated != nil)
    }

    /// Pretty-printed records (each one five lines, a value over two): every field keeps its
    /// line, and a later break names the line where the last good record ended.
    @Test func multiLineRecordsKeepTheirLinesUpToABreak() throws {
        let good = (1...40).map { "<refund>\n  <tid>\($0)</tid>\n  <desc>padding a\nb</desc>\n</refund>\n" }.joined()
        let text = "<r><refunds>\n" + good + "<refund>\n  <tid>41</tid>\n</refnd>\n</refunds></r>"
        let result = try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid", "desc"])
        let delivered = result.rows.filter(\.problems.isEmpty)
        #expect(delivered.count >= 30)
        #expect(delivered.map(\.values) == (1...delivered.count).map { [String($0), "padding a\nb"] })
        #expect(delivered.map(\.line) == (1...delivered.count).map { 2 + 5 * ($0 - 1) })
        let problem = try #require(result.rows.last?.problems.first)
        #expect(problem.code == .malformed)
        #expect(problem.message.contains("records up to the one ending at line \(6 + 5 * (delivered.count - 1)) were processed"))
    }

    /// Pages of a paged response appended to one file, separated by a line break or by nothing:
    /// each is read; lines count from the top of the file; a `<?xml` inside text is no page.
    @Test(arguments: [1, 2, 3, 5, 6, 7, 64, Int(Int32.max)])
    func pagesSavedOneAfterAnotherAreEachRead(readSize: Int) throws {
        let declaration = #"<?xml version="1.0" encoding="utf-8" ?>"#
        func page(_ tids: [Int]) -> String {
            declaration + "<refunds_receive_get_response><refunds>\n"
                + tids.map { "<refund><tid>\($0)</tid><desc>a <![CDATA[<?xml x]]> and <![CDATA[ <?xml ]]></desc></refund>\n" }.joined()
                + "</refunds></refunds_receive_get_response><!--top011184081134.na62-->"
        }
        let text = page([1, 2]) + "\n" + page([3]) + page([4]) + "\r\n\n" + page([])
        var reader = xmlReader(Self.path)
        reader.options.readSize = readSize
        let result = try readKeyed(text, reader: reader, fields: ["tid", "desc"])
        #expect(result.rows.map(\.values) == [1, 2, 3, 4].map { ["\($0)", "a <?xml x and  <?xml "] })
        #expect(result.rows.map(\.line) == [2, 3, 6, 8])
        #expect(result.rows.map(\.record) == [1, 2, 3, 4])
        #expect(result.rows.allSatisfy { $0.problems.isEmpty })
        #expect(result.summary.truncated == nil)
        #expect(result.summary.notes == ["'\(result.summary.file.path)': 4 XML documents one after another (pages saved into one file); each was read; 1 of them had no records"])
        #expect(result.summary.bytes == text.utf8.count)
    }

    /// A later document of another kind is a reject that names it, and the pages after it are
    /// read; a later broken one stops the file there, keeping the pages before it.
    @Test func aLaterDocumentOfAnotherKindIsARejectAndABrokenOneStopsTheFile() throws {
        let page = #"<?xml version="1.0" ?><refunds_receive_get_response><refunds><refund><tid>1</tid></refund></refunds></refunds_receive_get_response>"#
        let other = #"<?xml version="1.0" ?><trades_sold_get_response><trades/></trades_sold_get_response>"#
        let mixed = try readKeyed([page, other, page].joined(separator: "\n"), reader: xmlReader(Self.path), fields: ["tid"])
        #expect(mixed.rows.map(\.values) == [["1"], [nil], ["1"]])
        #expect(mixed.rows.map(\.line) == [1, 2, 3])
        let skipped = try #require(mixed.rows[1].problems.first)
        #expect(skipped.code == .malformed)
        #expect(skipped.message.contains("has 'trades_sold_get_response' at its root, not a response the pipeline reads"))
        #expect(mixed.summary.truncated == nil)

        let broken = try readKeyed(page + "\n" + page + "\n" + page.replacingOccurrences(of: "</refunds>", with: "</refundz>"), reader: xmlReader(Self.path), fields: ["tid"])
        #expect(broken.rows.filter(\.problems.isEmpty).map(\.line) == [1, 2])
        #expect(broken.rows.last?.problems.first?.location.line == 3)
        #expect(broken.summary.truncated?.contains("malformed XML at line 3") == true)
        #expect(broken.summary.notes.first?.contains("3 XML documents one after another (pages saved into one file); reading stopped in document 3, which is broken") == true)
    }

    /// A later page that is a TOP error response is a reject for the missing page; the pages after
    /// it are read and the file is reported incomplete.
    @Test func aLaterPageThatIsAnErrorResponseIsAMissingPage() throws {
        let page = { (tid: Int) in #"<?xml version="1.0" encoding="utf-8" ?><refunds_receive_get_response><refunds><refund><tid>"# + "\(tid)" + "</tid></refund></refunds></refunds_receive_get_response><!--top0-->" }
        let error = #"<?xml version="1.0" encoding="utf-8" ?><error_response><code>7</code><msg>App Call Limited</msg></error_response><!--top0-->"#
        let result = try readKeyed([page(1), error, page(2), error].joined(separator: "\n"), reader: xmlReader(Self.path), fields: ["tid"])
        #expect(result.rows.map(\.values) == [["1"], [nil], ["2"], [nil]])
        #expect(result.rows.map(\.line) == [1, 2, 3, 4])
        #expect(result.rows[1].problems.first?.message == "a TOP error response, not refunds: code 7 App Call Limited; the page of the export it stands for is missing")
        #expect(result.summary.truncated?.hasPrefix("2 TOP error responses where pages of refunds should be, the first: line 2 is a TOP error response (code 7 App Call Limited)") == true)
        #expect(result.summary.notes.last?.hasSuffix("4 XML documents one after another (pages saved into one file); each was read; 2 of them are TOP error responses (missing pages)") == true)
    }

    @Test func aTOPErrorResponseIsFatalAndShowsItsCodes() throws {
        let text = #"<?xml version="1.0" encoding="utf-8" ?><error_response><code>29</code><msg>Invalid app Key</msg><sub_code>isv.appkey-not-exists</sub_code><request_id>14sqam8deckzh</request_id></error_response><!--top010179080184.s.et2-->"#
        let error = #expect(throws: Diagnostic.self) { try readKeyed(text, reader: xmlReader(Self.path), fields: []) }
        #expect(error?.message == "the file is a TOP error response, not data: code 29 Invalid app Key (sub_code isv.appkey-not-exists)")
        #expect(error?.notes.first?.contains("app key") == true)
    }

    @Test func aDeclaredGBKDocumentIsConvertedAndNamedInTheSummary() throws {
        let nick: [UInt8] = [0xC2, 0xF2, 0xBC, 0xD2, 0xD2, 0xBB]  // 买家一 in GBK
        let bytes = Array(#"<?xml version="1.0" encoding="GBK"?>"#.utf8) + Array("\r\n<r><refund><nick>".utf8) + nick
            + Array("</nick></refund></r>".utf8)
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(bytes, to: directory + "/gbk.xml")
        var collector = Collector(slots: 1)
        let summary = try xmlReader("r/refund").read(InputFile(path: directory + "/gbk.xml"), fieldNames: ["nick"], into: &collector)
        #expect(collector.rows.map(\.values) == [["买家一"]])
        #expect(collector.rows.first?.line == 2)
        #expect(summary.encoding == "gbk (XML declaration)")
    }

    @Test func aReadFieldRepeatedWithAnotherValueIsAProblemNotAGuess() throws {
        let text = "<r><refund><title>A</title><title>B</title><n>1</n><x>1</x><x>2</x></refund><refund><n>2</n><n>2</n></refund></r>"
        let result = try readKeyed(text, reader: xmlReader("r/refund"), fields: ["title", "n"])
        #expect(result.rows.count == 2)
        let problem = try #require(result.rows[0].problems.first)
        #expect(result.rows[0].problems.count == 1)  // 'x' is not read: its repeats do not matter
        #expect(problem.code == .malformed)
        #expect(problem.message == "'title' appears twice in the record with different values ('A', then 'B'); RefundFlow does not guess which one is meant")
        #expect(result.rows[0].raw.contains("B"))
        #expect(result.rows[1].problems.isEmpty)  // the same value twice is harmless
        #expect(result.rows[1].values == [nil, "2"])
        let json = try readKeyed(#"{"title":"A","n":1,"title":"C"}"#, reader: jsonReader(.lines), fields: ["title"])
        #expect(json.rows.first?.problems.first?.message.hasPrefix("'title' appears twice in the record with different values ('A', then 'C')") == true)
    }

    @Test func anUndeclaredGBKDocumentIsBrokenWithWhatToDoOnOneLine() throws {
        let title: [UInt8] = [0xB1, 0xEA, 0xCC, 0xE2]  // 标题 in GBK
        let bytes = Array("<r><refund><n>1</n></refund>\n<refund><title>".utf8) + title + Array("</title></refund></r>".utf8)
        let directory = try Fixtures.temporaryDirectory()
        try Fixtures.write(bytes, to: directory + "/gbk.xml")
        var collector = Collector(slots: 1)
        let summary = try xmlReader("r/refund").read(InputFile(path: directory + "/gbk.xml"), fieldNames: ["n"], into: &collector)
        let message = try #require(collector.rows.last?.problems.first?.message)
        #expect(!message.contains("\n"))
        #expect(message.contains("encoding=\"GBK\"?>, or be converted: iconv -f GBK -t UTF-8"))
        #expect(summary.truncated == message)
    }

    @Test func theRootElementPicksOneOfSeveralRecordPaths() throws {
        var options = XMLReaderOptions()
        options.recordPaths = [Self.path.split(separator: "/").map(String.init), ["refund_get_response", "refund"]]
        let reader = XMLReader(options: options)
        let detail = #"<?xml version="1.0" encoding="utf-8" ?><refund_get_response><refund><refund_id>9</refund_id><num>2</num></refund></refund_get_response><!--top01-->"#
        #expect(try readKeyed(detail, reader: reader, fields: ["refund_id", "num"]).rows.map(\.values) == [["9", "2"]])
        let list = "<refunds_receive_get_response><refunds><refund><refund_id>1</refund_id></refund><refund><refund_id>2</refund_id></refund></refunds></refunds_receive_get_response>"
        #expect(try readKeyed(list, reader: reader, fields: ["refund_id"]).rows.map(\.values) == [["1"], ["2"]])
        // A record path of the other response does not match below this root: its records are
        // named where they are, not read as the root's path, and never "no records".
        let mixed = "<refund_get_response><refunds><refund><refund_id>1</refund_id></refund></refunds></refund_get_response>"
        let misplaced = #expect(throws: Diagnostic.self) { try readKeyed(mixed, reader: reader, fields: ["refund_id"]) }
        #expect(misplaced?.message.hasSuffix("has 'refund' at 'refund_get_response/refunds/refund', not at the record path 'refund_get_response/refund'; its records were not read") == true)
        let empty = try readKeyed("<refund_get_response><request_id>x</request_id></refund_get_response>", reader: reader, fields: ["refund_id"])
        #expect(empty.rows.isEmpty)
        #expect(empty.summary.notes == [RecordPaths.emptyNote(path: empty.summary.file.path, ["refund_get_response", "refund"])])
        let error = #expect(throws: Diagnostic.self) { try readKeyed("<refunds_apply_get_response/>", reader: reader, fields: []) }
        #expect(error?.message.hasSuffix("has 'refunds_apply_get_response' at its root; the pipeline reads records at 'refunds_receive_get_response/refunds/refund' or 'refund_get_response/refund'; no records were read") == true)
    }

    @Test func aMissingRecordPathIsNotZeroRecordsButAnError() throws {
        let error = #expect(throws: Diagnostic.self) { try readKeyed("<a><b/></a>", reader: xmlReader(Self.path), fields: []) }
        #expect(error?.code == "input.no_records_path")
        #expect(error?.message.contains("has 'a' at its root") == true)
        // Responses deeper than a child of the root: the note names the path that reads them, and it does.
        let deep = "<export><pages>" + [1, 2].map { "<refunds_receive_get_response><refunds><refund><refund_id>\($0)</refund_id></refund></refunds></refunds_receive_get_response>" }.joined() + "</pages></export>"
        let nested = #expect(throws: Diagnostic.self) { try readKeyed(deep, reader: xmlReader(Self.path), fields: []) }
        #expect(nested?.notes.last == "a response is read at the root, or as a child of the root (pages gathered under one element); if the responses are deeper in 'export', add their whole path from the root to recordPath ('export/…/\(Self.path)')")
        #expect(try readKeyed(deep, reader: xmlReader("export/pages/" + Self.path), fields: ["refund_id"]).rows.map(\.values) == [["1"], ["2"]])
        let empty = try readKeyed("<refunds_receive_get_response><total_results>0</total_results></refunds_receive_get_response>", reader: xmlReader(Self.path), fields: [])
        #expect(empty.rows.isEmpty)
        #expect(empty.summary.notes.first?.contains("no records in it") == true)
    }

    /// Pages gathered under one element (`<pages><refunds_receive_get_response>…</pages>`, as a
    /// script makes one document of them): each child response is read, its totals checked for
    /// missing pages, and a TOP error response among them is a missing page; an error response
    /// before any page is fatal, as a file that is one is. Re-fed under the same wrapper.
    @Test func responsesWrappedInOneElementAreEachRead() throws {
        func page(_ ids: [Int], total: Int) -> String {
            "<refunds_receive_get_response><refunds>" + ids.map { "<refund><refund_id>\($0)</refund_id></refund>" }.joined()
                + "</refunds><total_results>\(total)</total_results></refunds_receive_get_response>"
        }
        let error = "<error_response><code>7</code><msg>App Call Limited</msg></error_response>"
        let text = "<?xml version=\"1.0\"?>\n<pages>\n" + page([1, 2], total: 5) + "\n<note>skipped</note>\n" + error + "\n" + page([3], total: 5)
            + "\n<refunds_receive_get_response/>\n</pages>\n"
        let result = try readKeyed(text, reader: xmlReader(Self.path), fields: ["refund_id"])
        #expect(result.rows.map(\.values) == [["1"], ["2"], [nil], ["3"]])
        #expect(result.rows.map(\.line) == [3, 3, 5, 6])
        #expect(result.rows[2].problems.first?.message.contains("code 7 App Call Limited") == true)
        #expect(result.summary.truncated?.contains("line 5 is a TOP error response") == true)
        #expect(result.summary.notes.last?.hasSuffix("'pages' wraps 4 responses (pages gathered into one document); each was read; 1 of them is a TOP error response (missing pages)") == true)
        var paging = ResponsePaging()
        paging.merge(result.summary.paging, file: "f")
        #expect(paging.warning?.contains("total_results 5, but the run read 3 records in 3 responses") == true)
        // An error response before any page is the file's answer: fatal.
        #expect(throws: Diagnostic.self) { try readKeyed("<pages>" + error + page([1], total: 1) + "</pages>", reader: xmlReader(Self.path), fields: ["refund_id"]) }
    }

    // MARK: - Security

    @Test func theParserOptionsForbidNetworkAndEntityExpansion() {
        #expect(XMLReader.parserOptions & (1 << 11) != 0, "XML_PARSE_NONET")
        #expect(XMLReader.parserOptions & (1 << 1) == 0, "never XML_PARSE_NOENT")
        #expect(XMLReader.parserOptions & (1 << 2) == 0, "never XML_PARSE_DTDLOAD")
    }

    @Test func aBillionLaughsFileIsRefusedQuicklyInBoundedMemory() throws {
        var entities = "<!ENTITY lol \"lol\">"
        for level in 1...9 {
            let previous = level == 1 ? "lol" : "lol\(level - 1)"
            entities += "<!ENTITY lol\(level) \"" + String(repeating: "&\(previous);", count: 10) + "\">"
        }
        let text = "<?xml version=\"1.0\"?><!DOCTYPE r [\(entities)]><r><refunds><refund><tid>&lol9;</tid></refund></refunds></r>"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid"]) }
        #expect(error?.code == "input.xml_entities" || error?.code == "input.xml_doctype")
    }

    @Test func externalEntitiesAreNeverResolved() throws {
        let text = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><r><refunds><refund><tid>&xxe;</tid></refund></refunds></r>"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["tid"]) }
        #expect(error?.code == "input.xml_doctype")
    }

    /// A loopback listener counts connections while a document points an external DTD and an
    /// external entity at it: none may arrive.
    @Test func noNetworkAccess() throws {
        let listener = try LoopbackListener()
        let url = "http://127.0.0.1:\(listener.port)/evil"
        let documents = [
            "<?xml version=\"1.0\"?><!DOCTYPE r SYSTEM \"\(url).dtd\"><r><refunds><refund><tid>1</tid></refund></refunds></r>",
            "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM \"\(url).xml\">]><r><refunds><refund><tid>&e;</tid></refund></refunds></r>",
            "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\"><refunds><refund><tid>1</tid><xi:include href=\"\(url).inc\"/></refund></refunds></r>",
        ]
        for document in documents {
            _ = try? readKeyed(document, reader: xmlReader("r/refunds/refund"), fields: ["tid"])
        }
        #expect(listener.connections() == 0)
    }

    @Test func oversizedTextIsRefusedWithAClearError() throws {
        let text = "<r><refunds><refund><title>" + String(repeating: "x", count: (1 << 20) + 10) + "</title></refund></refunds></r>"
        let error = #expect(throws: Diagnostic.self) { try readKeyed(text, reader: xmlReader("r/refunds/refund"), fields: ["title"]) }
        #expect(error?.code == "input.text_too_large")
    }
}

/// A TCP listener on 127.0.0.1 that counts the connections it is offered (non-blocking).
final class LoopbackListener {
    private let socketDescriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw Diagnostic(code: "test.listen", message: "cannot listen on loopback")
        }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        socketDescriptor = descriptor
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(socketDescriptor) }

    /// Connections waiting to be accepted now.
    func connections() -> Int {
        var count = 0
        while true {
            let client = accept(socketDescriptor, nil, nil)
            if client < 0 { return count }
            close(client)
            count += 1
        }
    }
}

struct PathSlotCacheTests {
    func slot(_ cache: inout PathSlotCache, _ path: String, at position: Int, names: [String: Int], resolved: inout Int) -> Int {
        Array(path.utf8).withUnsafeBufferPointer { bytes in
            cache.slot(bytes, position: position) { bytes in
                resolved += 1
                return names[String(decoding: bytes, as: UTF8.self)] ?? -1
            }
        }
    }

    /// Keys that move between positions (an XML record whose empty elements add no field, JSON
    /// objects in another key order) still find their slots, and each path is resolved once.
    @Test func findsSlotsWhereverAPathAppears() {
        let names = ["a": 0, "b/c": 1, "d": 2]
        var cache = PathSlotCache()
        var resolved = 0
        let records = [["a", "b/c", "d", "zz"], ["b/c", "d"], ["d", "zz", "a"], ["a", "d"]]
        for _ in 0..<3 {
            for keys in records {
                for (position, key) in keys.enumerated() {
                    #expect(slot(&cache, key, at: position, names: names, resolved: &resolved) == (names[key] ?? -1))
                }
            }
        }
        #expect(resolved == 4)
    }

    /// Past the limit of distinct paths, paths are still answered exactly (resolved each time).
    @Test func staysExactPastItsLimit() {
        var names: [String: Int] = [:]
        for index in 0..<(PathSlotCache.limit + 100) { names["k\(index)"] = index }
        var cache = PathSlotCache()
        var resolved = 0
        for _ in 0..<2 {
            for index in 0..<(PathSlotCache.limit + 100) {
                #expect(slot(&cache, "k\(index)", at: index % 7, names: names, resolved: &resolved) == index)
            }
        }
        #expect(resolved == PathSlotCache.limit + 200)
    }
}

/// A TOP list response says how many refunds the query has; a run with fewer is missing pages.
struct ResponsePagingTests {
    static let path = "refunds_receive_get_response/refunds/refund"
    static let missing = "the responses say total_results 250, but the run read 2 records in 1 response ('f'): pages of the query are missing (at page_size 100 it has 3 pages); fetch every page and give them all, or their refunds are not loaded"

    static func xml(_ ids: [Int], tail: String) -> String {
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?><refunds_receive_get_response><refunds list=\"true\">"
            + ids.map { "<refund><refund_id>\($0)</refund_id></refund>" }.joined() + "</refunds>\(tail)</refunds_receive_get_response><!--top-->\n"
    }

    static func json(_ ids: [Int], tail: String) -> String {
        "{\"refunds_receive_get_response\":{\"refunds\":{\"refund\":[" + ids.map { "{\"refund_id\":\($0)}" }.joined(separator: ",") + "]}\(tail)}}\n"
    }

    /// What a run of this one file would say.
    func warning(_ text: String, _ reader: some RecordReader) throws -> String? {
        var run = ResponsePaging()
        run.merge(try readKeyed(text, reader: reader, fields: ["refund_id"]).summary.paging, file: "f")
        return run.warning
    }

    @Test func xmlFewerRecordsThanTotalResultsOrNoLastPageIsAWarning() throws {
        let reader = xmlReader(Self.path)
        #expect(try warning(Self.xml([1, 2], tail: "<total_results>250</total_results>"), reader) == Self.missing)
        // Pages saved one after another that hold the total: nothing to say.
        let pages = Self.xml([1, 2], tail: "<total_results>3</total_results><has_next>true</has_next>")
            + Self.xml([3], tail: "<total_results>3</total_results><has_next>false</has_next>")
        #expect(try warning(pages, reader) == nil)
        #expect(try warning(Self.xml([1, 2], tail: "<total_results>2</total_results><has_next>true</has_next>"), reader)
            == "every response says has_next true (2 records in 1 response ('f')): the last page of the query is missing; fetch the pages after them too")
        #expect(try warning(Self.xml([1, 2], tail: "<total_results>3</total_results>"), reader)
            == "the responses say total_results 3, but the run read 2 records in 1 response ('f'): pages of the query are missing; fetch every page and give them all, or their refunds are not loaded")
        #expect(try warning(Self.xml([1, 2], tail: ""), reader) == nil)
    }

    @Test func jsonDocumentsAndResponseLinesAreCheckedTheSameWay() throws {
        let document = jsonReader(path: Self.path)
        #expect(try warning(Self.json([1, 2], tail: ",\"total_results\":250,\"request_id\":\"x\""), document) == Self.missing)
        #expect(try warning(Self.json([1, 2], tail: ",\"total_results\":\"2\""), document) == nil)
        let lines = jsonReader(.lines, path: Self.path)
        #expect(try warning(Self.json([1, 2], tail: ",\"total_results\":250"), lines) == Self.missing)
        let pages = Self.json([1, 2], tail: ",\"total_results\":3,\"has_next\":true") + Self.json([3], tail: ",\"total_results\":3,\"has_next\":false")
        #expect(try warning(pages, lines) == nil)
        // Pages collected into one array: the same check.
        #expect(try warning("[" + Self.json([1, 2], tail: ",\"total_results\":250") + "]", document) == Self.missing)
        #expect(try warning("[" + Self.json([1, 2], tail: ",\"total_results\":3") + "," + Self.json([3], tail: ",\"total_results\":3") + "]", document) == nil)
        #expect(try warning(Self.json([1], tail: ",\"total_results\":1,\"has_next\":true"), lines)?.hasPrefix("every response says has_next true") == true)
        // Refund objects, one per line, are no responses: nothing to check.
        #expect(try readKeyed("{\"refund_id\":1}\n", reader: lines, fields: ["refund_id"]).summary.paging == ResponsePaging())
    }

    /// TOP's simplified JSON (simplify=true) has its totals at the root, beside the list, in any
    /// order: checked as the wrapped form's are.
    @Test func simplifiedResponsesHaveTheirTotalsAtTheRoot() throws {
        func simplified(_ ids: [Int], total: Int, first: Bool) -> String {
            let list = "\"refunds\":[" + ids.map { "{\"refund_id\":\($0)}" }.joined(separator: ",") + "]"
            return first ? "{\"total_results\":\(total),\(list)}\n" : "{\(list),\"total_results\":\(total)}\n"
        }
        let document = jsonReader(path: "refunds")
        #expect(try warning(simplified([1, 2], total: 250, first: false), document) == Self.missing)
        #expect(try warning(simplified([1, 2], total: 250, first: true), document) == Self.missing)
        #expect(try warning(simplified([1, 2], total: 2, first: true), document) == nil)
        #expect(try warning(simplified([1, 2], total: 250, first: false), jsonReader(.lines, path: "refunds")) == Self.missing)
        // A line or an array element is told a response by its first key: the response's own keys
        // before the list's (total_results, has_next, request_id) are passed over.
        #expect(try warning(simplified([1, 2], total: 250, first: true), jsonReader(.lines, path: "refunds")) == Self.missing)
        let lines = try readKeyed(#"{"request_id":"a\"b","has_next":false,"refunds":[{"refund_id":1}]}"# + "\n", reader: jsonReader(.lines, path: "refunds"), fields: ["refund_id"])
        #expect(lines.rows.map(\.values) == [["1"]])
        #expect(try warning("[" + simplified([1, 2], total: 250, first: true) + "]", document) == Self.missing)
        // A wrapped response's root holds no totals: one there is not taken for its own.
        #expect(try warning("{\"total_results\":250," + Self.json([1, 2], tail: "").dropFirst(), jsonReader(path: Self.path)) == nil)
    }

    @Test func pagesInFilesOfTheirOwnAddUpOverTheRun() throws {
        var run = ResponsePaging()
        let reader = xmlReader(Self.path)
        for (name, page) in [("p1.xml", Self.xml([1, 2], tail: "<total_results>3</total_results><has_next>true</has_next>")),
                             ("p2.xml", Self.xml([3], tail: "<total_results>3</total_results><has_next>false</has_next>"))] {
            run.merge(try readKeyed(page, reader: reader, fields: ["refund_id"]).summary.paging, file: name)
            if name == "p1.xml" { #expect(run.warning?.contains("('p1.xml')") == true) }
        }
        #expect(run.warning == nil)
    }
}
