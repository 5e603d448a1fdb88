import Foundation

/// Money and count of valid records with one status.
public struct StatusTotals: Sendable, Hashable {
    public var count = 0
    public var refundAmount = Decimal4.zero
    public var actualRefundAmount = Decimal4.zero
}

/// Counters of a run or of one input file.
public struct RunCounts: Sendable, Hashable {
    public var read = 0
    /// Records the readers say they handed on; each must have been read here (a check on the
    /// hand-over between threads). A file whose read stopped counts what was read.
    public var delivered = 0
    public var valid = 0
    public var rejected = 0
    /// Rejected records per error code (a record with two codes counts under both).
    public var rejectedByCode: [RowErrorCode: Int] = [:]
    /// Errors per code (a record may have several of one code).
    public var errorsByCode: [RowErrorCode: Int] = [:]
    /// Rejected records per field named in their errors.
    public var rejectedByField: [String: Int] = [:]
    /// Rows rejected for their structure or bytes (malformed, undecodable), before mapping.
    public var structural = 0
    /// Valid records in all, per shop and per status.
    public var validTotals = StageTotals()
    /// Money of rejected records other than duplicates, where it could be read: `records`
    /// counts those whose refund_amount was an exact number (the others may hold anything).
    public var rejectedMoney = Amounts()
    /// Money of duplicates (otherwise valid records; their refund_amount is always read).
    public var duplicateMoney = Amounts()

    /// Valid records by `status` (index 0 holds records without one).
    public var byStatus: [StatusTotals] {
        (0...5).map { status in
            let amounts = validTotals.byStatus[status] ?? Amounts()
            return StatusTotals(count: amounts.records, refundAmount: amounts.refundAmount, actualRefundAmount: amounts.actualRefundAmount)
        }
    }
    public var refundAmount: Decimal4 { validTotals.refundAmount }
    public var actualRefundAmount: Decimal4 { validTotals.actualRefundAmount }
    /// Rows rejected as duplicates of an earlier accepted row.
    public var duplicates: Int { rejectedByCode[.duplicate] ?? 0 }

    /// `read = valid + rejected`: every record ends in exactly one place.
    public var isBalanced: Bool { read == valid + rejected }

    mutating func addValid(_ record: RefundRecord) { addValid(record, shop: record.text(.shopNo) ?? "") }

    mutating func addValid(_ record: RefundRecord, shop: String) {
        valid += 1
        validTotals.add(record, shop: shop)
    }

    /// `record`: what mapping made of the row (nil when it was rejected before mapping).
    mutating func addRejected(_ errors: [RowError], structural isStructural: Bool = false, record: RefundRecord? = nil) {
        rejected += 1
        if let record, record.decimal(.refundAmount) != nil {
            if errors.contains(where: { $0.code == .duplicate }) { duplicateMoney.add(record) } else { rejectedMoney.add(record) }
        }
        if isStructural { structural += 1 }
        var codes = Set<RowErrorCode>()
        var fields = Set<String>()
        for error in errors {
            errorsByCode[error.code, default: 0] += 1
            codes.insert(error.code)
            fields.insert(error.field ?? "(row)")
        }
        for code in codes { rejectedByCode[code, default: 0] += 1 }
        for field in fields { rejectedByField[field, default: 0] += 1 }
    }
}

/// One input file in the report.
public struct InputReport: Sendable, Hashable {
    public var path: String
    public var bytes = 0
    public var sha256 = ""
    public var encoding = ""
    public var blankLines = 0
    public var truncated: String?
    /// The run stopped before the end of this file.
    public var incomplete = false
    public var notes: [String] = []
    public var counts = RunCounts()
}

/// Everything a run did, written as `report.json` and `report.md`.
public struct RunReport: Sendable {
    public var runID: String
    public var pipelinePath: String
    public var pipelineName: String
    public var pipelineSHA256: String
    public var variables: [String: String]
    public var target: String
    public var dryRun: Bool
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: RunStatus = .failed
    public var fatal: Diagnostic?
    public var errorLimits = ErrorLimits()
    public var inputs: [InputReport] = []
    /// Rejected rows written back in their input's format (`OUT/rejects/`), to fix and run again.
    public var refeedFiles: [RefeedFile] = []
    /// Values the pipeline does not map, most frequent first (at most `UnknownValueTally.limit`).
    public var unknownValues: [UnknownValue] = []
    public var unknownValuesBeyondLimit = 0
    public var counts = RunCounts()
    public var writer: WriterSummary?
    public var notes: [String] = []
    /// The run ledger's file, when pushing.
    public var ledger: String?

