import BillingStore
import Reports
import Foundation
import PostgresClient
import Testing

/// `bmbill run` end to end: real PostgreSQL, the real binary, the files it writes.
@Suite("bmbill run against a real PostgreSQL", .enabled(if: TestDatabase.serverReachable))
struct BillingRunTests {
    static let ended = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    @Test("The worked month: database rows, invoice JSON and CSV files agree to the unit")
    func everyOutputAgrees() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(Self.ended + ["--out", out]).expectSuccess()

        let rows = try db.execute("SELECT project_id, status, invoice_number, subtotal, tax, total FROM current_invoices WHERE period = '2026-10' ORDER BY 1").rows
        #expect(rows == [["prj-alpha", "issued", "BM-00000001", "26284084", "2628408", "28912492"],
                         ["prj-beta", "issued", "BM-00000002", "6310422", "631042", "6941464"]])
        for row in rows {
            let project = row[0]!
            // Invoice JSON = database.
            let json = try JSONSerialization.jsonObject(with: Data(read(out + "/2026-10/invoices/\(project).json").utf8)) as! [String: Any]
            #expect(json["invoice_number"] as? String == row[2])
            #expect([json["subtotal"], json["tax"], json["total"]] as? [String] == [row[3]!, row[4]!, row[5]!])
            // Database lines = database invoice.
            let lineSum = try db.execute("SELECT sum(amount) FROM invoice_lines JOIN current_invoices USING (invoice_id) WHERE project_id = $1 AND period = '2026-10'", [project]).scalar
            #expect(lineSum == row[3])
        }
        // invoice_lines.csv sums = subtotals; usage.csv seconds of each line, rounded up once = its billable seconds.
        let lines = csvDicts(read(out + "/2026-10/invoice_lines.csv"))
        let usage = csvDicts(read(out + "/2026-10/usage.csv"))
        for project in ["prj-alpha", "prj-beta"] {
            let mine = lines.filter { $0["project_id"] == project }
            let subtotal = mine.reduce(Decimal(0)) { $0 + Decimal(string: $1["amount"]!)! }
            #expect(subtotal == Decimal(string: rows.first { $0[0] == project }![3]!)!)
            for l in mine {
                let seconds = usage.filter { $0["project_id"] == project && $0["invoice_line"] == l["line_no"] }
                    .reduce(Decimal(0)) { $0 + Decimal(string: $1["seconds"]!)! }
                var up = Decimal()
                var s = seconds
                NSDecimalRound(&up, &s, 0, .up)
                #expect(up == Decimal(string: l["billable_seconds"]!)!, "line \(l)")
            }
        }
        // The manifest lists every file with its checksum.
        let manifest = try JSONSerialization.jsonObject(with: Data(read(out + "/2026-10/manifest.json").utf8)) as! [String: Any]
        let files = manifest["files"] as! [String: String]
        #expect(Set(files.keys) == ["usage.csv", "invoice_lines.csv", "anomalies.csv", "summary.csv", "invoices/prj-alpha.json", "invoices/prj-beta.json"])
        // CSV is RFC 4180: CRLF line ends, quoted commas.
        #expect(read(out + "/2026-10/usage.csv").contains("\"Beta, Inc.\""))
        #expect(read(out + "/2026-10/usage.csv").hasSuffix("\r\n"))
    }

    @Test("7. Re-running an unchanged period changes nothing: same invoices, same numbers, byte-identical files")
    func rerunChangesNothing() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(Self.ended + ["--out", out]).expectSuccess()
        let before = try snapshot(out + "/2026-10")
        let invoices = try db.execute("SELECT invoice_id, invoice_number, status FROM invoices ORDER BY 1").rows
        let second = try t.run(["run", "--period", "2026-10", "--as-of", "2026-11-15T00:00:00Z", "--out", out]).expectSuccess()
        #expect(second.stdout.contains("unchanged"))
        #expect(try db.execute("SELECT invoice_id, invoice_number, status FROM invoices ORDER BY 1").rows == invoices)
        #expect(try snapshot(out + "/2026-10") == before)
        #expect(try db.execute("SELECT last_number FROM invoice_number_series").scalar == "2")
    }

    @Test("4-5. The month to date is a draft; once ended it is issued with gapless numbers and the draft is gone")
    func draftThenIssued() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        let draft = try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z", "--out", out, "--json"]).expectSuccess()
        #expect(draft.stdout.contains("\"status\": \"draft\""))
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'draft' AND invoice_number IS NULL").scalar == "2")
        #expect(try db.execute("SELECT total FROM current_invoices WHERE project_id = 'prj-alpha'").scalar == "11512443")
        // The same draft run again keeps the same draft rows.
        let ids = try db.execute("SELECT invoice_id FROM invoices ORDER BY 1").rows
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z", "--out", out]).expectSuccess()
        #expect(try db.execute("SELECT invoice_id FROM invoices ORDER BY 1").rows == ids)

        try t.run(Self.ended + ["--out", out]).expectSuccess()
        #expect(try db.execute("SELECT count(*) FROM invoices WHERE status = 'draft'").scalar == "0")
        #expect(try db.execute("SELECT string_agg(invoice_number, ',' ORDER BY invoice_number) FROM invoices").scalar == "BM-00000001,BM-00000002")
        // The next month continues the series without a gap.
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-b2', 'active', '2026-11-03 00:00:00+00')")
        try t.run(["run", "--period", "2026-11", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        #expect(try db.execute("SELECT string_agg(invoice_number, ',' ORDER BY invoice_number) FROM invoices").scalar
            == "BM-00000001,BM-00000002,BM-00000003,BM-00000004")
    }

    @Test("6. Bad input gives the documented anomaly and exit code", arguments: BadInput.allCases)
    func badInput(_ c: BadInput) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.executeScript(c.sql)
        let out = tempDir()
        let r = try t.run(["run", "--period", "2026-10", "--as-of", c.asOf, "--out", out])
        #expect(r.status == c.exitCode, "\(c): \(r.stderr)")
        let anomalies = csvDicts(read(out + "/2026-10/anomalies.csv"))
        let match = anomalies.filter { $0["kind"] == c.kind }
        #expect(!match.isEmpty, "\(c) should report '\(c.kind)'; got \(anomalies.map { $0["kind"]! })")
        #expect(match.allSatisfy { $0["severity"] == (c.exitCode == 65 ? "error" : "warning") })
        let statuses = Set(try db.execute("SELECT status FROM invoices").rows.map { $0[0]! })
        if c.exitCode == 65 {
            #expect(statuses == ["draft"])
            #expect(r.stderr.contains("anomalies.csv"))
        }
    }

    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case unknownState, missingRate, orphanChange, duplicateInstant, changeAfterDeleted, changeAfterAsOf, changeBeforeCreated, windowsOnGPU

        var testDescription: String { rawValue }

        var sql: String {
            switch self {
            case .unknownState: return "UPDATE instance_state_changes SET state = 'actve' WHERE event_id = 8"
            case .missingRate: return "DELETE FROM rates WHERE type_name = 'p1i.baremetal'"
            case .orphanChange: return "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-ghost', 'active', '2026-10-20 00:00:00+00')"
            case .duplicateInstant: return "SELECT 1"  // the example has one: events 21 and 22
            case .changeAfterDeleted: return "INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a1', 'active', '2026-10-30 10:00:00+00')"
            case .changeAfterAsOf: return "SELECT 1"
            case .changeBeforeCreated: return "UPDATE instances SET created_at = '2026-10-06 00:00:00+00' WHERE instance_id = 'i-b2'"
            case .windowsOnGPU: return "UPDATE instances SET image = 'Windows 2022' WHERE instance_id = 'i-a2'"
            }
        }

        var kind: String {
            switch self {
            case .unknownState: return "unknown state"
            case .missingRate: return "no rate"
            case .orphanChange: return "no instance row"
            case .duplicateInstant: return "duplicate instant"
            case .changeAfterDeleted: return "change after deleted"
            case .changeAfterAsOf: return "change after as_of"
            case .changeBeforeCreated: return "change before created_at"
            case .windowsOnGPU: return "windows image on type"
            }
        }

        var asOf: String { self == .changeAfterAsOf ? "2026-10-20T00:00:00Z" : "2026-12-01T00:00:00Z" }
        var exitCode: Int32 { [.unknownState, .missingRate, .orphanChange].contains(self) ? 65 : 0 }
    }

    @Test("A change after deleted does not change the bill")
    func afterDeletedNotBilled() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ('i-a1', 'active', '2026-10-30 10:00:00+00')")
        try t.run(Self.ended + ["--out", tempDir()]).expectSuccess()
        #expect(try db.execute("SELECT total FROM current_invoices WHERE project_id = 'prj-alpha'").scalar == "28912492")
    }

    @Test("7. A second run of a period while one holds its lock exits 75 and names the holder")
    func lockHeld() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let holder = try t.connect()
        let key = 0x626D_6269_0000_0000 | Int64(2026 * 100 + 10)
        #expect(try holder.tryAdvisoryLock(key))
        let r = try t.run(Self.ended + ["--out", tempDir()])
        #expect(r.status == 75)
        #expect(r.stderr.contains("backend pid \(holder.backendPID)"))
        // Another period is not blocked.
        try t.run(["run", "--period", "2026-09", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()]).expectSuccess()
    }

    @Test("Usage errors exit 2 and say what to write instead", arguments: [
        (["run", "--period", "2026-13"], "YYYY-MM"), (["run", "--timezone", "KST"], "IANA"), (["run", "--as-of", "yesterday"], "ISO 8601"),
        (["run", "--rounding", "up"], "half-up"), (["run", "--currency", "XXX"], "ISO 4217"), (["run", "--vat-rate", "10%"], "0.10"),
        (["run", "--no-such-flag"], "no-such-flag"), (["run", "--period", "2099-01"], "nothing to bill"),
    ])
    func usageErrors(args: [String], hint: String) throws {
        let t = try TestDatabase()
        try t.run(["migrate"]).expectSuccess()
        let r = try t.run(args)
        #expect(r.status == 2)
        #expect(r.stderr.contains(hint), "\(r.stderr)")
    }

    @Test("Settings come from flags, else BMBILL_* variables, else the config file")
    func settingsPrecedence() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let config = tempDir() + "/bmbill.conf"
        try "# test\nvat_rate = \"0.05\"\nrounding = floor\n".write(toFile: config, atomically: true, encoding: .utf8)
        try t.run(Self.ended + ["--out", tempDir(), "--config", config]).expectSuccess()
        #expect(try db.execute("SELECT tax, vat_rate, rounding FROM current_invoices WHERE project_id = 'prj-alpha'").rows == [["1314204", "0.05", "floor"]])
        let t2 = try TestDatabase()
        let db2 = try t2.connect()
        try t2.loadExample(db2)
        try t2.run(Self.ended + ["--out", tempDir(), "--config", config, "--vat-rate", "0.10"], env: ["BMBILL_VAT_RATE": "0"]).expectSuccess()
        #expect(try db2.execute("SELECT tax FROM current_invoices WHERE project_id = 'prj-alpha'").scalar == "2628408")
        let t3 = try TestDatabase()
        let db3 = try t3.connect()
        try t3.loadExample(db3)
        try t3.run(Self.ended + ["--out", tempDir(), "--config", config], env: ["BMBILL_VAT_RATE": "0"]).expectSuccess()
        #expect(try db3.execute("SELECT tax FROM current_invoices WHERE project_id = 'prj-alpha'").scalar == "0")
    }

    @Test("run refuses an unmigrated database and says to migrate")
    func needsMigrate() throws {
        let t = try TestDatabase()
        let r = try t.run(Self.ended)
        #expect(r.status == 1)
        #expect(r.stderr.contains("bmbill migrate"))
    }
}

