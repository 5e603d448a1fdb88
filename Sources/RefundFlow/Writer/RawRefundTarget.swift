/// Target `wdt-qjb-raw-refund`: `aftersales.refund.RawRefund.upload` (原始退款单推送, qjb).
///
/// Options: `shopNo` (the 店铺编号 for records that do not map `shop_no`), `batchSize` (1–100,
/// default 50), and the common delivery settings. One call carries lines of one shop:
/// `["<shop_no>",[{…},…]]`, PHP `json_encode` style like the vendor SDK.
struct RawRefundTarget: PushTarget {
    static let method = "aftersales.refund.RawRefund.upload"
    static let defaultBatchSize = 50

    static let registration = TargetRegistration(
        name: "wdt-qjb-raw-refund", ownKeys: [], maxBatch: 100, validate: { _ in [] },
        make: { options in RawRefundTarget(maxUnitsPerCall: PushSettings.batchSize(options, default: defaultBatchSize)) })

    let name = "wdt-qjb-raw-refund"
    let api = RawRefundTarget.method
    let family = APIFamily.qjb
    let maxUnitsPerCall: Int
    /// Raw refunds become 退换单 that `Refund.search` lists.
    let showsInRefundSearch = true

    func callGroup(_ record: RefundRecord) -> String { record.text(.shopNo) ?? "" }

    func unitKey(_ record: RefundRecord) -> String? { nil }

    func payload(group: String, units: [[RefundRecord]]) -> CallPayload {
        .qjb(method: api, body: Self.body(shopNo: group, records: units.flatMap { $0 }), pager: nil)
    }

    func classify(_ answer: ERPAnswer) -> ERPVerdict { ERPResponse.qjb(httpStatus: answer.httpStatus, body: answer.body) }

    /// The body: `["<shop_no>",[{…},…]]`.
    static func body(shopNo: String, records: [RefundRecord]) -> [UInt8] {
        let body = JSONBytes(capacity: 1024 * max(1, records.count))
        body.raw("[")
        body.string(shopNo, style: .phpASCII)
        body.raw(",[")
        for (index, record) in records.enumerated() {
            if index > 0 { body.raw(",") }
            RecordJSON.orderListItem(record, into: body)
        }
        body.raw("]]")
        return body.bytes
    }
}
