import BillingCore
import PostgresClient

/// Reads a period's source data: the small tables whole, the state changes streamed.
public struct SourceReader {
    let db: PostgresConnection
    /// How the period's scan (`ReadPlan.byPeriodScan`) groups the rows it reads in no order.
    public var grouping = Grouping.automatic

    public init(_ db: PostgresConnection) { self.db = db }

    /// A state name in canonical form in SQL: `bmbill_canonical_state` (migration 010), the
    /// rule of `BillableStateTable.canonical`, character for character.
    static func canonicalState(_ column: String) -> String { "bmbill_canonical_state(\(column))" }

    /// `timestamptz` as exact microseconds since the epoch (`extract` gives numeric). Only
    /// for columns whose values are placeable (see `placeable`): others overflow `int8`.
    public static func micros(_ column: String) -> String { "(extract(epoch FROM \(column)) * 1000000)::int8" }

    /// The SQL condition that `column` holds an instant bmbill reads exactly: finite, and
    /// in `[Instant.postgresMinimum, Instant.representableEnd)` (PostgreSQL goes on to 294276).
    public static func placeable(_ column: String) -> String {
        "(\(column) >= \(placeableFrom) AND \(column) < \(placeableUntil))"
    }
    /// The bounds of `placeable` as SQL literals.
    public static let placeableFrom = literal(Instant.postgresMinimum), placeableUntil = literal(Instant.representableEnd)

    /// `column` as exact microseconds when it is placeable, else NULL; with `text` beside
    /// it, `SourceTime.read` tells NULL, the infinities and unplaceable values apart.
    static func placedMicros(_ column: String) -> String { "CASE WHEN \(placeable(column)) THEN \(micros(column)) END" }

    /// The settings every reading session uses, so that timestamps come as COPY and the
    /// parsers expect them (`2026-10-01 00:00:00+00`) and literals mean what they say.
    static let readingSession = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET standard_conforming_strings = on"

    /// Projects, types, instances, rates (every currency: the engine keeps its own) and
    /// the billable-state table. A NULL or malformed value where the contract allows none
    /// stops the read with an error naming the table, row and column; a date that cannot
    /// be placed in time is an anomaly naming its row (a rate's in `BillingCatalog.problems`,
    /// an instance's `created_at` in `Instance.createdAtProblem`).
    public func loadCatalog() throws -> BillingCatalog {
        try db.executeScript(Self.readingSession, context: "setting up the reading session")
        let projects = try db.execute("SELECT project_id, name, billing_account_id FROM projects ORDER BY project_id",
                                      context: "reading projects").checkedRows(table: "projects").map {
            Project(id: try $0.text(0, "project_id"), name: try $0.text(1, "name"), billingAccountId: $0.optional(2))
        }
        let types = try db.execute("SELECT type_name, category FROM instance_types ORDER BY type_name",
                                   context: "reading instance_types").checkedRows(table: "instance_types").map {
            InstanceType(name: try $0.text(0, "type_name"), category: try $0.text(1, "category"))
        }
        var problems: [Anomaly] = []
        var instances: [Instance] = []
        try db.stream("SELECT instance_id, project_id, type_name, image, name, \(Self.placedMicros("created_at")), created_at::text FROM instances",
                      context: "reading instances") { r in
            let row = CheckedRow(table: "instances", values: (0..<7).map { r.string($0) })
            let id = try row.text(0, "instance_id")
            var createdAt: Instant?, createdAtProblem: String?
            switch try SourceTime.read(row, micros: 5, text: 6, column: "created_at") {
            case .at(let t): createdAt = t
            case .null, .negativeInfinity: createdAt = nil  // created before anything we bill: no check to make
            case .positiveInfinity, .unplaceable:
                createdAtProblem = "instances row \(id): created_at '\(row.optional(6) ?? "")' cannot be placed in time; its changes are billed as recorded"
            }
            instances.append(Instance(id: id, projectId: try row.text(1, "project_id"), typeName: try row.text(2, "type_name"),
                                      image: try row.text(3, "image"), name: row.optional(4), createdAt: createdAt,
                                      createdAtProblem: createdAtProblem))
        }
        var rates: [RateVersion] = []
        for row in try db.execute(
            """
            SELECT type_name, btrim(currency), hourly_rate::text, \(Self.placedMicros("effective_from")), effective_from::text,
                   \(Self.placedMicros("effective_to")), effective_to::text
            FROM rates ORDER BY type_name, currency, effective_from
            """, context: "reading rates"
        ).checkedRows(table: "rates") {
            let what = "rates row \(row.optional(0) ?? "NULL") \(row.optional(1) ?? "NULL") from '\(row.optional(4) ?? "NULL")'"
            func unusable(_ problem: String) {
                problems.append(Anomaly(.error, .invalidRate, detail: "\(what): \(problem); the version is not used"))
            }
            let typeName = try row.text(0, "type_name"), currency = try row.text(1, "currency")
            guard let text = row.optional(2) else { unusable("hourly_rate is NULL"); continue }
            guard let rate = ExactDecimal(parsing: text) else { unusable("hourly_rate '\(text)' is not a decimal number"); continue }
            let from: Instant, to: Instant?
            switch try SourceTime.read(row, micros: 3, text: 4, column: "effective_from") {
            case .at(let t): from = t
            case .negativeInfinity: from = Instant.postgresMinimum  // an open start: in force since the beginning
            case .null: unusable("effective_from is NULL"); continue
            case .positiveInfinity, .unplaceable: unusable("effective_from cannot be placed in time"); continue
            }
            switch try SourceTime.read(row, micros: 5, text: 6, column: "effective_to") {
            case .at(let t): to = t
            case .null, .positiveInfinity: to = nil  // an open end
            case .negativeInfinity: unusable("effective_to is -infinity, before it starts"); continue
            case .unplaceable: unusable("effective_to '\(row.optional(6) ?? "")' cannot be placed in time (write an open end as NULL or 'infinity')"); continue
            }
            rates.append(RateVersion(typeName: typeName, currency: currency, hourlyRate: rate, effectiveFrom: from, effectiveTo: to))
        }
        let pricing = try loadPricing(&problems)
        var states: [String: Bool] = [:]
        for row in try db.execute("SELECT state, billable FROM billable_states", context: "reading billable_states").checkedRows(table: "billable_states") {
            states[try row.text(0, "state")] = try row.text(1, "billable") == "t"
        }
        let budgets = try loadBudgets(&problems)
        return BillingCatalog(projects: projects, types: types, instances: instances, rates: rates,
                              billableStates: BillableStateTable(states), problems: problems, discounts: pricing.discounts,
                              caps: pricing.caps, credits: pricing.credits, budgets: budgets)
    }

