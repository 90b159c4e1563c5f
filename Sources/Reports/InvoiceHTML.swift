import BillingCore
import Mustache

/// An invoice people read: HTML from `reports/templates/invoice.html` (built in), for a
/// screen or, through headless Chromium, a PDF. Everything from the data is HTML-escaped;
/// the chart is inline SVG (no script, no network).
public struct InvoiceHTML {
    public var issuer = "Bare Metal Server"

    public init() {}

    /// What each state means for the bill (the seed's descriptions).
    static let meanings: [String: String] = [
        "active": "running", "stopped": "stopped, hardware still allocated to you",
        "rebuild_spawning": "operating system being reinstalled", "rebooting_hard": "hard reboot requested",
        "rebooting_started_hard": "hard reboot in progress", "powering-off": "shutting down", "powering-on": "starting up",
    ]

    /// How amounts are rounded, in the words of the invoice's note.
    static func roundingWords(_ mode: RoundingMode) -> String {
        switch mode {
        case .halfUp: return "half up"
        case .halfEven: return "half to even"
        case .floor: return "down"
        }
    }

    static let categoryTitles = ["memory_optimized": "Memory optimized", "gpu": "GPU (accelerated computing)", "general_purpose": "General purpose"]

    public func render(_ doc: InvoiceDocument) throws -> String {
        try InvoiceHTML.render(template: EmbeddedTemplates.all["invoice.html"]!, context(doc))
    }

    /// `text`, a Mustache template, rendered with `context`.
    static func render(template text: String, _ context: [String: Any]) throws -> String {
        try MustacheTemplate(string: text).render(context)
    }

    func context(_ doc: InvoiceDocument) -> [String: Any] {
        let c = doc.content
        let cur = c.currency
        var states: [String: Int64] = [:]
        for l in c.lines { for t in l.stateMicroseconds { states[t.state, default: 0] += t.microseconds } }
        let vatPercent = formatScaledTrimmed(doc.vatRate.units * 100, scale: doc.vatRate.scale) + " %"
        var ctx: [String: Any] = [
            "issuer": issuer, "status": doc.record.status.rawValue, "period": doc.period.month.description,
            "timezone": doc.period.zone.identifier, "periodStart": doc.period.start.iso8601, "billedThrough": doc.windowEnd.iso8601,
            "projectName": c.project.name, "projectId": c.project.id, "billingAccount": c.project.billingAccountId ?? "(the project itself)",
            "invoiceDate": (doc.record.issuedAt ?? doc.windowEnd).iso8601.prefix(10).description,
            "subtotal": InvoiceHTML.money(c.subtotal, cur), "tax": InvoiceHTML.money(c.tax, cur), "total": InvoiceHTML.money(c.total, cur),
            "vatPercent": vatPercent, "chart": chart(doc), "granularity": doc.granularity.rawValue, "rounding": InvoiceHTML.roundingWords(doc.rounding),
            "currencyUnit": cur.minorUnitDigits == 0 ? "\(cur.code) unit" : "\(cur.code) minor unit",
            "categories": c.categories.map { group -> [String: Any] in
                [
                    "title": InvoiceHTML.categoryTitles[group.category] ?? group.category, "subtotal": InvoiceHTML.money(group.subtotal, cur),
                    "lines": group.lines.map { l -> [String: Any] in
                        var line: [String: Any] = [
                            "lineNo": String(l.lineNumber), "instanceName": l.instanceName ?? "", "instanceId": l.instanceId, "type": l.typeName,
                            "image": l.image, "hours": InvoiceHTML.hours(l.billableSeconds * 1_000_000),
                            "rate": InvoiceHTML.money(l.rate.microsPerHour, Currency(code: "KRW")!, scale: 6, symbol: cur), "amount": InvoiceHTML.money(l.amount, cur),
                            // Pricing columns (shown only on invoices with a discount or a cap).
                            "seconds": DisplayFormat.grouped(String(l.billableSeconds)), "listAmount": InvoiceHTML.money(l.listAmount, cur),
                            "lineCapped": l.cappedMicroseconds != 0, "cappedHours": InvoiceHTML.hours(l.cappedMicroseconds),
                            "cappedSeconds": DisplayFormat.grouped(formatSeconds(l.cappedMicroseconds)),
                            "lineDiscount": l.discount != nil, "discountAmount": InvoiceHTML.money(-l.discountAmount, cur),
                        ]
                        if let d = l.discount {
                            line["discountId"] = d.id
                            line["discountPercent"] = InvoiceHTML.percent(d)
                        }
                        return line
                    },
                    "listSubtotal": InvoiceHTML.money(group.lines.reduce(0) { $0 + $1.listAmount }, cur),
                ]
            },
            "states": states.sorted { $0.value > $1.value }.map { s -> [String: Any] in
                ["state": s.key, "hours": InvoiceHTML.hours(s.value), "meaning": InvoiceHTML.meanings[s.key] ?? ""]
            },
        ]
        // Pricing (pricing.md section 4): the columns, rows and styles appear only on invoices
        // that have a discount, a capped line or a credit, so others are, byte for byte, the
        // HTML they were before pricing existed.
        let discounted = c.lines.contains { $0.discount != nil || $0.listAmount != $0.amount }
        let capped = c.lines.contains { $0.cappedMicroseconds != 0 }
        let draft = doc.record.status == .draft
        ctx["showDiscounts"] = discounted
        ctx["showCapped"] = capped
        ctx["pricedLines"] = discounted || capped
        ctx["showCredits"] = !c.credits.isEmpty
        ctx["draft"] = draft
        ctx["priced"] = c.hasPricing  // = discounted || capped || credits
        // Priced lines: the image goes under the type, the discount's id under its amount.
        let columns = discounted || capped ? 6 + (capped ? 1 : 0) + (discounted ? 2 : 0) : 7
        ctx["columns"] = String(columns)
        ctx["columnsBeforeAmount"] = String(columns - 1)
        ctx["listSubtotal"] = InvoiceHTML.money(c.listSubtotal, cur)
        ctx["discountTotal"] = InvoiceHTML.money(-c.discount, cur)
        ctx["credits"] = c.credits.map { t -> [String: Any] in
            ["label": "Credit \(t.creditId)" + (t.reason.map { " · \($0)" } ?? "") + (draft ? " (would take)" : ""),
             "amount": InvoiceHTML.money(-t.amount, cur)]
        }
        ctx["creditsApplied"] = InvoiceHTML.money(-c.creditsApplied, cur)
        ctx["taxBase"] = InvoiceHTML.money(c.taxBase, cur)
        var seen: Set<String> = []
        ctx["discounts"] = c.lines.compactMap(\.discount).filter { seen.insert($0.id).inserted }.map { d -> [String: Any] in
            ["id": d.id, "percent": InvoiceHTML.percent(d), "description": d.description ?? ""]
        }
        // A month-to-date draft's forecast: where the month ends if nothing changes.
        if let f = c.forecast {
            ctx["forecast"] = true
            ctx["forecastTotal"] = InvoiceHTML.money(f.total, cur)
            ctx["forecastSubtotal"] = InvoiceHTML.money(f.subtotal, cur)
            if f.creditsApplied != 0 { ctx["forecastCredits"] = InvoiceHTML.money(-f.creditsApplied, cur) }
            ctx["forecastTax"] = InvoiceHTML.money(f.tax, cur)
            ctx["forecastThrough"] = f.through.iso8601
        }
        if let n = doc.record.invoiceNumber { ctx["number"] = n }
        if doc.record.revision > 0 { ctx["revision"] = String(doc.record.revision) }
        if let corrects = doc.record.correctsInvoiceId, let diff = doc.record.difference {
            ctx["corrects"] = "#\(corrects)"
            ctx["difference"] = InvoiceHTML.money(diff, cur)
        }
        return ctx
    }

