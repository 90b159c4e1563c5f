import BillingCore

/// A FinOps FOCUS 1.2 cost-and-usage file made from stored invoices.
///
/// One row per resource (instance), charge category and local day: `Usage` rows for the
/// lines of an original invoice, `Credit` rows for what its credits pay, `Tax` rows for its
/// VAT, and for a correcting revision `Adjustment` rows of ChargeClass `Correction` holding,
/// per line and day, what the revision adds to (or credits against) the one it corrects,
/// with its credit and VAT differences as `Credit` and `Tax` rows of class `Correction`.
///
/// Prices (pricing.md section 4): `ListUnitPrice`/`ListCost` are at list price,
/// `ContractedUnitPrice`/`ContractedCost`, `BilledCost` and `EffectiveCost` after the
/// line's discount. Time after a monthly cap counts in `ConsumedQuantity` only, not in
/// `PricingQuantity`. Amounts are the stored ones split over the days exactly
/// (`Allocation.proportional`), so Σ BilledCost per InvoiceId is that invoice's total (for
/// a correcting revision: its difference).
public struct FocusExport {
    /// Who issues the invoices and runs the service (ProviderName, PublisherName, InvoiceIssuerName).
    public var issuer = "Bare Metal Server"
    public var serviceName = "Bare Metal Server"

    public init() {}

    public static let columns = [
        "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart",
        "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart",
        "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost", "InvoiceId",
        "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit", "ProviderName",
        "PublisherName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName", "ServiceSubcategory",
        "SkuId", "SkuMeter", "SkuPriceId", "SubAccountId", "SubAccountName",
        "x_InstanceType", "x_Category", "x_Image", "x_InvoiceStatus", "x_InvoiceRevision", "x_LineNumber", "x_BillableSeconds",
    ]
    /// bmbill's pricing columns, after `columns`, only when some exported document has a
    /// discounted or capped line or credits (`hasPricing`): an export without pricing has
    /// the columns it had before pricing existed.
    public static let pricingColumns = ["x_DiscountId", "x_DiscountPercent", "x_CappedHours", "x_CreditId"]

    /// The CSV for `documents` (all revisions of a period; drafts are left out).
    public func csv(_ documents: [InvoiceDocument]) -> String {
        let exported = documents.filter { $0.record.status != .draft }
        let columns = FocusExport.columns + (exported.hasPricing ? FocusExport.pricingColumns : [])
        var w = CSVWriter(header: columns)
        func emit(_ f: [String: CSVWriter.Field]) { w.appendRecord(columns.map { f[$0] ?? .plain("") }) }
        let byId = Dictionary(documents.map { ($0.record.invoiceId, $0) }, uniquingKeysWith: { a, _ in a })
        for doc in documents where doc.record.status != .draft {
            let now = DailyFigures(doc)
            let days = doc.days
            if let previous = doc.record.correctsInvoiceId.flatMap({ byId[$0] }) {
                // A correction: per line, credit and day, the new figure less the corrected one.
                let before = DailyFigures(previous)
                let zeros = [Int128](repeating: 0, count: days.count)
                var old: [String: DailyFigures.Line] = [:]
                for l in before.lines { old[key(l.line)] = l }
                var seen = Set<String>()
                for l in now.lines {
                    seen.insert(key(l.line))
                    let was = old[key(l.line)]
                    for (d, day) in days.enumerated() {
                        let charged = l.charged[d] - (was?.charged[d] ?? 0), list = l.list[d] - (was?.list[d] ?? 0)
                        guard charged != 0 || list != 0 else { continue }
                        emit(usageRow(doc, l.line, day, charged: charged, list: list, micros: l.line.dailyMicroseconds[d],
                                      capped: l.line.capped(on: d), correction: true))
                    }
                }
                for l in before.lines where !seen.contains(key(l.line)) {
                    for (d, day) in days.enumerated() where l.charged[d] != 0 || l.list[d] != 0 {
                        emit(usageRow(doc, l.line, day, charged: -l.charged[d], list: -l.list[d], micros: 0, capped: 0, correction: true))
                    }
                }
                var oldCredits: [String: [Int128]] = [:]
                for c in before.credits { oldCredits[c.take.creditId] = c.daily }
                var creditIds = Set<String>()
                for c in now.credits {
                    creditIds.insert(c.take.creditId)
                    let was = oldCredits[c.take.creditId] ?? zeros
                    for (d, day) in days.enumerated() where c.daily[d] != was[d] {
                        emit(creditRow(doc, c.take, day, taken: c.daily[d] - was[d], correction: true))
                    }
                }
                for c in before.credits where !creditIds.contains(c.take.creditId) {
                    for (d, day) in days.enumerated() where c.daily[d] != 0 {
                        emit(creditRow(doc, c.take, day, taken: -c.daily[d], correction: true))
                    }
                }
                for (d, day) in days.enumerated() where now.tax[d] != before.tax[d] {
                    emit(taxRow(doc, day, cost: now.tax[d] - before.tax[d], correction: true))
                }
            } else {
                for l in now.lines {
                    for (d, day) in days.enumerated() where l.line.dailyMicroseconds[d] > 0 || l.line.capped(on: d) > 0 {
                        emit(usageRow(doc, l.line, day, charged: l.charged[d], list: l.list[d], micros: l.line.dailyMicroseconds[d],
                                      capped: l.line.capped(on: d), correction: false))
                    }
                }
                for c in now.credits {
                    for (d, day) in days.enumerated() where c.daily[d] != 0 {
                        emit(creditRow(doc, c.take, day, taken: c.daily[d], correction: false))
                    }
                }
                for (d, day) in days.enumerated() where now.tax[d] != 0 {
                    emit(taxRow(doc, day, cost: now.tax[d], correction: false))
                }
            }
        }
        return w.text
    }

