import BillingCore
import PropertyBased
import Testing

/// pricing.md: discounts, monthly caps and credits. Prices in these tests are 3,600 KRW
/// an hour (1 KRW a second) unless said, so amounts read as seconds.
@Suite("Pricing: discounts, monthly caps, credits")
struct PriceAgreementRulesTests {
    /// i-1 (prj-a, acct-1, r2a.baremetal, memory_optimized) active all of October: 744 h.
    static func activeAllMonth() -> World {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-01T00:00:00Z")
        return w
    }
    static let october744h: Int64 = 744 * 3600

    // MARK: 1. Discounts

    /// The six holder x scope levels, most specific first.
    static let levels: [(name: String, make: @Sendable (String, String) -> Discount)] = [
        ("project+type", { discount($0, $1, project: "prj-a", type: "r2a.baremetal") }),
        ("project+category", { discount($0, $1, project: "prj-a", category: "memory_optimized") }),
        ("project+all", { discount($0, $1, project: "prj-a") }),
        ("account+type", { discount($0, $1, account: "acct-1", type: "r2a.baremetal") }),
        ("account+category", { discount($0, $1, account: "acct-1", category: "memory_optimized") }),
        ("account+all", { discount($0, $1, account: "acct-1") }),
    ]
    static let pairs: [(Int, Int)] = (0..<6).flatMap { a in ((a + 1)..<6).map { (a, $0) } }

    @Test("pricing 1. Precedence: the more specific of each pair of levels wins, whichever is listed first", arguments: pairs)
    func precedence(_ pair: (Int, Int)) {
        for order in [[pair.0, pair.1], [pair.1, pair.0]] {
            var w = Self.activeAllMonth()
            w.discounts = order.map { Self.levels[$0].make("d-\($0)", "\(10 * ($0 + 1)).0000") }
            let r = w.bill()
            let lines = r.invoice("prj-a")!.lines
            #expect(lines.count == 1)
            #expect(lines[0].discount?.id == "d-\(pair.0)", "\(Self.levels[pair.0].name) must beat \(Self.levels[pair.1].name)")
            #expect(r.anomalies.isEmpty)
        }
    }

    @Test("pricing 1. Discounts never stack, and list and charged amounts are each rounded once")
    func amountsRoundedOnce() {
        var w = Self.activeAllMonth()
        w.rates = [rate("r2a.baremetal", "9876.543210")]
        w.discounts = [discount("d-a", "3.5", project: "prj-a"), discount("d-b", "50", account: "acct-1")]
        let l = w.bill().invoice("prj-a")!.lines[0]
        #expect(l.discount?.id == "d-a")
        // 744 h x 9,876.54321 = 7,348,148.14824 -> 7,348,148; x 0.965 = 7,090,962.963... -> 7,090,963
        #expect(l.listAmount == 7_348_148)
        #expect(l.amount == 7_090_963)
        #expect(l.discountAmount == 257_185)
    }

    @Test("pricing 1. A 100 % discount is valid: the time is shown and charges 0")
    func fullDiscount() {
        var w = Self.activeAllMonth()
        w.discounts = [discount("d-free", "100", project: "prj-a")]
        let r = w.bill()
        #expect(r.anomalies.isEmpty)
        #expect(r.invoice("prj-a")!.lines[0].amount == 0)
        #expect(r.invoice("prj-a")!.listSubtotal == Self.october744h)
    }

    @Test("pricing 1. Boundary instants: in force from the period start covers it all; ending at the start or starting at the end covers none")
    func periodBoundaries() {
        let start = "2026-09-30T15:00:00Z", end = "2026-10-31T15:00:00Z"
        let cases: [(Discount, Bool)] = [
            (discount("d", "10", project: "prj-a", from: start), true),
            (discount("d", "10", project: "prj-a", from: "2026-01-01T00:00:00Z", to: end), true),
            (discount("d", "10", project: "prj-a", from: start, to: end), true),
            (discount("d", "10", project: "prj-a", from: "2026-01-01T00:00:00Z", to: start), false),
            (discount("d", "10", project: "prj-a", from: end), false),
        ]
        for (d, covers) in cases {
            var w = Self.activeAllMonth()
            w.discounts = [d]
            let lines = w.bill().invoice("prj-a")!.lines
            #expect(lines.count == 1, "\(d.effectiveFrom)..\(String(describing: d.effectiveTo))")
            #expect((lines[0].discount != nil) == covers)
            #expect(lines[0].meteredMicroseconds == Self.october744h * 1_000_000)
        }
        // A microsecond inside on either side splits off a line of one microsecond's time.
        var w = Self.activeAllMonth()
        w.discounts = [discount("d", "10", project: "prj-a", from: "2026-09-30T15:00:00.000001Z", to: "2026-10-31T14:59:59.999999Z")]
        let lines = w.bill().invoice("prj-a")!.lines
        #expect(lines.count == 2)
        #expect(lines.first { $0.discount == nil }?.meteredMicroseconds == 2)
    }

