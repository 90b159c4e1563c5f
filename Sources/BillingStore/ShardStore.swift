import BillingCore
import PostgresClient

/// The tables of sharded runs (migration 009): a plan per period and one work row per
/// shard of its instances, claimed by workers with `FOR UPDATE SKIP LOCKED`.
public struct ShardStore {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// A plan as recorded: what every worker applies.
    public struct Plan: Sendable {
        public let period: YearMonth
        public let shards: Int
        public let asOf: Instant
        /// The billing settings as JSON text (the plan's, not the worker's own flags).
        public let settings: String
        /// Fingerprint of the rates, instance types and billable states it was made with.
        public let inputs: String

        public init(period: YearMonth, shards: Int, asOf: Instant, settings: String, inputs: String) {
            self.period = period
            self.shards = shards
            self.asOf = asOf
            self.settings = settings
            self.inputs = inputs
        }
    }

    /// Replaces any earlier plan of the period (its shard rows go with it) with `plan`.
    public func create(_ plan: Plan, by name: String) throws {
        let period = plan.period.description
        try db.transaction {
            try db.execute("DELETE FROM bmbill_shard_plans WHERE period = $1", [period], context: "removing an earlier shard plan")
            try db.execute(
                "INSERT INTO bmbill_shard_plans (period, shards, as_of, settings, inputs, created_by) VALUES ($1, $2::int, $3::timestamptz, $4::jsonb, $5, $6)",
                [period, String(plan.shards), plan.asOf.postgresText, plan.settings, plan.inputs, name], context: "recording the shard plan")
            try db.execute(
                "INSERT INTO bmbill_shards (period, shard) SELECT $1, s FROM generate_series(0, $2::int - 1) s",
                [period, String(plan.shards)], context: "recording the shards")
        }
    }

    /// The number of shards of the period's plan, or nil when there is none.
    public func plannedShards(_ period: YearMonth) throws -> Int? {
        try db.execute("SELECT shards FROM bmbill_shard_plans WHERE period = $1", [period.description], context: "looking for a shard plan")
            .firstChecked(table: "bmbill_shard_plans").map { Int(try $0.int64(0, "shards")) }
    }

    /// Done and planned shards of the period.
    public func progress(_ period: YearMonth) throws -> (done: Int, total: Int) {
        guard let row = try db.execute(
            "SELECT count(*) FILTER (WHERE status = 'done'), count(*) FROM bmbill_shards WHERE period = $1",
            [period.description], context: "checking the shards"
        ).firstChecked(table: "bmbill_shards") else { return (0, 0) }
        return (Int(try row.int64(0, "done")), Int(try row.int64(1, "total")))
    }

    /// A shard claimed by this connection's open transaction (see `claim`).
    public struct Claim: Sendable {
        public let shard: Int
        public let plan: Plan
    }

    /// Opens a transaction and claims the first pending shard of `period` that no other
    /// transaction holds. Nil (and the transaction rolled back) when none is free. The
    /// caller meters the shard and calls `finish` (which commits) or `abandon`.
    public func claim(_ period: YearMonth) throws -> Claim? {
        try db.execute("BEGIN", context: "claiming a shard")
        do {
            guard let row = try db.execute(
                """
                SELECT s.shard, p.shards, \(SourceReader.micros("p.as_of")), p.settings::text, p.inputs
                FROM bmbill_shards s JOIN bmbill_shard_plans p USING (period)
                WHERE s.period = $1 AND s.status = 'pending'
                ORDER BY s.shard LIMIT 1 FOR UPDATE OF s SKIP LOCKED
                """, [period.description], context: "claiming a shard of \(period)"
            ).firstChecked(table: "bmbill_shards") else {
                abandon()
                return nil
            }
            let plan = Plan(period: period, shards: Int(try row.int64(1, "shards")), asOf: Instant(microseconds: try row.int64(2, "as_of")),
                            settings: try row.text(3, "settings"), inputs: try row.text(4, "inputs"))
            return Claim(shard: Int(try row.int64(0, "shard")), plan: plan)
        } catch {
            abandon()
            throw error
        }
    }

