import Testing

@testable import RefundFlow

struct ERPResponseTests {
    func qjb(_ json: String, http: Int = 200) -> ERPVerdict { ERPResponse.qjb(httpStatus: http, body: Array(json.utf8)) }

    @Test func qjbAnswers() {
        #expect(qjb(#"{"status":0,"data":{"chg_count":2,"new_count":48}}"#) == .accepted(new: 48, changed: 2))
        #expect(qjb(#"{"status":100,"message":"超过每分钟最大调用频率限制，请稍后重试"}"#) == .retry(reason: "throttled: 超过每分钟最大调用频率限制，请稍后重试", minimumWait: nil))
        #expect(qjb(#"{"status":100,"message":"超过每分钟最大并发次数限制,请稍后重试"}"#) == .retry(reason: "throttled: 超过每分钟最大并发次数限制,请稍后重试", minimumWait: nil))
        #expect(qjb(#"{"status":100,"message":"退换单已存在"}"#) == .rejected(code: "100", message: "退换单已存在"))
        guard case .stop(let code, _, let hint) = qjb(#"{"status":1,"message":"验证失败"}"#) else { Issue.record("sign failure must stop"); return }
        #expect(code == "1")
        #expect(hint.contains("WDT_APPSECRET"))
        guard case .stop = qjb(#"{"status":100,"message":"权限不足"}"#) else { Issue.record("permission must stop"); return }
        guard case .stop = qjb(#"{"status":6,"message":"ip限制"}"#) else { Issue.record("ip must stop"); return }
        guard case .resign = qjb(#"{"status":7,"message":"时间戳错误"}"#) else { Issue.record("timestamp must re-sign"); return }
        guard case .retry = qjb(#"{"status":5,"message":"数据库错误"}"#) else { Issue.record("db must retry"); return }
        guard case .rejected = qjb(#"{"status":1,"message":"参数错误"}"#) else { Issue.record("bad argument is the batch's"); return }
        guard case .retry = qjb("<html>502</html>", http: 502) else { Issue.record("5xx must retry"); return }
        guard case .retry = qjb("<html>oops</html>") else { Issue.record("non-JSON must retry"); return }
    }

    @Test func openAPI2Answers() {
        func verdict(_ json: String) -> ERPVerdict { ERPResponse.openAPI2(httpStatus: 200, body: Array(json.utf8)) }
        #expect(verdict(#"{"code":0,"message":"","new_count":1,"chg_count":0}"#) == .accepted(new: 1, changed: 0))
        guard case .retry = verdict(#"{"code":1001,"message":"接口调用频率超限"}"#) else { Issue.record("rate must retry"); return }
        guard case .stop = verdict(#"{"code":1002,"message":"签名错误"}"#) else { Issue.record("sign must stop"); return }
        guard case .resign = verdict(#"{"code":1003,"message":"时间戳超出范围"}"#) else { Issue.record("clock must re-sign"); return }
        #expect(verdict(#"{"code":5040,"message":"售后单关联的原始单不存在"}"#) == .rejected(code: "5040", message: "售后单关联的原始单不存在"))
    }

    @Test func topAnswers() {
        let key = "alibaba_wdk_trade_refund_create_response"
        func verdict(_ json: String) -> ERPVerdict { ERPResponse.top(httpStatus: 200, body: Array(json.utf8), responseKey: key) }
        #expect(verdict(#"{"alibaba_wdk_trade_refund_create_response":{"result":{"refund_goods_id":"1","success":true},"request_id":"x"}}"#) == .accepted(new: nil, changed: nil))
        #expect(verdict(#"{"alibaba_wdk_trade_refund_create_response":{"result":{"success":false,"error_code":"E1","error_msg":"子单不存在"}}}"#) == .rejected(code: "E1", message: "子单不存在"))
        #expect(verdict(#"{"error_response":{"code":7,"msg":"App Call Limited","sub_code":"accesscontrol.limited-by-app-api-access-count","sub_msg":"This ban will last for 2 more seconds"}}"#)
            == .retry(reason: "App Call Limited: App Call Limited / accesscontrol.limited-by-app-api-access-count / This ban will last for 2 more seconds", minimumWait: .seconds(3)))
        guard case .stop(let code, _, _) = verdict(#"{"error_response":{"code":25,"msg":"Invalid signature"}}"#) else { Issue.record("sign must stop"); return }
        #expect(code == "25")
        guard case .resign = verdict(#"{"error_response":{"code":31,"msg":"Invalid Timestamp"}}"#) else { Issue.record("clock must re-sign"); return }
        guard case .retry = verdict(#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isp.remote-connection-error"}}"#) else { Issue.record("isp must retry"); return }
        guard case .rejected = verdict(#"{"error_response":{"code":15,"msg":"Remote service error","sub_code":"isv.invalid-parameter"}}"#) else { Issue.record("isv must not retry"); return }
        guard case .stop = verdict(#"{"error_response":{"code":27,"msg":"Invalid session"}}"#) else { Issue.record("session must stop"); return }
    }

    @Test func backoffIsJitteredCappedAndHonoursTheERPsWait() {
        var random = SplitMix64(seed: 1)
        let backoff = Backoff(base: .milliseconds(500), cap: .seconds(8), maxAttempts: 6)
        for attempt in 0..<6 {
            let ceiling = min(Duration.seconds(8), .milliseconds(500) * (1 << attempt))
            for _ in 0..<50 {
                let delay = backoff.delay(attempt: attempt, minimum: nil, using: &random)!
                #expect(delay >= .zero && delay <= ceiling)
            }
        }
        #expect(backoff.delay(attempt: 0, minimum: .seconds(3), using: &random)! >= .seconds(3))
        #expect(backoff.delay(attempt: 6, minimum: nil, using: &random) == nil)
    }
}

