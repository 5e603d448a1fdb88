import GRDB
import RefundFlow

/// The API pages' field rules, and the ERP-side view that `Refund.search` returns.
enum SandboxRules {
    /// A value as text: strings as they are, numbers by their exact digits.
    private static func text(_ value: JSONValue?) -> String? { value?.text }

    private static func characters(_ text: String) -> Int { text.unicodeScalars.count }

    private static func isDecimal(_ value: JSONValue?) -> Bool {
        guard let text = value?.text, !text.isEmpty else { return false }
        if case .success = Decimal4.parse(Array(text.utf8)) { return true }
        return false
    }

    private static func checkText(_ object: JSONValue, _ key: String, max: Int, required: Bool, allowEmpty: Bool = false) -> String? {
        guard let value = object[key], !value.isNull else { return required ? "\(key): 必填" : nil }
        guard let text = text(value) else { return "\(key): 必须是字符串" }
        if required && text.isEmpty && !allowEmpty { return "\(key): 不能为空" }
        if characters(text) > max { return "\(key): 长度\(characters(text))超过\(max)" }
        return nil
    }

    /// RawRefund.upload `order_list` element (qjb-aftersales.refund.RawRefund.upload.md): the
    /// same table as the canonical record. `title` and `reason` are required but may be "".
    static func rawRefundProblem(_ order: JSONValue) -> String? {
        guard order.members != nil else { return "必须是对象" }
        for field in RefundField.orderListFields {
            let key = field.rawValue
            let required = field.isRequired || field == .title || field == .reason
            switch field.kind {
            case .text(let max), .dateTime(let max):
                if let problem = checkText(order, key, max: max, required: required, allowEmpty: field.sendsEmptyString) { return problem }
            case .decimal:
                guard let value = order[key], !value.isNull else {
                    if required { return "\(key): 必填" }
                    continue
                }
                if !isDecimal(value) { return "\(key): 不是合法的Decimal(19,4): \(value.serialized())" }
            case .integer(let range):
                guard let value = order[key], !value.isNull else {
                    if required { return "\(key): 必填" }
                    continue
                }
                guard let number = value.int, range.contains(number) else { return "\(key): 取值\(value.serialized())不在\(range.lowerBound)-\(range.upperBound)" }
            }
        }
        return nil
    }

    /// SmartRefund.upload `refundInfo` and `detailMapList` (qjb-wms.stockin.SmartRefund.upload.md).
    static func stockinProblem(info: JSONValue, details: [JSONValue]) -> String? {
        if let problem = checkText(info, "tid", max: 40, required: true) { return "refundInfo.\(problem)" }
        if let problem = checkText(info, "return_warehouse_no", max: 40, required: true) { return "refundInfo.\(problem)" }
        if let problem = checkText(info, "remark", max: 255, required: true, allowEmpty: true) { return "refundInfo.\(problem)" }
        if details.isEmpty { return "detailMapList: 不能为空" }
        for (index, detail) in details.enumerated() {
            if let problem = checkText(detail, "spec_no", max: 40, required: true) { return "detailMapList[\(index)].\(problem)" }
            if !isDecimal(detail["stockin_num"]) { return "detailMapList[\(index)].stockin_num: 必填, Decimal" }
            if let problem = checkText(detail, "remark", max: 255, required: true, allowEmpty: true) { return "detailMapList[\(index)].\(problem)" }
        }
        return nil
    }

    static let enterpriseStatuses: Set<String> = [
        "wait_seller_agree", "seller_refuse", "closed", "goods_returning", "goods_receiving", "success",
    ]

