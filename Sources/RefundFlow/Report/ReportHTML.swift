/// `report.html`: one self-contained page (inline CSS and SVG, no scripts, nothing fetched)
/// with the stage funnel, money by status and rejects by reason, the invariants and the inputs.
enum ReportHTML {
    static func escape(_ text: String) -> String { markupEscaped(text) }

    /// A Decimal4 as a Double, for drawing only (never for money).
    private static func magnitude(_ amount: Decimal4) -> Double { Double(amount.formatted()) ?? 0 }

    struct Bar {
        var label: String
        var value: Double
        var text: String
        var color: String
    }

    /// Horizontal bars scaled to the largest value.
    static func barChart(_ title: String, _ bars: [Bar], labelWidth: Int = 150) -> String {
        let rowHeight = 30
        let width = 760
        let barSpace = width - labelWidth - 200
        let largest = max(bars.map(\.value).max() ?? 0, 1)
        var svg = "<figure><figcaption>\(escape(title))</figcaption>"
        svg += "<svg role=\"img\" aria-label=\"\(escape(title))\" viewBox=\"0 0 \(width) \(max(1, bars.count) * rowHeight + 10)\" width=\"\(width)\">"
        if bars.isEmpty { svg += "<text x=\"0\" y=\"20\" class=\"muted\">nothing to show</text>" }
        for (index, bar) in bars.enumerated() {
            let y = index * rowHeight + 5
            let length = max(bar.value > 0 ? 2 : 0, Int(Double(barSpace) * bar.value / largest))
            svg += "<text x=\"\(labelWidth - 8)\" y=\"\(y + 18)\" text-anchor=\"end\">\(escape(bar.label))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 4)\" width=\"\(length)\" height=\"\(rowHeight - 10)\" rx=\"3\" fill=\"\(bar.color)\"></rect>"
            svg += "<text x=\"\(labelWidth + length + 8)\" y=\"\(y + 18)\">\(escape(bar.text))</text>"
        }
        return svg + "</svg></figure>"
    }

    static let stageColors: [String: String] = [
        "read": "#64748b", "parsed": "#64748b", "valid": "#2563eb", "rejected": "#dc2626", "duplicate": "#f97316",
        "unchanged": "#94a3b8", "pushed": "#2563eb", "acknowledged": "#16a34a", "erp_rejected": "#dc2626", "failed": "#b45309",
        "pending": "#a855f7",
    ]

