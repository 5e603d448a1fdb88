/// The answer to one call, before classification.
public struct ERPAnswer: Sendable, Hashable {
    public var httpStatus: Int
    public var body: [UInt8]

    public init(httpStatus: Int, body: [UInt8]) {
        self.httpStatus = httpStatus
        self.body = body
    }
}

/// What happened to one record in the end.
public enum DeliveryOutcome: Sendable, Hashable {
    /// The ERP took it (as part of a call that reported these counts).
    case accepted
    /// The ERP refused it: its code and message.
    case rejected(code: String, message: String)
    /// No answer could be had after every retry (or the transport failed): it may or may not
    /// have landed, so it must be checked before sending again.
    case failed(reason: String)
}

/// A credentials, sign or permission failure: the run stops; nothing is retried.
public struct DeliveryStopped: Error, Sendable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var hint: String

    public var description: String { "the ERP refused the credentials or the sign (code \(code): \(message)); \(hint)" }
}

/// Sends calls with retries and splits refused batches, independent of transport and clock.
public struct Delivery: Sendable {
    public var backoff: Backoff
    /// How often a call is signed again after a timestamp error before giving up.
    public var maxResigns: Int

    public init(backoff: Backoff = Backoff(), maxResigns: Int = 2) {
        self.backoff = backoff
        self.maxResigns = maxResigns
    }

    /// Sends one call until it has a final verdict: `.accepted`, `.rejected`, or a failure after
    /// the retries. `.stop` throws `DeliveryStopped`.
    /// - Parameters:
    ///   - send: signs (with a fresh timestamp on each call) and sends; throws on transport errors.
    ///   - classify: the family's `ERPResponse` classifier.
    ///   - sleep: waits (injected so tests do not wait).
    public func call(
        send: () async throws -> ERPAnswer, classify: (ERPAnswer) -> ERPVerdict,
        sleep: (Duration) async throws -> Void, random: inout some RandomNumberGenerator
    ) async throws -> ERPVerdict {
        var attempt = 0
        var resigns = 0
        while true {
            let verdict: ERPVerdict
            do {
                verdict = classify(try await send())
            } catch let stop as DeliveryStopped {
                throw stop
            } catch {
                // Timeout, reset, dropped connection: the call may have landed.
                verdict = .retry(reason: "no answer: \(error)", minimumWait: nil)
            }
            switch verdict {
            case .accepted, .rejected:
                return verdict
            case .stop(let code, let message, let hint):
                throw DeliveryStopped(code: code, message: message, hint: hint)
            case .resign(let reason):
                resigns += 1
                if resigns > maxResigns { return .retry(reason: "gave up: \(reason)", minimumWait: nil) }
            case .retry(let reason, let minimumWait):
                guard let wait = backoff.delay(attempt: attempt, minimum: minimumWait, using: &random) else {
                    return .retry(reason: "gave up after \(attempt + 1) tries: \(reason)", minimumWait: nil)
                }
                attempt += 1
                try await sleep(wait)
            }
        }
    }

    /// Delivers `records` as one call; when the ERP refuses the call as a whole, halves it until
    /// the refused records stand alone, so that every record gets its own outcome.
    /// - Parameter sendBatch: one call for the given records (already retried by `call`).
    public func deliver<Record: Sendable>(
        _ records: [Record], sendBatch: ([Record]) async throws -> ERPVerdict
    ) async throws -> [DeliveryOutcome] {
        guard !records.isEmpty else { return [] }
        switch try await sendBatch(records) {
        case .accepted:
            return Array(repeating: .accepted, count: records.count)
        case .rejected(let code, let message):
            if records.count == 1 { return [.rejected(code: code, message: message)] }
            let middle = records.count / 2
            let first = try await deliver(Array(records[..<middle]), sendBatch: sendBatch)
            let second = try await deliver(Array(records[middle...]), sendBatch: sendBatch)
            return first + second
        case .retry(let reason, _), .resign(let reason):
            return Array(repeating: .failed(reason: reason), count: records.count)
        case .stop(let code, let message, let hint):
            throw DeliveryStopped(code: code, message: message, hint: hint)
        }
    }
}
