import Foundation
import RefundFlow
import Synchronization

/// Fault injection, seeded and reproducible for a given order of requests.
public struct SandboxFaults: Sendable, Hashable {
    /// Share of calls answered with a transient server error (not processed).
    public var failRate = 0.0
    /// Delay before each answer.
    public var latency: Duration = .zero
    /// Requests per minute before the real rate-limit answer; 0: no limit.
    public var rateLimitPerMinute = 0
    /// Share of calls processed and then answered by closing the connection (the ambiguous case).
    public var dropRate = 0.0
    public var seed: UInt64 = 1
    /// Refund numbers with one of these prefixes make a call fail as a business rejection, so
    /// that batch splitting can be rehearsed.
    public var rejectRefundNoPrefixes: [String] = []

    public init() {}
}

/// The per-request dice and the rate limit, shared by all connections.
final class FaultDice: Sendable {
    private let state: Mutex<State>
    private let faults: SandboxFaults

    private struct State {
        var random: SplitMix64
        /// Token bucket: refilled at N/60 per second, holding at most one second's worth.
        var tokens: Double
        var refilledAt: ContinuousClock.Instant
    }

    init(_ faults: SandboxFaults) {
        self.faults = faults
        state = Mutex(State(random: SplitMix64(seed: faults.seed), tokens: Self.capacity(faults), refilledAt: .now))
    }

    private static func capacity(_ faults: SandboxFaults) -> Double { max(1, Double(faults.rateLimitPerMinute) / 60) }

    /// Draws this request's fate: throttled, failed, dropped (after processing), or served.
    func roll() -> (throttled: Bool, fail: Bool, drop: Bool) {
        state.withLock { state in
            var throttled = false
            if faults.rateLimitPerMinute > 0 {
                let now = ContinuousClock.now
                let elapsed = now - state.refilledAt
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                state.tokens = min(Self.capacity(faults), state.tokens + seconds * Double(faults.rateLimitPerMinute) / 60)
                state.refilledAt = now
                if state.tokens >= 1 { state.tokens -= 1 } else { throttled = true }
            }
            let failDraw = Double(state.random.next() >> 11) / Double(1 << 53)
            let dropDraw = Double(state.random.next() >> 11) / Double(1 << 53)
            return (throttled, !throttled && failDraw < faults.failRate, !throttled && dropDraw < faults.dropRate)
        }
    }
}