    @Test("pricing 1. A discount interrupted by a more specific one gives one line for its two stretches")
    func interruptedDiscountOneLine() {
        var w = Self.activeAllMonth()
        w.discounts = [discount("d-acct", "15", account: "acct-1"),
                       discount("d-proj", "20", project: "prj-a", type: "r2a.baremetal", from: "2026-10-10T00:00:00Z", to: "2026-10-20T00:00:00Z")]
        let lines = w.bill().invoice("prj-a")!.lines
        #expect(lines.map { $0.discount?.id } == ["d-acct", "d-proj"])
        #expect(lines[1].meteredMicroseconds == 240 * 3_600_000_000)
        #expect(lines[0].meteredMicroseconds == (744 - 240) * 3_600_000_000)
        // Each line's states say where the time went: all of it active.
        #expect(lines[0].stateMicroseconds == [StateTime(state: "active", microseconds: (744 - 240) * 3_600_000_000)])
    }

    @Test("pricing 1. A discount starting inside the period splits the time there, like a rate change, and both splits combine")
    func discountAndRateSplit() {
        var w = Self.activeAllMonth()
        w.rates = [rate("r2a.baremetal", "3600", to: "2026-10-15T00:00:00Z"), rate("r2a.baremetal", "7200", from: "2026-10-15T00:00:00Z")]
        w.discounts = [discount("d", "50", project: "prj-a", from: "2026-10-10T00:00:00Z")]
        let lines = w.bill().invoice("prj-a")!.lines
        // (old rate, none), (old rate, d), (new rate, d)
        let labels: [String] = lines.map { l in l.rate.hourlyRateText + "/" + (l.discount?.id ?? "-") }
        #expect(labels == ["3600.000000/-", "3600.000000/d", "7200.000000/d"])
        let expected: [Int64] = [(9 * 24 + 9) * 3600, 5 * 24 * 3600, (16 * 24 + 15) * 3600]
        #expect(lines.map(\.billableSeconds) == expected)
        #expect(lines[2].amount == lines[2].listAmount / 2)
    }

    @Test("pricing 1. Discounts of another account, project, type or category do not apply; an account discount does not reach a project with no account")
    func nonMatchingDiscounts() {
        var w = Self.activeAllMonth()
        w.instance("i-b", project: "prj-b")
        w.change("i-b", "active", at: "2026-09-01T00:00:00Z")
        let d1 = discount("d1", "10", account: "acct-2"), d2 = discount("d2", "10", project: "prj-x")
        let d3 = discount("d3", "10", project: "prj-a", type: "p2a.baremetal"), d4 = discount("d4", "10", project: "prj-a", category: "gpu")
        let d5 = discount("d5", "10", account: "acct-1", category: "gpu")
        w.discounts = [d1, d2, d3, d4, d5]
        let r = w.bill()
        #expect(r.invoices.allSatisfy { $0.lines.allSatisfy { $0.discount == nil } })
        #expect(r.anomalies.isEmpty)
    }

    @Test("pricing 1. Two discounts of one holder and scope level in force together are an error; no discount is applied where they overlap")
    func overlappingDiscounts() {
        var w = Self.activeAllMonth()
        w.discounts = [discount("d-1", "10", project: "prj-a", to: "2026-10-20T00:00:00Z"), discount("d-2", "20", project: "prj-a", from: "2026-10-10T00:00:00Z")]
        let r = w.bill()
        let a = r.anomalies(.overlappingDiscounts)
        #expect(a.count == 1)
        #expect(a.first.map { $0.detail.contains("d-1") && $0.detail.contains("d-2") } == true)
        #expect(r.isIssuable == false)
        let lines = r.invoice("prj-a")!.lines
        let none = lines.first { $0.discount == nil }
        let overlap: Int64 = 240 * 3_600_000_000
        #expect(none?.meteredMicroseconds == overlap)
        // Back to back is not an overlap; nor are two levels apart.
        w.discounts = [discount("d-1", "10", project: "prj-a", to: "2026-10-10T00:00:00Z"), discount("d-2", "20", project: "prj-a", from: "2026-10-10T00:00:00Z"),
                       discount("d-3", "30", project: "prj-a", type: "r2a.baremetal", from: "2026-10-05T00:00:00Z")]
        #expect(w.bill().anomalies.isEmpty)
    }

