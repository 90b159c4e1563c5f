import Foundation
import Testing

import BillingCore
@testable import Reports

/// pricing.md section 4, the files people read: an invoice with a discounted line, a
/// capped line and two credits, made by hand, in every file that shows it.
@Suite("Pricing in the report files")
struct PricingFilesTests {
    static let krw = Currency(code: "KRW")!
    static let zone = BillingTimeZone(identifier: "Asia/Seoul")!
    static let period = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: zone)
    static let hour: Int64 = 3_600_000_000

    static func rate(_ type: String, _ hourly: String) -> RateVersion {
        RateVersion(typeName: type, currency: "KRW", hourlyRate: ExactDecimal(parsing: hourly)!, effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!,
                    effectiveTo: nil)
    }

    static let gpuDiscount = Discount(id: "d-gpu", projectId: nil, billingAccountId: "acct-1", typeName: nil, category: "gpu",
                                      percent: ExactDecimal(parsing: "15.0000")!, effectiveFrom: Instant(iso8601: "2026-10-20T00:00:00Z")!,
                                      effectiveTo: nil, description: "Enterprise agreement: GPU servers 15% off")

    /// All of a line's time on the first day of the month.
    static func daily(_ micros: Int64) -> [Int64] { [micros] + [Int64](repeating: 0, count: period.days.count - 1) }

    /// Three lines: i-1 capped (600 h charged, 90 h capped), i-2 under a 15 % discount (207 h),
    /// i-3 at list price (900 s); with `credits`, 500,000 from c-sla and 2,000,000 from c-welcome.
    static func content(credits: Bool = true, pricing: Bool = true) -> InvoiceContent {
        let project = Project(id: "prj-a", name: "Alpha, Inc.", billingAccountId: "acct-1")
        var lines = [
            InvoiceLine(lineNumber: 1, instanceId: "i-1", instanceName: "db-primary", typeName: "r2a.baremetal", category: "memory_optimized",
                        image: "Ubuntu 22.04", rate: rate("r2a.baremetal", "9876.54321"), meteredMicroseconds: 690 * hour,
                        dailyMicroseconds: daily(600 * hour), stateMicroseconds: [StateTime(state: "active", microseconds: 690 * hour)],
                        billableSeconds: 2_160_000, amount: 5_925_926, cappedMicroseconds: 90 * hour, dailyCappedMicroseconds: daily(90 * hour)),
            InvoiceLine(lineNumber: 2, instanceId: "i-2", instanceName: "trainer", typeName: "p2a.baremetal", category: "gpu", image: "Ubuntu 22.04 (GPU)",
                        rate: rate("p2a.baremetal", "48731.2"), meteredMicroseconds: 207 * hour, dailyMicroseconds: daily(207 * hour),
                        stateMicroseconds: [StateTime(state: "active", microseconds: 207 * hour)], billableSeconds: 745_200, amount: 8_574_255,
                        listAmount: 10_087_358, discount: gpuDiscount),
            InvoiceLine(lineNumber: 3, instanceId: "i-3", instanceName: "inference", typeName: "p1i.baremetal", category: "gpu", image: "Rocky Linux 9",
                        rate: rate("p1i.baremetal", "16996"), meteredMicroseconds: 900_000_000, dailyMicroseconds: daily(900_000_000),
                        stateMicroseconds: [StateTime(state: "active", microseconds: 900_000_000)], billableSeconds: 900, amount: 4_249),
        ]
        if !pricing {
            // The same time at list price, nothing capped.
            lines[0] = InvoiceLine(lineNumber: 1, instanceId: "i-1", instanceName: "db-primary", typeName: "r2a.baremetal", category: "memory_optimized",
                                   image: "Ubuntu 22.04", rate: rate("r2a.baremetal", "9876.54321"), meteredMicroseconds: 600 * hour,
                                   dailyMicroseconds: daily(600 * hour), billableSeconds: 2_160_000, amount: 5_925_926)
            lines[1] = InvoiceLine(lineNumber: 2, instanceId: "i-2", instanceName: "trainer", typeName: "p2a.baremetal", category: "gpu",
                                   image: "Ubuntu 22.04 (GPU)", rate: rate("p2a.baremetal", "48731.2"), meteredMicroseconds: 207 * hour,
                                   dailyMicroseconds: daily(207 * hour), billableSeconds: 745_200, amount: 10_087_358)
        }
        let takes = credits ? [CreditTake(creditId: "c-sla", amount: 500_000, reason: "SLA credit"),
                               CreditTake(creditId: "c-welcome", amount: 2_000_000, reason: "Welcome credit")] : []
        return InvoiceContent(project: project, currency: krw, lines: lines, vatRate: ExactDecimal(parsing: "0.10")!, rounding: .halfUp, credits: takes)
    }

    static func document(_ c: InvoiceContent, draft: Bool = false) -> InvoiceDocument {
        let record = InvoiceRecord(invoiceId: 7, projectId: c.project.id, revision: 0, status: draft ? .draft : .issued,
                                   invoiceNumber: draft ? nil : "BM-00000007", runId: 3, issuedAt: draft ? nil : period.end, fingerprint: c.fingerprint)
        return InvoiceDocument(record: record, content: c, period: period, windowEnd: period.end, vatRate: ExactDecimal(parsing: "0.10")!,
                               granularity: .second, rounding: .halfUp)
    }

    @Test("pricing 4. The hand-made invoice's figures: list 16,017,533, discount 1,513,103, subtotal 14,504,430, credits 2,500,000, tax base 12,004,430, VAT 1,200,443, total 13,204,873")
    func figures() {
        let c = Self.content()
        #expect(c.listSubtotal == 16_017_533 && c.discount == 1_513_103 && c.subtotal == 14_504_430)
        #expect(c.creditsApplied == 2_500_000 && c.taxBase == 12_004_430 && c.tax == 1_200_443 && c.total == 13_204_873)
    }

    @Test("pricing 4. Invoice JSON: per line list amount, discount (id, percent, description), discount amount, exact capped seconds and capped hours; per invoice list subtotal, discount, subtotal, credits by id and reason, tax base, VAT, total")
    func invoiceJSON() throws {
        let json = try JSONSerialization.jsonObject(with: Data(PeriodFiles.documentJSON(Self.document(Self.content()), pricing: true).pretty.utf8)) as! [String: Any]
        let categories = json["categories"] as! [[String: Any]]
        let lines = categories.flatMap { $0["lines"] as! [[String: Any]] }
        #expect(lines.count == 3)
        let capped = lines[0], discounted = lines[1], plain = lines[2]
        // Existing fields keep their meaning: metered = charged + capped, amount = charged.
        #expect(capped["metered_seconds"] as? String == "2484000" && capped["billable_seconds"] as? String == "2160000")
        #expect(capped["amount"] as? String == "5925926" && capped["list_amount"] as? String == "5925926")
        #expect(capped["capped_seconds"] as? String == "324000" && capped["capped_hours"] as? String == "90.00")
        #expect(capped["discount"] is NSNull && capped["discount_amount"] as? String == "0")
        #expect(discounted["amount"] as? String == "8574255" && discounted["list_amount"] as? String == "10087358")
        #expect(discounted["discount_amount"] as? String == "1513103" && discounted["capped_seconds"] as? String == "0")
        let d = discounted["discount"] as! [String: Any]
        #expect(d["discount_id"] as? String == "d-gpu" && d["percent"] as? String == "15.0000")
        #expect(d["description"] as? String == "Enterprise agreement: GPU servers 15% off")
        #expect(plain["discount"] is NSNull && plain["list_amount"] as? String == "4249")
        #expect(categories.map { $0["subtotal"] as? String } == ["5925926", "8578504"])

        #expect(json["list_subtotal"] as? String == "16017533" && json["discount"] as? String == "1513103")
        #expect(json["subtotal"] as? String == "14504430" && json["credits_applied"] as? String == "2500000")
        #expect(json["tax_base"] as? String == "12004430" && json["vat_rate"] as? String == "0.10")
        #expect(json["tax"] as? String == "1200443" && json["total"] as? String == "13204873")
        let credits = json["credits"] as! [[String: Any]]
        #expect(credits.map { $0["credit_id"] as? String } == ["c-sla", "c-welcome"])
        #expect(credits.map { $0["reason"] as? String } == ["SLA credit", "Welcome credit"])
        #expect(credits.map { $0["amount"] as? String } == ["500000", "2000000"])
        // Σ lines = subtotal; subtotal - credits + tax = total, exactly.
        #expect(lines.reduce(0) { $0 + Int($1["amount"] as! String)! } == 14_504_430)
        #expect(lines.reduce(0) { $0 + Int($1["list_amount"] as! String)! } == 16_017_533)
    }

    @Test("pricing 4. Invoice JSON of an invoice without pricing in a period with pricing: list amount = amount, no discount, nothing capped, no credits, tax base = subtotal")
    func invoiceJSONWithoutPricing() throws {
        let c = Self.content(credits: false, pricing: false)
        let json = try JSONSerialization.jsonObject(with: Data(PeriodFiles.documentJSON(Self.document(c), pricing: true).pretty.utf8)) as! [String: Any]
        let lines = (json["categories"] as! [[String: Any]]).flatMap { $0["lines"] as! [[String: Any]] }
        #expect(lines.allSatisfy { $0["list_amount"] as? String == $0["amount"] as? String && $0["discount"] is NSNull && $0["capped_seconds"] as? String == "0" })
        #expect((json["credits"] as! [Any]).isEmpty && json["credits_applied"] as? String == "0" && json["discount"] as? String == "0")
        #expect(json["tax_base"] as? String == json["subtotal"] as? String && json["list_subtotal"] as? String == json["subtotal"] as? String)
    }

    @Test("pricing 4. summary.csv rows add up to the invoice with credits: credits split over the categories by subtotal, VAT by tax base, row total = subtotal - credits_applied + vat")
    func summaryWithCredits() {
        let c = Self.content()
        let record = Self.document(c).record
        let rows = CSVReader.dictionaries(PeriodFiles.summaryCSV(period: Self.period.month, invoices: [(c, record)], pricing: true))
        #expect(rows.count == 2)
        func sum(_ column: String) -> Int { rows.reduce(0) { $0 + Int($1[column]!)! } }
        #expect(sum("list_subtotal") == 16_017_533 && sum("discount") == 1_513_103 && sum("subtotal") == 14_504_430)
        #expect(sum("credits_applied") == 2_500_000 && sum("vat") == 1_200_443 && sum("total") == 13_204_873)
        for r in rows {
            let subtotal = Int(r["subtotal"]!)!, credits = Int(r["credits_applied"]!)!, vat = Int(r["vat"]!)!
            #expect(Int(r["total"]!)! == subtotal - credits + vat, "\(r)")
            #expect(Int(r["discount"]!)! == Int(r["list_subtotal"]!)! - subtotal)
            #expect(credits <= subtotal)
            // Each category's share of the credits is within one unit of its exact share.
            #expect(abs(credits * 14_504_430 - 2_500_000 * subtotal) < 14_504_430)
            #expect(r["invoice_number"] == "BM-00000007")
        }
        // By hand: 2,500,000 x 5,925,926 / 14,504,430 = 1,021,399.32; the unit left over goes
        // to gpu (remainder .68). VAT 1,200,443 over the tax bases 4,904,527 and 7,099,903:
        // 490,452.7 and 709,990.3, the unit left over to memory_optimized.
        #expect(rows.map { [$0["category"]!, $0["list_subtotal"]!, $0["discount"]!, $0["subtotal"]!, $0["credits_applied"]!, $0["vat"]!, $0["total"]!] } == [
            ["memory_optimized", "5925926", "0", "5925926", "1021399", "490453", "5394980"],
            ["gpu", "10091607", "1513103", "8578504", "1478601", "709990", "7809893"],
        ])
    }

    @Test("pricing 4. summary.csv without credits splits the VAT over the subtotals as it always did; credits_applied 0")
    func summaryWithoutCredits() {
        let c = Self.content(credits: false)
        let rows = CSVReader.dictionaries(PeriodFiles.summaryCSV(period: Self.period.month, invoices: [(c, nil)], pricing: c.hasPricing))
        #expect(rows.map { $0["vat"]! } == Allocation.proportional(c.tax, weights: c.categories.map(\.subtotal)).map { String($0) })
        #expect(rows.allSatisfy { $0["credits_applied"] == "0" && Int($0["total"]!)! == Int($0["subtotal"]!)! + Int($0["vat"]!)! })
        #expect(CSVReader.records(PeriodFiles.summaryCSV(period: Self.period.month, invoices: [], pricing: true))[0].suffix(3) == ["list_subtotal", "discount", "credits_applied"])
    }

    @Test("pricing 4. HTML invoice: list rate and amount, discount id, percent and amount, capped hours per line; list price, discounts, subtotal, each credit with its reason, credits applied, tax base, VAT, total")
    func html() throws {
        let html = try InvoiceHTML().render(Self.document(Self.content()))
        for text in ["List rate / h", "List amount", "Capped hours", "90.00", "324,000 s", "2,160,000 s", "600.00", "₩9,876.54321",
                     "₩10,087,358", "-₩1,513,103", "d-gpu · 15 %", "₩8,574,255", "₩4,249", "List price", "₩16,017,533", "Discounts",
                     "₩14,504,430", "Credit c-sla · SLA credit", "-₩500,000", "Credit c-welcome · Welcome credit", "-₩2,000,000", "Credits applied",
                     "-₩2,500,000", "Tax base", "₩12,004,430", "VAT 10 %", "₩1,200,443", "₩13,204,873",
                     "Enterprise agreement: GPU servers 15% off", "Capped hours are time after the server reached the monthly cap"] {
            #expect(html.contains(text), "HTML lacks \(text)")
        }
        #expect(!html.contains("would take") && !html.contains("<script"))
    }

    @Test("pricing 4. A draft's HTML says its credits are what it would take; nothing is taken until it is issued")
    func htmlDraft() throws {
        let html = try InvoiceHTML().render(Self.document(Self.content(), draft: true))
        #expect(html.contains("DRAFT (estimate to date)"))
        #expect(html.contains("Credit c-sla · SLA credit (would take)") && html.contains("Credit c-welcome · Welcome credit (would take)"))
        #expect(html.contains("Credits this draft would take") && html.contains("nothing is taken until it is issued"))
        #expect(!html.contains("Credits applied"))
    }

    @Test("pricing 4. An HTML invoice without pricing has no pricing columns or rows; one with credits only shows them below the lines")
    func htmlWithoutPricing() throws {
        let plain = try InvoiceHTML().render(Self.document(Self.content(credits: false, pricing: false)))
        for text in ["List", "Capped", "Discount", "Credit", "Tax base", "would take", "d-gpu"] {
            #expect(!plain.contains(text), "an invoice without pricing shows \(text)")
        }
        #expect(plain.contains("<th>Image</th>") && plain.contains("<th class=\"num\">Rate / h</th>") && plain.contains("colspan=\"7\""))
        let credited = try InvoiceHTML().render(Self.document(Self.content(credits: true, pricing: false)))
        #expect(!credited.contains("List amount") && !credited.contains("Capped hours") && credited.contains("<th>Image</th>"))
        #expect(credited.contains("Credit c-welcome · Welcome credit") && credited.contains("Tax base"))
    }

    @Test("pricing 4. credits.csv: one row per credit and movement (taken, would take, returned, none) with the invoice's number and status; balances before and after the run")
    func creditsCSV() {
        let p = Self.period
        func credit(_ id: String, _ amount: String, project: String? = nil, account: String = "acct-1", currency: String = "KRW",
                    expires: String? = nil) -> Credit {
            Credit(id: id, billingAccountId: account, projectId: project, currency: currency, amount: ExactDecimal(parsing: amount)!,
                   validFrom: Instant(iso8601: "2026-09-01T00:00:00Z")!, expiresAt: expires.map { Instant(iso8601: $0)! }, reason: "reason of \(id)")
        }
        let rows = [credit("c-welcome", "3000000"), credit("c-sla", "500000", project: "prj-b", expires: "2026-11-15T15:00:00Z"),
                    credit("c-other", "200000", account: "acct-2"), credit("c-usd", "100", currency: "USD")]
        var ledger = CreditLedger(credits: rows, applied: ["c-welcome": 1_000_000], currency: Self.krw, period: p)
        let vat = ExactDecimal(parsing: "0.10")!
        func invoice(_ project: String, _ amount: Int128) -> InvoiceContent {
            let line = InvoiceLine(lineNumber: 1, instanceId: "i-\(project)", instanceName: nil, typeName: "r2a.baremetal", category: "memory_optimized",
                                   image: "x", rate: Self.rate("r2a.baremetal", "3600"), meteredMicroseconds: 1, dailyMicroseconds: Self.daily(1),
                                   billableSeconds: 1, amount: amount)
            return InvoiceContent(project: Project(id: project, name: project, billingAccountId: "acct-1"), currency: Self.krw, lines: [line],
                                  vatRate: vat, rounding: .halfUp)
        }
        // prj-a's issued invoice BM-1 took 400,000 of c-welcome; its correction gives it back and takes 1,500,000.
        ledger.giveBack([CreditTake(creditId: "c-welcome", amount: 400_000)], projectId: "prj-a", invoiceNumber: "BM-00000001")
        let a = ledger.take(for: invoice("prj-a", 1_500_000), issuing: true)
        let b = ledger.take(for: invoice("prj-b", 2_000_000), issuing: true)
        #expect(a.creditsApplied == 1_500_000 && b.creditsApplied == 1_400_000)
        func record(_ project: String, _ number: String, revision: Int) -> InvoiceRecord {
            InvoiceRecord(invoiceId: Int64(revision + 10), projectId: project, revision: revision, status: .issued, invoiceNumber: number, runId: 2,
                          issuedAt: p.end, fingerprint: "")
        }
        let records = ["prj-a": record("prj-a", "BM-00000003", revision: 1), "prj-b": record("prj-b", "BM-00000002", revision: 0)]
        let text = PeriodFiles.creditsCSV(ledger, records: records)
        let csv = CSVReader.records(text)
        #expect(csv[0] == PeriodFiles.creditColumns)
        let got = csv.dropFirst().map { [$0[1], $0[9], $0[10], $0[11], $0[12], $0[13], $0[14], $0[15]] }
        // In take order (c-sla expires first; then by id); c-usd (another currency) plays no part.
        // c-welcome: 2,000,000 before (1,000,000 taken by earlier invoices), 400,000 given back by
        // the correction of BM-00000001, 1,500,000 taken by its revision, the 900,000 left by prj-b.
        #expect(got == [
            ["c-sla", "500000", "taken", "prj-b", "BM-00000002", "issued", "500000", "0"],
            ["c-other", "200000", "none", "", "", "", "0", "200000"],
            ["c-welcome", "2000000", "returned", "prj-a", "BM-00000001", "superseded", "400000", "0"],
            ["c-welcome", "2000000", "taken", "prj-a", "BM-00000003", "issued", "1500000", "0"],
            ["c-welcome", "2000000", "taken", "prj-b", "BM-00000002", "issued", "900000", "0"],
        ])
        // The credit's own fields; before - taken + returned = after, per credit.
        #expect(Array(csv[1][0...8]) == ["2026-10", "c-sla", "acct-1", "prj-b", "KRW", "reason of c-sla", "2026-09-01T00:00:00Z", "2026-11-15T15:00:00Z", "500000"])
        #expect(Array(csv[2][0...8]) == ["2026-10", "c-other", "acct-2", "", "KRW", "reason of c-other", "2026-09-01T00:00:00Z", "", "200000"])
        for id in ["c-sla", "c-welcome", "c-other"] {
            let mine = csv.dropFirst().filter { $0[1] == id }
            let moved = mine.reduce(0) { $0 + ($1[10] == "taken" ? -Int($1[14])! : $1[10] == "returned" ? Int($1[14])! : 0) }
            #expect(Int(mine[0][9])! + moved == Int(mine[0][15])!, "\(id)")
        }
        #expect(text.hasSuffix("\r\n") && !text.contains("c-usd"))

        // A draft's movements are what it would take: the balance after stays the balance before.
        var draft = CreditLedger(credits: rows, applied: [:], currency: Self.krw, period: p)
        _ = draft.take(for: invoice("prj-a", 1_000), issuing: false)
        let drafted = CSVReader.records(PeriodFiles.creditsCSV(draft, records: ["prj-a": InvoiceRecord(
            invoiceId: 1, projectId: "prj-a", revision: 0, status: .draft, invoiceNumber: nil, runId: 1, issuedAt: nil, fingerprint: "")]))
        #expect(drafted.dropFirst().map { [$0[1], $0[9], $0[10], $0[12], $0[13], $0[14], $0[15]] } == [
            ["c-sla", "500000", "none", "", "", "0", "500000"],
            ["c-other", "200000", "none", "", "", "0", "200000"],
            ["c-welcome", "3000000", "would take", "", "draft", "1000", "3000000"],
        ])
    }

    /// A month of one r2a server active for 700 h under a project discount of 10 % and a
    /// 600 h cap, with one credit of 1,000,000 for its account.
    static func pricedResult() -> BillingResult {
        let start = Instant(iso8601: "2020-01-01T00:00:00Z")!
        let catalog = BillingCatalog(
            projects: [Project(id: "prj-a", name: "Alpha", billingAccountId: "acct-1")], types: [InstanceType(name: "r2a.baremetal", category: "memory_optimized")],
            instances: [Instance(id: "i-1", projectId: "prj-a", typeName: "r2a.baremetal", image: "Ubuntu 22.04", name: "db", createdAt: Instant(seconds: 0))],
            rates: [RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "3600")!, effectiveFrom: start, effectiveTo: nil)],
            billableStates: .seed,
            discounts: [Discount(id: "d-a", projectId: "prj-a", billingAccountId: nil, typeName: nil, category: nil, percent: ExactDecimal(parsing: "10")!,
                                 effectiveFrom: start, effectiveTo: nil, description: "Alpha 10 %")],
            caps: [MonthlyCap(typeName: "r2a.baremetal", capHours: ExactDecimal(parsing: "600")!, effectiveFrom: start, effectiveTo: nil)],
            credits: [Credit(id: "c-1", billingAccountId: "acct-1", projectId: nil, currency: "KRW", amount: ExactDecimal(parsing: "1000000")!,
                             validFrom: start, expiresAt: nil, reason: "Welcome")])
        var engine = BillingEngine(period: period, asOf: period.end, settings: BillingSettings(), catalog: catalog)!
        let at = period.start.adding(microseconds: 1_000_000_000)
        engine.meter(instanceId: "i-1", changes: [
            StateChange(eventId: 1, state: "active", changedAt: at, recordedAt: at),
            StateChange(eventId: 2, state: "deleting", changedAt: at.adding(microseconds: 700 * hour + 500_000), recordedAt: at),
        ])
        let result = engine.finish()
        let ledger = CreditLedger(credits: result.creditRows, applied: [:], currency: krw, period: period)
        return InvoicePlanner.plan(result, stored: [:], correctIssued: false, credits: ledger).result
    }

    @Test("pricing 4. usage.csv rows carry discount_id and capped; invoice_lines.csv discount_id, discount_percent, list_amount, capped_seconds; both add up to the line")
    func usageAndLines() throws {
        let r = Self.pricedResult()
        let usage = CSVReader.dictionaries(UsageCSV.text(r))
        #expect(CSVReader.records(UsageCSV.text(r))[0].suffix(2) == ["discount_id", "capped"])
        #expect(CSVReader.records(UsageCSV.text(r))[0].prefix(15) == ["period", "project_id", "project_name", "instance_id", "instance_name", "instance_type",
                                                                      "category", "image", "state", "billable", "rate_effective_from", "hourly_rate",
                                                                      "currency", "seconds", "amount"])
        let billed = usage.filter { $0["billable"] == "true" }
        #expect(billed.count == 2 && billed.allSatisfy { $0["discount_id"] == "d-a" && $0["invoice_line"] == "1" })
        #expect(billed.filter { $0["capped"] == "true" }.map { $0["seconds"] } == ["360000.5"])
        #expect(billed.filter { $0["capped"] == "false" }.map { $0["seconds"] } == ["2160000"])
        #expect(usage.filter { $0["billable"] == "false" }.allSatisfy { $0["discount_id"] == "" && $0["capped"] == "false" })

        var text = ""
        #expect(r.hasPricing)
        PeriodFiles.invoiceLinesCSV(r, records: [:], pricing: r.hasPricing) { text += String(decoding: $0, as: UTF8.self) }
        let lines = CSVReader.dictionaries(text)
        #expect(CSVReader.records(text)[0].suffix(4) == ["discount_id", "discount_percent", "list_amount", "capped_seconds"])
        #expect(lines.count == 1)
        let l = lines[0]
        #expect([l["billable_seconds"], l["metered_seconds"], l["capped_seconds"]] == ["2160000", "2520000.5", "360000.5"])
        #expect([l["discount_id"], l["discount_percent"], l["list_amount"], l["amount"]] == ["d-a", "10.0000", "2160000", "1944000"])
        let invoice = r.invoices[0]
        #expect(invoice.creditsApplied == 1_000_000 && invoice.tax == 94_400 && invoice.total == 1_038_400)
    }

    @Test("pricing 4. The period's files: credits.csv when a credit plays a part, in the manifest's checksums; the manifest carries the pricing and the totals")
    func periodFiles() throws {
        let r = Self.pricedResult()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-pricing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/invoices", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let records = ["prj-a": InvoiceRecord(invoiceId: 1, projectId: "prj-a", revision: 0, status: .issued, invoiceNumber: "BM-00000001", runId: 1,
                                              issuedAt: Self.period.end, fingerprint: r.invoices[0].fingerprint)]
        let files = try PeriodFiles(result: r, records: records, usage: try UsageCSV.write(r, to: dir + "/usage.csv"))
        #expect(files.files.map(\.path) == ["usage.csv", "invoice_lines.csv", "anomalies.csv", "summary.csv", "credits.csv", "invoices/prj-a.json", "manifest.json"])
        let credits = CSVReader.dictionaries(read(dir + "/credits.csv"))
        #expect(credits.map { [$0["credit_id"]!, $0["balance_before"]!, $0["movement"]!, $0["invoice_number"]!, $0["movement_amount"]!, $0["balance_after"]!] }
            == [["c-1", "1000000", "taken", "BM-00000001", "1000000", "0"]])
        let manifest = try JSONSerialization.jsonObject(with: Data(read(dir + "/manifest.json").utf8)) as! [String: Any]
        let checksums = manifest["files"] as! [String: String]
        #expect(checksums["credits.csv"] == SHA256.hex(of: Array(read(dir + "/credits.csv").utf8)))
        let pricing = manifest["pricing"] as! [String: Any]
        #expect((pricing["discounts"] as! [[String: Any]]).map { $0["discount_id"] as? String } == ["d-a"])
        #expect((pricing["monthly_caps"] as! [[String: Any]]).map { $0["cap_hours"] as? String } == ["600"])
        #expect((pricing["credits"] as! [[String: Any]]).map { [$0["balance_before"] as? String, $0["taken"] as? String, $0["balance_after"] as? String] }
            == [["1000000", "1000000", "0"]])
        #expect(pricing["fingerprint"] is String)
        let totals = manifest["totals"] as! [String: String]
        #expect([totals["list_subtotal"], totals["discount"], totals["subtotal"], totals["credits_applied"], totals["tax"], totals["total"]]
            == ["2160000", "216000", "1944000", "1000000", "94400", "1038400"])
        // summary.csv and the invoice JSON agree with the invoice to the unit.
        let summary = CSVReader.dictionaries(read(dir + "/summary.csv"))
        #expect(summary.map { [$0["subtotal"]!, $0["credits_applied"]!, $0["vat"]!, $0["total"]!, $0["list_subtotal"]!, $0["discount"]!] }
            == [["1944000", "1000000", "94400", "1038400", "2160000", "216000"]])
        let invoice = try JSONSerialization.jsonObject(with: Data(read(dir + "/invoices/prj-a.json").utf8)) as! [String: Any]
        #expect([invoice["credits_applied"] as? String, invoice["tax_base"] as? String, invoice["total"] as? String] == ["1000000", "944000", "1038400"])
    }

    @Test("pricing 4. No credit plays a part: no credits.csv")
    func noCreditsFile() throws {
        let r = ReportsTests().sampleResult()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-pricing-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir + "/invoices", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try PeriodFiles(result: r, records: [:], usage: try UsageCSV.write(r, to: dir + "/usage.csv"))
        #expect(!files.files.contains { $0.path == "credits.csv" })
        #expect(!FileManager.default.fileExists(atPath: dir + "/credits.csv"))
    }
}

private func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
