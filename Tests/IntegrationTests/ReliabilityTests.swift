import Foundation
import PostgresClient
import Testing

/// Crash safety, locking and monitoring: kill -9 at several points, a dropped connection,
/// a second run while one holds the lock, the Prometheus metrics file.
@Suite("Reliability", .enabled(if: TestDatabase.serverReachable))
struct ReliabilityTests {
    static let ended = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    /// Everything a run leaves behind: the billing tables and the output folder.
    func state(_ db: PostgresConnection, _ out: String) throws -> [String] { try database(db) + folder(out) }

    func database(_ db: PostgresConnection) throws -> [String] {
        let tables = try ["billing_runs", "invoices", "invoice_lines", "invoice_number_series"].map { t in
            try db.execute("SELECT count(*) FROM \(t)").scalar ?? ""
        }
        let numbers = try db.execute("SELECT coalesce(string_agg(coalesce(invoice_number, 'draft') || '=' || total, ',' ORDER BY project_id), '') FROM current_invoices").scalar ?? ""
        return tables + [numbers]
    }

    /// The files readers see (a killed run may leave a hidden staging folder beside them).
    func folder(_ out: String) throws -> [String] {
        try snapshot(out).filter { !$0.key.hasPrefix(".") }.map { "\($0.key):\($0.value.count):\($0.value.hashValue)" }.sorted()
    }

    @Test("kill -9 while reading, inside the transaction or while writing files leaves the previous complete state; the next run succeeds",
          arguments: ["reading", "transaction", "files"])
    func killNine(at point: String) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        // A previous complete state: the draft as of Oct 20.
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z", "--out", out]).expectSuccess()
        let before = try state(db, out)

        let victim = try PausedRun(t, Self.ended + ["--out", out], pauseAt: point)
        victim.kill9()
        if point == "files" {
            // Killed after the commit, before the folder swap: the database holds the new
            // complete state, the folder the previous complete one (the next run rewrites it).
            #expect(try database(db) != Array(before.prefix(5)))
            #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").scalar == "2")
            #expect(try folder(out) == Array(before.dropFirst(5)))
        } else {
            #expect(try state(db, out) == before, "after kill -9 at \(point)")
        }
        // No staging folder is visible as a period, and the period's folder is whole.
        let manifest = read(out + "/2026-10/manifest.json")
        #expect(manifest.contains("\"status\": \"draft\""))

        try t.run(Self.ended + ["--out", out]).expectSuccess()
        #expect(try db.execute("SELECT string_agg(invoice_number || '=' || total, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "BM-00000001=28912492,BM-00000002=6941464")
        #expect(read(out + "/2026-10/manifest.json").contains("\"status\": \"issued\""))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "stale staging folders: \(leftovers)")
    }

    @Test("A dropped connection in mid-run gives a clear error, exit 1, and nothing half-written")
    func droppedConnection() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        let before = try state(db, out)
        let run = try PausedRun(t, Self.ended + ["--out", out], pauseAt: "transaction", seconds: 2)
        // Terminate the run's server process while it is inside its transaction.
        try db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'bmbill run pid \(run.pid) %'")
        let (status, stderr) = run.wait()
        #expect(status == 1)
        #expect(stderr.contains("PostgreSQL"), "\(stderr)")
        #expect(stderr.contains("committing") || stderr.contains("connection"), "\(stderr)")
        #expect(try state(db, out) == before)
        try t.run(Self.ended + ["--out", out]).expectSuccess()
    }

    @Test("A second run of the period exits 75 at once and names the bmbill process that holds it")
    func lockNamesHolder() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let holder = try PausedRun(t, Self.ended + ["--out", tempDir()], pauseAt: "reading")
        defer { holder.kill9() }
        let started = Date()
        let r = try t.run(Self.ended + ["--out", tempDir()])
        #expect(r.status == 75)
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(r.stderr.contains("bmbill run pid \(holder.pid) since"), "\(r.stderr)")
        #expect(r.stderr.contains("try again"))
        let recompute = try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(recompute.status == 75)
    }

    @Test("--metrics-file writes a Prometheus textfile: success time, duration, counts, anomalies by kind, totals")
    func metricsFile() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let metrics = tempDir() + "/bmbill.prom"
        try t.run(Self.ended + ["--out", tempDir(), "--metrics-file", metrics]).expectSuccess()
        let text = read(metrics)
        #expect(text.contains("# TYPE bmbill_last_success_timestamp_seconds gauge"))
        #expect(text.contains("bmbill_last_run_exit_code{command=\"run\"} 0"))
        #expect(text.contains("bmbill_changes_read{period=\"2026-10\"} 21"))
        #expect(text.contains("bmbill_anomalies{period=\"2026-10\",kind=\"duplicate instant\",severity=\"warning\"} 1"))
        #expect(text.contains("bmbill_invoice_total{period=\"2026-10\",currency=\"KRW\"} 35853956"))
        #expect(text.contains("bmbill_run_duration_seconds{command=\"run\"} "))
        let success = text.split(separator: "\n").first { $0.hasPrefix("bmbill_last_success_timestamp_seconds") }!
        // A failed run keeps the last success time and records its exit code.
        try db.execute("UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8")
        let failed = try t.run(Self.ended + ["--out", tempDir(), "--metrics-file", metrics])
        #expect(failed.status == 65)
        #expect(read(metrics).contains("bmbill_last_run_exit_code{command=\"run\"} 65"))
        #expect(read(metrics).contains(success))
    }
}