    /// A date range of a pricing row: `from` must be placeable (`-infinity`: an open start),
    /// `to` placeable or open (NULL or `infinity`). Nil, with the problem, otherwise.
    private func range(_ row: CheckedRow, from: (micros: Int, text: Int, column: String), to: (micros: Int, text: Int, column: String))
        throws -> (from: Instant, to: Instant?, problem: String?)
    {
        var start = Instant.postgresMinimum, end: Instant? = nil
        switch try SourceTime.read(row, micros: from.micros, text: from.text, column: from.column) {
        case .at(let t): start = t
        case .negativeInfinity: break  // an open start
        case .null: return (start, nil, "\(from.column) is NULL")
        case .positiveInfinity, .unplaceable: return (start, nil, "\(from.column) '\(row.optional(from.text) ?? "")' cannot be placed in time")
        }
        switch try SourceTime.read(row, micros: to.micros, text: to.text, column: to.column) {
        case .at(let t): end = t
        case .null, .positiveInfinity: end = nil  // open
        case .negativeInfinity: return (start, nil, "\(to.column) is -infinity, before it starts")
        case .unplaceable:
            return (start, nil, "\(to.column) '\(row.optional(to.text) ?? "")' cannot be placed in time (write an open end as NULL or 'infinity')")
        }
        return (start, end, nil)
    }

    /// Discounts, monthly caps and credits (pricing.md). A row with a value bmbill cannot
    /// read (a date that cannot be placed, a NULL amount) is an error anomaly naming it.
    private func loadPricing(_ problems: inout [Anomaly]) throws -> (discounts: [Discount], caps: [MonthlyCap], credits: [Credit]) {
        var discounts: [Discount] = []
        for row in try db.execute(
            """
            SELECT discount_id, project_id, billing_account_id, type_name, category, percent::text,
                   \(Self.placedMicros("effective_from")), effective_from::text, \(Self.placedMicros("effective_to")), effective_to::text, description
            FROM discounts ORDER BY discount_id
            """, context: "reading discounts"
        ).checkedRows(table: "discounts") {
            let id = try row.text(0, "discount_id")
            func unusable(_ problem: String) {
                problems.append(Anomaly(.error, .invalidDiscount, projectId: row.optional(1), detail: "discount \(id): \(problem); it is not used"))
            }
            guard let text = row.optional(5), let percent = ExactDecimal(parsing: text) else { unusable("percent is NULL or not a number"); continue }
            let r = try range(row, from: (6, 7, "effective_from"), to: (8, 9, "effective_to"))
            if let p = r.problem { unusable(p); continue }
            discounts.append(Discount(id: id, projectId: row.optional(1), billingAccountId: row.optional(2), typeName: row.optional(3),
                                      category: row.optional(4), percent: percent, effectiveFrom: r.from, effectiveTo: r.to, description: row.optional(10)))
        }
        var caps: [MonthlyCap] = []
        for row in try db.execute(
            """
            SELECT type_name, cap_hours::text, \(Self.placedMicros("effective_from")), effective_from::text,
                   \(Self.placedMicros("effective_to")), effective_to::text
            FROM monthly_caps ORDER BY type_name, effective_from
            """, context: "reading monthly_caps"
        ).checkedRows(table: "monthly_caps") {
            let type = try row.text(0, "type_name")
            func unusable(_ problem: String) {
                problems.append(Anomaly(.error, .invalidCap, detail: "monthly_caps row \(type) from '\(row.optional(3) ?? "NULL")': \(problem); it is not used"))
            }
            guard let text = row.optional(1), let hours = ExactDecimal(parsing: text) else { unusable("cap_hours is NULL or not a number"); continue }
            let r = try range(row, from: (2, 3, "effective_from"), to: (4, 5, "effective_to"))
            if let p = r.problem { unusable(p); continue }
            caps.append(MonthlyCap(typeName: type, capHours: hours, effectiveFrom: r.from, effectiveTo: r.to))
        }
        var credits: [Credit] = []
        for row in try db.execute(
            """
            SELECT credit_id, billing_account_id, project_id, btrim(currency), amount::text, \(Self.placedMicros("valid_from")), valid_from::text,
                   \(Self.placedMicros("expires_at")), expires_at::text, reason
            FROM credits ORDER BY credit_id
            """, context: "reading credits"
        ).checkedRows(table: "credits") {
            let id = try row.text(0, "credit_id")
            func unusable(_ problem: String) {
                problems.append(Anomaly(.error, .invalidCredit, projectId: row.optional(2), detail: "credit \(id): \(problem); it is not used"))
            }
            guard let account = row.optional(1) else { unusable("billing_account_id is NULL"); continue }
            guard let currency = row.optional(3) else { unusable("currency is NULL"); continue }
            guard let text = row.optional(4), let amount = ExactDecimal(parsing: text) else { unusable("amount is NULL or not a number"); continue }
            let r = try range(row, from: (5, 6, "valid_from"), to: (7, 8, "expires_at"))
            if let p = r.problem { unusable(p); continue }
            credits.append(Credit(id: id, billingAccountId: account, projectId: row.optional(2), currency: currency, amount: amount,
                                  validFrom: r.from, expiresAt: r.to, reason: row.optional(9)))
        }
        return (discounts, caps, credits)
    }