    /// A line's identity across revisions: `(instance_id, rate_effective_from, discount_id)`.
    private func key(_ l: InvoiceLine) -> String {
        l.instanceId + "|" + String(l.rate.effectiveFrom.microseconds) + "|" + (l.discount?.id ?? "")
    }

    /// An invoice's figures per day of its window, each series adding up exactly to the
    /// invoice's own figure.
    struct DailyFigures {
        struct Line {
            let line: InvoiceLine
            /// The charged amount split over the days by the charged time on each.
            let charged: [Int128]
            /// The list amount split the same way.
            let list: [Int128]
        }
        let lines: [Line]
        /// Per credit taken: what it pays each day.
        let credits: [(take: CreditTake, daily: [Int128])]
        /// VAT per day, split by each day's tax base (charges less credits).
        let tax: [Int128]

        init(_ doc: InvoiceDocument) {
            let n = doc.days.count
            let c = doc.content
            lines = c.lines.map { Line(line: $0, charged: $0.dailyAmounts, list: Allocation.proportional($0.listAmount, weights: $0.dailyMicroseconds)) }
            var charges = [Int128](repeating: 0, count: n)
            for l in lines { for d in 0..<min(n, l.charged.count) { charges[d] += l.charged[d] } }
            // The credits pay each day in proportion to its charges: a day's share is never more
            // than its charges (credits never exceed the subtotal). Each credit then takes its
            // part of what is left to pay on each day, in proportion, the last one the rest, so
            // that every credit's days add up to what it paid and every day's credits to the
            // day's share.
            let perDay = n == 0 ? [] : Allocation.proportional(c.creditsApplied, weights: charges.map { max($0, 0) })
            var left = perDay
            var credits: [(CreditTake, [Int128])] = []
            for (k, take) in c.credits.enumerated() {
                let part = k == c.credits.count - 1 ? left : Allocation.proportional(take.amount, weights: left.map { max($0, 0) })
                for d in 0..<n { left[d] -= part[d] }
                credits.append((take, part))
            }
            self.credits = credits
            let base = (0..<n).map { max(charges[$0] - perDay[$0], 0) }
            tax = n == 0 ? [] : Allocation.proportional(c.tax, weights: base)
        }
    }

