/// Time spent in one state.
public struct StateTime: Hashable, Sendable {
    public let state: String
    public let microseconds: Int64

    public init(state: String, microseconds: Int64) {
        self.state = state
        self.microseconds = microseconds
    }
}

/// One line of an invoice: one instance at one rate version under one discount (or none).
public struct InvoiceLine: Hashable, Sendable {
    /// 1-based position on the invoice (lines are grouped by category).
    public let lineNumber: Int
    public let instanceId: String
    public let instanceName: String?
    public let typeName: String
    public let category: String
    public let image: String
    public let rate: RateVersion
    /// The exact metered billable time, in microseconds: the charged time plus the capped.
    public let meteredMicroseconds: Int64
    /// The charged (not capped) time per day of the window (`BillingResult.days`).
    public let dailyMicroseconds: [Int64]
    /// The discount that prices the line; nil at list price.
    public let discount: Discount?
    /// Time after the instance's monthly cap was reached: metered, shown, not charged.
    public let cappedMicroseconds: Int64
    /// The capped time per day of the window; empty when none is capped.
    public let dailyCappedMicroseconds: [Int64]
    /// The charged time, exact: what `billableSeconds` rounds up.
    public var chargedMicroseconds: Int64 { meteredMicroseconds - cappedMicroseconds }
    /// The metered time per billed state (why the time was billed: active, stopped, …),
    /// by state name. Made when asked for, from the metering's usage cells: a large month
    /// has hundreds of thousands of lines.
    public var stateMicroseconds: [StateTime] { states.list }
    private var states: StateSource

    enum StateSource: Hashable, Sendable {
        case given([StateTime])
        case metered([UsageCell], rate: Int32, discount: Int32)

        static func == (a: StateSource, b: StateSource) -> Bool { a.list == b.list }
        func hash(into h: inout Hasher) { h.combine(list) }
        var list: [StateTime] {
            switch self {
            case .given(let l): return l
            case .metered(let usage, let rate, let discount): return MeteredInstance.states(of: usage, rate: rate, discount: discount)
            }
        }
    }
    /// The charged time rounded up to the granularity, once.
    public let billableSeconds: Int64
    /// The charge in minor currency units, after the discount.
    public let amount: Int128
    /// The same time at list price, in minor units (equal to `amount` without a discount).
    public let listAmount: Int128
    /// `listAmount - amount`.
    public var discountAmount: Int128 { listAmount - amount }

    public init(
        lineNumber: Int, instanceId: String, instanceName: String?, typeName: String, category: String, image: String, rate: RateVersion,
        meteredMicroseconds: Int64, dailyMicroseconds: [Int64], stateMicroseconds: [StateTime] = [], billableSeconds: Int64,
        amount: Int128, listAmount: Int128? = nil, discount: Discount? = nil, cappedMicroseconds: Int64 = 0, dailyCappedMicroseconds: [Int64] = []
    ) {
        self.lineNumber = lineNumber
        self.instanceId = instanceId
        self.instanceName = instanceName
        self.typeName = typeName
        self.category = category
        self.image = image
        self.rate = rate
        self.meteredMicroseconds = meteredMicroseconds
        self.dailyMicroseconds = dailyMicroseconds
        self.states = .given(stateMicroseconds)
        self.billableSeconds = billableSeconds
        self.amount = amount
        self.listAmount = listAmount ?? amount
        self.discount = discount
        self.cappedMicroseconds = cappedMicroseconds
        self.dailyCappedMicroseconds = dailyCappedMicroseconds
    }

    /// A line of the metering: its states are read from the instance's usage cells.
    init(
        lineNumber: Int, instanceId: String, instanceName: String?, typeName: String, category: String, image: String, rate: RateVersion,
        meteredMicroseconds: Int64, dailyMicroseconds: [Int64], usage: [UsageCell], rateIndex: Int32, discountIndex: Int32, billableSeconds: Int64,
        amounts: (list: Int128, charged: Int128), discount: Discount?, cappedMicroseconds: Int64, dailyCappedMicroseconds: [Int64]
    ) {
        self.init(lineNumber: lineNumber, instanceId: instanceId, instanceName: instanceName, typeName: typeName, category: category,
                  image: image, rate: rate, meteredMicroseconds: meteredMicroseconds, dailyMicroseconds: dailyMicroseconds,
                  billableSeconds: billableSeconds, amount: amounts.charged, listAmount: amounts.list, discount: discount,
                  cappedMicroseconds: cappedMicroseconds, dailyCappedMicroseconds: dailyCappedMicroseconds)
        self.states = .metered(usage, rate: rateIndex, discount: discountIndex)
    }

