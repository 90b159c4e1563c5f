import BillingCore
import Foundation
import PostgresClient
import Testing

/// `bmbill export`: FOCUS 1.2, summary and invoice JSON, from stored invoices.
@Suite("Exports", .enabled(if: TestDatabase.serverReachable))
struct ExportTests {
    static let ended = ["--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    /// The example issued, then corrected by a late change (three revisions in all).
    func correctedExample() throws -> (TestDatabase, PostgresConnection, String) {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        try db.execute(RecomputeTests.lateChange)
        try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        return (t, db, out)
    }

    @Test("FOCUS: Σ BilledCost per InvoiceId equals the invoice's total (a correction's difference); one row per instance, category and day")
    func focusSums() throws {
        let (t, db, out) = try correctedExample()
        try t.run(["export", "--period", "2026-10", "--format", "focus", "--out", out]).expectSuccess()
        let rows = csvDicts(read(out + "/2026-10/focus.csv"))
        var billed: [String: Decimal] = [:]
        for r in rows { billed[r["InvoiceId"]!, default: 0] += Decimal(string: r["BilledCost"]!)! }
        let invoices = try db.execute("SELECT invoice_number, total::text, coalesce(difference::text, '') FROM invoices").rows
        #expect(invoices.count == 3)
        for inv in invoices {
            let want = inv[2]!.isEmpty ? inv[1]! : inv[2]!
            #expect(billed[inv[0]!] == Decimal(string: want), "\(inv[0]!)")
        }
        // Usage rows are days in Seoul as UTC instants, start inclusive, end exclusive.
        let usage = rows.filter { $0["ChargeCategory"] == "Usage" }
        #expect(usage.allSatisfy { $0["ChargePeriodStart"]!.hasSuffix("T15:00:00Z") && $0["ChargePeriodEnd"]!.hasSuffix("T15:00:00Z") })
        let keys = usage.map { "\($0["InvoiceId"]!)|\($0["ResourceId"]!)|\($0["SkuPriceId"]!)|\($0["ChargePeriodStart"]!)" }
        #expect(Set(keys).count == keys.count)
        #expect(usage.contains { $0["ResourceId"] == "i-b1" && $0["ChargePeriodStart"] == "2026-10-30T15:00:00Z" && $0["BilledCost"] == "4249.00" })
        #expect(rows.contains { $0["ChargeCategory"] == "Adjustment" && $0["ChargeClass"] == "Correction" && $0["InvoiceId"] == "BM-00000003" })
        #expect(rows.contains { $0["ChargeCategory"] == "Tax" && $0["InvoiceId"] == "BM-00000002" })
    }

    @Test("FOCUS: the FinOps Foundation's validator passes every mandatory rule", .enabled(if: ProcessInfo.processInfo.environment["BMBILL_FOCUS_VALIDATE"] != nil))
    func focusValidator() throws {
        let (t, _, out) = try correctedExample()
        try t.run(["export", "--period", "2026-10", "--format", "focus", "--out", out]).expectSuccess()
        try expectFocusValid(out + "/2026-10/focus.csv")
    }

    @Test("summary and invoice exports come from the stored invoices and agree with them")
    func summaryAndInvoices() throws {
        let (t, db, out) = try correctedExample()
        try t.run(["export", "--period", "2026-10", "--format", "summary", "--out", out]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "invoices", "--out", out]).expectSuccess()
        let summary = csvDicts(read(out + "/2026-10/summary.csv"))
        for inv in try db.execute("SELECT project_id, total::text, invoice_number FROM current_invoices").rows {
            let mine = summary.filter { $0["project_id"] == inv[0] }
            #expect(String(mine.reduce(0) { $0 + Int($1["total"]!)! }) == inv[1])
            #expect(mine.allSatisfy { $0["invoice_number"] == inv[2] })
        }
        #expect(read(out + "/2026-10/invoices/prj-alpha.r0.json").contains("\"status\": \"superseded\""))
        #expect(read(out + "/2026-10/invoices/prj-alpha.r1.json").contains("\"difference\": \"-260740\""))
        // One invoice document: the stored revision in force exports as the run wrote it
        // (the run's file adds only the run's settings).
        for project in ["prj-alpha", "prj-beta"] {
            let revision = try db.execute("SELECT revision FROM current_invoices WHERE project_id = $1", [project]).scalar!
            let exported = JSON.parse(read(out + "/2026-10/invoices/\(project).r\(revision).json"))?.members ?? []
            let written = (JSON.parse(read(out + "/2026-10/invoices/\(project).json"))?.members ?? []).filter { $0.0 != "settings" }
            #expect(!exported.isEmpty && JSON.object(exported) == JSON.object(written), "\(project)")
        }
        let none = try t.run(["export", "--period", "2025-01", "--format", "focus", "--out", out])
        #expect(none.status == 1 && none.stderr.contains("bmbill run --period 2025-01"))
    }
}

