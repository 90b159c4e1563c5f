/// The credits of one run (pricing.md section 3): their balances before it, what each
/// invoice of the run takes (or, a draft, would take), what corrections give back, and
/// their balances after. Pure: the store reads the balances (under its credit lock) and
/// writes what was taken.
public struct CreditLedger: Sendable {
    public let currency: Currency
    public let period: BillingPeriod
    /// The credits usable in the period, in the run's currency and valid, in take order.
    public let credits: [Credit]
    /// Balance per credit id before the run's invoices of the period took, in minor units:
    /// its amount less what issued invoices in force took, this period's kept ones apart
    /// (`keep`), so that re-running an issued period tells the same story.
    public private(set) var opening: [String: Int128]
    /// Balance per credit id counting only what issued invoices take: what is left after the run.
    public private(set) var closing: [String: Int128]
    /// Balances drafts take from too: a draft shows what it would take after the invoices
    /// before it in the run.
    private var running: [String: Int128]
    /// What the run did, in order.
    public private(set) var entries: [Entry] = []

    /// One movement of one credit.
    public struct Entry: Hashable, Sendable {
        public enum Kind: String, Sendable {
            /// Taken by an invoice issued by the run.
            case taken
            /// Shown on a draft: would be taken if the draft were issued now; nothing is taken.
            case wouldTake = "would take"
            /// Given back by the issued revision a correction supersedes.
            case returned
        }
        public let creditId: String
        public let projectId: String
        public let kind: Kind
        /// Minor units; positive for every kind.
        public let amount: Int128
        /// For `returned`: the number of the superseded invoice.
        public let invoiceNumber: String?
    }

    /// - Parameters:
    ///   - credits: every credits row (the ledger keeps those that play a part).
    ///   - applied: per credit id, what issued invoices in force have taken, in minor units.
    public init(credits: [Credit], applied: [String: Int128], currency: Currency, period: BillingPeriod) {
        self.currency = currency
        self.period = period
        self.credits = CreditLedger.usable(credits, currency: currency, period: period)
        var opening: [String: Int128] = [:]
        for c in self.credits { opening[c.id] = (c.minorUnits(currency) ?? 0) - (applied[c.id] ?? 0) }
        self.opening = opening
        closing = opening
        running = opening
    }

    /// The credits that play a part in a run: in its currency, usable in its period, valid.
    public static func usable(_ credits: [Credit], currency: Currency, period: BillingPeriod) -> [Credit] {
        credits.filter { $0.isIn(currency) && $0.isUsable(in: period) && $0.problem(currency) == nil }.sorted(by: Credit.takeOrder)
    }

    /// `invalid credit` for each credit of the run's currency usable in the period that
    /// cannot be used.
    public static func problems(of credits: [Credit], currency: Currency, period: BillingPeriod) -> [Anomaly] {
        credits.filter { $0.isIn(currency) && $0.isUsable(in: period) }.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }.compactMap { c in
            c.problem(currency).map { Anomaly(.error, .invalidCredit, projectId: c.projectId, detail: "credit \(c.id) (\(c.billingAccountId)) \($0); it is not used") }
        }
    }

    /// Records what an issued invoice the run keeps as it is took: shown as taken by it, as
    /// when it was issued (the balances already count it).
    public mutating func keep(_ takes: [CreditTake], projectId: String) {
        for t in takes where t.amount != 0 && opening[t.creditId] != nil {
            opening[t.creditId]! += t.amount
            entries.append(Entry(creditId: t.creditId, projectId: projectId, kind: .taken, amount: t.amount, invoiceNumber: nil))
        }
    }

    /// Gives back what a superseded revision took: a correction takes again afterwards.
    public mutating func giveBack(_ takes: [CreditTake], projectId: String, invoiceNumber: String?) {
        for t in takes where t.amount != 0 {
            if closing[t.creditId] != nil {
                closing[t.creditId]! += t.amount
                running[t.creditId]! += t.amount
            }
            entries.append(Entry(creditId: t.creditId, projectId: projectId, kind: .returned, amount: t.amount, invoiceNumber: invoiceNumber))
        }
    }

    /// `content` paying what its usable credits allow, soonest-expiring first, never more
    /// than its subtotal. `issuing`: the takes count (an issued invoice); otherwise they are
    /// only shown (a draft).
    public mutating func take(for content: InvoiceContent, issuing: Bool) -> InvoiceContent {
        var due = max(content.subtotal, 0)
        var takes: [CreditTake] = []
        for c in credits where due > 0 && c.pays(content.project) {
            let left = running[c.id] ?? 0
            guard left > 0 else { continue }
            let amount = min(left, due)
            due -= amount
            running[c.id] = left - amount
            if issuing { closing[c.id]! -= amount }
            takes.append(CreditTake(creditId: c.id, amount: amount, reason: c.reason))
            entries.append(Entry(creditId: c.id, projectId: content.project.id, kind: issuing ? .taken : .wouldTake, amount: amount, invoiceNumber: nil))
        }
        return content.applying(credits: takes)
    }

    /// `credit expired unused`: each credit of the run that expires by the period's end and
    /// still has a balance after it.
    public var expiredUnused: [Anomaly] {
        credits.compactMap { c in
            guard let e = c.expiresAt, e <= period.end, let left = closing[c.id], left > 0 else { return nil }
            return Anomaly(.warning, .creditExpiredUnused, projectId: c.projectId,
                           detail: "credit \(c.id) (\(c.billingAccountId)\(c.projectId.map { ", \($0)" } ?? "")) expires at \(e) with \(currency.plain(left)) \(currency) unused")
        }
    }

    /// True when no credit plays a part.
    public var isEmpty: Bool { credits.isEmpty }
}

