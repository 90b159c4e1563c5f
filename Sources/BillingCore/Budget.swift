/// A spending budget (docs/forecast-and-budgets.md): a monthly amount, VAT included, after
/// discounts and credits, for one project or every project of one billing account, with
/// thresholds in percent of it. Effective-dated like rates: one `budget_id` may have
/// versions over `[effectiveFrom, effectiveTo)`, which never overlap.
public struct Budget: Hashable, Sendable {
    public let id: String
    public let projectId: String?
    public let billingAccountId: String?
    /// As stored (`KRW`); compared with the run's currency.
    public let currency: String
    /// Major units of `currency`, exactly as stored.
    public let monthlyAmount: ExactDecimal
    /// Percents of `monthlyAmount`, ascending and distinct; nil when the row's list holds
    /// something that is not a number (a problem).
    public let thresholds: [ExactDecimal]?
    public let effectiveFrom: Instant
    /// Exclusive end; nil while open.
    public let effectiveTo: Instant?
    public let description: String?

    /// When a row gives no thresholds (NULL): 50, 80 and 100 %.
    public static let defaultThresholds = [50, 80, 100].map { ExactDecimal(units: Int128($0), scale: 0) }

    public init(id: String, projectId: String?, billingAccountId: String?, currency: String, monthlyAmount: ExactDecimal,
                thresholds: [ExactDecimal]? = Budget.defaultThresholds, effectiveFrom: Instant, effectiveTo: Instant?, description: String? = nil) {
        self.id = id
        self.projectId = projectId
        self.billingAccountId = billingAccountId
        self.currency = currency
        self.monthlyAmount = monthlyAmount.normalized
        self.thresholds = thresholds.map { list in
            var seen: Set<ExactDecimal> = []
            return list.map(\.normalized).sorted { $0.compare($1) < 0 }.filter { seen.insert($0).inserted }
        }
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
        self.description = description
    }

    /// "project prj-1" or "billing account acct-1".
    public var holder: String {
        if let p = projectId { return "project \(p)" }
        return "billing account \(billingAccountId ?? "?")"
    }

    /// Why the row cannot be used in a run billing `currency` (`invalid budget`), or nil.
    public func problem(currency runCurrency: Currency) -> String? {
        if (projectId == nil) == (billingAccountId == nil) {
            return projectId == nil ? "has neither a project_id nor a billing_account_id; it needs exactly one"
                : "has both a project_id and a billing_account_id; it needs exactly one"
        }
        if monthlyAmount.units <= 0 { return "has monthly_amount \(monthlyAmount): it must be above 0" }
        if monthlyAmount.scale > 6 || monthlyAmount.compare(ExactDecimal(units: pow10(14), scale: 0)) >= 0 {
            return "has monthly_amount \(monthlyAmount): at most 14 digits before the point and 6 after (numeric(20,6))"
        }
        guard let thresholds else { return "has a threshold that is NULL or not a number" }
        if thresholds.isEmpty { return "has an empty list of thresholds (leave it NULL for 50, 80 and 100 %)" }
        let bad = thresholds.filter { $0.units <= 0 || $0.compare(ExactDecimal(units: 1000, scale: 0)) > 0 || $0.scale > 6 }
        if !bad.isEmpty {
            return "has threshold(s) \(bad.map(\.description).joined(separator: ", ")) %: each must be in (0, 1000], with at most 6 decimals"
        }
        if let to = effectiveTo, to <= effectiveFrom { return "ends at \(to), not after it starts at \(effectiveFrom)" }
        if currency != runCurrency.code { return "is in \(currency), not the run's currency \(runCurrency.code)" }
        return nil
    }

    /// The budgets that apply to a run of a period billed over `window` (its start to the
    /// run's `as_of`, or to the period's end): per `budget_id`, of its versions in force at
    /// some instant of the window, the one that starts last (a version changed during the
    /// month sets the month's budget). Problems are warnings (`invalid budget`; budgets never
    /// block invoices): a row that cannot be used, or two versions of one budget in force at
    /// once. Sorted by budget id (byte order).
    public static func applicable(_ rows: [Budget], currency: Currency, window: BillingWindow) -> (budgets: [Budget], problems: [Anomaly]) {
        var byId: [String: [Budget]] = [:]
        for b in rows where window.isReached(from: b.effectiveFrom, to: b.effectiveTo) { byId[b.id, default: []].append(b) }
        var budgets: [Budget] = []
        var problems: [Anomaly] = []
        func warn(_ b: Budget, _ problem: String) {
            problems.append(Anomaly(.warning, .invalidBudget, projectId: b.projectId, detail: "budget \(b.id) (\(b.holder)) \(problem)"))
        }
        for id in byId.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let versions = byId[id]!.sorted { $0.effectiveFrom < $1.effectiveFrom }
            if let (a, b) = zip(versions, versions.dropFirst()).first(where: { a, b in a.effectiveTo.map { $0 > b.effectiveFrom } ?? true }) {
                warn(b, "from \(b.effectiveFrom) is in force together with its version from \(a.effectiveFrom); the budget is not compared")
                continue
            }
            let latest = versions.last!
            if let p = latest.problem(currency: currency) {
                warn(latest, p + "; it is not compared")
                continue
            }
            budgets.append(latest)
        }
        return (budgets, problems)
    }
}

