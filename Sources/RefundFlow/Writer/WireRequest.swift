/// The three API families: how a call is addressed, signed and answered (`wdt-protocol.md`).
public enum APIFamily: String, Sendable, Hashable {
    /// 旗舰版: `POST {base}/openapi?…sign`, JSON body of positional arguments.
    case qjb
    /// 企业版: `POST {base}/openapi2/<api>.php`, signed form.
    case openAPI2 = "openapi2"
    /// Taobao TOP: `POST {base}/router/rest?<system params>`, application params as a form.
    case top

    /// The production base URL from the API pages.
    public var productionBase: String {
        switch self {
        case .qjb: return "http://wdt.wangdian.cn"
        case .openAPI2: return "https://api.wangdian.cn"
        case .top: return "https://eco.taobao.com"
        }
    }

    /// Which credentials the family signs with, for messages.
    var credentialNames: String {
        switch self {
        case .qjb, .openAPI2: return "WDT_SID, WDT_APPKEY and WDT_APPSECRET"
        case .top: return "TOP_APPKEY, TOP_SECRET and TOP_SESSION"
        }
    }
}

/// What one call carries before it is signed.
public enum CallPayload: Sendable {
    /// A qjb method with its exact JSON body (and paging, which goes in the query).
    case qjb(method: String, body: [UInt8], pager: QJBSigner.Pager?)
    /// An openapi2 script (e.g. `sales_refund_push.php`) and its business parameters.
    case openAPI2(script: String, parameters: [(String, String)])
    /// A TOP method and its application parameters.
    case top(method: String, parameters: [(String, String)])
}

/// A signed HTTP request, exactly as it goes on the wire.
public struct WireRequest: Sendable {
    public var api: String
    public var family: APIFamily
    public var url: String
    /// Parameters in the URL, in the order sent (`sign` included).
    public var query: [(String, String)]
    /// Parameters in a form body, in the order sent; nil for a JSON body.
    public var form: [(String, String)]?
    public var contentType: String
    public var body: [UInt8]

    /// Parameter values that are secrets and never printed (TOP's `session`).
    static let secretParameters: Set<String> = ["session"]

    static func redact(_ parameters: [(String, String)]) -> [(String, String)] {
        parameters.map { secretParameters.contains($0.0) ? ($0.0, "<redacted>") : $0 }
    }

    /// The URL with secret parameters replaced, for dry-run files and messages.
    public var redactedURL: String {
        guard !query.isEmpty, let mark = url.firstIndex(of: "?") else { return url }
        return String(url[..<mark]) + "?" + formEncode(Self.redact(query))
    }

    public var redactedQuery: [(String, String)] { Self.redact(query) }
    public var redactedForm: [(String, String)]? { form.map(Self.redact) }
}

/// `k=v&…` with PHP `http_build_query` encoding (space as `+`), as the vendor SDKs post.
func formEncode(_ parameters: [(String, String)]) -> String {
    parameters.map { "\(QJBSigner.phpURLEncode($0.0))=\(QJBSigner.phpURLEncode($0.1))" }.joined(separator: "&")
}

/// Signs payloads into wire requests for one run: credentials, base URL and clock.
public struct RequestSigner: Sendable {
    public var credentials: Credentials
    /// Base URL (`--endpoint`); each family appends its own path. Nil: production hosts.
    public var endpoint: String?
    public var unixTime: @Sendable () -> Int
    /// TOP's optional `partner_id` system parameter (the Java SDK sends its version).
    public var topPartnerID: String?

    public init(credentials: Credentials, endpoint: String?, unixTime: @escaping @Sendable () -> Int) {
        self.credentials = credentials
        self.endpoint = endpoint
        self.unixTime = unixTime
    }

    func base(_ family: APIFamily) -> String {
        var base = endpoint ?? credentials.endpoint ?? family.productionBase
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    /// Signs with a fresh timestamp (so a retry after a timestamp error is signed anew).
    /// - Throws: when the family's credentials are missing.
    public func sign(_ payload: CallPayload) throws(Diagnostic) -> WireRequest {
        let now = unixTime()
        switch payload {
        case .qjb(let method, let body, let pager):
            let wdt = try wdtCredentials(.qjb)
            let query = body.withUnsafeBufferPointer {
                QJBSigner.signedQuery(method: method, body: $0, credentials: wdt.qjb, unixTime: now, pager: pager)
            }
            return WireRequest(
                api: method, family: .qjb, url: QJBSigner.url(baseURL: base(.qjb), query: query), query: query, form: nil,
                contentType: "application/json", body: body)
        case .openAPI2(let script, let parameters):
            let wdt = try wdtCredentials(.openAPI2)
            // Sorted as `WdtClient.php` leaves them after signing (ksort), `sign` last.
            var form = ([("sid", wdt.sid), ("appkey", wdt.appKey), ("timestamp", String(now))] + parameters)
                .sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
            form.append(("sign", OpenAPI2Signer.sign(form, appSecret: wdt.appSecret)))
            return WireRequest(
                api: script, family: .openAPI2, url: "\(base(.openAPI2))/openapi2/\(script)", query: [], form: form,
                contentType: "application/x-www-form-urlencoded", body: Array(formEncode(form).utf8))
        case .top(let method, let parameters):
            guard let top = credentials.top else { throw missing(.top) }
            // In the Java SDK's order, `sign` after `timestamp`.
            let head = TOPSigner.kept([("method", method), ("v", "2.0"), ("app_key", top.appKey), ("timestamp", ShanghaiTime.format(now))])
            let tail = TOPSigner.kept([
                ("format", "json"), ("sign_method", top.signMethod.rawValue), ("session", top.session), ("partner_id", topPartnerID ?? ""),
            ])
            let keptApplication = TOPSigner.kept(parameters)
            let sign = TOPSigner.sign(head + tail + keptApplication, secret: top.secret, method: top.signMethod)
            let query = head + [("sign", sign)] + tail
            return WireRequest(
                api: method, family: .top, url: "\(base(.top))/router/rest?" + formEncode(query), query: query,
                form: keptApplication, contentType: "application/x-www-form-urlencoded;charset=utf-8",
                body: Array(formEncode(keptApplication).utf8))
        }
    }

    private func wdtCredentials(_ family: APIFamily) throws(Diagnostic) -> WDTCredentials {
        guard let wdt = credentials.wdt else { throw missing(family) }
        return wdt
    }

    func missingCredentials(_ family: APIFamily) -> Diagnostic { missing(family) }

    private func missing(_ family: APIFamily) -> Diagnostic {
        Diagnostic(
            code: "credentials.missing", message: "no \(family.rawValue) credentials in \(credentials.source)",
            notes: ["set \(family.credentialNames), or use a credentials file profile (--credentials/--profile)"])
    }
}