    /// The money in the rejects, for the people who fix and re-feed them; nil without rejects.
    var rejectedMoneySentence: String? {
        guard counts.rejected > 0 else { return nil }
        let others = counts.rejected - counts.duplicates
        var parts: [String] = []
        if others > 0 {
            let unread = others - counts.rejectedMoney.records
            parts.append(
                "the \(others) rejected record\(others == 1 ? "" : "s") carr\(others == 1 ? "ies" : "y") refund_amount "
                    + "\(counts.rejectedMoney.refundAmount.formatted(minFractionDigits: 2))"
                    + (unread > 0 ? " where it could be read (\(unread) ha\(unread == 1 ? "s" : "ve") no readable amount)" : ""))
        }
        if counts.duplicates > 0 {
            parts.append(
                "the \(counts.duplicates) duplicate\(counts.duplicates == 1 ? "" : "s") \(counts.duplicateMoney.refundAmount.formatted(minFractionDigits: 2)) "
                    + "(already counted once in valid)")
        }
        return "Money not loaded: " + parts.joined(separator: "; ") + "."
    }

    /// Every stage and the conservation checks, from the counts and the push.
    public var stages: StageReport { StageReport(counts: counts, push: writer?.push, dryRun: dryRun) }

    public var read: Int { counts.read }
    public var valid: Int { counts.valid }
    public var rejected: Int { counts.rejected }

    init(runID: String, definition: PipelineDefinition, startedAt: Date, dryRun: Bool) {
        self.runID = runID
        pipelinePath = definition.path
        pipelineName = definition.name
        pipelineSHA256 = definition.sha256
        variables = definition.resolvedVariables
        target = definition.target.name
        self.dryRun = dryRun
        self.startedAt = startedAt
    }

    mutating func fail(_ diagnostic: Diagnostic) {
        status = .failed
        fatal = diagnostic
        finishedAt = finishedAt ?? Date()
    }

    func write(to directory: String) throws {
        let json = try BufferedOutput(path: directory + "/report.json")
        try json.write(jsonBytes())
        try json.flush()
        let markdown = try BufferedOutput(path: directory + "/report.md")
        try markdown.write(Array(self.markdown().utf8))
        try markdown.flush()
        let html = try BufferedOutput(path: directory + "/report.html")
        try html.write(Array(ReportHTML.render(self).utf8))
        try html.flush()
    }

    // MARK: - JSON

