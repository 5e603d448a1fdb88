import Foundation
import GRDB
import RefundFlow

/// One answer of the sandbox: HTTP status and body, or a closed connection after processing.
public struct SandboxAnswer: Sendable, Hashable {
    public var httpStatus: Int
    public var body: [UInt8]
    /// Processed, then the connection is closed without an answer (`--drop-rate`).
    public var dropConnection = false

    static func json(_ value: JSONValue, status: Int = 200) -> SandboxAnswer {
        SandboxAnswer(httpStatus: status, body: Array(value.serialized().utf8))
    }
}

/// The sandbox's behaviour, apart from HTTP: verifies signs and timestamps, enforces the API
/// pages' required fields and lengths, stores what arrives, and injects faults.
public final class SandboxCore: Sendable {
    let store: SandboxStore
    let credentials: Credentials
    let faults: SandboxFaults
    let dice: FaultDice
    let clock: @Sendable () -> Int

    /// - Parameters:
    ///   - credentials: what callers must sign with (`WDT_*`, `TOP_*`); a family without
    ///     credentials refuses every call as an auth failure.
    ///   - clock: unix seconds (tests pin it).
    public init(
        databasePath: String, credentials: Credentials, faults: SandboxFaults = SandboxFaults(),
        clock: @escaping @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }
    ) throws {
        store = try SandboxStore(path: databasePath)
        self.credentials = credentials
        self.faults = faults
        dice = FaultDice(faults)
        self.clock = clock
    }

    enum Family {
        case qjb, openAPI2, top
    }

    /// Latency, the caller's own refusal (auth), rate limit and injected failure, processing,
    /// then maybe a dropped connection: in that order.
    private func serve(
        _ family: Family, refusal: SandboxAnswer?, process: () async throws -> SandboxAnswer
    ) async -> SandboxAnswer {
        if faults.latency > .zero { try? await Task.sleep(for: faults.latency) }
        if let refusal { return refusal }
        let fate = dice.roll()
        if fate.throttled { return Self.throttled(family) }
        if fate.fail { return Self.failure(family) }
        do {
            var answer = try await process()
            answer.dropConnection = fate.drop && answer.httpStatus == 200
            return answer
        } catch let refusal as Refusal {
            return refusal.answer
        } catch {
            return SandboxAnswer(httpStatus: 500, body: Array("sandbox: \(error)".utf8))
        }
    }

    /// A business refusal thrown from processing: the family's error shape.
    struct Refusal: Error {
        var answer: SandboxAnswer
    }

    static func throttled(_ family: Family) -> SandboxAnswer {
        switch family {
        case .qjb: return qjbError(100, "超过每分钟最大调用频率限制，请稍后重试")
        case .openAPI2: return openAPI2Error(100, "超过每分钟最大调用频率限制,请稍后重试")
        case .top:
            return topError(7, "App Call Limited", "accesscontrol.limited-by-api-access-count", "This ban will last for 1 more seconds")
        }
    }

    static func failure(_ family: Family) -> SandboxAnswer {
        switch family {
        case .qjb: return qjbError(5, "数据库错误 (sandbox: injected failure)")
        case .openAPI2: return SandboxAnswer(httpStatus: 503, body: Array("Service Unavailable (sandbox: injected failure)".utf8))
        case .top: return topError(10, "Service Currently Unavailable", "isp.service-unavailable", "sandbox: injected failure")
        }
    }

    static func qjbError(_ status: Int, _ message: String) -> SandboxAnswer {
        .json(.object([.init("status", .number(String(status))), .init("message", .string(message))]))
    }

    static func openAPI2Error(_ code: Int, _ message: String) -> SandboxAnswer {
        .json(.object([.init("code", .number(String(code))), .init("message", .string(message))]))
    }

    static func topError(_ code: Int, _ message: String, _ subCode: String? = nil, _ subMessage: String? = nil) -> SandboxAnswer {
        var members: [JSONValue.Member] = [.init("code", .number(String(code))), .init("msg", .string(message))]
        if let subCode { members.append(.init("sub_code", .string(subCode))) }
        if let subMessage { members.append(.init("sub_msg", .string(subMessage))) }
        members.append(.init("request_id", .string("sandbox")))
        return .json(.object([.init("error_response", .object(members))]))
    }

    static func value(_ pairs: [(String, String)], _ key: String) -> String? { pairs.last { $0.0 == key }?.1 }

    func rejectedRefundNo(_ refundNos: [String]) -> String? {
        refundNos.first { number in faults.rejectRefundNoPrefixes.contains { !$0.isEmpty && number.hasPrefix($0) } }
    }

    // MARK: - qjb: POST /openapi

    /// A qjb call: `query` from the URL, `body` the raw JSON text.
    public func qjb(query: [(String, String)], body: [UInt8]) async -> SandboxAnswer {
        let method = Self.value(query, "method") ?? ""
        return await serve(.qjb, refusal: qjbRefusal(query: query, body: body)) {
            let arguments: [JSONValue]
            do {
                guard let array = try JSONValue.parse(body).elements else { throw Refusal(answer: Self.qjbError(1, "参数错误: the body must be a JSON array of arguments")) }
                arguments = array
            } catch let error as JSONValueError {
                throw Refusal(answer: Self.qjbError(1, "参数错误: \(error)"))
            }
            switch method {
            case "aftersales.refund.RawRefund.upload": return try await rawRefundUpload(arguments)
            case "aftersales.refund.Refund.search": return try await refundSearch(arguments, query: query)
            case "wms.stockin.SmartRefund.upload": return try await smartRefundUpload(arguments)
            default: return Self.qjbError(100, "接口不存在: \(method)")
            }
        }
    }

    private func qjbRefusal(query: [(String, String)], body: [UInt8]) -> SandboxAnswer? {
        for name in ["sid", "key", "method", "timestamp", "v", "sign"] where Self.value(query, name) == nil {
            return Self.qjbError(1, "参数错误: 缺少公共参数 \(name)")
        }
        guard let wdt = credentials.wdt else { return Self.qjbError(1, "app auth fail") }
        if Self.value(query, "v") != "1.0" { return Self.qjbError(8, "版本错误") }
        if Self.value(query, "sid") != wdt.sid { return Self.qjbError(1, "sid is not exists") }
        if Self.value(query, "key") != wdt.appKey { return Self.qjbError(1, "app auth fail") }
        let stamp = Self.value(query, "timestamp") ?? ""
        guard let seconds = Int(stamp), stamp.count <= 11 else { return Self.qjbError(1, "For input string: \"\(stamp)\"") }
        if abs(clock() - (seconds + QJBSigner.epochOffset)) > 120 { return Self.qjbError(7, "时间戳错误,两分钟内合法") }
        if !wdt.verifiesQJB(query: query, body: body) { return Self.qjbError(1, "验证失败") }
        return nil
    }

    private func rawRefundUpload(_ arguments: [JSONValue]) async throws -> SandboxAnswer {
        guard arguments.count == 2, case .string(let shopNo) = arguments[0], let orders = arguments[1].elements else {
            throw Refusal(answer: Self.qjbError(1, "invalid argument count: expected (shop_no, order_list)"))
        }
        if shopNo.isEmpty { throw Refusal(answer: Self.qjbError(100, "店铺编号不存在或已停用")) }
        if orders.isEmpty { throw Refusal(answer: Self.qjbError(2, "order_list")) }
        for (index, order) in orders.enumerated() {
            if let problem = SandboxRules.rawRefundProblem(order) {
                throw Refusal(answer: Self.qjbError(2, "order_list[\(index)].\(problem)"))
            }
        }
        if let bad = rejectedRefundNo(orders.compactMap { $0["refund_no"]?.text }) {
            throw Refusal(answer: Self.qjbError(100, "退换单已存在: \(bad)"))
        }
        let now = clock()
        let counted = try await store.database.write { db in
            var counted = SandboxStore.Counted()
            for order in orders {
                let key = [shopNo, order["refund_no"]?.text ?? "", order["oid"]?.text ?? ""]
                try SandboxStore.upsert(
                    db, table: "raw_refunds", keyColumns: ["shop_no", "refund_no", "oid"], key: key,
                    tid: order["tid"]?.text ?? "", fields: order.serialized(), now: now, counted: &counted,
                    keyJSON: .object([.init("shop_no", .string(key[0])), .init("refund_no", .string(key[1])), .init("oid", .string(key[2]))]))
            }
            try SandboxStore.logRequest(db, family: "qjb", method: "aftersales.refund.RawRefund.upload", counted: counted, now: now)
            return counted
        }
        return .json(
            .object([
                .init("status", .number("0")),
                .init("data", .object([.init("chg_count", .number(String(counted.changed.count))), .init("new_count", .number(String(counted.new.count)))])),
            ]))
    }

    private func refundSearch(_ arguments: [JSONValue], query: [(String, String)]) async throws -> SandboxAnswer {
        guard let pageNo = Self.value(query, "page_no").flatMap(Int.init), let pageSize = Self.value(query, "page_size").flatMap(Int.init) else {
            throw Refusal(answer: Self.qjbError(100, "此方法仅支持分页查询"))
        }
        guard pageNo >= 0, (1...1000).contains(pageSize) else { throw Refusal(answer: Self.qjbError(2, "page_size")) }
        let params = arguments.first ?? .object([])
        guard let fromText = (params["modified_from"] ?? params["start_time"])?.text,
            let toText = (params["modified_to"] ?? params["end_time"])?.text
        else { throw Refusal(answer: Self.qjbError(100, "参数中必须包含起止时间")) }
        guard let from = ShanghaiTime.parse(fromText) else { throw Refusal(answer: Self.qjbError(2, "modified_from")) }
        guard let to = ShanghaiTime.parse(toText) else { throw Refusal(answer: Self.qjbError(2, "modified_to")) }
        if to < from { throw Refusal(answer: Self.qjbError(100, "开始时间不能大于结束时间")) }
        if to - from > RefundSearch.maxWindowSeconds { throw Refusal(answer: Self.qjbError(100, "时间跨度不能超过30天")) }
        let shops = params["shop_nos"]?.text.map { $0.split(separator: ",").map { String($0) } }
        let calcTotal = Self.value(query, "calc_total") == "1"
        let (orders, total) = try await store.database.read { db in
            try SandboxRules.searchOrders(db, from: from, to: to, shops: shops, pageNo: pageNo, pageSize: pageSize)
        }
        var data: [JSONValue.Member] = []
        if calcTotal { data.append(.init("total_count", .number(String(total)))) }
        data.append(.init("order", .array(orders)))
        return .json(.object([.init("status", .number("0")), .init("data", .object(data))]))
    }

    private func smartRefundUpload(_ arguments: [JSONValue]) async throws -> SandboxAnswer {
        guard arguments.count == 3, let info = arguments[0].members.map(JSONValue.object), let details = arguments[1].elements,
            case .bool = arguments[2]
        else { throw Refusal(answer: Self.qjbError(1, "invalid argument count: expected (refundInfo, detailMapList, createPreStockin)")) }
        if let problem = SandboxRules.stockinProblem(info: info, details: details) { throw Refusal(answer: Self.qjbError(2, problem)) }
        let tid = info["tid"]?.text ?? ""
        let now = clock()
        let stockinID: Int64 = try await store.database.write { db in
            guard try SandboxStore.knowsTid(db, tid) else { throw Refusal(answer: Self.qjbError(100, "未找到对应的单据信息!")) }
            try db.execute(
                sql: "INSERT INTO stockins (tid, fields, created_at) VALUES (?, ?, ?)",
                arguments: [tid, JSONValue.array(arguments).serialized(), now])
            let id = db.lastInsertedRowID
            var counted = SandboxStore.Counted()
            counted.new.append(.object([.init("tid", .string(tid)), .init("stockin_id", .number(String(id)))]))
            try SandboxStore.logRequest(db, family: "qjb", method: "wms.stockin.SmartRefund.upload", counted: counted, now: now)
            return id
        }
        return .json(
            .object([
                .init("status", .number("0")),
                .init("data", .object([.init("stockin_id", .number(String(stockinID))), .init("type", .number("12"))])),
            ]))
    }

    // MARK: - openapi2: POST /openapi2/sales_refund_push.php

    /// An enterprise call: the decoded form fields in the order posted.
    public func openAPI2(script: String, form: [(String, String)]) async -> SandboxAnswer {
        await serve(.openAPI2, refusal: openAPI2Refusal(form)) {
            guard script == "sales_refund_push.php" else { return Self.openAPI2Error(100, "接口不存在: \(script)") }
            guard let listText = Self.value(form, "api_refund_list") else {
                throw Refusal(answer: Self.openAPI2Error(100, "缺少参数 api_refund_list"))
            }
            let refunds: [JSONValue]
            do {
                guard let list = try JSONValue.parse(listText).elements else { throw Refusal(answer: Self.openAPI2Error(100, "api_refund_list 必须是数组")) }
                refunds = list
            } catch let error as JSONValueError {
                throw Refusal(answer: Self.openAPI2Error(100, "api_refund_list 不是合法的JSON: \(error)"))
            }
            if refunds.isEmpty { throw Refusal(answer: Self.openAPI2Error(100, "api_refund_list 不能为空")) }
            for (index, refund) in refunds.enumerated() {
                if let problem = SandboxRules.enterpriseProblem(refund) {
                    throw Refusal(answer: Self.openAPI2Error(100, "api_refund_list[\(index)].\(problem)"))
                }
            }
            if let bad = rejectedRefundNo(refunds.compactMap { $0["refund_no"]?.text }) {
                throw Refusal(answer: Self.openAPI2Error(100, "退款单\(bad)对应的原始订单不存在"))
            }
            let now = clock()
            let counted = try await store.database.write { db in
                var counted = SandboxStore.Counted()
                for refund in refunds {
                    let key = [refund["shop_no"]?.text ?? "", refund["refund_no"]?.text ?? ""]
                    try SandboxStore.upsert(
                        db, table: "enterprise_refunds", keyColumns: ["shop_no", "refund_no"], key: key,
                        tid: refund["tid"]?.text ?? "", fields: refund.serialized(), now: now, counted: &counted,
                        keyJSON: .object([.init("shop_no", .string(key[0])), .init("refund_no", .string(key[1]))]))
                }
                try SandboxStore.logRequest(db, family: "openapi2", method: "sales_refund_push.php", counted: counted, now: now)
                return counted
            }
            return .json(
                .object([
                    .init("code", .number("0")), .init("message", .string("")),
                    .init("new_count", .number(String(counted.new.count))), .init("chg_count", .number(String(counted.changed.count))),
                ]))
        }
    }

    private func openAPI2Refusal(_ form: [(String, String)]) -> SandboxAnswer? {
        for name in ["sid", "appkey", "timestamp", "sign"] where Self.value(form, name) == nil {
            return Self.openAPI2Error(100, "缺少公共参数 \(name)")
        }
        guard let wdt = credentials.wdt, Self.value(form, "appkey") == wdt.appKey else {
            return Self.openAPI2Error(1007, "接口appkey已停用或不存在【解决办法:联系商务人员,重新开启接口appkey】")
        }
        if Self.value(form, "sid") != wdt.sid { return Self.openAPI2Error(1007, "卖家账号sid不存在") }
        guard let seconds = Self.value(form, "timestamp").flatMap(Int.init), abs(clock() - seconds) <= 300 else {
            return Self.openAPI2Error(100, "时间戳错误,与服务器时间误差超过5分钟")
        }
        if !wdt.verifiesOpenAPI2(form: form) { return Self.openAPI2Error(100, "签名错误") }
        return nil
    }

    // MARK: - TOP: POST /router/rest

    /// A TOP call: system parameters from the URL, application parameters from the form.
    public func top(query: [(String, String)], form: [(String, String)]) async -> SandboxAnswer {
        await serve(.top, refusal: topRefusal(query + form)) {
            let method = Self.value(query + form, "method") ?? ""
            guard method == "alibaba.wdk.trade.refund.create" else { return Self.topError(22, "Invalid Method", "isv.invalid-method", method) }
            guard let text = Self.value(form + query, "refund_goods_create_request") else {
                return Self.topError(40, "Missing Required Arguments", "isv.missing-parameter:refund_goods_create_request")
            }
            let request: JSONValue
            do {
                request = try JSONValue.parse(text)
            } catch {
                return Self.topError(41, "Invalid Arguments", "isv.invalid-parameter:refund_goods_create_request", "\(error)")
            }
            if let problem = SandboxRules.topProblem(request) {
                return Self.topError(41, "Invalid Arguments", "isv.invalid-parameter:\(problem.field)", problem.message)
            }
            let subOrders = request["refund_goods_sub_orders"]?.elements ?? []
            let refundIDs = subOrders.compactMap { $0["refund_id"]?.text }
            if let bad = rejectedRefundNo(refundIDs) {
                return Self.topResult([
                    .init("success", .bool(false)), .init("error_code", .string("ILLEGAL_PARAMETERS")),
                    .init("error_msg", .string("请求参数非法: refund_id \(bad)")),
                ])
            }
            let orderID = request["main_biz_order_id"]?.text ?? ""
            let refundKey = refundIDs.first ?? request["sub_biz_order_id"]?.text ?? ""
            let now = clock()
            let id: Int64 = try await store.database.write { db in
                var counted = SandboxStore.Counted()
                let fields = request.serialized()
                let keyJSON = JSONValue.object([.init("main_biz_order_id", .string(orderID)), .init("refund_id", .string(refundKey))])
                let existing = try Row.fetchOne(
                    db, sql: "SELECT refund_goods_id, fields FROM top_refunds WHERE main_biz_order_id = ? AND refund_key = ?",
                    arguments: [orderID, refundKey])
                let id: Int64
                if let existing {
                    id = existing["refund_goods_id"]
                    if (existing["fields"] as String) == fields {
                        counted.unchanged += 1
                    } else {
                        try db.execute(sql: "UPDATE top_refunds SET fields = ?, modified_at = ? WHERE refund_goods_id = ?", arguments: [fields, now, id])
                        counted.changed.append(keyJSON)
                    }
                } else {
                    try db.execute(
                        sql: "INSERT INTO top_refunds (main_biz_order_id, refund_key, fields, created_at, modified_at) VALUES (?, ?, ?, ?, ?)",
                        arguments: [orderID, refundKey, fields, now, now])
                    id = db.lastInsertedRowID
                    counted.new.append(keyJSON)
                }
                try SandboxStore.logRequest(db, family: "top", method: method, counted: counted, now: now)
                return id
            }
            return Self.topResult([.init("refund_goods_id", .string(String(80_000_000_000_000 + id))), .init("success", .bool(true))])
        }
    }

    static func topResult(_ result: [JSONValue.Member]) -> SandboxAnswer {
        .json(
            .object([
                .init(
                    "alibaba_wdk_trade_refund_create_response",
                    .object([.init("result", .object(result)), .init("request_id", .string("sandbox"))]))
            ]))
    }

    private func topRefusal(_ parameters: [(String, String)]) -> SandboxAnswer? {
        guard let top = credentials.top else { return Self.topError(29, "Invalid App Key") }
        guard let appKey = Self.value(parameters, "app_key") else { return Self.topError(28, "Missing App Key") }
        if appKey != top.appKey { return Self.topError(29, "Invalid App Key") }
        guard let session = Self.value(parameters, "session") else { return Self.topError(26, "Missing Session") }
        if !top.acceptsSession(session) { return Self.topError(27, "Invalid Session", "invalid-sessionkey", "session not valid for this app") }
        guard let stamp = Self.value(parameters, "timestamp") else { return Self.topError(30, "Missing Timestamp") }
        let seconds = ShanghaiTime.parse(stamp) ?? (stamp.allSatisfy(\.isNumber) ? Int(stamp).map { $0 / 1000 } : nil)
        guard let seconds, abs(clock() - seconds) <= 600 else { return Self.topError(31, "Invalid Timestamp") }
        if Self.value(parameters, "sign") == nil { return Self.topError(24, "Missing Signature") }
        if !top.verifies(parameters: parameters) { return Self.topError(25, "Invalid Signature") }
        return nil
    }

    // MARK: - What arrived

    /// `GET /_sandbox/refunds`: one stored raw refund per line, `shop_no` then its fields as sent.
    public func storedRefunds() async throws -> [UInt8] {
        try await lines(sql: "SELECT shop_no, fields FROM raw_refunds ORDER BY shop_no, refund_no, oid") { row in
            let fields: String = row["fields"]
            let members = (try? JSONValue.parse(fields))?.members ?? []
            return .object([.init("shop_no", .string(row["shop_no"]))] + members.filter { $0.key != "shop_no" })
        }
    }

    /// `GET /_sandbox/enterprise-refunds`, `/_sandbox/stockins`, `/_sandbox/top-refunds`.
    public func stored(_ table: String) async throws -> [UInt8] {
        switch table {
        case "enterprise-refunds":
            return try await lines(sql: "SELECT fields FROM enterprise_refunds ORDER BY shop_no, refund_no") { row in
                (try? JSONValue.parse(row["fields"] as String)) ?? .null
            }
        case "stockins":
            return try await lines(sql: "SELECT stockin_id, fields FROM stockins ORDER BY stockin_id") { row in
                .object([.init("stockin_id", .number(String(row["stockin_id"] as Int64))), .init("arguments", (try? JSONValue.parse(row["fields"] as String)) ?? .null)])
            }
        default:
            return try await lines(sql: "SELECT refund_goods_id, fields FROM top_refunds ORDER BY refund_goods_id") { row in
                .object([
                    .init("refund_goods_id", .string(String(80_000_000_000_000 + (row["refund_goods_id"] as Int64)))),
                    .init("refund_goods_create_request", (try? JSONValue.parse(row["fields"] as String)) ?? .null),
                ])
            }
        }
    }

    /// `GET /_sandbox/requests`: one accepted call per line, with the keys it counted.
    public func requestLog() async throws -> [UInt8] {
        try await lines(sql: "SELECT * FROM requests ORDER BY id") { row in
            .object([
                .init("id", .number(String(row["id"] as Int64))),
                .init("time", .string(ShanghaiTime.format(row["time"]))),
                .init("family", .string(row["family"])), .init("method", .string(row["method"])),
                .init("new", (try? JSONValue.parse(row["new_keys"] as String)) ?? .array([])),
                .init("changed", (try? JSONValue.parse(row["changed_keys"] as String)) ?? .array([])),
                .init("unchanged", .number(String(row["unchanged"] as Int64))),
            ])
        }
    }

    private func lines(sql: String, _ render: @escaping @Sendable (Row) -> JSONValue) async throws -> [UInt8] {
        try await store.database.read { db in
            var out: [UInt8] = []
            let rows = try Row.fetchCursor(db, sql: sql)
            while let row = try rows.next() {
                out += Array(render(row).serialized().utf8)
                out.append(0x0A)
            }
            return out
        }
    }
}
