import BillingCore
import Testing

/// billing-rules.md sections 2 and 3: prices and money.
@Suite("2-3. Prices and money")
struct PricingRulesTests {
    @Test("2. A rate change inside a period splits the instance's usage at the boundary: one line per rate version")
    func rateChangeSplitsLines() {
        var w = World()
        w.rates = [rate("p2a.baremetal", "51296", to: "2026-10-15T03:17:00Z"), rate("p2a.baremetal", "48731.2", from: "2026-10-15T03:17:00Z")]
        w.instance("i-1", type: "p2a.baremetal")
        w.change("i-1", "active", at: "2026-10-14T23:40:00.25Z")
        let lines = w.bill().invoice("prj-a")!.lines
        #expect(lines.count == 2)
        #expect(lines[0].meteredMicroseconds == 13_019_750_000)
        #expect(lines[0].billableSeconds == 13_020)
        #expect(lines[0].amount == 185_521)
        #expect(lines[1].rate.effectiveFrom == t("2026-10-15T03:17:00Z"))
        #expect(lines[1].billableSeconds == 1_424_580)
        #expect(lines[1].amount == 19_283_748)
    }

    @Test("2. Billable time with no rate in force is an error, never billed at 0")
    func missingRateIsError() {
        var w = World()
        w.rates = [rate("r2a.baremetal", "3600", from: "2026-10-20T00:00:00Z")]
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-19T00:00:00Z")
        let r = w.bill()
        let a = r.anomalies(.missingRate)
        #expect(a.count == 1)
        #expect(a[0].severity == .error)
        let unpriced: Int64? = a.first?.microseconds
        #expect(unpriced == 86_400_000_000)
        #expect(r.invoice("prj-a")!.lines.allSatisfy { $0.amount > 0 })
        #expect(r.isIssuable == false)
    }

    @Test("2. Rates in another currency play no part in the run")
    func otherCurrencyIgnored() {
        var w = World()
        w.rates = [rate("r2a.baremetal", "2.5", currency: "USD")]
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        #expect(w.bill().anomalies(.missingRate).count == 1)
        w.settings.currency = Currency(code: "USD")!
        let r = w.bill()
        #expect(r.anomalies(.missingRate).isEmpty)
        #expect(r.invoice("prj-a")!.lines[0].amount == 250)  // 1 h x 2.50 USD = 250 cents
    }

    @Test("2. Overlapping rate versions and negative rates are errors")
    func badRateRows() {
        var w = World()
        w.rates = [rate("r2a.baremetal", "100"), rate("r2a.baremetal", "200", from: "2026-10-10T00:00:00Z"), rate("p1i.baremetal", "-5")]
        #expect(w.bill().anomalies(.overlappingRates).count == 1)
        #expect(w.bill().anomalies(.invalidRate).count == 1)
    }

    @Test("Engines that metered disjoint instances combine by absorb: one engine's result, run-wide problems listed once")
    func enginesCombine() {
        var w = World()
        w.rates += [rate("r2a.baremetal", "200", from: "2026-10-10T00:00:00Z")]  // overlaps: a problem of the whole run
        for id in ["i-1", "i-2", "i-3"] {
            w.instance(id, project: id == "i-3" ? "prj-b" : "prj-a")
            w.change(id, "active", at: "2026-10-31T10:00:00Z")
        }
        w.change("i-2", "active", at: "2026-10-31T10:00:00Z")  // a duplicate instant: a problem of i-2 alone
        let one = w.bill()
        func engine(_ ids: [String]) -> BillingEngine {
            var e = BillingEngine(period: october, asOf: t("2026-12-01T00:00:00Z"), settings: w.settings, catalog: w.catalog)!
            for id in ids { e.meter(instanceId: id, changes: w.changes[id]!) }
            return e
        }
        var combined = engine(["i-2"])
        combined.absorb(engine(["i-1", "i-3"]).partial)
        let two = combined.finish()
        #expect(one.anomalies(.overlappingRates).count == 1 && one.anomalies(.duplicateInstant).count == 1)
        #expect(two.anomalies == one.anomalies)
        #expect(two.invoices == one.invoices)
        #expect(two.counts == one.counts)
    }

