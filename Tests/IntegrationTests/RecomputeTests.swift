import Foundation
import PostgresClient
import Testing

/// Recompute and late data (issue: recompute, late data and cron-grade reliability).
@Suite("Recompute and late data", .enabled(if: TestDatabase.serverReachable))
struct RecomputeTests {
    static let ended = ["--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    /// The example billed and issued; returns the database and the output folder.
    func issuedExample() throws -> (TestDatabase, PostgresConnection, String) {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        return (t, db, out)
    }

    func invoices(_ db: PostgresConnection) throws -> [[String?]] {
        try db.execute("SELECT invoice_id, project_id, revision, status, invoice_number, total, difference, corrects_invoice_id FROM invoices ORDER BY invoice_id").rows
    }

    /// A late change: i-a1 was really deleted a day earlier (666 h instead of 690 h:
    /// 2,397,600 s x 9,876.54321 / 3,600 = 6,577,777.78 -> 6,577,778, 237,037 less).
    static let lateChange = """
        INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at)
        VALUES ('i-a1', 'deleting', '2026-10-29 09:00:00+00', '2026-11-03 00:00:00+00')
        """

    @Test("A run on an issued month reports late changes, leaves invoices and files alone, and points to recompute")
    func lateDataDetected() throws {
        let (t, db, out) = try issuedExample()
        let before = try snapshot(out + "/2026-10")
        let rows = try invoices(db)
        try db.execute(Self.lateChange)
        let r = try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(r.stdout.contains("late data: 1 change(s) of 1 instance(s)"))
        #expect(r.stdout.contains("projects: prj-alpha"))
        #expect(r.stdout.contains("bmbill recompute --period 2026-10"))
        #expect(r.stdout.contains("needs_recompute"))
        #expect(try invoices(db) == rows)
        #expect(try snapshot(out + "/2026-10") == before)
        #expect(try db.execute("SELECT status FROM billing_runs ORDER BY run_id DESC LIMIT 1").scalar == "needs_recompute")
    }

    @Test("recompute --dry-run shows the difference and why, and writes nothing at all")
    func dryRun() throws {
        let (t, db, out) = try issuedExample()
        try db.execute(Self.lateChange)
        let rows = try invoices(db)
        let runs = try db.execute("SELECT count(*) FROM billing_runs").scalar
        let before = try snapshot(out + "/2026-10")
        let r = try t.run(["recompute"] + Self.ended + ["--out", out, "--dry-run"]).expectSuccess()
        #expect(r.stdout.contains("dry run: nothing written"))
        #expect(r.stdout.contains("prj-alpha BM-00000001 (revision 0): issued 28,912,492, now 28,651,752, difference -260,740"))
        #expect(r.stdout.contains("changed i-a1 at rate from 2020-01-01T00:00:00Z: 2484000 s 6,814,815 -> 2397600 s 6,577,778 (-237,037)"))
        #expect(r.stdout.contains("why: 1 late change(s) recorded after"))
        #expect(!r.stdout.contains("prj-beta BM"))
        #expect(try invoices(db) == rows)
        #expect(try db.execute("SELECT count(*) FROM billing_runs").scalar == runs)
        #expect(try snapshot(out + "/2026-10") == before)
    }

    @Test("recompute issues a correcting revision with its own number; the issued invoice is only superseded; a second recompute does nothing")
    func correctingRevision() throws {
        let (t, db, out) = try issuedExample()
        try db.execute(Self.lateChange)
        let original = try db.execute("SELECT * FROM invoices WHERE invoice_number = 'BM-00000001'").rows[0]
        let r = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(r.stdout.contains("-> correcting revision 1, BM-00000003"))
        let current = try db.execute(
            "SELECT project_id, revision, status, invoice_number, subtotal, tax, total, difference, corrects_invoice_id FROM current_invoices WHERE period = '2026-10' ORDER BY 1"
        ).rows
        #expect(current == [
            ["prj-alpha", "1", "issued", "BM-00000003", "26047047", "2604705", "28651752", "-260740", original[0]],
            ["prj-beta", "0", "issued", "BM-00000002", "6310422", "631042", "6941464", nil, nil],
        ])
        // The original row is unchanged but for its status.
        var after = try db.execute("SELECT * FROM invoices WHERE invoice_number = 'BM-00000001'").rows[0]
        let statusColumn = try db.execute("SELECT * FROM invoices LIMIT 0").columns.firstIndex(of: "status")!
        #expect(after[statusColumn] == "superseded")
        after[statusColumn] = original[statusColumn]
        #expect(after == original)
        // Files follow the corrected invoice.
        let json = read(out + "/2026-10/invoices/prj-alpha.json")
        #expect(json.contains("\"invoice_number\": \"BM-00000003\"") && json.contains("\"difference\": \"-260740\""))
        // Nothing changed since: a second recompute writes no invoice.
        let rows = try invoices(db)
        let again = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(again.stdout.contains("no issued invoice changes"))
        #expect(try invoices(db) == rows)
    }

    @Test("recompute names a corrected rate and a changed billable-state table, and --project limits it")
    func reasons() throws {
        let (t, db, out) = try issuedExample()
        try db.execute("UPDATE rates SET hourly_rate = 17000 WHERE type_name = 'p1i.baremetal'")
        try db.execute("UPDATE billable_states SET billable = false WHERE state = 'stopped'")
        let r = try t.run(["recompute"] + Self.ended + ["--out", out, "--dry-run"]).expectSuccess()
        #expect(r.stdout.contains("rate of i-b1 from 2020-01-01T00:00:00Z corrected: 16996.000000 -> 17000.000000"))
        #expect(r.stdout.contains("billable-state table changed: stopped is now not billed"))
        let only = try t.run(["recompute"] + Self.ended + ["--out", out, "--project", "prj-beta"]).expectSuccess()
        #expect(only.stdout.contains("prj-beta BM-00000002"))
        #expect(!only.stdout.contains("prj-alpha BM-00000001 (revision 0)"))
        #expect(try db.execute("SELECT string_agg(project_id || ':' || revision, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "prj-alpha:0,prj-beta:1")
    }

    @Test("A project with no usage left gets a full credit, and run --adjust issues corrections itself")
    func creditAndAdjust() throws {
        let (t, db, out) = try issuedExample()
        try db.execute("DELETE FROM instance_state_changes WHERE instance_id IN ('i-b1', 'i-b2')")
        try t.run(["run"] + Self.ended + ["--out", out, "--adjust"]).expectSuccess()
        #expect(try db.execute("SELECT total, difference, invoice_number FROM current_invoices WHERE project_id = 'prj-beta'").rows
            == [["0", "-6941464", "BM-00000003"]])
        #expect(read(out + "/2026-10/invoices/prj-beta.json").contains("\"total\": \"0\""))
    }

    @Test("Corrections are not issued while the data has errors: exit 65")
    func noCorrectionOnErrors() throws {
        let (t, db, out) = try issuedExample()
        try db.execute(Self.lateChange)
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a2', 'exploded', '2026-10-30 00:00:00+00')")
        let rows = try invoices(db)
        let r = try t.run(["recompute"] + Self.ended + ["--out", out])
        #expect(r.status == 65)
        #expect(r.stderr.contains("no correction can be issued"))
        #expect(try invoices(db) == rows)
    }
}