    /// Budgets (docs/forecast-and-budgets.md). A row with a date bmbill cannot place is a
    /// warning naming it (budgets never block invoices); its other problems are found per run
    /// (`Budget.applicable`). A NULL list of thresholds is the default (50, 80, 100 %); an
    /// element that is NULL or not a number makes the list unusable.
    private func loadBudgets(_ problems: inout [Anomaly]) throws -> [Budget] {
        var budgets: [Budget] = []
        for row in try db.execute(
            """
            SELECT budget_id, project_id, billing_account_id, btrim(currency), monthly_amount::text, thresholds IS NULL,
                   array_to_string(thresholds, ',', 'NULL'), \(Self.placedMicros("effective_from")), effective_from::text,
                   \(Self.placedMicros("effective_to")), effective_to::text, description
            FROM budgets ORDER BY budget_id, effective_from
            """, context: "reading budgets"
        ).checkedRows(table: "budgets") {
            let id = try row.text(0, "budget_id")
            guard let text = row.optional(4), let amount = ExactDecimal(parsing: text) else {
                problems.append(Anomaly(.warning, .invalidBudget, projectId: row.optional(1),
                                        detail: "budget \(id): monthly_amount '\(row.optional(4) ?? "NULL")' is not a number; it is not compared"))
                continue
            }
            let r = try range(row, from: (7, 8, "effective_from"), to: (9, 10, "effective_to"))
            if let p = r.problem {
                problems.append(Anomaly(.warning, .invalidBudget, projectId: row.optional(1), detail: "budget \(id): \(p); it is not compared"))
                continue
            }
            var thresholds: [ExactDecimal]? = Budget.defaultThresholds
            if row.optional(5) != "t" {
                let items = (row.optional(6) ?? "").split(separator: ",", omittingEmptySubsequences: true).map { ExactDecimal(parsing: String($0)) }
                thresholds = items.contains { $0 == nil } ? nil : items.map { $0! }
            }
            budgets.append(Budget(id: id, projectId: row.optional(1), billingAccountId: row.optional(2), currency: row.optional(3) ?? "",
                                  monthlyAmount: amount, thresholds: thresholds, effectiveFrom: r.from, effectiveTo: r.to,
                                  description: row.optional(11)))
        }
        return budgets
    }

    /// Tells `engine` about every change it cannot place in time (`changesWithUnplaceableTimestamps`).
    public func noteInvalidTimestamps(in engine: inout BillingEngine) throws {
        let (bad, total) = try changesWithUnplaceableTimestamps(period: engine.period)
        for b in bad {
            engine.noteInvalidTimestamp(eventId: b.eventId, instanceId: b.instanceId, detail: b.detail, concernsEveryPeriod: b.concernsEveryPeriod,
                                        inPeriod: b.inPeriod)
        }
        if total > bad.count {
            engine.report(Anomaly(.error, .invalidTimestamp,
                                  detail: "\(total - bad.count) more changes with timestamps that cannot be placed in time are not listed (the first \(bad.count) are)"))
        }
    }

    /// How many changes fall inside the period (for a progress line's estimate).
    public func changesInPeriod(_ period: BillingPeriod) throws -> Int {
        Int(try db.execute("SELECT count(*) FROM instance_state_changes WHERE changed_at >= $1::timestamptz AND changed_at < $2::timestamptz",
                           [period.start.postgresText, period.end.postgresText], context: "counting the period's changes").scalar ?? "0") ?? 0
    }

    /// An unplaceable change (see `changesWithUnplaceableTimestamps`).
    public struct UnplaceableChange: Sendable {
        public let eventId: Int64
        public let instanceId: String
        public let detail: String
        /// Dated `-infinity`: it would hold in every period.
        public let concernsEveryPeriod: Bool
        /// Dated inside `period` (only its `recorded_at` is unplaceable).
        public let inPeriod: Bool
    }