/// Every file under `dir`, path -> bytes.
func snapshot(_ dir: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let e = FileManager.default.enumerator(atPath: dir)!
    while let p = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir + "/" + p, isDirectory: &isDir), !isDir.boolValue {
            files[p] = FileManager.default.contents(atPath: dir + "/" + p)
        }
    }
    return files
}

/// Rows of a CSV file with a header, as dictionaries.
func csvDicts(_ text: String) -> [[String: String]] { CSVReader.dictionaries(text) }

@Suite("Finance files", .enabled(if: TestDatabase.serverReachable))
struct FinanceFilesTests {
    @Test("summary.csv: one row per project and category; its totals equal the invoices exactly")
    func summary() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        let rows = csvDicts(read(out + "/2026-10/summary.csv"))
        #expect(rows.map { "\($0["project_id"]!):\($0["category"]!)" } == ["prj-alpha:memory_optimized", "prj-alpha:gpu", "prj-beta:memory_optimized", "prj-beta:gpu"])
        for inv in try db.execute("SELECT project_id, subtotal, tax, total, invoice_number FROM current_invoices").rows {
            let mine = rows.filter { $0["project_id"] == inv[0] }
            for (col, i) in [("subtotal", 1), ("vat", 2), ("total", 3)] {
                #expect(String(mine.reduce(0) { $0 + Int($1[col]!)! }) == inv[i], "\(inv[0]!) \(col)")
            }
            #expect(mine.allSatisfy { $0["invoice_number"] == inv[4] && $0["billing_account_id"] == "acct-1" })
        }
    }

    @Test("--by day: usage.csv rows per day add up to the monthly rows")
    func byDay() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let monthly = tempDir(), daily = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", monthly]).expectSuccess()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", daily, "--by", "day"]).expectSuccess()
        let m = csvDicts(read(monthly + "/2026-10/usage.csv")), d = csvDicts(read(daily + "/2026-10/usage.csv"))
        #expect(d.count > m.count)
        #expect(d.allSatisfy { ($0["usage_date"] ?? "").count == 10 })
        func seconds(_ rows: [[String: String]], _ key: ([String: String]) -> String) -> [String: Decimal] {
            var s: [String: Decimal] = [:]
            for r in rows { s[key(r), default: 0] += Decimal(string: r["seconds"]!)! }
            return s
        }
        let k: ([String: String]) -> String = { "\($0["instance_id"]!)|\($0["state"]!)|\($0["rate_effective_from"]!)" }
        #expect(seconds(m, k) == seconds(d, k))
        #expect(read(daily + "/2026-10/manifest.json").contains("\"usage_by\": \"day\""))
    }
}