    /// sales_refund_push.php `api_refund_list` element (enterprise-sales_refund_push.php.md).
    static func enterpriseProblem(_ refund: JSONValue) -> String? {
        guard refund.members != nil else { return "必须是对象" }
        if refund["platform_id"]?.text != "127" { return "platform_id: 必须是127" }
        if let problem = checkText(refund, "shop_no", max: 40, required: true) { return problem }
        if let problem = checkText(refund, "tid", max: 40, required: true) { return problem }
        if let problem = checkText(refund, "refund_no", max: 40, required: true) { return problem }
        guard let type = refund["type"]?.int, (1...3).contains(type) else { return "type: 必须是1、2或3" }
        guard let status = refund["status"]?.text, enterpriseStatuses.contains(status) else {
            return "status: 必须是 \(enterpriseStatuses.sorted().joined(separator: ", ")) 之一"
        }
        if let fee = refund["refund_fee"], fee.text != "", !isDecimal(fee) { return "refund_fee: 不是合法的decimal(19,4)" }
        for (key, max) in [("buyer_nick", 100), ("reason", 255), ("desc", 255), ("logistics_no", 40), ("logistics_name", 40)] {
            if let problem = checkText(refund, key, max: max, required: false) { return problem }
        }
        if let time = refund["refund_time"]?.text, !time.isEmpty, ShanghaiTime.parse(time) == nil || time.count != 19 {
            return "refund_time: 格式必须是 yyyy-MM-dd HH:mm:ss"
        }
        guard let lines = refund["order_list"]?.elements, !lines.isEmpty else { return "order_list: 不能为空" }
        for (index, line) in lines.enumerated() {
            if let problem = checkText(line, "oid", max: 40, required: true) { return "order_list[\(index)].\(problem)" }
            if !isDecimal(line["num"]) { return "order_list[\(index)].num: 必填, decimal(19,4)" }
        }
        return nil
    }

    /// alibaba.wdk.trade.refund.create `refund_goods_create_request` (top-alibaba.wdk.trade.refund.create.md).
    static func topProblem(_ request: JSONValue) -> (field: String, message: String)? {
        guard request.members != nil else { return ("refund_goods_create_request", "must be an object") }
        for key in ["sub_biz_order_id", "shop_id", "refund_fetch_type", "main_biz_order_id", "buyer_id"] {
            if (request[key]?.text ?? "").isEmpty { return (key, "\(key) is required") }
        }
        if !["FETCH_HOME", "ON_SHOP", "NONE"].contains(request["refund_fetch_type"]?.text ?? "") {
            return ("refund_fetch_type", "refund_fetch_type must be FETCH_HOME, ON_SHOP or NONE")
        }
        let subOrders = request["refund_goods_sub_orders"]?.elements ?? []
        for (index, order) in subOrders.enumerated() {
            for key in ["sub_biz_order_id", "goods_amount", "fulfill_amount"] where (order[key]?.text ?? "").isEmpty {
                return ("refund_goods_sub_orders[\(index)].\(key)", "\(key) is required")
            }
            for key in ["weight_item", "gift"] where order[key]?.bool == nil {
                return ("refund_goods_sub_orders[\(index)].\(key)", "\(key) is required (true or false)")
            }
            if let fee = order["refund_fee"], !isDecimal(fee) {
                return ("refund_goods_sub_orders[\(index)].refund_fee", "refund_fee must be a number")
            }
        }
        return nil
    }

    // MARK: - Refund.search

    /// Canonical raw `type` → 退换单 type (1 退款, 2 退货, 3 换货, 4 退款不退货).
    static func searchType(_ raw: Int?) -> Int {
        switch raw {
        case 2: return 2
        case 3: return 3
        case 4: return 4
        default: return 1
        }
    }

    private static func amount(_ value: Decimal4) -> JSONValue {
        .number(value.formatted(minFractionDigits: 4))
    }

    private static func decimal(_ value: JSONValue?) -> Decimal4 {
        guard let text = value?.text, case .success(let amount) = Decimal4.parse(Array(text.utf8)) else { return .zero }
        return amount
    }