    func jsonBytes() -> [UInt8] {
        let json = JSONBytes(capacity: 4096)
        json.raw("{\n  ")
        json.keyValue("run_id", runID, first: true)
        json.raw(",\n  ")
        json.keyValue("status", status.rawValue, first: true)
        json.raw(",\n  ")
        json.keyValue("exit_code", Int(status.exitCode), first: true)
        json.raw(",\n  ")
        json.keyValue("dry_run", dryRun, first: true)
        json.raw(",\n  ")
        json.keyValue("started_at", iso8601(startedAt), first: true)
        json.raw(",\n  ")
        json.keyValue("finished_at", finishedAt.map(iso8601), first: true)
        json.raw(",\n  ")
        json.key("pipeline", first: true)
        json.raw("{")
        json.keyValue("path", pipelinePath, first: true)
        json.keyValue("name", pipelineName)
        json.keyValue("sha256", pipelineSHA256)
        json.key("variables")
        json.raw("{")
        for (index, key) in variables.keys.sorted().enumerated() { json.keyValue(key, variables[key], first: index == 0) }
        json.raw("}")
        json.keyValue("target", target)
        json.raw("}")
        json.raw(",\n  ")
        json.key("inputs", first: true)
        json.objectArray(inputs, onePerLine: true) { input in
            json.keyValue("path", input.path, first: true)
            json.keyValue("bytes", input.bytes)
            json.keyValue("sha256", input.sha256)
            json.keyValue("encoding", input.encoding)
            json.keyValue("blank_lines", input.blankLines)
            json.keyValue("truncated", input.truncated)
            json.keyValue("read_completely", !input.incomplete)
            json.key("notes")
            json.stringArray(input.notes)
            json.key("counts")
            countsJSON(input.counts, into: json)
        }
        json.raw(",\n  ")
        json.key("refeed", first: true)
        json.objectArray(refeedFiles) { file in
            json.keyValue("input", file.input, first: true)
            json.keyValue("path", file.path)
            json.keyValue("rows", file.rows)
            json.keyValue("not_written", file.notWritten)
            if let format = file.convertedTo { json.keyValue("written_as", format) }
        }
        json.raw(",\n  ")
        json.key("counts", first: true)
        countsJSON(counts, into: json)
        json.raw(",\n  ")
        json.key("check", first: true)
        json.raw("{")
        json.keyValue("rule", "read = valid + rejected", first: true)
        json.keyValue("holds", counts.isBalanced)
        json.keyValue("read", counts.read)
        json.keyValue("valid", counts.valid)
        json.keyValue("rejected", counts.rejected)
        json.raw("}")
        json.raw(",\n  ")
        json.key("error_limits", first: true)
        json.raw("{")
        json.key("max_errors", first: true)
        if let maxErrors = errorLimits.maxErrors { json.integer(maxErrors) } else { json.raw("null") }
        json.keyValue("max_error_rate", errorLimits.maxErrorRate.map { String($0) })
        json.raw("}")
        json.raw(",\n  ")
        json.key("writer", first: true)
        if let writer {
            json.raw("{")
            json.keyValue("target", writer.target, first: true)
            json.keyValue("api", writer.api)
            json.keyValue("requests", writer.requests)
            json.keyValue("records", writer.records)
            if !writer.leftOutByLedger.isEmpty {
                json.key("left_out_by_ledger")
                json.raw("{")
                for (index, key) in writer.leftOutByLedger.keys.sorted().enumerated() { json.keyValue(key, writer.leftOutByLedger[key] ?? 0, first: index == 0) }
                json.raw("}")
            }
            json.key("notes")
            json.stringArray(writer.notes)
            json.key("push")
            if let push = writer.push {
                json.raw("{")
                json.keyValue("http_requests", push.httpRequests, first: true)
                json.keyValue("split_calls", push.splits)
                json.keyValue("new_count", push.newCount)
                json.keyValue("chg_count", push.changedCount)
                json.keyValue("changed_since_acknowledged", writer.changedSinceAcknowledged)
                for (name, totals) in [("accepted", push.accepted), ("rejected", push.rejected), ("failed", push.failed)] {
                    json.key(name)
                    Self.amountJSON(totals.all, into: json)
                }
                json.keyValue("outcomes", push.outcomes)
                json.keyValue("every_record_has_an_outcome", push.outcomes == writer.records)
                json.raw("}")
            } else {
                json.raw("null")
            }
            json.raw("}")
        } else {
            json.raw("null")
        }
        json.raw(",\n  ")
        json.key("stages", first: true)
        let stages = self.stages
        json.raw("[")
        for (index, stage) in stages.stages.enumerated() {
            json.raw(index == 0 ? "\n    {" : ",\n    {")
            json.keyValue("stage", stage.name, first: true)
            json.keyValue("records", stage.totals.records)
            if stage.hasMoney {
                json.keyValue("refund_amount", stage.totals.refundAmount.formatted(minFractionDigits: 2))
                json.keyValue("actual_refund_amount", stage.totals.actualRefundAmount.formatted(minFractionDigits: 2))
                json.key("by_shop")
                Self.amountsJSON(stage.totals.byShop.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }, into: json)
                json.key("by_status")
                Self.amountsJSON(stage.totals.byStatus.sorted { $0.key < $1.key }.map { (String($0.key), $0.value) }, into: json)
            }
            json.raw("}")
        }
        json.raw("\n  ]")
        json.raw(",\n  ")
        json.key("rejected_money", first: true)
        json.raw("{")
        json.keyValue("records_with_amount", counts.rejectedMoney.records, first: true)
        json.keyValue("records_without_amount", counts.rejected - counts.duplicates - counts.rejectedMoney.records)
        json.keyValue("refund_amount", counts.rejectedMoney.refundAmount.formatted(minFractionDigits: 2))
        json.keyValue("actual_refund_amount", counts.rejectedMoney.actualRefundAmount.formatted(minFractionDigits: 2))
        json.keyValue("duplicate_records", counts.duplicateMoney.records)
        json.keyValue("duplicate_refund_amount", counts.duplicateMoney.refundAmount.formatted(minFractionDigits: 2))
        json.raw("}")
        json.raw(",\n  ")
        json.key("unknown_values", first: true)
        json.objectArray(unknownValues) { value in
            json.keyValue("field", value.field, first: true)
            json.keyValue("value", value.value)
            json.keyValue("records", value.records)
            json.keyValue("first", value.first?.description)
            if let source = value.knownValuesOf { json.keyValue("known_values_of", source) }
            if let hint = value.hint { json.keyValue("hint", hint) }
        }
        json.keyValue("unknown_values_beyond_limit", unknownValuesBeyondLimit)
        json.raw(",\n  ")
        json.key("invariants", first: true)
        json.raw("{")
        json.keyValue("hold", stages.holds, first: true)
        json.key("checks")
        json.raw("[")
        for (index, invariant) in stages.invariants.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{")
            json.keyValue("rule", invariant.rule, first: true)
            json.keyValue("holds", invariant.holds)
            json.keyValue("detail", invariant.detail)
            json.raw("}")
        }
        json.raw("]}")
        json.raw(",\n  ")
        json.key("fatal", first: true)
        if let fatal {
            json.raw("{")
            json.keyValue("code", fatal.code, first: true)
            json.keyValue("message", fatal.message)
            json.keyValue("location", fatal.location?.description)
            json.keyValue("rendered", fatal.description)
            json.raw("}")
        } else {
            json.raw("null")
        }
        json.raw(",\n  ")
        json.key("notes", first: true)
        json.stringArray(notes)
        json.raw("\n}\n")
        return json.bytes
    }

    private func countsJSON(_ counts: RunCounts, into json: JSONBytes) {
        json.raw("{")
        json.keyValue("read", counts.read, first: true)
        json.keyValue("valid", counts.valid)
        json.keyValue("rejected", counts.rejected)
        json.key("rejected_by_code")
        json.raw("{")
        for (index, code) in counts.rejectedByCode.keys.sorted().enumerated() {
            json.keyValue(code.rawValue, counts.rejectedByCode[code]!, first: index == 0)
        }
        json.raw("}")
        json.key("errors_by_code")
        json.raw("{")
        for (index, code) in counts.errorsByCode.keys.sorted().enumerated() {
            json.keyValue(code.rawValue, counts.errorsByCode[code]!, first: index == 0)
        }
        json.raw("}")
        json.key("rejected_by_field")
        json.raw("{")
        for (index, field) in counts.rejectedByField.keys.sorted().enumerated() {
            json.keyValue(field, counts.rejectedByField[field]!, first: index == 0)
        }
        json.raw("}")
        json.key("valid_totals")
        json.raw("{")
        json.keyValue("refund_amount", counts.refundAmount.formatted(minFractionDigits: 2), first: true)
        json.keyValue("actual_refund_amount", counts.actualRefundAmount.formatted(minFractionDigits: 2))
        json.raw("}")
        json.key("valid_by_status")
        json.raw("{")
        var first = true
        for (status, totals) in counts.byStatus.enumerated() where totals.count > 0 {
            json.key(String(status), first: first)
            first = false
            json.raw("{")
            json.keyValue("count", totals.count, first: true)
            json.keyValue("refund_amount", totals.refundAmount.formatted(minFractionDigits: 2))
            json.keyValue("actual_refund_amount", totals.actualRefundAmount.formatted(minFractionDigits: 2))
            json.raw("}")
        }
        json.raw("}}")
    }

    // MARK: - Markdown

    static let statusNames = [0: "(none)", 1: "1 取消退款", 2: "2 已申请退款", 3: "3 等待退货", 4: "4 等待收货", 5: "5 退款成功"]

    static func amountsJSON(_ pairs: [(String, Amounts)], into json: JSONBytes) {
        json.raw("{")
        for (index, (key, amounts)) in pairs.enumerated() {
            json.key(key, first: index == 0)
            amountJSON(amounts, into: json)
        }
        json.raw("}")
    }

    /// `{"records":…,"refund_amount":"…","actual_refund_amount":"…"}`.
    static func amountJSON(_ amounts: Amounts, into json: JSONBytes) {
        json.raw("{")
        json.keyValue("records", amounts.records, first: true)
        json.keyValue("refund_amount", amounts.refundAmount.formatted(minFractionDigits: 2))
        json.keyValue("actual_refund_amount", amounts.actualRefundAmount.formatted(minFractionDigits: 2))
        json.raw("}")
    }

    public func markdown() -> String {
        var text = "# RefundFlow run \(runID)\n\n"
        text += "- Status: **\(status.rawValue)** (exit \(status.exitCode))\n"
        text += "- Pipeline: `\(pipelinePath)` \(pipelineName.isEmpty ? "" : "(\(pipelineName)) ")sha256 `\(pipelineSHA256)`\n"
        if !variables.isEmpty {
            text += "- Variables: " + variables.keys.sorted().map { "`\($0)=\(variables[$0]!)`" }.joined(separator: ", ") + "\n"
        }
        text += "- Target: `\(target)`\(dryRun ? " (dry run)" : "")\n"
        text += "- Started \(iso8601(startedAt)), finished \(finishedAt.map(iso8601) ?? "-")\n"
        if let fatal { text += "\n**Stopped by a fatal error:**\n\n```\n\(fatal.description)\n```\n" }
        for note in notes + inputs.flatMap(\.notes) { text += "\n> \(note)\n" }
        text += "\n## Inputs\n\n| file | bytes | sha256 | encoding | read | valid | rejected | complete |\n|---|---:|---|---|---:|---:|---:|---|\n"
        for input in inputs {
            text += "| `\(input.path)` | \(input.bytes) | `\(input.sha256.prefix(16))…` | \(input.encoding) | \(input.counts.read) | \(input.counts.valid) | \(input.counts.rejected) | \(input.incomplete ? "**no**" : (input.truncated.map { "**truncated**: \($0)" } ?? "yes")) |\n"
        }
        if let blankLines = blankLinesSentence { text += "\n\(blankLines)\n" }
        if let refeed = refeedSentence { text += "\n\(refeed)\n" }
        text += "\n## Accounting\n\n"
        text += "| read | valid | rejected | check `read = valid + rejected` |\n|---:|---:|---:|---|\n"
        text += "| \(counts.read) | \(counts.valid) | \(counts.rejected) | \(counts.isBalanced ? "holds" : "**DOES NOT HOLD**") |\n"
        let stages = self.stages
        text += "\n## Stages\n\n| stage | records | refund_amount | actual_refund_amount |\n|---|---:|---:|---:|\n"
        for stage in stages.stages {
            let money = stage.hasMoney
                ? "\(stage.totals.refundAmount.formatted(minFractionDigits: 2)) | \(stage.totals.actualRefundAmount.formatted(minFractionDigits: 2))" : "— | —"
            text += "| \(stage.name) | \(stage.totals.records) | \(money) |\n"
        }
        if let sentence = rejectedMoneySentence { text += "\n\(sentence)\n" }
        for sentence in unknownValueSentences() { text += "\n\(sentence).\n" }
        text += "\n| invariant | holds | |\n|---|---|---|\n"
        for invariant in stages.invariants {
            text += "| \(invariant.rule) | \(invariant.holds ? "yes" : "**NO**") | \(invariant.detail) |\n"
        }
        if stages.stages.count > 5 {
            let moneyStages = stages.stages.filter(\.hasMoney)
            /// One row per shop or status, one column per stage: records / refund_amount.
            func breakdown(_ title: String, _ rows: [(label: String, pick: (StageTotals) -> Amounts?)]) -> String {
                var table = "\n### Per \(title)\n\n| \(title) | " + moneyStages.map(\.name).joined(separator: " | ") + " |\n|---|"
                table += String(repeating: "---:|", count: moneyStages.count) + "\n"
                for row in rows {
                    table += "| \(row.label) | " + moneyStages.map { stage in
                        let amounts = row.pick(stage.totals) ?? Amounts()
                        return "\(amounts.records) / \(amounts.refundAmount.formatted(minFractionDigits: 2))"
                    }.joined(separator: " | ") + " |\n"
                }
                return table
            }
            text += breakdown("shop", counts.validTotals.byShop.keys.sorted().map { shop in ("`\(shop)`", { $0.byShop[shop] }) })
            text += breakdown(
                "status", counts.validTotals.byStatus.keys.sorted().map { status in (Self.statusNames[status] ?? String(status), { $0.byStatus[status] }) })
            text += "\nEach cell: records / refund_amount.\n"
        }
        text += "\n## Valid records by status\n\n| status | records | refund_amount | actual_refund_amount |\n|---|---:|---:|---:|\n"
        for (status, totals) in counts.byStatus.enumerated() where totals.count > 0 {
            text += "| \(Self.statusNames[status] ?? String(status)) | \(totals.count) | \(totals.refundAmount.formatted(minFractionDigits: 2)) | \(totals.actualRefundAmount.formatted(minFractionDigits: 2)) |\n"
        }
        text += "| **all** | \(counts.valid) | \(counts.refundAmount.formatted(minFractionDigits: 2)) | \(counts.actualRefundAmount.formatted(minFractionDigits: 2)) |\n"
        if counts.rejected > 0 {
            text += "\n## Rejects\n\n| code | records | errors |\n|---|---:|---:|\n"
            for code in counts.rejectedByCode.keys.sorted() {
                text += "| `\(code.rawValue)` | \(counts.rejectedByCode[code]!) | \(counts.errorsByCode[code] ?? 0) |\n"
            }
            text += "\n| field | records |\n|---|---:|\n"
            for field in counts.rejectedByField.keys.sorted() {
                text += "| `\(field)` | \(counts.rejectedByField[field]!) |\n"
            }
            text += "\nEvery rejected record is in `rejects.jsonl` with its file, line, reasons and raw fields.\n"
        }
        if let writer {
            text += "\n## Output\n\n- `\(writer.api)` via `\(writer.target)`: \(outputSentence(writer))\n"
            for note in writer.notes { text += "- Note: \(note)\n" }
            if let push = writer.push {
                text += "\n## Push\n\n| outcome | records | refund_amount | actual_refund_amount |\n|---|---:|---:|---:|\n"
                for (name, totals) in [("accepted", push.accepted), ("unchanged (not sent)", push.unchanged), ("rejected by the ERP", push.rejected), ("failed", push.failed)] {
                    text += "| \(name) | \(totals.records) | \(totals.refundAmount.formatted(minFractionDigits: 2)) | \(totals.actualRefundAmount.formatted(minFractionDigits: 2)) |\n"
                }
                text += "\n\(counted(push.httpRequests, "HTTP request")) (retries included), \(counted(push.splits, "refused call")) split; the ERP counted \(push.newCount) new and \(push.changedCount) changed; \(counted(writer.changedSinceAcknowledged, "record")) \(writer.changedSinceAcknowledged == 1 ? "was" : "were") sent again because \(writer.changedSinceAcknowledged == 1 ? "its" : "their") payload changed since the ERP acknowledged it. Every record's outcome is in `outcomes.jsonl`"
                text += push.outcomes == writer.records ? " (\(push.outcomes) of \(writer.records)).\n" : " — only \(push.outcomes) of \(writer.records) have one.\n"
            }
        }
        return text
    }
}