    /// Changes whose `changed_at` or `recorded_at` cannot be placed in time (an infinity, or
    /// a year past 294246): they cannot be metered and are left out of the read, so they
    /// are returned here to be reported, the first 1000 of them, with how many there are.
    public func changesWithUnplaceableTimestamps(period: BillingPeriod) throws -> (changes: [UnplaceableChange], total: Int) {
        let rows = try db.execute(
            """
            SELECT event_id, instance_id, state, changed_at::text, recorded_at::text, changed_at = '-infinity',
                   changed_at >= $1::timestamptz AND changed_at < $2::timestamptz, count(*) OVER ()
            FROM instance_state_changes
            WHERE NOT \(Self.placeable("changed_at")) OR NOT \(Self.placeable("recorded_at"))
            ORDER BY event_id LIMIT 1000
            """, [period.start.postgresText, period.end.postgresText], context: "looking for timestamps that cannot be placed in time"
        ).checkedRows(table: "instance_state_changes")
        let changes = try rows.map { row in
            UnplaceableChange(eventId: try row.int64(0, "event_id"), instanceId: try row.text(1, "instance_id"),
                              detail: "'\(row.optional(2) ?? "NULL")' at \(row.optional(3) ?? "NULL"), recorded \(row.optional(4) ?? "NULL")",
                              concernsEveryPeriod: row.optional(5) == "t", inPeriod: row.optional(6) == "t")
        }
        return (changes, Int(rows.first?.optional(7) ?? "0") ?? 0)
    }

    /// Streams the changes the period needs, one instance at a time: the state each
    /// instance carries in (its last change before `period.start`, or its first `deleted`
    /// when it has one; nothing when that is `deleted` and nothing follows it in the
    /// period) and every change in `[period.start, period.end)`.
    ///
    /// The work grows with the period's changes and the number of instances, not with
    /// history. How the rows are read depends on how they lie in the table (`ReadPlan`,
    /// `readPlan(for:)`): by instance, one `COPY` walks `instances` and, per row, reads the
    /// instance's last change before the period (one probe of
    /// `instance_state_changes_instance_time`, backwards) and its range of that index in the
    /// period (in the index's order: grouped by instance with no sort); by the period's
    /// scan, the server reads the period's rows in the order they lie and bmbill groups them
    /// by instance (or, past its room, the server sorts them: `Grouping`), and the carried-in
    /// states come from the same backward probes in a `COPY` of their own. The instances deleted before the period come from the partial index of
    /// `deleted` changes. All is read with `COPY` in binary format and parsed from libpq's
    /// buffer. The connection is switched to `TimeZone = UTC` (it should be one opened for
    /// reading). Both plans hand over the same instances with the same changes.
    ///
    /// The changes of instances with no `instances` row (orphans) are not among them:
    /// `forEachOrphan` reads those. Returns how many of the period's changes were read, so
    /// that a caller can tell, against `changesInPeriod` in the same snapshot, whether there
    /// are any orphans at all before looking for them (the period's scan sees the orphans'
    /// rows and says how many it left). Memory holds one instance's changes and the deleted
    /// instances of the shard (by the period's scan, also every instance's id and carried-in
    /// state, and, when it groups them itself, the shard's period rows: see `Grouping`).
    @discardableResult
    public func forEachInstance(in period: BillingPeriod, shard: InstanceShard = .whole, plan: ReadPlan = .byInstance,
                                _ body: (String, [StateChange]) throws -> Void) throws -> PeriodRead {
        switch plan {
        case .byInstance: PeriodRead(changes: try read(period, from: "instances i", shard: shard, body), orphanChanges: nil)
        case .byPeriodScan: try readByPeriodScan(period, shard: shard, body)
        }
    }

    /// What `forEachInstance` read of the period.
    public struct PeriodRead: Sendable, Equatable {
        /// The period's changes handed over.
        public let changes: Int
        /// The period's changes it saw of instances with no `instances` row and left to
        /// `forEachOrphan`; nil when the read cannot see them (by instance: compare `changes`
        /// with `changesInPeriod`).
        public let orphanChanges: Int?

        public init(changes: Int, orphanChanges: Int?) {
            self.changes = changes
            self.orphanChanges = orphanChanges
        }
    }

    /// How a period's changes are read (`forEachInstance`).
    public enum ReadPlan: String, Sendable {
        /// One index range per instance, in `instances`' order: no sort, but one heap page
        /// per change where an instance's changes lie apart from each other and from those of
        /// the instances read before and after it.
        case byInstance = "by-instance"
        /// One scan of the period in the order its rows lie, grouped by instance by bmbill
        /// (or, past its room, sorted by the server: `Grouping`): what a table whose rows lie
        /// in time order (with instances in no particular order) or in no order at all reads
        /// fastest by.
        case byPeriodScan = "by-period-scan"
    }

    /// The plan for `period`, from where the period's rows of a few consecutive instances (in
    /// `instances`' order, from the middle) lie: when they share heap pages (rows grouped by
    /// instance, or instances' rows written side by side), `.byInstance` reads each page
    /// once; when most rows are on pages of their own, `.byPeriodScan`. One index read of
    /// `sample` instances' first rows in the period (at most `perInstance` each); too few
    /// rows to tell (fewer than `minimumRows`): `.byInstance`.
    public func readPlan(for period: BillingPeriod, sample: Int = 200, perInstance: Int = 10, minimumRows: Int = 200) throws -> ReadPlan {
        let row = try db.execute(
            """
            SELECT count(*), count(DISTINCT (c.ctid::text::point)[0])
            FROM (SELECT instance_id FROM instances ORDER BY instance_id
                  OFFSET (SELECT count(*) / 2 FROM instances) LIMIT \(sample)) i
            CROSS JOIN LATERAL (SELECT ctid FROM instance_state_changes c
                                WHERE c.instance_id = i.instance_id AND c.changed_at >= $1::timestamptz AND c.changed_at < $2::timestamptz
                                ORDER BY c.changed_at LIMIT \(perInstance)) c
            """, [period.start.postgresText, period.end.postgresText], context: "looking at how the period's rows lie"
        ).rows.first
        let rows = Int(row?[0] ?? "0") ?? 0, pages = Int(row?[1] ?? "0") ?? 0
        return rows >= minimumRows && pages * 2 > rows ? .byPeriodScan : .byInstance
    }

