import BillingCore
import PostgresClient

/// Reads a period's source data: the small tables whole, the state changes streamed.
public struct SourceReader {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// A state name in canonical form in SQL, as `BillableStateTable.canonical` makes it in
    /// Swift: lower case, white space trimmed.
    static func canonicalState(_ column: String) -> String { "lower(btrim(\(column), E' \\t\\n\\r\\f\\x0B'))" }

    /// `timestamptz` as exact microseconds since the epoch (`extract` gives numeric).
    public static func micros(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::int8" }

    /// Projects, types, instances, rates (every currency: the engine keeps its own) and
    /// the billable-state table.
    public func loadCatalog() throws -> BillingCatalog {
        let projects = try db.execute("SELECT project_id, name, billing_account_id FROM projects ORDER BY project_id",
                                      context: "reading projects").rows.map {
            Project(id: $0[0]!, name: $0[1]!, billingAccountId: $0[2])
        }
        let types = try db.execute("SELECT type_name, category FROM instance_types ORDER BY type_name",
                                   context: "reading instance_types").rows.map {
            InstanceType(name: $0[0]!, category: $0[1]!)
        }
        var instances: [Instance] = []
        try db.stream("SELECT instance_id, project_id, type_name, image, name, \(Self.micros("created_at")) FROM instances",
                      context: "reading instances") { row in
            instances.append(Instance(id: row.string(0)!, projectId: row.string(1)!, typeName: row.string(2)!, image: row.string(3)!,
                                      name: row.string(4), createdAt: Instant(microseconds: row.int64(5)!)))
        }
        let rates = try db.execute(
            """
            SELECT type_name, btrim(currency), hourly_rate::text, \(Self.micros("effective_from")), \(Self.micros("effective_to"))
            FROM rates ORDER BY type_name, currency, effective_from
            """, context: "reading rates"
        ).rows.map { row -> RateVersion in
            guard let rate = ExactDecimal(parsing: row[2]!) else {
                throw StoreError.badSourceRow(table: "rates", key: "\(row[0]!) \(row[1]!)", problem: "hourly_rate '\(row[2]!)' is not a decimal number")
            }
            return RateVersion(typeName: row[0]!, currency: row[1]!, hourlyRate: rate,
                               effectiveFrom: Instant(microseconds: Int64(row[3]!)!), effectiveTo: row[4].map { Instant(microseconds: Int64($0)!) })
        }
        var states: [String: Bool] = [:]
        for row in try db.execute("SELECT state, billable FROM billable_states", context: "reading billable_states").rows {
            states[row[0]!] = row[1] == "t"
        }
        return BillingCatalog(projects: projects, types: types, instances: instances, rates: rates,
                              billableStates: BillableStateTable(states))
    }

    /// How many changes fall inside the period (for a progress line's estimate).
    public func changesInPeriod(_ period: BillingPeriod) throws -> Int {
        Int(try db.execute("SELECT count(*) FROM instance_state_changes WHERE changed_at >= $1::timestamptz AND changed_at < $2::timestamptz",
                           [period.start.iso8601, period.end.iso8601], context: "counting the period's changes").scalar ?? "0") ?? 0
    }

    /// Changes whose `changed_at` or `recorded_at` is infinite: they cannot be metered and
    /// are left out of the read, so they are returned here to be reported (first 1000).
    public func changesWithInfiniteTimestamps() throws -> [(eventId: Int64, instanceId: String, detail: String, holdsForever: Bool)] {
        try db.execute(
            """
            SELECT event_id, instance_id, state, changed_at::text, recorded_at::text FROM instance_state_changes
            WHERE changed_at IN ('infinity', '-infinity') OR recorded_at IN ('infinity', '-infinity')
            ORDER BY event_id LIMIT 1000
            """, context: "looking for infinite timestamps"
        ).rows.map { (Int64($0[0]!)!, $0[1]!, "'\($0[2]!)' at \($0[3]!), recorded \($0[4]!)", $0[3] == "-infinity") }
    }

    /// Streams the changes the period needs, one instance at a time: the last change
    /// before `period.start` (the state carried in; the first `deleted` when there is one,
    /// and nothing at all when that is all and nothing follows it in the period) and every change in `[period.start, period.end)`, in effect order.
    /// Memory holds one instance's changes at a time.
    public func forEachInstance(in period: BillingPeriod, _ body: (String, [StateChange]) throws -> Void) throws {
        let sql = """
            WITH carried AS (
                SELECT DISTINCT ON (instance_id) event_id, instance_id, state, changed_at, recorded_at
                FROM instance_state_changes
                WHERE changed_at < $1::timestamptz AND changed_at > '-infinity' AND isfinite(recorded_at)
                -- deleted is final: once an instance was deleted, that is the state it carries in,
                -- whatever stray changes followed it in earlier periods.
                ORDER BY instance_id, \(Self.canonicalState("state")) = 'deleted' DESC,
                         CASE WHEN \(Self.canonicalState("state")) = 'deleted' THEN changed_at END, changed_at DESC, event_id DESC
            ), in_period AS (
                SELECT event_id, instance_id, state, changed_at, recorded_at
                FROM instance_state_changes
                WHERE changed_at >= $1::timestamptz AND changed_at < $2::timestamptz AND isfinite(recorded_at)
            )
            SELECT instance_id, state, \(Self.micros("changed_at")), event_id, \(Self.micros("recorded_at"))
            FROM (
                SELECT * FROM carried c
                WHERE \(Self.canonicalState("c.state")) <> 'deleted' OR EXISTS (SELECT 1 FROM in_period p WHERE p.instance_id = c.instance_id)
                UNION ALL
                SELECT * FROM in_period
            ) changes
            ORDER BY instance_id, changed_at, event_id
            """
        var currentId: String?
        var changes: [StateChange] = []
        try db.stream(sql, [period.start.iso8601, period.end.iso8601],
                      context: "reading instance_state_changes for \(period)") { row in
            let id = row.string(0)!
            if id != currentId {
                if let currentId { try body(currentId, changes) }
                currentId = id
                changes.removeAll(keepingCapacity: true)
            }
            changes.append(StateChange(eventId: row.int64(3)!, instanceId: id, state: row.string(1)!,
                                       changedAt: Instant(microseconds: row.int64(2)!), recordedAt: Instant(microseconds: row.int64(4)!)))
        }
        if let currentId { try body(currentId, changes) }
    }
}
