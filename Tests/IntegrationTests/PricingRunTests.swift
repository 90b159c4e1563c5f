import Foundation
import PostgresClient
import Testing

/// pricing.md end to end against PostgreSQL: the worked example's three runs
/// (Tests/Fixtures/pricing-october-2026, copied from shared/spec/examples), credits under
/// crashes, concurrency, re-runs and corrections, and the seal over what was taken.
@Suite("Pricing runs", .enabled(if: TestDatabase.serverReachable))
struct PricingRunTests {
    static var expected: [String: Any] {
        let data = try! Data(contentsOf: Fixtures.pricing.appendingPathComponent("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
    static var runs: [[String: Any]] { expected["runs"] as! [[String: Any]] }

    /// Credit balances by id, in the run's currency.
    func balances(_ db: PostgresConnection) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try db.execute("SELECT credit_id, trim_scale(remaining)::text FROM credit_balances WHERE currency = 'KRW'").rows {
            out[row[0]!] = row[1]!
        }
        return out
    }

    func run(_ t: TestDatabase, _ run: [String: Any], out: String = tempDir()) throws -> CommandResult {
        try t.run(["run", "--period", run["period"] as! String, "--as-of", run["as_of"] as! String, "--out", out])
    }

    @Test("pricing: the worked example's three runs give every figure of expected.json (invoices, lines, credits taken, balances, warnings)")
    func workedExample() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        for run in Self.runs {
            let period = run["period"] as! String, status = run["status"] as! String
            let out = tempDir()
            let r = try self.run(t, run, out: out)
            #expect(r.status == 0, "\(period) as of \(run["as_of"]!): \(r.stderr)")
            let invoices = run["invoices"] as! [String: [String: Any]]
            for (project, want) in invoices {
                let got = try db.execute(
                    """
                    SELECT status, list_subtotal::text, discount::text, subtotal::text, credits_applied::text, tax::text, total::text, invoice_id
                    FROM current_invoices WHERE period = $1 AND project_id = $2
                    """, [period, project]).rows.first
                let figures = ["list_subtotal", "discount", "subtotal", "credits_applied", "tax", "total"].map { want[$0] as! String }
                #expect(got.map { Array($0[0..<7]).map { $0 ?? "" } } == [status] + figures, "\(period) \(project)")
                guard let id = got?[7] else { continue }
                let apps = try db.execute("SELECT credit_id, amount::text FROM credit_applications WHERE invoice_id = $1::int8 ORDER BY credit_id", [id]).rows
                let wantApps = (want["credit_applications"] as! [String: String]).sorted { $0.key < $1.key }
                #expect(apps.map { "\($0[0]!)=\($0[1]!)" } == wantApps.map { "\($0.key)=\($0.value)" }, "\(period) \(project) credits")
                for line in want["lines"] as? [[String: Any]] ?? [] {
                    let discount = line["discount_id"] as? String
                    let row = try db.execute(
                        """
                        SELECT billable_seconds::text, trim_scale(capped_seconds)::text, list_amount::text, amount::text FROM invoice_lines
                        WHERE invoice_id = $1::int8 AND instance_id = $2 AND rate_effective_from = $3::timestamptz AND discount_id IS NOT DISTINCT FROM $4
                        """, [id, line["instance_id"] as? String, line["rate_effective_from"] as? String, discount]).rows
                    let want = ["billable_seconds", "capped_seconds", "list_amount", "amount"].map { line[$0] as! String }
                    #expect(row.map { $0.map { $0 ?? "" } } == [want], "\(period) \(project) line \(line["instance_id"]!) \(discount ?? "-")")
                }
                if let lines = want["lines"] as? [[String: Any]] {
                    #expect(try db.execute("SELECT count(*) FROM invoice_lines WHERE invoice_id = $1::int8", [id]).scalar == String(lines.count))
                }
            }
            for project in Self.expected["no_invoice"] as! [String] {
                #expect(try db.execute("SELECT count(*) FROM current_invoices WHERE period = $1 AND project_id = $2", [period, project]).scalar == "0")
            }
            #expect(try balances(db) == run["credit_balances_after"] as! [String: String], "\(period) as of \(run["as_of"]!)")
            let anomalies = read(out + "/" + period + "/anomalies.csv")
            for a in run["anomalies"] as? [[String: Any]] ?? [] {
                #expect(anomalies.contains(a["kind"] as! String), "\(a)")
                if let credit = a["credit_id"] as? String { #expect(anomalies.contains(credit)) }
            }
            if run["anomalies"] != nil && (run["anomalies"] as! [Any]).isEmpty {
                #expect(!anomalies.contains("credit expired unused"))
            }
        }
    }

    @Test("pricing: a database with no pricing rows bills exactly as before (the october-2026 totals)")
    func noPricingRows() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()]).expectSuccess()
        #expect(try db.execute("SELECT string_agg(project_id || '=' || list_subtotal || '/' || discount || '/' || credits_applied || '/' || total, ',' ORDER BY project_id) FROM current_invoices").scalar
            == "prj-alpha=26284084/0/0/28912492,prj-beta=6310422/0/0/6941464")
        #expect(try db.execute("SELECT count(*) FROM invoice_lines WHERE list_amount <> amount OR capped_seconds <> 0 OR discount_id IS NOT NULL").scalar == "0")
        #expect(try db.execute("SELECT count(*) FROM credit_applications").scalar == "0")
    }

    /// What credit taking leaves behind: balances, applications and invoices.
    func creditState(_ db: PostgresConnection) throws -> [String] {
        [
            try db.execute("SELECT coalesce(string_agg(credit_id || '=' || remaining, ',' ORDER BY credit_id), '') FROM credit_balances").scalar ?? "",
            try db.execute("SELECT count(*) FROM credit_applications").scalar ?? "",
            try db.execute("SELECT coalesce(string_agg(project_id || ':' || status || ':' || total, ',' ORDER BY project_id), '') FROM current_invoices").scalar ?? "",
        ]
    }

    @Test("pricing 3. kill -9 while reading or inside the transaction that takes credits leaves the balances as they were; the next run takes once",
          arguments: ["reading", "transaction", "files"])
    func killNineKeepsCredits(at point: String) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        try run(t, Self.runs[0], out: out).expectSuccess()  // the October draft (shows, takes nothing)
        let before = try creditState(db)
        let victim = try PausedRun(t, ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out], pauseAt: point)
        victim.kill9()
        if point == "files" {
            // Killed after the commit: the credits were taken once, with the invoices.
            #expect(try balances(db)["c-welcome"] == "0")
        } else {
            #expect(try creditState(db) == before, "after kill -9 at \(point)")
        }
        try run(t, Self.runs[1], out: out).expectSuccess()
        #expect(try balances(db) == Self.runs[1]["credit_balances_after"] as! [String: String])
        #expect(try db.execute("SELECT count(*) FROM credit_applications a JOIN invoices i USING (invoice_id) WHERE i.status = 'issued'").scalar == "3")
    }

    @Test("pricing 3. Two periods issued at the same moment never spend a credit twice: the credit lock serialises the taking")
    func concurrentPeriods() throws {
        for _ in 0..<3 {
            let t = try TestDatabase()
            let db = try t.connect()
            try t.loadPricingExample(db)
            // October and November both issue, each wanting more of c-welcome than is left after the other.
            let october = try PausedRun(t, ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()],
                                        pauseAt: "transaction", seconds: 2)
            let november = try t.run(["run", "--period", "2026-11", "--out", tempDir()])
            #expect(november.status == 0, "\(november.stderr)")
            let done = october.wait()
            #expect(done.status == 0, "\(done.stderr)")
            let overspent = try db.execute(
                """
                SELECT count(*) FROM credit_balances WHERE remaining < 0 OR applied > amount
                """).scalar
            #expect(overspent == "0")
            #expect(try db.execute("SELECT count(*) FROM current_invoices WHERE credits_applied > subtotal OR credits_applied < 0").scalar == "0")
            // October, paused inside its transaction while holding the credit lock, took first: November found c-welcome spent.
            #expect(try balances(db)["c-welcome"] == "0")
            #expect(try db.execute("SELECT credits_applied::text FROM current_invoices WHERE period = '2026-10' AND project_id = 'prj-alpha'").scalar == "23180362")
        }
    }

    @Test("pricing 3. Re-running an unchanged issued period takes nothing twice; redrafting replaces a draft's credits instead of adding to them")
    func rerunsTakeOnce() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        try run(t, Self.runs[0]).expectSuccess()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-21T00:00:00Z", "--out", tempDir()]).expectSuccess()
        #expect(try db.execute("SELECT count(*) FROM credit_applications").scalar == "3")  // one draft per project: alpha 1, beta 2
        try run(t, Self.runs[1]).expectSuccess()
        let after = try creditState(db)
        for _ in 0..<2 {
            let r = try run(t, Self.runs[1])
            #expect(r.status == 0)
            #expect(try creditState(db) == after)
        }
        // A credit granted after the period was issued changes nothing in it: it pays the next invoices.
        try db.execute("INSERT INTO credits VALUES ('c-late', 'acct-1', NULL, 'KRW', 5000000, '2026-10-01', NULL, 'granted late')")
        try run(t, Self.runs[1]).expectSuccess()
        #expect(try db.execute("SELECT count(*) FROM credit_applications WHERE credit_id = 'c-late'").scalar == "0")
        try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()]).expectSuccess()
        #expect(try db.execute("SELECT count(*) FROM credit_applications WHERE credit_id = 'c-late'").scalar == "0")
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'superseded'").scalar == "0")
    }

    @Test("pricing 3. A correction after a later month spent the credits gives back what it took and takes again from what is left")
    func correctionAfterLaterMonth() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        try run(t, Self.runs[1]).expectSuccess()  // October issued: alpha takes 23,180,362 of c-welcome, beta the rest
        try run(t, Self.runs[2]).expectSuccess()  // November issued: alpha takes c-goodwill
        // Late data: i-a1 was deleted on Oct 10; October's alpha subtotal falls. Recomputed:
        // alpha gives back its 23,180,362 and takes what its new subtotal needs from c-welcome.
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at, recorded_at) VALUES ('i-a1', 'deleted', '2026-10-10 00:00:00+00', now())")
        let r = try t.run(["recompute", "--period", "2026-10", "--project", "prj-alpha", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(r.status == 0, "\(r.stderr)")
        let row = try db.execute("SELECT subtotal::text, credits_applied::text, revision FROM current_invoices WHERE period = '2026-10' AND project_id = 'prj-alpha'").rows[0]
        #expect(row[2] == "1")
        #expect(row[0] == row[1], "alpha's new October is still fully paid: \(row)")
        let subtotal = Int(row[0]!)!
        #expect(try balances(db)["c-welcome"] == String(23_180_362 - subtotal))
        // The superseded revision's take no longer counts; November's stands.
        #expect(try balances(db)["c-goodwill"] == "0")
        #expect(try db.execute("SELECT count(*) FROM credit_balances WHERE remaining < 0").scalar == "0")
    }

    @Test("pricing 3. A credit application removed from an issued invoice by hand breaks its seal: the next run stops and names it")
    func tamperedCreditsAreNoticed() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        try run(t, Self.runs[1]).expectSuccess()
        try db.execute("DELETE FROM credit_applications WHERE credit_id = 'c-sla-beta'")
        let r = try run(t, Self.runs[1])
        #expect(r.status != 0)
        #expect(r.stderr.contains("BM-00000002"), "\(r.stderr)")
    }

    @Test("pricing: the job bills with credits under the least-privileged roles, and can neither change pricing rows nor what was taken")
    func leastPrivilege() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let job = "bmbill_pj_" + t.name.suffix(8)
        try db.execute("CREATE ROLE \(job) LOGIN")
        defer { _ = try? db.execute("DROP OWNED BY \(job)"); _ = try? db.execute("DROP ROLE \(job)") }
        try db.execute("GRANT bmbill_reader, bmbill_writer TO \(job)")
        for run in Self.runs {
            let r = try t.run(["run", "--period", run["period"] as! String, "--as-of", run["as_of"] as! String, "--out", tempDir()], env: ["PGUSER": job])
            #expect(r.status == 0, "\(r.stderr)")
        }
        #expect(try balances(db) == Self.runs[2]["credit_balances_after"] as! [String: String])
        let asJob = try PostgresConnection(conninfo: "dbname=\(t.name) user=\(job)")
        for sql in ["UPDATE credit_applications SET amount = 1", "DELETE FROM credit_applications", "UPDATE credits SET amount = 1",
                    "INSERT INTO discounts VALUES ('d-x', 'prj-alpha', NULL, NULL, NULL, 50, '2020-01-01', NULL, NULL)",
                    "DELETE FROM monthly_caps", "UPDATE invoices SET credits_applied = 0"] {
            #expect(throws: PostgresError.self, "\(sql)") { try asJob.execute(sql) }
        }
    }

    @Test("pricing 4. Re-running an issued period writes the same files, credits.csv and the manifest's credits included")
    func rerunSameFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let first = tempDir(), second = tempDir()
        try run(t, Self.runs[1], out: first).expectSuccess()
        try run(t, Self.runs[1], out: second).expectSuccess()
        let a = try snapshot(first), b = try snapshot(second)
        #expect(a.keys.sorted() == b.keys.sorted())
        for (path, bytes) in a where b[path] != bytes { Issue.record("\(path) differs on the re-run") }
        let credits = read(second + "/2026-10/credits.csv")
        #expect(credits.contains("c-welcome") && credits.contains("23180362") && credits.contains("2819638"), "\(credits)")
    }

    @Test("pricing 3. An issued invoice today's data changes (run without --adjust) is reported with what a correction would take from credits")
    func differsShowsCredits() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        try run(t, Self.runs[1]).expectSuccess()
        try db.execute("UPDATE discounts SET percent = 4 WHERE discount_id = 'd-beta-all'")
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(r.status == 0, "\(r.stderr)")
        // Beta at 4 %: 4,249 x 0.96 -> 4,079; 5,925,926 x 0.96 -> 5,688,889; subtotal 5,692,968. A correction gives back
        // 3,319,638 and takes it again: tax base 2,373,330, VAT 237,333, total 2,610,663 (issued 2,643,279: -32,616).
        #expect(r.stdout.contains("2,610,663"), "\(r.stdout)")
        #expect(r.stdout.contains("-32,616"), "\(r.stdout)")
        #expect(try db.execute("SELECT count(*) FROM invoices").scalar == "2")
        #expect(try balances(db)["c-welcome"] == "0")
    }
}
