import Foundation
import PostgresClient
import Testing

/// A catalogue of malformed or hostile source data, each applied to the worked month.
/// Every case must end with its documented exit code and anomalies: no crash, no hang,
/// nothing lost (docs/operations.md, "Bad input: what each case gets", lists them for
/// operators).
@Suite("Bad input catalogue", .enabled(if: TestDatabase.serverReachable))
struct BadInputCatalogTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let sql: String
        var asOf = "2026-12-01T00:00:00Z"
        var exit: Int32 = 0
        /// Anomaly kinds that must be reported.
        var kinds: Set<String> = []
        /// Expected total of prj-alpha's current invoice, when the case pins it.
        var alphaTotal: String? = nil
        /// Words the error on stderr must hold (for a case that stops the run).
        var says: String? = nil
        var testDescription: String { name }
    }

    static let ok = "28912492"  // prj-alpha's total in the clean example

    static let cases: [Case] = [
        Case(name: "out-of-order inserts (event ids against time)",
             sql: "UPDATE instance_state_changes SET event_id = 1000 - event_id", kinds: ["duplicate instant"], alphaTotal: ok),
        Case(name: "duplicate instants, same state", sql: "SELECT 1", kinds: ["duplicate instant"], alphaTotal: ok),
        Case(name: "duplicate instants, different states (highest event id holds)",
             sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a1', 'error', '2026-10-12 00:00:00+00'), ('i-a1', 'stopped', '2026-10-12 00:00:00+00')",
             kinds: ["duplicate instant"], alphaTotal: ok),
        Case(name: "unknown state", sql: "UPDATE instance_state_changes SET state = 'hibernating' WHERE event_id = 8", exit: 65, kinds: ["unknown state"]),
        Case(name: "misspelled state", sql: "UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8", exit: 65, kinds: ["unknown state"]),
        Case(name: "state in other case and padded", sql: "UPDATE instance_state_changes SET state = '  ACTIVE ' WHERE event_id = 8", alphaTotal: ok),
        Case(name: "empty state", sql: "UPDATE instance_state_changes SET state = '' WHERE event_id = 8", exit: 65, kinds: ["unknown state"]),
        Case(name: "look-alike unicode state", sql: "UPDATE instance_state_changes SET state = 'ａｃｔｉｖｅ' WHERE event_id = 8", exit: 65, kinds: ["unknown state"]),
        Case(name: "changes before creation", sql: "UPDATE instances SET created_at = '2026-10-25 00:00:00+00' WHERE instance_id = 'i-a2'",
             kinds: ["change before created_at"], alphaTotal: ok),
        Case(name: "changes after deletion", sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a1', 'active', '2026-10-30 10:00:00+00')",
             kinds: ["change after deleted"], alphaTotal: ok),
        Case(name: "changes after as_of", sql: "SELECT 1", asOf: "2026-10-20T00:00:00Z", kinds: ["change after as_of"]),
        Case(name: "far-future timestamp (year 9999)",
             sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'stopped', '9999-12-31 00:00:00+00')", alphaTotal: ok),
        Case(name: "infinite timestamp", sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'stopped', 'infinity')",
             exit: 65, kinds: ["invalid timestamp"]),
        Case(name: "minus-infinite timestamp", sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'active', '-infinity')",
             exit: 65, kinds: ["invalid timestamp"]),
        // Timestamps at and past the ends of what PostgreSQL stores (issue 12, cases 1 and 8):
        // read exactly, or an anomaly naming the row; never a crash or a raw SQL error.
        Case(name: "recorded_at past year 294246 (red team: SIGILL)",
             sql: "UPDATE instance_state_changes SET recorded_at = '294247-02-01 00:00:00+00' WHERE event_id = 8", exit: 65, kinds: ["invalid timestamp"]),
        Case(name: "recorded_at at PostgreSQL's last instant",
             sql: "UPDATE instance_state_changes SET recorded_at = '294276-12-31 23:59:59.999999+00' WHERE event_id = 8", exit: 65, kinds: ["invalid timestamp"]),
        Case(name: "recorded_at infinity inside the period",
             sql: "UPDATE instance_state_changes SET recorded_at = 'infinity' WHERE event_id = 8", exit: 65, kinds: ["invalid timestamp"]),
        Case(name: "recorded_at at the last representable microsecond is read",
             sql: "UPDATE instance_state_changes SET recorded_at = '294246-12-31 23:59:59.999999+00' WHERE event_id = 8", alphaTotal: ok),
        Case(name: "changed_at past year 294246",
             sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'stopped', '294250-01-01 00:00:00+00')",
             exit: 65, kinds: ["invalid timestamp"]),
        Case(name: "state carried in from PostgreSQL's first instant (4714 BC)",
             sql: "UPDATE instances SET created_at = '4714-11-24 00:00:00+00 BC' WHERE instance_id = 'i-a1'; UPDATE instance_state_changes SET changed_at = '4714-11-24 00:00:40+00 BC', recorded_at = '4714-11-24 00:00:40+00 BC' WHERE event_id = 2; UPDATE instance_state_changes SET changed_at = '4714-11-24 00:00:00+00 BC', recorded_at = '4714-11-24 00:00:00+00 BC' WHERE event_id = 1",
             alphaTotal: ok),
        Case(name: "rates open-ended with effective_to = 'infinity'",
             sql: "UPDATE rates SET effective_to = 'infinity' WHERE effective_to IS NULL", alphaTotal: ok),
        Case(name: "rates open from the start with effective_from = '-infinity'",
             sql: "UPDATE rates r SET effective_from = '-infinity' WHERE effective_from = (SELECT min(effective_from) FROM rates x WHERE x.type_name = r.type_name)",
             alphaTotal: ok),
        Case(name: "rate starting in a year past 294246",
             sql: "INSERT INTO rates VALUES ('r2a.baremetal', 'KRW', 1, '294250-01-01 00:00:00+00', NULL)", exit: 65, kinds: ["invalid rate"]),
        Case(name: "rate starting at infinity",
             sql: "INSERT INTO rates VALUES ('r2a.baremetal', 'KRW', 1, 'infinity', NULL)", exit: 65, kinds: ["invalid rate"]),
        Case(name: "rate ending in year 294276",
             sql: "UPDATE rates SET effective_to = '294276-01-01 00:00:00+00' WHERE effective_to IS NULL AND type_name = 'p1i.baremetal'",
             exit: 65, kinds: ["invalid rate", "no rate"]),
        Case(name: "rate ending at -infinity",
             sql: "UPDATE rates SET effective_to = '-infinity' WHERE effective_to IS NULL AND type_name = 'p1i.baremetal'",
             exit: 65, kinds: ["invalid rate", "no rate"]),
        Case(name: "created_at = 'infinity'",
             sql: "UPDATE instances SET created_at = 'infinity' WHERE instance_id = 'i-a1'", kinds: ["invalid created_at"], alphaTotal: ok),
        Case(name: "created_at in year 294276",
             sql: "UPDATE instances SET created_at = '294276-06-01 00:00:00+00' WHERE instance_id = 'i-a1'", kinds: ["invalid created_at"], alphaTotal: ok),
        Case(name: "created_at = '-infinity' (no limit)",
             sql: "UPDATE instances SET created_at = '-infinity' WHERE instance_id = 'i-a1'", alphaTotal: ok),
        // A control plane whose tables lack the contract's NOT NULLs.
        Case(name: "NULL hourly_rate",
             sql: "ALTER TABLE rates ALTER hourly_rate DROP NOT NULL; UPDATE rates SET hourly_rate = NULL WHERE type_name = 'p1i.baremetal'",
             exit: 65, kinds: ["invalid rate", "no rate"]),
        Case(name: "NULL project_id of an instance",
             sql: "ALTER TABLE instances ALTER project_id DROP NOT NULL; UPDATE instances SET project_id = NULL WHERE instance_id = 'i-a2'",
             exit: 1, says: "instances row i-a2: column project_id is NULL"),
        Case(name: "NULL category of a type",
             sql: "ALTER TABLE instance_types ALTER category DROP NOT NULL; UPDATE instance_types SET category = NULL WHERE type_name = 'p1i.baremetal'",
             exit: 1, says: "instance_types row p1i.baremetal: column category is NULL"),
        Case(name: "NULL billable flag",
             sql: "ALTER TABLE billable_states ALTER billable DROP NOT NULL; UPDATE billable_states SET billable = NULL WHERE state = 'active'",
             exit: 1, says: "billable_states row active: column billable is NULL"),
        Case(name: "pre-1970 timestamps (state carried in from 1969)",
             sql: "UPDATE instances SET created_at = '1969-07-20 20:17:00+00' WHERE instance_id = 'i-a1'; UPDATE instance_state_changes SET changed_at = '1969-07-20 20:17:40+00' WHERE event_id = 2; UPDATE instance_state_changes SET changed_at = '1969-07-20 20:17:00+00' WHERE event_id = 1",
             alphaTotal: ok),
        Case(name: "changes exactly on the period's edges",
             sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'stopped', '2026-09-30 15:00:00+00'), ('i-a2', 'deleting', '2026-10-31 15:00:00+00')"),
        Case(name: "overlapping rate ranges", sql: "INSERT INTO rates VALUES ('r2a.baremetal', 'KRW', 1, '2026-10-10 00:00:00+00', '2026-10-11 00:00:00+00')",
             exit: 65, kinds: ["overlapping rates"]),
        Case(name: "gapped rate ranges", sql: "UPDATE rates SET effective_from = '2026-10-16 00:00:00+00' WHERE type_name = 'p2a.baremetal' AND hourly_rate = 48731.2",
             exit: 65, kinds: ["no rate"]),
        Case(name: "negative rate", sql: "UPDATE rates SET hourly_rate = -1 WHERE type_name = 'p1i.baremetal'", exit: 65, kinds: ["invalid rate", "no rate"]),
        Case(name: "rate range that ends before it starts",
             sql: "UPDATE rates SET effective_to = '2019-01-01 00:00:00+00' WHERE type_name = 'p1i.baremetal'", exit: 65, kinds: ["invalid rate", "no rate"]),
        Case(name: "rates only in another currency", sql: "UPDATE rates SET currency = 'USD' WHERE type_name = 'r2a.baremetal'", exit: 65, kinds: ["no rate"]),
        Case(name: "type with no category", sql: "UPDATE instance_types SET category = '' WHERE type_name = 'p1i.baremetal'", exit: 65, kinds: ["unknown category"]),
        Case(name: "instance of a type not in instance_types", sql: "DELETE FROM instance_types WHERE type_name = 'p1i.baremetal'", exit: 65, kinds: ["unknown instance type"]),
        Case(name: "instance of a project not in projects", sql: "DELETE FROM projects WHERE project_id = 'prj-beta'", exit: 65, kinds: ["unknown project"]),
        Case(name: "changes with no instance row (replication behind)",
             sql: "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-late', 'active', '2026-10-20 00:00:00+00')", exit: 65,
             kinds: ["no instance row"]),
        Case(name: "an instance that changes project id", sql: "UPDATE instances SET project_id = 'prj-gamma' WHERE instance_id = 'i-a2'", alphaTotal: "7496297"),
        Case(name: "Windows image on a GPU type", sql: "UPDATE instances SET image = 'Windows 2022' WHERE instance_id = 'i-a2'", kinds: ["windows image on type"], alphaTotal: ok),
        Case(name: "empty billable_states", sql: "DELETE FROM billable_states", exit: 65, kinds: ["unknown state"]),
        Case(name: "conflicting billable_states rows", sql: "INSERT INTO billable_states VALUES ('Active', false, 'conflict')", exit: 65,
             kinds: ["conflicting billable states", "unknown state"]),
        Case(name: "empty source tables", sql: "TRUNCATE projects, instance_types, instances, instance_state_changes, rates"),
        Case(name: "names that look like SQL", sql: "UPDATE projects SET name = 'x''); DROP TABLE invoices; --' WHERE project_id = 'prj-alpha'", alphaTotal: ok),
        Case(name: "names that look like spreadsheet formulas",
             sql: "UPDATE projects SET name = '=HYPERLINK(\"http://x\",\"y\")' WHERE project_id = 'prj-alpha'; UPDATE instances SET name = '@SUM(1)' WHERE instance_id = 'i-a1'",
             alphaTotal: ok),
        Case(name: "project id that climbs out of the folder",
             sql: "UPDATE projects SET project_id = '../../etc/x' WHERE project_id = 'prj-beta'; UPDATE instances SET project_id = '../../etc/x' WHERE project_id = 'prj-beta'",
             alphaTotal: ok),
        Case(name: "very long project id",
             sql: "UPDATE projects SET project_id = repeat('p', 5000) WHERE project_id = 'prj-beta'; UPDATE instances SET project_id = repeat('p', 5000) WHERE project_id = 'prj-beta'",
             alphaTotal: ok),
        Case(name: "a million changes of one instance",
             sql: """
                INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
                SELECT 'i-b1', CASE WHEN g % 2 = 0 THEN 'active' ELSE 'stopped' END, '2026-10-01 00:00:00+00'::timestamptz + g * interval '1 second', now()
                FROM generate_series(1, 1000000) g
                """, alphaTotal: ok),
        // Pricing rows (pricing.md): each broken row is an error naming it; a row of another currency plays no part.
        Case(name: "discount of 0 percent", sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', NULL, NULL, NULL, 0, '2020-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount over 100 percent", sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', NULL, NULL, NULL, 100.5, '2020-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount with both holders", sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', 'acct-1', NULL, NULL, 5, '2020-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount with neither holder", sql: "INSERT INTO discounts VALUES ('d-bad', NULL, NULL, NULL, NULL, 5, '2020-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount with a type and a category",
             sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', NULL, 'r2a.baremetal', 'memory_optimized', 5, '2020-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount ending before it starts",
             sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', NULL, NULL, NULL, 5, '2026-10-20', '2026-10-10', NULL)", exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount from infinity", sql: "INSERT INTO discounts VALUES ('d-bad', 'prj-alpha', NULL, NULL, NULL, 5, 'infinity', NULL, NULL)",
             exit: 65, kinds: ["invalid discount"]),
        Case(name: "discount to infinity (open) from -infinity (open)",
             sql: "INSERT INTO discounts VALUES ('d-open', 'prj-alpha', NULL, NULL, NULL, 100, '-infinity', 'infinity', NULL)", alphaTotal: "0"),
        Case(name: "two discounts of one level overlapping",
             sql: "INSERT INTO discounts VALUES ('d-1', 'prj-alpha', NULL, NULL, NULL, 5, '2020-01-01', NULL, NULL), ('d-2', 'prj-alpha', NULL, NULL, NULL, 7, '2026-10-10', '2026-10-11', NULL)",
             exit: 65, kinds: ["overlapping discounts"]),
        Case(name: "cap of 0 hours", sql: "INSERT INTO monthly_caps VALUES ('r2a.baremetal', 0, '2020-01-01', NULL)", exit: 65, kinds: ["invalid cap"]),
        Case(name: "two caps of one type in force at the period start",
             sql: "INSERT INTO monthly_caps VALUES ('r2a.baremetal', 600, '2020-01-01', NULL), ('r2a.baremetal', 700, '2026-01-01', NULL)",
             exit: 65, kinds: ["invalid cap"]),
        Case(name: "cap from a year that cannot be placed", sql: "INSERT INTO monthly_caps VALUES ('r2a.baremetal', 600, 'infinity', NULL)",
             exit: 65, kinds: ["invalid cap"]),
        Case(name: "credit of 0", sql: "INSERT INTO credits VALUES ('c-bad', 'acct-1', NULL, 'KRW', 0, '2026-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid credit"]),
        Case(name: "credit finer than the currency's minor unit", sql: "INSERT INTO credits VALUES ('c-bad', 'acct-1', NULL, 'KRW', 10.5, '2026-01-01', NULL, NULL)",
             exit: 65, kinds: ["invalid credit"]),
        Case(name: "credit expiring before it is valid",
             sql: "INSERT INTO credits VALUES ('c-bad', 'acct-1', NULL, 'KRW', 100, '2026-10-20', '2026-10-10', NULL)", exit: 65, kinds: ["invalid credit"]),
        Case(name: "credit in another currency, finer than its minor unit: no part in a KRW run",
             sql: "INSERT INTO credits VALUES ('c-usd', 'acct-1', NULL, 'USD', 0.001, '2026-01-01', NULL, NULL)", alphaTotal: ok),
        Case(name: "credit with valid_from infinity", sql: "INSERT INTO credits VALUES ('c-bad', 'acct-1', NULL, 'KRW', 100, 'infinity', NULL, NULL)",
             exit: 65, kinds: ["invalid credit"]),
    ]

    @Test("Each malformed dataset gets its anomaly and exit code; none crashes, hangs or loses data", arguments: cases)
    func catalogue(_ c: Case) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.executeScript(c.sql)
        let out = tempDir()
        let r = try t.run(["run", "--period", "2026-10", "--as-of", c.asOf, "--out", out])
        #expect(r.status == c.exit, "\(c.name): exit \(r.status): \(r.stderr.suffix(400))")
        #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("SQLSTATE 22"), "\(c.name): \(r.stderr.suffix(400))")
        if let says = c.says { #expect(r.stderr.contains(says), "\(c.name): \(r.stderr.suffix(400))") }
        let kinds = Set(csvDicts(read(out + "/2026-10/anomalies.csv")).map { $0["kind"]! })
        #expect(c.kinds.isSubset(of: kinds), "\(c.name): want \(c.kinds), got \(kinds)")
        if c.exit == 65 {
            #expect(r.stderr.contains("anomalies.csv"))
            #expect(try db.execute("SELECT count(*) FROM invoices WHERE status <> 'draft'").scalar == "0")
        }
        if let total = c.alphaTotal {
            #expect(try db.execute("SELECT total FROM current_invoices WHERE project_id = 'prj-alpha'").scalar == total, "\(c.name)")
        }
        // Whatever the data, every file of the period is inside the output folder and listed in the manifest.
        let files = try snapshot(out).keys.filter { !$0.hasPrefix(".") }
        #expect(files.allSatisfy { $0.hasPrefix("2026-10/") && !$0.split(separator: "/").contains("..") })
        let manifest = read(out + "/2026-10/manifest.json")
        for f in files where !f.hasSuffix("manifest.json") { #expect(manifest.contains(String(f.dropFirst("2026-10/".count)))) }
        // The database and the invoice files agree.
        let stored = try db.execute("SELECT count(*) FROM current_invoices WHERE period = '2026-10'").scalar
        #expect(String(files.filter { $0.hasPrefix("2026-10/invoices/") }.count) == stored)
    }

    @Test("Hostile names are stored as given and exported as plain text")
    func hostileNames() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let evil = "x'); DROP TABLE invoices; --"
        try db.execute("UPDATE projects SET name = $1 WHERE project_id = 'prj-alpha'", [evil])
        try db.execute("UPDATE instances SET name = '=cmd|'' /C calc''!A0' WHERE instance_id = 'i-a1'")
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        #expect(try db.execute("SELECT project_name FROM invoices WHERE project_id = 'prj-alpha'").scalar == evil)
        let usage = csvDicts(read(out + "/2026-10/usage.csv"))
        #expect(usage.contains { $0["project_name"] == evil })
        #expect(usage.contains { $0["instance_name"] == "'=cmd|' /C calc'!A0" })
        #expect(!usage.contains { ($0["instance_name"] ?? "").hasPrefix("=") })
    }

    @Test("Passwords never appear in errors, logs or outputs")
    func passwordsHidden() throws {
        let t = try TestDatabase()
        let secret = "Pa55-w0rd-xyzzy"
        let r = try t.run(["run", "--db", "postgresql://billing:\(secret)@127.0.0.1:1/nowhere?connect_timeout=2"])
        #expect(r.status == 1)
        #expect(!r.stderr.contains(secret) && !r.stdout.contains(secret))
        let r2 = try t.run(["migrate", "--db", "host=/nonexistent user=billing password=\(secret) dbname=x"])
        #expect(r2.status == 1)
        #expect(!r2.stderr.contains(secret))
        // With a password in the conninfo that works, nothing stores or prints it.
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        let ok = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out, "--db", "dbname=\(t.name) password=\(secret)"])
        #expect(ok.status == 0)
        #expect(!ok.stderr.contains(secret) && !ok.stdout.contains(secret))
        for (_, data) in try snapshot(out) { #expect(!String(decoding: data, as: UTF8.self).contains(secret)) }
        #expect(try db.execute("SELECT count(*) FROM billing_runs WHERE row_to_json(billing_runs)::text LIKE '%' || $1 || '%'", [secret]).scalar == "0")
    }

    @Test("The job works under the least-privileged roles; they can do nothing else")
    func roles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let job = "bmbill_job_" + t.name.suffix(8)
        try db.execute("CREATE ROLE \(job) LOGIN")
        defer { _ = try? db.execute("DROP OWNED BY \(job)"); _ = try? db.execute("DROP ROLE \(job)") }
        try db.execute("GRANT bmbill_reader, bmbill_writer TO \(job)")
        let out = tempDir()
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out], env: ["PGUSER": job])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try db.execute("SELECT db_user FROM billing_runs ORDER BY run_id DESC LIMIT 1").scalar == job)
        let asJob = try PostgresConnection(conninfo: "dbname=\(t.name) user=\(job)")
        #expect(throws: PostgresError.self) { try asJob.execute("DELETE FROM instance_state_changes") }
        #expect(throws: PostgresError.self) { try asJob.execute("UPDATE rates SET hourly_rate = 0") }
        #expect(throws: PostgresError.self) { try asJob.execute("DROP TABLE invoices") }
        // A reader alone cannot write invoices.
        let reader = "bmbill_ro_" + t.name.suffix(8)
        try db.execute("CREATE ROLE \(reader) LOGIN IN ROLE bmbill_reader")
        defer { _ = try? db.execute("DROP ROLE \(reader)") }
        let ro = try PostgresConnection(conninfo: "dbname=\(t.name) user=\(reader)")
        #expect(throws: PostgresError.self) { try ro.execute("INSERT INTO invoice_number_series VALUES ('X', 1)") }
        #expect(try ro.execute("SELECT count(*) FROM instances").scalar == "4")
    }
}