func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

extension RunReport {
    /// Says how many lines of the inputs carried no record, when any did (report.md and .html).
    var blankLinesSentence: String? {
        let blank = inputs.reduce(0) { $0 + $1.blankLines }
        guard blank > 0 else { return nil }
        return "\(blank) blank line\(blank == 1 ? "" : "s") (empty, or only delimiters and spaces as Excel writes empty rows) carried no record and \(blank == 1 ? "is" : "are") not counted as read."
    }

    /// What the writer made of the valid records (report.md and .html).
    func outputSentence(_ writer: WriterSummary) -> String {
        "\(counted(writer.records, "record")) in \(counted(writer.requests, "request"))"
            + (dryRun ? " (written to requests.jsonl, not sent)" : "")
    }

    var refeedSentence: String? {
        guard !refeedFiles.isEmpty else { return nil }
        return "Rejected rows as their input had them, to fix and run again (duplicates left out): "
            + refeedFiles.map { file in
                let notWritten = file.notWritten == 0 ? "" : "; \(file.notWritten) more in rejects.jsonl only, with no row to write back"
                let converted = file.convertedTo.map { ", as \($0.uppercased())" } ?? ""
                return "\(file.path) (\(counted(file.rows, "row")) of \(file.input)\(converted)\(notWritten))"
            }.joined(separator: ", ") + "."
    }
}
