/// Target `wdt-qjb-stockin`: `wms.stockin.SmartRefund.upload` (快速退货, qjb): returned goods
/// received at a warehouse.
///
/// The lines of one `tid` form one call: `refundInfo` {tid, return_warehouse_no, remark} and
/// `detailMapList` [{spec_no, stockin_num (= num), remark}], then `createPreStockin`.
/// Options: `warehouseNo` (退货入库仓编号, required) and `createPreStockin` (true/false, default
/// false). Records need `spec_no` (商家编码).
struct StockinTarget: PushTarget {
    static let method = "wms.stockin.SmartRefund.upload"

    static let registration = TargetRegistration(
        name: "wdt-qjb-stockin", ownKeys: ["warehouseNo", "createPreStockin"], maxBatch: 1, requiredFields: [.specNo],
        validate: { options in
            var problems: [String] = []
            if (options["warehouseNo"] ?? "").isEmpty {
                problems.append("wdt-qjb-stockin needs warehouseNo, the ERP's 退货入库仓编号 (e.g. warehouseNo: \"${warehouse}\")")
            }
            if let flag = options["createPreStockin"], flag != "true" && flag != "false" {
                problems.append("createPreStockin must be true or false, not '\(flag)'")
            }
            return problems
        },
        make: { options in
            StockinTarget(
                warehouseNo: options["warehouseNo"] ?? "", createPreStockin: options["createPreStockin"] == "true")
        })

    let name = "wdt-qjb-stockin"
    let api = StockinTarget.method
    let family = APIFamily.qjb
    let maxUnitsPerCall = 1
    let warehouseNo: String
    let createPreStockin: Bool

    func unitKey(_ record: RefundRecord) -> String? { record.text(.tid) ?? "" }

    func payload(group: String, units: [[RefundRecord]]) -> CallPayload {
        let lines = units.flatMap { $0 }
        let json = JSONBytes(capacity: 512 * lines.count)
        let style = JSONStringStyle.phpASCII
        json.raw("[{")
        json.key("tid", first: true)
        json.string(lines.first?.text(.tid) ?? "", style: style)
        json.key("return_warehouse_no")
        json.string(warehouseNo, style: style)
        json.key("remark")
        json.string(lines.first?.text(.remark) ?? "", style: style)
        json.raw("},[")
        for (index, line) in lines.enumerated() {
            if index > 0 { json.raw(",") }
            json.raw("{")
            json.key("spec_no", first: true)
            json.string(line.text(.specNo) ?? "", style: style)
            json.decimalField("stockin_num", line.decimal(.num))
            json.key("remark")
            json.raw("\"\"")
            json.raw("}")
        }
        json.raw("],")
        if createPreStockin { json.raw("true") } else { json.raw("false") }
        json.raw("]")
        return .qjb(method: api, body: json.bytes, pager: nil)
    }

    func classify(_ answer: ERPAnswer) -> ERPVerdict { ERPResponse.qjb(httpStatus: answer.httpStatus, body: answer.body) }

    func acceptedDetails(_ answer: ERPAnswer) -> [JSONValue.Member] {
        guard let data = (try? JSONValue.parse(answer.body))?["data"] else { return [] }
        return ["stockin_id", "type"].compactMap { key in data[key].map { JSONValue.Member(key, $0) } }
    }
}
