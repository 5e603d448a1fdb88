/// One ERP API as a delivery target: how records group into calls and what a call carries.
///
/// Lines that must travel together (the lines of one refund, the details of one stock-in) form
/// a *unit*; a call carries up to `maxUnitsPerCall` units that share a *call group* (the shop
/// of a RawRefund.upload call). When the ERP refuses a call as a whole, units are split apart
/// until the refused ones stand alone.
public protocol PushTarget: Sendable {
    /// The pipeline name, e.g. `wdt-qjb-raw-refund`.
    var name: String { get }
    /// The API method or script, e.g. `aftersales.refund.RawRefund.upload`.
    var api: String { get }
    var family: APIFamily { get }
    /// Units per call (the configured batch size).
    var maxUnitsPerCall: Int { get }
    /// Units in one call share this value.
    func callGroup(_ record: RefundRecord) -> String
    /// Lines with the same key form one unit; nil puts every line in a unit of its own.
    func unitKey(_ record: RefundRecord) -> String?
    /// The call for these units (all of `group`).
    func payload(group: String, units: [[RefundRecord]]) -> CallPayload
    /// The family's verdict on an answer.
    func classify(_ answer: ERPAnswer) -> ERPVerdict
    /// Values of an accepted answer worth keeping with each record (e.g. `stockin_id`).
    func acceptedDetails(_ answer: ERPAnswer) -> [JSONValue.Member]
    /// Whether what this target creates shows up in `Refund.search` (by shop_no, refund_no and
    /// oid), so that a call without an answer can be checked before it is sent again.
    var showsInRefundSearch: Bool { get }
}

extension PushTarget {
    public func acceptedDetails(_ answer: ERPAnswer) -> [JSONValue.Member] { [] }
    public var showsInRefundSearch: Bool { false }
    /// One call group for every record, unless the target's calls are per shop.
    public func callGroup(_ record: RefundRecord) -> String { "" }

    /// The unit of targets that send a refund with all its lines: shop and refund number.
    static func refundUnitKey(_ record: RefundRecord) -> String {
        (record.text(.shopNo) ?? "") + "\u{1F}" + (record.text(.refundNo) ?? "")
    }
}

/// Delivery settings every target takes in its pipeline options.
public struct PushSettings: Sendable, Hashable {
    /// Calls in flight at once.
    public var concurrency = 4
    /// At most this many requests per minute (retries included); 0: no limit.
    public var requestsPerMinute = 600
    public var connectTimeout: Duration = .seconds(10)
    public var readTimeout: Duration = .seconds(60)
    /// Base URL from the pipeline; `--endpoint` overrides it.
    public var endpoint: String?

    public init() {}

    static let keys = ["shopNo", "batchSize", "endpoint", "concurrency", "requestsPerMinute", "connectTimeoutMs", "readTimeoutMs", "maxRetries"]

    public init(options: [String: String]) {
        if let value = options["concurrency"].flatMap(Int.init) { concurrency = value }
        if let value = options["requestsPerMinute"].flatMap(Int.init) { requestsPerMinute = value }
        if let value = options["connectTimeoutMs"].flatMap(Int.init) { connectTimeout = .milliseconds(value) }
        if let value = options["readTimeoutMs"].flatMap(Int.init) { readTimeout = .milliseconds(value) }
        endpoint = options["endpoint"]
    }

    /// The batch size option, bounded by what the API takes.
    static func batchSize(_ options: [String: String], default value: Int) -> Int {
        options["batchSize"].flatMap(Int.init) ?? value
    }

    static func problems(_ options: [String: String], maxBatch: Int) -> [String] {
        var problems: [String] = []
        func integer(_ key: String, _ range: ClosedRange<Int>, _ why: String) {
            guard let text = options[key] else { return }
            if Int(text).map({ !range.contains($0) }) ?? true {
                problems.append("\(key) must be \(range.lowerBound)–\(range.upperBound)\(why), not '\(text)'")
            }
        }
        integer("batchSize", 1...max(1, maxBatch), " (the ERP takes at most \(maxBatch) refunds per call)")
        integer("concurrency", 1...64, "")
        integer("requestsPerMinute", 0...1_000_000, " (0: no limit)")
        integer("connectTimeoutMs", 1...600_000, "")
        integer("readTimeoutMs", 1...3_600_000, "")
        integer("maxRetries", 0...20, "")
        if let endpoint = options["endpoint"], !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            problems.append("endpoint must be an http:// or https:// base URL, not '\(endpoint)'")
        }
        return problems
    }
}

/// Helpers the targets share to write payloads.
extension JSONBytes {
    /// `"key":"text"` for a text field (nothing when empty and `omitEmpty`).
    func textField(_ key: StaticString, _ record: RefundRecord, _ field: RefundField, omitEmpty: Bool, style: JSONStringStyle) {
        let wrote: Bool? = record.withText(field) { bytes in
            if omitEmpty && bytes.isEmpty { return false }
            self.key(key)
            string(bytes, style: style)
            return true
        }
        if wrote == nil && !omitEmpty {
            self.key(key)
            raw("\"\"")
        }
    }

    /// `"key":1.5` for a decimal field as a JSON number (its exact digits).
    func decimalField(_ key: StaticString, _ value: Decimal4?, asString: Bool = false) {
        guard let value else { return }
        self.key(key)
        if asString { raw("\"") }
        value.append(to: buffer, minFractionDigits: 0)
        if asString { raw("\"") }
    }
}
