import Foundation
import GRDB
import RefundFlow

/// The sandbox's state in SQLite (WAL): what each API stored, and every accepted call.
final class SandboxStore: Sendable {
    let database: DatabaseQueue

    init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: path, configuration: configuration)
        try database.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = WAL") }
        try database.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS raw_refunds (
                        shop_no TEXT NOT NULL, refund_no TEXT NOT NULL, oid TEXT NOT NULL, tid TEXT NOT NULL,
                        fields TEXT NOT NULL, created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL,
                        PRIMARY KEY (shop_no, refund_no, oid));
                    CREATE INDEX IF NOT EXISTS raw_refunds_modified ON raw_refunds (modified_at);
                    CREATE INDEX IF NOT EXISTS raw_refunds_tid ON raw_refunds (tid);
                    CREATE TABLE IF NOT EXISTS enterprise_refunds (
                        shop_no TEXT NOT NULL, refund_no TEXT NOT NULL, tid TEXT NOT NULL, fields TEXT NOT NULL,
                        created_at INTEGER NOT NULL, modified_at INTEGER NOT NULL, PRIMARY KEY (shop_no, refund_no));
                    CREATE INDEX IF NOT EXISTS enterprise_refunds_tid ON enterprise_refunds (tid);
                    CREATE TABLE IF NOT EXISTS stockins (
                        stockin_id INTEGER PRIMARY KEY AUTOINCREMENT, tid TEXT NOT NULL, fields TEXT NOT NULL,
                        created_at INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS top_refunds (
                        refund_goods_id INTEGER PRIMARY KEY AUTOINCREMENT, main_biz_order_id TEXT NOT NULL,
                        refund_key TEXT NOT NULL, fields TEXT NOT NULL, created_at INTEGER NOT NULL,
                        modified_at INTEGER NOT NULL, UNIQUE (main_biz_order_id, refund_key));
                    CREATE TABLE IF NOT EXISTS requests (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, family TEXT NOT NULL,
                        method TEXT NOT NULL, new_keys TEXT NOT NULL, changed_keys TEXT NOT NULL, unchanged INTEGER NOT NULL);
                    """)
        }
    }

    /// What one write did, by key.
    struct Counted {
        var new: [JSONValue] = []
        var changed: [JSONValue] = []
        var unchanged = 0
    }

    /// Inserts or updates rows keyed by `key`; a row whose fields are byte-identical counts as
    /// unchanged. Runs inside the caller's transaction.
    static func upsert(
        _ db: Database, table: String, keyColumns: [String], key: [String], tid: String, fields: String, now: Int,
        counted: inout Counted, keyJSON: JSONValue
    ) throws {
        let whereClause = keyColumns.map { "\($0) = ?" }.joined(separator: " AND ")
        if let existing = try String.fetchOne(db, sql: "SELECT fields FROM \(table) WHERE \(whereClause)", arguments: StatementArguments(key)) {
            if existing == fields {
                counted.unchanged += 1
            } else {
                try db.execute(
                    sql: "UPDATE \(table) SET fields = ?, tid = ?, modified_at = ? WHERE \(whereClause)",
                    arguments: StatementArguments([fields, tid, now] as [any DatabaseValueConvertible] + key))
                counted.changed.append(keyJSON)
            }
        } else {
            let columns = keyColumns + ["tid", "fields", "created_at", "modified_at"]
            try db.execute(
                sql: "INSERT INTO \(table) (\(columns.joined(separator: ", "))) VALUES (\(columns.map { _ in "?" }.joined(separator: ", ")))",
                arguments: StatementArguments(key.map { $0 as any DatabaseValueConvertible } + [tid, fields, now, now]))
            counted.new.append(keyJSON)
        }
    }

    static func logRequest(_ db: Database, family: String, method: String, counted: Counted, now: Int) throws {
        try db.execute(
            sql: "INSERT INTO requests (time, family, method, new_keys, changed_keys, unchanged) VALUES (?, ?, ?, ?, ?, ?)",
            arguments: [
                now, family, method, JSONValue.array(counted.new).serialized(), JSONValue.array(counted.changed).serialized(),
                counted.unchanged,
            ])
    }

    static func knowsTid(_ db: Database, _ tid: String) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: "SELECT EXISTS (SELECT 1 FROM raw_refunds WHERE tid = ?) OR EXISTS (SELECT 1 FROM enterprise_refunds WHERE tid = ?)",
            arguments: [tid, tid]) ?? false
    }
}
