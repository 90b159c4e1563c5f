import BillingCore
import PropertyBased
import Testing

/// The spend forecast (docs/forecast-and-budgets.md): a month-to-date draft's invoice of the
/// whole month if every instance stays in the state it is in at `as_of`. Rates are 3,600 KRW
/// an hour (1 KRW a second) unless said, so amounts read as seconds.
@Suite("Forecast: where the month ends if nothing changes")
struct ForecastRulesTests {
    /// October 2026 in Seoul: [09-30T15:00Z, 10-31T15:00Z). As of Oct 16 00:00 KST.
    static let asOf = "2026-10-15T15:00:00Z"
    static let hoursToEnd: Int64 = 16 * 24  // Oct 16 00:00 KST to Nov 1 00:00 KST

    /// Plans `r` as a run would (no stored invoices), with `credits`.
    static func planned(_ r: BillingResult, credits: [Credit] = []) -> BillingResult {
        InvoicePlanner.plan(r, stored: [:], correctIssued: false, credits: CreditLedger(credits: credits, applied: [:], currency: .krw, period: r.period)).result
    }

    static func forecast(_ w: World, asOf: String = Self.asOf, project: String = "prj-a") -> InvoiceForecast? {
        planned(w.bill(asOf: asOf), credits: w.credits).invoice(project)?.forecast
    }

    /// The same world billed after the month's end: what the forecast must equal when nothing changes.
    static func monthEnd(_ w: World, project: String = "prj-a") -> InvoiceContent? {
        planned(w.bill(asOf: "2026-12-01T00:00:00Z"), credits: w.credits).invoice(project)
    }

    @Test("forecast: with no change after as_of, the forecast equals the invoice the month gets when billed after its end")
    func equalsMonthEnd() {
        var w = World()
        w.instance("i-1")
        w.instance("i-2", type: "p2a.baremetal")
        w.change("i-1", "active", at: "2026-09-20T00:00:00Z")
        w.change("i-1", "stopped", at: "2026-10-03T04:05:06Z")
        w.change("i-1", "active", at: "2026-10-09T00:00:00Z")
        w.change("i-2", "spawning", at: "2026-10-10T10:00:00Z")
        w.change("i-2", "active", at: "2026-10-10T10:20:00Z")
        let draft = Self.planned(w.bill(asOf: Self.asOf)).invoice("prj-a")!
        let f = draft.forecast!
        let end = Self.monthEnd(w)!
        #expect(f.subtotal == end.subtotal && f.tax == end.tax && f.total == end.total)
        #expect(f.through == october.end)
        #expect(f.total > draft.total)
    }

    @Test("forecast: the equality holds on random months, rates, discounts, caps, credits and as_of instants", .timeLimit(.minutes(2)))
    func equalsMonthEndProperty() async {
        let gen = zip(Gen.int(in: 0...400_000).array(of: 1...12), Gen.int(in: 0...7).array(of: 12...12), Gen.int(in: 1...30))
        await propertyCheck(count: 120, input: gen, Gen.int(in: 0...15)) { (input: ([Int], [Int], Int), knobs: Int) in
            let (steps, states, day) = input
            let asOf = october.start.adding(microseconds: Int64(day) * 86_400_000_000 + 12_345_678)
            var w = World()
            w.instance("i-1")
            w.instance("i-2", type: "p2a.baremetal", created: "2026-01-01T00:00:00Z")
            var at = october.start.adding(microseconds: -86_400_000_000)
            for (n, step) in steps.enumerated() {
                at = at.adding(microseconds: Int64(step) * 5_000_003)
                guard at <= asOf else { break }  // nothing changes after as_of
                w.change(n % 2 == 0 ? "i-1" : "i-2", MeteringPropertyTests.states[states[n] % MeteringPropertyTests.states.count], at: at.iso8601)
            }
            // Some knobs: a rate change, a discount and a cap after as_of; a credit.
            if knobs & 1 != 0 {
                w.rates = [rate("r2a.baremetal", "3600", to: "2026-10-25T00:00:00Z"), rate("r2a.baremetal", "4000.5", from: "2026-10-25T00:00:00Z"),
                           rate("p2a.baremetal", "51296")]
            }
            if knobs & 2 != 0 { w.discounts = [discount("d-late", "12.5", project: "prj-a", from: "2026-10-20T03:00:00Z")] }
            if knobs & 4 != 0 { w.caps = [cap("p2a.baremetal", "300")] }
            if knobs & 8 != 0 { w.credits = [credit("c-1", "2000000")] }
            let forecast = Self.planned(w.bill(asOf: asOf.iso8601), credits: w.credits).invoice("prj-a")?.forecast
            let end = Self.monthEnd(w)
            #expect(forecast?.subtotal ?? 0 == end?.subtotal ?? 0)
            #expect(forecast?.creditsApplied ?? 0 == end?.creditsApplied ?? 0)
            #expect(forecast?.total ?? 0 == end?.total ?? 0)
        }
    }

