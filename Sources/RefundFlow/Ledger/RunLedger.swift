import Crypto
import Foundation
import GRDB

/// Where each record stands with one target, across runs: the run ledger (SQLite, WAL).
///
/// A record is keyed by target + shop_no + refund_no + oid and carries the hash of the payload
/// last planned or sent. States move `planned → sent → acknowledged | rejected | ambiguous`.
/// `planned` and `sent` are written before a call goes out (intent); `acknowledged`, `rejected`
/// and `ambiguous` only after the ERP answered or the retries were used up (Singer's rule), one
/// transaction per call. A crash leaves at worst `sent` rows, which the next run resolves by
/// reading the ERP before sending anything again.
public final class RunLedger: Sendable {
    public enum State: String, Sendable, CaseIterable {
        case planned, sent, acknowledged, rejected, ambiguous
    }

    public struct Key: Sendable, Hashable {
        public var shopNo: String
        public var refundNo: String
        public var oid: String

        public init(shopNo: String, refundNo: String, oid: String) {
            self.shopNo = shopNo
            self.refundNo = refundNo
            self.oid = oid
        }

        init(_ record: RefundRecord) {
            self.init(shopNo: record.text(.shopNo) ?? "", refundNo: record.text(.refundNo) ?? "", oid: record.text(.oid) ?? "")
        }

        public var description: String { "\(shopNo)/\(refundNo)/\(oid)" }
    }

    public struct Entry: Sendable, Hashable {
        public var state: State
        /// Hash of the payload last planned or sent.
        public var hash: String
        /// Hash of the payload the ERP last acknowledged.
        public var acknowledgedHash: String?
        public var sentAt: Int?
    }

