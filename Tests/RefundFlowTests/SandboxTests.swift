import Foundation
import Testing

@testable import RefundFlow
@testable import RefundFlowSandbox

/// The sandbox's rules, called directly with requests the client's own signer builds.
struct SandboxTests {
    static let now = 1_725_347_200
    static let credentials = Credentials(
        wdt: WDTCredentials(sid: "sid1", appKey: "key1", appSecret: "secret1:salt1"),
        top: TOPCredentials(appKey: "12345678", secret: "topsecret", session: "sess", signMethod: .md5), source: "test")

    func core(_ faults: SandboxFaults = SandboxFaults()) throws -> SandboxCore {
        let directory = try Fixtures.temporaryDirectory("refundflow-sandbox-unit")
        return try SandboxCore(databasePath: directory + "/s.sqlite", credentials: Self.credentials, faults: faults, clock: { Self.now })
    }

    func signer(at time: Int = now, credentials: Credentials = credentials) -> RequestSigner {
        RequestSigner(credentials: credentials, endpoint: "http://127.0.0.1", unixTime: { time })
    }

    func qjb(_ core: SandboxCore, _ payload: CallPayload, at time: Int = now, tamper: Bool = false) async throws -> JSONValue {
        let request = try signer(at: time).sign(payload)
        var query = request.query
        if tamper { query[query.count - 1].1 = String(query[query.count - 1].1.reversed()) }
        let answer = await core.qjb(query: query, body: request.body)
        return try JSONValue.parse(answer.body)
    }

    static let order = """
        {"refund_no":"R1","num":1,"tid":"T1","oid":"O1","type":2,"status":3,"refund_version":"1","refund_amount":19.9,\
        "actual_refund_amount":0,"title":"","logistics_name":"","logistics_no":"","buyer_nick":"nick","is_aftersale":1,"reason":""}
        """

    func upload(_ orders: String) -> CallPayload {
        .qjb(method: "aftersales.refund.RawRefund.upload", body: Array("[\"LCJ\",[\(orders)]]".utf8), pager: nil)
    }

    @Test func rawRefundUploadCountsNewChangedAndUnchanged() async throws {
        let core = try core()
        #expect(try await qjb(core, upload(Self.order))["data"]?["new_count"]?.int == 1)
        #expect(try await qjb(core, upload(Self.order))["data"]?["new_count"]?.int == 0)
        let changed = Self.order.replacingOccurrences(of: "\"status\":3", with: "\"status\":5")
        let answer = try await qjb(core, upload(changed))
        #expect(answer["data"]?["chg_count"]?.int == 1 && answer["data"]?["new_count"]?.int == 0)
    }

    @Test(arguments: [
        ("\"buyer_nick\":\"nick\",", "", "order_list[0].buyer_nick: 必填"),
        ("\"oid\":\"O1\"", "\"oid\":\"" + String(repeating: "长", count: 41) + "\"", "order_list[0].oid: 长度41超过40"),
        ("\"type\":2", "\"type\":7", "order_list[0].type: 取值7不在0-4"),
        ("\"refund_amount\":19.9", "\"refund_amount\":\"19.90001\"", "order_list[0].refund_amount: 不是合法的Decimal(19,4): \"19.90001\""),
        ("\"title\":\"\",", "", "order_list[0].title: 必填"),
    ])
    func rawRefundUploadEnforcesTheAPIPage(_ replace: String, _ with: String, _ message: String) async throws {
        let answer = try await qjb(core(), upload(Self.order.replacingOccurrences(of: replace, with: with)))
        #expect(answer["status"]?.int == 2)
        #expect(answer["message"]?.text == message)
    }

