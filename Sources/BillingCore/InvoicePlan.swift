/// A project's invoice for a period as it is stored now: its current revision.
public struct StoredInvoice: Sendable {
    public let record: InvoiceRecord
    public let project: Project
    public let currency: Currency
    /// The last instant the stored figures cover (`billed_through`).
    public let windowEnd: Instant
    public let subtotal: Int128
    public let tax: Int128
    public let total: Int128
    /// What it took (or, a draft, would take) from credits.
    public var credits: [CreditTake] = []
    /// A month-to-date draft's forecast, as stored (`InvoiceContent.forecast`).
    public var forecast: InvoiceForecast?

    public init(record: InvoiceRecord, project: Project, currency: Currency, windowEnd: Instant, subtotal: Int128, tax: Int128, total: Int128) {
        self.record = record
        self.project = project
        self.currency = currency
        self.windowEnd = windowEnd
        self.subtotal = subtotal
        self.tax = tax
        self.total = total
    }

    public var isIssued: Bool { record.status == .issued }
}

/// What to do with one project's invoice so the store matches a new computation
/// (billing-rules.md section 5: an issued invoice is never changed).
public enum InvoiceAction: Sendable {
    /// Nothing to write: the stored invoice already says this.
    case keep(StoredInvoice)
    /// Write a draft, replacing the stored draft if there is one.
    case draft(InvoiceContent, replacing: StoredInvoice?)
    /// Issue the invoice with the next number, replacing the stored draft if there is one.
    case issue(InvoiceContent, replacing: StoredInvoice?)
    /// Delete a draft whose project no longer has billable usage.
    case removeDraft(StoredInvoice)
    /// The issued invoice differs from the new computation and this run does not correct:
    /// it stays as issued, and the difference is reported. With no stored invoice: the
    /// period was issued and this project now has usage it had not (late data).
    case differs(StoredInvoice?, InvoiceContent)
    /// Issue a correcting revision of the issued invoice: the next revision number, its
    /// own invoice number, the full corrected amounts and the difference.
    case correct(StoredInvoice, InvoiceContent)

    /// The project the action concerns.
    public var projectId: String {
        switch self {
        case .keep(let s), .removeDraft(let s), .correct(let s, _): return s.record.projectId
        case .draft(let c, _), .issue(let c, _), .differs(_, let c): return c.project.id
        }
    }

    /// True when the action writes something.
    public var writes: Bool {
        switch self {
        case .keep, .differs: return false
        default: return true
        }
    }
}

/// Decides, project by project, how the stored invoices follow a new computation.
public enum InvoicePlanner {
    /// - Parameters:
    ///   - result: the new computation.
    ///   - stored: the current revision per project for the period and currency.
    ///   - correctIssued: issue correcting revisions where an issued invoice differs
    ///     (recompute, `run --adjust`); otherwise report them as `.differs`.
    ///   - projects: limit to these projects (nil: all).
    /// - Returns: one action per project concerned, in project order.
    public static func plan(_ result: BillingResult, stored: [String: StoredInvoice], correctIssued: Bool, projects: Set<String>? = nil)
        -> [InvoiceAction]
    {
        var actions: [InvoiceAction] = []
        let issuable = result.isIssuable
        // Once a period is issued, any change to it is a correction: reported, or issued as one.
        let periodIssued = stored.values.contains { $0.isIssued }
        var computed: [String: InvoiceContent] = [:]
        for c in result.invoices { computed[c.project.id] = c }
        let ids = Set(computed.keys).union(stored.keys).filter { projects?.contains($0) ?? true }.sorted()
        // Corrections are issued only when asked for and when the data has no errors.
        let mayCorrect = correctIssued && issuable
        for id in ids {
            let new = computed[id]
            let old = stored[id]
            if periodIssued {
                switch (old, new) {
                case (nil, nil):
                    continue
                case (let s?, nil) where !s.isIssued:
                    actions.append(mayCorrect ? .removeDraft(s) : .keep(s))
                case (let s?, nil):
                    // Issued, and nothing is billable any more: correcting means a full credit.
                    let empty = InvoiceContent(project: s.project, currency: s.currency, lines: [], vatRate: result.settings.vatRate,
                                               rounding: result.settings.rounding)
                    actions.append(s.subtotal == 0 ? .keep(s) : (mayCorrect ? .correct(s, empty) : .differs(s, empty)))
                case (let s?, let c?) where s.isIssued:
                    if s.record.fingerprint == c.fingerprint {
                        actions.append(.keep(s))
                    } else {
                        actions.append(mayCorrect ? .correct(s, c) : .differs(s, c))
                    }
                case (let s, let c?):  // no invoice, or a draft, in a period already issued: new to it
                    actions.append(mayCorrect ? .issue(c, replacing: s) : .differs(nil, c))
                }
                continue
            }
            switch (old, new) {
            case (nil, nil):
                continue
            case (nil, let c?):
                actions.append(issuable ? .issue(c, replacing: nil) : .draft(c, replacing: nil))
            case (let s?, nil):
                actions.append(.removeDraft(s))
            case (let s?, let c?):
                if issuable {
                    actions.append(.issue(c, replacing: s))
                } else if s.record.fingerprint == c.fingerprint && s.windowEnd == result.window.end {
                    actions.append(.keep(s))
                } else {
                    actions.append(.draft(c, replacing: s))
                }
            }
        }
        return actions
    }
}