    static func render(_ report: RunReport) -> String {
        let stages = report.stages
        let money: (Decimal4) -> String = { $0.formatted(minFractionDigits: 2) }
        var html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>RefundFlow run \(escape(report.runID))</title>
            <style>
            body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","PingFang SC","Noto Sans CJK SC",sans-serif;margin:24px auto;max-width:980px;color:#0f172a;padding:0 16px}
            h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
            .status{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
            .ok{background:#16a34a}.warn{background:#d97706}.bad{background:#dc2626}
            table{border-collapse:collapse;width:100%;margin:6px 0}th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:left}
            td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
            figure{margin:10px 0 18px}figcaption{font-weight:600;margin-bottom:4px}svg text{font-size:13px;fill:#0f172a}.muted{fill:#64748b;color:#64748b}
            .cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:150px}
            .card b{display:block;font-size:20px}code{background:#f1f5f9;padding:1px 4px;border-radius:4px}
            </style></head><body>
            """
        let statusClass = report.status == .completed ? "ok" : (report.status == .completedWithRejects ? "warn" : "bad")
        html += "<h1>RefundFlow run <code>\(escape(report.runID))</code></h1>"
        html += "<p><span class=\"status \(statusClass)\">\(escape(report.status.rawValue))</span> exit \(report.status.exitCode) · "
        html += "pipeline <code>\(escape(report.pipelinePath))</code> · target <code>\(escape(report.target))</code>\(report.dryRun ? " (dry run)" : "")</p>"
        if let writer = report.writer {
            html += "<p>Output: <code>\(escape(writer.api))</code> — \(escape(report.outputSentence(writer)))</p>"
        }
        if let fatal = report.fatal { html += "<p><b>Stopped:</b> <code>\(escape(fatal.description))</code></p>" }
        for note in report.notes { html += "<p class=\"muted\">\(escape(note))</p>" }

        html += "<div class=\"cards\">"
        for stage in stages.stages where ["read", "valid", "rejected", "acknowledged", "unchanged", "failed"].contains(stage.name) {
            html += "<div class=\"card\"><span class=\"muted\">\(escape(stage.name))</span><b>\(stage.totals.records)</b>"
            if stage.hasMoney { html += "<span class=\"muted\">¥\(money(stage.totals.refundAmount))</span>" }
            html += "</div>"
        }
        html += "</div>"

        html += "<h2>Stage funnel</h2>"
        html += barChart(
            "Records at each stage",
            stages.stages.map { stage in
                Bar(
                    label: stage.name, value: Double(stage.totals.records),
                    text: "\(stage.totals.records)" + (stage.hasMoney ? "  ·  ¥\(money(stage.totals.refundAmount))" : ""),
                    color: stageColors[stage.name] ?? "#2563eb")
            })
        if let sentence = report.rejectedMoneySentence { html += "<p class=\"muted\">\(escape(sentence))</p>" }
        html += "<table><tr><th>invariant</th><th>holds</th><th>detail</th></tr>"
        for invariant in stages.invariants {
            html += "<tr><td>\(escape(invariant.rule))</td><td>\(invariant.holds ? "✓ yes" : "<b style=\"color:#dc2626\">✗ NO</b>")</td><td><code>\(escape(invariant.detail))</code></td></tr>"
        }
        html += "</table>"

        html += "<h2>Money by status</h2>"
        let byStatus = report.counts.validTotals.byStatus.sorted { $0.key < $1.key }
        html += barChart(
            "refund_amount of valid records by status",
            byStatus.map { status, amounts in
                Bar(
                    label: RunReport.statusNames[status] ?? String(status), value: magnitude(amounts.refundAmount),
                    text: "¥\(money(amounts.refundAmount)) · \(counted(amounts.records, "record"))", color: "#2563eb")
            }, labelWidth: 170)
        html += "<table><tr><th>status</th><th class=\"n\">records</th><th class=\"n\">refund_amount</th><th class=\"n\">actual_refund_amount</th></tr>"
        for (status, amounts) in byStatus {
            html += "<tr><td>\(escape(RunReport.statusNames[status] ?? String(status)))</td><td class=\"n\">\(amounts.records)</td><td class=\"n\">\(money(amounts.refundAmount))</td><td class=\"n\">\(money(amounts.actualRefundAmount))</td></tr>"
        }
        html += "</table>"

        html += "<h2>Rejects by reason</h2>"
        let reasons = report.counts.rejectedByCode.sorted { $0.value == $1.value ? $0.key.rawValue < $1.key.rawValue : $0.value > $1.value }
        html += barChart(
            "Rejected records by error code (a record with two codes counts under both)",
            reasons.map { Bar(label: $0.key.rawValue, value: Double($0.value), text: "\($0.value)", color: "#dc2626") })
        if report.counts.rejected > 0 {
            html += "<p class=\"muted\">Every rejected record is in <code>rejects.jsonl</code> with its file, line, reasons and raw fields.</p>"
        }
        if let refeed = report.refeedSentence { html += "<p class=\"muted\">\(escape(refeed))</p>" }
        for sentence in report.unknownValueSentences() { html += "<p>\(escape(sentence)).</p>" }

        let moneyStages = stages.stages.filter(\.hasMoney)
        if !report.counts.validTotals.byShop.isEmpty {
            /// One row per shop or status, one column per stage: records and refund_amount.
            func breakdown(_ title: String, _ rows: [(label: String, pick: (StageTotals) -> Amounts?)]) -> String {
                var table = "<h2>Per \(title)</h2><table><tr><th>\(title)</th>" + moneyStages.map { "<th class=\"n\">\(escape($0.name))</th>" }.joined() + "</tr>"
                for row in rows {
                    table += "<tr><td>\(row.label)</td>"
                    for stage in moneyStages {
                        let amounts = row.pick(stage.totals) ?? Amounts()
                        table += "<td class=\"n\">\(amounts.records)<br><span class=\"muted\">¥\(money(amounts.refundAmount))</span></td>"
                    }
                    table += "</tr>"
                }
                return table + "</table>"
            }
            html += breakdown("shop", report.counts.validTotals.byShop.keys.sorted().map { shop in ("<code>\(escape(shop))</code>", { $0.byShop[shop] }) })
            html += breakdown(
                "status",
                report.counts.validTotals.byStatus.keys.sorted().map { status in
                    (escape(RunReport.statusNames[status] ?? String(status)), { $0.byStatus[status] })
                })
        }

        html += "<h2>Inputs</h2><table><tr><th>file</th><th class=\"n\">bytes</th><th>sha256</th><th class=\"n\">read</th><th class=\"n\">valid</th><th class=\"n\">rejected</th></tr>"
        for input in report.inputs {
            html += "<tr><td><code>\(escape(input.path))</code></td><td class=\"n\">\(input.bytes)</td><td><code>\(escape(String(input.sha256.prefix(16))))…</code></td><td class=\"n\">\(input.counts.read)</td><td class=\"n\">\(input.counts.valid)</td><td class=\"n\">\(input.counts.rejected)</td></tr>"
        }
        html += "</table>"
        for note in report.inputs.flatMap(\.notes) { html += "<p class=\"muted\">\(escape(note))</p>" }
        if let blankLines = report.blankLinesSentence { html += "<p class=\"muted\">\(escape(blankLines))</p>" }
        html += "<p class=\"muted\">Pipeline sha256 <code>\(escape(report.pipelineSHA256))</code>. Machine-readable: <code>report.json</code>.</p></body></html>\n"
        return html
    }
}

/// Text safe inside HTML or XML content and attribute values.
func markupEscaped(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}
