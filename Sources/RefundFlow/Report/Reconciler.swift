import Foundation
import GRDB
import Synchronization

/// Read-back diff: the valid records of the inputs against what `Refund.search` shows.
///
/// Input records and ERP lines go into a scratch SQLite file in the output directory, so the
/// diff needs no more memory for 5 million rows than for 5; then SQL finds refunds missing in
/// the ERP, refunds in the ERP that are not in the input (in the input's shops), and amount or
/// status mismatches.
public enum Reconciler {
    public enum Kind: String, Sendable, CaseIterable {
        case missingInERP = "missing_in_erp"
        case notInInput = "not_in_input"
        case amountMismatch = "amount_mismatch"
        case statusMismatch = "status_mismatch"
    }

    public struct Summary: Sendable {
        public var from: String
        public var to: String
        public var inputRecords = 0
        public var erpLines = 0
        public var matched = 0
        public var differences: [Kind: Int] = [:]
        public var windows = 0
        public var pages = 0

        public var total: Int { differences.values.reduce(0, +) }
    }

    /// Runs the pipeline's reader, mapper and validator over the inputs (records.jsonl,
    /// rejects.jsonl and report.json are written as for a run), reads the ERP over the span and
    /// writes `differences.jsonl`, `reconcile.json` and `reconcile.md`.
    /// - Parameters:
    ///   - from: start of the ERP span; default the earliest `refund_time` of the input.
    ///   - to: end of the span; default now.
    public static func run(
        _ pipeline: Pipeline, options: RunOptions, search: RefundSearch, from: String?, to: String?, emit: @escaping (String) -> Void
    ) throws -> (RunReport, Summary) {
        try Pipeline.refuseInputsAmongOutputs(
            options.inputs, directory: options.outputDirectory,
            names: Pipeline.runOutputNames + ["differences.jsonl", "reconcile.json", "reconcile.md", "reconcile.sqlite"])
        try Pipeline.createOutputDirectory(options.outputDirectory)
        let scratchPath = options.outputDirectory + "/reconcile.sqlite"
        try RunLedger.reset(path: scratchPath)
        let scratch = try DatabaseQueue(path: scratchPath)
        try scratch.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE input (shop_no TEXT, refund_no TEXT, oid TEXT, refund_amount TEXT, status INTEGER, refund_time TEXT,
                        PRIMARY KEY (shop_no, refund_no, oid));
                    CREATE TABLE erp (shop_no TEXT, refund_no TEXT, oid TEXT, refund_amount TEXT, status INTEGER, raw_status INTEGER);
                    CREATE INDEX erp_key ON erp (shop_no, refund_no, oid);
                    """)
        }
        let pending = Mutex<[RefundRecord]>([])
        @Sendable func flush(_ records: [RefundRecord]) throws {
            try scratch.write { db in
                let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO input VALUES (?, ?, ?, ?, ?, ?)")
                for record in records {
                    try statement.execute(arguments: [
                        record.text(.shopNo) ?? "", record.text(.refundNo) ?? "", record.text(.oid) ?? "",
                        (record.decimal(.refundAmount) ?? .zero).formatted(minFractionDigits: 4), record.integer(.status),
                        record.text(.refundTime),
                    ])
                }
            }
        }
        var options = options
        options.dryRun = true
        options.collector = { record in
            let full: [RefundRecord]? = pending.withLock { buffer in
                buffer.append(record)
                guard buffer.count >= 1000 else { return nil }
                defer { buffer.removeAll(keepingCapacity: true) }
                return buffer
            }
            if let full { try flush(full) }
        }
        let report = try pipeline.run(options, emit: emit)
        try flush(pending.withLock { $0 })

        let (earliest, shops, inputCount) = try scratch.read { db in
            (
                try String.fetchOne(db, sql: "SELECT MIN(refund_time) FROM input WHERE refund_time IS NOT NULL AND refund_time != ''"),
                try String.fetchAll(db, sql: "SELECT DISTINCT shop_no FROM input ORDER BY shop_no"),
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM input") ?? 0
            )
        }
        var summary = Summary(
            from: from ?? earliest.map { String($0.prefix(10)) + " 00:00:00" } ?? ShanghaiTime.format(options.unixTime() - 86_400),
            to: to ?? ShanghaiTime.format(options.unixTime() + 60))
        summary.inputRecords = inputCount
        var scoped = search
        if scoped.shopNos == nil, !shops.isEmpty { scoped.shopNos = shops.joined(separator: ",") }
        let span = (summary.from, summary.to)
        let reader = scoped
        let searched = try blockingWait {
            var batch: [(String, String, String, String, Int?, Int?)] = []
            var lines = 0
            func store() throws {
                let rows = batch
                batch.removeAll()
                try scratch.write { db in
                    let statement = try db.cachedStatement(sql: "INSERT INTO erp VALUES (?, ?, ?, ?, ?, ?)")
                    for row in rows { try statement.execute(arguments: [row.0, row.1, row.2, row.3, row.4, row.5]) }
                }
            }
            let result = try await reader.search(from: span.0, to: span.1) { order in
                for line in order["detail_list"]?.elements ?? [] {
                    let amount = line["refund_amount"]?.text.flatMap { try? Decimal4.parse(Array($0.utf8)).get() } ?? .zero
                    batch.append((
                        order["shop_no"]?.text ?? "", order["refund_no"]?.text ?? "", line["oid"]?.text ?? "",
                        amount.formatted(minFractionDigits: 4), order["status"]?.int, order["raw_status"]?.int
                    ))
                    lines += 1
                }
                if batch.count >= 1000 { try store() }
            }
            try store()
            return (result, lines)
        }
        summary.windows = searched.0.windows
        summary.pages = searched.0.pages
        summary.erpLines = searched.1

        let output = try BufferedOutput(path: options.outputDirectory + "/differences.jsonl")
        let line = JSONBytes(capacity: 512)
        try scratch.read { db in
            let shopList = shops.map { "'\($0.replacingOccurrences(of: "'", with: "''"))'" }.joined(separator: ",")
            let queries: [(Kind, String)] = [
                (.missingInERP, "SELECT i.*, NULL AS erp_amount, NULL AS erp_status, NULL AS erp_raw_status FROM input i LEFT JOIN erp e USING (shop_no, refund_no, oid) WHERE e.shop_no IS NULL"),
                (.notInInput, "SELECT e.shop_no, e.refund_no, e.oid, NULL AS refund_amount, NULL AS status, NULL AS refund_time, e.refund_amount AS erp_amount, e.status AS erp_status, e.raw_status AS erp_raw_status FROM erp e LEFT JOIN input i USING (shop_no, refund_no, oid) WHERE i.shop_no IS NULL AND e.shop_no IN (\(shopList.isEmpty ? "''" : shopList))"),
                (.amountMismatch, "SELECT i.*, e.refund_amount AS erp_amount, e.status AS erp_status, e.raw_status AS erp_raw_status FROM input i JOIN erp e USING (shop_no, refund_no, oid) WHERE i.refund_amount != e.refund_amount"),
                (.statusMismatch, "SELECT i.*, e.refund_amount AS erp_amount, e.status AS erp_status, e.raw_status AS erp_raw_status FROM input i JOIN erp e USING (shop_no, refund_no, oid) WHERE (e.raw_status IS NOT NULL AND e.raw_status != i.status) OR (e.raw_status IS NULL AND e.status != \(statusCase))"),
            ]
            for (kind, sql) in queries {
                let rows = try Row.fetchCursor(db, sql: sql + " ORDER BY shop_no, refund_no, oid")
                while let row = try rows.next() {
                    summary.differences[kind, default: 0] += 1
                    line.removeAll()
                    line.raw("{")
                    line.keyValue("difference", kind.rawValue, first: true)
                    line.keyValue("shop_no", row["shop_no"] as String)
                    line.keyValue("refund_no", row["refund_no"] as String)
                    line.keyValue("oid", row["oid"] as String)
                    line.keyValue("input_refund_amount", row["refund_amount"] as String?)
                    line.keyValue("erp_refund_amount", row["erp_amount"] as String?)
                    line.key("input_status")
                    if let status = row["status"] as Int? { line.integer(status) } else { line.raw("null") }
                    line.key("erp_status")
                    if let status = row["erp_status"] as Int? { line.integer(status) } else { line.raw("null") }
                    line.raw("}")
                    try output.writeLine(line.buffer)
                }
            }
            summary.matched = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM input i JOIN erp e USING (shop_no, refund_no, oid)") ?? 0
        }
        try output.flush()
        try write(summary, report: report, to: options.outputDirectory)
        return (report, summary)
    }

    /// The 退换单 status an ERP shows for a canonical platform status, in SQL.
    private static var statusCase: String {
        "CASE i.status " + (1...5).map { "WHEN \($0) THEN \(RefundSearch.erpStatus(canonical: $0))" }.joined(separator: " ") + " END"
    }

    private static func write(_ summary: Summary, report: RunReport, to directory: String) throws {
        let json = JSONBytes(capacity: 1024)
        json.raw("{")
        json.keyValue("run_id", report.runID, first: true)
        json.keyValue("from", summary.from)
        json.keyValue("to", summary.to)
        json.keyValue("windows", summary.windows)
        json.keyValue("pages", summary.pages)
        json.keyValue("input_records", summary.inputRecords)
        json.keyValue("erp_lines", summary.erpLines)
        json.keyValue("matched", summary.matched)
        json.key("differences")
        json.raw("{")
        for (index, kind) in Kind.allCases.enumerated() { json.keyValue(kind.rawValue, summary.differences[kind] ?? 0, first: index == 0) }
        json.raw("}")
        json.keyValue("in_agreement", summary.total == 0)
        json.raw("}\n")
        try Data(json.bytes).write(to: URL(fileURLWithPath: directory + "/reconcile.json"))
        var text = "# Reconciliation \(report.runID)\n\nERP read with Refund.search over \(summary.from) … \(summary.to) (\(summary.windows) windows of at most 30 days, \(summary.pages) pages).\n\n"
        text += "| | count |\n|---|---:|\n| valid input records | \(summary.inputRecords) |\n| ERP lines read | \(summary.erpLines) |\n| matched by shop_no + refund_no + oid | \(summary.matched) |\n"
        for kind in Kind.allCases { text += "| \(kind.rawValue.replacingOccurrences(of: "_", with: " ")) | \(summary.differences[kind] ?? 0) |\n" }
        text += summary.total == 0 ? "\nThe input and the ERP agree.\n" : "\nEvery difference is a line of `differences.jsonl`.\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory + "/reconcile.md"))
    }
}