    /// The changes of instances with no `instances` row (orphans, every shard; their time is
    /// an anomaly), found by `orphanIds` (an index-only scan of the period against
    /// `instances`), read as `forEachInstance` reads the others: each with the state it
    /// carries in. An orphan is one for its changes in the period: one with none that bmbill
    /// can read (their `recorded_at` cannot be placed) is not metered for its carried-in state.
    public func forEachOrphan(in period: BillingPeriod, _ body: (String, [StateChange]) throws -> Void) throws {
        let ids = try orphanIds(in: period)
        guard !ids.isEmpty else { return }
        try read(period, from: "(VALUES \(ids.map { "(" + Self.literal($0) + ")" }.joined(separator: ","))) i(instance_id)", shard: .whole) {
            id, changes in
            if changes.contains(where: { $0.changedAt >= period.start }) { try body(id, changes) }
        }
    }

    /// Reads the instances of `from` (`instances`, or a VALUES list, aliased `i` with an
    /// `instance_id` column) in `shard`; returns how many of the period's changes it read.
    @discardableResult
    private func read(_ period: BillingPeriod, from: String, shard: InstanceShard, _ body: (String, [StateChange]) throws -> Void) throws -> Int {
        try db.executeScript(Self.readingSession + "; SET max_parallel_workers_per_gather = 0; SET jit = off", context: "setting up the reading session")
        let start = Self.literal(period.start), end = Self.literal(period.end)
        // The instances deleted before the period, whose first `deleted` is what they carry in.
        var deleted = try deletedBefore(period.start, from: from, shard: shard)
        // Per instance: its last usable change before the period (one backward probe of
        // `instance_state_changes_instance_time`; at one instant, the highest event id), then
        // its changes in the period (a range of the same index).
        let sql = """
            COPY (SELECT i.instance_id, c.state, c.changed_at, c.event_id, c.recorded_at
                  FROM \(from) CROSS JOIN LATERAL (
                      \(Self.lastBefore(period.start))
                      UNION ALL
                      (SELECT state, changed_at, event_id, recorded_at FROM instance_state_changes c
                       WHERE c.instance_id = i.instance_id AND \(Self.readableInPeriod("c", start, end))
                       ORDER BY c.changed_at, c.event_id)) c\(shard.condition("i.instance_id", and: false))
                  ORDER BY i.instance_id) TO STDOUT (FORMAT binary)
            """
        // A plain loop over the rows, no closure: this runs for every change.
        var parser = BinaryChangeRowParser(context: "instance_state_changes for \(period)")
        var rows = try db.copyOutRows(sql, context: "reading instance_state_changes for \(period)")
        var instance = InstanceChanges()
        var finished: Set<String> = []
        var read = 0
        while let row = try rows.next() {
            guard let change = try parser.parse(row) else { continue }
            if parser.startsInstance {
                try instance.deliver(deleted: &deleted, finished: &finished, body)
                instance.start(parser.instanceId)
            }
            if change.changedAt < period.start {
                instance.before = change
            } else {
                instance.changes.append(change)
                read += 1
            }
        }
        try instance.deliver(deleted: &deleted, finished: &finished, body)
        return read
    }

    /// One instance's rows of the read: the state it carries in and its changes in the period.
    private struct InstanceChanges {
        var id: String?
        var before: StateChange?
        var changes: [StateChange] = []

        /// Starts another instance's, in the array of the last one.
        mutating func start(_ id: String) {
            self.id = id
            before = nil
            changes.removeAll(keepingCapacity: true)
        }

        /// Hands the instance's changes to `body`: what it carries in (its first `deleted`
        /// before the period, from `deleted`, or else its last change before the period) and
        /// its changes in the period. An instance seen twice is an error (`finished`).
        mutating func deliver(deleted: inout [String: StateChange], finished: inout Set<String>,
                              _ body: (String, [StateChange]) throws -> Void) throws {
            guard let id else { return }
            guard finished.insert(id).inserted else {
                throw StoreError.badSourceRow(table: "instance_state_changes", key: id,
                                              problem: "the server returned the instance's changes out of order; run again")
            }
            let first = deleted.removeValue(forKey: id) ?? before
            if changes.isEmpty {
                // No change in the period: the state it carries in holds all period, unless it is deleted.
                guard let first, BillableStateTable.canonical(first.state) != BillableStateTable.deleted else { return }
                try body(id, [first])
            } else {
                if let first { changes.insert(first, at: 0) }
                try body(id, changes)
            }
        }
    }

