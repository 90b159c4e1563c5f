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

    /// Tells `engine` about every change it cannot place in time (`changesWithInfiniteTimestamps`).
    public func noteInvalidTimestamps(in engine: inout BillingEngine) throws {
        for bad in try changesWithInfiniteTimestamps() {
            engine.noteInvalidTimestamp(eventId: bad.eventId, instanceId: bad.instanceId, detail: bad.detail, holdsForever: bad.holdsForever)
        }
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

    /// Streams the changes the period needs, one instance at a time: the state each
    /// instance carries in (its last change before `period.start`, or its first `deleted`
    /// when it has one; nothing when that is `deleted` and nothing follows it in the
    /// period) and every change in `[period.start, period.end)`.
    ///
    /// The work grows with the period's changes and the number of instances, not with
    /// history: the carried-in state is one index probe per instance
    /// (`carriedIn`), the period's changes one range of the `changed_at` index, sorted by
    /// instance (by byte order: any order that groups an instance's changes will do, and
    /// `COLLATE "C"` sorts fastest). Both are read with `COPY` and parsed from libpq's buffer. The connection
    /// is switched to `TimeZone = UTC` (it should be one opened for reading).
    ///
    /// `isKnown` tells the instances with an `instances` row; for any other (an orphan,
    /// reported by the engine) the carried-in state is looked up on its own. Memory holds
    /// one instance's changes and the carried-in states of the shard.
    public func forEachInstance(in period: BillingPeriod, shard: InstanceShard = .whole, isKnown: (String) -> Bool,
                                _ body: (String, [StateChange]) throws -> Void) throws {
        try db.executeScript("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET standard_conforming_strings = on; SET max_parallel_workers_per_gather = 0; SET jit = off",
                             context: "setting up the reading session")
        var carried = try carriedIn(before: period.start, from: "instances i", shard: shard)
        let start = Self.literal(period.start), end = Self.literal(period.end)
        let sql = """
            COPY (SELECT instance_id, state, changed_at, event_id, recorded_at
                  FROM instance_state_changes
                  WHERE changed_at >= \(start) AND changed_at < \(end) AND isfinite(recorded_at)\(shard.condition("instance_id", and: true))
                  ORDER BY instance_id COLLATE "C", changed_at, event_id) TO STDOUT
            """
        // An instance with no `instances` row (reported by the engine) is not among the
        // carried-in states read above: its own is looked up on a second connection, as
        // this one is busy with the COPY.
        var side: SourceReader?
        func orphanCarriedIn(_ id: String) throws -> StateChange? {
            if side == nil {
                let connection = try PostgresConnection(conninfo: db.conninfo)
                try connection.executeScript("SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET standard_conforming_strings = on",
                                             context: "setting up the reading session")
                side = SourceReader(connection)
            }
            return try side!.carriedIn(before: period.start, from: "(VALUES (\(Self.literal(id)))) i(instance_id)", shard: .whole)[id]
        }
        var parser = ChangeRowParser(context: "instance_state_changes for \(period)")
        var currentId: String?
        var changes: [StateChange] = []
        var finished: Set<String> = []
        func flush() throws {
            guard let id = currentId else { return }
            guard finished.insert(id).inserted else {
                throw StoreError.badSourceRow(table: "instance_state_changes", key: id,
                                              problem: "the server returned the instance's changes out of order; run again")
            }
            if let first = carried.removeValue(forKey: id) {
                changes.insert(first, at: 0)
            } else if !isKnown(id), let first = try orphanCarriedIn(id) {
                changes.insert(first, at: 0)
            }
            try body(id, changes)
        }
        try db.copyOut(sql, context: "reading instance_state_changes for \(period)") { row in
            let change = try parser.parse(row)
            if change.instanceId != currentId {
                try flush()
                currentId = change.instanceId
                changes.removeAll(keepingCapacity: true)
            }
            changes.append(change)
        }
        try flush()
        // Instances with no change in the period: the state they carry in holds all period.
        for id in carried.keys.sorted() {
            let first = carried[id]!
            if BillableStateTable.canonical(first.state) == BillableStateTable.deleted { continue }
            try body(id, [first])
        }
    }

    /// The state each instance of `from` (a table or VALUES list aliased `i`, with an
    /// `instance_id` column) carries into a period starting at `start`: its first
    /// `deleted` before `start` when it has one (deleted is final), else its last change
    /// before `start`. One index probe per instance for the last change
    /// (`instance_state_changes_instance_time`, backwards), and one read of the partial
    /// index of `deleted` changes (`instance_state_changes_deleted`), however long the
    /// history.
    func carriedIn(before start: Instant, from: String, shard: InstanceShard) throws -> [String: StateChange] {
        let t = Self.literal(start)
        let usable = "changed_at < \(t) AND changed_at > '-infinity' AND isfinite(recorded_at)"
        var carried: [String: StateChange] = [:]
        var parser = ChangeRowParser(context: "the states carried into the period")
        try db.copyOut(
            """
            COPY (SELECT i.instance_id, l.state, l.changed_at, l.event_id, l.recorded_at
                  FROM \(from) CROSS JOIN LATERAL (
                      SELECT state, changed_at, event_id, recorded_at FROM instance_state_changes l
                      WHERE l.instance_id = i.instance_id AND l.\(usable)
                      ORDER BY l.changed_at DESC, l.event_id DESC LIMIT 1) l\(shard.condition("i.instance_id", and: false))) TO STDOUT
            """, context: "reading the states carried into the period"
        ) { row in
            let change = try parser.parse(row)
            carried[change.instanceId] = change
        }
        // An instance deleted before the period carries `deleted` in, whatever followed: its
        // first `deleted` (of several at that instant, the one with the highest event id,
        // which is the one that holds).
        try db.copyOut(
            """
            COPY (SELECT DISTINCT ON (d.instance_id) d.instance_id, d.state, d.changed_at, d.event_id, d.recorded_at
                  FROM instance_state_changes d JOIN \(from) USING (instance_id)
                  WHERE \(Self.canonicalState("d.state")) = 'deleted' AND d.\(usable)\(shard.condition("d.instance_id", and: true))
                  ORDER BY d.instance_id, d.changed_at, d.event_id DESC) TO STDOUT
            """, context: "reading the instances deleted before the period"
        ) { row in
            let change = try parser.parse(row)
            carried[change.instanceId] = change
        }
        return carried
    }

    /// A value as a quoted SQL literal (COPY takes no parameters); the reading session sets
    /// `standard_conforming_strings = on`, so doubling quotes is all the escaping there is.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
    static func literal(_ t: Instant) -> String { "'\(t.iso8601)'::timestamptz" }
}