@Suite("Invoices people read", .enabled(if: TestDatabase.serverReachable))
struct InvoiceDocumentTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let browserReady = chromium != nil && FileManager.default.isExecutableFile(atPath: "/usr/bin/pdftotext")

    func tool(_ path: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = tempDir() + "/out"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: out)
        try p.run()
        p.waitUntilExit()
        return read(out)
    }

    @Test("HTML invoice: number, lines by category, ₩ totals, a daily SVG chart, the states billed; names escaped")
    func html() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        try db.execute("UPDATE instances SET name = '<script>alert(1)</script>' WHERE instance_id = 'i-a1'")
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "html", "--out", out]).expectSuccess()
        let html = read(out + "/2026-10/invoices/prj-alpha.html")
        #expect(html.contains("BM-00000001"))
        #expect(html.contains("₩28,912,492") && html.contains("₩26,284,084") && html.contains("₩2,628,408"))
        #expect(html.contains("Memory optimized") && html.contains("GPU (accelerated computing)"))
        #expect(html.contains("690.00") && html.contains("₩9,876.54321") && html.contains("₩19,283,748"))
        #expect(html.contains("<svg") && !html.contains("<script>alert") && html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(html.contains("stopped, hardware still allocated to you"))
        #expect(html.contains("rounded up to a whole second once; amounts are rounded half up to the KRW unit"))
        // Nothing loads from elsewhere: no script, no external source or link.
        #expect(!html.contains("<script") && !html.contains("src=") && !html.contains("href="))
    }

    @Test("The HTML invoice's note names the granularity and rounding it was computed with",
          arguments: [("minute", "half-even", "half to even"), ("hour", "floor", "down")])
    func htmlNoteFollowsSettings(granularity: String, rounding: String, words: String) throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out,
                   "--granularity", granularity, "--rounding", rounding]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "html", "--out", out]).expectSuccess()
        let html = read(out + "/2026-10/invoices/prj-alpha.html")
        #expect(html.contains("rounded up to a whole \(granularity) once; amounts are rounded \(words) to the KRW unit"), "\(html.suffix(600))")
        #expect(!html.contains("whole second"))
    }

    @Test("PDF invoice printed by a real headless Chromium: its text has the number, totals and every line; 20 lines fit one A4 page",
          .enabled(if: browserReady))
    func pdf() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        // Twenty servers for prj-beta (21 lines with i-b1's and i-b2's, minus none).
        for i in 1...18 {
            try db.execute("INSERT INTO instances VALUES ($1, 'prj-beta', 'r2a.baremetal', 'Rocky Linux 9', $2, '2026-10-01 00:00:00+00')", ["i-x\(i)", "batch-\(i)"])
            try db.execute("INSERT INTO instance_state_changes (instance_id, state, changed_at) VALUES ($1, 'active', '2026-10-10 00:00:00+00')", ["i-x\(i)"])
        }
        let out = tempDir()
        try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "pdf", "--out", out]).expectSuccess()
        let alpha = try tool("/usr/bin/pdftotext", ["-layout", out + "/2026-10/invoices/prj-alpha.pdf", "-"])
        for text in ["BM-00000001", "₩26,284,084", "₩2,628,408", "₩28,912,492", "db-primary", "i-a1", "₩6,814,815", "₩185,521", "₩19,283,748"] {
            #expect(alpha.contains(text), "PDF text lacks \(text)")
        }
        let beta = try tool("/usr/bin/pdftotext", ["-layout", out + "/2026-10/invoices/prj-beta.pdf", "-"])
        let lines = try db.execute("SELECT count(*) FROM invoice_lines JOIN current_invoices USING (invoice_id) WHERE project_id = 'prj-beta'").scalar
        #expect(lines == "20")
        for i in 1...18 { #expect(beta.contains("batch-\(i) ")) }
        let total = try db.execute("SELECT total FROM current_invoices WHERE project_id = 'prj-beta'").scalar!
        #expect(beta.contains("₩" + DisplayFormat.grouped(total)))
        let info = try tool("/usr/bin/pdfinfo", [out + "/2026-10/invoices/prj-beta.pdf"])
        #expect(info.contains("Pages:           1"), "\(info)")
        #expect(info.contains("(A4)"), "not A4: \(info)")
    }
}

