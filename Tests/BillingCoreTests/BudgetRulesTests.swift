import BillingCore
import Testing

/// Budgets (docs/forecast-and-budgets.md): which version applies, when a threshold is
/// crossed (exactly), the ratios, and which rows are warnings.
@Suite("Budgets: thresholds, versions, bad rows")
struct BudgetRulesTests {
    static func budget(_ id: String = "b", project: String? = "prj-a", account: String? = nil, currency: String = "KRW", amount: String = "1000",
                       thresholds: [String]? = nil, from: String = "2020-01-01T00:00:00Z", to: String? = nil) -> Budget {
        Budget(id: id, projectId: project, billingAccountId: account, currency: currency, monthlyAmount: ExactDecimal(parsing: amount)!,
               thresholds: thresholds.map { $0.map { ExactDecimal(parsing: $0)! } } ?? Budget.defaultThresholds, effectiveFrom: t(from),
               effectiveTo: to.map(t))
    }
    static let window = october.window(asOf: t("2026-10-15T15:00:00Z"))!

    static func standing(_ b: Budget, actual: Int128, forecast: Int128? = nil, currency: Currency = .krw) -> BudgetStanding {
        BudgetStanding(budget: b, currency: currency, actual: actual, forecast: forecast)
    }

    @Test("budgets: a threshold is crossed when the amount reaches it exactly, not a minor unit before", arguments: [
        ("1000", "80", Int128(800), true), ("1000", "80", 799, false), ("1000.5", "100", 1001, true), ("1000.5", "100", 1000, false),
        ("3", "33.333333", 1, true), ("0.000001", "1000", 1, true), ("99999999999999.999999", "1000", 1_000_000_000_000_000, true), ("99999999999999.999999", "1000", 999_999_999_999_999, false),
    ])
    func exactCrossing(_ c: (amount: String, threshold: String, total: Int128, crossed: Bool)) {
        let s = Self.standing(Self.budget(amount: c.amount, thresholds: [c.threshold]), actual: c.total)
        #expect(s.crossings.count == (c.crossed ? 1 : 0), "\(c.total) of \(c.amount) at \(c.threshold) %")
    }

    @Test("budgets: in a currency with minor units the comparison is in minor units (USD cents)")
    func minorUnits() {
        let usd = Currency(code: "USD")!
        let b = Self.budget(currency: "USD", amount: "10.00", thresholds: ["50"])
        #expect(Self.standing(b, actual: 500, currency: usd).crossings.count == 1)  // $5.00
        #expect(Self.standing(b, actual: 499, currency: usd).crossings.isEmpty)
        #expect(Self.standing(b, actual: 499, currency: usd).usedRatio == "0.499000")
    }

    @Test("budgets: ratios to 6 decimals, rounded down; actual and forecast crossings are separate, each in threshold order")
    func ratiosAndKinds() {
        let s = Self.standing(Self.budget(amount: "3"), actual: 2, forecast: 4)
        #expect(s.usedRatio == "0.666666" && s.forecastRatio == "1.333333")
        #expect(s.crossings.map { "\($0.kind.rawValue) \($0.threshold)" } == ["actual 50", "forecast 50", "forecast 80", "forecast 100"])
        #expect(Self.standing(Self.budget(), actual: 0).forecastRatio == nil)
    }

    @Test("budgets: thresholds are deduplicated as numbers (80 and 80.00 are one) and sorted")
    func thresholdsNormalized() {
        let b = Self.budget(thresholds: ["100", "80.00", "80", "50.50"])
        #expect(b.thresholds!.map(\.description) == ["50.5", "80", "100"])
    }

    @Test("budgets: of a budget's versions touching the window, the one that starts last applies; versions outside play no part")
    func versions() {
        let rows = [Self.budget(amount: "1", to: "2026-10-05T00:00:00Z"), Self.budget(amount: "2", from: "2026-10-05T00:00:00Z", to: "2026-10-20T00:00:00Z"),
                    Self.budget(amount: "3", from: "2026-10-20T00:00:00Z")]
        let (budgets, problems) = Budget.applicable(rows, currency: .krw, window: Self.window)
        #expect(problems.isEmpty)
        #expect(budgets.map(\.monthlyAmount.description) == ["2"], "the version from Oct 20 starts after as_of")
        let whole = Budget.applicable(rows, currency: .krw, window: BillingWindow(start: october.start, end: october.end)).budgets
        #expect(whole.map(\.monthlyAmount.description) == ["3"])
    }

