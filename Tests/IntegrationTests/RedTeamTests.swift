import BillingCore
import Foundation
import PostgresClient
import Testing

/// The cases an outside red team found (issue 12), each with its neighbours. The timestamp
/// cases (1 and 8) are rows of the bad-input catalogue; the metrics cases (6, 9) live with
/// the metrics tests.
@Suite("Red team cases", .enabled(if: TestDatabase.serverReachable))
struct RedTeamTests {
    /// No input may crash the process: a crash shows as a signal's exit status (132 SIGILL,
    /// 133 SIGTRAP, 134 SIGABRT, 139 SIGSEGV) or Swift's "Fatal error".
    func expectNoCrash(_ r: CommandResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status < 128 && !r.stderr.contains("Fatal error"), "\(what): exit \(r.status): \(r.stderr.suffix(300))",
                sourceLocation: sourceLocation)
    }

    @Test("2. Periods outside 1970-01..9999-12 and as-of instants that lead there are usage errors (exit 2), never a crash",
          arguments: [
            ["run", "--period", "9999-12"], ["recompute", "--period", "9999-12", "--dry-run"], ["recompute", "--period", "9999-12"],
            ["run", "--period", "0001-01"], ["run", "--period", "1969-12"], ["recompute", "--period", "0001-01", "--dry-run"],
            ["export", "--period", "0001-01", "--format", "summary"], ["run", "--as-of", "0001-01-01T00:00:00Z"],
            ["run", "--as-of", "1970-01-15T00:00:00Z"], ["run", "--period", "9999-12", "--as-of", "9999-12-31T23:59:59Z"],
            ["run", "--period", "0000-12"], ["run", "--period", "10000-01"],
          ])
    func periodBounds(_ args: [String]) throws {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let r = try t.run(args + ["--out", tempDir()])
        expectNoCrash(r, args.joined(separator: " "))
        #expect(r.status == 2, "\(args): exit \(r.status): \(r.stderr)")
        #expect(try t.connect().execute("SELECT count(*) FROM billing_runs").scalar == "0")
    }

    @Test("2. The first and last billable periods bill (1970-01 issued; 9999-12 not begun: exit 2 saying so)")
    func periodEdgesInRange() throws {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let first = try t.run(["run", "--period", "1970-01", "--as-of", "1970-03-01T00:00:00Z", "--out", tempDir()])
        #expect(first.status == 0, "\(first.stderr)")
        let last = try t.run(["run", "--period", "9999-12", "--out", tempDir()])
        #expect(last.status == 2 && last.stderr.contains("nothing to bill yet"), "\(last.stderr)")
    }

    /// Every Unicode white-space character, and the neighbours that are not white space.
    static let paddings: [String] = BillableStateTable.whiteSpace.sorted { $0.value < $1.value }.map { String(Character($0)) }

    @Test("3. One canonical-state rule: PostgreSQL's bmbill_canonical_state and Swift's agree on every white space and case")
    func canonicalStateAgrees() throws {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let db = try t.connect()
        var names: [String] = []
        for p in Self.paddings { names += [p + "deleted", "deleted" + p, p + "DELETED" + p + p, "Act" + p + "ive"] }
        // Not white space (Unicode says so), so never trimmed; non-ASCII letters never lowered.
        names += ["\u{200B}deleted", "deleted\u{FEFF}", "\u{180E}active", "DEL\u{0130}TED", "\u{212A}", "ÄCTIVE", "ａｃｔｉｖｅ", "", " ", "\u{3000}\u{00A0}"]
        for name in names {
            let sql = try db.execute("SELECT bmbill_canonical_state($1)", [name]).scalar
            #expect(sql.map { Array($0.utf8) } == Array(BillableStateTable.canonical(name).utf8), "\(name.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test("3. A deleted padded with any Unicode white space is final in the next month too (no month billed after deletion)")
    func paddedDeletedCarriesIn() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        // One instance per padding, each active in October and deleted on Oct 20 with a padded name.
        for (n, p) in Self.paddings.enumerated() {
            let id = "i-pad-\(n)"
            try db.execute("INSERT INTO instances VALUES ($1, 'prj-alpha', 'r2a.baremetal', 'Ubuntu 22.04', $1, '2026-10-01 00:00:00+00')", [id])
            try db.execute(
                "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ($1, 'active', '2026-10-02 00:00:00+00'), ($1, $2, '2026-10-20 00:00:00+00')",
                [id, p + (n % 2 == 0 ? "deleted" : "Deleted") + p])
        }
        let oct = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(oct.status == 0, "\(oct.stderr)")
        let nov = try t.run(["run", "--period", "2026-11", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()])
        #expect(nov.status == 0, "\(nov.stderr)")
        let billed = try db.execute(
            "SELECT count(*) FROM invoice_lines l JOIN invoices i USING (invoice_id) WHERE i.period = '2026-11' AND l.instance_id LIKE 'i-pad-%'").scalar
        #expect(billed == "0")
        // In October each is billed exactly its 18 active days.
        let october = try db.execute(
            """
            SELECT count(*), bool_and(metered_seconds = 18 * 86400) FROM invoice_lines l JOIN invoices i USING (invoice_id)
            WHERE i.period = '2026-10' AND l.instance_id LIKE 'i-pad-%'
            """).rows[0]
        #expect(october == [String(Self.paddings.count), "t"])
        // The reader finds them through the partial index of deletions (the predicate matches).
        try db.execute("ANALYZE instance_state_changes")
        try db.execute("SET enable_seqscan = off")
        let plan = try db.execute(
            "EXPLAIN SELECT instance_id FROM instance_state_changes d WHERE bmbill_canonical_state(d.state) = 'deleted'").rows
            .compactMap { $0[0] }.joined(separator: "\n")
        #expect(plan.contains("instance_state_changes_deleted_v2"), "\(plan)")
    }

    @Test("4. No error message holds a password, whatever the connection string looks like",
          arguments: [
            ("postgresql://u:WrongPass123@[::1:bad/args", ["WrongPass123"]),
            ("postgresql://u:Wrong%zzPass77@localhost/x", ["Wrong%zzPass77"]),
            ("postgresql://u:p%41ssWord9@localhost:1/x?bad=1", ["p%41ssWord9", "pAssWord9"]),
            ("postgres://u:Secret%20Sp4ce@[::1/x", ["Secret%20Sp4ce", "Secret Sp4ce"]),
            ("postgresql://localhost/x?password=QuerySecret5&sslmode=bogus", ["QuerySecret5"]),
            ("postgresql://u:pw9Xq@localhost/x?password=QSecret2&port=abc", ["QSecret2", "pw9Xq"]),
            ("host=/nonexistent password='Se cret7' bogus=1", ["Se cret7"]),
            ("host=/nonexistent password=Secret99 port=x", ["Secret99"]),
            ("password=Unterminated'q host=/x '", ["Unterminated'q"]),
            ("postgresql://user:Pa:ss@wo%rd@[::1:x", ["Pa:ss@wo%rd", "ss@wo%rd"]),
          ])
    func passwordsNeverPrinted(_ c: (conninfo: String, secrets: [String])) throws {
        let t = try TestDatabase()
        let out = tempDir()
        for args in [["migrate", "--db", c.conninfo], ["run", "--out", out, "--db=" + c.conninfo],
                     ["export", "--period", "2026-10", "--format", "summary", "--out", out, "--db", c.conninfo]] {
            let r = try t.run(args)
            #expect(r.status == 1 || r.status == 2, "\(args): \(r.status) \(r.stderr)")
            for s in c.secrets { #expect(!r.stderr.contains(s) && !r.stdout.contains(s), "\(s) printed: \(r.stderr)") }
        }
        // Given in BMBILL_DB or with PGPASSWORD, the same.
        let r = try t.run(["migrate"], env: ["BMBILL_DB": c.conninfo, "PGPASSWORD": "EnvSecret42"])
        for s in c.secrets + ["EnvSecret42"] { #expect(!r.stderr.contains(s), "\(s) printed: \(r.stderr)") }
    }

    @Test("5. An --as-of later than the database's clock issues nothing for a month that has not ended by the clock: exit 2, no run, no invoice, no file")
    func futureAsOf() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let now = Instant(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
        let soon = now.adding(microseconds: 120_000_000).iso8601
        let thisMonth = BillingPeriod(containing: now, zone: BillingTimeZone(identifier: "Asia/Seoul")!).month.description
        for args in [["run", "--period", "2027-05", "--as-of", "2099-01-01T00:00:00Z"], ["run", "--as-of", "2099-01-01T00:00:00Z"],
                     ["run", "--period", thisMonth, "--as-of", soon], ["run", "--as-of", soon],
                     ["recompute", "--period", thisMonth, "--as-of", "2099-01-01T00:00:00Z"],
                     ["recompute", "--period", thisMonth, "--dry-run", "--as-of", soon]] {
            let out = tempDir()
            let r = try t.run(args + ["--out", out])
            #expect(r.status == 2 && r.stderr.contains("later than the database's clock") && r.stderr.contains("has not ended"), "\(args): \(r.status) \(r.stderr)")
            #expect(try snapshot(out).isEmpty)
        }
        #expect(try db.execute("SELECT count(*) FROM billing_runs").scalar == "0")
        #expect(try db.execute("SELECT count(*) FROM invoices").scalar == "0")
        // A month that has ended by the clock is billed as of the clock, said on stderr: the
        // same invoices as without --as-of, and the run records the clock, not the future.
        let ended = try t.run(["run", "--period", "2026-10", "--as-of", "2099-01-01T00:00:00Z", "--out", tempDir(), "--json"])
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("is billed as of the clock"))
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").scalar == "2")
        #expect(try db.execute("SELECT bool_and(as_of <= now()) FROM billing_runs").scalar == "t")
        let again = try t.run(["run", "--period", "2026-10", "--out", tempDir(), "--json"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try db.execute("SELECT count(*) FROM invoices").scalar == "2")
        let dry = try t.run(["recompute", "--period", "2026-10", "--dry-run", "--as-of", soon])
        #expect(dry.status == 0, "\(dry.stderr)")
    }

    @Test("7. Concurrent migrate on a fresh database: every one exits 0 and the schema is applied once")
    func concurrentMigrate() throws {
        for _ in 0..<4 {
            let t = try TestDatabase()
            // Started together, not one after another (a thread pool on two cores would).
            var processes: [(Process, String)] = []
            for _ in 0..<6 {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: BMBillBinary.path)
                p.arguments = ["migrate"]
                var env = ProcessInfo.processInfo.environment
                env["PGDATABASE"] = t.name
                p.environment = env
                let err = tempDir() + "/err"
                _ = FileManager.default.createFile(atPath: err, contents: nil)
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle(forWritingAtPath: err)
                processes.append((p, err))
            }
            for (p, _) in processes { try p.run() }
            for (p, err) in processes {
                p.waitUntilExit()
                #expect(p.terminationStatus == 0, "\(read(err))")
            }
            let db = try t.connect()
            #expect(try db.execute("SELECT count(*) = count(DISTINCT version) FROM bmbill_schema_migrations").scalar == "t")
            #expect(try t.run(["migrate"]).stdout.contains("up to date"))
        }
    }

    @Test("9. A regular file where the period's folder goes is refused (exit 1), kept, and nothing is stored")
    func fileAtPeriodFolder() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try "my notes".write(toFile: out + "/2026-10", atomically: true, encoding: .utf8)
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out])
        #expect(r.status == 1 && r.stderr.contains("not a folder"), "\(r.stderr)")
        #expect(read(out + "/2026-10") == "my notes")
        #expect(try db.execute("SELECT count(*) FROM invoices").scalar == "0")
        // A symbolic link there is not followed or replaced either.
        try FileManager.default.removeItem(atPath: out + "/2026-10")
        let elsewhere = tempDir()
        try FileManager.default.createSymbolicLink(atPath: out + "/2026-10", withDestinationPath: elsewhere)
        let l = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out])
        #expect(l.status == 1, "\(l.stderr)")
        #expect(try snapshot(elsewhere).isEmpty)
    }

    @Test("9. Old contents that cannot be removed after the swap are named in a warning")
    func undeletableOldFolder() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z", "--out", out]).expectSuccess()
        let pinned = out + "/2026-10/pinned.txt"
        try "x".write(toFile: pinned, atomically: true, encoding: .utf8)
        guard shell("chattr", "+i", pinned) == 0 else { return }  // a file system without immutable files: nothing to test
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-25T00:00:00Z", "--out", out], env: ["BMBILL_LOG_LEVEL": "warning"])
        let left = (try? FileManager.default.contentsOfDirectory(atPath: out))?.filter { $0.contains("staging") } ?? []
        for name in left { _ = shell("chattr", "-i", out + "/" + name + "/pinned.txt") }
        #expect(r.status == 0)
        #expect(left.count == 1 && r.stderr.contains("could not be removed") && r.stderr.contains(left.first ?? "?"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out + "/2026-10/pinned.txt"))
    }

    @Test("9. A key set twice in --config is a usage error naming both lines")
    func duplicateConfigKey() throws {
        let t = try TestDatabase()
        let config = tempDir() + "/bmbill.conf"
        try "currency = KRW\nvat_rate = 0.10\n# note\nvat_rate = 0.00\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try t.run(["run", "--period", "2026-10", "--config", config, "--out", tempDir()])
        #expect(r.status == 2 && r.stderr.contains(":4: vat_rate is set again (first on line 2)"), "\(r.stderr)")
    }

    @Test("9. BMBILL_LOG_LEVEL must be a level swift-log knows", arguments: [("verbose", Int32(2)), ("warn", 2), ("DEBUG", 0), ("trace", 0), ("", 0)])
    func logLevel(_ c: (level: String, status: Int32)) throws {
        let t = try TestDatabase()
        let r = try t.run(["migrate"], env: ["BMBILL_LOG_LEVEL": c.level])
        #expect(r.status == c.status, "\(c.level): \(r.stderr)")
        if c.status == 2 { #expect(r.stderr.contains("BMBILL_LOG_LEVEL") && r.stderr.contains("trace, debug, info")) }
    }

    @Test("9. recompute --project with an unknown id is a usage error naming it")
    func recomputeUnknownProject() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try t.run(BillingRunTests.ended + ["--out", tempDir()]).expectSuccess()
        for dry in [true, false] {
            let r = try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--project", "prj-nope", "--project", "prj-alpha",
                               "--out", tempDir()] + (dry ? ["--dry-run"] : []))
            #expect(r.status == 2 && r.stderr.contains("prj-nope") && !r.stderr.contains("prj-alpha"), "\(r.stderr)")
        }
        // A project since removed from projects still has its invoice: it can be corrected.
        try db.execute("DELETE FROM projects WHERE project_id = 'prj-beta'")
        let gone = try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--project", "prj-beta", "--dry-run"])
        #expect(gone.status != 2, "\(gone.stderr)")
    }
}

