import BillingCore

/// The files of one period's output folder, rendered from a billing result and the stored
/// identity of its invoices into a staging folder. Rendering is deterministic: the same
/// result and invoices always give the same bytes.
///
/// Pricing's columns, fields and keys (pricing.md section 4) are written only when pricing
/// plays a part in the period (`BillingResult.hasPricing`): without it, every file is byte
/// for byte the one bmbill wrote before pricing existed.
///
/// Each file is written to the staging folder as soon as it is rendered and only its
/// checksum is kept, so memory does not hold the folder (a large month has a thousand
/// invoice files and a usage report of hundreds of megabytes). `usage.csv` is written
/// first, by `UsageCSV.write`; `OutputFolder.write` flushes the folder and swaps it in.
public struct PeriodFiles {
    /// The staging folder the files are in.
    public let staging: String
    /// Relative path and SHA-256 of every file, in write order, `manifest.json` last.
    public let files: [(path: String, digest: String)]

    /// `records` holds the stored invoice of each project of `result.invoices`; `credits`
    /// are correcting revisions of projects with no usage left (an invoice of zero).
    /// `budgets`: the period's budget alerts (`alerts.csv`, written when budgets play a part).
    public init(result: BillingResult, records: [String: InvoiceRecord], credits: [InvoiceContent] = [], budgets: BudgetReport? = nil,
                usage: StagedFile) throws {
        let staging = String(usage.path.dropLast("/usage.csv".count))
        precondition(staging + "/usage.csv" == usage.path, "usage.csv must be staged as <staging>/usage.csv")
        var files: [(String, String)] = [("usage.csv", usage.digest)]
        let pricing = result.hasPricing
        func stage(_ path: String, _ contents: String) throws {
            files.append((path, try StagedFile.write(contents, to: staging + "/" + path).digest))
        }
        func stage(_ path: String, _ json: JSON) throws {
            files.append((path, try StagedFile.write(json.prettyBytes, to: staging + "/" + path).digest))
        }
        let lines = try StagedFile.write(to: staging + "/invoice_lines.csv") { emit in
            try PeriodFiles.invoiceLinesCSV(result, records: records, pricing: pricing) { chunk in try chunk.withUnsafeBufferPointer { try emit($0) } }
        }
        files.append(("invoice_lines.csv", lines.digest))
        try stage("anomalies.csv", PeriodFiles.anomaliesCSV(result))
        try stage("summary.csv", PeriodFiles.summaryCSV(result, credits: credits, records: records, pricing: pricing))
        if let ledger = result.credits, !ledger.isEmpty {
            try stage("credits.csv", PeriodFiles.creditsCSV(ledger, records: records))
        }
        if let budgets, !budgets.isEmpty {
            try stage("alerts.csv", PeriodFiles.alertsCSV(budgets.alerts))
        }
        for invoice in (result.invoices + credits).sorted(by: { $0.project.id < $1.project.id }) {
            try stage("invoices/" + SafeFileName.of(invoice.project.id) + ".json",
                      PeriodFiles.invoiceJSON(invoice, record: records[invoice.project.id], result: result, pricing: pricing))
        }
        let checksums = files.map { ($0.0, JSON.string($0.1)) }
        try stage("manifest.json", PeriodFiles.manifest(result, invoices: result.invoices + credits, records: records, checksums: checksums,
                                                        pricing: pricing))
        self.staging = staging
        self.files = files
    }

    /// The files, but only when they can tell the truth: every stored invoice in force has
    /// the content computed now (same fingerprint), and every computed invoice is stored.
    /// Otherwise nil: the stored invoices and today's data disagree (late data not yet
    /// corrected, or a recompute limited to some projects), and writing would mix them.
    public static func ifConsistent(result: BillingResult, records: [String: InvoiceRecord], zeroInvoices: [InvoiceContent],
                                    budgets: BudgetReport? = nil, usage: StagedFile) throws -> PeriodFiles? {
        let contents = result.invoices + zeroInvoices.filter { z in !result.invoices.contains { $0.project.id == z.project.id } }
        guard contents.count == records.count,
            contents.allSatisfy({ records[$0.project.id]?.fingerprint == $0.fingerprint })
        else { return nil }
        return try PeriodFiles(result: result, records: records, credits: zeroInvoices.filter { z in contents.contains { $0.project.id == z.project.id } && !result.invoices.contains { $0.project.id == z.project.id } }, budgets: budgets, usage: usage)
    }