/// A part of the instances, by a hash of their id: shard `index` of `count`. Every
/// instance is in exactly one shard, whatever machine or PostgreSQL version computes it
/// (`hashtext` is stable within a major version; a run never mixes servers).
public struct InstanceShard: Hashable, Sendable {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && (0..<count).contains(index), "shard \(index) of \(count)")
        self.index = index
        self.count = count
    }

    public static let whole = InstanceShard(index: 0, count: 1)

    /// The SQL condition that keeps this shard's rows (empty for the whole).
    func condition(_ column: String, and: Bool) -> String {
        guard count > 1 else { return "" }
        return (and ? " AND " : " WHERE ") + "(hashtext(\(column)) & 2147483647) % \(count) = \(index)"
    }
}

/// Parses `instance_id, state, changed_at, event_id, recorded_at` rows of COPY text,
/// reusing the strings of the instance id and of the states it has seen.
struct ChangeRowParser {
    let context: String
    private var fields: [Range<Int>] = []
    private var idBytes: [UInt8] = []
    private var id = ""
    private var states: [(bytes: [UInt8], name: String)] = []
    private var parsedAny = false
    private var dates = CopyText.DateCache()

    init(context: String) { self.context = context }

    /// `\N`, a NULL in COPY text (both text columns are NOT NULL).
    private static let null: [UInt8] = [0x5C, 0x4E]

    mutating func parse(_ row: UnsafeBufferPointer<UInt8>) throws -> StateChange {
        CopyText.split(row, into: &fields)
        guard fields.count == 5 else { throw bad(row, "expected 5 columns, got \(fields.count)") }
        if !parsedAny || !CopyText.equals(row, fields[0], idBytes) {
            guard !CopyText.equals(row, fields[0], Self.null) else { throw bad(row, "instance_id is NULL") }
            id = CopyText.string(row, fields[0])
            idBytes = Array(UnsafeBufferPointer(rebasing: row[fields[0]]))
            parsedAny = true
        }
        let state: String
        if let known = states.first(where: { CopyText.equals(row, fields[1], $0.bytes) }) {
            state = known.name
        } else {
            guard !CopyText.equals(row, fields[1], Self.null) else { throw bad(row, "state is NULL") }
            state = CopyText.string(row, fields[1])
            if states.count < 64 { states.append((Array(UnsafeBufferPointer(rebasing: row[fields[1]])), state)) }
        }
        guard let changedAt = CopyText.timestamp(row, fields[2], cache: &dates) else { throw bad(row, "changed_at is not a timestamp bmbill can read") }
        guard let eventId = CopyText.int64(row, fields[3]) else { throw bad(row, "event_id is not an integer") }
        guard let recordedAt = CopyText.timestamp(row, fields[4], cache: &dates) else { throw bad(row, "recorded_at is not a timestamp bmbill can read") }
        return StateChange(eventId: eventId, instanceId: id, state: state, changedAt: changedAt, recordedAt: recordedAt)
    }

    private func bad(_ row: UnsafeBufferPointer<UInt8>, _ problem: String) -> StoreError {
        StoreError.badSourceRow(table: "instance_state_changes", key: String(decoding: row.prefix(200), as: UTF8.self), problem: "\(problem) (\(context))")
    }
}