    /// `forEachInstance` by one scan of the period (`ReadPlan.byPeriodScan`): the shard's
    /// instance ids and their carried-in states (each a backward probe, as by instance) are
    /// read first, sorted as the period's rows are (bytes, `COLLATE "C"`), and merged with
    /// them: an instance with no change in the period is handed over with what it carries
    /// in; a period's row whose instance has no `instances` row is left to `forEachOrphan`
    /// (not counted as read).
    private func readByPeriodScan(_ period: BillingPeriod, shard: InstanceShard, _ body: (String, [StateChange]) throws -> Void) throws -> PeriodRead {
        // The merge compares ids as bytes in the server's C order: only text the server
        // holds as UTF-8 decodes without loss (SQL_ASCII can hold any bytes). Else by instance.
        guard try db.execute("SELECT current_setting('server_encoding') = 'UTF8' AND current_setting('client_encoding') = 'UTF8'",
                             context: "checking the database's encoding").scalar == "t"
        else { return PeriodRead(changes: try read(period, from: "instances i", shard: shard, body), orphanChanges: nil) }
        // The server's sort in memory where the shard's period fits: a batch job's own session.
        try db.executeScript(Self.readingSession + "; SET max_parallel_workers_per_gather = 0; SET jit = off; SET work_mem = '64MB'",
                             context: "setting up the reading session")
        var deleted = try deletedBefore(period.start, from: "instances i", shard: shard)
        let ids = try db.execute("SELECT i.instance_id FROM instances i\(shard.condition("i.instance_id", and: false)) ORDER BY i.instance_id COLLATE \"C\"",
                                 context: "reading the instances' ids").rows.compactMap { $0[0] }
        let carried = try carriedIn(period, shard: shard)
        if let limit = try groupingLimit(period, shard: shard, instances: ids.count),
            let grouped = try readGrouped(period, shard: shard, ids: ids, limit: limit)
        {
            var merge = SortedMerge(ids: ids, carried: carried)
            var finished: Set<String> = []
            var instance = InstanceChanges()
            for (k, id) in ids.enumerated() {
                let mine = grouped.groups.entries(of: k)
                instance.start(id)
                instance.before = merge.carriedIn(id)
                guard !mine.isEmpty || instance.before != nil else { continue }
                for e in mine {
                    instance.changes.append(StateChange(eventId: e.eventId, state: grouped.stateNames[Int(e.state)],
                                                        changedAt: Instant(microseconds: e.changedAt), recordedAt: Instant(microseconds: e.recordedAt)))
                }
                try instance.deliver(deleted: &deleted, finished: &finished, body)
            }
            return PeriodRead(changes: grouped.groups.count, orphanChanges: grouped.orphanChanges)
        }
        return try readSorted(period, shard: shard, ids: ids, carried: carried, deleted: &deleted, body)
    }

    /// How a reader groups the period's rows read in no order (`SourceReader.grouping`).
    public enum Grouping: Sendable, Equatable {
        /// On the client when the shard's rows, by the planner's estimate, fit in its share
        /// of `groupingMemory` beside `memoryPerInstance` for each of its instances; else,
        /// or when they turn out not to, sorted by the server.
        case automatic
        /// Always sorted by the server.
        case never
        /// On the client in at most this many bytes (no estimate first; no more than
        /// `groupingMemory`), else by the server.
        case withinBytes(Int)
    }

    /// The memory the readers of a run may hold for grouping rows and for what they meter
    /// of each instance (about `memoryPerInstance`), so that a run stays within 256 MB.
    static let groupingMemory = 192 << 20
    static let memoryPerInstance = 2 << 10

    /// How many rows the shard may group on the client (`Grouping`), or nil to let the server sort.
    private func groupingLimit(_ period: BillingPeriod, shard: InstanceShard, instances: Int) throws -> Int? {
        switch grouping {
        case .never: return nil
        case .withinBytes(let bytes): return min(bytes, Self.groupingMemory) / PeriodGroups.entryBytes
        case .automatic:
            guard Self.groupingLimit(estimate: 0, shards: shard.count, instances: instances) != nil else { return nil }
            let plan = try db.execute(
                "EXPLAIN SELECT 1 FROM instance_state_changes c WHERE c.changed_at >= $1::timestamptz AND c.changed_at < $2::timestamptz",
                [period.start.postgresText, period.end.postgresText], context: "estimating the period's rows").scalar ?? ""
            // The first line's "rows=N": the planner's estimate of the period's rows (of every shard).
            guard let r = plan.range(of: "rows="), let estimate = Int(plan[r.upperBound...].prefix { $0.isNumber }) else { return nil }
            return Self.groupingLimit(estimate: estimate, shards: shard.count, instances: instances)
        }
    }

    /// `Grouping.automatic`'s rule: a shard of `shards` with `instances` instances, of a
    /// period of about `estimate` rows in all, groups on the client when a quarter more than
    /// its share of them fits in its share of `groupingMemory` beside `memoryPerInstance`
    /// for each of its instances; then as many rows as fit, nil otherwise.
    static func groupingLimit(estimate: Int, shards: Int, instances: Int) -> Int? {
        let bytes = groupingMemory / shards - memoryPerInstance * instances
        let limit = bytes / PeriodGroups.entryBytes, share = estimate / shards
        return bytes > 0 && share + share / 4 <= limit ? limit : nil
    }