    /// The checksums as stored with the run: every file's SHA-256, the manifest's included.
    public var checksumsJSON: JSON {
        .object(files.map { ($0.path, .string($0.digest)) })
    }

    // MARK: usage.csv

    public static var usageColumns: [String] { UsageCSV.columns }

    // MARK: invoice_lines.csv

    public static let invoiceLineColumns = [
        "period", "project_id", "invoice_id", "invoice_number", "status", "line_no", "instance_id", "instance_name",
        "instance_type", "category", "image", "rate_effective_from", "hourly_rate", "currency", "metered_seconds",
        "billable_seconds", "amount",
    ]
    /// pricing.md's columns, after `invoiceLineColumns`, only when pricing plays a part in the period.
    public static let invoiceLinePricingColumns = ["discount_id", "discount_percent", "list_amount", "capped_seconds"]

    /// Renders the lines in chunks of about `chunk` bytes (a large month has hundreds of
    /// thousands); with `pricing` (`BillingResult.hasPricing`), each line's pricing columns.
    static func invoiceLinesCSV(_ r: BillingResult, records: [String: InvoiceRecord], pricing: Bool, chunk: Int = 1 << 20,
                                _ sink: ([UInt8]) throws -> Void) rethrows {
        var csv = CSVWriter(header: invoiceLineColumns + (pricing ? invoiceLinePricingColumns : []))
        for invoice in r.invoices {
            let record = records[invoice.project.id]
            for l in invoice.lines {
                var fields: [CSVWriter.Field] = [
                    .plain(r.period.month.description), .text(invoice.project.id), .plain(record.map { String($0.invoiceId) } ?? ""),
                    .plain(record?.invoiceNumber ?? ""), .plain(record?.status.rawValue ?? ""), .plain(String(l.lineNumber)),
                    .text(l.instanceId), .text(l.instanceName ?? ""), .text(l.typeName), .text(l.category), .text(l.image),
                    .plain(l.rate.effectiveFrom.iso8601), .plain(l.rate.hourlyRateText), .plain(invoice.currency.code),
                    .plain(formatSeconds(l.meteredMicroseconds)), .plain(String(l.billableSeconds)), .plain(invoice.currency.plain(l.amount)),
                ]
                if pricing {
                    fields += [.text(l.discount?.id ?? ""), .plain(l.discount?.percentText ?? ""), .plain(invoice.currency.plain(l.listAmount)),
                               .plain(formatSeconds(l.cappedMicroseconds))]
                }
                csv.appendRecord(fields)
                if csv.bytes.count >= chunk {
                    try sink(csv.bytes)
                    csv.clear()
                }
            }
        }
        try sink(csv.bytes)
    }

    // MARK: summary.csv

    public static let summaryColumns = [
        "period", "billing_account_id", "project_id", "project_name", "category", "currency", "subtotal", "vat", "total",
        "invoice_number", "invoice_status", "revision",
    ]
    /// pricing.md's columns, after `summaryColumns`, only when pricing plays a part.
    public static let summaryPricingColumns = ["list_subtotal", "discount", "credits_applied"]

    /// One row per project and category; the credits and the VAT of an invoice are split
    /// over its categories exactly (`Allocation.proportional`): the credits in proportion to
    /// the categories' subtotals, the VAT to what is left of them (their tax bases), so each
    /// project's rows add up to its invoice: `total = subtotal - credits_applied + vat`.
    static func summaryCSV(_ r: BillingResult, credits: [InvoiceContent], records: [String: InvoiceRecord], pricing: Bool) -> String {
        summaryCSV(period: r.period.month, invoices: (r.invoices + credits).map { ($0, records[$0.project.id]) }, pricing: pricing)
    }

    /// One summary row: a category of an invoice (all of it, `category` empty, for an invoice without lines).
    struct SummaryRow: Equatable {
        let category: String
        let listSubtotal: Int128
        let subtotal: Int128
        let creditsApplied: Int128
        let vat: Int128
        var discount: Int128 { listSubtotal - subtotal }
        var total: Int128 { subtotal - creditsApplied + vat }
    }