    let database: DatabaseQueue
    public let path: String

    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: path, configuration: configuration)
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        try database.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS records (
                        target TEXT NOT NULL, shop_no TEXT NOT NULL, refund_no TEXT NOT NULL, oid TEXT NOT NULL,
                        state TEXT NOT NULL, hash TEXT NOT NULL, acknowledged_hash TEXT,
                        refund_amount TEXT NOT NULL, actual_refund_amount TEXT NOT NULL, status INTEGER,
                        erp_code TEXT, erp_message TEXT, run_id TEXT NOT NULL, sent_at INTEGER, updated_at INTEGER NOT NULL,
                        PRIMARY KEY (target, shop_no, refund_no, oid));
                    CREATE INDEX IF NOT EXISTS records_state ON records (target, state);
                    CREATE TABLE IF NOT EXISTS runs (
                        run_id TEXT PRIMARY KEY, started_at INTEGER NOT NULL, finished_at INTEGER, pipeline TEXT NOT NULL,
                        pipeline_sha256 TEXT NOT NULL, target TEXT NOT NULL, status TEXT);
                    CREATE TABLE IF NOT EXISTS run_inputs (
                        run_id TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (run_id, path));
                    """)
        }
    }

    /// Opens an existing ledger only to read it (`ledger show`/`stats`; a dry run asking what a
    /// push would send): no table is made, nothing is written, and no hold is taken.
    public init(readingOnly path: String) throws(Diagnostic) {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else {
            throw Diagnostic(
                code: "ledger.missing", message: "no ledger at '\(path)'",
                notes: ["a push writes OUT/ledger.sqlite, or the file its --ledger names; reading one never makes one"])
        }
        do {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(10)
            database = try DatabaseQueue(path: path, configuration: configuration)
            _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM records WHERE 0") }
        } catch {
            throw Diagnostic(
                code: "ledger.unreadable", message: "cannot open the run ledger '\(path)': \(error)",
                notes: ["--ledger names the ledger.sqlite a push wrote in its --out"])
        }
    }

    /// An exclusive hold on a ledger for one run: a second run on the same ledger (two crons
    /// overlapping) is refused instead of pushing the same records twice. The kernel drops the
    /// hold when the process ends, however it ends.
    public final class RunLock: Sendable {
        private let lock: FileLock

        public init(ledgerPath: String) throws(Diagnostic) {
            lock = try FileLock(
                path: ledgerPath + ".lock", unopenableCode: "ledger.unreadable",
                busy: Diagnostic(
                    code: "ledger.busy", message: "another run is using the ledger '\(ledgerPath)'",
                    notes: ["wait for it to finish (two runs on one ledger could send the same records twice)"]))
        }
    }

    /// Deletes the ledger file (and its WAL) so that the next run starts afresh.
    public static func reset(path: String) throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: path + suffix) {
            try FileManager.default.removeItem(atPath: path + suffix)
        }
    }

    /// The payload hash of a record for a target: SHA-256 over the target and the canonical
    /// record (every field, as `records.jsonl` writes it).
    /// - Parameter scratch: a buffer to render the record into (reused by the caller).
    static func hash(target: String, record: RefundRecord, scratch: JSONBytes) -> String {
        scratch.removeAll()
        RecordJSON.canonical(record, into: scratch)
        var hasher = SHA256()
        hasher.update(data: Array(target.utf8))
        hasher.update(data: [0])
        hasher.update(bufferPointer: UnsafeRawBufferPointer(scratch.buffer.buffer))
        return lowercaseHex(hasher.finalize().prefix(16))
    }

    // MARK: - Lookups

    /// The entries of these keys (missing keys are new).
    func entries(target: String, keys: [Key]) throws -> [Key: Entry] {
        try database.read { db in
            let statement = try db.cachedStatement(
                sql: "SELECT state, hash, acknowledged_hash, sent_at FROM records WHERE target = ? AND shop_no = ? AND refund_no = ? AND oid = ?")
            var found: [Key: Entry] = [:]
            for key in keys {
                if let row = try Row.fetchOne(statement, arguments: [target, key.shopNo, key.refundNo, key.oid]) {
                    found[key] = Entry(
                        state: State(rawValue: row["state"]) ?? .planned, hash: row["hash"],
                        acknowledgedHash: row["acknowledged_hash"], sentAt: row["sent_at"])
                }
            }
            return found
        }
    }

    /// Rows sent without a final answer (a crash, a dropped connection, a 5xx), oldest first.
    func unresolved(target: String) throws -> [(key: Key, entry: Entry, refundAmount: String)] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM records WHERE target = ? AND state IN ('sent', 'ambiguous') ORDER BY sent_at, shop_no, refund_no, oid",
                arguments: [target]
            ).map { row in
                (
                    Key(shopNo: row["shop_no"], refundNo: row["refund_no"], oid: row["oid"]),
                    Entry(state: State(rawValue: row["state"]) ?? .ambiguous, hash: row["hash"], acknowledgedHash: row["acknowledged_hash"], sentAt: row["sent_at"]),
                    row["refund_amount"]
                )
            }
        }
    }

    // MARK: - State changes (one transaction per call)

    struct Planned: Sendable {
        var key: Key
        var hash: String
        var refundAmount: Decimal4
        var actualRefundAmount: Decimal4
        var status: Int?
    }

    func markPlanned(target: String, runID: String, _ records: [Planned], now: Int) throws {
        try database.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    INSERT INTO records (target, shop_no, refund_no, oid, state, hash, refund_amount, actual_refund_amount, status, run_id, updated_at)
                    VALUES (?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (target, shop_no, refund_no, oid) DO UPDATE SET
                        state = 'planned', hash = excluded.hash, refund_amount = excluded.refund_amount,
                        actual_refund_amount = excluded.actual_refund_amount, status = excluded.status,
                        run_id = excluded.run_id, updated_at = excluded.updated_at
                    """)
            for record in records {
                try statement.execute(arguments: [
                    target, record.key.shopNo, record.key.refundNo, record.key.oid, record.hash,
                    record.refundAmount.formatted(minFractionDigits: 2), record.actualRefundAmount.formatted(minFractionDigits: 2),
                    record.status, runID, now,
                ])
            }
        }
    }

    func markSent(target: String, _ keys: [Key], now: Int) throws {
        try database.write { db in
            let statement = try db.cachedStatement(
                sql: "UPDATE records SET state = 'sent', sent_at = ?, updated_at = ? WHERE target = ? AND shop_no = ? AND refund_no = ? AND oid = ? AND state = 'planned'")
            for key in keys { try statement.execute(arguments: [now, now, target, key.shopNo, key.refundNo, key.oid]) }
        }
    }

    struct Answered: Sendable {
        var key: Key
        var state: State
        var code: String?
        var message: String?
    }

    /// The final state of each record of one call, after the ERP answered.
    func markAnswered(target: String, _ results: [Answered], now: Int) throws {
        try database.write { db in
            let statement = try db.cachedStatement(
                sql: """
                    UPDATE records SET state = ?, erp_code = ?, erp_message = ?, updated_at = ?,
                        acknowledged_hash = CASE WHEN ? = 'acknowledged' THEN hash ELSE acknowledged_hash END
                    WHERE target = ? AND shop_no = ? AND refund_no = ? AND oid = ?
                    """)
            for result in results {
                try statement.execute(arguments: [
                    result.state.rawValue, result.code, result.message, now, result.state.rawValue, target,
                    result.key.shopNo, result.key.refundNo, result.key.oid,
                ])
            }
        }
    }

    /// Marks records the ERP was found to hold (read back) as acknowledged with the hash sent.
    func markFoundInERP(target: String, _ keys: [Key], now: Int) throws {
        try markAnswered(target: target, keys.map { Answered(key: $0, state: .acknowledged, code: nil, message: "found in the ERP by Refund.search") }, now: now)
    }

    // MARK: - Runs

    func startRun(runID: String, pipeline: String, pipelineSHA256: String, target: String, now: Int) throws {
        try database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO runs (run_id, started_at, pipeline, pipeline_sha256, target) VALUES (?, ?, ?, ?, ?)",
                arguments: [runID, now, pipeline, pipelineSHA256, target])
        }
    }

    /// Records the run's inputs and returns, for each input whose path an earlier run of the
    /// same target read with other contents, that run's id and sha256.
    func finishRun(runID: String, target: String, status: String, inputs: [(path: String, sha256: String)], now: Int) throws -> [(path: String, runID: String, sha256: String)] {
        try database.write { db in
            var changed: [(String, String, String)] = []
            for input in inputs {
                let previous = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT i.run_id, i.sha256 FROM run_inputs i JOIN runs r ON r.run_id = i.run_id
                        WHERE i.path = ? AND r.target = ? AND i.run_id != ? ORDER BY r.started_at DESC LIMIT 1
                        """,
                    arguments: [input.path, target, runID])
                if let previous, (previous["sha256"] as String) != input.sha256, !input.sha256.isEmpty {
                    changed.append((input.path, previous["run_id"], previous["sha256"]))
                }
                try db.execute(sql: "INSERT OR REPLACE INTO run_inputs (run_id, path, sha256) VALUES (?, ?, ?)", arguments: [runID, input.path, input.sha256])
            }
            try db.execute(sql: "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?", arguments: [now, status, runID])
            return changed
        }
    }

    // MARK: - For operators

    public struct Stats: Sendable {
        public var byTargetAndState: [(target: String, state: String, records: Int, refundAmount: String)]
        public var runs: Int
        public var lastRun: String?
    }

    public func stats() throws -> Stats {
        try database.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT target, state, COUNT(*) AS records, refund_amount FROM records GROUP BY target, state ORDER BY target, state")
            var result: [(String, String, Int, String)] = []
            for row in rows {
                let target: String = row["target"]
                let state: String = row["state"]
                // Exact sums: amounts are kept as decimal text, summed as Decimal4.
                var total = Decimal4.zero
                let amounts = try String.fetchAll(db, sql: "SELECT refund_amount FROM records WHERE target = ? AND state = ?", arguments: [target, state])
                for amount in amounts { if case .success(let value) = Decimal4.parse(Array(amount.utf8)) { total += value } }
                result.append((target, state, row["records"], total.formatted(minFractionDigits: 2)))
            }
            let runs = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM runs") ?? 0
            let last = try String.fetchOne(db, sql: "SELECT run_id || ' ' || COALESCE(status, 'unfinished') FROM runs ORDER BY started_at DESC LIMIT 1")
            return Stats(byTargetAndState: result, runs: runs, lastRun: last)
        }
    }

    /// Rows as JSON Lines, optionally only one state, target or refund.
    public func show(state: String?, target: String?, refundNo: String?, limit: Int, into line: (String) -> Void) throws {
        var conditions: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
        if let state { conditions.append("state = ?"); arguments.append(state) }
        if let target { conditions.append("target = ?"); arguments.append(target) }
        if let refundNo { conditions.append("refund_no = ?"); arguments.append(refundNo) }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        try database.read { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT * FROM records \(filter) ORDER BY target, shop_no, refund_no, oid LIMIT ?",
                arguments: StatementArguments(arguments + [limit]))
            while let row = try rows.next() {
                var members: [JSONValue.Member] = []
                for column in row.columnNames {
                    let value: JSONValue
                    switch row[column] as DatabaseValue? {
                    case .some(let stored) where !stored.isNull:
                        if let number = Int64.fromDatabaseValue(stored), column != "refund_amount", column != "actual_refund_amount" {
                            value = .number(String(number))
                        } else {
                            value = .string(String.fromDatabaseValue(stored) ?? "")
                        }
                    default: value = .null
                    }
                    members.append(.init(column, value))
                }
                line(JSONValue.object(members).serialized())
            }
        }
    }
}

/// An exclusive `flock` on a file, held until released (deinit): the kernel drops it when the
/// process ends, however it ends. Another holder, in this process or another, is refused.
final class FileLock: Sendable {
    private let descriptor: Int32

    init(path: String, unopenableCode: String, busy: @autoclosure () -> Diagnostic) throws(Diagnostic) {
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        guard fd >= 0 else {
            throw Diagnostic(code: unopenableCode, message: "cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw busy()
        }
        descriptor = fd
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
