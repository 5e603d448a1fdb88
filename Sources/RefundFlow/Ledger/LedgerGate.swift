/// Decides, with the ledger, which valid records a push sends: new ones, changed ones, and ones
/// an earlier run did not finish; not the ones the ERP already acknowledged with the same payload.
final class LedgerGate {
    let ledger: RunLedger
    let target: String
    let retryRejected: Bool
    /// Records whose earlier call got no answer, for targets the ERP cannot be read back for.
    let resendAmbiguous: Bool
    private let json = JSONBytes(capacity: 2048)

    /// Why a record is not sent.
    enum Skip: String {
        /// The ERP acknowledged this exact payload before.
        case acknowledged
        /// The ERP refused this exact payload before (`--retry-rejected` sends it again).
        case rejected
        /// An earlier call may have delivered it and the ERP cannot be read back for this target.
        case ambiguous
    }

    struct Decision {
        var send: [RefundRecord] = []
        var skip: [(RefundRecord, Skip)] = []
        /// Sent because the payload differs from the one acknowledged.
        var changed = 0
    }

    init(ledger: RunLedger, target: String, retryRejected: Bool, resendAmbiguous: Bool) {
        self.ledger = ledger
        self.target = target
        self.retryRejected = retryRejected
        self.resendAmbiguous = resendAmbiguous
    }


    func decide(_ records: [RefundRecord]) throws -> Decision {
        let keys = records.map(RunLedger.Key.init)
        let entries = try ledger.entries(target: target, keys: keys)
        var decision = Decision()
        for (index, record) in records.enumerated() {
            guard let entry = entries[keys[index]] else {
                decision.send.append(record)
                continue
            }
            let hash = RunLedger.hash(target: target, record: record, scratch: json)
            switch entry.state {
            case .acknowledged where entry.acknowledgedHash == hash:
                decision.skip.append((record, .acknowledged))
            case .rejected where entry.hash == hash && !retryRejected:
                decision.skip.append((record, .rejected))
            case .sent where !resendAmbiguous, .ambiguous where !resendAmbiguous:
                decision.skip.append((record, .ambiguous))
            default:
                if entry.acknowledgedHash != nil && entry.acknowledgedHash != hash { decision.changed += 1 }
                decision.send.append(record)
            }
        }
        return decision
    }
}
