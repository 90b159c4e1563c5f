import BillingCore
import Foundation
import PostgresClient
import Testing

/// Discounts, monthly caps and credits where people and machines read them (pricing.md
/// section 4): the FOCUS export, the run summary and the reasons of a recompute, on the
/// worked example `pricing-october-2026` (Tests/Fixtures/pricing-october-2026 holds its
/// three pricing tables, copied from ../shared/spec/examples/pricing-october-2026/).
@Suite("Pricing in exports, summaries and recompute", .enabled(if: TestDatabase.serverReachable))
struct PricingOutputTests {
    static let ended = ["--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z"]

    /// The example with its discounts, caps and credits, October issued (as of Dec 1).
    func issuedExample(json: Bool = false) throws -> (TestDatabase, PostgresConnection, String, CommandResult) {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        let r = try t.run(["run"] + Self.ended + ["--out", out] + (json ? ["--json"] : [])).expectSuccess()
        return (t, db, out, r)
    }

    func focus(_ t: TestDatabase, _ out: String) throws -> [[String: String]] {
        try t.run(["export", "--period", "2026-10", "--format", "focus", "--out", out]).expectSuccess()
        return csvDicts(read(out + "/2026-10/focus.csv"))
    }

    /// Σ of a decimal column, exactly, in units of 10^-scale.
    func sum(_ rows: [[String: String]], _ column: String, scale: Int = 2) -> Int128 {
        rows.reduce(0) { total, row in
            guard let text = row[column], let v = ExactDecimal(parsing: text)?.rescaled(to: scale) else {
                Issue.record("\(column) is not a decimal: \(row[column] ?? "nil")")
                return total
            }
            return total + v
        }
    }

    func minor(_ text: String?) -> Int128 { text.flatMap { ExactDecimal(parsing: $0)?.rescaled(to: 2) } ?? -1 }

