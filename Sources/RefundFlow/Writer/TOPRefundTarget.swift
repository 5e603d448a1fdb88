/// Target `top-wdk-refund`: Taobao TOP `alibaba.wdk.trade.refund.create` (外部渠道逆向订单创建).
///
/// One refund (same `shop_no` and `refund_no`) per call, as `refund_goods_create_request`:
/// `main_biz_order_id` = tid, `sub_biz_order_id` = the first line's oid, `buyer_id` =
/// buyer_nick, `operator_memo` = reason, and one `refund_goods_sub_orders` element per line:
/// `sub_biz_order_id` = oid, `goods_amount` and `fulfill_amount` = num, `sku_code` = spec_no,
/// `refund_fee` = actual_refund_amount in fen (分), `refund_id` = refund_no.
/// Options: `shopId` (门店标识, required), `fetchType` (FETCH_HOME, ON_SHOP or NONE; default
/// NONE), `weightItem` (default false), `initFrom` (渠道来源, optional), `operator` (optional).
struct TOPRefundTarget: PushTarget {
    static let method = "alibaba.wdk.trade.refund.create"
    static let responseKey = "alibaba_wdk_trade_refund_create_response"
    static let fetchTypes = ["FETCH_HOME", "ON_SHOP", "NONE"]

    static let registration = TargetRegistration(
        name: "top-wdk-refund", ownKeys: ["shopId", "fetchType", "weightItem", "initFrom", "operator"], maxBatch: 1,
        validate: { options in
            var problems: [String] = []
            if (options["shopId"] ?? "").isEmpty { problems.append("top-wdk-refund needs shopId, the 门店标识 (e.g. shopId: \"${shop_id}\")") }
            if let type = options["fetchType"], !fetchTypes.contains(type) {
                problems.append("fetchType must be one of \(fetchTypes.joined(separator: ", ")), not '\(type)'")
            }
            if let flag = options["weightItem"], flag != "true" && flag != "false" {
                problems.append("weightItem must be true or false, not '\(flag)'")
            }
            if let number = options["initFrom"], Int(number) == nil { problems.append("initFrom must be an integer, not '\(number)'") }
            return problems
        },
        make: { options in
            TOPRefundTarget(
                shopID: options["shopId"] ?? "", fetchType: options["fetchType"] ?? "NONE",
                weightItem: options["weightItem"] == "true", initFrom: options["initFrom"].flatMap(Int.init),
                operatorName: options["operator"])
        })

    let name = "top-wdk-refund"
    let api = TOPRefundTarget.method
    let family = APIFamily.top
    let maxUnitsPerCall = 1
    let shopID: String
    let fetchType: String
    let weightItem: Bool
    let initFrom: Int?
    let operatorName: String?

    func unitKey(_ record: RefundRecord) -> String? { Self.refundUnitKey(record) }

    /// Yuan → fen, exact (a Decimal4 times 100 keeps every digit).
    static func fen(_ amount: Decimal4) -> Decimal4 { Decimal4(units: amount.units * 100) }

    func payload(group: String, units: [[RefundRecord]]) -> CallPayload {
        let lines = units.flatMap { $0 }
        let head = lines[0]
        let json = JSONBytes(capacity: 512 * lines.count)
        json.raw("{")
        json.key("main_biz_order_id", first: true)
        json.string(head.text(.tid) ?? "")
        json.key("sub_biz_order_id")
        json.string(head.text(.oid) ?? "")
        json.key("shop_id")
        json.string(shopID)
        json.key("refund_fetch_type")
        json.string(fetchType)
        json.key("buyer_id")
        json.string(head.text(.buyerNick) ?? "")
        if let operatorName, !operatorName.isEmpty {
            json.key("operator")
            json.string(operatorName)
        }
        json.textField("operator_memo", head, .reason, omitEmpty: true, style: .utf8)
        if let initFrom {
            json.key("init_from")
            json.integer(initFrom)
        }
        json.key("refund_goods_sub_orders")
        json.raw("[")
        for (index, line) in lines.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{")
            json.key("sub_biz_order_id", first: true)
            json.string(line.text(.oid) ?? "")
            json.decimalField("goods_amount", line.decimal(.num), asString: true)
            json.decimalField("fulfill_amount", line.decimal(.num), asString: true)
            json.textField("sku_code", line, .specNo, omitEmpty: true, style: .utf8)
            json.decimalField("refund_fee", line.decimal(.actualRefundAmount).map(Self.fen))
            json.key("weight_item")
            if weightItem { json.raw("true") } else { json.raw("false") }
            json.key("gift")
            json.raw("false")
            json.textField("refund_id", line, .refundNo, omitEmpty: true, style: .utf8)
            json.raw("}")
        }
        json.raw("]}")
        return .top(method: api, parameters: [("refund_goods_create_request", String(decoding: json.bytes, as: UTF8.self))])
    }

    func classify(_ answer: ERPAnswer) -> ERPVerdict {
        ERPResponse.top(httpStatus: answer.httpStatus, body: answer.body, responseKey: Self.responseKey)
    }

    func acceptedDetails(_ answer: ERPAnswer) -> [JSONValue.Member] {
        guard let result = (try? JSONValue.parse(answer.body))?[Self.responseKey]?["result"] else { return [] }
        return result["refund_goods_id"].map { [JSONValue.Member("refund_goods_id", $0)] } ?? []
    }
}