extension RedTeamTests {
    static let tamperings = [
        "UPDATE invoices SET total = total + 1, tax = tax + 1 WHERE invoice_number = 'BM-00000001'",
        "UPDATE invoice_lines SET amount = amount - 1 WHERE invoice_id = (SELECT invoice_id FROM invoices WHERE invoice_number = 'BM-00000001') AND line_no = 1",
        "DELETE FROM invoice_lines WHERE invoice_id = (SELECT invoice_id FROM invoices WHERE invoice_number = 'BM-00000001') AND line_no = 1",
        "UPDATE invoices SET project_name = 'Someone else' WHERE invoice_number = 'BM-00000001'",
        "UPDATE invoices SET status = 'superseded' WHERE invoice_number = 'BM-00000001'",
    ]

    @Test("9. An issued invoice changed after issue is noticed: run, recompute and export stop (exit 1) naming it", arguments: tamperings)
    func tamperedInvoice(_ edit: String) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(BillingRunTests.ended + ["--out", out]).expectSuccess()
        try db.execute(edit)
        for args in [BillingRunTests.ended, ["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--dry-run"],
                     ["export", "--period", "2026-10", "--format", "summary"]] {
            let r = try t.run(args + ["--out", out])
            #expect(r.status == 1 && r.stderr.contains("BM-00000001") && r.stderr.contains("changed after issue") && !r.stdout.contains("unchanged"),
                    "\(args[0]): \(r.status) \(r.stderr)")
        }
    }

    @Test("9. An issued invoice deleted after issue is noticed: its number is missing from the gapless series (exit 1)")
    func deletedIssuedInvoice() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try t.run(BillingRunTests.ended + ["--out", tempDir()]).expectSuccess()
        try db.execute("DELETE FROM invoices WHERE invoice_number = 'BM-00000001'")
        for args in [BillingRunTests.ended, ["run", "--period", "2026-11", "--as-of", "2026-12-01T00:00:00Z"], ["export", "--period", "2026-10", "--format", "summary"]] {
            let r = try t.run(args + ["--out", tempDir()])
            #expect(r.status == 1 && r.stderr.contains("BM-00000001 are missing"), "\(args): \(r.status) \(r.stderr)")
        }
    }

    @Test("9. The writer role cannot change an issued invoice's figures, lines or seal; bmbill's own correction still works under it")
    func writerCannotTamper() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let job = "bmbill_tamper_" + t.name.suffix(8)
        try db.execute("CREATE ROLE \(job) LOGIN IN ROLE bmbill_reader, bmbill_writer")
        defer { _ = try? db.execute("DROP OWNED BY \(job)"); _ = try? db.execute("DROP ROLE \(job)") }
        try t.run(BillingRunTests.ended + ["--out", tempDir()], env: ["PGUSER": job]).expectSuccess()
        let asJob = try PostgresConnection(conninfo: "dbname=\(t.name) user=\(job)")
        for sql in ["UPDATE invoices SET total = total + 1, tax = tax + 1", "UPDATE invoice_lines SET amount = 0", "UPDATE invoices SET seal = NULL"] {
            let e = #expect(throws: PostgresError.self) { try asJob.execute(sql) }
            #expect(e?.sqlState == .insufficientPrivilege, "\(sql): \(String(describing: e))")
        }
        // Row-level security: it deletes drafts only, and moves an invoice only from issued to superseded.
        try asJob.execute("DELETE FROM invoices WHERE status <> 'draft'")
        try asJob.execute("UPDATE invoices SET status = 'issued' WHERE status <> 'issued'")
        #expect(throws: PostgresError.self) { try asJob.execute("DELETE FROM invoice_lines") }
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'issued'").scalar == "2")
        #expect(try db.execute("SELECT count(*) > 0 FROM invoice_lines").scalar == "t")
        #expect(try asJob.execute("SELECT bmbill_seal_invoices(array_agg(invoice_id)) FROM invoices").scalar == "0")
        // A late change, corrected by recompute under the job's role: the old revision is
        // superseded, the new one sealed, and the next run finds everything in order.
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-b1', 'stopped', '2026-10-25 00:00:00+00')")
        try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()], env: ["PGUSER": job]).expectSuccess()
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'superseded'").scalar == "1")
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status <> 'draft' AND seal IS DISTINCT FROM bmbill_invoice_seal(invoice_id)").scalar == "0")
        let again = try t.run(BillingRunTests.ended + ["--out", tempDir()], env: ["PGUSER": job])
        #expect(again.status == 0 && again.stdout.contains("unchanged"), "\(again.stderr)")
    }
}

/// Runs a program and returns its exit status.
func shell(_ program: String, _ args: String...) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [program] + args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
