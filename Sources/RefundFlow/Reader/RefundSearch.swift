/// Reads ERP state: `aftersales.refund.Refund.search` (退换单查询, qjb).
///
/// A time span is split into windows of at most 30 days (the API's limit); each window is read
/// page by page from `page_no` 0, with `calc_total=1` on the first page to learn `total_count`
/// (falling back to `total`, as the Java SDK reads it). Orders keep their exact JSON (amounts
/// such as `0.1000` stay as written).
public struct RefundSearch: Sendable {
    public static let method = "aftersales.refund.Refund.search"
    /// The API's longest window.
    public static let maxWindowSeconds = 30 * 86_400

    public var signer: RequestSigner
    public var transport: any HTTPTransport
    public var delivery: Delivery
    /// Orders per page (the API page advises at most 200).
    public var pageSize: Int
    /// Comma-separated shop numbers, or nil for all shops the app may see.
    public var shopNos: String?
    public var seed: UInt64

    public init(
        signer: RequestSigner, transport: any HTTPTransport, delivery: Delivery = Delivery(), pageSize: Int = 100,
        shopNos: String? = nil, seed: UInt64 = 1
    ) {
        self.signer = signer
        self.transport = transport
        self.delivery = delivery
        self.pageSize = pageSize
        self.shopNos = shopNos
        self.seed = seed
    }

    /// The 退换单 status for a canonical platform status: 1 取消退款 → 10 已取消, 2 已申请退款 →
    /// 20 待审核, 3/4 等待退货/收货 → 30 已审核, 5 退款成功 → 90 已完成.
    public static func erpStatus(canonical: Int?) -> Int {
        switch canonical {
        case 1: return 10
        case 3, 4: return 30
        case 5: return 90
        default: return 20
        }
    }

    public struct Summary: Sendable, Hashable {
        public var windows = 0
        public var pages = 0
        public var orders = 0
    }

    /// Windows of at most 30 days covering `from`…`to` (both inclusive, whole seconds): each
    /// window ends 30 days after it starts, and the next starts one second later.
    public static func windows(from: String, to: String) throws(Diagnostic) -> [(from: String, to: String)] {
        guard let start = ShanghaiTime.parse(from) else { throw badTime("--from", from) }
        guard let end = ShanghaiTime.parse(to) else { throw badTime("--to", to) }
        guard start <= end else {
            throw Diagnostic(code: "search.bad_span", message: "--from \(from) is after --to \(to)")
        }
        var windows: [(String, String)] = []
        var cursor = start
        repeat {
            let last = min(cursor + maxWindowSeconds, end)
            windows.append((ShanghaiTime.format(cursor), ShanghaiTime.format(last)))
            cursor = last + 1
        } while cursor <= end
        return windows
    }

    private static func badTime(_ flag: String, _ text: String) -> Diagnostic {
        Diagnostic(code: "search.bad_time", message: "\(flag) '\(text)' is not a time", notes: ["use yyyy-MM-dd or 'yyyy-MM-dd HH:mm:ss' (Asia/Shanghai)"])
    }

    /// Reads every order modified in the span and hands each to `each`, in the ERP's order.
    public func search(
        from: String, to: String, each: (JSONValue) async throws -> Void
    ) async throws -> Summary {
        var summary = Summary()
        var random = SplitMix64(seed: seed)
        for window in try Self.windows(from: from, to: to) {
            summary.windows += 1
            var params: [JSONValue.Member] = [
                .init("modified_from", .string(window.from)), .init("modified_to", .string(window.to)),
            ]
            if let shopNos { params.append(.init("shop_nos", .string(shopNos))) }
            let body = Array(JSONValue.array([.object(params)]).serialized(style: .phpASCII).utf8)
            var pageNo = 0
            var seen = 0
            var total: Int?
            while true {
                let pager = QJBSigner.Pager(pageSize: pageSize, pageNo: pageNo, calcTotal: pageNo == 0)
                let payload = CallPayload.qjb(method: Self.method, body: body, pager: pager)
                var answer: ERPAnswer?
                let verdict = try await delivery.call(
                    send: {
                        let sent = try await transport.send(try signer.sign(payload))
                        answer = sent
                        return sent
                    },
                    classify: { ERPResponse.qjb(httpStatus: $0.httpStatus, body: $0.body) },
                    sleep: { try await Task.sleep(for: $0) }, random: &random)
                let scrub = signer.credentials.scrub
                switch verdict {
                case .accepted:
                    break
                case .rejected(let code, let message):
                    throw Diagnostic(code: "search.refused", message: "Refund.search was refused (status \(code): \(scrub(message)))", notes: ["window \(window.from) … \(window.to), page \(pageNo)"])
                case .retry(let reason, _), .resign(let reason):
                    throw Diagnostic(code: "search.failed", message: "Refund.search got no answer: \(scrub(reason))", notes: ["window \(window.from) … \(window.to), page \(pageNo); run again later"])
                case .stop(let code, let message, let hint):
                    throw Diagnostic(code: "search.stopped", message: "Refund.search was refused (status \(code): \(scrub(message))); \(hint)")
                }
                let document: JSONValue
                do {
                    document = try JSONValue.parse(answer?.body ?? [])
                } catch {
                    throw Diagnostic(code: "search.bad_answer", message: "Refund.search answered with broken JSON: \(error)")
                }
                let data = document["data"]
                if pageNo == 0 { total = data?["total_count"]?.int ?? document["total"]?.int ?? data?["total"]?.int }
                let orders = data?["order"]?.elements ?? []
                summary.pages += 1
                for order in orders { try await each(order) }
                seen += orders.count
                summary.orders += orders.count
                pageNo += 1
                if orders.isEmpty || orders.count < pageSize { break }
                if let total, seen >= total { break }
            }
        }
        return summary
    }
}

/// Marketplace and ERP times: `yyyy-MM-dd HH:mm:ss` in Asia/Shanghai (UTC+8, no daylight time).
public enum ShanghaiTime {
    /// Unix seconds of `yyyy-MM-dd` (midnight) or `yyyy-MM-dd HH:mm:ss`; nil when malformed.
    public static func parse(_ text: String) -> Int? {
        let parts = text.split(whereSeparator: { $0 == "-" || $0 == " " || $0 == ":" }).map { Int($0) }
        guard parts.count == 3 || parts.count == 6, parts.allSatisfy({ $0 != nil }) else { return nil }
        let values = parts.map { $0! }
        let (year, month, day) = (values[0], values[1], values[2])
        guard (1...12).contains(month), (1...CivilTime.daysInMonth(year: year, month: month)).contains(day) else { return nil }
        var seconds = 0
        if values.count == 6 {
            guard (0...23).contains(values[3]), (0...59).contains(values[4]), (0...59).contains(values[5]) else { return nil }
            seconds = values[3] * 3600 + values[4] * 60 + values[5]
        }
        return CivilTime.daysFromCivil(year: year, month: month, day: day) * 86_400 + seconds - 8 * 3600
    }

    /// `yyyy-MM-dd HH:mm:ss` of unix seconds (also TOP's GMT+8 timestamp).
    public static func format(_ unixTime: Int) -> String {
        let local = unixTime + 8 * 3600
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let seconds = local - days * 86400
        let date = CivilTime.civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
        return "\(date.year)-\(two(date.month))-\(two(date.day)) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
    }
}