    /// Money in major units with at least two decimals, so every reader types it as a decimal.
    private func money(_ minor: Int128, _ c: Currency) -> String {
        let scale = max(c.minorUnitDigits, 2)
        return formatScaled(minor * pow10(scale - c.minorUnitDigits), scale: scale)
    }

    /// Hours of `micros`, to nine decimals (rounded half-up).
    private func hours(_ micros: Int64) -> String { DisplayFormat.hours(microseconds: micros, decimals: 9) }

    /// The hourly rate after `discount`, exact: rate x (100 - percent) / 100, with at least
    /// the six decimals of the rate.
    static func contractedRate(_ rate: RateVersion, _ discount: Discount?) -> String {
        guard let discount else { return rate.hourlyRateText }
        // microsPerHour has scale 6; (10^6 - percent units) / 10^6 is (100 - percent) / 100.
        let units = rate.microsPerHour * (pow10(6) - discount.percentUnits)
        var text = formatScaled(units, scale: 12)
        while text.hasSuffix("0"), let point = text.firstIndex(of: "."), text.distance(from: point, to: text.endIndex) > 7 { text.removeLast() }
        return text
    }

    private func common(_ doc: InvoiceDocument, _ day: BillingDay) -> [String: CSVWriter.Field] {
        let p = doc.content.project
        let c = doc.content.currency
        return [
            "BillingAccountId": .text(p.billingAccountId ?? p.id), "BillingAccountName": .text(p.billingAccountId ?? p.name),
            "BillingCurrency": .plain(c.code), "BillingPeriodStart": .plain(doc.period.start.iso8601),
            "BillingPeriodEnd": .plain(doc.period.end.iso8601), "ChargePeriodStart": .plain(day.window.start.iso8601),
            "ChargePeriodEnd": .plain(day.window.end.iso8601), "InvoiceId": .plain(doc.record.invoiceNumber ?? ""),
            "InvoiceIssuerName": .plain(issuer), "ProviderName": .plain(issuer), "PublisherName": .plain(issuer),
            "ServiceCategory": .plain("Compute"), "ServiceName": .plain(serviceName), "ServiceSubcategory": .plain("Other (Compute)"),
            "SubAccountId": .text(p.id), "SubAccountName": .text(p.name), "x_InvoiceStatus": .plain(doc.record.status.rawValue),
            "x_InvoiceRevision": .plain(String(doc.record.revision)),
        ]
    }

    /// One line's day: `charged` and `list` in minor units, `micros` the charged time and
    /// `capped` the time after the monthly cap.
    private func usageRow(_ doc: InvoiceDocument, _ l: InvoiceLine, _ day: BillingDay, charged: Int128, list: Int128, micros: Int64,
                          capped: Int64, correction: Bool) -> [String: CSVWriter.Field] {
        let c = doc.content.currency
        var f = common(doc, day)
        let cost = money(charged, c)
        let rate = l.rate.hourlyRateText
        setCosts(&f, cost, list: money(list, c))
        f["ChargeCategory"] = .plain(correction ? "Adjustment" : "Usage")
        f["ChargeClass"] = .plain(correction ? "Correction" : "")
        var description = "\(l.typeName) bare-metal server \(l.instanceName ?? l.instanceId) at \(rate) \(c.code)/h"
        if let d = l.discount { description += " less \(d.percentText) % (discount \(d.id))" }
        if capped > 0 { description += ", \(hours(capped)) h after the monthly cap not charged" }
        if correction { description += ", correction by invoice revision \(doc.record.revision)" }
        f["ChargeDescription"] = .text(description)
        f["ChargeFrequency"] = .plain("Usage-Based")
        f["PricingCategory"] = .plain("Standard")
        f["PricingQuantity"] = .plain(hours(micros))
        f["PricingUnit"] = .plain("Hours")
        f["ConsumedQuantity"] = .plain(hours(micros + capped))
        f["ConsumedUnit"] = .plain("Hours")
        f["ListUnitPrice"] = .plain(rate)
        f["ContractedUnitPrice"] = .plain(FocusExport.contractedRate(l.rate, l.discount))
        f["ResourceId"] = .text(l.instanceId)
        f["ResourceName"] = .text(l.instanceName ?? l.instanceId)
        f["ResourceType"] = .plain("Bare Metal Server")
        f["SkuId"] = .text(l.typeName)
        f["SkuMeter"] = .plain("Server Hours")
        f["SkuPriceId"] = .text(l.typeName + "@" + l.rate.effectiveFrom.iso8601)
        f["x_InstanceType"] = .text(l.typeName)
        f["x_Category"] = .text(l.category)
        f["x_Image"] = .text(l.image)
        f["x_LineNumber"] = .plain(String(l.lineNumber))
        f["x_BillableSeconds"] = .plain(String(l.billableSeconds))
        f["x_DiscountId"] = .text(l.discount?.id ?? "")
        f["x_DiscountPercent"] = .plain(l.discount?.percentText ?? "")
        f["x_CappedHours"] = .plain(capped > 0 ? hours(capped) : "")
        return f
    }

