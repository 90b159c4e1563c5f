import BillingCore

/// A FinOps FOCUS 1.2 cost-and-usage file made from stored invoices.
///
/// One row per resource (instance), charge category and local day: `Usage` rows for the
/// lines of an original invoice, `Tax` rows for its VAT, and for a correcting revision
/// `Adjustment` rows of ChargeClass `Correction` holding, per line and day, what the
/// revision adds to (or credits against) the one it corrects, with its VAT difference as
/// `Tax` rows of class `Correction`. Amounts are the stored ones split over the days
/// exactly (`Allocation.proportional`), so Σ BilledCost per InvoiceId is that invoice's
/// total (for a correcting revision: its difference).
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

    /// The CSV for `documents` (all revisions of a period; drafts are left out).
    public func csv(_ documents: [InvoiceDocument]) -> String {
        var w = CSVWriter(header: FocusExport.columns)
        let byId = Dictionary(documents.map { ($0.record.invoiceId, $0) }, uniquingKeysWith: { a, _ in a })
        for doc in documents where doc.record.status != .draft {
            let previous = doc.record.correctsInvoiceId.flatMap { byId[$0] }
            let days = doc.days
            let current = doc.content.lines.map { ($0, $0.dailyAmounts) }
            if let previous {
                // A correction: per line and day, the new amount less the corrected one.
                var old: [String: [Int128]] = [:]
                for l in previous.content.lines { old[key(l)] = l.dailyAmounts }
                var seen = Set<String>()
                for (line, amounts) in current {
                    seen.insert(key(line))
                    let before = old[key(line)] ?? [Int128](repeating: 0, count: days.count)
                    for (d, day) in days.enumerated() where amounts[d] != before[d] {
                        w.appendRecord(usageRow(doc, line, day, cost: amounts[d] - before[d], micros: line.dailyMicroseconds[d], correction: true))
                    }
                }
                for l in previous.content.lines where !seen.contains(key(l)) {
                    for (d, day) in days.enumerated() where l.dailyAmounts[d] != 0 {
                        w.appendRecord(usageRow(doc, l, day, cost: -l.dailyAmounts[d], micros: 0, correction: true))
                    }
                }
                let taxNow = taxByDay(doc), taxBefore = taxByDay(previous)
                for (d, day) in days.enumerated() where taxNow[d] != taxBefore[d] {
                    w.appendRecord(taxRow(doc, day, cost: taxNow[d] - taxBefore[d], correction: true))
                }
            } else {
                for (line, amounts) in current {
                    for (d, day) in days.enumerated() where line.dailyMicroseconds[d] > 0 {
                        w.appendRecord(usageRow(doc, line, day, cost: amounts[d], micros: line.dailyMicroseconds[d], correction: false))
                    }
                }
                for (d, day) in days.enumerated() {
                    let tax = taxByDay(doc)[d]
                    if tax != 0 { w.appendRecord(taxRow(doc, day, cost: tax, correction: false)) }
                }
            }
        }
        return w.text
    }

    private func key(_ l: InvoiceLine) -> String { l.instanceId + "|" + String(l.rate.effectiveFrom.microseconds) }

    private func taxByDay(_ doc: InvoiceDocument) -> [Int128] {
        let n = doc.days.count
        guard !doc.content.lines.isEmpty else { return [doc.content.tax] + [Int128](repeating: 0, count: max(0, n - 1)) }
        return doc.content.dailyTax
    }

    /// Money in major units with at least two decimals, so every reader types it as a decimal.
    private func money(_ minor: Int128, _ c: Currency) -> String {
        let scale = max(c.minorUnitDigits, 2)
        return formatScaled(minor * pow10(scale - c.minorUnitDigits), scale: scale)
    }

    /// Hours of `micros`, to nine decimals (rounded half-up).
    private func hours(_ micros: Int64) -> String { DisplayFormat.hours(microseconds: micros, decimals: 9) }

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

    private func usageRow(_ doc: InvoiceDocument, _ l: InvoiceLine, _ day: BillingDay, cost: Int128, micros: Int64, correction: Bool) -> [CSVWriter.Field] {
        let c = doc.content.currency
        var f = common(doc, day)
        let cost = money(cost, c)
        let rate = l.rate.hourlyRateText
        f["BilledCost"] = .plain(cost)
        f["EffectiveCost"] = .plain(cost)
        f["ListCost"] = .plain(cost)
        f["ContractedCost"] = .plain(cost)
        f["ChargeCategory"] = .plain(correction ? "Adjustment" : "Usage")
        f["ChargeClass"] = .plain(correction ? "Correction" : "")
        f["ChargeDescription"] = .text("\(l.typeName) bare-metal server \(l.instanceName ?? l.instanceId) at \(rate) \(c.code)/h"
            + (correction ? ", correction by invoice revision \(doc.record.revision)" : ""))
        f["ChargeFrequency"] = .plain("Usage-Based")
        f["PricingCategory"] = .plain("Standard")
        f["PricingQuantity"] = .plain(hours(micros))
        f["PricingUnit"] = .plain("Hours")
        f["ConsumedQuantity"] = .plain(hours(micros))
        f["ConsumedUnit"] = .plain("Hours")
        f["ListUnitPrice"] = .plain(rate)
        f["ContractedUnitPrice"] = .plain(rate)
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
        return FocusExport.columns.map { f[$0] ?? .plain("") }
    }

    private func taxRow(_ doc: InvoiceDocument, _ day: BillingDay, cost: Int128, correction: Bool) -> [CSVWriter.Field] {
        let c = doc.content.currency
        var f = common(doc, day)
        let cost = money(cost, c)
        f["BilledCost"] = .plain(cost)
        f["EffectiveCost"] = .plain(cost)
        f["ListCost"] = .plain(cost)
        f["ContractedCost"] = .plain(cost)
        f["ChargeCategory"] = .plain("Tax")
        f["ChargeClass"] = .plain(correction ? "Correction" : "")
        f["ChargeDescription"] = .plain("VAT \(doc.vatRate) on invoice \(doc.record.invoiceNumber ?? "")" + (correction ? " (correction)" : ""))
        f["ChargeFrequency"] = .plain("Usage-Based")
        f["PricingCategory"] = .plain("")
        return FocusExport.columns.map { f[$0] ?? .plain("") }
    }
}