    @Test("pricing 1. An overlap found by several instances or engines of one run is reported once")
    func overlapReportedOnce() {
        var w = Self.activeAllMonth()
        w.instance("i-2")
        w.change("i-2", "active", at: "2026-09-01T00:00:00Z")
        w.discounts = [discount("d-1", "10", account: "acct-1"), discount("d-2", "20", account: "acct-1")]
        #expect(w.bill().anomalies(.overlappingDiscounts).count == 1)
    }

    static let invalidDiscounts: [(String, Discount)] = [
        ("percent 0", discount("d", "0", project: "prj-a")),
        ("negative percent", discount("d", "-5", project: "prj-a")),
        ("percent over 100", discount("d", "100.0001", project: "prj-a")),
        ("more than four decimals", discount("d", "10.00001", project: "prj-a")),
        ("both holders", discount("d", "10", project: "prj-a", account: "acct-1")),
        ("neither holder", discount("d", "10")),
        ("both type and category", discount("d", "10", project: "prj-a", type: "r2a.baremetal", category: "memory_optimized")),
        ("ends before it starts", discount("d", "10", project: "prj-a", from: "2026-10-20T00:00:00Z", to: "2026-10-10T00:00:00Z")),
    ]

    @Test("pricing 1. An invalid discount is an error naming it and is not used", arguments: invalidDiscounts)
    func invalidDiscount(_ c: (String, Discount)) {
        var w = Self.activeAllMonth()
        w.discounts = [c.1]
        let r = w.bill()
        let a = r.anomalies(.invalidDiscount)
        #expect(a.count == 1, "\(c.0)")
        #expect(a.first?.detail.contains("discount d ") == true)
        #expect(r.isIssuable == false)
        #expect(r.invoice("prj-a")!.lines.allSatisfy { $0.discount == nil })
    }