    /// The shard's period's rows in the order they lie (one scan, no sort), grouped on the
    /// client by instance (`PeriodGroups`); nil, having read them all, when more than `limit`
    /// come (the caller then reads them sorted by the server, in the same snapshot). Rows of
    /// instances with no `instances` row are counted, not kept (`forEachOrphan` reads them).
    private func readGrouped(_ period: BillingPeriod, shard: InstanceShard, ids: [String], limit: Int) throws
        -> (groups: PeriodGroups, stateNames: [String], orphanChanges: Int)?
    {
        guard ids.count < Int(Int32.max) else { return nil }
        let start = Self.literal(period.start), end = Self.literal(period.end)
        let index = InstanceIdIndex(ids)
        let groups = PeriodGroups(instances: ids.count, limit: limit)
        var parser = BinaryChangeRowParser(context: "instance_state_changes for \(period)")
        var rows = try db.copyOutRows(
            """
            COPY (SELECT c.instance_id, c.state, c.changed_at, c.event_id, c.recorded_at FROM instance_state_changes c
                  WHERE \(Self.readableInPeriod("c", start, end))\(shard.condition("c.instance_id", and: true))) TO STDOUT (FORMAT binary)
            """, context: "reading instance_state_changes for \(period)")
        var orphanChanges = 0
        var fits = true
        while let row = try rows.next() {
            guard fits, let change = try parser.parseUnnamed(row) else { continue }
            guard let k = index.number(of: change.id) else {
                orphanChanges += 1
                continue
            }
            fits = groups.append(instance: k, state: change.state, changedAt: change.changedAt, eventId: change.eventId, recordedAt: change.recordedAt)
        }
        guard fits else { return nil }
        groups.group()
        return (groups, parser.stateNames, orphanChanges)
    }

    /// The shard's carried-in states (each a backward probe, as by instance), in byte order of their ids.
    private func carriedIn(_ period: BillingPeriod, shard: InstanceShard) throws -> [(id: String, change: StateChange)] {
        var carried: [(id: String, change: StateChange)] = []
        var carriedParser = BinaryChangeRowParser(context: "the states carried into \(period)")
        try db.copyOut(
            """
            COPY (SELECT i.instance_id, l.state, l.changed_at, l.event_id, l.recorded_at
                  FROM instances i CROSS JOIN LATERAL \(Self.lastBefore(period.start)) l\(shard.condition("i.instance_id", and: false))
                  ORDER BY i.instance_id COLLATE "C") TO STDOUT (FORMAT binary)
            """, context: "reading the states carried into \(period)"
        ) { row in
            if let change = try carriedParser.parse(row) { carried.append((carriedParser.instanceId, change)) }
        }
        return carried
    }

    /// The shard's period's rows sorted by the server (by instance, in byte order), merged
    /// with `ids` and the carried-in states.
    private func readSorted(_ period: BillingPeriod, shard: InstanceShard, ids: [String], carried: [(id: String, change: StateChange)],
                            deleted: inout [String: StateChange], _ body: (String, [StateChange]) throws -> Void) throws -> PeriodRead {
        let start = Self.literal(period.start), end = Self.literal(period.end)
        var parser = BinaryChangeRowParser(context: "instance_state_changes for \(period)")
        var rows = try db.copyOutRows(
            """
            COPY (SELECT c.instance_id, c.state, c.changed_at, c.event_id, c.recorded_at FROM instance_state_changes c
                  WHERE \(Self.readableInPeriod("c", start, end))\(shard.condition("c.instance_id", and: true))
                  ORDER BY c.instance_id COLLATE "C", c.changed_at, c.event_id) TO STDOUT (FORMAT binary)
            """, context: "reading instance_state_changes for \(period)")
        var merge = SortedMerge(ids: ids, carried: carried)
        var instance = InstanceChanges()
        var finished: Set<String> = []
        var read = 0, orphanChanges = 0
        var orphan = false
        /// An instance with no change in the period: handed over with the state it carries in,
        /// when it has one (one deleted before the period has: its `deleted` is a usable change);
        /// with none, nothing is handed over, as by instance.
        func deliverCarriedInOnly(_ id: String) throws {
            guard let before = merge.carriedIn(id) else { return }
            var only = InstanceChanges()
            only.start(id)
            only.before = before
            try only.deliver(deleted: &deleted, finished: &finished, body)
        }
        while let row = try rows.next() {
            guard let change = try parser.parse(row) else { continue }
            if parser.startsInstance {
                if !orphan { try instance.deliver(deleted: &deleted, finished: &finished, body) }
                let id = parser.instanceId
                // The instances before this one, with no change in the period.
                while let other = merge.nextId(before: id) { try deliverCarriedInOnly(other) }
                orphan = !merge.take(id)
                instance.start(id)
                if !orphan { instance.before = merge.carriedIn(id) }
            }
            if !orphan {
                instance.changes.append(change)
                read += 1
            } else {
                orphanChanges += 1
            }
        }
        if !orphan { try instance.deliver(deleted: &deleted, finished: &finished, body) }
        while let other = merge.nextId(before: nil) { try deliverCarriedInOnly(other) }
        return PeriodRead(changes: read, orphanChanges: orphanChanges)
    }

    /// The shard's instance ids and carried-in states, both in byte order, walked alongside
    /// the period's rows in the same order.
    private struct SortedMerge {
        let ids: [String]
        let carried: [(id: String, change: StateChange)]
        var nextIdAt = 0
        var nextCarriedAt = 0

