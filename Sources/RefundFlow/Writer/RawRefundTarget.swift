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
        var json = JSONBytes(capacity: 512 * records.count + 32)
        json.raw("[")
        json.string(shopNo, style: .phpASCII)
        json.raw(",[")
        for (index, record) in records.enumerated() {
            if index > 0 { json.raw(",") }
            RecordJSON.orderListItem(record, into: &json)
        }
        json.raw("]]")
        return String(decoding: json.bytes, as: UTF8.self)
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
    private var pending: [String: [RefundRecord]] = [:]
    private var shopOrder: [String] = []
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
        let shop = record.text(.shopNo) ?? ""
        if pending[shop] == nil {
            pending[shop] = []
            pending[shop]!.reserveCapacity(batchSize)
            shopOrder.append(shop)
        }
        pending[shop]!.append(record)
        if pending[shop]!.count >= batchSize { try flush(shop) }
    }

    func finish() throws -> WriterSummary {
        for shop in shopOrder where !(pending[shop]?.isEmpty ?? true) { try flush(shop) }
        try output.flush()
        return summary
    }

    private func flush(_ shop: String) throws {
        guard let records = pending[shop], !records.isEmpty else { return }
        pending[shop]!.removeAll(keepingCapacity: true)
        let request = QJBSigner.request(
            method: RawRefundTarget.api, body: RawRefundTarget.body(shopNo: shop, records: records),
            credentials: credentials, unixTime: unixTime(), baseURL: endpoint)
        var json = JSONBytes(capacity: request.body.utf8.count + 512)
        json.keyValue("api", request.api, first: true)
        json.keyValue("http_method", request.httpMethod)
        json.keyValue("url", request.url)
        json.key("query")
        json.raw("{")
        for (index, (key, value)) in request.query.enumerated() { json.keyValue(key, value, first: index == 0) }
        json.raw("}")
        json.keyValue("content_type", request.contentType)
        json.keyValue("body", request.body)
        json.keyValue("record_count", records.count)
        json.keyValue("signed_with", credentials.isPlaceholder ? "placeholder credentials (dry run only)" : "WDT_* environment")
        // `{` opened by keyValue(first:) is implicit: wrap the object here.
        var line: [UInt8] = [UInt8(ascii: "{")]
        line.append(contentsOf: json.bytes)
        line.append(UInt8(ascii: "}"))
        try output.writeLine(line)
        summary.requests += 1
        summary.records += records.count
    }
}