    @Test("pricing 1. An invalid discount of another time does not hold up this period")
    func invalidDiscountElsewhere() {
        var w = Self.activeAllMonth()
        w.discounts = [discount("d", "0", project: "prj-a", from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z")]
        #expect(w.bill().anomalies.isEmpty)
    }

    // MARK: 2. Monthly caps

    @Test("pricing 2. Time after the cap is metered and shown but not charged")
    func capOnOneLine() {
        var w = Self.activeAllMonth()
        w.caps = [cap("r2a.baremetal", "600")]
        let l = w.bill().invoice("prj-a")!.lines
        #expect(l.count == 1)
        #expect(l[0].billableSeconds == 600 * 3600)
        #expect(l[0].cappedMicroseconds == 144 * 3_600_000_000)
        #expect(l[0].meteredMicroseconds == Self.october744h * 1_000_000)
        #expect(l[0].amount == 600 * 3600)
    }

    @Test("pricing 2. The cap is reached inside a line: its part before is charged; a line entirely after it is kept with 0 billable seconds")
    func capReachedInsideLine() {
        var w = Self.activeAllMonth()
        // 600 h from 09-30T15:00Z is reached at 10-25T15:00Z; the rate changes at 10-28.
        w.rates = [rate("r2a.baremetal", "3600", to: "2026-10-28T00:00:00Z"), rate("r2a.baremetal", "7200", from: "2026-10-28T00:00:00Z")]
        w.caps = [cap("r2a.baremetal", "600")]
        let r = w.bill()
        let l = r.invoice("prj-a")!.lines
        #expect(l.count == 2)
        #expect(l[0].billableSeconds == 600 * 3600)
        #expect(l[0].cappedMicroseconds == 57 * 3_600_000_000)  // 10-25T15:00 to 10-28T00:00
        #expect(l[1].billableSeconds == 0)
        #expect(l[1].amount == 0)
        #expect(l[1].cappedMicroseconds == 87 * 3_600_000_000)  // 10-28T00:00 to 10-31T15:00
        // usage.csv rows say which time was capped, and add up to the lines.
        let capped = r.usage.filter { $0.capped }.reduce(Int64(0)) { $0 + $1.microseconds }
        #expect(capped == 144 * 3_600_000_000)
        #expect(r.usage.filter { $0.billable }.reduce(Int64(0)) { $0 + $1.microseconds } == l.reduce(0) { $0 + $1.meteredMicroseconds })
        // The charged time per day stops on the day the cap is reached.
        let days = r.days
        let reachedDay = days.firstIndex { $0.window.end > t("2026-10-25T15:00:00Z") }!
        #expect(l[0].dailyMicroseconds[reachedDay + 1] == 0)
        #expect(l[0].dailyCappedMicroseconds[reachedDay + 1] == 24 * 3_600_000_000)
    }

    @Test("pricing 2. Each line is rounded up on its own: a split over lines may pay less than a unit more per extra line than the cap")
    func capRoundingPerLine() {
        var w = Self.activeAllMonth()
        w.settings.granularity = .hour
        w.discounts = [discount("d", "10", project: "prj-a", from: "2026-10-10T00:00:00.5Z")]
        w.caps = [cap("r2a.baremetal", "600")]
        let l = w.bill().invoice("prj-a")!.lines
        #expect(l.count == 2)
        #expect(l.reduce(0) { $0 + $1.billableSeconds } == 601 * 3600)  // each line rounded up to a whole hour
    }

    @Test("pricing 2. The cap in force at the period start applies to the whole period; one starting later does not")
    func capInForceAtStart() {
        var w = Self.activeAllMonth()
        w.caps = [cap("r2a.baremetal", "600", from: "2026-10-10T00:00:00Z")]
        #expect(w.bill().invoice("prj-a")!.lines[0].cappedMicroseconds == 0)
        w.caps = [cap("r2a.baremetal", "600", to: "2026-10-10T00:00:00Z")]
        #expect(w.bill().invoice("prj-a")!.lines[0].cappedMicroseconds == 144 * 3_600_000_000)
        w.caps = [cap("r2a.baremetal", "600", from: "2026-09-30T15:00:00Z")]
        #expect(w.bill().invoice("prj-a")!.lines[0].cappedMicroseconds == 144 * 3_600_000_000)
        w.caps = [cap("p2a.baremetal", "1")]  // another type's
        #expect(w.bill().invoice("prj-a")!.lines[0].cappedMicroseconds == 0)
    }

    @Test("pricing 2. A month-to-date draft applies the cap to the time so far")
    func capOnDraft() {
        var w = Self.activeAllMonth()
        w.caps = [cap("r2a.baremetal", "100")]
        let r = w.bill(asOf: "2026-10-10T15:00:00Z")  // 240 h so far
        #expect(r.isIssuable == false)
        let l = r.invoice("prj-a")!.lines[0]
        #expect(l.billableSeconds == 100 * 3600)
        #expect(l.cappedMicroseconds == 140 * 3_600_000_000)
    }

    @Test("pricing 2. Billable time is counted in time order across states and gaps; non-billed time does not count")
    func capCountsBillableOnly() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-30T15:00:00Z")
        w.change("i-1", "error", at: "2026-10-01T15:00:00Z")  // 24 h active, then 24 h not billed
        w.change("i-1", "active", at: "2026-10-02T15:00:00Z")
        w.change("i-1", "deleted", at: "2026-10-03T15:00:00Z")
        w.caps = [cap("r2a.baremetal", "30")]
        let r = w.bill()
        // 24 h active, 24 h in error (not billed, not counted), 24 h active: the cap of 30 h is
        // reached 6 h into the second active day, Oct 2 21:00Z.
        let l = r.invoice("prj-a")!.lines[0]
        let billed: Int64 = 48 * 3_600_000_000, capped: Int64 = 18 * 3_600_000_000
        #expect(r.billableMicros("i-1") == billed)
        #expect(l.meteredMicroseconds == billed)
        #expect(l.billableSeconds == 30 * 3600)
        #expect(l.cappedMicroseconds == capped)
        #expect(r.usage.filter { $0.capped }.map(\.state) == ["active"])
    }

    @Test("pricing 2. A cap of 0 or less (in force at the period start or later in it), two caps in force at one period start, or a cap ending before it starts is an error; none is applied")
    func invalidCaps() {
        for caps in [[cap("r2a.baremetal", "0")], [cap("r2a.baremetal", "-1")],
                     [cap("r2a.baremetal", "600"), cap("r2a.baremetal", "700", from: "2026-06-01T00:00:00Z")],
                     [cap("r2a.baremetal", "600", from: "2026-10-20T00:00:00Z", to: "2026-10-10T00:00:00Z")],
                     [cap("r2a.baremetal", "0", from: "2026-10-05T00:00:00Z", to: "2026-10-20T00:00:00Z")],  // not in force at the start: still an error
                     [cap("p2a.baremetal", "-1", from: "2026-10-05T00:00:00Z")]] {
            var w = Self.activeAllMonth()
            w.caps = caps
            let r = w.bill()
            #expect(r.anomalies(.invalidCap).count == 1, "\(caps)")
            #expect(r.isIssuable == false)
            #expect(r.invoice("prj-a")!.lines[0].cappedMicroseconds == 0)
        }
    }

    // MARK: 3. Credits

    /// Plans an ended October (as of Dec 1) with `credits`, as a run with nothing stored.
    static func issue(_ w: World, applied: [String: Int128] = [:], stored: [String: StoredInvoice] = [:], correct: Bool = false,
                      asOf: String = "2026-12-01T00:00:00Z") -> (actions: [InvoiceAction], result: BillingResult, ledger: CreditLedger) {
        let r = w.bill(asOf: asOf)
        let (actions, result) = InvoicePlanner.plan(r, stored: stored, correctIssued: correct,
                                                    credits: CreditLedger(credits: w.credits, applied: applied, currency: .krw, period: october))
        return (actions, result, result.credits!)
    }

    @Test("pricing 3. Credits pay before tax and never more than the subtotal: tax on the tax base, total = subtotal - credits + tax")
    func creditsBeforeTax() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "1000000")]
        let inv = Self.issue(w).result.invoice("prj-a")!
        #expect(inv.subtotal == 2_678_400)
        #expect(inv.creditsApplied == 1_000_000)
        #expect(inv.tax == 167_840)
        #expect(inv.total == 1_846_240)
    }

    @Test("pricing 3. A fully paid invoice has total 0 and is still issued")
    func fullyPaid() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "10000000")]
        let (actions, result, ledger) = Self.issue(w)
        let inv = result.invoice("prj-a")!
        #expect(inv.creditsApplied == inv.subtotal)
        #expect(inv.tax == 0 && inv.total == 0)
        guard case .issue(let c, _) = actions[0] else { Issue.record("not issued: \(actions)"); return }
        #expect(c.total == 0)
        let left: Int128 = 10_000_000 - 2_678_400
        #expect(ledger.closing["c"] == left)
    }

    @Test("pricing 3. Credit order: soonest to expire first (never last), then earliest valid, then id in byte order")
    func creditOrder() {
        var w = Self.activeAllMonth()
        w.credits = [
            credit("c-never", "1000000"),
            credit("c-dec", "1000000", expires: "2026-12-31T00:00:00Z"),
            credit("c-nov-b", "500000", from: "2026-02-01T00:00:00Z", expires: "2026-11-15T00:00:00Z"),
            credit("c-nov-a", "500000", from: "2026-03-01T00:00:00Z", expires: "2026-11-15T00:00:00Z"),
            credit("c-nov-Z", "100000", from: "2026-03-01T00:00:00Z", expires: "2026-11-15T00:00:00Z"),
        ]
        let takes = Self.issue(w).result.invoice("prj-a")!.credits
        // c-nov-b is valid earlier; "c-nov-Z" < "c-nov-a" in bytes (Z is 0x5A, a is 0x61).
        #expect(takes.map(\.creditId) == ["c-nov-b", "c-nov-Z", "c-nov-a", "c-dec", "c-never"])
        #expect(takes.map(\.amount) == [500_000, 100_000, 500_000, 1_000_000, 578_400])
    }

    @Test("pricing 3. Invoices take in project order (byte order of project_id), each up to the credit's remaining balance")
    func projectOrder() {
        var w = World()
        w.projects = [Project(id: "prj-a", name: "a", billingAccountId: "acct-1"), Project(id: "prj-Z", name: "Z", billingAccountId: "acct-1")]
        for p in ["prj-a", "prj-Z"] {
            w.instance("i-\(p)", project: p)
            w.change("i-\(p)", "active", at: "2026-09-01T00:00:00Z")
        }
        w.credits = [credit("c", "3000000")]
        let r = Self.issue(w).result
        #expect(r.invoice("prj-Z")!.creditsApplied == 2_678_400)
        #expect(r.invoice("prj-a")!.creditsApplied == 321_600)
    }

    @Test("pricing 3. A project's credit pays only that project; an account's pays any of its projects; a project with no account uses none")
    func whoCreditsPay() {
        var w = Self.activeAllMonth()
        w.projects.append(Project(id: "prj-c", name: "C", billingAccountId: "acct-1"))
        for p in ["prj-b", "prj-c"] {
            w.instance("i-\(p)", project: p)
            w.change("i-\(p)", "active", at: "2026-09-01T00:00:00Z")
        }
        w.credits = [credit("c-proj", "100", project: "prj-c"), credit("c-acct", "1000", account: "acct-1"), credit("c-other", "1000", account: "acct-2")]
        let r = Self.issue(w).result
        #expect(r.invoice("prj-a")!.credits.map(\.creditId) == ["c-acct"])
        #expect(r.invoice("prj-b")!.credits.isEmpty)
        #expect(r.invoice("prj-c")!.credits.map(\.creditId) == ["c-proj"])
    }

    @Test("pricing 3. A credit pays a period it was valid in at some instant; credits in another currency play no part")
    func creditValidityAndCurrency() {
        var w = Self.activeAllMonth()
        w.credits = [
            credit("c-ended", "100", expires: "2026-09-30T15:00:00Z"),  // expired the instant October began
            credit("c-later", "100", from: "2026-10-31T15:00:00Z"),  // valid from the instant October ended
            credit("c-last-us", "100", from: "2026-10-31T14:59:59.999999Z"),
            credit("c-usd", "100.00", currency: "USD"),
            credit("c-usd-bad", "0.001", currency: "USD"),
        ]
        let r = Self.issue(w).result
        #expect(r.invoice("prj-a")!.credits.map(\.creditId) == ["c-last-us"])
        #expect(r.anomalies.isEmpty)
    }

    static let invalidCredits: [Credit] = [
        credit("c-bad", "0"), credit("c-bad", "-100"), credit("c-bad", "100.5"),
        credit("c-bad", "100", from: "2026-10-20T00:00:00Z", expires: "2026-10-10T00:00:00Z"),
    ]

    @Test("pricing 3. An invalid credit (0 or less, finer than the minor unit, expiring before it is valid) is an error and is not taken",
          arguments: invalidCredits)
    func invalidCredit(_ c: Credit) {
        var w = Self.activeAllMonth()
        w.credits = [c]
        let r = Self.issue(w).result
        #expect(r.anomalies(.invalidCredit).count == 1)
        #expect(r.anomalies(.invalidCredit).first?.detail.contains("c-bad") == true)
        #expect(r.isIssuable == false)
        #expect(r.invoice("prj-a")!.credits.isEmpty)
    }

    @Test("pricing 3. A draft shows what it would take from today's balances and takes nothing")
    func draftTakesNothing() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "1000000")]
        let (actions, result, ledger) = Self.issue(w, asOf: "2026-10-20T00:00:00Z")
        guard case .draft(let c, _) = actions[0] else { Issue.record("not a draft: \(actions)"); return }
        #expect(c.creditsApplied == 1_000_000)
        #expect(result.invoice("prj-a")!.creditsApplied == 1_000_000)
        #expect(ledger.closing == ledger.opening)
        #expect(ledger.entries.allSatisfy { $0.kind == .wouldTake })
    }

    @Test("pricing 3. A credit that expires by the period's end with a balance left is a warning of the issuing run, not of a draft")
    func expiredUnused() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c-gone", "100", account: "acct-9", expires: "2026-10-31T15:00:00Z"), credit("c-next", "100", account: "acct-9", expires: "2026-10-31T15:00:00.000001Z"),
                     credit("c-used", "100", expires: "2026-10-20T00:00:00Z")]
        let issued = Self.issue(w).result.anomalies(.creditExpiredUnused)
        #expect(issued.map { $0.detail.contains("c-gone") } == [true])
        #expect(issued.first?.severity == .warning)
        #expect(Self.issue(w, asOf: "2026-10-20T00:00:00Z").result.anomalies(.creditExpiredUnused).isEmpty)
    }

    /// The stored form of an issued content, as the store would give it back.
    static func stored(_ c: InvoiceContent, id: Int64 = 1, number: String = "BM-00000001") -> StoredInvoice {
        var s = StoredInvoice(record: InvoiceRecord(invoiceId: id, projectId: c.project.id, revision: 0, status: .issued, invoiceNumber: number, runId: 1,
                                                    issuedAt: t("2026-11-01T00:00:00Z"), fingerprint: c.fingerprint),
                              project: c.project, currency: c.currency, windowEnd: october.end, subtotal: c.subtotal, tax: c.tax, total: c.total)
        s.credits = c.credits
        return s
    }

    @Test("pricing 3. Re-running an unchanged issued period takes nothing twice, and a credit granted since changes nothing")
    func rerunTakesNothing() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "1000000")]
        let first = Self.issue(w).result.invoice("prj-a")!
        w.credits.append(credit("c-new", "5000000"))
        let (actions, result, ledger) = Self.issue(w, applied: ["c": 1_000_000], stored: ["prj-a": Self.stored(first)], correct: true)
        guard case .keep = actions[0] else { Issue.record("not kept: \(actions)"); return }
        // Nothing is taken again: the balances stay; what the kept invoice took is shown as taken by it.
        #expect(ledger.entries.map(\.kind) == [.taken])
        #expect(ledger.closing["c"] == 0)
        #expect(ledger.opening["c"] == 1_000_000)
        #expect(ledger.closing["c-new"] == 5_000_000)
        #expect(result.invoice("prj-a")!.creditsApplied == 1_000_000)  // the files show what it took
    }

    @Test("pricing 3. A correction after a later month spent the credits gives back what it took, then takes from the balance left")
    func correctionAfterLaterMonth() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "1500000")]
        let october1 = Self.issue(w).result.invoice("prj-a")!
        #expect(october1.creditsApplied == 1_500_000)
        // Late data: i-1 was deleted on Oct 20, so October's subtotal drops to 465 h.
        w.change("i-1", "deleted", at: "2026-10-20T00:00:00Z")
        let (actions, result, ledger) = Self.issue(w, applied: ["c": 1_500_000], stored: ["prj-a": Self.stored(october1)], correct: true)
        guard case .correct(_, let c) = actions[0] else { Issue.record("not corrected: \(actions)"); return }
        #expect(c.subtotal == 465 * 3600)
        #expect(c.creditsApplied == 1_500_000)  // given back, then taken again
        #expect(ledger.entries.map(\.kind) == [.returned, .taken])
        #expect(ledger.closing["c"] == 0)
        #expect(result.invoice("prj-a")!.total == c.total)
    }

    @Test("pricing 3. A correction whose credit a later month spent in part takes only the part left")
    func correctionGetsWhatIsLeft() {
        var w = Self.activeAllMonth()
        w.credits = [credit("c", "2000000")]
        let october1 = Self.issue(w).result.invoice("prj-a")!
        #expect(october1.creditsApplied == 2_000_000)
        // A corrected rate halves October. Nothing else took from c: the correction gives back
        // 2,000,000 and takes again what the new subtotal needs.
        w.rates = [rate("r2a.baremetal", "1800")]
        let (actions, _, ledger) = Self.issue(w, applied: ["c": 2_000_000], stored: ["prj-a": Self.stored(october1)], correct: true)
        guard case .correct(_, let c) = actions[0] else { Issue.record("not corrected: \(actions)"); return }
        #expect(c.creditsApplied == 1_339_200)
        #expect(ledger.closing["c"] == 660_800)
        // The credit was then topped up by finance to 5,000,000 and November took 4,700,000 of it: after
        // October gives back its 2,000,000, only 300,000 is left to take again.
        w.credits = [credit("c", "5000000")]
        let (a2, _, l2) = Self.issue(w, applied: ["c": 2_000_000 + 4_700_000], stored: ["prj-a": Self.stored(october1)], correct: true)
        guard case .correct(_, let c2) = a2[0] else { Issue.record("not corrected"); return }
        #expect(c2.creditsApplied == 300_000)
        #expect(l2.closing["c"] == 0)
    }
}