/// What one budget's month looks like in a run: its holder's totals and the thresholds crossed.
public struct BudgetStanding: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// The month-to-date total (for a month that has ended, the month's).
        case actual
        /// Where the month ends if nothing changes (a month not ended only).
        case forecast
    }

    /// A threshold crossed by one kind of amount.
    public struct Crossing: Hashable, Sendable {
        public let kind: Kind
        /// Percent of the budget.
        public let threshold: ExactDecimal
        /// The amount that crossed it, in minor units.
        public let amount: Int128
    }

    public let budget: Budget
    public let currency: Currency
    /// The holder's invoices in force after the run: their `total`s, in minor units.
    public let actual: Int128
    /// Their forecasts' totals; nil once the period has ended.
    public let forecast: Int128?

    /// `actual / monthly_amount`, to 6 decimals, rounded down (Prometheus' figure).
    public var usedRatio: String { ratio(actual) }
    /// `forecast / monthly_amount`; nil without a forecast.
    public var forecastRatio: String? { forecast.map(ratio) }

    /// Each threshold an amount has reached (`amount >= threshold % x monthly_amount`, exactly),
    /// actual first, in ascending threshold order.
    public var crossings: [Crossing] {
        var out: [Crossing] = []
        for (kind, amount) in [(Kind.actual, actual), (.forecast, forecast)] {
            guard let amount else { continue }
            for t in budget.thresholds ?? [] where reaches(amount, t) { out.append(Crossing(kind: kind, threshold: t, amount: amount)) }
        }
        return out
    }

    public init(budget: Budget, currency: Currency, actual: Int128, forecast: Int128?) {
        self.budget = budget
        self.currency = currency
        self.actual = actual
        self.forecast = forecast
    }

    /// `amount` (minor units) x 100 >= `percent` x monthly amount, compared exactly at a common scale.
    private func reaches(_ amount: Int128, _ percent: ExactDecimal) -> Bool {
        let a = budget.monthlyAmount
        let lhsScale = currency.minorUnitDigits, rhsScale = percent.scale + a.scale
        let scale = max(lhsScale, rhsScale)
        return amount * 100 * pow10(scale - lhsScale) >= percent.units * a.units * pow10(scale - rhsScale)
    }

    private func ratio(_ amount: Int128) -> String {
        let a = budget.monthlyAmount
        // amount / 10^d over a.units / 10^s, to 6 decimals.
        let num = amount * pow10(a.scale + 6), den = a.units * pow10(currency.minorUnitDigits)
        var q = num / den
        if (num % den != 0) && ((num < 0) != (den < 0)) { q -= 1 }  // round toward minus infinity
        return formatScaled(q, scale: 6)
    }

    /// Every applicable budget's standing: per project the total of its invoice in force after
    /// the run and, for a month to date, its forecast (`ProjectSpend`); a billing account's
    /// budget adds up its projects.
    public static func of(_ budgets: [Budget], spend: [ProjectSpend], currency: Currency, forecasting: Bool) -> [BudgetStanding] {
        budgets.map { b in
            let mine = spend.filter { s in b.projectId.map { s.projectId == $0 } ?? (s.billingAccountId != nil && s.billingAccountId == b.billingAccountId) }
            return BudgetStanding(budget: b, currency: currency, actual: mine.reduce(0) { $0 + $1.total },
                                  forecast: forecasting ? mine.reduce(0) { $0 + ($1.forecast ?? $1.total) } : nil)
        }
    }
}

/// One project's spend in a period after a run: its invoice in force (`total`, VAT included,
/// after discounts and credits) and, on a month-to-date draft, its forecast total.
public struct ProjectSpend: Hashable, Sendable {
    public let projectId: String
    public let billingAccountId: String?
    public let total: Int128
    public let forecast: Int128?

    public init(projectId: String, billingAccountId: String?, total: Int128, forecast: Int128?) {
        self.projectId = projectId
        self.billingAccountId = billingAccountId
        self.total = total
        self.forecast = forecast
    }