    /// The rows of one invoice: they add up to it to the unit.
    static func summaryRows(_ invoice: InvoiceContent) -> [SummaryRow] {
        let groups = invoice.categories
        guard !groups.isEmpty else {
            return [SummaryRow(category: "", listSubtotal: invoice.listSubtotal, subtotal: invoice.subtotal, creditsApplied: invoice.creditsApplied,
                               vat: invoice.tax)]
        }
        let credits = Allocation.proportional(invoice.creditsApplied, weights: groups.map(\.subtotal))
        // Without credits the tax bases are the subtotals: the VAT splits as it always did.
        let vat = Allocation.proportional(invoice.tax, weights: zip(groups, credits).map { $0.subtotal - $1 })
        return groups.indices.map { i in
            SummaryRow(category: groups[i].category, listSubtotal: groups[i].lines.reduce(0) { $0 + $1.listAmount }, subtotal: groups[i].subtotal,
                       creditsApplied: credits[i], vat: vat[i])
        }
    }

    /// The forecast's columns, last, only when an invoice of the file carries a forecast (a
    /// month to date). A forecast is per invoice: it is on the project's first row, empty on
    /// its other rows, so each column adds up to the forecasts.
    /// With pricing, `forecast_credits_applied` comes after `forecast_subtotal`
    /// (`forecast_total = forecast_subtotal - forecast_credits_applied + forecast_tax`).
    public static let summaryForecastColumns = ["forecast_subtotal", "forecast_tax", "forecast_total"]
    static func summaryForecastColumns(pricing: Bool) -> [String] {
        pricing ? ["forecast_subtotal", "forecast_credits_applied", "forecast_tax", "forecast_total"] : summaryForecastColumns
    }

    /// `pricing`: pricing plays a part (`BillingResult.hasPricing` for a run's file, the
    /// documents' `hasPricing` for an export): the pricing columns are written.
    public static func summaryCSV(period: YearMonth, invoices: [(InvoiceContent, InvoiceRecord?)], pricing: Bool) -> String {
        let forecasts = invoices.contains { $0.0.forecast != nil }
        var csv = CSVWriter(header: summaryColumns + (pricing ? summaryPricingColumns : []) + (forecasts ? summaryForecastColumns(pricing: pricing) : []))
        for (invoice, record) in invoices.sorted(by: { ($0.0.project.billingAccountId ?? "", $0.0.project.id) < ($1.0.project.billingAccountId ?? "", $1.0.project.id) }) {
            let cur = invoice.currency
            for (n, row) in summaryRows(invoice).enumerated() {
                var fields: [CSVWriter.Field] = [
                    .plain(period.description), .text(invoice.project.billingAccountId ?? ""), .text(invoice.project.id),
                    .text(invoice.project.name), .text(row.category), .plain(cur.code), .plain(cur.plain(row.subtotal)), .plain(cur.plain(row.vat)),
                    .plain(cur.plain(row.total)), .plain(record?.invoiceNumber ?? ""), .plain(record?.status.rawValue ?? ""),
                    .plain(record.map { String($0.revision) } ?? ""),
                ]
                if pricing { fields += [.plain(cur.plain(row.listSubtotal)), .plain(cur.plain(row.discount)), .plain(cur.plain(row.creditsApplied))] }
                if forecasts {
                    let f = n == 0 ? invoice.forecast : nil
                    func figure(_ v: (InvoiceForecast) -> Int128) -> CSVWriter.Field { .plain(f.map { cur.plain(v($0)) } ?? "") }
                    fields += [figure(\.subtotal)] + (pricing ? [figure(\.creditsApplied)] : []) + [figure(\.tax), figure(\.total)]
                }
                csv.appendRecord(fields)
            }
        }
        return csv.text
    }

    // MARK: credits.csv

    public static let creditColumns = [
        "period", "credit_id", "billing_account_id", "project_id", "currency", "reason", "valid_from", "expires_at", "amount",
        "balance_before", "movement", "invoice_project_id", "invoice_number", "invoice_status", "movement_amount", "balance_after",
    ]

