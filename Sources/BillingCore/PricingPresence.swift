/// Whether discounts, monthly caps or credits (pricing.md) play a part. Every file and
/// export asks this, and only this, before it writes a pricing column, field or key: a
/// period in which no pricing plays a part gets, byte for byte, the files bmbill wrote
/// before pricing existed; one in which some does gets every pricing column, on every row.

extension InvoiceContent {
    /// True when the invoice has a discounted line (or one not at list price), a line with
    /// capped time, or credits (taken, or, a draft, that it would take).
    public var hasPricing: Bool {
        !credits.isEmpty || lines.contains { $0.discount != nil || $0.cappedMicroseconds != 0 || $0.listAmount != $0.amount }
    }
}

extension BillingResult {
    /// True when pricing plays a part in the period: a valid discount is in force in some of
    /// the window (`discountsInForce`, whichever project it is for), a monthly cap is in force
    /// at the period start (`capsInForce`), a credit plays a part (usable in the period, or
    /// moved by the run: a correction giving back what a superseded revision took), or an
    /// invoice carries some pricing (an issued invoice kept with the credits it took).
    /// Before the run is planned with its credits, the credits usable in the period count.
    public var hasPricing: Bool {
        if !discountsInForce.isEmpty || !capsInForce.isEmpty { return true }
        if let ledger = credits {
            if !ledger.isEmpty || !ledger.entries.isEmpty { return true }
        } else if !CreditLedger.usable(creditRows, currency: settings.currency, period: period).isEmpty {
            return true
        }
        return invoices.contains { $0.hasPricing }
    }
}

extension Collection where Element == InvoiceDocument {
    /// For exports made from stored invoices: true when some document of the export has a
    /// discounted or capped line or credits (`InvoiceContent.hasPricing`).
    public var hasPricing: Bool { contains { $0.content.hasPricing } }
}
