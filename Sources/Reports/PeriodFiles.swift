import BillingCore

/// The files of one period's output folder, rendered from a billing result and the stored
/// identity of its invoices into a staging folder. Rendering is deterministic: the same
/// result and invoices always give the same bytes.
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
    public init(result: BillingResult, records: [String: InvoiceRecord], credits: [InvoiceContent] = [], usage: StagedFile) throws {
        let staging = String(usage.path.dropLast("/usage.csv".count))
        precondition(staging + "/usage.csv" == usage.path, "usage.csv must be staged as <staging>/usage.csv")
        var files: [(String, String)] = [("usage.csv", usage.digest)]
        func stage(_ path: String, _ contents: String) throws {
            files.append((path, try StagedFile.write(contents, to: staging + "/" + path).digest))
        }
        let lines = try StagedFile.write(to: staging + "/invoice_lines.csv") { emit in
            try PeriodFiles.invoiceLinesCSV(result, records: records) { chunk in try chunk.withUnsafeBufferPointer { try emit($0) } }
        }
        files.append(("invoice_lines.csv", lines.digest))
        try stage("anomalies.csv", PeriodFiles.anomaliesCSV(result))
        try stage("summary.csv", PeriodFiles.summaryCSV(result, credits: credits, records: records))
        for invoice in (result.invoices + credits).sorted(by: { $0.project.id < $1.project.id }) {
            try stage("invoices/" + SafeFileName.of(invoice.project.id) + ".json",
                      PeriodFiles.invoiceJSON(invoice, record: records[invoice.project.id], result: result).pretty)
        }
        let checksums = files.map { ($0.0, JSON.string($0.1)) }
        try stage("manifest.json", PeriodFiles.manifest(result, invoices: result.invoices + credits, records: records, checksums: checksums).pretty)
        self.staging = staging
        self.files = files
    }

    /// The files, but only when they can tell the truth: every stored invoice in force has
    /// the content computed now (same fingerprint), and every computed invoice is stored.
    /// Otherwise nil: the stored invoices and today's data disagree (late data not yet
    /// corrected, or a recompute limited to some projects), and writing would mix them.
    public static func ifConsistent(result: BillingResult, records: [String: InvoiceRecord], zeroInvoices: [InvoiceContent],
                                    usage: StagedFile) throws -> PeriodFiles? {
        let contents = result.invoices + zeroInvoices.filter { z in !result.invoices.contains { $0.project.id == z.project.id } }
        guard contents.count == records.count,
            contents.allSatisfy({ records[$0.project.id]?.fingerprint == $0.fingerprint })
        else { return nil }
        return try PeriodFiles(result: result, records: records, credits: zeroInvoices.filter { z in contents.contains { $0.project.id == z.project.id } && !result.invoices.contains { $0.project.id == z.project.id } }, usage: usage)
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

    /// Renders the lines in chunks of about `chunk` bytes (a large month has hundreds of thousands).
    static func invoiceLinesCSV(_ r: BillingResult, records: [String: InvoiceRecord], chunk: Int = 1 << 20,
                                _ sink: ([UInt8]) throws -> Void) rethrows {
        var csv = CSVWriter(header: invoiceLineColumns)
        for invoice in r.invoices {
            let record = records[invoice.project.id]
            for l in invoice.lines {
                csv.appendRecord([
                    .plain(r.period.month.description), .text(invoice.project.id), .plain(record.map { String($0.invoiceId) } ?? ""),
                    .plain(record?.invoiceNumber ?? ""), .plain(record?.status.rawValue ?? ""), .plain(String(l.lineNumber)),
                    .text(l.instanceId), .text(l.instanceName ?? ""), .text(l.typeName), .text(l.category), .text(l.image),
                    .plain(l.rate.effectiveFrom.iso8601), .plain(l.rate.hourlyRateText), .plain(invoice.currency.code),
                    .plain(formatSeconds(l.meteredMicroseconds)), .plain(String(l.billableSeconds)), .plain(invoice.currency.plain(l.amount)),
                ])
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

    /// One row per project and category; the VAT of an invoice is split over its categories
    /// in proportion to their subtotals, exactly, so each project's rows add up to its invoice.
    static func summaryCSV(_ r: BillingResult, credits: [InvoiceContent], records: [String: InvoiceRecord]) -> String {
        summaryCSV(period: r.period.month, invoices: (r.invoices + credits).map { ($0, records[$0.project.id]) })
    }

    public static func summaryCSV(period: YearMonth, invoices: [(InvoiceContent, InvoiceRecord?)]) -> String {
        var csv = CSVWriter(header: summaryColumns)
        for (invoice, record) in invoices.sorted(by: { ($0.0.project.billingAccountId ?? "", $0.0.project.id) < ($1.0.project.billingAccountId ?? "", $1.0.project.id) }) {
            let cur = invoice.currency
            let groups = invoice.categories
            let taxes = Allocation.proportional(invoice.tax, weights: groups.map(\.subtotal))
            let rows: [(String, Int128, Int128)] = groups.isEmpty ? [("", 0, invoice.tax)] : zip(groups, taxes).map { ($0.category, $0.subtotal, $1) }
            for (category, subtotal, tax) in rows {
                csv.appendRecord([
                    .plain(period.description), .text(invoice.project.billingAccountId ?? ""), .text(invoice.project.id),
                    .text(invoice.project.name), .text(category), .plain(cur.code), .plain(cur.plain(subtotal)), .plain(cur.plain(tax)),
                    .plain(cur.plain(subtotal + tax)), .plain(record?.invoiceNumber ?? ""), .plain(record?.status.rawValue ?? ""),
                    .plain(record.map { String($0.revision) } ?? ""),
                ])
            }
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

    static func invoiceJSON(_ c: InvoiceContent, record: InvoiceRecord?, result r: BillingResult) -> JSON {
        invoiceJSON(c, record: record, period: r.period, billedThrough: r.window.end, vatRate: r.settings.vatRate, settings: r.settingsJSON)
    }

    /// A stored invoice revision as JSON (`bmbill export --format invoices`): the same
    /// document as the run's invoice file, from what the database holds.
    public static func documentJSON(_ doc: InvoiceDocument) -> JSON {
        invoiceJSON(doc.content, record: doc.record, period: doc.period, billedThrough: doc.windowEnd, vatRate: doc.vatRate, settings: nil)
    }

    /// The one invoice document: identity, period, project, lines by category, totals; the
    /// run's settings when known (the run's file has them; a stored revision keeps its VAT
    /// rate only).
    static func invoiceJSON(_ c: InvoiceContent, record: InvoiceRecord?, period: BillingPeriod, billedThrough: Instant, vatRate: ExactDecimal,
                            settings: JSON?) -> JSON {
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
                        [
                            "line_no": .int(Int64(l.lineNumber)), "instance_id": .string(l.instanceId),
                            "instance_name": .optional(l.instanceName), "instance_type": .string(l.typeName), "image": .string(l.image),
                            "rate_effective_from": .string(l.rate.effectiveFrom.iso8601),
                            "rate_effective_to": .optional(l.rate.effectiveTo?.iso8601),
                            "hourly_rate": .string(l.rate.hourlyRateText),
                            "metered_seconds": .string(formatSeconds(l.meteredMicroseconds)),
                            "billable_seconds": .string(String(l.billableSeconds)), "amount": .string(cur.plain(l.amount)),
                        ]
                    }),
                ]
            })),
            ("subtotal", .string(cur.plain(c.subtotal))),
            ("vat_rate", .string(vatRate.description)),
            ("tax", .string(cur.plain(c.tax))),
            ("total", .string(cur.plain(c.total))),
        ]
        if let settings { members.append(("settings", settings)) }
        members.append(("fingerprint", .string(c.fingerprint)))
        return .object(members)
    }

    // MARK: manifest.json

    static func manifest(_ r: BillingResult, invoices: [InvoiceContent], records: [String: InvoiceRecord], checksums: [(String, JSON)]) -> JSON {
        let statuses = Set(records.values.map(\.status.rawValue))
        return [
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
    }
}