/// pricing.md's invariants on random pricing rows and timelines.
@Suite("Pricing invariants (property-based)")
struct PricingPropertyTests {
    /// Random pricing rows read from `n` (numbers in 0...1_000_000), within days of October.
    static func world(_ steps: [(Int, Int)], _ n: [Int]) -> World {
        var w = World()
        w.projects.append(Project(id: "prj-c", name: "C", billingAccountId: "acct-1"))
        w.rates = [rate("r2a.baremetal", "9876.543210", to: "2026-10-15T03:17:00Z"), rate("r2a.baremetal", "12345.6789", from: "2026-10-15T03:17:00Z"),
                   rate("p2a.baremetal", "51296")]
        var k = 0
        func next(_ m: Int) -> Int {
            defer { k += 1 }
            return n[k % n.count] % m
        }
        // An instant from Sep 25 to Nov 5, to the second.
        func instant() -> Instant { october.start.adding(microseconds: (Int64(next(41 * 86_400)) - 5 * 86_400) * 1_000_000) }
        for (i, (project, type)) in [("prj-a", "r2a.baremetal"), ("prj-c", "p2a.baremetal"), ("prj-b", "r2a.baremetal")].enumerated() {
            w.instance("i-\(i)", project: project, type: type)
            for c in MeteringPropertyTests.timeline(steps.shuffled(), period: october) {
                w.changes["i-\(i)", default: []].append(StateChange(eventId: c.eventId, state: c.state, changedAt: c.changedAt, recordedAt: c.recordedAt))
            }
        }
        for d in 0..<next(5) {
            let a = instant(), b = instant()
            let holder = next(3), scope = next(4)
            w.discounts.append(Discount(
                id: "d-\(d)", projectId: holder == 0 ? "prj-a" : nil, billingAccountId: holder == 0 ? nil : holder == 1 ? "acct-1" : "acct-2",
                typeName: scope == 0 ? "r2a.baremetal" : nil, category: scope == 1 ? "memory_optimized" : scope == 2 ? "gpu" : nil,
                percent: ExactDecimal(units: Int128(1 + next(1_000_000)), scale: 4), effectiveFrom: min(a, b), effectiveTo: next(3) == 0 ? nil : max(a, b)))
        }
        if next(2) == 0 {
            w.caps = [MonthlyCap(typeName: "r2a.baremetal", capHours: ExactDecimal(units: Int128(1 + next(8_000_000)), scale: 4), effectiveFrom: t("2020-01-01T00:00:00Z"), effectiveTo: nil)]
        }
        for c in 0..<next(5) {
            let from = instant()
            w.credits.append(Credit(id: "c-\(c)", billingAccountId: "acct-1", projectId: next(3) == 0 ? "prj-c" : nil, currency: "KRW",
                                    amount: ExactDecimal(units: Int128(1 + next(20_000_000)), scale: 0), validFrom: from,
                                    expiresAt: next(2) == 0 ? nil : from.adding(microseconds: Int64(1 + next(40 * 86_400)) * 1_000_000)))
        }
        return w
    }