    @Test("budgets: bad rows are warnings naming the budget, and are not compared", arguments: [
        (Self.budget(project: "p", account: "a"), "has both a project_id and a billing_account_id"),
        (Self.budget(project: nil), "has neither"),
        (Self.budget(amount: "0"), "must be above 0"),
        (Self.budget(amount: "-1"), "must be above 0"),
        (Self.budget(amount: "1.0000001"), "at most 14 digits before the point and 6 after"),
        (Self.budget(thresholds: []), "an empty list of thresholds"),
        (Self.budget(thresholds: ["0"]), "each must be in (0, 1000]"),
        (Self.budget(thresholds: ["1000.000001"]), "each must be in (0, 1000]"),
        (Self.budget(thresholds: ["0.0000001"]), "with at most 6 decimals"),
        (Self.budget(currency: "USD"), "is in USD, not the run's currency KRW"),
        (Self.budget(from: "2026-10-10T00:00:00Z", to: "2026-10-01T00:00:00Z"), "not after it starts"),
    ])
    func badRows(_ c: (Budget, String)) {
        let (budgets, problems) = Budget.applicable([c.0], currency: .krw, window: Self.window)
        #expect(budgets.isEmpty)
        #expect(problems.count == 1 && problems[0].kind == .invalidBudget && problems[0].severity == .warning)
        #expect(problems.first?.detail.contains(c.1) == true, "\(problems.first?.detail ?? "none")")
        #expect(problems.first?.detail.hasPrefix("budget b ") == true)
    }

    @Test("budgets: two versions of one budget in force together are a warning; the budget is not compared")
    func overlappingVersions() {
        let (budgets, problems) = Budget.applicable([Self.budget(), Self.budget(amount: "5", from: "2026-10-03T00:00:00Z")], currency: .krw, window: Self.window)
        #expect(budgets.isEmpty && problems.count == 1)
        #expect(problems[0].detail.contains("in force together"))
    }

    @Test("budgets: an account's budget adds up its projects; a project's counts its own; a month that has ended has no forecast")
    func holders() {
        let spend = [ProjectSpend(projectId: "prj-a", billingAccountId: "acct-1", total: 100, forecast: 300),
                     ProjectSpend(projectId: "prj-b", billingAccountId: "acct-1", total: 50, forecast: nil),
                     ProjectSpend(projectId: "prj-c", billingAccountId: nil, total: 7, forecast: 9)]
        let budgets = [Self.budget("b-acct", project: nil, account: "acct-1"), Self.budget("b-c", project: "prj-c")]
        let open = BudgetStanding.of(budgets, spend: spend, currency: .krw, forecasting: true)
        #expect(open.map(\.actual) == [150, 7])
        #expect(open.map(\.forecast) == [350, 9], "a project without a forecast counts its total")
        #expect(BudgetStanding.of(budgets, spend: spend, currency: .krw, forecasting: false).map(\.forecast) == [nil, nil])
    }

    @Test("budgets: an alert already on record is not raised again; others are, by the run")
    func raisedOnce() {
        let s = Self.standing(Self.budget(thresholds: ["50", "80"]), actual: 900)
        let first = BudgetReport(standings: [s], onRecord: [], period: october.month, runId: 7, asOf: t("2026-10-15T15:00:00Z"))
        #expect(first.raised.map(\.threshold.description) == ["50", "80"])
        let again = BudgetReport(standings: [s], onRecord: first.alerts, period: october.month, runId: 8, asOf: t("2026-10-16T15:00:00Z"))
        #expect(again.raised.isEmpty && again.alerts.map(\.runId) == [7, 7])
        // Spend fell back: nothing new, the alerts stay.
        let fell = BudgetReport(standings: [Self.standing(s.budget, actual: 1)], onRecord: first.alerts, period: october.month, runId: 9,
                                asOf: t("2026-10-17T15:00:00Z"))
        #expect(fell.raised.isEmpty && fell.alerts.count == 2)
    }
}
