import BillingCore
import Foundation
import PostgresClient
import Reports
import Testing

/// pricing.md section 4 end to end: the worked example (Tests/Fixtures/pricing-october-2026)
/// billed by the real binary; every file people read shows its figures, and the files, the
/// database and the exports agree to the unit.
@Suite("Pricing in the files of a run", .enabled(if: TestDatabase.serverReachable))
struct PricingFilesRunTests {
    static let draft = ["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z"]
    static let issued = ["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(read(path).utf8)) as! [String: Any]
    }

    func int(_ s: String?) -> Int { Int(s ?? "") ?? Int.min }

    @Test("pricing 4. The example's October files: credits.csv (c-welcome 26,000,000 before, alpha takes 23,180,362, beta 2,819,638, 0 after; c-gamma none, 200,000 after), summary.csv, invoice_lines.csv, usage.csv and invoice JSON agree with the database")
    func octoberFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        try t.run(Self.issued + ["--out", out]).expectSuccess()
        let dir = out + "/2026-10"

        // credits.csv: every credit usable in October, in take order, one row per movement.
        let credits = csvDicts(read(dir + "/credits.csv"))
        let got = credits.map { [$0["credit_id"]!, $0["balance_before"]!, $0["movement"]!, $0["invoice_project_id"]!, $0["invoice_number"]!,
                                 $0["invoice_status"]!, $0["movement_amount"]!, $0["balance_after"]!] }
        #expect(got == [
            ["c-gamma", "200000", "none", "", "", "", "0", "200000"],
            ["c-sla-beta", "500000", "taken", "prj-beta", "BM-00000002", "issued", "500000", "0"],
            ["c-welcome", "26000000", "taken", "prj-alpha", "BM-00000001", "issued", "23180362", "0"],
            ["c-welcome", "26000000", "taken", "prj-beta", "BM-00000002", "issued", "2819638", "0"],
        ])
        #expect(credits.first { $0["credit_id"] == "c-welcome" }.map { [$0["amount"]!, $0["reason"]!, $0["valid_from"]!, $0["expires_at"]!, $0["billing_account_id"]!] }
            == ["26000000", "Welcome credit", "2026-09-01T00:00:00Z", "2026-12-31T15:00:00Z", "acct-1"])
        // c-expired (expired when October began), c-goodwill (from November) and c-usd play no part.
        #expect(!credits.contains { ["c-expired", "c-goodwill", "c-usd"].contains($0["credit_id"]!) })
        // = the database: what each invoice took, and what each credit has left.
        for row in try db.execute("SELECT a.credit_id, i.project_id, a.amount::text FROM credit_applications a JOIN current_invoices i USING (invoice_id)").rows {
            #expect(credits.contains { $0["credit_id"] == row[0] && $0["invoice_project_id"] == row[1] && $0["movement_amount"] == row[2] }, "\(row)")
        }
        for row in try db.execute("SELECT credit_id, trim_scale(remaining)::text FROM credit_balances WHERE currency = 'KRW'").rows {
            let mine = credits.filter { $0["credit_id"] == row[0] }
            #expect(mine.allSatisfy { $0["balance_after"] == row[1] }, "\(row)")
        }

        let invoices = try db.execute(
            """
            SELECT project_id, list_subtotal::text, discount::text, subtotal::text, credits_applied::text, tax::text, total::text, invoice_id::text
            FROM current_invoices WHERE period = '2026-10' ORDER BY 1
            """).rows
        #expect(invoices.map { Array($0[0..<7]).map { $0! } } == [
            ["prj-alpha", "25395194", "2214832", "23180362", "23180362", "0", "0"],
            ["prj-beta", "5930175", "207556", "5722619", "3319638", "240298", "2643279"],
        ])
        let summary = csvDicts(read(dir + "/summary.csv"))
        let lines = csvDicts(read(dir + "/invoice_lines.csv"))
        let usage = csvDicts(read(dir + "/usage.csv"))
        for inv in invoices {
            let project = inv[0]!
            // summary.csv: each row's total = subtotal - credits_applied + vat; the rows add up to the invoice.
            let rows = summary.filter { $0["project_id"] == project }
            #expect(rows.allSatisfy { int($0["total"]) == int($0["subtotal"]) - int($0["credits_applied"]) + int($0["vat"]) })
            #expect(rows.allSatisfy { int($0["discount"]) == int($0["list_subtotal"]) - int($0["subtotal"]) && int($0["credits_applied"]) <= int($0["subtotal"]) })
            let sums = ["list_subtotal", "discount", "subtotal", "credits_applied", "vat", "total"].map { c in String(rows.reduce(0) { $0 + int($1[c]) }) }
            #expect(sums == Array(inv[1..<7]).map { $0! }, "\(project) summary.csv")

            // invoice_lines.csv = invoice_lines; Σ amount = subtotal, Σ list_amount = list_subtotal.
            let mine = lines.filter { $0["project_id"] == project }
            #expect(String(mine.reduce(0) { $0 + int($1["amount"]) }) == inv[3]! && String(mine.reduce(0) { $0 + int($1["list_amount"]) }) == inv[1]!)
            let stored = try db.execute(
                """
                SELECT line_no::text, coalesce(discount_id, ''), coalesce(discount_percent::text, ''), list_amount::text, trim_scale(capped_seconds)::text
                FROM invoice_lines WHERE invoice_id = $1::int8 ORDER BY line_no
                """, [inv[7]]).rows
            #expect(mine.map { [$0["line_no"]!, $0["discount_id"]!, $0["discount_percent"]!, $0["list_amount"]!, $0["capped_seconds"]!] }
                == stored.map { $0.map { $0! } }, "\(project) invoice_lines.csv")
            // usage.csv: per line, the charged rows' seconds rounded up once are its billable
            // seconds; the capped rows' seconds are its capped seconds, exactly.
            for l in mine {
                let rows = usage.filter { $0["project_id"] == project && $0["invoice_line"] == l["line_no"] && $0["billable"] == "true" }
                #expect(rows.allSatisfy { $0["discount_id"] == l["discount_id"] })
                let charged = rows.filter { $0["capped"] == "false" }.reduce(Decimal(0)) { $0 + Decimal(string: $1["seconds"]!)! }
                let capped = rows.filter { $0["capped"] == "true" }.reduce(Decimal(0)) { $0 + Decimal(string: $1["seconds"]!)! }
                var up = Decimal(), c = charged
                NSDecimalRound(&up, &c, 0, .up)
                #expect(up == Decimal(string: l["billable_seconds"]!)!, "line \(l)")
                #expect(capped == Decimal(string: l["capped_seconds"]!)!, "line \(l)")
            }

            // The invoice JSON = the database, credits included.
            let file = try json(dir + "/invoices/\(project).json")
            #expect(["list_subtotal", "discount", "subtotal", "credits_applied", "tax", "total"].map { file[$0] as? String } == Array(inv[1..<7]))
            #expect(file["tax_base"] as? String == String(int(inv[3]) - int(inv[4])))
            let apps = try db.execute("SELECT a.credit_id, a.amount::text, c.reason FROM credit_applications a JOIN credits c USING (credit_id) WHERE a.invoice_id = $1::int8",
                                      [inv[7]]).rows
            let fileCredits = (file["credits"] as! [[String: Any]]).map { [$0["credit_id"] as! String, $0["amount"] as! String, $0["reason"] as! String] }
            #expect(Set(fileCredits) == Set(apps.map { $0.map { $0! } }), "\(project) credits")
        }
        // The lines of the example README, in the invoice JSON.
        let beta = try json(dir + "/invoices/prj-beta.json")
        #expect((beta["credits"] as! [[String: Any]]).map { $0["credit_id"] as! String } == ["c-sla-beta", "c-welcome"])  // take order
        let alphaLines = (try json(dir + "/invoices/prj-alpha.json")["categories"] as! [[String: Any]]).flatMap { $0["lines"] as! [[String: Any]] }
        let a1 = alphaLines.first { $0["instance_id"] as? String == "i-a1" }!
        #expect([a1["billable_seconds"], a1["capped_seconds"], a1["capped_hours"], a1["amount"]] as? [String] == ["2160000", "324000", "90.00", "5925926"])
        let gpu = alphaLines.first { ($0["discount"] as? [String: Any])?["discount_id"] as? String == "d-acct1-gpu" }!
        #expect([gpu["list_amount"], gpu["amount"], gpu["discount_amount"]] as? [String] == ["10087358", "8574255", "1513103"])
        #expect((gpu["discount"] as! [String: Any])["percent"] as? String == "15.0000")

        // The manifest: pricing with balances before and after, every file's checksum, credits.csv included.
        let manifest = try json(dir + "/manifest.json")
        #expect((manifest["files"] as! [String: String])["credits.csv"] != nil)
        let pricing = (manifest["pricing"] as! [String: Any])["credits"] as! [[String: Any]]
        #expect(pricing.map { [$0["credit_id"], $0["balance_before"], $0["taken"], $0["balance_after"]] as! [String] } == [
            ["c-gamma", "200000", "0", "200000"], ["c-sla-beta", "500000", "500000", "0"], ["c-welcome", "26000000", "26000000", "0"],
        ])
        #expect((manifest["totals"] as! [String: String])["credits_applied"] == "26500000")

        // The exported revisions are the run's documents (only the run's settings differ).
        try t.run(["export", "--period", "2026-10", "--format", "invoices", "--out", out]).expectSuccess()
        for project in ["prj-alpha", "prj-beta"] {
            let exported = JSON.parse(read(dir + "/invoices/\(project).r0.json"))?.members ?? []
            let written = (JSON.parse(read(dir + "/invoices/\(project).json"))?.members ?? []).filter { $0.0 != "settings" }
            #expect(!exported.isEmpty && JSON.object(exported) == JSON.object(written), "\(project)")
        }
        try t.run(["export", "--period", "2026-10", "--format", "summary", "--out", out + "/export"]).expectSuccess()
        #expect(read(out + "/export/2026-10/summary.csv") == read(dir + "/summary.csv"))
    }

    @Test("pricing: a period with no pricing rows writes the files it wrote before pricing existed")
    func filesWithoutPricing() throws {
        // The headers and keys of 6885443, before pricing existed.
        let usage = ["period", "project_id", "project_name", "instance_id", "instance_name", "instance_type", "category", "image", "state",
                     "billable", "rate_effective_from", "hourly_rate", "currency", "seconds", "amount", "invoice_line", "usage_date"]
        let lines = ["period", "project_id", "invoice_id", "invoice_number", "status", "line_no", "instance_id", "instance_name",
                     "instance_type", "category", "image", "rate_effective_from", "hourly_rate", "currency", "metered_seconds",
                     "billable_seconds", "amount"]
        let summary = ["period", "billing_account_id", "project_id", "project_name", "category", "currency", "subtotal", "vat", "total",
                       "invoice_number", "invoice_status", "revision"]
        let invoice = ["invoice_id", "invoice_number", "status", "revision", "corrects_invoice_id", "difference", "issued_at", "run_id", "period",
                       "timezone", "period_utc", "billed_through", "project", "currency", "categories", "subtotal", "vat_rate", "tax", "total",
                       "settings", "fingerprint"]
        let line = ["line_no", "instance_id", "instance_name", "instance_type", "image", "rate_effective_from", "rate_effective_to", "hourly_rate",
                    "metered_seconds", "billable_seconds", "amount"]
        let manifest = ["manifest_version", "period", "timezone", "period_utc", "billed_through", "usage_by", "status", "input_watermark",
                        "settings", "counts", "totals", "anomalies", "rates_in_force", "invoices", "files"]
        func header(_ path: String) -> [String] { CSVReader.records(read(path)).first ?? [] }
        func keys(_ json: JSON?) -> [String] { json?.members?.map(\.0) ?? [] }

        for pricing in [false, true] {
            let t = try TestDatabase()
            let db = try t.connect()
            if pricing { try t.loadPricingExample(db) } else { try t.loadExample(db) }
            let out = tempDir()
            try t.run(Self.issued + ["--out", out]).expectSuccess()
            let dir = out + "/2026-10"
            let what = pricing ? "the pricing example" : "october-2026 without pricing rows"
            #expect(header(dir + "/usage.csv") == usage + (pricing ? ["discount_id", "capped"] : []), "\(what)")
            #expect(header(dir + "/invoice_lines.csv") == lines + (pricing ? ["discount_id", "discount_percent", "list_amount", "capped_seconds"] : []), "\(what)")
            #expect(header(dir + "/summary.csv") == summary + (pricing ? ["list_subtotal", "discount", "credits_applied"] : []), "\(what)")
            #expect(FileManager.default.fileExists(atPath: dir + "/credits.csv") == pricing, "\(what)")
            for project in ["prj-alpha", "prj-beta"] {
                let json = JSON.parse(read(dir + "/invoices/\(project).json"))
                var want = invoice
                if pricing {
                    want.insert(contentsOf: ["list_subtotal", "discount"], at: want.firstIndex(of: "subtotal")!)
                    want.insert(contentsOf: ["credits", "credits_applied", "tax_base"], at: want.firstIndex(of: "vat_rate")!)
                }
                #expect(keys(json) == want, "\(what): \(project).json")
                let all = json?["categories"]?.arrayValue?.flatMap { $0["lines"]?.arrayValue ?? [] } ?? []
                #expect(!all.isEmpty && all.allSatisfy {
                    keys($0) == line + (pricing ? ["list_amount", "discount", "discount_amount", "capped_seconds", "capped_hours"] : [])
                }, "\(what): \(project).json lines")
            }
            let m = JSON.parse(read(dir + "/manifest.json"))
            var want = manifest
            if pricing { want.insert("pricing", at: want.firstIndex(of: "invoices")!) }
            #expect(keys(m) == want, "\(what): manifest.json")
            #expect(keys(m?["totals"]) == (pricing ? ["currency", "list_subtotal", "discount", "subtotal", "credits_applied", "tax", "total"]
                                                   : ["currency", "subtotal", "tax", "total"]), "\(what): manifest totals")
            // billing_runs.totals as before too; billing_runs.pricing is kept (recompute reads it).
            #expect(try db.execute("SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(totals) k)::text FROM billing_runs ORDER BY run_id DESC LIMIT 1").scalar
                == (pricing ? "{credits_applied,currency,discount,list_subtotal,subtotal,tax,total}" : "{currency,subtotal,tax,total}"), "\(what)")
            // The exports made from the stored invoices.
            try t.run(["export", "--period", "2026-10", "--format", "focus", "--out", out]).expectSuccess()
            let focus = header(dir + "/focus.csv")
            #expect(focus.count == 44 + (pricing ? 4 : 0) && focus.contains("x_DiscountId") == pricing && focus.last == (pricing ? "x_CreditId" : "x_BillableSeconds"),
                    "\(what): focus.csv")
            try t.run(["export", "--period", "2026-10", "--format", "summary", "--out", out + "/export"]).expectSuccess()
            #expect(read(out + "/export/2026-10/summary.csv") == read(dir + "/summary.csv"), "\(what)")
            try t.run(["export", "--period", "2026-10", "--format", "invoices", "--out", out]).expectSuccess()
            for project in ["prj-alpha", "prj-beta"] {
                let exported = JSON.parse(read(dir + "/invoices/\(project).r0.json"))?.members ?? []
                let written = (JSON.parse(read(dir + "/invoices/\(project).json"))?.members ?? []).filter { $0.0 != "settings" }
                #expect(!exported.isEmpty && JSON.object(exported) == JSON.object(written), "\(what): \(project)")
            }
        }
    }

    @Test("pricing 4. The example's October draft: credits.csv shows what each draft would take and balances untouched; the draft JSON lists those credits")
    func octoberDraftFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        try t.run(Self.draft + ["--out", out]).expectSuccess()
        let credits = csvDicts(read(out + "/2026-10/credits.csv"))
        #expect(credits.map { [$0["credit_id"]!, $0["movement"]!, $0["invoice_project_id"]!, $0["invoice_status"]!, $0["movement_amount"]!, $0["balance_after"]!] } == [
            ["c-gamma", "none", "", "", "0", "200000"],
            ["c-sla-beta", "would take", "prj-beta", "draft", "500000", "500000"],
            ["c-welcome", "would take", "prj-alpha", "draft", "10465857", "26000000"],
            ["c-welcome", "would take", "prj-beta", "draft", "2926346", "26000000"],
        ])
        let alpha = try json(out + "/2026-10/invoices/prj-alpha.json")
        #expect(alpha["status"] as? String == "draft" && alpha["credits_applied"] as? String == "10465857" && alpha["total"] as? String == "0")
        #expect(try db.execute("SELECT string_agg(credit_id || '=' || trim_scale(remaining), ',' ORDER BY credit_id) FROM credit_balances WHERE currency = 'KRW'").scalar
            == "c-expired=1000000,c-gamma=200000,c-goodwill=1000000,c-sla-beta=500000,c-welcome=26000000")
    }

    @Test("pricing 4. A correction's credits.csv: what the superseded revision took is returned (its number, superseded), the correcting revision takes again (its number)")
    func correctionFiles() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        try t.run(Self.issued + ["--out", out]).expectSuccess()
        // i-a1 deleted on Oct 29 09:00Z, 66 h after it reached its cap: less capped time, the same 600 h charged; prj-alpha is corrected.
        try db.execute(RecomputeTests.lateChange)
        try t.run(["recompute", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", out]).expectSuccess()
        let number = try db.execute("SELECT invoice_number FROM current_invoices WHERE project_id = 'prj-alpha'").scalar!
        #expect(number == "BM-00000003")
        let credits = csvDicts(read(out + "/2026-10/credits.csv"))
        #expect(credits.map { [$0["credit_id"]!, $0["balance_before"]!, $0["movement"]!, $0["invoice_project_id"]!, $0["invoice_number"]!,
                               $0["invoice_status"]!, $0["movement_amount"]!, $0["balance_after"]!] } == [
            ["c-gamma", "200000", "none", "", "", "", "0", "200000"],
            // prj-beta's invoice is kept: what it took is shown as when it was issued (before: with its take).
            ["c-sla-beta", "500000", "taken", "prj-beta", "BM-00000002", "issued", "500000", "0"],
            ["c-welcome", "2819638", "returned", "prj-alpha", "BM-00000001", "superseded", "23180362", "0"],
            ["c-welcome", "2819638", "taken", "prj-alpha", "BM-00000003", "issued", "23180362", "0"],
            ["c-welcome", "2819638", "taken", "prj-beta", "BM-00000002", "issued", "2819638", "0"],
        ])
        let lines = csvDicts(read(out + "/2026-10/invoice_lines.csv")).filter { $0["instance_id"] == "i-a1" }
        #expect(lines.map { [$0["invoice_number"]!, $0["billable_seconds"]!, $0["capped_seconds"]!] } == [["BM-00000003", "2160000", "237600"]])
        let summary = csvDicts(read(out + "/2026-10/summary.csv")).filter { $0["project_id"] == "prj-alpha" }
        #expect(summary.allSatisfy { $0["invoice_number"] == "BM-00000003" && $0["revision"] == "1" && $0["total"] == "0" && $0["credits_applied"] == $0["subtotal"] })
    }

    @Test("pricing 4. The example's PDF invoices (draft, then issued) show a finance reader every figure of its README",
          .enabled(if: InvoiceDocumentTests.browserReady))
    func pdfShowsTheReadme() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let pdf = InvoiceDocumentTests()
        func text(_ out: String, _ project: String) throws -> String {
            try pdf.tool("/usr/bin/pdftotext", ["-layout", out + "/2026-10/invoices/\(project).pdf", "-"])
        }
        func expectAll(_ text: String, _ figures: [String], _ what: String) {
            for f in figures { #expect(text.contains(f), "\(what) PDF lacks \(f)") }
        }
        // The draft as of Oct 20: credits it would take, none taken.
        let drafts = tempDir()
        try t.run(Self.draft + ["--out", drafts]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "pdf", "--out", drafts]).expectSuccess()
        let draftAlpha = try text(drafts, "prj-alpha"), draftBeta = try text(drafts, "prj-beta")
        expectAll(draftAlpha, ["DRAFT", "c-welcome", "would take", "-₩10,465,857", "Credits this draft would take", "nothing is taken until it is issued"], "draft alpha")
        expectAll(draftBeta, ["c-sla-beta", "-₩500,000", "c-welcome", "-₩2,926,346", "-₩3,426,346", "would take"], "draft beta")

        let out = tempDir()
        try t.run(Self.issued + ["--out", out]).expectSuccess()
        try t.run(["export", "--period", "2026-10", "--format", "pdf", "--out", out]).expectSuccess()
        let alpha = try text(out, "prj-alpha"), beta = try text(out, "prj-beta")
        expectAll(alpha, [
            "BM-00000001",
            // i-a2: 13,020 s at 51,296/h; 420,180 s at 48,731.2/h; 207 h under d-acct1-gpu (15 %); 72 h under d-alpha-p2a (20 %).
            "13,020 s", "₩51,296", "₩185,521", "420,180 s", "₩48,731.2", "₩5,687,743",
            "207.00", "745,200 s", "₩10,087,358", "-₩1,513,103", "d-acct1-gpu · 15 %", "₩8,574,255",
            "72.00", "259,200 s", "₩3,508,646", "-₩701,729", "d-alpha-p2a · 20 %", "₩2,806,917",
            // i-a1: capped at 600 h; 90 h after the cap; 600 x 9,876.54321.
            "600.00", "2,160,000 s", "90.00", "324,000 s", "₩9,876.54321", "₩5,925,926", "Capped hours",
            // Totals: list, discounts, subtotal, c-welcome pays it all; tax 0, total 0.
            "₩25,395,194", "-₩2,214,832", "₩23,180,362", "c-welcome", "Welcome credit", "-₩23,180,362", "Tax base", "₩0",
        ], "alpha")
        expectAll(beta, [
            "BM-00000002",
            // i-b1: 900 s, list 4,249, charged 4,100; i-b2: 600 h charged, 38.5 h capped, list 5,925,926, charged 5,718,519; both d-beta-all 3.5 %.
            "900 s", "₩4,249", "₩4,100", "38.50", "138,600 s", "2,160,000 s", "₩5,925,926", "₩5,718,519", "d-beta-all · 3.5 %",
            // Subtotal 5,722,619; c-sla-beta 500,000 then 2,819,638 of c-welcome: credits 3,319,638; tax base 2,402,981; VAT 240,298; total 2,643,279.
            "₩5,930,175", "-₩207,556", "₩5,722,619", "c-sla-beta", "SLA credit for the Oct 18 rebuild", "-₩500,000", "c-welcome",
            "-₩2,819,638", "-₩3,319,638", "₩2,402,981", "₩240,298", "₩2,643,279",
        ], "beta")
        #expect(!alpha.contains("would take") && !beta.contains("would take"))
        // The figures on the PDF are the database's.
        let total = try db.execute("SELECT total FROM current_invoices WHERE project_id = 'prj-beta'").scalar!
        #expect(beta.contains("₩" + DisplayFormat.grouped(total)))
        let info = try pdf.tool("/usr/bin/pdfinfo", [out + "/2026-10/invoices/prj-beta.pdf"])
        #expect(info.contains("Pages:           1"), "\(info)")
    }
}
