/// What to do with one ERP answer, following the error classes of `wdt-protocol.md`.
public enum ERPVerdict: Sendable, Hashable {
    /// Accepted; the counts when the API reports them (RawRefund.upload, sales_refund_push).
    case accepted(new: Int?, changed: Int?)
    /// May succeed later (throttled, transient, server side): back off — at least
    /// `minimumWait` when the ERP says how long — and send again.
    case retry(reason: String, minimumWait: Duration?)
    /// The clock is off: sign again with a fresh timestamp and send again.
    case resign(reason: String)
    /// Refused for what the call carries (a business error): never retried as is; a batch is
    /// split to find the record(s) at fault.
    case rejected(code: String, message: String)
    /// Credentials, sign, permission or configuration: never retried; the run stops and says why.
    case stop(code: String, message: String, hint: String)
}

/// Classifies the answers of the three API families.
public enum ERPResponse {
    /// HTTP statuses worth another try whatever the body says.
    static func transient(_ httpStatus: Int) -> Bool {
        httpStatus == 408 || httpStatus == 429 || (500...599).contains(httpStatus)
    }

    /// The answer as a JSON object, parsed exactly (the same parser reads accepted details).
    private static func object(_ body: [UInt8]) -> JSONValue? {
        guard let value = try? JSONValue.parse(body), value.members != nil else { return nil }
        return value
    }

    private static func string(_ value: JSONValue?) -> String? { value?.text }

    private static func int(_ value: JSONValue?) -> Int? { value?.int }

    // MARK: - 旗舰版 (qjb)

    /// `{"status":0,"data":{…}}` or `{"status":N,"message":"…"}` (qjbguide_cwmsm).
    public static func qjb(httpStatus: Int, body: [UInt8]) -> ERPVerdict {
        if transient(httpStatus) { return .retry(reason: "HTTP \(httpStatus)", minimumWait: nil) }
        guard let answer = object(body), let status = int(answer["status"]) else {
            return .retry(reason: "the answer is not the API's JSON (HTTP \(httpStatus))", minimumWait: nil)
        }
        let message = string(answer["message"]) ?? string(answer["messge"]) ?? ""
        if status == 0 {
            let data = answer["data"]
            return .accepted(new: int(data?["new_count"]), changed: int(data?["chg_count"]))
        }
        let code = String(status)
        switch status {
        case 100 where message.contains("每分钟最大"):
            return .retry(reason: "throttled: \(message)", minimumWait: nil)
        case 100 where message.contains("权限不足"):
            return .stop(code: code, message: message, hint: "the API is not granted to this app key; ask WangDianTong to enable it")
        case 7:
            return .resign(reason: "timestamp refused (\(message)); the clock differs from the ERP's by more than 120 s")
        case 4, 5, 99:
            return .retry(reason: "server side: \(message)", minimumWait: nil)
        case 1 where message.contains("For input string"):
            return .stop(code: code, message: message, hint: "a millisecond timestamp was sent; this is a client bug")
        case 1 where message.contains("参数错误") || message.contains("argument"):
            return .rejected(code: code, message: message)
        case 1:
            return .stop(code: code, message: message, hint: "check WDT_SID, WDT_APPKEY and WDT_APPSECRET and the endpoint (sandbox or production)")
        case 3:
            return .stop(code: code, message: message, hint: "the account needs a dynamic password (需要动态口令); change the account setting")
        case 6:
            return .stop(code: code, message: message, hint: "this machine's IP is not on the app's whitelist")
        case 8:
            return .stop(code: code, message: message, hint: "the API version must be 1.0; this is a client bug")
        default:
            return .rejected(code: code, message: message)
        }
    }

    // MARK: - 企业版 (openapi2)

    /// `{"code":0,"message":"","new_count":1,"chg_count":0}`. No error table is public: any
    /// non-zero code is a rejection unless the message speaks of rate (频率, 超限, 繁忙), the
    /// clock (时间) or credentials (签名, sign, appkey, sid).
    public static func openAPI2(httpStatus: Int, body: [UInt8]) -> ERPVerdict {
        if transient(httpStatus) { return .retry(reason: "HTTP \(httpStatus)", minimumWait: nil) }
        guard let answer = object(body), let code = int(answer["code"]) else {
            return .retry(reason: "the answer is not the API's JSON (HTTP \(httpStatus))", minimumWait: nil)
        }
        let message = string(answer["message"]) ?? ""
        if code == 0 { return .accepted(new: int(answer["new_count"]), changed: int(answer["chg_count"])) }
        let lower = message.lowercased()
        if ["频率", "超限", "繁忙"].contains(where: message.contains) {
            return .retry(reason: "throttled: \(message)", minimumWait: nil)
        }
        if message.contains("时间戳") || lower.contains("timestamp") {
            return .resign(reason: "timestamp refused (\(message)); the ERP allows 5 minutes of clock difference")
        }
        if message.contains("签名") || ["sign", "appkey", "sid"].contains(where: lower.contains) {
            return .stop(code: String(code), message: message, hint: "check WDT_SID, WDT_APPKEY and WDT_APPSECRET and the endpoint")
        }
        return .rejected(code: String(code), message: message)
    }