@Suite("Late data edge cases", .enabled(if: TestDatabase.serverReachable))
struct LateDataEdgeTests {
    static let ended = ["--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    @Test("A project with new usage in an issued month is a correction too: run holds it back, recompute issues it")
    func newProjectInIssuedMonth() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        let before = try snapshot(out + "/2026-10")
        try db.execute("INSERT INTO instances VALUES ('i-g1', 'prj-gamma', 'r2a.baremetal', 'Ubuntu 22.04', 'late', '2026-10-01 00:00:00+00')")
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ('i-g1', 'active', '2026-10-31 14:00:00+00', '2026-11-02 00:00:00+00')")
        let r = try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(r.stdout.contains("prj-gamma had no invoice: now 10,865"))
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE project_id = 'prj-gamma'").scalar == "0")
        #expect(try snapshot(out + "/2026-10") == before)
        let fix = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(fix.stdout.contains("-> issued BM-00000003"))
        #expect(try db.execute("SELECT invoice_number, total FROM current_invoices WHERE project_id = 'prj-gamma'").rows == [["BM-00000003", "10865"]])
    }

    @Test("deleted is final across periods: a stray change after it in an earlier month bills nothing later")
    func deletedCarriedIn() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a1', 'active', '2026-11-03 00:00:00+00')")
        let dec = tempDir()
        try t.run(["run", "--period", "2026-12", "--as-of", "2026-12-02T00:00:00Z", "--out", dec]).expectSuccess()
        #expect(!read(dec + "/2026-12/usage.csv").contains("i-a1"))
        #expect(try db.execute("SELECT count(*) FROM invoice_lines WHERE instance_id = 'i-a1'").scalar == "0")
        // November, where the stray change is, reports it.
        let nov = tempDir()
        try t.run(["run", "--period", "2026-11", "--as-of", "2026-12-02T00:00:00Z", "--out", nov]).expectSuccess()
        #expect(read(nov + "/2026-11/anomalies.csv").contains("change after deleted"))
    }

    @Test("Errors in the month to date exit 65 too, with the drafts written")
    func openMonthErrors() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.execute("UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8")
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-25T00:00:00Z", "--out", tempDir()])
        #expect(r.status == 65)
        #expect(r.stderr.contains("the drafts of 2026-10 have data errors"))
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'draft'").scalar == "2")
    }
}