    /// The amount split over the days in proportion to the time metered on each, exactly
    /// (`Allocation.proportional`): the parts add up to `amount`.
    public var dailyAmounts: [Int128] { Allocation.proportional(amount, weights: dailyMicroseconds) }
}

/// What one invoice took from one credit (pricing.md section 3), in minor units.
public struct CreditTake: Hashable, Sendable {
    public let creditId: String
    public let amount: Int128
    /// The credit's reason, for the reader of the invoice.
    public let reason: String?

    public init(creditId: String, amount: Int128, reason: String? = nil) {
        self.creditId = creditId
        self.amount = amount
        self.reason = reason
    }

    /// True when two lists take the same amounts from the same credits.
    public static func same(_ a: [CreditTake], _ b: [CreditTake]) -> Bool {
        func byCredit(_ takes: [CreditTake]) -> [String: Int128] { Dictionary(takes.map { ($0.creditId, $0.amount) }, uniquingKeysWith: +) }
        return byCredit(a) == byCredit(b)
    }
}

/// What a project owes for a period, computed from the source data: lines, list and
/// charged subtotals, the credits taken, VAT and total, all in minor units of `currency`.
/// Identity (invoice id, number, status) is given when it is stored.
public struct InvoiceContent: Hashable, Sendable {
    public let project: Project
    public let currency: Currency
    public let lines: [InvoiceLine]
    /// The sum of the lines' charged amounts (after discounts).
    public let subtotal: Int128
    /// The sum of the lines' list amounts.
    public let listSubtotal: Int128
    /// What credits pay, before tax: never more than `subtotal`.
    public private(set) var credits: [CreditTake]
    /// VAT on the tax base, `subtotal - creditsApplied`.
    public private(set) var tax: Int128
    public private(set) var total: Int128
    private let vatRate: ExactDecimal
    private let rounding: RoundingMode

    public init(project: Project, currency: Currency, lines: [InvoiceLine], vatRate: ExactDecimal, rounding: RoundingMode,
                credits: [CreditTake] = []) {
        self.project = project
        self.currency = currency
        self.lines = lines
        self.vatRate = vatRate
        self.rounding = rounding
        subtotal = lines.reduce(0) { $0 + $1.amount }
        listSubtotal = lines.reduce(0) { $0 + $1.listAmount }
        self.credits = credits
        let base = subtotal - credits.reduce(0) { $0 + $1.amount }
        tax = Pricing.tax(onSubtotal: base, vatRate: vatRate, rounding: rounding)
        total = base + tax
        // Credits are left out: they alone never make an invoice differ (pricing.md section 3).
        let taxBeforeCredits = Pricing.tax(onSubtotal: subtotal, vatRate: vatRate, rounding: rounding)
        fingerprint = SHA256.hex(of: Array(InvoiceContent.canonicalText(project: project, currency: currency, subtotal: subtotal,
                                                                        tax: taxBeforeCredits, total: subtotal + taxBeforeCredits, lines: lines).utf8))
    }

    /// The same invoice paying `credits` (replacing any it had): the tax and total change,
    /// the lines and the fingerprint do not.
    public func applying(credits: [CreditTake]) -> InvoiceContent {
        if credits.isEmpty && self.credits.isEmpty { return self }
        var c = self
        c.credits = credits
        c.tax = Pricing.tax(onSubtotal: c.taxBase, vatRate: vatRate, rounding: rounding)
        c.total = c.taxBase + c.tax
        return c
    }

    /// `listSubtotal - subtotal`.
    public var discount: Int128 { listSubtotal - subtotal }
    /// The sum of `credits`.
    public var creditsApplied: Int128 { credits.reduce(0) { $0 + $1.amount } }
    /// What VAT is charged on.
    public var taxBase: Int128 { subtotal - creditsApplied }

    /// The lines' categories in invoice order (that of their first lines), each with its
    /// lines and their sum. The engine writes an invoice's lines grouped by category, so a
    /// category's lines are a slice of `lines`, not copies; lines in another order are
    /// grouped first.
    public var categories: [(category: String, lines: ArraySlice<InvoiceLine>, subtotal: Int128)] {
        func runs(_ lines: [InvoiceLine]) -> [Range<Int>] {
            var result: [Range<Int>] = []
            var start = 0
            while start < lines.count {
                var end = start + 1
                while end < lines.count, lines[end].category == lines[start].category { end += 1 }
                result.append(start..<end)
                start = end
            }
            return result
        }
        var grouped = lines
        var ranges = runs(lines)
        if Set(ranges.map { lines[$0.lowerBound].category }).count < ranges.count {
            // A category in two places: its lines brought together, in the order of its first.
            var order: [String] = []
            var groups: [String: [InvoiceLine]] = [:]
            for line in lines {
                if groups[line.category] == nil { order.append(line.category) }
                groups[line.category, default: []].append(line)
            }
            grouped = order.flatMap { groups[$0]! }
            ranges = runs(grouped)
        }
        return ranges.map { r in (grouped[r.lowerBound].category, grouped[r], grouped[r].reduce(0) { $0 + $1.amount }) }
    }

