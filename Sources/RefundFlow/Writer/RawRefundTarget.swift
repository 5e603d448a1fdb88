/// Target `wdt-qjb-raw-refund`: `aftersales.refund.RawRefund.upload` (原始退款单推送).
///
/// Options: `shopNo` (the 店铺编号 for records that do not map `shop_no`), `batchSize` (1–100,
/// default 50), `endpoint` (base URL; default the production host).
enum RawRefundTarget {
    static let api = "aftersales.refund.RawRefund.upload"
    static let defaultEndpoint = "http://wdt.wangdian.cn"
    static let defaultBatchSize = 50

    static let registration = TargetRegistration(
        name: "wdt-qjb-raw-refund", keys: ["shopNo", "batchSize", "endpoint"],
        validate: { options in
            var problems: [String] = []
            if let size = options["batchSize"], Int(size).map({ !(1...100).contains($0) }) ?? true {
                problems.append("batchSize must be 1–100 (the ERP takes at most 100 refunds per call), not '\(size)'")
            }
            if let endpoint = options["endpoint"], !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
                problems.append("endpoint must be an http:// or https:// base URL, not '\(endpoint)'")
            }
            return problems
        },
        makeDryRun: { context in try RawRefundDryRunWriter(context: context) })

    /// The body: `["<shop_no>",[{…},…]]`, PHP `json_encode` style, like the vendor SDK.
    static func body(shopNo: String, records: [RefundRecord]) -> String {
        let batch = Batch(shopNo: shopNo)
        for record in records { batch.add(record) }
        batch.close()
        return String(decoding: batch.body.buffer.buffer, as: UTF8.self)
    }

    /// One call's body, built as records arrive so that no record is kept.
    final class Batch {
        let body = JSONBytes(capacity: 32 * 1024)
        private(set) var count = 0
        let shopNo: String

        init(shopNo: String) {
            self.shopNo = shopNo
            open()
        }

        private func open() {
            body.raw("[")
            body.string(shopNo, style: .phpASCII)
            body.raw(",[")
        }

        func add(_ record: RefundRecord) {
            if count > 0 { body.raw(",") }
            RecordJSON.orderListItem(record, into: body)
            count += 1
        }

        func close() { body.raw("]]") }

        func reset() {
            body.removeAll()
            count = 0
            open()
        }
    }
}

/// Writes one line per API call to `requests.jsonl`: URL, query with timestamp and sign, and
/// the body text exactly as it would be sent. Records are grouped per shop, in input order.
final class RawRefundDryRunWriter: RecordWriter {
    private let output: BufferedOutput
    private let credentials: QJBCredentials
    private let batchSize: Int
    private let endpoint: String
    private let unixTime: @Sendable () -> Int
    private var batches: [String: RawRefundTarget.Batch] = [:]
    private var shopOrder: [String] = []
    private var last: RawRefundTarget.Batch?
    private var lastShop: [UInt8] = []
    private let line = JSONBytes(capacity: 64 * 1024)
    private var summary = WriterSummary(target: "wdt-qjb-raw-refund", api: RawRefundTarget.api)

    init(context: TargetContext) throws {
        if let given = try QJBCredentials.fromEnvironment(context.environment) {
            credentials = given
        } else {
            credentials = .placeholder
            summary.notes.append(
                "no WDT_SID/WDT_APPKEY/WDT_APPSECRET in the environment: requests are signed with placeholder credentials and would be refused by the ERP"
            )
        }
        batchSize = context.options["batchSize"].flatMap(Int.init) ?? RawRefundTarget.defaultBatchSize
        endpoint = context.options["endpoint"] ?? RawRefundTarget.defaultEndpoint
        unixTime = context.unixTime
        output = try BufferedOutput(path: context.outputDirectory + "/requests.jsonl")
    }

    func add(_ record: RefundRecord) throws {
        let batch = self.batch(for: record)
        batch.add(record)
        if batch.count >= batchSize { try flush(batch) }
    }

    /// The open batch of the record's shop; the last one is checked first (files are usually one shop).
    private func batch(for record: RefundRecord) -> RawRefundTarget.Batch {
        let expected = lastShop
        if let last, record.withText(.shopNo, { $0.elementsEqual(expected) }) == true { return last }
        let shop = record.text(.shopNo) ?? ""
        lastShop = Array(shop.utf8)
        if let existing = batches[shop] {
            last = existing
            return existing
        }
        let created = RawRefundTarget.Batch(shopNo: shop)
        batches[shop] = created
        shopOrder.append(shop)
        last = created
        return created
    }

    func finish() throws -> WriterSummary {
        for shop in shopOrder where batches[shop]!.count > 0 { try flush(batches[shop]!) }
        try output.flush()
        return summary
    }

    private func flush(_ batch: RawRefundTarget.Batch) throws {
        batch.close()
        let body = batch.body.buffer.buffer
        let query = QJBSigner.signedQuery(
            method: RawRefundTarget.api, body: body, credentials: credentials, unixTime: unixTime())
        line.removeAll()
        line.raw("{")
        line.keyValue("api", RawRefundTarget.api, first: true)
        line.keyValue("http_method", "POST")
        line.keyValue("url", QJBSigner.url(baseURL: endpoint, query: query))
        line.key("query")
        line.raw("{")
        for (index, (key, value)) in query.enumerated() { line.keyValue(key, value, first: index == 0) }
        line.raw("}")
        line.keyValue("content_type", "application/json")
        line.key("body")
        line.string(body)
        line.keyValue("record_count", batch.count)
        line.keyValue("signed_with", credentials.isPlaceholder ? "placeholder credentials (dry run only)" : "WDT_* environment")
        line.raw("}")
        try output.writeLine(line.buffer)
        summary.requests += 1
        summary.records += batch.count
        batch.reset()
    }
}