/// One invoice line as stored, for comparing with a new computation.
public struct StoredLine: Hashable, Sendable {
    public let instanceId: String
    public let rateEffectiveFrom: Instant
    public let hourlyRateText: String
    public let billableSeconds: Int64
    public let amount: Int128
    /// The discount that priced the line (a line is one instance x one rate version x one
    /// discount); nil at list price. Its percent as stored (`15.0000`).
    public let discountId: String?
    public let discountPercent: String?
    /// The instance's type, when known: whose monthly cap concerns the line.
    public let typeName: String?

    public init(instanceId: String, rateEffectiveFrom: Instant, hourlyRateText: String, billableSeconds: Int64, amount: Int128,
                discountId: String? = nil, discountPercent: String? = nil, typeName: String? = nil) {
        self.instanceId = instanceId
        self.rateEffectiveFrom = rateEffectiveFrom
        self.hourlyRateText = hourlyRateText
        self.billableSeconds = billableSeconds
        self.amount = amount
        self.discountId = discountId
        self.discountPercent = discountPercent
        self.typeName = typeName
    }
}

/// How one line changed between a stored invoice and a new computation.
public struct LineChange: Hashable, Sendable {
    public enum Kind: String, Sendable { case added, removed, changed }
    public let kind: Kind
    public let instanceId: String
    public let rateEffectiveFrom: Instant
    /// The line's discount (nil: list price): a line is an instance, a rate version and a discount.
    public let discountId: String?
    public let old: StoredLine?
    public let new: StoredLine?

    /// Amount the change adds (negative: credits), in minor units.
    public var amountDelta: Int128 { (new?.amount ?? 0) - (old?.amount ?? 0) }
    public var rateChanged: Bool { old != nil && new != nil && old!.hourlyRateText != new!.hourlyRateText }
    public var secondsChanged: Bool { (old?.billableSeconds ?? 0) != (new?.billableSeconds ?? 0) }

    /// The lines of `old` and `new` that differ, by instance, rate version and discount.
    public static func between(old: [StoredLine], new: [StoredLine]) -> [LineChange] {
        struct Key: Hashable, Comparable {
            let instance: String
            let from: Instant
            let discount: String
            static func < (a: Key, b: Key) -> Bool { (a.instance, a.from, a.discount) < (b.instance, b.from, b.discount) }
        }
        func key(_ l: StoredLine) -> Key { Key(instance: l.instanceId, from: l.rateEffectiveFrom, discount: l.discountId ?? "") }
        let o = Dictionary(old.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        let n = Dictionary(new.map { (key($0), $0) }, uniquingKeysWith: { a, _ in a })
        return Set(o.keys).union(n.keys).sorted().compactMap { k in
            let discount = k.discount.isEmpty ? nil : k.discount
            switch (o[k], n[k]) {
            case (nil, let b?): return LineChange(kind: .added, instanceId: k.instance, rateEffectiveFrom: k.from, discountId: discount, old: nil, new: b)
            case (let a?, nil): return LineChange(kind: .removed, instanceId: k.instance, rateEffectiveFrom: k.from, discountId: discount, old: a, new: nil)
            case (let a?, let b?)
            where a.billableSeconds != b.billableSeconds || a.amount != b.amount || a.hourlyRateText != b.hourlyRateText
                || a.discountPercent != b.discountPercent:
                return LineChange(kind: .changed, instanceId: k.instance, rateEffectiveFrom: k.from, discountId: discount, old: a, new: b)
            default: return nil
            }
        }
    }
}

extension InvoiceLine {
    public var stored: StoredLine {
        StoredLine(instanceId: instanceId, rateEffectiveFrom: rate.effectiveFrom, hourlyRateText: rate.hourlyRateText,
                   billableSeconds: billableSeconds, amount: amount, discountId: discount?.id, discountPercent: discount?.percentText,
                   typeName: typeName)
    }
}

extension Array where Element == InvoiceAction {
    /// Projects whose issued invoice differs from today's computation and was left as it is.
    public var differFromIssued: [String] {
        compactMap { if case .differs(_, let c) = $0 { return c.project.id } else { return nil } }
    }
}