    @Test("pricing 4. FOCUS: Σ BilledCost per InvoiceId = total with credits; list vs contracted; capped hours in ConsumedQuantity only (October issued)")
    func focusOfTheIssuedExample() throws {
        let (t, db, out, _) = try issuedExample()
        let rows = try focus(t, out)
        let invoices = try db.execute(
            "SELECT invoice_number, list_subtotal::text, subtotal::text, credits_applied::text, tax::text, total::text FROM invoices ORDER BY 1").rows
        #expect(invoices.map { $0[0]! } == ["BM-00000001", "BM-00000002"])
        for inv in invoices {
            let mine = rows.filter { $0["InvoiceId"] == inv[0] }
            let usage = mine.filter { $0["ChargeCategory"] == "Usage" }
            #expect(sum(mine, "BilledCost") == minor(inv[5]), "\(inv[0]!): Σ BilledCost = total")
            #expect(sum(usage, "ListCost") == minor(inv[1]), "\(inv[0]!): Σ ListCost = list subtotal")
            #expect(sum(usage, "BilledCost") == minor(inv[2]) && sum(usage, "ContractedCost") == minor(inv[2]) && sum(usage, "EffectiveCost") == minor(inv[2]))
            #expect(sum(mine.filter { $0["ChargeCategory"] == "Credit" }, "BilledCost") == -minor(inv[3]), "\(inv[0]!): Credit rows = -credits applied")
            #expect(sum(mine.filter { $0["ChargeCategory"] == "Tax" }, "BilledCost") == minor(inv[4]))
        }
        // Alpha is paid in full by c-welcome: its rows add up to 0.
        #expect(sum(rows.filter { $0["InvoiceId"] == "BM-00000001" }, "BilledCost") == 0)
        // Each credit an invoice took: its Credit rows add up to the credit application.
        for app in try db.execute(
            "SELECT i.invoice_number, a.credit_id, a.amount::text FROM credit_applications a JOIN invoices i USING (invoice_id)").rows {
            let mine = rows.filter { $0["InvoiceId"] == app[0] && $0["x_CreditId"] == app[1] }
            #expect(!mine.isEmpty && mine.allSatisfy { $0["ChargeCategory"] == "Credit" && $0["EffectiveCost"] == $0["BilledCost"] })
            #expect(sum(mine, "BilledCost") == -minor(app[2]), "\(app[1]!)")
        }
        #expect(Set(rows.compactMap { $0["x_CreditId"].flatMap { $0.isEmpty ? nil : $0 } }) == ["c-welcome", "c-sla-beta"])
        // Caps: i-a1 is charged 600 h of its 690; i-b2 600 h of 638.5.
        for (instance, charged, consumed) in [("i-a1", 600_000_000_000, 690_000_000_000), ("i-b2", 600_000_000_000, 638_500_000_000)] {
            let mine = rows.filter { $0["ResourceId"] == instance }
            #expect(sum(mine, "PricingQuantity", scale: 9) == Int128(charged), "\(instance)")
            #expect(sum(mine, "ConsumedQuantity", scale: 9) == Int128(consumed), "\(instance)")
        }
        // After the cap (Oct 26 15:00Z), i-a1's days are consumed but not priced.
        let late = rows.filter { $0["ResourceId"] == "i-a1" && $0["ChargePeriodStart"] == "2026-10-27T15:00:00Z" }
        #expect(late.count == 1 && late[0]["PricingQuantity"] == "0.000000000" && late[0]["ConsumedQuantity"] == "24.000000000" && late[0]["BilledCost"] == "0.00")
        // Discounts: list price vs contracted (after the discount).
        let gpu = rows.filter { $0["ResourceId"] == "i-a2" && $0["x_DiscountId"] == "d-acct1-gpu" }
        #expect(!gpu.isEmpty && gpu.allSatisfy { $0["ListUnitPrice"] == "48731.200000" && $0["ContractedUnitPrice"] == "41421.520000" })
        #expect(sum(gpu, "ListCost") == 1_008_735_800 && sum(gpu, "BilledCost") == 857_425_500)
        let beta = rows.filter { $0["ResourceId"] == "i-b1" }
        #expect(beta.count == 1 && beta[0]["ListCost"] == "4249.00" && beta[0]["BilledCost"] == "4100.00" && beta[0]["ContractedUnitPrice"] == "16401.140000")
        // VAT rows are on the tax base 5,722,619 - 3,319,638 = 2,402,981.
        #expect(rows.filter { $0["ChargeCategory"] == "Tax" }.allSatisfy {
            $0["InvoiceId"] == "BM-00000002" && $0["ChargeDescription"]!.contains("tax base 2402981 KRW")
        })
    }

    @Test("pricing 4. FOCUS: with discounts, caps, credits and a correction the FinOps validator passes every mandatory rule",
          .enabled(if: ProcessInfo.processInfo.environment["BMBILL_FOCUS_VALIDATE"] != nil))
    func focusValidator() throws {
        let (t, db, out, _) = try issuedExample()
        try db.execute("UPDATE discounts SET percent = 5 WHERE discount_id = 'd-beta-all'")
        try db.execute("UPDATE monthly_caps SET cap_hours = 650 WHERE type_name = 'r2a.baremetal'")
        try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        let rows = try focus(t, out)
        #expect(rows.contains { $0["ChargeCategory"] == "Credit" && $0["ChargeClass"] == "Correction" })
        for inv in try db.execute("SELECT invoice_number, total::text, coalesce(difference::text, '') FROM invoices").rows {
            #expect(sum(rows.filter { $0["InvoiceId"] == inv[0] }, "BilledCost") == minor(inv[2]!.isEmpty ? inv[1] : inv[2]), "\(inv[0]!)")
        }
        try expectFocusValid(out + "/2026-10/focus.csv")
    }

    @Test("pricing 4. recompute after a discount's percent changed says \"discount changed\" and issues a correction")
    func discountChanged() throws {
        let (t, db, out, _) = try issuedExample()
        try db.execute("UPDATE discounts SET percent = 5 WHERE discount_id = 'd-beta-all'")
        let r = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(r.stdout.contains("why: discount changed: d-beta-all 3.5000 % -> 5.0000 %"), "\(r.stdout)")
        #expect(r.stdout.contains("prj-beta BM-00000002 (revision 0): issued 2,643,279"))
        #expect(r.stdout.contains("-> correcting revision 1, BM-00000003"))
        #expect(r.stdout.contains("changed i-b2 at rate from 2020-01-01T00:00:00Z under d-beta-all: 2160000 s 5,718,519 -> 2160000 s 5,629,630"))
        // Alpha's time is not priced by d-beta-all: its invoice stands, and no reason names it.
        #expect(!r.stdout.contains("prj-alpha BM-00000001 (revision 0)"))
        #expect(try db.execute("SELECT string_agg(project_id || ':' || revision || ':' || coalesce(invoice_number, ''), ',' ORDER BY project_id) FROM current_invoices").scalar
            == "prj-alpha:0:BM-00000001,prj-beta:1:BM-00000003")
        // Charged 4,037 + 5,629,630 = 5,633,667; the credits given back and taken again (3,319,638):
        // tax base 2,314,029, VAT 231,402.9 -> 231,403, total 2,545,432.
        #expect(try db.execute("SELECT subtotal, credits_applied, tax, total FROM current_invoices WHERE project_id = 'prj-beta'").rows
            == [["5633667", "3319638", "231403", "2545432"]])
    }

    @Test("pricing 4. recompute after a cap changed says \"cap changed\" and issues corrections; a run recorded before pricing had none")
    func capChanged() throws {
        let (t, db, out, _) = try issuedExample()
        try db.execute("UPDATE monthly_caps SET cap_hours = 650 WHERE type_name = 'r2a.baremetal'")
        let dry = try t.run(["recompute"] + Self.ended + ["--out", out, "--dry-run", "--json"]).expectSuccess()
        let changes = JSON.parse(dry.stdout)?["periods"]?.arrayValue?.first?["changes"]?.arrayValue ?? []
        #expect(changes.count == 2)
        for ch in changes {
            #expect(ch["reasons"]?.arrayValue == [.string("cap changed: r2a.baremetal 600 h -> 650 h")], "\(ch.compact)")
        }
        // The run that issued October was recorded before pricing existed: no discounts, no caps.
        try db.execute("UPDATE billing_runs SET pricing = NULL")
        let before = try t.run(["recompute"] + Self.ended + ["--out", out, "--dry-run"]).expectSuccess()
        #expect(before.stdout.contains("why: cap changed: r2a.baremetal none -> 650 h"))
        #expect(before.stdout.contains("why: discount changed: d-beta-all added, 3.5000 % (prj-beta, all types, from 2020-01-01T00:00:00Z to open)"))
        #expect(before.stdout.contains("why: discount changed: d-acct1-gpu added, 15.0000 % (acct-1, category gpu, from 2026-10-20T00:00:00Z to open)"))

        let r = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(r.stdout.contains("-> correcting revision 1, BM-00000003") && r.stdout.contains("-> correcting revision 1, BM-00000004"))
        // i-a1: 650 h charged now: 2,340,000 s x 9,876.54321 / 3,600 = 6,419,753.09 -> 6,419,753.
        #expect(try db.execute(
            "SELECT billable_seconds, capped_seconds::int8, amount FROM invoice_lines JOIN current_invoices USING (invoice_id) WHERE instance_id = 'i-a1'"
        ).rows == [["2340000", "144000", "6419753"]])
        // The correcting run records its pricing: a recompute now finds nothing to correct.
        let again = try t.run(["recompute"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(again.stdout.contains("no issued invoice changes"))
    }

    @Test("pricing 4. The run summary shows list, discount, credits and the tax base; --json carries them and the run's pricing")
    func summary() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadPricingExample(db)
        let out = tempDir()
        let draft = try t.run(["run", "--period", "2026-10", "--as-of", "2026-10-20T00:00:00Z", "--out", out]).expectSuccess()
        #expect(draft.stdout.contains("  pricing             list  discount    subtotal     credits  tax base\n"), "\(draft.stdout)")
        #expect(draft.stdout.contains("  prj-beta       3,550,617   124,271   3,426,346   3,426,346         0\n"))
        #expect(draft.stdout.contains("  credits: prj-beta would take 500,000 from c-sla-beta, 2,926,346 from c-welcome\n"))
        let issued = try t.run(["run"] + Self.ended + ["--out", out]).expectSuccess()
        #expect(issued.stdout.contains("  prj-beta       5,930,175    207,556   5,722,619   3,319,638  2,402,981\n"), "\(issued.stdout)")
        #expect(issued.stdout.contains("  all projects  31,325,369  2,422,388  28,902,981  26,500,000  2,402,981\n"))
        #expect(issued.stdout.contains("  credits: prj-alpha took 23,180,362 from c-welcome\n"))
        // The tables (lines starting with two spaces and a project or header) stay within 80 columns.
        for line in (draft.stdout + issued.stdout).split(separator: "\n") where line.hasPrefix("  p") || line.hasPrefix("  all") || line.hasPrefix("  credits") {
            #expect(line.count <= 80, "\(line.count) columns: \(line)")
        }

        // An unchanged re-run: the kept invoices show the credits they took.
        let json = try t.run(["run"] + Self.ended + ["--out", out, "--json"]).expectSuccess()
        guard let period = JSON.parse(json.stdout)?["periods"]?.arrayValue?.first else {
            Issue.record("no JSON: \(json.stdout)")
            return
        }
        let beta = period["invoices"]?.arrayValue?.first { $0["project_id"]?.stringValue == "prj-beta" }
        #expect(beta?["list_subtotal"] == "5930175" && beta?["discount"] == "207556" && beta?["subtotal"] == "5722619")
        #expect(beta?["credits_applied"] == "3319638" && beta?["tax_base"] == "2402981" && beta?["tax"] == "240298" && beta?["total"] == "2643279")
        #expect(beta?["credits"] == [
            ["credit_id": "c-sla-beta", "amount": "500000", "reason": "SLA credit for the Oct 18 rebuild"],
            ["credit_id": "c-welcome", "amount": "2819638", "reason": "Welcome credit"],
        ])
        let pricing = period["pricing"]
        #expect(pricing?["discounts"]?.arrayValue?.compactMap { $0["discount_id"]?.stringValue } == ["d-acct1-gpu", "d-alpha-p2a", "d-beta-all"])
        #expect(pricing?["monthly_caps"]?.arrayValue?.compactMap { $0["type_name"]?.stringValue } == ["r2a.baremetal"])
        #expect(pricing?["fingerprint"]?.stringValue?.count == 64)
        let stored = try db.execute("SELECT pricing->>'fingerprint' FROM billing_runs ORDER BY run_id DESC LIMIT 1").scalar
        #expect(pricing?["fingerprint"]?.stringValue == stored)
        #expect(period["totals"]?["credits_applied"] == "26500000")
    }

    @Test("pricing 4. A period without pricing prints its summary as before: no pricing table, no credits line; --json without pricing's keys")
    func summaryWithoutPricing() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let r = try t.run(["run"] + Self.ended + ["--out", tempDir()]).expectSuccess()
        #expect(r.stdout.contains("  project       invoice      status    subtotal        vat   total KRW\n"))
        #expect(r.stdout.contains("  all projects                       32,594,506  3,259,450  35,853,956\n  anomalies: duplicate instant (warning): 1\n"))
        #expect(!r.stdout.contains("  pricing ") && !r.stdout.contains("credits:"))
        let json = try t.run(["run"] + Self.ended + ["--out", tempDir(), "--json"]).expectSuccess()
        let period = JSON.parse(json.stdout)?["periods"]?.arrayValue?.first
        // The keys --json printed before pricing existed, and no other.
        #expect(period?.members?.map(\.0) == ["period", "run_id", "kind", "dry_run", "status", "as_of", "window_utc", "input_watermark", "settings",
                                               "counts", "totals", "anomalies", "invoices", "late_changes", "changes", "differ_from_issued", "directory"])
        #expect(period?["totals"]?.members?.map(\.0) == ["currency", "subtotal", "tax", "total"])
        #expect(period?["invoices"]?.arrayValue?.allSatisfy {
            $0.members?.map(\.0) == ["project_id", "invoice_id", "invoice_number", "status", "revision", "subtotal", "tax", "total"]
        } == true)
    }
}