    /// The spend of each project after a run applies `actions` to `stored` (the invoices in
    /// force before it): a new or kept revision's figures, nothing for a removed draft, the
    /// stored figures for an issued invoice left as it is (it stays the one in force).
    public static func afterRun(stored: [String: StoredInvoice], actions: [InvoiceAction]) -> [ProjectSpend] {
        var out: [String: ProjectSpend] = [:]
        for s in stored.values {
            out[s.record.projectId] = ProjectSpend(projectId: s.record.projectId, billingAccountId: s.project.billingAccountId, total: s.total,
                                                  forecast: s.forecast?.total)
        }
        for a in actions {
            switch a {
            case .keep, .differs:
                break  // the stored invoice stays the one in force (or, new to an issued period, none is)
            case .removeDraft(let s):
                out[s.record.projectId] = nil
            case .draft(let c, _), .issue(let c, _), .correct(_, let c):
                out[c.project.id] = ProjectSpend(projectId: c.project.id, billingAccountId: c.project.billingAccountId, total: c.total,
                                                 forecast: c.forecast?.total)
            }
        }
        return out.values.sorted { $0.projectId.utf8.lexicographicallyPrecedes($1.projectId.utf8) }
    }
}

/// A threshold crossing on record (`budget_alerts`): raised once per budget, period,
/// threshold and kind, by the run that first saw it, and kept if spend falls back later.
public struct BudgetAlert: Hashable, Sendable {
    public let budgetId: String
    public let period: YearMonth
    public let kind: BudgetStanding.Kind
    /// Percent of the budget, without trailing zeros.
    public let threshold: ExactDecimal
    public let projectId: String?
    public let billingAccountId: String?
    public let currency: String
    /// The budget's monthly amount and the amount that crossed the threshold, major units.
    public let monthlyAmount: ExactDecimal
    public let amount: ExactDecimal
    /// The run that raised it; nil on a dry run (it would be raised).
    public let runId: Int64?
    /// The `as_of` of that run.
    public let asOf: Instant

    public init(budgetId: String, period: YearMonth, kind: BudgetStanding.Kind, threshold: ExactDecimal, projectId: String?, billingAccountId: String?,
                currency: String, monthlyAmount: ExactDecimal, amount: ExactDecimal, runId: Int64?, asOf: Instant) {
        self.budgetId = budgetId
        self.period = period
        self.kind = kind
        self.threshold = threshold.normalized
        self.projectId = projectId
        self.billingAccountId = billingAccountId
        self.currency = currency
        self.monthlyAmount = monthlyAmount.normalized
        self.amount = amount
        self.runId = runId
        self.asOf = asOf
    }

    /// What makes an alert the same alert.
    public struct Key: Hashable, Sendable {
        public let budgetId: String
        public let kind: BudgetStanding.Kind
        public let threshold: ExactDecimal
    }
    public var key: Key { Key(budgetId: budgetId, kind: kind, threshold: threshold) }

    /// Report order: budget id (byte order), actual before forecast, threshold ascending.
    public static func reportOrder(_ a: BudgetAlert, _ b: BudgetAlert) -> Bool {
        if a.budgetId != b.budgetId { return a.budgetId.utf8.lexicographicallyPrecedes(b.budgetId.utf8) }
        if a.kind != b.kind { return a.kind == .actual }
        return a.threshold.compare(b.threshold) < 0
    }
}

/// The budgets of one run of a period: each applicable budget's standing, and every alert on
/// record for the period once the run is stored (those it raises included).
public struct BudgetReport: Sendable {
    public let standings: [BudgetStanding]
    /// In `BudgetAlert.reportOrder`.
    public let alerts: [BudgetAlert]
    /// The alerts this run raises (on a dry run: would raise), in report order.
    public let raised: [BudgetAlert]

    /// Crossings not yet on record become alerts raised by `runId` (nil: a dry run).
    public init(standings: [BudgetStanding], onRecord: [BudgetAlert], period: YearMonth, runId: Int64?, asOf: Instant) {
        self.standings = standings
        let known = Set(onRecord.map(\.key))
        var raised: [BudgetAlert] = []
        for s in standings {
            let cur = s.currency
            for c in s.crossings {
                let alert = BudgetAlert(budgetId: s.budget.id, period: period, kind: c.kind, threshold: c.threshold, projectId: s.budget.projectId,
                                        billingAccountId: s.budget.billingAccountId, currency: cur.code, monthlyAmount: s.budget.monthlyAmount,
                                        amount: ExactDecimal(units: c.amount, scale: cur.minorUnitDigits), runId: runId, asOf: asOf)
                if !known.contains(alert.key) { raised.append(alert) }
            }
        }
        self.raised = raised.sorted(by: BudgetAlert.reportOrder)
        alerts = (onRecord + raised).sorted(by: BudgetAlert.reportOrder)
    }

    /// True when budgets play a part in the period: one applies, or alerts are on record.
    public var isEmpty: Bool { standings.isEmpty && alerts.isEmpty }
}