    /// `₩1,234,567` for KRW; other currencies as `USD 1,234.50`. `scale` > the currency's
    /// digits shows a rate's decimals (trailing zeros trimmed).
    static func money(_ minor: Int128, _ c: Currency, scale: Int? = nil, symbol: Currency? = nil) -> String {
        let shown = symbol ?? c
        let digits = scale ?? c.minorUnitDigits
        var plain = scale == nil ? formatScaled(minor, scale: digits) : formatScaledTrimmed(minor, scale: digits)
        let negative = plain.hasPrefix("-")
        if negative { plain.removeFirst() }
        let number = DisplayFormat.grouped(plain)
        let prefix = shown.code == "KRW" ? "₩" : shown.code + " "
        return (negative ? "-" : "") + prefix + number
    }

    /// A discount's percent as people write it: `15 %`, `3.5 %`.
    static func percent(_ d: Discount) -> String { formatScaledTrimmed(d.percentUnits, scale: Discount.percentScale) + " %" }

    /// Hours with two decimals (rounded half-up) from microseconds.
    static func hours(_ micros: Int64) -> String { DisplayFormat.hours(microseconds: micros, decimals: 2) }

    /// Daily charges as an inline SVG bar chart (integer geometry).
    func chart(_ doc: InvoiceDocument) -> String {
        let days = doc.days
        var perDay = [Int128](repeating: 0, count: days.count)
        for l in doc.content.lines { for (i, a) in l.dailyAmounts.enumerated() where i < perDay.count { perDay[i] += a } }
        let top = max(perDay.max() ?? 0, 1)
        let width = 660, height = 90, gap = 2
        let bar = max(1, (width - gap * max(days.count, 1)) / max(days.count, 1))
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height + 14)\" role=\"img\" aria-label=\"daily charges\">"
        for (i, amount) in perDay.enumerated() {
            let h = Int(amount * Int128(height) / top)
            let x = i * (bar + gap)
            svg += "<rect x=\"\(x)\" y=\"\(height - h)\" width=\"\(bar)\" height=\"\(h)\" fill=\"#1d4ed8\"><title>\(days[i].date.isoDate): \(InvoiceHTML.money(amount, doc.content.currency))</title></rect>"
            if i == 0 || (i + 1) % 5 == 0 {
                svg += "<text x=\"\(x)\" y=\"\(height + 12)\" font-size=\"8\" fill=\"#5b6274\">\(days[i].date.day)</text>"
            }
        }
        return svg + "</svg>"
    }
}