    // MARK: - Taobao TOP

    /// `{"error_response":{…}}`, or `{"<method>_response":{"result":{"success":…}}}`.
    /// - Parameter responseKey: e.g. `alibaba_wdk_trade_refund_create_response`.
    public static func top(httpStatus: Int, body: [UInt8], responseKey: String) -> ERPVerdict {
        if transient(httpStatus) { return .retry(reason: "HTTP \(httpStatus)", minimumWait: nil) }
        guard let answer = object(body) else {
            return .retry(reason: "the answer is not TOP's JSON (HTTP \(httpStatus))", minimumWait: nil)
        }
        if let error = answer["error_response"], error.members != nil {
            return topError(error)
        }
        guard let response = answer[responseKey], response.members != nil else {
            return .rejected(code: "unexpected", message: "the answer has neither '\(responseKey)' nor 'error_response'")
        }
        if let result = response["result"], result.members != nil, let success = result["success"] {
            let succeeded: Bool
            if case .bool(let flag) = success { succeeded = flag } else { succeeded = success.text == "true" }
            if !succeeded {
                return .rejected(code: string(result["error_code"]) ?? "result.success=false", message: string(result["error_msg"]) ?? "")
            }
        }
        return .accepted(new: nil, changed: nil)
    }

    static func topError(_ error: JSONValue) -> ERPVerdict {
        let code = int(error["code"]) ?? -1
        let message = [string(error["msg"]), string(error["sub_code"]), string(error["sub_msg"])].compactMap { $0 }
            .joined(separator: " / ")
        let subCode = string(error["sub_code"]) ?? ""
        switch code {
        case 7:
            return .retry(reason: "App Call Limited: \(message)", minimumWait: banDuration(string(error["sub_msg"]) ?? ""))
        case 10:
            return .retry(reason: "service unavailable: \(message)", minimumWait: nil)
        case 15 where subCode.hasPrefix("isp."):
            return .retry(reason: "remote service error: \(message)", minimumWait: nil)
        case 31:
            return .resign(reason: "timestamp refused (\(message)); TOP allows 10 minutes of clock difference")
        case 25:
            return .stop(code: "25", message: message, hint: "the sign is wrong: check TOP_SECRET and the sign method")
        case 26, 27:
            return .stop(code: String(code), message: message, hint: "the seller's session is missing or expired: authorise again and set TOP_SESSION")
        case 28, 29:
            return .stop(code: String(code), message: message, hint: "check TOP_APPKEY")
        case 11, 12, 13:
            return .stop(code: String(code), message: message, hint: "the app, user or partner lacks permission for this API")
        default:
            return .rejected(code: String(code), message: message)
        }
    }

    /// "This ban will last for N more seconds" → N + 1 seconds (1 s when it says nothing).
    static func banDuration(_ text: String) -> Duration {
        let words = text.split(whereSeparator: { !$0.isNumber })
        guard let seconds = words.last.flatMap({ Int($0) }), text.contains("ban") else { return .seconds(1) }
        return .seconds(seconds + 1)
    }
}

/// Jittered exponential backoff ("full jitter"): attempt n waits a uniform time in
/// 0…min(cap, base·2ⁿ), and never less than what the ERP asked for.
public struct Backoff: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration
    public var maxAttempts: Int

    public init(base: Duration = .milliseconds(500), cap: Duration = .seconds(60), maxAttempts: Int = 6) {
        self.base = base
        self.cap = cap
        self.maxAttempts = maxAttempts
    }

    /// The wait before retry number `attempt` (0-based), or `nil` when the attempts are used up.
    public func delay(attempt: Int, minimum: Duration?, using random: inout some RandomNumberGenerator) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let ceiling = min(cap, base * (1 << min(attempt, 30)))
        let jittered = Duration.milliseconds(Int64.random(in: 0...max(0, ceiling.milliseconds), using: &random))
        return max(jittered, minimum ?? .zero)
    }
}