    /// The VAT split over the days in proportion to each day's charges, exactly.
    public var dailyTax: [Int128] {
        guard let n = lines.first?.dailyMicroseconds.count else { return [] }
        var perDay = [Int128](repeating: 0, count: n)
        for l in lines { for (i, a) in l.dailyAmounts.enumerated() { perDay[i] += a } }
        return Allocation.proportional(tax, weights: perDay)
    }


    private static func canonicalText(project: Project, currency: Currency, subtotal: Int128, tax: Int128, total: Int128, lines: [InvoiceLine]) -> String {
        var s = "\(project.id)|\(currency.code)|\(subtotal)|\(tax)|\(total)\n"
        for l in lines {
            s += "\(l.lineNumber)|\(l.instanceId)|\(l.typeName)|\(l.category)|\(l.rate.effectiveFrom.microseconds)|\(l.rate.hourlyRateText)|\(l.billableSeconds)|\(l.amount)"
            // Pricing is added only where a line has some, so lines without it keep the
            // fingerprints they were issued with.
            if l.discount != nil || l.cappedMicroseconds != 0 || l.listAmount != l.amount {
                s += "|\(l.discount?.id ?? "-")|\(l.discount?.percentText ?? "-")|\(l.listAmount)|\(l.cappedMicroseconds)"
            }
            s += "\n"
        }
        return s
    }

    /// SHA-256 of `canonicalText`, in hex (computed once, when the content is made).
    public let fingerprint: String

    /// On a month-to-date draft: where the month ends if nothing changes (set by
    /// `InvoicePlanner`). Not part of the fingerprint: a forecast never makes an invoice differ.
    public private(set) var forecast: InvoiceForecast?

    /// The same invoice carrying `forecast`.
    public func with(forecast: InvoiceForecast?) -> InvoiceContent {
        var c = self
        c.forecast = forecast
        return c
    }
}

/// Where a month-to-date invoice ends if every instance stays in the state it is in at the
/// run's `as_of` until the month's end: the invoice a run of the whole month would give on
/// today's data (`BillingResult.forecasts`), with the credits a draft of it would take from
/// today's balances, and VAT. In minor units. A forecast never issues nor takes anything.
public struct InvoiceForecast: Hashable, Sendable {
    /// The instant the forecast runs to: the period's end.
    public let through: Instant
    /// The forecast's charged subtotal (after discounts).
    public let subtotal: Int128
    /// What credits would pay of it, before tax.
    public let creditsApplied: Int128
    public let tax: Int128
    public let total: Int128

    public init(through: Instant, subtotal: Int128, creditsApplied: Int128, tax: Int128, total: Int128) {
        self.through = through
        self.subtotal = subtotal
        self.creditsApplied = creditsApplied
        self.tax = tax
        self.total = total
    }

    /// The forecast of a month's invoice, once credited.
    public init(_ c: InvoiceContent, through: Instant) {
        self.init(through: through, subtotal: c.subtotal, creditsApplied: c.creditsApplied, tax: c.tax, total: c.total)
    }

    /// The forecast of a project with nothing to bill by the month's end.
    public static func zero(through: Instant) -> InvoiceForecast {
        InvoiceForecast(through: through, subtotal: 0, creditsApplied: 0, tax: 0, total: 0)
    }
}

/// One row of the usage report: the exact time an instance spent in one state under one
/// rate version.
public struct UsageRow: Hashable, Sendable {
    public let projectId: String
    public let projectName: String
    public let instanceId: String
    public let instanceName: String?
    public let typeName: String
    public let category: String
    public let image: String
    /// Canonical state name.
    public let state: String
    /// Whether the state is billed; false for a state the table does not know (reported as an error).
    public let billable: Bool
    /// The rate version in force; nil where none is.
    public let rate: RateVersion?
    /// The discount that prices the time (billable rows only); nil at list price.
    public var discount: Discount? = nil
    /// True when the time came after the instance's monthly cap was reached: not charged.
    public var capped = false
    public let microseconds: Int64
    /// The local day, when usage is split by day.
    public let day: CivilDate?
    /// The invoice line this time is charged on (billable and priced rows only).
    public internal(set) var lineNumber: Int?
    /// Where `rate` is in `UsageTable.rates` (-1 for none), to format each version once.
    public internal(set) var rateIndex: Int = -1
}
