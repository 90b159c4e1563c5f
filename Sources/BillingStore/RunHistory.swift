import BillingCore
import PostgresClient

/// Changes recorded after the last run of a period that touch it.
public struct LateChanges: Sendable {
    public let sinceRunId: Int64
    public let watermark: Instant
    public let changes: Int
    public let instances: Int
    public let projects: [String]
}

/// What an earlier run read, as far as explaining a correction needs it.
public struct IssuingRun: Sendable {
    /// The latest `recorded_at` it read.
    public let watermark: Instant?
    /// The billable-state table it applied, by canonical name.
    public let billableStates: [String: Bool]?
    /// Its `vat_rate`, `rounding` and `granularity` settings as recorded.
    public let settings: [String: String]
}

/// Reads `billing_runs` and the source changes recorded since: late data, and what the run
/// that issued an invoice saw.
public struct RunHistory {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// The changes recorded after the last run of `period` (by its input watermark) that
    /// could touch it: every change dated before the period's end.
    public func lateChanges(_ period: BillingPeriod) throws -> LateChanges? {
        guard let last = try db.execute(
            """
            SELECT run_id, \(SourceReader.micros("input_watermark")) FROM billing_runs
            WHERE period = $1 AND input_watermark IS NOT NULL ORDER BY run_id DESC LIMIT 1
            """, [period.month.description], context: "reading the last run").firstChecked(table: "billing_runs")
        else { return nil }
        let watermark = Instant(microseconds: try last.int64(1, "input_watermark"))
        guard let row = try db.execute(
            """
            SELECT count(*), count(DISTINCT c.instance_id), coalesce(string_agg(DISTINCT i.project_id, ',' ORDER BY i.project_id), '')
            FROM instance_state_changes c LEFT JOIN instances i USING (instance_id)
            WHERE c.recorded_at > $1::timestamptz AND c.changed_at < $2::timestamptz
            """, [watermark.postgresText, period.end.postgresText], context: "looking for late changes"
        ).firstChecked(table: "instance_state_changes") else { return nil }
        let count = Int(try row.int64(0, "count"))
        guard count > 0 else { return nil }
        return LateChanges(sinceRunId: try last.int64(0, "run_id"), watermark: watermark, changes: count, instances: Int(try row.int64(1, "instances")),
                           projects: try row.text(2, "projects").split(separator: ",").map(String.init))
    }

    /// The run that issued `runId`'s invoice, or (nil) the period's last issuing run.
    public func issuingRun(runId: Int64?, period: YearMonth) throws -> IssuingRun? {
        let id: Int64
        if let runId {
            id = runId
        } else {
            guard let last = try db.execute(
                "SELECT max(run_id) FROM invoices WHERE period = $1 AND status IN ('issued', 'superseded')", [period.description],
                context: "finding the period's issuing run"
            ).firstChecked(table: "invoices"), let max = try last.optionalInt64(0, "run_id") else { return nil }
            id = max
        }
        guard let row = try db.execute(
            """
            SELECT run_id, \(SourceReader.micros("input_watermark")), billable_states::text, settings->>'vat_rate', settings->>'rounding',
                   settings->>'granularity'
            FROM billing_runs WHERE run_id = $1
            """, [String(id)], context: "reading the issuing run"
        ).firstChecked(table: "billing_runs") else { return nil }
        let states = row.optional(2).flatMap(JSON.parseObjectOfBools)
        var settings: [String: String] = [:]
        for (i, name) in [(3, "vat_rate"), (4, "rounding"), (5, "granularity")] { settings[name] = row.optional(i) }
        return IssuingRun(watermark: try row.optionalInt64(1, "input_watermark").map(Instant.init(microseconds:)), billableStates: states,
                          settings: settings)
    }

    /// Changes of `projectId`'s instances recorded after `watermark` and dated before `end`.
    public func lateChangeCount(projectId: String, after watermark: Instant, before end: Instant) throws -> Int {
        Int(try db.execute(
            """
            SELECT count(*) FROM instance_state_changes c JOIN instances i USING (instance_id)
            WHERE i.project_id = $1 AND c.recorded_at > $2::timestamptz AND c.changed_at < $3::timestamptz
            """, [projectId, watermark.postgresText, end.postgresText], context: "counting late changes"
        ).firstChecked(table: "instance_state_changes")?.int64(0, "count") ?? 0)
    }
}