    /// Every credit that plays a part in the run (in the order credits are taken), with one
    /// row per movement: taken by an issued invoice, would be taken by a draft, or given back
    /// by the issued revision a correction supersedes; a credit nothing moved has one row,
    /// movement `none`. `balance_before` and `balance_after` are the credit's balances before
    /// and after the run (the same on all its rows): before less what is taken plus what is
    /// given back is after; what drafts would take is not taken.
    static func creditsCSV(_ ledger: CreditLedger, records: [String: InvoiceRecord]) -> String {
        var csv = CSVWriter(header: creditColumns)
        let cur = ledger.currency
        var movesOf: [String: [CreditLedger.Entry]] = [:]
        for e in ledger.entries { movesOf[e.creditId, default: []].append(e) }
        for c in ledger.credits {
            let fixed: [CSVWriter.Field] = [
                .plain(ledger.period.month.description), .text(c.id), .text(c.billingAccountId), .text(c.projectId ?? ""), .plain(cur.code),
                .text(c.reason ?? ""), .plain(c.validFrom.iso8601), .plain(c.expiresAt?.iso8601 ?? ""), .plain(cur.plain(c.minorUnits(cur) ?? 0)),
                .plain(cur.plain(ledger.opening[c.id] ?? 0)),
            ]
            let after = CSVWriter.Field.plain(cur.plain(ledger.closing[c.id] ?? 0))
            let moves = movesOf[c.id] ?? []
            if moves.isEmpty {
                csv.appendRecord(fixed + [.plain("none"), .plain(""), .plain(""), .plain(""), .plain(cur.plain(0)), after])
            }
            for e in moves {
                // A give-back concerns the revision the correction superseded; the others, the invoice now in force.
                let number: String?, status: String?
                switch e.kind {
                case .returned:
                    number = e.invoiceNumber
                    status = InvoiceStatus.superseded.rawValue
                case .taken, .wouldTake:
                    number = records[e.projectId]?.invoiceNumber
                    status = records[e.projectId]?.status.rawValue
                }
                csv.appendRecord(fixed + [.plain(e.kind.rawValue), .text(e.projectId), .plain(number ?? ""), .plain(status ?? ""),
                                          .plain(cur.plain(e.amount)), after])
            }
        }
        // What a correction gave back to a credit that no longer plays a part (its row was
        // changed since): the movement, without the credit's fields.
        let known = Set(ledger.credits.map(\.id))
        for e in ledger.entries where !known.contains(e.creditId) {
            csv.appendRecord([.plain(ledger.period.month.description), .text(e.creditId)] + Array(repeating: .plain(""), count: 8)
                + [.plain(e.kind.rawValue), .text(e.projectId), .plain(e.invoiceNumber ?? ""),
                   .plain(e.kind == .returned ? InvoiceStatus.superseded.rawValue : ""), .plain(cur.plain(e.amount)), .plain("")])
        }
        return csv.text
    }

    // MARK: alerts.csv

    public static let alertColumns = [
        "period", "budget_id", "billing_account_id", "project_id", "kind", "threshold_percent", "currency", "monthly_amount", "amount",
        "run_id", "as_of",
    ]

    /// Every budget alert on record for the period (this run's included), in report order:
    /// budget, actual before forecast, threshold. `amount` is what crossed the threshold when
    /// the alert was raised (the month-to-date total, or the forecast total), `run_id` the run
    /// that first saw it.
    static func alertsCSV(_ alerts: [BudgetAlert]) -> String {
        var csv = CSVWriter(header: alertColumns)
        for a in alerts {
            csv.appendRecord([
                .plain(a.period.description), .text(a.budgetId), .text(a.billingAccountId ?? ""), .text(a.projectId ?? ""), .plain(a.kind.rawValue),
                .plain(a.threshold.description), .plain(a.currency), .plain(a.monthlyAmount.description), .plain(a.amount.description),
                .plain(a.runId.map(String.init) ?? ""), .plain(a.asOf.iso8601),
            ])
        }
        return csv.text
    }

    // MARK: anomalies.csv

    public static let anomalyColumns = ["period", "severity", "kind", "project_id", "instance_id", "event_ids", "seconds", "detail", "remedy"]

