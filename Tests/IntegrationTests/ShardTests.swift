import Foundation
import PostgresClient
import Testing

/// Sharded runs (issue 5): `run --shards N --workers K`, `bmbill work`, the takeover of a
/// dead worker's shard, and results identical to a single-process run.
@Suite("Shards and workers", .enabled(if: TestDatabase.serverReachable))
struct ShardTests {
    /// Demo data for a period that has not ended (drafts: no issue time in any file), the
    /// same in every database it is loaded into.
    static let demo = ["demo-data", "--replace", "--seed", "5", "--instances", "120", "--projects", "9", "--months", "2",
                       "--until", "2026-10-25T00:00:00Z"]
    static let period = ["--period", "2026-10", "--as-of", "2026-10-25T00:00:00Z"]

    /// Everything a run stores, without what differs from one run to the next by nature
    /// (clock times, host and process ids).
    func stored(_ db: PostgresConnection) throws -> [String] {
        let queries = [
            """
            SELECT string_agg(concat_ws('|', invoice_id, project_id, period, status, invoice_number, currency, subtotal, tax, total,
                              run_id, issued_at IS NULL, project_name, billing_account_id, fingerprint, revision), E'\\n' ORDER BY invoice_id)
            FROM invoices
            """,
            """
            SELECT string_agg(concat_ws('|', invoice_id, line_no, instance_id, instance_name, type_name, category, image,
                              rate_effective_from, hourly_rate, metered_seconds, billable_seconds, amount, daily_metered_us::text,
                              state_seconds::text), E'\\n' ORDER BY invoice_id, line_no)
            FROM invoice_lines
            """,
            """
            SELECT string_agg(concat_ws('|', run_id, period, kind, status, as_of, input_watermark, settings::text, counts::text,
                              totals::text, anomalies::text, rates_in_force::text, output_checksums::text), E'\\n' ORDER BY run_id)
            FROM billing_runs
            """,
        ]
        return try queries.map { try db.execute($0).scalar ?? "" }
    }

    @Test("4 workers, one killed mid-shard: its shard is taken over and the rows and files equal a single-process run's")
    func killedWorker() throws {
        let single = try TestDatabase(), sharded = try TestDatabase()
        for t in [single, sharded] {
            try t.run(["migrate"]).expectSuccess()
            try t.run(Self.demo).expectSuccess()
        }
        let outSingle = tempDir(), outSharded = tempDir()
        try single.run(["run"] + Self.period + ["--out", outSingle]).expectSuccess()

        // The sharded run: the first worker to start metering a shard stops there and is killed.
        let marker = tempDir() + "/paused"
        let run = Process()
        run.executableURL = URL(fileURLWithPath: BMBillBinary.path)
        run.arguments = ["run"] + Self.period + ["--out", outSharded, "--shards", "8", "--workers", "4"]
        var env = ProcessInfo.processInfo.environment
        env["PGDATABASE"] = sharded.name
        env["BMBILL_LOG_LEVEL"] = "info"
        env["BMBILL_TEST_PAUSE_AT"] = "shard"
        env["BMBILL_TEST_PAUSE_ONCE"] = marker
        run.environment = env
        let errPath = tempDir() + "/err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        run.standardOutput = FileHandle.nullDevice
        run.standardError = FileHandle(forWritingAtPath: errPath)
        try run.run()
        var victim: Int32?
        for _ in 0..<1200 where victim == nil {
            if let line = read(errPath).split(separator: "\n").first(where: { $0.contains("paused at shard (pid ") }),
                let pid = Int32(line.split(separator: "(pid ").last!.dropLast())
            {
                victim = pid
            } else {
                usleep(50_000)
            }
        }
        let pid = try #require(victim, "no worker paused: \(read(errPath))")
        #expect(pid != run.processIdentifier, "the paused process is a worker, not the run")
        // While it is paused its shard is claimed: locked, and still pending.
        let db = try sharded.connect()
        #expect(try db.execute("SELECT count(*) FROM bmbill_shards WHERE period = '2026-10'").scalar == "8")
        kill(pid, SIGKILL)
        run.waitUntilExit()
        let stderr = read(errPath)
        #expect(run.terminationStatus == 0, "\(stderr)")
        // Eight shards, and the dead worker's one metered again by another worker or the run.
        #expect(stderr.components(separatedBy: "metering shard").count - 1 >= 9, "\(stderr)")
        // The plan and the shards' results are removed once the run is stored.
        #expect(try db.execute("SELECT count(*) FROM bmbill_shard_plans").scalar == "0")

        #expect(try stored(single.connect()) == stored(db))
        #expect(try stored(db)[0].split(separator: "\n").count > 3, "drafts for most of the 9 projects")
        let a = try snapshot(outSingle + "/2026-10"), b = try snapshot(outSharded + "/2026-10")
        #expect(a.keys.sorted() == b.keys.sorted())
        for (path, data) in a { #expect(b[path] == data, "\(path) differs between the single-process and the sharded run") }
        #expect(a.count > 10)
    }

    @Test("bmbill work without a plan has nothing to do; --workers needs --shards")
    func workerWithoutPlan() throws {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let r = try t.run(["work", "--period", "2026-10"]).expectSuccess()
        #expect(r.stdout.contains("no sharded run of 2026-10"))
        let bad = try t.run(["run", "--period", "2026-10", "--workers", "2"])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("--workers needs --shards"))
        #expect(try t.run(["run", "--period", "2026-10", "--shards", "0"]).status == 2)
        // A run hands --db to its workers in BMBILL_DB (not on their command line): it is used.
        let elsewhere = try t.run(["work", "--period", "2026-10"], env: ["BMBILL_DB": "dbname=bmbill_no_such_database"])
        #expect(elsewhere.status == 1)
        #expect(elsewhere.stderr.contains("bmbill_no_such_database"), "\(elsewhere.stderr)")
    }