    @Test("2. Invoices group lines by category: memory-optimized, then GPU")
    func groupedByCategory() {
        var w = World()
        w.instance("i-gpu", type: "p1i.baremetal")
        w.instance("i-mem", type: "r2a.baremetal")
        w.instance("a-gpu", type: "p2a.baremetal")
        for id in ["i-gpu", "i-mem", "a-gpu"] { w.change(id, "active", at: "2026-10-31T14:00:00Z") }
        let inv = w.bill().invoice("prj-a")!
        #expect(inv.lines.map(\.instanceId) == ["i-mem", "a-gpu", "i-gpu"])
        #expect(inv.lines.map(\.lineNumber) == [1, 2, 3])
        #expect(inv.categories.map(\.category) == ["memory_optimized", "gpu"])
        #expect(inv.categories.map(\.subtotal).reduce(0, +) == inv.subtotal)
        #expect(inv.categories.map { $0.lines.map(\.instanceId) } == [["i-mem"], ["a-gpu", "i-gpu"]])
        // Lines of one category in two places (not as the engine writes them) are brought together, in the order of the first.
        let mixed = InvoiceContent(project: inv.project, currency: inv.currency, lines: [inv.lines[1], inv.lines[0], inv.lines[2]], vatRate: BillingSettings().vatRate,
                                   rounding: .halfUp)
        #expect(mixed.categories.map(\.category) == ["gpu", "memory_optimized"])
        #expect(mixed.categories.map { $0.lines.map(\.instanceId) } == [["a-gpu", "i-gpu"], ["i-mem"]])
        #expect(mixed.categories.map(\.subtotal) == [inv.lines[1].amount + inv.lines[2].amount, inv.lines[0].amount])
    }

    @Test("3. Rounding modes", arguments: [
        (RoundingMode.halfUp, Int64(25), Int64(10), Int64(3)), (.halfUp, 24, 10, 2), (.halfUp, -25, 10, -3),
        (.halfEven, 25, 10, 2), (.halfEven, 35, 10, 4), (.halfEven, 26, 10, 3), (.halfEven, -25, 10, -2),
        (.floor, 29, 10, 2), (.floor, -21, 10, -3), (.floor, 20, 10, 2),
    ])
    func roundingModes(mode: RoundingMode, numerator: Int64, denominator: Int64, expected: Int64) {
        // (Arguments are Int64: Swift Testing cannot yet describe Int128 arguments on Linux.)
        #expect(mode.divide(Int128(numerator), by: Int128(denominator)) == Int128(expected))
    }

    @Test("3. Line amount = billable seconds x hourly rate / 3600, rounded once to the minor unit", arguments: [
        (RoundingMode.halfUp, Int64(185_521)), (.halfEven, 185_521), (.floor, 185_520),
    ])
    func lineAmount(mode: RoundingMode, expected: Int64) {
        let r = rate("p2a.baremetal", "51296")
        #expect(Pricing.lineAmount(billableSeconds: 13_020, rate: r, currency: .krw, rounding: mode) == Int128(expected))
    }

    @Test("3. Minor units follow ISO 4217: KRW has none, USD two")
    func minorUnits() {
        let r = rate("x", "1.005")
        #expect(Pricing.lineAmount(billableSeconds: 3600, rate: r, currency: .krw, rounding: .halfUp) == 1)
        #expect(Pricing.lineAmount(billableSeconds: 3600, rate: r, currency: Currency(code: "USD")!, rounding: .halfUp) == 101)
        #expect(Pricing.lineAmount(billableSeconds: 3600, rate: r, currency: Currency(code: "USD")!, rounding: .halfEven) == 100)
        #expect(Currency(code: "XYZ") == nil)
    }

    @Test("3. VAT = subtotal x rate, rounded the same way; total = subtotal + VAT")
    func vat() {
        #expect(Pricing.tax(onSubtotal: 26_284_084, vatRate: ExactDecimal(parsing: "0.10")!, rounding: .halfUp) == 2_628_408)
        #expect(Pricing.tax(onSubtotal: 15, vatRate: ExactDecimal(parsing: "0.1")!, rounding: .halfUp) == 2)
        #expect(Pricing.tax(onSubtotal: 15, vatRate: ExactDecimal(parsing: "0.1")!, rounding: .halfEven) == 2)
        #expect(Pricing.tax(onSubtotal: 25, vatRate: ExactDecimal(parsing: "0.1")!, rounding: .halfEven) == 2)
        #expect(Pricing.tax(onSubtotal: 19, vatRate: ExactDecimal(parsing: "0.1")!, rounding: .floor) == 1)
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        let inv = w.bill().invoice("prj-a")!
        #expect(inv.subtotal == 3600)
        #expect(inv.tax == 360)
        #expect(inv.total == inv.subtotal + inv.tax)
    }

    @Test("3. A full month at the highest rate cannot overflow")
    func noOverflow() {
        // numeric(20,6)'s largest value, for the longest month (31 days + a DST hour).
        let highest = rate("x", "99999999999999.999999")
        let seconds: Int64 = (31 * 24 + 1) * 3600
        let amount = Pricing.lineAmount(billableSeconds: seconds, rate: highest, currency: Currency(code: "KWD")!, rounding: .halfUp)
        #expect(amount == 74_499_999_999_999_999_999)  // 745 h x (10^14 - 10^-6) KWD in fils, rounded
        let tax = Pricing.tax(onSubtotal: amount * 1_000_000, vatRate: ExactDecimal(parsing: "1")!, rounding: .halfUp)
        #expect(tax == amount * 1_000_000)  // even a million such lines on one invoice fit
        #expect(Pricing.meteredAmountMicros(microseconds: seconds * 1_000_000, rate: highest) > 0)
    }