@Suite("Exports and later runs", .enabled(if: TestDatabase.serverReachable))
struct ExportLifetimeTests {
    @Test("An unchanged run keeps the exports; a run that changes the folder removes them as stale")
    func exportsLifetime() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let out = tempDir()
        let run = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]
        try t.run(run).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "focus", "--out", out]).expectSuccess()
        try t.run(run).expectSuccess()
        #expect(FileManager.default.fileExists(atPath: out + "/2026-10/focus.csv"))
        try db.execute(RecomputeTests.lateChange)
        try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        #expect(!FileManager.default.fileExists(atPath: out + "/2026-10/focus.csv"))
    }
}

@Suite("A CLI that helps")
struct CLITests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("Every command's help has examples; the committed completions and man page follow the parser", arguments: ["migrate", "run", "recompute", "work", "export", "demo-data"])
    func help(command: String) throws {
        let r = try BMBillBinary.run([command, "--help"], env: [:])
        #expect(r.status == 0)
        #expect(r.stdout.contains("Examples:") && r.stdout.contains("bmbill \(command)"), "\(command) --help")
        let man = read(Self.repo.appendingPathComponent("docs/cli/bmbill.1").path)
        #expect(man.contains(command), "man page lacks \(command): run make cli-docs")
    }

    @Test("At 80 columns --help fits: no line over 80, each example on one line, paragraphs broken only where the next word does not fit",
          arguments: ["", "migrate", "run", "recompute", "work", "export", "demo-data"])
    func helpAt80Columns(command: String) throws {
        let r = try BMBillBinary.run((command.isEmpty ? [] : [command]) + ["--help"], env: ["COLUMNS": "80"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let name = "bmbill \(command) --help"
        var inExamples = false
        for (i, line) in lines.enumerated() {
            #expect(line.count <= 80, "\(name): \(line.count) columns: \(line)")
            if line == "Examples:" {
                inExamples = true
                continue
            }
            if line.isEmpty {
                inExamples = false
                continue
            }
            if inExamples {
                // Each example is a command line of its own, with room to spare.
                let command = line.hasPrefix("  bmbill ") || line.hasPrefix("  PG")
                #expect(command && line.count <= 76, "\(name): an example wrapped or too long: \(line)")
                continue
            }
            // A line at column 0 after a non-empty one continues its paragraph: ArgumentParser
            // breaks a paragraph (written as one line) only where the next word would reach
            // column 80; a hard-wrapped paragraph breaks earlier.
            guard i > 0, !lines[i - 1].isEmpty, !line.hasPrefix(" "), let word = line.split(separator: " ").first else { continue }
            #expect(lines[i - 1].count + 1 + word.count >= 80, "\(name): paragraph broken early after: \(lines[i - 1])")
        }
    }

    @Test("Completion scripts in docs/cli are what the parser generates now", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let r = try BMBillBinary.run(["--generate-completion-script", shell], env: [:])
        #expect(r.status == 0)
        #expect(r.stdout == read(Self.repo.appendingPathComponent("docs/cli/bmbill.\(shell)").path), "run make cli-docs")
    }

}