extension InvoicePlanner {
    /// `plan`, with credits taken (pricing.md section 3): in project order (byte order of
    /// `project_id`), each invoice the plan issues takes from `ledger`'s balances, each draft
    /// shows what it would take, and each correction first gives back what the revision it
    /// corrects took. A stored draft whose figures are unchanged but whose credits would
    /// differ is written again. Returns the actions and the result whose invoices carry their
    /// credits (kept issued invoices: the credits they took), with `credit expired unused`
    /// warnings when the period is issuable, and its `credits` the ledger after the run.
    public static func plan(_ result: BillingResult, stored: [String: StoredInvoice], correctIssued: Bool, projects: Set<String>? = nil,
                            credits ledger: CreditLedger) -> (actions: [InvoiceAction], result: BillingResult) {
        let forecasts = monthEnd(result, credits: ledger)
        var ledger = ledger
        var actions = plan(result, stored: stored, correctIssued: correctIssued, projects: projects)
        var computed: [String: InvoiceContent] = [:]
        for c in result.invoices { computed[c.project.id] = c }
        var final: [String: InvoiceContent] = [:]
        let order = actions.indices.sorted { actions[$0].projectId.utf8.lexicographicallyPrecedes(actions[$1].projectId.utf8) }
        for i in order {
            switch actions[i] {
            case .issue(let c, let replacing):
                let credited = ledger.take(for: c, issuing: true)
                actions[i] = .issue(credited, replacing: replacing)
                final[c.project.id] = credited
            case .draft(let c, let replacing):
                let credited = ledger.take(for: c, issuing: false).with(forecast: forecasts[c.project.id])
                actions[i] = .draft(credited, replacing: replacing)
                final[c.project.id] = credited
            case .correct(let s, let c):
                ledger.giveBack(s.credits, projectId: s.record.projectId, invoiceNumber: s.record.invoiceNumber)
                let credited = ledger.take(for: c, issuing: true)
                actions[i] = .correct(s, credited)
                final[c.project.id] = credited
            case .keep(let s) where s.isIssued:
                ledger.keep(s.credits, projectId: s.record.projectId)
                if let c = computed[s.record.projectId] { final[c.project.id] = c.applying(credits: s.credits) }
            case .keep(let s):
                guard let c = computed[s.record.projectId] else { break }
                let credited = ledger.take(for: c, issuing: false).with(forecast: forecasts[c.project.id])
                if !CreditTake.same(credited.credits, s.credits) || credited.forecast != s.forecast { actions[i] = .draft(credited, replacing: s) }
                final[c.project.id] = credited
            case .removeDraft, .differs:
                break
            }
        }
        // An issued invoice today's data changes, left as it is (no --adjust): shown with what
        // a correction would take now, from the balances the run leaves (nothing is taken).
        var preview = ledger
        for i in order {
            guard case .differs(let s, let c) = actions[i] else { continue }
            if let s { preview.giveBack(s.credits, projectId: s.record.projectId, invoiceNumber: s.record.invoiceNumber) }
            let credited = preview.take(for: c, issuing: false)
            actions[i] = .differs(s, credited)
            final[c.project.id] = credited
        }
        // Projects a recompute limited to others leaves alone: as stored, with their credits.
        for (id, c) in computed where final[id] == nil {
            if let s = stored[id], s.record.fingerprint == c.fingerprint { final[id] = c.applying(credits: s.credits) }
        }
        var credited = result
        credited.invoices = result.invoices.map { final[$0.project.id] ?? $0 }
        if result.isIssuable { credited.anomalies = (result.anomalies + ledger.expiredUnused).sorted(by: Anomaly.reportOrder) }
        credited.credits = ledger
        return (actions, credited)
    }

    /// The forecast of each project's month-to-date draft (`BillingResult.forecasts`), with
    /// the credits a draft of the whole month would take: in project order (byte order), from
    /// the balances before the run (`ledger`), each after the forecasts before it, as drafts
    /// take. Nothing is taken. Empty once the period has ended; a project with a draft and
    /// nothing forecast (none in `forecasts`) is forecast at zero.
    static func monthEnd(_ result: BillingResult, credits ledger: CreditLedger) -> [String: InvoiceForecast] {
        guard result.forecastsMonthEnd else { return [:] }
        var ledger = ledger
        let through = result.period.end
        var out: [String: InvoiceForecast] = [:]
        for c in result.invoices { out[c.project.id] = .zero(through: through) }
        for f in result.forecasts.sorted(by: { $0.project.id.utf8.lexicographicallyPrecedes($1.project.id.utf8) }) {
            out[f.project.id] = InvoiceForecast(ledger.take(for: f, issuing: false), through: through)
        }
        return out
    }
}