    /// One page of 退换单 built from the stored raw refunds whose last change falls in the
    /// window, in order of that change; and how many there are in all.
    static func searchOrders(
        _ db: Database, from: Int, to: Int, shops: [String]?, pageNo: Int, pageSize: Int
    ) throws -> ([JSONValue], Int) {
        var filter = ""
        var arguments: [any DatabaseValueConvertible] = []
        if let shops, !shops.isEmpty {
            filter = "WHERE shop_no IN (\(shops.map { _ in "?" }.joined(separator: ", ")))"
            arguments += shops
        }
        let grouped = """
            SELECT shop_no, refund_no, MAX(modified_at) AS modified, MIN(created_at) AS created FROM raw_refunds \(filter)
            GROUP BY shop_no, refund_no HAVING MAX(modified_at) BETWEEN ? AND ?
            """
        arguments += [from, to]
        let total = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM (\(grouped))", arguments: StatementArguments(arguments)) ?? 0
        let refunds = try Row.fetchAll(
            db, sql: "\(grouped) ORDER BY modified, shop_no, refund_no LIMIT ? OFFSET ?",
            arguments: StatementArguments(arguments + [pageSize, pageNo * pageSize]))
        var orders: [JSONValue] = []
        for refund in refunds {
            let shopNo: String = refund["shop_no"]
            let refundNo: String = refund["refund_no"]
            let lines = try String.fetchAll(
                db, sql: "SELECT fields FROM raw_refunds WHERE shop_no = ? AND refund_no = ? ORDER BY oid", arguments: [shopNo, refundNo]
            ).compactMap { try? JSONValue.parse($0) }
            guard let head = lines.first else { continue }
            var actual = Decimal4.zero
            var goods = Decimal4.zero
            var count = Decimal4.zero
            var tids: [String] = []
            var details: [JSONValue] = []
            for line in lines {
                let tid = line["tid"]?.text ?? ""
                if !tids.contains(tid) { tids.append(tid) }
                actual += decimal(line["actual_refund_amount"])
                goods += decimal(line["total_amount"] ?? line["refund_amount"])
                count += decimal(line["num"])
                details.append(
                    .object([
                        .init("oid", .string(line["oid"]?.text ?? "")), .init("platform_id", .number("127")),
                        .init("tid", .string(tid)), .init("num", amount(decimal(line["num"]))),
                        .init("price", amount(decimal(line["price"]))),
                        .init("refund_num", amount(decimal(line["num"]))),
                        .init("total_amount", amount(decimal(line["total_amount"]))),
                        .init("refund_amount", amount(decimal(line["refund_amount"]))),
                        .init("spec_no", .string(line["spec_no"]?.text ?? "")),
                        .init("goods_no", .string(line["goods_no"]?.text ?? "")),
                        .init("remark", .string(line["remark"]?.text ?? "")),
                        .init("raw_refund_nos", .string(refundNo)),
                    ]))
            }
            let modified: Int = refund["modified"]
            let created: Int = refund["created"]
            orders.append(
                .object([
                    .init("refund_no", .string(refundNo)), .init("tid_list", .string(tids.joined(separator: ","))),
                    .init("shop_no", .string(shopNo)),
                    .init("type", .number(String(searchType(head["type"]?.int)))),
                    .init("status", .number(String(RefundSearch.erpStatus(canonical: head["status"]?.int)))),
                    .init("raw_status", .number(String(head["status"]?.int ?? 0))),
                    .init("stockin_status", .number("0")),
                    .init("buyer_nick", .string(head["buyer_nick"]?.text ?? "")),
                    .init("reason_name", .string(head["reason"]?.text ?? "")),
                    .init("remark", .string(head["remark"]?.text ?? "")),
                    .init("return_logistics_no", .string(head["logistics_no"]?.text ?? "")),
                    .init("return_logistics_name", .string(head["logistics_name"]?.text ?? "")),
                    .init("modified", .number(String(Int64(modified) * 1000))),
                    .init("created", .number(String(Int64(created) * 1000))),
                    .init("from_type", .number("0")),
                    .init("return_goods_count", amount(count)),
                    .init("return_goods_amount", amount(goods)),
                    .init("actual_refund_amount", amount(actual)),
                    .init("guarantee_refund_amount", amount(.zero)),
                    .init("direct_refund_amount", amount(actual)),
                    .init("detail_list", .array(details)),
                ]))
        }
        return (orders, total)
    }
}