    @Test("Σ charged ≤ Σ list per invoice, credits ≤ subtotal, no balance below zero, and the lines' time (charged + capped) is the metered billable time")
    func invariants() async {
        await propertyCheck(count: 120, input: MeteringPropertyTests.stepGen, Gen.int(in: 0...1_000_000).array(of: 60...60)) { steps, numbers in
            let w = Self.world(steps, numbers)
            let ledger = CreditLedger(credits: w.credits, applied: [:], currency: .krw, period: october)
            let (_, r) = InvoicePlanner.plan(w.bill(), stored: [:], correctIssued: false, credits: ledger)
            let after = r.credits!
            for inv in r.invoices {
                #expect(inv.subtotal <= inv.listSubtotal)
                #expect(inv.lines.allSatisfy { $0.amount >= 0 && $0.amount <= $0.listAmount })
                #expect(inv.creditsApplied >= 0 && inv.creditsApplied <= inv.subtotal)
                #expect(inv.total == inv.subtotal - inv.creditsApplied + inv.tax)
            }
            #expect(after.closing.values.allSatisfy { $0 >= 0 })
            #expect(after.credits.allSatisfy { c in (after.opening[c.id] ?? 0) - (after.closing[c.id] ?? 0) >= 0 })
            for id in ["i-0", "i-1", "i-2"] {
                let lines = r.invoices.flatMap(\.lines).filter { $0.instanceId == id }
                let priced = r.usage.filter { $0.instanceId == id && $0.billable && $0.rate != nil }.reduce(Int64(0)) { $0 + $1.microseconds }
                #expect(lines.reduce(Int64(0)) { $0 + $1.meteredMicroseconds } == priced)
                #expect(lines.reduce(Int64(0)) { $0 + $1.cappedMicroseconds } == r.usage.filter { $0.instanceId == id && $0.capped }.reduce(Int64(0)) { $0 + $1.microseconds })
                if let cap = w.caps.first?.microseconds, lines.first?.typeName == "r2a.baremetal", r.anomalies(.invalidCap).isEmpty {
                    #expect(lines.reduce(Int64(0)) { $0 + $1.chargedMicroseconds } <= cap)
                }
            }
        }
    }
}