    /// Stores a claimed shard's metering (JSON) and commits the claim.
    public func finish(_ claim: Claim, worker: String, changes: Int, instances: Int, metering: String) throws {
        let label = "shard \(claim.shard + 1) of \(claim.plan.shards)"
        try db.execute(
            """
            UPDATE bmbill_shards SET status = 'done', worker = $3, finished_at = clock_timestamp(), changes = $4::int8,
                   instances = $5::int8, metering = $6
            WHERE period = $1 AND shard = $2::int
            """, [claim.plan.period.description, String(claim.shard), worker, String(changes), String(instances), metering],
            context: "storing \(label)")
        try db.execute("COMMIT", context: "committing \(label)")
    }

    /// Gives a claimed shard back (its transaction rolled back): pending again.
    public func abandon() { _ = try? db.execute("ROLLBACK") }

    /// The stored metering of a done shard, or nil when it is not done.
    public func metering(_ period: YearMonth, shard: Int) throws -> String? {
        try db.execute("SELECT metering FROM bmbill_shards WHERE period = $1 AND shard = $2::int AND status = 'done'",
                       [period.description, String(shard)], context: "reading the metering of shard \(shard + 1)").scalar
    }

    /// Removes the plan and the shards' results (once the run is stored).
    public func remove(_ period: YearMonth) {
        _ = try? db.execute("DELETE FROM bmbill_shard_plans WHERE period = $1", [period.description])
    }
}

extension SourceReader {
    /// How many changes dated in `period` (with a placeable `recorded_at`) were recorded up
    /// to `watermark`: what readers that saw everything up to it have read.
    public func periodChanges(_ period: BillingPeriod, recordedUpTo watermark: Instant) throws -> Int {
        Int(try db.execute(
            """
            SELECT count(*) FROM instance_state_changes
            WHERE changed_at >= $1::timestamptz AND changed_at < $2::timestamptz AND \(Self.placeable("recorded_at"))
              AND recorded_at <= $3::timestamptz
            """, [period.start.postgresText, period.end.postgresText, watermark.postgresText], context: "checking the shards saw every change"
        ).firstChecked(table: "instance_state_changes")?.int64(0, "count") ?? 0)
    }
}

/// A snapshot of the database that several reading connections share, so that reading a
/// period in parallel gives what one reader would (`pg_export_snapshot`).
public struct ReadSnapshot {
    let db: PostgresConnection
    /// The snapshot's id, for `join`.
    public let id: String

    /// Opens a read-only repeatable-read transaction on `db` and exports its snapshot; the
    /// snapshot lasts until `end`.
    public static func export(from db: PostgresConnection) throws -> ReadSnapshot {
        try db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", context: "starting the read")
        do {
            // An id such as `00000003-0000001B-1`: checked, since SET TRANSACTION SNAPSHOT takes no parameter.
            guard let id = try db.execute("SELECT pg_export_snapshot()", context: "exporting the snapshot").scalar,
                !id.isEmpty, id.allSatisfy({ $0.isHexDigit || $0 == "-" })
            else {
                throw PostgresError(code: .query, message: "pg_export_snapshot() returned no usable snapshot id", context: "exporting the snapshot")
            }
            return ReadSnapshot(db: db, id: id)
        } catch {
            _ = try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Makes `reader` see the snapshot `id` (of `export`), in a read-only transaction of its
    /// own (ended by `leave`).
    public static func join(_ reader: PostgresConnection, snapshot id: String) throws {
        try reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", context: "starting the read")
        try reader.execute("SET TRANSACTION SNAPSHOT '\(id)'", context: "joining the run's snapshot")
    }

    /// Ends `reader`'s transaction.
    public static func leave(_ reader: PostgresConnection) throws { try reader.execute("COMMIT", context: "ending the read") }

    /// Ends the exporting transaction (and with it the snapshot).
    public func end() { _ = try? db.execute("ROLLBACK") }
}
