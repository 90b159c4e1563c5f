import BillingCore
import BillingStore
import Foundation
import PostgresClient
import Testing

@Suite("Schema and demo data", .enabled(if: TestDatabase.serverReachable))
struct SchemaAndDemoTests {
    @Test("migrate is safe to run again and installs the seed's billable-state table")
    func migrateTwice() throws {
        let t = try TestDatabase()
        #expect(try t.run(["migrate"]).expectSuccess().stdout.contains("applied \(Migration.embedded.count) migration"))
        #expect(try t.run(["migrate"]).expectSuccess().stdout.contains("up to date"))
        let db = try t.connect()
        let rows = try db.execute("SELECT state, billable FROM billable_states ORDER BY state").rows
        #expect(rows.count == 12)
        for row in rows { #expect(BillableStateTable.seed.isBillable(row[0]!) == (row[1] == "t")) }
        #expect(try db.execute("SELECT count(*) FROM current_invoices").scalar == "0")
    }

    @Test("migrate applies the missing migrations in one transaction: when the last fails, none of them is applied")
    func migrateAllOrNothing() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        let broken = Migration(version: 999, name: "999_broken", sql: "CREATE TABLE bmbill_never (x int); SELECT 1 / 0;")
        #expect(throws: (any Error).self) { try Migrator(migrations: Migration.embedded + [broken]).migrate(db) }
        // Its own bookkeeping table is made inside the same transaction (under the lock), so
        // nothing at all is left: the schema is as it was.
        for table in ["bmbill_schema_migrations", "projects", "billing_runs", "bmbill_shards", "bmbill_never"] {
            #expect(try db.execute("SELECT to_regclass($1) IS NULL", [table]).scalar == "t", "\(table) was left behind")
        }
        // Without the broken one, all apply.
        #expect(try Migrator().migrate(db).count == Migration.embedded.count)
    }

    @Test("The migrations in the binary are exactly the files of sql/")
    func embeddedMatchesFiles() throws {
        let dir = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sql")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") && $0.first!.isNumber }.sorted()
        #expect(files.map { String($0.dropLast(4)) } == Migration.embedded.map(\.name), "run 'make sql'")
        for m in Migration.embedded {
            let text = try String(contentsOf: dir.appendingPathComponent(m.name + ".sql"), encoding: .utf8)
            #expect(m.sql + "\n" == text, "\(m.name) differs from sql/: run 'make sql'")
        }
    }

    @Test("demo-data is deterministic per seed, passes every state of the seed's table, carries pricing rows (none with --no-pricing), and bills cleanly")
    func demoData() throws {
        let a = try TestDatabase(), b = try TestDatabase()
        for t in [a, b] {
            try t.run(["migrate"]).expectSuccess()
            try t.run(["demo-data", "--seed", "7", "--until", "2026-11-20T00:00:00Z", "--instances", "60"]).expectSuccess()
        }
        let digest = """
            SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
              SELECT concat_ws(',', event_id, instance_id, state, changed_at, recorded_at) x FROM instance_state_changes
              UNION ALL SELECT concat_ws(',', instance_id, project_id, type_name, image, name, created_at) FROM instances
              UNION ALL SELECT concat_ws(',', type_name, hourly_rate, effective_from, effective_to) FROM rates
              UNION ALL SELECT concat_ws(',', discount_id, project_id, billing_account_id, type_name, category, percent, effective_from, effective_to) FROM discounts
              UNION ALL SELECT concat_ws(',', type_name, cap_hours, effective_from, effective_to) FROM monthly_caps
              UNION ALL SELECT concat_ws(',', credit_id, billing_account_id, project_id, currency, amount, valid_from, expires_at) FROM credits) s
            """
        let dbA = try a.connect(), dbB = try b.connect()
        #expect(try dbA.execute(digest).scalar == dbB.execute(digest).scalar)
        let states = Set(try dbA.execute("SELECT DISTINCT state FROM instance_state_changes").rows.map { $0[0]! })
        #expect(states == ["spawning", "active", "stopped", "rebuild_spawning", "rebooting_hard", "rebooting_started_hard",
                           "powering-off", "powering-on", "error", "deleting", "shelved_offloaded", "deleted"])
        // Windows only on r2a; some projects share a billing account; a rate change inside October.
        #expect(try dbA.execute("SELECT count(*) FROM instances WHERE image LIKE 'Windows%' AND type_name <> 'r2a.baremetal'").scalar == "0")
        #expect(try dbA.execute("SELECT count(*) FROM (SELECT billing_account_id FROM projects GROUP BY 1 HAVING count(*) > 1) s").scalar != "0")
        #expect(try dbA.execute("SELECT count(*) FROM rates WHERE effective_from > '2026-09-30 15:00+00' AND effective_from < '2026-10-31 15:00+00'").scalar == "1")
        // Customers' prices: two discounts (one starting inside October), a cap, and three
        // credits (one valid in October only).
        #expect(try dbA.execute("SELECT count(*) FROM discounts").scalar == "2")
        #expect(try dbA.execute("SELECT count(*) FROM discounts WHERE effective_from > '2026-09-30 15:00+00' AND effective_from < '2026-10-31 15:00+00'").scalar == "1")
        #expect(try dbA.execute("SELECT count(*) FROM monthly_caps").scalar == "1")
        #expect(try dbA.execute("SELECT count(*) FROM credits").scalar == "3")
        #expect(try dbA.execute("SELECT count(*) FROM credits WHERE valid_from = '2026-09-30 15:00+00' AND expires_at = '2026-10-31 15:00+00'").scalar == "1")
        // --no-pricing loads none of them.
        try b.run(["demo-data", "--replace", "--no-pricing", "--seed", "7", "--until", "2026-11-20T00:00:00Z"]).expectSuccess()
        #expect(try dbB.execute("SELECT (SELECT count(*) FROM discounts) + (SELECT count(*) FROM monthly_caps) + (SELECT count(*) FROM credits)").scalar == "0")
        // Loading again refuses to mix with existing rows unless --replace.
        let again = try a.run(["demo-data", "--seed", "7", "--until", "2026-11-20T00:00:00Z"])
        #expect(again.status == 1 && again.stderr.contains("--replace"))
        try a.run(["demo-data", "--replace", "--seed", "8", "--until", "2026-11-20T00:00:00Z"]).expectSuccess()
        // The default run bills the last ended month (issued) and the month to date (draft).
        let out = tempDir()
        let r = try a.run(["run", "--as-of", "2026-11-20T00:00:00Z", "--out", out, "--json"]).expectSuccess()
        #expect(r.stdout.contains("\"period\": \"2026-10\""))
        #expect(r.stdout.contains("\"period\": \"2026-11\""))
        #expect(try dbA.execute("SELECT count(*) FROM current_invoices WHERE period = '2026-10' AND status = 'issued'").scalar != "0")
        #expect(try dbA.execute("SELECT count(*) FROM current_invoices WHERE period = '2026-11' AND status = 'draft'").scalar != "0")
    }
}