    @Test func signAndTimestampAreVerifiedWithTheRealErrorShapes() async throws {
        let core = try core()
        let tampered = try await qjb(core, upload(Self.order), tamper: true)
        #expect(tampered == .object([.init("status", .number("1")), .init("message", .string("验证失败"))]))
        #expect(ERPResponse.qjb(httpStatus: 200, body: Array(tampered.serialized().utf8)).isStop)
        let late = try await qjb(core, upload(Self.order), at: Self.now - 121)
        #expect(late["status"]?.int == 7)
        #expect(try await qjb(core, upload(Self.order), at: Self.now - 119)["status"]?.int == 0)
        let wrongKey = Credentials(wdt: WDTCredentials(sid: "sid1", appKey: "other", appSecret: "secret1:salt1"), source: "test")
        let request = try signer(credentials: wrongKey).sign(upload(Self.order))
        let answer = try JSONValue.parse(await core.qjb(query: request.query, body: request.body).body)
        #expect(answer["message"]?.text == "app auth fail")
        #expect(try await core.storedRefunds().isEmpty == false)
    }

    @Test func refundSearchPagesAndEnforcesTheThirtyDayWindow() async throws {
        let core = try core()
        let orders = (1...5).map { Self.order.replacingOccurrences(of: "\"R1\"", with: "\"R\($0)\"") }.joined(separator: ",")
        _ = try await qjb(core, upload(orders))
        func search(_ from: String, _ to: String, page: Int) -> CallPayload {
            .qjb(
                method: RefundSearch.method,
                body: Array("[{\"modified_from\":\"\(from)\",\"modified_to\":\"\(to)\"}]".utf8),
                pager: QJBSigner.Pager(pageSize: 2, pageNo: page, calcTotal: page == 0))
        }
        let today = ShanghaiTime.format(Self.now)
        let first = try await qjb(core, search("2024-08-20 00:00:00", today, page: 0))
        #expect(first["data"]?["total_count"]?.int == 5)
        #expect(first["data"]?["order"]?.elements?.count == 2)
        let last = try await qjb(core, search("2024-08-20 00:00:00", today, page: 2))
        #expect(last["data"]?["total_count"] == nil, "calc_total=0 after the first page")
        #expect(last["data"]?["order"]?.elements?.count == 1)
        #expect(last["data"]?["order"]?.elements?.first?["actual_refund_amount"] == .number("0.0000"))
        let tooLong = try await qjb(core, search("2024-07-01 00:00:00", today, page: 0))
        #expect(tooLong["message"]?.text == "时间跨度不能超过30天")
        let unpaged = try await qjb(core, .qjb(method: RefundSearch.method, body: Array("[{}]".utf8), pager: nil))
        #expect(unpaged["message"]?.text == "此方法仅支持分页查询")
    }

    @Test func smartRefundUploadKnowsOnlyTidsItHasSeen() async throws {
        let core = try core()
        let body = "[{\"tid\":\"T1\",\"return_warehouse_no\":\"WH\",\"remark\":\"\"},[{\"spec_no\":\"S1\",\"stockin_num\":1,\"remark\":\"\"}],false]"
        let payload = CallPayload.qjb(method: "wms.stockin.SmartRefund.upload", body: Array(body.utf8), pager: nil)
        #expect(try await qjb(core, payload)["message"]?.text == "未找到对应的单据信息!")
        _ = try await qjb(core, upload(Self.order))
        let accepted = try await qjb(core, payload)
        #expect(accepted["data"]?["type"]?.int == 12 && accepted["data"]?["stockin_id"]?.int == 1)
        let missing = CallPayload.qjb(method: "wms.stockin.SmartRefund.upload", body: Array(body.replacingOccurrences(of: "\"spec_no\":\"S1\",", with: "").utf8), pager: nil)
        #expect(try await qjb(core, missing)["message"]?.text == "detailMapList[0].spec_no: 必填")
    }

