import BillingCore
import BillingStore
import Foundation
import PostgresClient
import Testing

/// The period read (issue 5): COPY text parsed from libpq's buffer must give exactly what
/// PostgreSQL holds, whatever the ids and instants look like.
@Suite("Reading a period with COPY", .enabled(if: TestDatabase.serverReachable))
struct ReaderTests {
    static let october = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: BillingTimeZone(identifier: "Asia/Seoul")!)

    /// What the readers of a run read: the instances of `shard`, and, for the whole, the
    /// orphans too.
    func read(_ db: PostgresConnection, shard: InstanceShard = .whole, reading: Reading = .byInstance) throws -> [String: [StateChange]] {
        var seen: [String: [StateChange]] = [:]
        let each = { (id: String, changes: [StateChange]) in
            #expect(seen[id] == nil, "\(id) came twice")
            seen[id] = changes
        }
        try reading.reader(db).forEachInstance(in: Self.october, shard: shard, plan: reading.plan, each)
        if shard == .whole { try SourceReader(db).forEachOrphan(in: Self.october, each) }
        return seen
    }

    @Test("An instance with no instances row is read with the state it carries in, and only for changes in the period that can be read (billing-rules.md, 'no instance row')")
    func orphansWithCarriedIn() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.run(["migrate"]).expectSuccess()
        for (id, state, at, recorded) in [
            ("i-ghost", "active", "2026-09-20 00:00:00+00", "2026-09-20 00:00:00+00"),
            ("i-ghost", "stopped", "2026-10-05 00:00:00+00", "2026-10-05 00:00:00+00"),
            // Carried in, but its only change in the period has a recorded_at that cannot be placed: not read.
            ("i-unread", "active", "2026-09-20 00:00:00+00", "2026-09-20 00:00:00+00"),
            ("i-unread", "stopped", "2026-10-05 00:00:00+00", "infinity"),
            // Carried in only: orphans are looked for among the period's changes.
            ("i-before", "active", "2026-09-20 00:00:00+00", "2026-09-20 00:00:00+00"),
        ] {
            try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, $2, $3::timestamptz, $4::timestamptz)",
                           [id, state, at, recorded])
        }
        var got: [String: [String]] = [:]
        try SourceReader(db).forEachOrphan(in: Self.october) { id, changes in got[id] = changes.map(\.state) }
        #expect(got == ["i-ghost": ["active", "stopped"]])
        // The instances' read sees none of them.
        #expect(try SourceReader(db).forEachInstance(in: Self.october) { id, _ in Issue.record("read \(id)") }.changes == 0)
    }

    @Test("The instances' read counts the period's changes it read: all of them (changesInPeriod) unless some instance has no instances row",
          arguments: Reading.all)
    func periodCount(_ reading: Reading) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let reader = reading.reader(db), plan = reading.plan
        let all = try reader.changesInPeriod(Self.october)
        #expect(all > 0)
        // The period's scan also says how many of the period's changes it left to forEachOrphan; by instance it cannot tell.
        let seen: Int? = plan == .byPeriodScan ? 0 : nil
        #expect(try reader.forEachInstance(in: Self.october, plan: plan) { _, _ in } == SourceReader.PeriodRead(changes: all, orphanChanges: seen))
        // Shards together read as many.
        #expect(try (0..<3).reduce(0) { n, k in
            try n + reader.forEachInstance(in: Self.october, shard: InstanceShard(index: k, count: 3), plan: plan) { _, _ in }.changes
        } == all)
        // Two changes of an instance with no instances row: the count tells they were not read, orphanIds finds it.
        for at in ["2026-10-02 00:00:00+00", "2026-10-03 00:00:00+00"] {
            try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ('i-orphan', 'active', $1::timestamptz, $1::timestamptz)", [at])
        }
        #expect(try reader.changesInPeriod(Self.october) == all + 2)
        #expect(try reader.forEachInstance(in: Self.october, plan: plan) { _, _ in }
            == SourceReader.PeriodRead(changes: all, orphanChanges: seen.map { $0 + 2 }))
        #expect(try reader.orphanIds(in: Self.october) == ["i-orphan"])
    }

    @Test("The bounds of what the readers take (placeable) are, as PostgreSQL reads them, exactly Instant's: 4714-11-24 BC and 294247-01-01")
    func placeableBounds() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        let row = try db.execute("SELECT \(SourceReader.micros(SourceReader.placeableFrom))::text, \(SourceReader.micros(SourceReader.placeableUntil))::text").rows[0]
        #expect(row == [String(Instant.postgresMinimum.microseconds), String(Instant.representableEnd.microseconds)])
        #expect(SourceReader.placeableFrom == "'4714-11-24 00:00:00+00 BC'::timestamptz")
        // Infinities and PostgreSQL's last instant are outside; its first inside.
        let inside = try db.execute(
            "SELECT \(SourceReader.placeable("x")) FROM (VALUES ('-infinity'::timestamptz), ('4714-11-24 00:00:00+00 BC'), ('294246-12-31 23:59:59.999999+00'), ('294247-01-01 00:00:00+00'), ('294276-12-31 23:59:59.999999+00'), ('infinity')) v(x)"
        ).rows.map { $0[0] ?? "" }
        #expect(inside == ["f", "t", "t", "f", "f", "f"])
    }

    @Test("Ids with tabs, newlines, backslashes and non-ASCII text, and instants to the microsecond, BC or past 9999, read back exactly",
          arguments: Reading.all)
    func hostileValues(_ reading: Reading) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.run(["migrate"]).expectSuccess()
        let ids = ["i-tab\there", "i-nl\nthere", "i-back\\slash", "i-ünïcødé-服务器", "i-\\N", "i-quote'\"", "i-plain"]
        let instants = ["2026-10-05 01:02:03.000001+00", "2026-10-05 01:02:03.5+00", "2026-10-31 14:59:59.999999+00"]
        for (n, id) in ids.enumerated() {
            // Carried in: far in the past (BC for one, the year 9999 ceiling is not needed before the period).
            let before = n == 0 ? "0044-03-15 12:00:00+00 BC" : "2026-09-30 14:59:59.999999+00"
            try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, 'active', $2::timestamptz, $2::timestamptz)",
                           [id, before])
            for (k, at) in instants.enumerated() {
                try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, $2, $3::timestamptz, '12345-06-07 08:09:10+00')",
                               [id, k % 2 == 0 ? "stopped" : " Active\t", at])
            }
            // All but two have an instances row: the others are orphans (read by forEachOrphan).
            if n >= 2 {
                try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) VALUES ($1, 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z')", [id])
            }
        }
        let got = try read(db, reading: reading)
        #expect(Set(got.keys) == Set(ids))
        // What PostgreSQL says each row is, in microseconds.
        let expected = try db.execute(
            """
            SELECT instance_id, event_id, state, \(SourceReader.micros("changed_at")), \(SourceReader.micros("recorded_at"))
            FROM instance_state_changes ORDER BY instance_id, changed_at, event_id
            """).rows
        for row in expected {
            let change = try #require(got[row[0]!]?.first { $0.eventId == Int64(row[1]!)! }, "event \(row[1]!) of \(row[0]!)")
            #expect(change.state == row[2]!)
            #expect(change.changedAt.microseconds == Int64(row[3]!)!, "changed_at of \(row[0]!)")
            #expect(change.recordedAt.microseconds == Int64(row[4]!)!, "recorded_at of \(row[0]!)")
        }
        #expect(got.values.allSatisfy { $0.count == 4 }, "the carried-in change and the three in the period")
    }

    @Test("Shards split the instances: each in exactly one, together all, and the same changes", arguments: Reading.all)
    func shardsPartition(_ reading: Reading) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let whole = try read(db, reading: reading)
        var union: [String: [StateChange]] = [:]
        for k in 0..<3 {
            for (id, changes) in try read(db, shard: InstanceShard(index: k, count: 3), reading: reading) {
                #expect(union[id] == nil, "\(id) in two shards")
                union[id] = changes
            }
        }
        #expect(union == whole)
        #expect(whole.count >= 4)
    }

    @Test("Deleted is final: the state carried in is the first deleted (of two at one instant, the later event), else the last change before the period",
          arguments: Reading.all)
    func carriedIn(_ reading: Reading) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.run(["migrate"]).expectSuccess()
        let rows: [(String, String, String)] = [
            ("i-a", "active", "2026-09-01 00:00:00+00"), ("i-a", "stopped", "2026-09-20 00:00:00+00"),
            ("i-b", "active", "2026-09-01 00:00:00+00"), ("i-b", "Deleted ", "2026-09-10 00:00:00+00"),
            ("i-b", "active", "2026-09-20 00:00:00+00"), ("i-b", "deleted", "2026-09-25 00:00:00+00"),
            ("i-b", "active", "2026-10-02 00:00:00+00"),
            ("i-c", "deleted", "2026-09-10 00:00:00+00"),  // deleted, and nothing after: not read at all
            // Two deletions at one instant: the one with the higher event id holds.
            ("i-d", "deleted", "2026-09-10 00:00:00+00"), ("i-d", "DELETED", "2026-09-10 00:00:00+00"),
            ("i-d", "active", "2026-10-03 00:00:00+00"),
            // No instances row and no change in the period: orphans are looked for among the
            // period's changes only (billing-rules.md, "no instance row").
            ("i-e", "active", "2026-09-01 00:00:00+00"),
        ]
        for (id, state, at) in rows {
            try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, $2, $3::timestamptz, $3::timestamptz)",
                           [id, state, at])
        }
        for id in ["i-a", "i-b", "i-c", "i-d"] {
            try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) VALUES ($1, 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z')", [id])
        }
        let got = try read(db, reading: reading)
        #expect(got["i-a"]?.map(\.state) == ["stopped"])
        #expect(got["i-b"]?.map(\.state) == ["Deleted ", "active"], "the first deleted, then the period's change")
        #expect(got["i-c"] == nil)
        #expect(got["i-d"]?.map(\.state) == ["DELETED", "active"])
        #expect(got["i-e"] == nil)
    }

    /// Random months of random fleets: instances with and without `instances` rows, with
    /// changes before, in and after the period, `deleted` (final) at any point, several at
    /// one instant, `recorded_at` that cannot be placed, instances with nothing in the
    /// period, ids that sort differently by bytes and by the database's collation.
    @Test("Both read plans hand over the same instances with the same changes, whole and by shard, on random months")
    func plansAgree() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.run(["migrate"]).expectSuccess()
        var rng = SystemRandomNumberGenerator()
        let ids = (0..<60).map { n in ["i-\(n)", "I-\(n)", "i_\(n)", "é-\(n)", "i \(n)", "i-\(n)\tx"][n % 6] }
        let states = ["active", "Active ", "stopped", "deleted", "error", "rebooting_started_hard"]
        let start = Self.october.start.microseconds
        for (n, id) in ids.enumerated() {
            if n % 5 != 0 {
                try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) VALUES ($1, 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z')", [id])
            }
            for _ in 0..<Int.random(in: 0...12, using: &rng) {
                // From 40 days before the period to 10 days after its end; some at one instant.
                let at = start + Int64.random(in: -40...41, using: &rng) * 86_400_000_000 + Int64.random(in: 0...2, using: &rng) * 3_600_000_000
                let recorded = Int.random(in: 0...20, using: &rng) == 0 ? "infinity" : Instant(microseconds: at).postgresText
                try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, $2, $3::timestamptz, $4::timestamptz)",
                               [id, states.randomElement(using: &rng)!, Instant(microseconds: at).postgresText, recorded])
            }
        }
        // Two ids Swift's == takes for one (canonically equivalent, other bytes): the one with no
        // change at all is not handed over by either plan.
        for id in ["e\u{301}-twin", "\u{e9}-twin"] {
            try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) VALUES ($1, 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z')", [id])
        }
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, 'active', '2026-10-05Z', '2026-10-05Z')", ["\u{e9}-twin"])
        let reader = SourceReader(db)
        for shard in [InstanceShard.whole, InstanceShard(index: 0, count: 2), InstanceShard(index: 1, count: 2)] {
            var byInstance: [String: [StateChange]] = [:]
            // In effect order: the engine takes an instance's changes in any order (a plan may sort them, the other not).
            let a = try reader.forEachInstance(in: Self.october, shard: shard, plan: .byInstance) { byInstance[$0] = $1.sorted(by: StateChange.inEffectOrder) }
            #expect(a.orphanChanges == nil)
            for scan in Reading.all where scan.plan == .byPeriodScan {
                var byScan: [String: [StateChange]] = [:]
                let b = try scan.reader(db).forEachInstance(in: Self.october, shard: shard, plan: .byPeriodScan) { id, changes in
                    #expect(byScan[id] == nil, "\(id) came twice")
                    #expect(changes == changes.sorted(by: StateChange.inEffectOrder), "\(id)'s changes in effect order")
                    byScan[id] = changes
                }
                #expect(byScan == byInstance, "shard \(shard.index) of \(shard.count), \(scan)")
                #expect(a.changes == b.changes)
                #expect(b.orphanChanges != nil)
            }
        }
    }

    @Test("The read plan follows how the period's rows lie: grouped by instance, by instance; instances interleaved in time order, by the period's scan, a sparse month too; too few rows, by instance")
    func planFollowsLayout() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.run(["migrate"]).expectSuccess()
        let reader = SourceReader(db)
        #expect(try reader.readPlan(for: Self.october) == .byInstance, "an empty table")
        try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) SELECT 'i-' || lpad(n::text, 5, '0'), 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z' FROM generate_series(1, 2000) n")
        // Grouped by instance: each instance's five changes side by side.
        try db.execute(
            """
            INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
            SELECT 'i-' || lpad(n::text, 5, '0'), 'active', '2026-10-02Z'::timestamptz + k * interval '1 day', now()
            FROM generate_series(1, 2000) n, generate_series(1, 5) k ORDER BY n, k
            """)
        #expect(try reader.readPlan(for: Self.october, sample: 20, minimumRows: 50) == .byInstance)
        #expect(try reader.readPlan(for: Self.october, sample: 20, minimumRows: 1000) == .byInstance, "fewer rows than it needs to tell")
        // In time order, the instances in no particular order at each instant.
        try db.execute("TRUNCATE instance_state_changes")
        try db.execute(
            """
            INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
            SELECT 'i-' || lpad(n::text, 5, '0'), 'active', '2026-10-02Z'::timestamptz + k * interval '1 day', now()
            FROM generate_series(1, 2000) n, generate_series(1, 5) k ORDER BY k, md5(n::text)
            """)
        #expect(try reader.readPlan(for: Self.october, sample: 20, minimumRows: 50) == .byPeriodScan)
        // A sparse month of many instances, one change each, interleaved: told apart all the same (defaults).
        try db.execute("TRUNCATE instance_state_changes")
        try db.execute("INSERT INTO instances (instance_id, project_id, type_name, image, name, created_at) SELECT 'j-' || lpad(n::text, 5, '0'), 'p', 'r2a.baremetal', 'Ubuntu', NULL, '2026-01-01Z' FROM generate_series(1, 40000) n")
        try db.execute(
            """
            INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
            SELECT 'j-' || lpad(n::text, 5, '0'), 'active', '2026-10-02Z'::timestamptz + (n % 97) * interval '1 hour', now()
            FROM generate_series(1, 40000) n ORDER BY md5(n::text)
            """)
        try db.execute("ANALYZE instance_state_changes")
        #expect(try reader.readPlan(for: Self.october) == .byPeriodScan)
        // ... and grouped by instance, the same month (each instance's change beside the next instance's): by instance.
        try db.execute("CREATE TEMP TABLE c AS SELECT * FROM instance_state_changes")
        try db.execute("TRUNCATE instance_state_changes")
        try db.execute("INSERT INTO instance_state_changes SELECT * FROM c ORDER BY instance_id")
        #expect(try reader.readPlan(for: Self.october) == .byInstance)
    }
}

/// A way of reading a period, for tests that must hold for each: by instance, or by the
/// period's scan with its rows grouped by the client, sorted by the server, or grouped by
/// the client until it runs out of room (a few rows) and then sorted by the server.
struct Reading: Sendable, CustomTestStringConvertible {
    let plan: SourceReader.ReadPlan
    let grouping: SourceReader.Grouping
    let testDescription: String

    static let byInstance = Reading(plan: .byInstance, grouping: .automatic, testDescription: "by instance")
    static let all: [Reading] = [
        byInstance,
        Reading(plan: .byPeriodScan, grouping: .automatic, testDescription: "by the period's scan"),
        Reading(plan: .byPeriodScan, grouping: .withinBytes(1 << 24), testDescription: "by the period's scan, grouped by bmbill"),
        Reading(plan: .byPeriodScan, grouping: .never, testDescription: "by the period's scan, sorted by the server"),
        Reading(plan: .byPeriodScan, grouping: .withinBytes(3 * 32), testDescription: "by the period's scan, out of room after 3 rows"),
    ]

    func reader(_ db: PostgresConnection) -> SourceReader {
        var reader = SourceReader(db)
        reader.grouping = grouping
        return reader
    }
}

