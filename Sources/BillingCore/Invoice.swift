/// Time spent in one state.
public struct StateTime: Hashable, Sendable {
    public let state: String
    public let microseconds: Int64

    public init(state: String, microseconds: Int64) {
        self.state = state
        self.microseconds = microseconds
    }
}

/// One line of an invoice: one instance at one rate version.
public struct InvoiceLine: Hashable, Sendable {
    /// 1-based position on the invoice (lines are grouped by category).
    public let lineNumber: Int
    public let instanceId: String
    public let instanceName: String?
    public let typeName: String
    public let category: String
    public let image: String
    public let rate: RateVersion
    /// The exact metered billable time, in microseconds.
    public let meteredMicroseconds: Int64
    /// The metered time per day of the window (`BillingResult.days`).
    public let dailyMicroseconds: [Int64]
    /// The metered time per billed state (why the time was billed: active, stopped, …),
    /// by state name. Made when asked for, from the metering's usage cells: a large month
    /// has hundreds of thousands of lines.
    public var stateMicroseconds: [StateTime] { states.list }
    private var states: StateSource

    enum StateSource: Hashable, Sendable {
        case given([StateTime])
        case metered([UsageCell], rate: Int32)

        static func == (a: StateSource, b: StateSource) -> Bool { a.list == b.list }
        func hash(into h: inout Hasher) { h.combine(list) }
        var list: [StateTime] {
            switch self {
            case .given(let l): return l
            case .metered(let usage, let rate): return MeteredInstance.states(of: usage, rate: rate)
            }
        }
    }
    /// The metered time rounded up to the granularity, once: what is charged.
    public let billableSeconds: Int64
    /// The charge in minor currency units.
    public let amount: Int128

    public init(
        lineNumber: Int, instanceId: String, instanceName: String?, typeName: String, category: String, image: String, rate: RateVersion,
        meteredMicroseconds: Int64, dailyMicroseconds: [Int64], stateMicroseconds: [StateTime] = [], billableSeconds: Int64,
        amount: Int128
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
    }

    /// A line of the metering: its states are read from the instance's usage cells.
    init(
        lineNumber: Int, instanceId: String, instanceName: String?, typeName: String, category: String, image: String, rate: RateVersion,
        meteredMicroseconds: Int64, dailyMicroseconds: [Int64], usage: [UsageCell], rateIndex: Int32, billableSeconds: Int64, amount: Int128
    ) {
        self.init(lineNumber: lineNumber, instanceId: instanceId, instanceName: instanceName, typeName: typeName, category: category,
                  image: image, rate: rate, meteredMicroseconds: meteredMicroseconds, dailyMicroseconds: dailyMicroseconds,
                  billableSeconds: billableSeconds, amount: amount)
        self.states = .metered(usage, rate: rateIndex)
    }

    /// The amount split over the days in proportion to the time metered on each, exactly
    /// (`Allocation.proportional`): the parts add up to `amount`.
    public var dailyAmounts: [Int128] { Allocation.proportional(amount, weights: dailyMicroseconds) }
}

/// What a project owes for a period, computed from the source data: lines, subtotal,
/// VAT and total, all in minor units of `currency`. Identity (invoice id, number,
/// status) is given when it is stored.
public struct InvoiceContent: Hashable, Sendable {
    public let project: Project
    public let currency: Currency
    public let lines: [InvoiceLine]
    public let subtotal: Int128
    public let tax: Int128
    public let total: Int128

    public init(project: Project, currency: Currency, lines: [InvoiceLine], vatRate: ExactDecimal, rounding: RoundingMode) {
        self.project = project
        self.currency = currency
        self.lines = lines
        subtotal = lines.reduce(0) { $0 + $1.amount }
        tax = Pricing.tax(onSubtotal: subtotal, vatRate: vatRate, rounding: rounding)
        total = subtotal + tax
        fingerprint = SHA256.hex(of: Array(InvoiceContent.canonicalText(project: project, currency: currency, subtotal: subtotal, tax: tax, total: total, lines: lines).utf8))
    }

    /// The lines' categories in invoice order, each with its lines and their sum.
    public var categories: [(category: String, lines: [InvoiceLine], subtotal: Int128)] {
        var order: [String] = []
        var groups: [String: [InvoiceLine]] = [:]
        for line in lines {
            if groups[line.category] == nil { order.append(line.category) }
            groups[line.category, default: []].append(line)
        }
        return order.map { ($0, groups[$0]!, groups[$0]!.reduce(0) { $0 + $1.amount }) }
    }

    /// The VAT split over the days in proportion to each day's charges, exactly.
    public var dailyTax: [Int128] {
        guard let n = lines.first?.dailyMicroseconds.count else { return [] }
        var perDay = [Int128](repeating: 0, count: n)
        for l in lines { for (i, a) in l.dailyAmounts.enumerated() { perDay[i] += a } }
        return Allocation.proportional(tax, weights: perDay)
    }

    /// A canonical text of everything that is charged, to tell whether a new
    /// computation differs from a stored invoice.
    public var canonicalText: String {
        InvoiceContent.canonicalText(project: project, currency: currency, subtotal: subtotal, tax: tax, total: total, lines: lines)
    }

    private static func canonicalText(project: Project, currency: Currency, subtotal: Int128, tax: Int128, total: Int128, lines: [InvoiceLine]) -> String {
        var s = "\(project.id)|\(currency.code)|\(subtotal)|\(tax)|\(total)\n"
        for l in lines {
            s += "\(l.lineNumber)|\(l.instanceId)|\(l.typeName)|\(l.category)|\(l.rate.effectiveFrom.microseconds)|\(l.rate.hourlyRateText)|\(l.billableSeconds)|\(l.amount)\n"
        }
        return s
    }

    /// SHA-256 of `canonicalText`, in hex (computed once, when the content is made).
    public let fingerprint: String
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
    public let microseconds: Int64
    /// The local day, when usage is split by day.
    public let day: CivilDate?
    /// The invoice line this time is charged on (billable and priced rows only).
    public internal(set) var lineNumber: Int?
    /// Where `rate` is in `UsageTable.rates` (-1 for none), to format each version once.
    public internal(set) var rateIndex: Int = -1
}