    static func anomaliesCSV(_ r: BillingResult) -> String {
        var csv = CSVWriter(header: anomalyColumns)
        for a in r.anomalies {
            csv.appendRecord([
                .plain(r.period.month.description), .plain(a.severity.rawValue), .plain(a.kind.rawValue), .text(a.projectId ?? ""),
                .text(a.instanceId ?? ""), .plain(a.eventIds.map(String.init).joined(separator: " ")),
                .plain(a.microseconds.map(formatSeconds) ?? ""), .text(a.detail), .plain(a.kind.remedy),
            ])
        }
        return csv.text
    }

    // MARK: invoices/<project>.json

    static func invoiceJSON(_ c: InvoiceContent, record: InvoiceRecord?, result r: BillingResult, pricing: Bool) -> JSON {
        invoiceJSON(c, record: record, period: r.period, billedThrough: r.window.end, vatRate: r.settings.vatRate, settings: r.settingsJSON,
                    pricing: pricing)
    }

    /// A stored invoice revision as JSON (`bmbill export --format invoices`): the same
    /// document as the run's invoice file, from what the database holds. `pricing`: the
    /// export's documents' `hasPricing`.
    public static func documentJSON(_ doc: InvoiceDocument, pricing: Bool) -> JSON {
        invoiceJSON(doc.content, record: doc.record, period: doc.period, billedThrough: doc.windowEnd, vatRate: doc.vatRate, settings: nil,
                    pricing: pricing)
    }

    /// The keys pricing adds to an invoice document.
    public static let pricingInvoiceKeys: Set<String> = ["list_subtotal", "discount", "credits", "credits_applied", "tax_base"]

    /// The one invoice document: identity, period, project, lines by category, totals; the
    /// run's settings when known (the run's file has them; a stored revision keeps its VAT
    /// rate only). Pricing's fields (each line's last five, `pricingInvoiceKeys`) only when
    /// `pricing` (pricing plays a part in the period or the export).
    static func invoiceJSON(_ c: InvoiceContent, record: InvoiceRecord?, period: BillingPeriod, billedThrough: Instant, vatRate: ExactDecimal,
                            settings: JSON?, pricing: Bool) -> JSON {
        let cur = c.currency
        var members: [(String, JSON)] = [
            ("invoice_id", record.map { .int($0.invoiceId) } ?? .null),
            ("invoice_number", .optional(record?.invoiceNumber)),
            ("status", .optional(record?.status.rawValue)),
            ("revision", .int(Int64(record?.revision ?? 0))),
            ("corrects_invoice_id", record?.correctsInvoiceId.map { .int($0) } ?? .null),
            ("difference", .optional(record?.difference.map { cur.plain($0) })),
            ("issued_at", .optional(record?.issuedAt?.iso8601)),
            ("run_id", record.map { .int($0.runId) } ?? .null),
            ("period", .string(period.month.description)),
            ("timezone", .string(period.zone.identifier)),
            ("period_utc", [.string(period.start.iso8601), .string(period.end.iso8601)]),
            ("billed_through", .string(billedThrough.iso8601)),
            ("project", [
                "project_id": .string(c.project.id), "name": .string(c.project.name),
                "billing_account_id": .optional(c.project.billingAccountId),
            ]),
            ("currency", .string(cur.code)),
            ("categories", .array(c.categories.map { group in
                [
                    "category": .string(group.category),
                    "subtotal": .string(cur.plain(group.subtotal)),
                    "lines": .array(group.lines.map { l in
                        var line: [(String, JSON)] = [
                            ("line_no", .int(Int64(l.lineNumber))), ("instance_id", .string(l.instanceId)),
                            ("instance_name", .optional(l.instanceName)), ("instance_type", .string(l.typeName)), ("image", .string(l.image)),
                            ("rate_effective_from", .string(l.rate.effectiveFrom.iso8601)),
                            ("rate_effective_to", .optional(l.rate.effectiveTo?.iso8601)),
                            ("hourly_rate", .string(l.rate.hourlyRateText)),
                            ("metered_seconds", .string(formatSeconds(l.meteredMicroseconds))),
                            ("billable_seconds", .string(String(l.billableSeconds))), ("amount", .string(cur.plain(l.amount))),
                        ]
                        // Pricing's keys come last: without pricing they are not made at all.
                        if pricing {
                            line += [
                                ("list_amount", .string(cur.plain(l.listAmount))),
                                ("discount", l.discount.map { d in
                                    ["discount_id": .string(d.id), "percent": .string(d.percentText), "description": .optional(d.description)]
                                } ?? .null),
                                ("discount_amount", .string(cur.plain(l.discountAmount))),
                                ("capped_seconds", .string(formatSeconds(l.cappedMicroseconds))),
                                ("capped_hours", .string(DisplayFormat.hours(microseconds: l.cappedMicroseconds, decimals: 2))),
                            ]
                        }
                        return .object(line)
                    }),
                ]
            })),
            ("list_subtotal", .string(cur.plain(c.listSubtotal))),
            ("discount", .string(cur.plain(c.discount))),
            ("subtotal", .string(cur.plain(c.subtotal))),
            // A draft's credits are what it would take from today's balances: nothing is taken until it is issued.
            ("credits", .array(c.credits.map { t in
                ["credit_id": .string(t.creditId), "reason": .optional(t.reason), "amount": .string(cur.plain(t.amount))]
            })),
            ("credits_applied", .string(cur.plain(c.creditsApplied))),
            ("tax_base", .string(cur.plain(c.taxBase))),
            ("vat_rate", .string(vatRate.description)),
            ("tax", .string(cur.plain(c.tax))),
            ("total", .string(cur.plain(c.total))),
        ]
        if !pricing { members.removeAll { pricingInvoiceKeys.contains($0.0) } }
        // A month-to-date draft: where the month ends if nothing changes (never on other invoices).
        if let f = c.forecast { members.append(("forecast", forecastJSON(f, cur))) }
        if let settings { members.append(("settings", settings)) }
        members.append(("fingerprint", .string(c.fingerprint)))
        return .object(members)
    }

