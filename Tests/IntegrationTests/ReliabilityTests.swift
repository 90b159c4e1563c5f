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
        #expect(text.contains("bmbill_invoiced_amount{period=\"2026-10\",currency=\"KRW\"} 35853956"))
        #expect(text.contains("bmbill_run_duration_seconds{command=\"run\"} "))
        let success = text.split(separator: "\n").first { $0.hasPrefix("bmbill_last_success_timestamp_seconds") }!
        // A failed run keeps the last success time and records its exit code.
        try db.execute("UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8")
        let failed = try t.run(Self.ended + ["--out", tempDir(), "--metrics-file", metrics])
        #expect(failed.status == 65)
        #expect(read(metrics).contains("bmbill_last_run_exit_code{command=\"run\"} 65"))
        #expect(read(metrics).contains(success))
    }

    /// promtool on PATH (scripts/install-deps puts it in /usr/local/bin).
    static let promtool: String? = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
        .map { $0 + "/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }

    /// `promtool check metrics` on a file: nil when it passes, else what promtool said.
    func promtoolProblems(_ promtool: String, _ file: String) throws -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: promtool)
        p.arguments = ["check", "metrics"]
        p.standardInput = FileHandle(forReadingAtPath: file)
        let log = tempDir() + "/promtool.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = p.standardOutput
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : "exit \(p.terminationStatus): \(read(log))"
    }

    @Test("promtool check metrics accepts the metrics file: one period, two periods, a data-error run, a recompute, a usage error",
          .enabled(if: promtool != nil || ProcessInfo.processInfo.environment["BMBILL_TEST_REQUIRE_DB"] == "1"))
    func metricsFilePassesPromtool() throws {
        let promtool = try #require(Self.promtool, "promtool is missing: scripts/install-deps installs it (make test runs it first)")
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let metrics = tempDir() + "/bmbill.prom"
        func check(_ args: [String], exit: Int32, _ what: String) throws {
            let r = try t.run(args + ["--out", tempDir(), "--metrics-file", metrics])
            #expect(r.status == exit, "\(what): \(r.stderr)")
            #expect(read(metrics).contains("bmbill_last_run_exit_code{command=\"\(args[0])\"} \(exit)"), "\(what) did not write the file")
            #expect(try promtoolProblems(promtool, metrics) == nil, "\(what): \(read(metrics))")
        }
        let state = try db.execute("SELECT state FROM instance_state_changes WHERE event_id = 8").scalar!
        try db.execute("UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8")
        try check(Self.ended, exit: 65, "a run with data errors")
        try db.execute("UPDATE instance_state_changes SET state = $1 WHERE event_id = 8", [state])
        try check(Self.ended, exit: 0, "a run of one period")
        try check(["run", "--as-of", "2026-11-15T00:00:00Z"], exit: 0, "a run of two periods")
        try check(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--dry-run"], exit: 0, "a recompute")
        try check(["run", "--timezone", "Mars/Base"], exit: 2, "a usage error")
        // And promtool does reject what breaks its rules, such as the old name of the invoiced amount.
        let old = tempDir() + "/old.prom"
        try "# HELP bmbill_invoice_total Sum.\n# TYPE bmbill_invoice_total gauge\nbmbill_invoice_total 1\n".write(toFile: old, atomically: true, encoding: .utf8)
        #expect(try promtoolProblems(promtool, old)?.contains("non-counter metrics should not have \"_total\" suffix") == true)
    }

    /// Metrics paths that cannot be written, each with what the message must say. Tests run
    /// as root, who passes permission bits: the unwritable folder is /sys, where no one may
    /// create a file.
    static let unwritableMetrics: [(name: String, path: @Sendable (String) -> String, says: String)] = [
        ("a folder that does not exist", { $0 + "/no-such-folder/bmbill.prom" }, "does not exist; create it (mkdir -p"),
        ("a folder that is a regular file", { $0 + "/plain-file/bmbill.prom" }, "is not a folder"),
        ("a folder no one may write", { _ in "/sys/bmbill-test.prom" }, "cannot create a file in /sys"),
        ("a path that is a folder", { $0 }, "is a folder"),
    ]

    @Test("An unwritable --metrics-file is refused before billing: exit 2, a message naming the path and the fix, nothing billed",
          arguments: unwritableMetrics.map(\.name))
    func metricsFileRefused(case name: String) throws {
        let c = Self.unwritableMetrics.first { $0.name == name }!
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let dir = tempDir()
        _ = FileManager.default.createFile(atPath: dir + "/plain-file", contents: Data("x".utf8))
        let path = c.path(dir)
        let out = tempDir()
        let r = try t.run(Self.ended + ["--out", out, "--metrics-file", path])
        #expect(r.status == 2, "exit \(r.status): \(r.stderr)")
        #expect(r.stderr.contains("--metrics-file \(path)") && r.stderr.contains(c.says), "\(r.stderr)")
        #expect(try db.execute("SELECT count(*) FROM billing_runs").scalar == "0")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        // The same from the environment names the variable.
        let fromEnv = try t.run(Self.ended + ["--out", out], env: ["BMBILL_METRICS_FILE": path])
        #expect(fromEnv.status == 2 && fromEnv.stderr.contains("BMBILL_METRICS_FILE \(path)"), "\(fromEnv.stderr)")
        // The check leaves nothing behind in a folder it could write.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).sorted() == ["plain-file"])
    }

    @Test("A metrics file that cannot be written at the end is reported on stderr: the run's own code after a failed run, exit 1 after a good one")
    func metricsFileLost() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let folder = tempDir() + "/textfile"
        let metrics = folder + "/bmbill.prom"
        /// Runs the ended month with the metrics folder there when it starts and gone when it ends.
        func runLosingFolder() throws -> (status: Int32, stderr: String) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            let run = try PausedRun(t, Self.ended + ["--out", tempDir(), "--metrics-file", metrics], pauseAt: "reading", seconds: 2)
            try FileManager.default.removeItem(atPath: folder)
            return run.wait()
        }
        let state = try db.execute("SELECT state FROM instance_state_changes WHERE event_id = 8").scalar!
        try db.execute("UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8")
        let failed = try runLosingFolder()
        #expect(failed.status == 65, "\(failed.stderr)")
        #expect(failed.stderr.contains("could not write the metrics file \(metrics)") && failed.stderr.contains("data errors"), "\(failed.stderr)")

        try db.execute("UPDATE instance_state_changes SET state = $1 WHERE event_id = 8", [state])
        let good = try runLosingFolder()
        #expect(good.status == 1, "\(good.stderr)")
        #expect(good.stderr.contains("could not write the metrics file \(metrics) (--metrics-file): No such file or directory"), "\(good.stderr)")
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").scalar == "2", "the billing itself stands")
    }
}
