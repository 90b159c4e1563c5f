import BillingCore
import Reports
import Testing

/// The FOCUS export of invoices with discounts, monthly caps and credits (pricing.md
/// section 4), from hand-made invoice documents: every figure below is worked by hand.
@Suite("pricing 4. FOCUS export with discounts, caps and credits")
struct FocusPricingTests {
    static let zone = BillingTimeZone(identifier: "Asia/Seoul")!
    static let period = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: zone)
    static let days = period.days.count
    static let hour: Int64 = 3_600_000_000
    static let vat = ExactDecimal(parsing: "0.10")!

    /// 3,600 KRW/h: one won a second, so amounts are easy to check by hand.
    static let r2a = RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "3600")!,
                                 effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!, effectiveTo: nil)
    static let p1i = RateVersion(typeName: "p1i.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "16996")!,
                                 effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!, effectiveTo: nil)

    static func discount(_ id: String, _ percent: String, project: String) -> Discount {
        Discount(id: id, projectId: project, billingAccountId: nil, typeName: nil, category: nil, percent: ExactDecimal(parsing: percent)!,
                 effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!, effectiveTo: nil)
    }

    /// Microseconds per day of October from `[day index: microseconds]`.
    static func daily(_ parts: [Int: Int64]) -> [Int64] {
        (0..<days).map { parts[$0] ?? 0 }
    }

    static func line(_ n: Int, _ instance: String, _ rate: RateVersion, charged: [Int: Int64], capped: [Int: Int64] = [:], amount: Int128,
                     list: Int128? = nil, discount: Discount? = nil) -> InvoiceLine {
        let chargedMicros = charged.values.reduce(0, +), cappedMicros = capped.values.reduce(0, +)
        return InvoiceLine(lineNumber: n, instanceId: instance, instanceName: instance + "-name", typeName: rate.typeName,
                           category: rate.typeName == "p1i.baremetal" ? "gpu" : "memory_optimized", image: "Ubuntu 22.04", rate: rate,
                           meteredMicroseconds: chargedMicros + cappedMicros, dailyMicroseconds: daily(charged),
                           billableSeconds: (chargedMicros + 999_999) / 1_000_000, amount: amount, listAmount: list, discount: discount,
                           cappedMicroseconds: cappedMicros, dailyCappedMicroseconds: cappedMicros == 0 ? [] : daily(capped))
    }

    static func document(_ id: Int64, _ project: String, _ lines: [InvoiceLine], credits: [CreditTake] = [], status: InvoiceStatus = .issued,
                         revision: Int = 0, corrects: InvoiceDocument? = nil) -> InvoiceDocument {
        let content = InvoiceContent(project: Project(id: project, name: project.uppercased(), billingAccountId: "acct-1"), currency: .krw,
                                     lines: lines, vatRate: vat, rounding: .halfUp, credits: credits)
        var record = InvoiceRecord(invoiceId: id, projectId: project, revision: revision, status: status, invoiceNumber: "BM-\(id)", runId: 1,
                                   issuedAt: period.end, fingerprint: content.fingerprint)
        if let corrects {
            record.correctsInvoiceId = corrects.record.invoiceId
            record.difference = content.total - corrects.content.total
        }
        return InvoiceDocument(record: record, content: content, period: period, windowEnd: period.end, vatRate: vat, granularity: .second,
                               rounding: .halfUp)
    }

    /// BM-1, discounted: 20 h of r2a at 10 % off (list 72,000, charged 64,800) and 900 s of
    /// p1i at list price (4,249): subtotal 69,049, VAT 6,904.9 -> 6,905, total 75,954.
    static let discounted = document(1, "prj-disc", [
        line(1, "i-d1", r2a, charged: [0: 10 * hour, 1: 10 * hour], amount: 64_800, list: 72_000, discount: discount("d-ten", "10", project: "prj-disc")),
        line(2, "i-d2", p1i, charged: [2: 900_000_000], amount: 4_249),
    ])

    /// BM-2, capped: i-c1 charged 24 h (20 h on day 0, 4 h on day 1) then capped 44 h (20 h
    /// on day 1, 24 h on day 2): 86,400. i-c2 entirely capped, 5 h on day 2: 0. VAT 8,640.
    static let capped = document(2, "prj-cap", [
        line(1, "i-c1", r2a, charged: [0: 20 * hour, 1: 4 * hour], capped: [1: 20 * hour, 2: 24 * hour], amount: 86_400),
        line(2, "i-c2", r2a, charged: [:], capped: [2: 5 * hour], amount: 0),
    ])

    /// BM-3, credited: 30 h (10 h on each of days 0-2): 108,000; credits c-a 50,000 and
    /// c-b 20,001: tax base 37,999, VAT 3,799.9 -> 3,800, total 41,799.
    static let credited = document(3, "prj-credit", [line(1, "i-k1", r2a, charged: [0: 10 * hour, 1: 10 * hour, 2: 10 * hour], amount: 108_000)],
                                   credits: [CreditTake(creditId: "c-a", amount: 50_000, reason: "Welcome"), CreditTake(creditId: "c-b", amount: 20_001)],
                                   status: .superseded)

    /// BM-4 corrects BM-3: now 20 % off (charged 86,400) and only c-a pays (c-b given back):
    /// tax base 36,400, VAT 3,640, total 40,040; difference 40,040 - 41,799 = -1,759.
    static let correction = document(4, "prj-credit", [
        line(1, "i-k1", r2a, charged: [0: 10 * hour, 1: 10 * hour, 2: 10 * hour], amount: 86_400, list: 108_000,
             discount: discount("d-twenty", "20", project: "prj-credit")),
    ], credits: [CreditTake(creditId: "c-a", amount: 50_000, reason: "Welcome")], revision: 1, corrects: credited)

    /// BM-5, paid in full by three credits of 1 won over a line of 1 s and 2 s on two days:
    /// a day's credits never exceed its charges, whatever the rounding.
    static let paidInFull = document(5, "prj-full", [line(1, "i-f1", r2a, charged: [0: 1_000_000, 1: 2_000_000], amount: 3)],
                                     credits: ["c-1", "c-2", "c-3"].map { CreditTake(creditId: $0, amount: 1) })

    static let all = [discounted, capped, credited, correction, paidInFull]

    func rows(_ docs: [InvoiceDocument] = FocusPricingTests.all) -> [[String: String]] {
        CSVReader.dictionaries(FocusExport().csv(docs))
    }

    /// A money or quantity column in minor units (money: two decimals) or nanohours.
    func units(_ text: String?, scale: Int) -> Int128 {
        guard let text, let d = ExactDecimal(parsing: text), let v = d.rescaled(to: scale) else {
            Issue.record("not a decimal: \(text ?? "nil")")
            return 0
        }
        return v
    }

    func sum(_ rows: [[String: String]], _ column: String, scale: Int = 2) -> Int128 { rows.reduce(0) { $0 + units($1[column], scale: scale) } }

    @Test("pricing 4. FOCUS: Σ BilledCost per InvoiceId = total with credits (a correction's difference)")
    func billedCostAddsUpToTheTotal() {
        let rows = rows()
        for doc in Self.all {
            let mine = rows.filter { $0["InvoiceId"] == doc.record.invoiceNumber }
            let want = doc.record.difference ?? doc.content.total
            #expect(sum(mine, "BilledCost") == want * 100, "\(doc.record.invoiceNumber!)")
        }
        #expect(Self.discounted.content.total == 75_954 && Self.capped.content.total == 95_040 && Self.credited.content.total == 41_799)
        #expect(Self.correction.record.difference == -1_759 && Self.paidInFull.content.total == 0)
    }

    @Test("pricing 4. FOCUS: ListUnitPrice/ListCost at list price; ContractedUnitPrice/ContractedCost, BilledCost and EffectiveCost after the discount")
    func listAndContracted() {
        let usage = rows([Self.discounted]).filter { $0["ChargeCategory"] == "Usage" }
        let discounted = usage.filter { $0["ResourceId"] == "i-d1" }
        #expect(discounted.count == 2)
        for r in discounted {
            #expect(r["ListUnitPrice"] == "3600.000000" && r["ContractedUnitPrice"] == "3240.000000")
            #expect(r["ListCost"] == "36000.00" && r["BilledCost"] == "32400.00")
            #expect(r["ContractedCost"] == r["BilledCost"] && r["EffectiveCost"] == r["BilledCost"])
            #expect(r["PricingQuantity"] == "10.000000000" && r["ConsumedQuantity"] == "10.000000000")
            #expect(r["x_DiscountId"] == "d-ten" && r["x_DiscountPercent"] == "10.0000" && r["ChargeDescription"]!.contains("less 10.0000 % (discount d-ten)"))
        }
        let list = usage.filter { $0["ResourceId"] == "i-d2" }
        #expect(list.count == 1 && list[0]["ListCost"] == "4249.00" && list[0]["BilledCost"] == "4249.00")
        #expect(list[0]["ContractedUnitPrice"] == "16996.000000" && list[0]["x_DiscountId"] == "")
        // Σ ListCost is the list subtotal, Σ BilledCost of usage the subtotal.
        #expect(sum(usage, "ListCost") == Self.discounted.content.listSubtotal * 100 && sum(usage, "BilledCost") == 69_049 * 100)
        // An exact contracted price: 9,876.54321 x 0.965 = 9,530.86419765.
        let odd = RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "9876.54321")!,
                              effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!, effectiveTo: nil)
        let beta = Self.document(9, "prj-beta", [Self.line(1, "i-b2", odd, charged: [0: Self.hour], amount: 9_531, list: 9_877,
                                                           discount: Self.discount("d-beta-all", "3.5", project: "prj-beta"))])
        #expect(rows([beta]).first { $0["ChargeCategory"] == "Usage" }?["ContractedUnitPrice"] == "9530.86419765")
    }

    @Test("pricing 4. FOCUS: capped hours count in ConsumedQuantity, not in PricingQuantity; a fully capped line is 0 at its hours")
    func cappedHours() {
        let usage = rows([Self.capped]).filter { $0["ChargeCategory"] == "Usage" }
        let c1 = usage.filter { $0["ResourceId"] == "i-c1" }.sorted { $0["ChargePeriodStart"]! < $1["ChargePeriodStart"]! }
        #expect(c1.map { $0["PricingQuantity"]! } == ["20.000000000", "4.000000000", "0.000000000"])
        #expect(c1.map { $0["ConsumedQuantity"]! } == ["20.000000000", "24.000000000", "24.000000000"])
        #expect(c1.map { $0["BilledCost"]! } == ["72000.00", "14400.00", "0.00"])
        #expect(c1.map { $0["x_CappedHours"]! } == ["", "20.000000000", "24.000000000"])
        #expect(c1[2]["ChargeDescription"]!.contains("24.000000000 h after the monthly cap not charged"))
        // i-c2: every hour capped: PricingQuantity 0, cost 0, ConsumedQuantity its 5 hours.
        let c2 = usage.filter { $0["ResourceId"] == "i-c2" }
        #expect(c2.count == 1)
        #expect(c2[0]["PricingQuantity"] == "0.000000000" && c2[0]["ConsumedQuantity"] == "5.000000000")
        #expect(["BilledCost", "ListCost", "ContractedCost", "EffectiveCost"].allSatisfy { c2[0][$0] == "0.00" })
        #expect(sum(usage, "PricingQuantity", scale: 9) == 24 * 1_000_000_000)
        #expect(sum(usage, "ConsumedQuantity", scale: 9) == (24 + 44 + 5) * 1_000_000_000)
    }

    @Test("pricing 4. FOCUS: each credit an invoice took is a Credit row with negative BilledCost; EffectiveCost matches it; tax rows are on the tax base")
    func creditRows() {
        let rows = rows([Self.credited.withStatus(.issued)])
        let credits = rows.filter { $0["ChargeCategory"] == "Credit" }
        #expect(!credits.isEmpty)
        for r in credits {
            #expect(r["BilledCost"]!.hasPrefix("-"))
            // FOCUS: a credit relates to no other charge's price, so every cost is the billed cost.
            #expect(r["EffectiveCost"] == r["BilledCost"] && r["ListCost"] == r["BilledCost"] && r["ContractedCost"] == r["BilledCost"])
            #expect(r["ChargeClass"] == "" && r["ConsumedQuantity"] == "" && r["PricingQuantity"] == "" && r["ListUnitPrice"] == "")
            #expect(r["SkuId"] == "" && r["ResourceId"] == "" && r["PricingCategory"] == "" && r["ChargeFrequency"] == "One-Time")
        }
        #expect(sum(credits.filter { $0["x_CreditId"] == "c-a" }, "BilledCost") == -50_000 * 100)
        #expect(sum(credits.filter { $0["x_CreditId"] == "c-b" }, "BilledCost") == -20_001 * 100)
        #expect(credits.contains { $0["ChargeDescription"] == "Credit c-a (Welcome) on invoice BM-3" })
        // The credits pay the three days in proportion to their charges (36,000 each): 70,001
        // is 23,333 a day and 2 left over, one each to the first two days.
        let perDay = Dictionary(grouping: credits, by: { $0["ChargePeriodStart"]! }).sorted { $0.key < $1.key }.map { sum($0.value, "BilledCost") }
        #expect(perDay == [-2_333_400, -2_333_400, -2_333_300])
        // VAT on the tax base 108,000 - 70,001 = 37,999: 3,800.
        let tax = rows.filter { $0["ChargeCategory"] == "Tax" }
        #expect(sum(tax, "BilledCost") == 3_800 * 100)
        #expect(tax.allSatisfy { $0["ChargeDescription"]!.contains("tax base 37999 KRW") })
    }

    @Test("pricing 4. FOCUS: a correction's Credit rows give back and take again by credit and day; Σ is its difference")
    func correctionCredits() {
        let rows = rows([Self.credited, Self.correction])
        let mine = rows.filter { $0["InvoiceId"] == "BM-4" }
        #expect(mine.allSatisfy { $0["ChargeClass"] == "Correction" })
        // c-b is given back whole. c-a still pays 50,000, split 16,667 / 16,667 / 16,666 over
        // the three days before and after, so it has no correction row.
        #expect(sum(mine.filter { $0["x_CreditId"] == "c-b" }, "BilledCost") == 20_001 * 100)
        #expect(mine.filter { $0["x_CreditId"] == "c-a" }.isEmpty)
        let adjustments = mine.filter { $0["ChargeCategory"] == "Adjustment" }
        #expect(sum(adjustments, "BilledCost") == (86_400 - 108_000) * 100 && sum(adjustments, "ListCost") == 0)
        #expect(sum(mine.filter { $0["ChargeCategory"] == "Tax" }, "BilledCost") == (3_640 - 3_800) * 100)
        #expect(sum(mine, "BilledCost") == -1_759 * 100)
    }

    @Test("pricing 4. FOCUS: credits split over days exactly, never more on a day than its charges", arguments: [1, 2, 3, 7])
    func creditsNeverExceedADay(takes: Int) {
        // Charges of 1, 2, 0 and 5 won on four days (8 in all), paid in full by `takes` credits.
        let amounts: [Int128] = (0..<takes).map { k in Int128(8 / takes + (k < 8 % takes ? 1 : 0)) }
        let doc = Self.document(6, "prj-x", [Self.line(1, "i-x", Self.r2a, charged: [0: 1_000_000, 1: 2_000_000, 3: 5_000_000], amount: 8)],
                                credits: amounts.enumerated().map { CreditTake(creditId: "c-\($0.offset)", amount: $0.element) })
        let rows = rows([doc])
        #expect(sum(rows, "BilledCost") == 0)
        for (day, dayRows) in Dictionary(grouping: rows, by: { $0["ChargePeriodStart"]! }) {
            let charges = sum(dayRows.filter { $0["ChargeCategory"] == "Usage" }, "BilledCost")
            let credits = sum(dayRows.filter { $0["ChargeCategory"] == "Credit" }, "BilledCost")
            #expect(-credits <= charges && credits <= 0, "\(day)")
        }
        for (k, amount) in amounts.enumerated() {
            #expect(sum(rows.filter { $0["x_CreditId"] == "c-\(k)" }, "BilledCost") == -amount * 100)
        }
    }

    @Test("pricing 4. FOCUS: an invoice without pricing exports as before (no Credit rows, list = contracted = billed, no pricing columns)")
    func noPricingAsBefore() {
        let plain = Self.document(7, "prj-plain", [Self.line(1, "i-p", Self.r2a, charged: [4: 2 * Self.hour], amount: 7_200)])
        let rows = rows([plain])
        #expect(rows.map { $0["ChargeCategory"]! } == ["Usage", "Tax"])
        #expect(rows[0]["ListCost"] == "7200.00" && rows[0]["ContractedCost"] == "7200.00" && rows[0]["ContractedUnitPrice"] == "3600.000000")
        #expect(rows[1]["BilledCost"] == "720.00" && rows[1]["ChargeDescription"] == "VAT 0.10 on invoice BM-7")
        #expect(CSVReader.records(FocusExport().csv([plain]))[0] == FocusExport.columns)
        // Beside an invoice with pricing, the same invoice has the pricing columns, empty.
        let mixed = self.rows([plain, Self.discounted])
        #expect(mixed.filter { $0["InvoiceId"] == "BM-7" }.allSatisfy { $0["x_DiscountId"] == "" && $0["x_CappedHours"] == "" && $0["x_CreditId"] == "" })
    }
}

extension InvoiceDocument {
    /// The same document with another status (an original export needs no superseding revision).
    func withStatus(_ status: InvoiceStatus) -> InvoiceDocument {
        let r = record
        let record = InvoiceRecord(invoiceId: r.invoiceId, projectId: r.projectId, revision: r.revision, status: status,
                                   invoiceNumber: r.invoiceNumber, runId: r.runId, issuedAt: r.issuedAt, fingerprint: r.fingerprint)
        return InvoiceDocument(record: record, content: content, period: period, windowEnd: windowEnd, vatRate: vatRate, granularity: granularity,
                               rounding: rounding)
    }
}