    /// A draft's forecast (`InvoiceForecast`), as the invoice document and the run's JSON summary show it.
    public static func forecastJSON(_ f: InvoiceForecast, _ cur: Currency) -> JSON {
        [
            "if_nothing_changes_through": .string(f.through.iso8601), "subtotal": .string(cur.plain(f.subtotal)),
            "credits_applied": .string(cur.plain(f.creditsApplied)), "tax": .string(cur.plain(f.tax)), "total": .string(cur.plain(f.total)),
        ]
    }

    // MARK: manifest.json

    /// `pricing` (`BillingResult.hasPricing`): the run's `pricing` is listed, and `totals`
    /// (`totalsJSON`) has pricing's sums.
    static func manifest(_ r: BillingResult, invoices: [InvoiceContent], records: [String: InvoiceRecord], checksums: [(String, JSON)],
                         pricing: Bool) -> JSON {
        let statuses = Set(records.values.map(\.status.rawValue))
        let manifest: JSON = [
            "manifest_version": .int(1),
            "period": .string(r.period.month.description),
            "timezone": .string(r.settings.timeZone.identifier),
            "period_utc": [.string(r.period.start.iso8601), .string(r.period.end.iso8601)],
            "billed_through": .string(r.window.end.iso8601),
            "usage_by": .string(r.usageTable.byDay ? "day" : "month"),
            "status": .string(statuses.count == 1 ? statuses.first! : (statuses.isEmpty ? "empty" : "mixed")),
            "input_watermark": .optional(r.inputWatermark?.iso8601),
            "settings": r.settingsJSON,
            "counts": r.countsJSON,
            "totals": r.totalsJSON,
            "anomalies": r.anomaliesJSON,
            "rates_in_force": r.ratesJSON,
            "pricing": r.pricingJSON,
            "invoices": .array(invoices.sorted { $0.project.id < $1.project.id }.map { c in
                let rec = records[c.project.id]
                return [
                    "project_id": .string(c.project.id), "invoice_id": rec.map { .int($0.invoiceId) } ?? .null,
                    "invoice_number": .optional(rec?.invoiceNumber), "status": .optional(rec?.status.rawValue),
                    "run_id": rec.map { .int($0.runId) } ?? .null, "total": .string(c.currency.plain(c.total)),
                ]
            }),
            "files": .object(checksums),
        ]
        return pricing ? manifest : manifest.removing(["pricing"])
    }
}