    @Test("Shards on the worked example: external workers only (--workers 0) and the run itself give expected.json's totals")
    func workedExampleSharded() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-11-01T00:00:00Z", "--out", tempDir(), "--shards", "3", "--workers", "0"])
        r.expectSuccess()
        #expect(try db.execute("SELECT string_agg(invoice_number || '=' || total, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "BM-00000001=28912492,BM-00000002=6941464")
    }

    @Test("Changes of instances with no instances row are reported once, with the same seconds, by a plain run and by a sharded one", arguments: [
        [String](), ["--shards", "3", "--workers", "0"], ["--shards", "5", "--workers", "2"],
    ])
    func orphansOnce(_ sharding: [String]) throws { try orphansReported(sharding, env: [:]) }

    /// Its readers see the orphans' rows themselves: no count of the period's changes tells them there are any.
    @Test("Changes of instances with no instances row are reported the same when the period is read by its scan")
    func orphansByPeriodScan() throws { try orphansReported([], env: ["BMBILL_READ_PLAN": "by-period-scan"]) }

    func orphansReported(_ sharding: [String], env: [String: String]) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        // Three orphans: one only carried in from September (not looked for: billing-rules.md
        // section 6), one only inside October, one with both.
        try db.execute("""
            INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES
                ('i-ghost-a', 'active', '2026-09-20T00:00:00Z', '2026-09-20T00:00:00Z'),
                ('i-ghost-b', 'active', '2026-10-10T00:00:00Z', '2026-10-10T00:00:00Z'),
                ('i-ghost-b', 'deleted', '2026-10-11T00:00:00Z', '2026-10-11T00:00:00Z'),
                ('i-ghost-c', 'active', '2026-09-25T00:00:00Z', '2026-09-25T00:00:00Z'),
                ('i-ghost-c', 'deleted', '2026-10-02T00:00:00Z', '2026-10-02T00:00:00Z')
            """)
        let out = tempDir()
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-11-01T00:00:00Z", "--out", out] + sharding, env: env)
        #expect(r.status == 65, "an orphan's time is an error: \(r.stderr)")
        let rows = read(out + "/2026-10/anomalies.csv").split(separator: "\r\n").filter { $0.contains(",no instance row,") }
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // i-ghost-b: one day; i-ghost-c: carried in active, from Oct 1 00:00 KST to its deletion on Oct 2 00:00Z.
        #expect(rows.map { $0[4] }.sorted() == ["i-ghost-b", "i-ghost-c"], "\(rows)")
        let seconds = Dictionary(rows.map { ($0[4], $0[6]) }, uniquingKeysWith: { a, b in a + "+" + b })
        #expect(seconds == ["i-ghost-b": "86400", "i-ghost-c": "118800"], "\(seconds)")
    }

    @Test("A change that arrives while the shards are read is not lost: the run notices, and the next run finds the issued invoice differs")
    func changeDuringShardedRead() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let args = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir(), "--shards", "2", "--workers", "1"]
        // The only worker stops in its first shard (shard 1 of 2), its read already under way.
        let run = try PausedRun(t, args, pauseAt: "shard", seconds: 2)
        // Meanwhile a change of an instance of that shard arrives, stamped as recorded long ago
        // (a replica catching up): the paused read cannot see it.
        let id = try #require(try db.execute(
            "SELECT instance_id FROM instances WHERE (hashtext(instance_id) & 2147483647) % 2 = 0 ORDER BY instance_id LIMIT 1").scalar)
        try db.execute(
            "INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ($1, 'error', '2026-10-20T00:00:00Z', '2026-10-20T00:00:01Z')",
            [id])
        let (status, stderr) = run.wait()
        #expect(status == 0, "\(stderr)")
        #expect(stderr.contains("changes were recorded while the shards were read"), "\(stderr)")
        // The next run computes the period again, finds the change and that the issued
        // invoice differs (the watermark was lowered to the earliest shard's, so changes
        // recorded after that are also listed as late).
        let again = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("changed \(id) at rate"), "\(again.stdout)")
        #expect(again.stdout.contains("late data:"), "\(again.stdout)")
        #expect(try db.execute("SELECT status FROM billing_runs ORDER BY run_id DESC LIMIT 1").scalar == "needs_recompute")
    }

    @Test("pricing: shards on the pricing example give its October invoices, lines and credits (discounts split and caps count the same in every shard)")
    func pricingExampleSharded() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir(), "--shards", "3", "--workers", "0"]).expectSuccess()
        #expect(try db.execute("SELECT string_agg(project_id || '=' || list_subtotal || '/' || subtotal || '/' || credits_applied || '/' || total, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "prj-alpha=25395194/23180362/23180362/0,prj-beta=5930175/5722619/3319638/2643279")
        #expect(try db.execute("SELECT sum(capped_seconds) = 462600 FROM invoice_lines").scalar == "t")
        #expect(try db.execute("SELECT count(*) FROM invoice_lines").scalar == "7")
    }

    @Test("pricing: a discount changed while the shards are read stops the run with exit 1 and issues nothing")
    func discountChangedDuringShardedRead() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let args = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir(), "--shards", "2", "--workers", "1"]
        let run = try PausedRun(t, args, pauseAt: "shard", seconds: 2)
        try db.execute("UPDATE discounts SET percent = 50 WHERE discount_id = 'd-beta-all'")
        let (status, stderr) = run.wait()
        #expect(status == 1, "\(stderr)")
        #expect(stderr.contains("discounts or caps changed"), "\(stderr)")
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").scalar == "0")
        #expect(try db.execute("SELECT count(*) FROM credit_applications").scalar == "0")
    }
}
