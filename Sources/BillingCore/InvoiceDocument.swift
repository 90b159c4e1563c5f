/// A stored invoice revision with everything an export needs: its identity, its content
/// and the days its lines' time is spread over. Exports are made from these alone.
public struct InvoiceDocument: Sendable {
    public let record: InvoiceRecord
    public let content: InvoiceContent
    public let period: BillingPeriod
    /// The last instant the invoice covers (the period's end once issued).
    public let windowEnd: Instant
    public let vatRate: ExactDecimal
    /// The unit each line's time was rounded up to, and how amounts were rounded, when the
    /// invoice was computed (its run's settings).
    public let granularity: Granularity
    public let rounding: RoundingMode

    public init(record: InvoiceRecord, content: InvoiceContent, period: BillingPeriod, windowEnd: Instant, vatRate: ExactDecimal,
                granularity: Granularity, rounding: RoundingMode) {
        self.record = record
        self.content = content
        self.period = period
        self.windowEnd = windowEnd
        self.vatRate = vatRate
        self.granularity = granularity
        self.rounding = rounding
    }

    /// The local days of the invoice's window, as its lines' `dailyMicroseconds` count them.
    public var days: [BillingDay] {
        period.days.filter { $0.window.start < windowEnd }.map {
            BillingDay(date: $0.date, window: BillingWindow(start: $0.window.start, end: min($0.window.end, windowEnd)))
        }
    }
}