    @Test("forecast: a rate change that starts after as_of is in the forecast")
    func laterRateChange() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.rates = [rate("r2a.baremetal", "3600", to: "2026-10-20T15:00:00Z"), rate("r2a.baremetal", "7200", from: "2026-10-20T15:00:00Z")]
        let f = Self.forecast(w)!
        // Oct 1-20 at 3,600 (20 days), Oct 21-31 at 7,200 (11 days), all as 1 or 2 KRW a second.
        #expect(f.subtotal == 20 * 86_400 + 11 * 86_400 * 2)
        #expect(f.tax == f.subtotal / 10 && f.total == f.subtotal + f.tax)
    }

    @Test("forecast: a discount that starts after as_of is in the forecast")
    func laterDiscount() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.discounts = [discount("d-nov", "50", project: "prj-a", from: "2026-10-25T15:00:00Z")]
        let f = Self.forecast(w)!
        // 25 days at list price, 6 days at half.
        #expect(f.subtotal == 25 * 86_400 + 6 * 86_400 / 2)
        #expect(Self.planned(w.bill(asOf: Self.asOf)).invoice("prj-a")!.subtotal == 15 * 86_400)
    }

    @Test("forecast: an instance stopped at as_of is forecast in its stopped (billed) state; one in error at zero")
    func stateAtAsOf() {
        var w = World()
        w.instance("i-stopped")
        w.instance("i-error", project: "prj-b")
        w.change("i-stopped", "active", at: "2026-09-01T00:00:00Z")
        w.change("i-stopped", "stopped", at: "2026-10-10T15:00:00Z")
        w.change("i-error", "active", at: "2026-09-01T00:00:00Z")
        w.change("i-error", "error", at: "2026-10-10T15:00:00Z")
        let r = Self.planned(w.bill(asOf: Self.asOf))
        // Stopped is billed: the whole month. Error is not: the 10 days before it only.
        #expect(r.invoice("prj-a")!.forecast!.subtotal == 31 * 86_400)
        #expect(r.invoice("prj-b")!.forecast!.subtotal == 10 * 86_400)
        #expect(r.invoice("prj-b")!.forecast!.subtotal == r.invoice("prj-b")!.subtotal)
    }

    @Test("forecast: a monthly cap cuts the forecast where the instance reaches it")
    func capCuts() {
        var w = World()
        w.instance("i-1", type: "p2a.baremetal")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.caps = [cap("p2a.baremetal", "500")]
        let f = Self.forecast(w)!
        // 744 h metered, 500 charged at 51,296 an hour.
        #expect(f.subtotal == 500 * 51_296)
        // Before the cap is reached the draft is not capped: 15 days = 360 h.
        #expect(Self.planned(w.bill(asOf: Self.asOf)).invoice("prj-a")!.subtotal == 360 * 51_296)
    }

    @Test("forecast: changes recorded after as_of play no part (the forecast is what was known at as_of)")
    func changesAfterAsOfIgnored() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.change("i-1", "deleted", at: "2026-10-20T00:00:00Z")  // after as_of: not known yet
        #expect(Self.forecast(w)!.subtotal == 31 * 86_400)
    }

    @Test("forecast: a change at as_of itself is the state the instance is in then")
    func changeAtAsOf() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.change("i-1", "deleted", at: Self.asOf)
        #expect(Self.forecast(w)!.subtotal == 15 * 86_400)
    }

    @Test("forecast: a project with nothing billed yet but time to come gets a draft of zero that carries its forecast")
    func forecastOnlyProject() {
        var w = World()
        w.instance("i-new", project: "prj-b")
        w.change("i-new", "active", at: Self.asOf)
        let r = Self.planned(w.bill(asOf: Self.asOf))
        let draft = r.invoice("prj-b")!
        #expect(draft.lines.isEmpty && draft.total == 0)
        #expect(draft.forecast!.subtotal == Self.hoursToEnd * 3600)
    }

    @Test("forecast: credits are taken as a draft of the whole month would take them, from today's balances; nothing is taken")
    func forecastCredits() {
        var w = World()
        w.instance("i-1")
        w.instance("i-2", project: "prj-a")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.credits = [credit("c-1", "2000000")]
        let r = Self.planned(w.bill(asOf: Self.asOf), credits: w.credits)
        let draft = r.invoice("prj-a")!
        // So far 15 days = 1,296,000: all paid by the credit. The month: 2,678,400, 2,000,000 paid.
        #expect(draft.creditsApplied == 1_296_000 && draft.total == 0)
        #expect(draft.forecast!.creditsApplied == 2_000_000)
        #expect(draft.forecast!.tax == 67_840 && draft.forecast!.total == 746_240)
        // The ledger shows only what the draft would take.
        #expect(r.credits!.entries.map(\.amount) == [1_296_000])
    }

    @Test("forecast: none once the month has ended")
    func noneAfterEnd() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        let r = Self.planned(w.bill(asOf: "2026-11-01T00:00:00Z"))
        #expect(r.forecasts.isEmpty && !r.forecastsMonthEnd)
        #expect(r.invoice("prj-a")!.forecast == nil)
    }

    @Test("forecast: billable time after as_of with no rate is a warning, and left out of the forecast")
    func unpricedWarning() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        w.rates = [rate("r2a.baremetal", "3600", to: "2026-10-25T15:00:00Z")]
        let r = Self.planned(w.bill(asOf: Self.asOf))
        #expect(r.invoice("prj-a")!.forecast!.subtotal == 25 * 86_400)
        let warnings = r.anomalies(.forecastUnpriced)
        #expect(warnings.count == 1 && warnings[0].microseconds == 6 * 86_400 * 1_000_000 && warnings[0].severity == .warning)
        #expect(r.anomalies(.missingRate).isEmpty)
    }
}