@Suite("Files follow the invoices in force", .enabled(if: TestDatabase.serverReachable))
struct FilesConsistencyTests {
    static let ended = ["--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    @Test("recompute --project corrects only that project and leaves the folder while others still differ")
    func projectFilterKeepsFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        let before = try snapshot(out + "/2026-10")
        try db.execute("UPDATE rates SET hourly_rate = 17000 WHERE type_name = 'p1i.baremetal'")  // beta
        try db.execute(RecomputeTests.lateChange)  // alpha
        let r = try t.run(["recompute"] + Self.ended + ["--out", out, "--project", "prj-beta"]).expectSuccess()
        #expect(r.stdout.contains("today's data changes the issued invoices of 2026-10 (prj-alpha)") || !r.stdout.contains("files:"))
        #expect(try snapshot(out + "/2026-10") == before)
        #expect(try db.execute("SELECT string_agg(project_id || ':' || revision, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "prj-alpha:0,prj-beta:1")
        // Once alpha is corrected too, the files follow both.
        try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(read(out + "/2026-10/invoices/prj-alpha.json").contains("\"revision\": 1"))
        #expect(read(out + "/2026-10/invoices/prj-beta.json").contains("\"revision\": 1"))
    }

    @Test("A full credit keeps its zero invoice file and manifest entry on later runs")
    func zeroInvoiceFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        try db.execute("DELETE FROM instance_state_changes WHERE instance_id IN ('i-b1', 'i-b2')")
        try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        let manifest = read(out + "/2026-10/manifest.json")
        #expect(manifest.contains("\"invoices/prj-beta.json\""))
        #expect(manifest.contains("\"project_id\": \"prj-beta\""))
        let before = try snapshot(out + "/2026-10")
        let again = try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(again.stdout.contains("unchanged"))
        #expect(try snapshot(out + "/2026-10") == before)
    }

    @Test("BMBILL_READ_PLAN: a month billed by the period's scan is, billed again by instance, unchanged, files and all; a value that is no plan is a usage error")
    func readPlanOverride() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out], env: ["BMBILL_READ_PLAN": "by-period-scan"]).expectSuccess()
        let before = try snapshot(out + "/2026-10")
        let again = try t.run(["run"] + Self.ended + ["--out", out], env: ["BMBILL_READ_PLAN": "by-instance"]).expectSuccess()
        #expect(again.stdout.contains("unchanged"))
        #expect(try snapshot(out + "/2026-10") == before)
        let bad = try t.run(["run"] + Self.ended + ["--out", out], env: ["BMBILL_READ_PLAN": "fast"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("BMBILL_READ_PLAN is 'fast'"), "\(bad.stderr)")
    }
}
