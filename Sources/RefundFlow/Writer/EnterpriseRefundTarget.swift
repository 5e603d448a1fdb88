/// Target `wdt-enterprise-refund`: 企业版 `sales_refund_push.php` (创建原始退款单, openapi2).
///
/// The lines of one refund (same `shop_no` and `refund_no`) go out as one element of
/// `api_refund_list` with their `order_list` of `{oid, num}`; at most 10 refunds per call, as
/// the API page advises. `api_refund_list` is ASCII-escaped JSON so that the character-length
/// sign cannot depend on how the server counts. Empty optional fields are left out.
///
/// | canonical `type` | sent `type` | canonical `status` | sent `status` |
/// |---|---|---|---|
/// | 0 取消订单 | 1 退款(未发货) | 1 取消退款 | `closed` |
/// | 1 退款(未发货) | 1 退款(未发货) | 2 已申请退款 | `wait_seller_agree` |
/// | 2 退货 | 3 退货 | 3 等待退货 | `goods_returning` |
/// | 3 换货 | 3 退货 (the page: an exchange is pushed as a return) | 4 等待收货 | `goods_receiving` |
/// | 4 退款不退货 | 2 退款不退货 | 5 退款成功 | `success` |
///
/// `refund_fee` is the sum of the lines' `refund_amount`; `desc` is `remark`.
struct EnterpriseRefundTarget: PushTarget {
    static let script = "sales_refund_push.php"
    static let maxRefundsPerCall = 10

    static let registration = TargetRegistration(
        name: "wdt-enterprise-refund", ownKeys: [], maxBatch: 10, validate: { _ in [] },
        make: { options in
            EnterpriseRefundTarget(maxUnitsPerCall: PushSettings.batchSize(options, default: maxRefundsPerCall))
        })

    let name = "wdt-enterprise-refund"
    let api = EnterpriseRefundTarget.script
    let family = APIFamily.openAPI2
    let maxUnitsPerCall: Int

    static func type(_ canonical: Int?) -> Int {
        switch canonical {
        case 2, 3: return 3
        case 4: return 2
        default: return 1
        }
    }

    static func status(_ canonical: Int?) -> String {
        switch canonical {
        case 1: return "closed"
        case 3: return "goods_returning"
        case 4: return "goods_receiving"
        case 5: return "success"
        default: return "wait_seller_agree"
        }
    }

    func unitKey(_ record: RefundRecord) -> String? { Self.refundUnitKey(record) }

    func payload(group: String, units: [[RefundRecord]]) -> CallPayload {
        let json = JSONBytes(capacity: 1024 * units.count)
        let style = JSONStringStyle.phpASCII
        json.raw("[")
        for (index, lines) in units.enumerated() {
            let head = lines[0]
            if index > 0 { json.raw(",") }
            json.raw("{")
            json.key("platform_id", first: true)
            json.integer(127)
            json.textField("shop_no", head, .shopNo, omitEmpty: false, style: style)
            json.textField("tid", head, .tid, omitEmpty: false, style: style)
            json.textField("refund_no", head, .refundNo, omitEmpty: false, style: style)
            json.key("type")
            json.integer(Self.type(head.integer(.type)))
            json.key("status")
            json.string(Self.status(head.integer(.status)))
            json.decimalField("refund_fee", lines.reduce(Decimal4.zero) { $0 + ($1.decimal(.refundAmount) ?? .zero) }, asString: true)
            json.textField("buyer_nick", head, .buyerNick, omitEmpty: true, style: style)
            json.textField("refund_time", head, .refundTime, omitEmpty: true, style: style)
            json.textField("reason", head, .reason, omitEmpty: true, style: style)
            json.textField("desc", head, .remark, omitEmpty: true, style: style)
            json.textField("logistics_no", head, .logisticsNo, omitEmpty: true, style: style)
            json.textField("logistics_name", head, .logisticsName, omitEmpty: true, style: style)
            json.key("order_list")
            json.raw("[")
            for (position, line) in lines.enumerated() {
                if position > 0 { json.raw(",") }
                json.raw("{")
                json.key("oid", first: true)
                json.string(line.text(.oid) ?? "", style: style)
                json.decimalField("num", line.decimal(.num), asString: true)
                json.raw("}")
            }
            json.raw("]}")
        }
        json.raw("]")
        return .openAPI2(script: api, parameters: [("api_refund_list", String(decoding: json.bytes, as: UTF8.self))])
    }

    func classify(_ answer: ERPAnswer) -> ERPVerdict { ERPResponse.openAPI2(httpStatus: answer.httpStatus, body: answer.body) }
}