    /// What one credit pays on one day: `taken` in minor units (positive when it pays), so
    /// the row's cost is its negative. A credit relates to no other charge's price: every
    /// cost column is the billed cost (FOCUS EffectiveCost-C-010-C, ListCost-C-008-C,
    /// ContractedCost-C-008-C).
    private func creditRow(_ doc: InvoiceDocument, _ take: CreditTake, _ day: BillingDay, taken: Int128, correction: Bool) -> [String: CSVWriter.Field] {
        let c = doc.content.currency
        var f = common(doc, day)
        let cost = money(-taken, c)
        setCosts(&f, cost)
        f["ChargeCategory"] = .plain("Credit")
        f["ChargeClass"] = .plain(correction ? "Correction" : "")
        f["ChargeDescription"] = .text("Credit \(take.creditId)" + (take.reason.map { " (\($0))" } ?? "")
            + " on invoice \(doc.record.invoiceNumber ?? "")" + (correction ? " (correction)" : ""))
        f["ChargeFrequency"] = .plain("One-Time")
        f["x_CreditId"] = .text(take.creditId)
        return f
    }

    /// The four cost columns of a row: billed, effective and contracted cost are what is
    /// charged; list cost is `list` (usage at list price), else the same (credits and tax have
    /// no list price: FOCUS ListCost-C-008-C).
    private func setCosts(_ f: inout [String: CSVWriter.Field], _ cost: String, list: String? = nil) {
        f["BilledCost"] = .plain(cost)
        f["EffectiveCost"] = .plain(cost)
        f["ContractedCost"] = .plain(cost)
        f["ListCost"] = .plain(list ?? cost)
    }

    private func taxRow(_ doc: InvoiceDocument, _ day: BillingDay, cost: Int128, correction: Bool) -> [String: CSVWriter.Field] {
        let c = doc.content.currency
        var f = common(doc, day)
        let cost = money(cost, c)
        setCosts(&f, cost)
        f["ChargeCategory"] = .plain("Tax")
        f["ChargeClass"] = .plain(correction ? "Correction" : "")
        var description = "VAT \(doc.vatRate) on invoice \(doc.record.invoiceNumber ?? "")"
        if doc.content.creditsApplied != 0 {
            description += ", on the tax base \(c.plain(doc.content.taxBase)) \(c.code) (subtotal less credits)"
        }
        f["ChargeDescription"] = .plain(description + (correction ? " (correction)" : ""))
        f["ChargeFrequency"] = .plain("Usage-Based")
        f["PricingCategory"] = .plain("")
        return f
    }
}

extension InvoiceLine {
    /// The capped time on day `d` (0 when none is capped).
    fileprivate func capped(on d: Int) -> Int64 { d < dailyCappedMicroseconds.count ? dailyCappedMicroseconds[d] : 0 }
}