        /// Byte order and byte equality, as the server's `COLLATE "C"` (Swift's `==` on
        /// strings would take canonically equivalent ids for one).
        static func precedes(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        static func same(_ a: String, _ b: String) -> Bool { a.utf8.elementsEqual(b.utf8) }

        /// The next instance id before `id` (every one left, for nil), taken.
        mutating func nextId(before id: String?) -> String? {
            guard nextIdAt < ids.count, id.map({ Self.precedes(ids[nextIdAt], $0) }) ?? true else { return nil }
            defer { nextIdAt += 1 }
            return ids[nextIdAt]
        }

        /// Takes `id` if it is the next instance id: false for an id with no `instances` row.
        mutating func take(_ id: String) -> Bool {
            guard nextIdAt < ids.count, Self.same(ids[nextIdAt], id) else { return false }
            nextIdAt += 1
            return true
        }

        /// The carried-in state of `id` (ids asked in byte order).
        mutating func carriedIn(_ id: String) -> StateChange? {
            while nextCarriedAt < carried.count, Self.precedes(carried[nextCarriedAt].id, id) { nextCarriedAt += 1 }
            guard nextCarriedAt < carried.count, Self.same(carried[nextCarriedAt].id, id) else { return nil }
            return carried[nextCarriedAt].change
        }
    }

    /// The instances with changes in `period` that have no `instances` row (orphans: their
    /// time is an anomaly), sorted: an index-only scan of the period
    /// (`instance_state_changes_changed_at_instance`, migration 014) against `instances`.
    public func orphanIds(in period: BillingPeriod) throws -> [String] {
        try db.execute(
            """
            SELECT DISTINCT o.instance_id FROM instance_state_changes o
            WHERE o.changed_at >= \(Self.literal(period.start)) AND o.changed_at < \(Self.literal(period.end))
              AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = o.instance_id)
            ORDER BY 1
            """, context: "looking for changes of instances with no instances row"
        ).rows.compactMap { $0[0] }
    }

    /// The last usable change of instance `i` before `start` (at one instant, the highest
    /// event id): one backward probe of `instance_state_changes_instance_time`.
    private static func lastBefore(_ start: Instant) -> String {
        """
        (SELECT state, changed_at, event_id, recorded_at FROM instance_state_changes l
                               WHERE l.instance_id = i.instance_id AND \(usable("l", before: start))
                               ORDER BY l.changed_at DESC, l.event_id DESC LIMIT 1)
        """
    }

    /// A change the period's read takes: dated in `[start, end)` (literals), its `recorded_at` placeable.
    private static func readableInPeriod(_ alias: String, _ start: String, _ end: String) -> String {
        "\(alias).changed_at >= \(start) AND \(alias).changed_at < \(end) AND \(placeable(alias + ".recorded_at"))"
    }

    /// A change usable as a carried-in state: dated before `start`, both its timestamps placeable.
    private static func usable(_ alias: String, before start: Instant) -> String {
        "\(alias).changed_at < \(literal(start)) AND \(placeable(alias + ".changed_at")) AND \(placeable(alias + ".recorded_at"))"
    }

    /// The first `deleted` before `start` of each instance of `from` (a table or VALUES list
    /// aliased `i`, with an `instance_id` column) deleted before it: deleted is final, so it
    /// is what the instance carries in, whatever followed (of several at that instant, the
    /// one with the highest event id, which is the one that holds). One read of the partial
    /// index of `deleted` changes (`instance_state_changes_deleted_v2`), however long the history.
    func deletedBefore(_ start: Instant, from: String, shard: InstanceShard) throws -> [String: StateChange] {
        var deleted: [String: StateChange] = [:]
        var parser = BinaryChangeRowParser(context: "the instances deleted before the period")
        try db.copyOut(
            """
            COPY (SELECT DISTINCT ON (d.instance_id) d.instance_id, d.state, d.changed_at, d.event_id, d.recorded_at
                  FROM instance_state_changes d JOIN \(from) USING (instance_id)
                  WHERE \(Self.canonicalState("d.state")) = 'deleted' AND \(Self.usable("d", before: start))\(shard.condition("d.instance_id", and: true))
                  ORDER BY d.instance_id, d.changed_at, d.event_id DESC) TO STDOUT (FORMAT binary)
            """, context: "reading the instances deleted before the period"
        ) { row in
            guard let change = try parser.parse(row) else { return }
            deleted[parser.instanceId] = change
        }
        return deleted
    }

    /// A value as a quoted SQL literal (COPY takes no parameters); the reading session sets
    /// `standard_conforming_strings = on`, so doubling quotes is all the escaping there is.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
    static func literal(_ t: Instant) -> String { "'\(t.postgresText)'::timestamptz" }
}

/// A source timestamp as bmbill reads it: an instant, or one of the values that are not.
enum SourceTime {
    case at(Instant)
    case null
    case negativeInfinity
    case positiveInfinity
    /// A finite value outside `Instant`'s range (years after 294246).
    case unplaceable

    /// Reads columns `micros` (`SourceReader.placedMicros`) and `text` (the value as text) of `row`.
    static func read(_ row: CheckedRow, micros: Int, text: Int, column: String) throws -> SourceTime {
        if let m = try row.optionalInt64(micros, column) { return .at(Instant(microseconds: m)) }
        switch row.optional(text) {
        case nil: return .null
        case "-infinity": return .negativeInfinity
        case "infinity": return .positiveInfinity
        default: return .unplaceable
        }
    }
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