    @Test func enterprisePushVerifiesItsSignAndStatusStrings() async throws {
        let core = try core()
        let list = "[{\"platform_id\":127,\"shop_no\":\"S\",\"tid\":\"T\",\"refund_no\":\"R\",\"type\":3,\"status\":\"success\",\"order_list\":[{\"oid\":\"O\",\"num\":\"1\"}]}]"
        let request = try signer().sign(.openAPI2(script: "sales_refund_push.php", parameters: [("api_refund_list", list)]))
        let form = SandboxServer.formDecode(String(decoding: request.body, as: UTF8.self))
        #expect(try JSONValue.parse(await core.openAPI2(script: "sales_refund_push.php", form: form).body)["new_count"]?.int == 1)
        var tampered = form
        tampered[tampered.count - 1].1 = "0" + tampered[tampered.count - 1].1.dropFirst()
        let refused = try JSONValue.parse(await core.openAPI2(script: "sales_refund_push.php", form: tampered).body)
        #expect(refused["message"]?.text == "签名错误")
        #expect(ERPResponse.openAPI2(httpStatus: 200, body: Array(refused.serialized().utf8)).isStop)
        let badStatus = try signer().sign(.openAPI2(script: "sales_refund_push.php", parameters: [("api_refund_list", list.replacingOccurrences(of: "success", with: "2"))]))
        let answer = try JSONValue.parse(await core.openAPI2(script: "sales_refund_push.php", form: SandboxServer.formDecode(String(decoding: badStatus.body, as: UTF8.self))).body)
        #expect(answer["message"]?.text?.hasPrefix("api_refund_list[0].status:") == true)
    }

    @Test func topCreateChecksSignSessionAndArguments() async throws {
        let core = try core()
        let goods = "{\"main_biz_order_id\":\"M\",\"sub_biz_order_id\":\"S\",\"shop_id\":\"1\",\"refund_fetch_type\":\"NONE\",\"buyer_id\":\"b\",\"refund_goods_sub_orders\":[{\"sub_biz_order_id\":\"S\",\"goods_amount\":\"1\",\"fulfill_amount\":\"1\",\"weight_item\":false,\"gift\":false}]}"
        func call(_ text: String, credentials: Credentials = SandboxTests.credentials) async throws -> JSONValue {
            let request = try signer(credentials: credentials).sign(.top(method: "alibaba.wdk.trade.refund.create", parameters: [("refund_goods_create_request", text)]))
            return try JSONValue.parse(await core.top(query: request.query, form: request.form ?? []).body)
        }
        let created = try await call(goods)
        #expect(created["alibaba_wdk_trade_refund_create_response"]?["result"]?["success"] == .bool(true))
        let noGift = try await call(goods.replacingOccurrences(of: ",\"gift\":false", with: ""))
        #expect(noGift["error_response"]?["code"]?.int == 41)
        #expect(noGift["error_response"]?["sub_code"]?.text == "isv.invalid-parameter:refund_goods_sub_orders[0].gift")
        var wrongSecret = Self.credentials
        wrongSecret.top = TOPCredentials(appKey: "12345678", secret: "nope", session: "sess", signMethod: .hmacSHA256)
        let refused = try await call(goods, credentials: wrongSecret)
        #expect(refused["error_response"]?["code"]?.int == 25)
        #expect(ERPResponse.top(httpStatus: 200, body: Array(refused.serialized().utf8), responseKey: TOPRefundTarget.responseKey).isStop)
    }

    @Test func injectedFaultsAreSeededAndUseTheRealMessages() async throws {
        var faults = SandboxFaults()
        faults.failRate = 1
        let failing = try core(faults)
        let answer = try await qjb(failing, upload(Self.order))
        #expect(answer["status"]?.int == 5)
        #expect(try await failing.storedRefunds().isEmpty, "a failed call is not processed")
        faults = SandboxFaults()
        faults.rateLimitPerMinute = 1  // one token, refilled after a minute: the second call is throttled however slow the machine
        let limited = try core(faults)
        _ = try await qjb(limited, upload(Self.order))
        let throttled = try await qjb(limited, upload(Self.order))
        #expect(throttled["message"]?.text == "超过每分钟最大调用频率限制，请稍后重试")
        guard case .retry = ERPResponse.qjb(httpStatus: 200, body: Array(throttled.serialized().utf8)) else {
            Issue.record("the rate-limit answer must be retried")
            return
        }
        faults = SandboxFaults()
        faults.dropRate = 1
        let dropping = try core(faults)
        let request = try signer().sign(upload(Self.order))
        let dropped = await dropping.qjb(query: request.query, body: request.body)
        #expect(dropped.dropConnection)
        #expect(try await dropping.storedRefunds().isEmpty == false, "processed before the connection closes")
    }
}

extension ERPVerdict {
    var isStop: Bool {
        if case .stop = self { return true }
        return false
    }
}