    @Test("3. Decimal parsing is strict: no '12abc', no exponent, no blanks")
    func strictDecimals() {
        #expect(ExactDecimal(parsing: "9876.543210")?.rescaled(to: 6) == 9_876_543_210)
        for bad in ["12abc", "1e5", "", ".", "1.2.3", " 1", "--1", "0x10"] { #expect(ExactDecimal(parsing: bad) == nil) }
        #expect(ExactDecimal(parsing: "1.0000001")?.rescaled(to: 6) == nil)
    }
}

@Suite("2. Rate problems are reported for the periods they touch")
struct RateProblemScopeTests {
    @Test("2. A bad rate version of another year does not hold up this month")
    func outsideWindow() {
        var w = World()
        w.rates += [rate("p1i.baremetal", "-5", from: "2019-01-01T00:00:00Z", to: "2019-06-01T00:00:00Z")]
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        #expect(w.bill().anomalies(.invalidRate).isEmpty)
        #expect(w.bill().isIssuable)
        let y2019 = BillingPeriod(month: YearMonth(year: 2019, month: 3)!, zone: seoul)
        #expect(w.bill(y2019, asOf: "2020-01-01T00:00:00Z").anomalies(.invalidRate).count == 1)
    }
}

@Suite("Daily split")
struct DailySplitTests {
    @Test("An amount split over days adds up exactly; the largest remainders get the odd units")
    func allocation() {
        #expect(Allocation.proportional(10, weights: [1, 1, 1] as [Int64]) == [4, 3, 3])
        #expect(Allocation.proportional(-10, weights: [1, 1, 1] as [Int64]) == [-4, -3, -3])
        #expect(Allocation.proportional(7, weights: [0, 0] as [Int64]) == [7, 0])
        #expect(Allocation.proportional(100, weights: [1, 2, 7] as [Int64]) == [10, 20, 70])
    }

    @Test("A split whose amount times a weight passes Int128 (the largest rates, a three-digit currency) is exact, not a crash")
    func allocationBeyondInt128() {
        // VAT of a month at the largest numeric(20,6) rate in BHD, split by daily charges of that size.
        let tax: Int128 = 7_450_000_000_000_000_000_000_000
        let weights: [Int128] = [240_000_000_000_000_000_000_000, 240_000_000_000_000_000_000_001, 10_000_000_000_000_000_000_000]
        let parts = Allocation.proportional(tax, weights: weights)
        #expect(parts.reduce(0, +) == tax)
        #expect(parts == [3_648_979_591_836_734_693_877_543, 3_648_979_591_836_734_693_877_559, 152_040_816_326_530_612_244_898])  // rounded down, the 2 units left to the largest remainders
        #expect(Allocation.proportional(-tax, weights: weights) == parts.map { -$0 })
    }

    @Test("A line's days add up to its metered time and its amount; VAT's days to the VAT")
    func dailyLines() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T10:00:00.5Z")
        w.change("i-1", "deleting", at: "2026-10-13T02:00:00Z")
        let r = w.bill()
        let inv = r.invoice("prj-a")!
        let line = inv.lines[0]
        #expect(line.dailyMicroseconds.count == r.days.count)
        #expect(line.dailyMicroseconds.reduce(0, +) == line.meteredMicroseconds)
        #expect(line.dailyAmounts.reduce(0, +) == line.amount)
        #expect(inv.dailyTax.reduce(0, +) == inv.tax)
        // 10 Oct 10:00Z is 19:00 KST: the first Seoul day holds 5 h less half a second.
        let firstDay = r.days.firstIndex { $0.date == CivilDate(year: 2026, month: 10, day: 10) }!
        #expect(line.dailyMicroseconds[firstDay] == 5 * 3_600_000_000 - 500_000)
    }

    @Test("Usage split by day keeps every microsecond of the monthly rows")
    func usageByDay() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T10:00:00Z")
        w.change("i-1", "stopped", at: "2026-10-20T10:00:00Z")
        let monthly = w.bill()
        var engine = BillingEngine(period: october, asOf: t("2026-12-01T00:00:00Z"), settings: w.settings, catalog: w.catalog)!
        engine.splitUsageByDay = true
        engine.meter(instanceId: "i-1", changes: w.changes["i-1"]!)
        let daily = engine.finish()
        for state in ["active", "stopped"] {
            let m = monthly.usage.filter { $0.state == state }.reduce(Int64(0)) { $0 + $1.microseconds }
            let d = daily.usage.filter { $0.state == state }.reduce(Int64(0)) { $0 + $1.microseconds }
            #expect(m == d)
        }
        #expect(daily.usage.allSatisfy { $0.day != nil })
        #expect(Set(daily.usage.map { $0.day! }).count == 22)  // Oct 10 (19:00 KST) .. Oct 31
    }
}
