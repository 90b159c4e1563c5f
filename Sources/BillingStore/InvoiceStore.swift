import Foundation
import BillingCore
import PostgresClient

/// What a run did to the stored invoices.
public struct RunOutcome: Sendable {
    public enum Status: String, Sendable {
        /// Invoices were issued (numbers given) by this run.
        case issued
        /// Correcting revisions were issued (recompute, or run --adjust).
        case corrected
        /// Drafts were written: the period is still open.
        case draft
        /// Data errors kept the ended period's invoices from being issued; drafts written.
        case blocked
        /// Issued invoices differ from the data now and were left as they are.
        case needsRecompute = "needs_recompute"
        /// Nothing differed from what was stored.
        case unchanged
    }

    public let runId: Int64
    public let status: Status
    /// The plan that was applied, one action per project.
    public let actions: [InvoiceAction]
    /// The stored invoice in force for each project after the run, by project id.
    public let invoices: [String: InvoiceRecord]

    /// Projects whose issued invoice differs from today's computation and was left as it is.
    public var differFromIssued: [String] { actions.differFromIssued }
}

/// Reads and writes `billing_runs`, `invoices` and `invoice_lines`.
///
/// Call the writing methods inside one transaction: the caller commits only when the files
/// have been rendered too, so the database holds the previous complete state or the new one.
public struct InvoiceStore {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// The series of gapless invoice numbers (`BM-00000001`, `BM-00000002`, …).
    public static let numberSeries = "BM"

    /// The database's clock (`clock_timestamp()`): what "now" means for a run, so that
    /// every machine that runs bmbill agrees on which months have ended.
    public func clock() throws -> Instant {
        guard let text = try db.execute("SELECT \(SourceReader.micros("clock_timestamp()"))", context: "reading the database's clock").scalar,
            let micros = Int64(text)
        else { throw StoreError.badSourceRow(table: "clock_timestamp()", key: "now", problem: "the server's clock is not a timestamp bmbill can read") }
        return Instant(microseconds: micros)
    }

    /// Issued or superseded invoices of `period` whose stored figures or lines no longer
    /// match the seal made when they were issued (migration 011), or superseded by no
    /// correction, by number: changed after issue, which bmbill never does.
    public func brokenSeals(period: YearMonth) throws -> [String] {
        try db.execute(
            """
            SELECT coalesce(invoice_number, invoice_id::text) FROM invoices
            WHERE period = $1 AND status <> 'draft'
              AND (seal IS DISTINCT FROM bmbill_invoice_seal(invoice_id)
                   -- superseded, but by no correction: its status was changed by hand
                   OR status = 'superseded' AND NOT EXISTS (
                       SELECT 1 FROM invoices c WHERE c.corrects_invoice_id = invoices.invoice_id AND c.status <> 'draft'))
            ORDER BY invoice_number
            """, [period.description], context: "checking the seals of the issued invoices"
        ).rows.map { $0[0] ?? "?" }
    }

    /// Throws when `brokenSeals` finds any: nothing more is billed or exported for the
    /// period until someone has looked.
    public func checkSeals(period: YearMonth) throws {
        let broken = try brokenSeals(period: period)
        guard broken.isEmpty else { throw StoreError.tamperedInvoices(period: period.description, numbers: broken) }
        let missing = try missingNumbers()
        guard missing.isEmpty else { throw StoreError.missingInvoiceNumbers(missing) }
    }

    /// Numbers the series has given that no invoice holds (first 20): an issued invoice
    /// deleted, which bmbill never does (numbers are gapless and kept for good).
    public func missingNumbers() throws -> [String] {
        // Cheap when nothing is missing: the series' counter against the numbers held.
        guard let row = try db.execute(
            """
            SELECT coalesce((SELECT last_number FROM invoice_number_series WHERE series = $1), 0),
                   (SELECT count(*) FROM invoices WHERE invoice_number LIKE $1 || '-%')
            """, [InvoiceStore.numberSeries], context: "checking the invoice numbers are gapless"
        ).firstChecked(table: "invoice_number_series"), try row.int64(1, "count") < row.int64(0, "last_number") else { return [] }
        return try db.execute(
            """
            SELECT $1 || '-' || lpad(n::text, 8, '0') FROM invoice_number_series s, generate_series(1, s.last_number) n
            WHERE s.series = $1 AND NOT EXISTS (SELECT 1 FROM invoices i WHERE i.invoice_number = $1 || '-' || lpad(n::text, 8, '0'))
            ORDER BY n LIMIT 20
            """, [InvoiceStore.numberSeries], context: "finding the missing invoice numbers"
        ).rows.map { $0[0] ?? "?" }
    }

    /// The current revision of each project's invoice for `period` in `currency`.
    public func current(period: YearMonth, currency: Currency) throws -> [String: StoredInvoice] {
        var stored: [String: StoredInvoice] = [:]
        for row in try db.execute(
            """
            SELECT \(Self.recordColumns), \(SourceReader.micros("window_end")), project_name, billing_account_id,
                   subtotal::text, tax::text, total::text, \(Self.forecastColumns)
            FROM current_invoices WHERE period = $1 AND currency = $2
            """, [period.description, currency.code], context: "reading the period's invoices"
        ).checkedRows(table: "invoices") {
            let record = try Self.record(row, currency: currency)
            stored[record.projectId] = StoredInvoice(
                record: record, project: Project(id: record.projectId, name: try row.text(11, "project_name"), billingAccountId: row.optional(12)),
                currency: currency, windowEnd: Instant(microseconds: try row.int64(10, "window_end")),
                subtotal: try Self.minor(row, 13, "subtotal", currency), tax: try Self.minor(row, 14, "tax", currency),
                total: try Self.minor(row, 15, "total", currency))
            stored[record.projectId]!.forecast = try Self.forecast(row, at: 16, currency: currency)
        }
        let projectOf = Dictionary(stored.map { ($0.value.record.invoiceId, $0.key) }, uniquingKeysWith: { a, _ in a })
        for (invoiceId, takes) in try creditTakes(period: period, currency: currency, currentOnly: true) {
            if let project = projectOf[invoiceId] { stored[project]!.credits = takes }
        }
        return stored
    }

    /// The credit applications of the invoices of `period` in `currency` (only those in
    /// force: `currentOnly`), by invoice id, each with its credit's reason, in the order
    /// credits are taken (soonest to expire first, then the earliest valid, then by id), as
    /// the run lists them on the invoice.
    func creditTakes(period: YearMonth, currency: Currency, currentOnly: Bool) throws -> [Int64: [CreditTake]] {
        var takes: [Int64: [CreditTake]] = [:]
        for row in try db.execute(
            """
            SELECT a.invoice_id, a.credit_id, a.amount::text, c.reason
            FROM credit_applications a JOIN \(currentOnly ? "current_invoices" : "invoices") i USING (invoice_id)
                 LEFT JOIN credits c ON c.credit_id = a.credit_id
            WHERE i.period = $1 AND i.currency = $2
            ORDER BY a.invoice_id, c.expires_at NULLS LAST, c.valid_from, a.credit_id COLLATE "C"
            """, [period.description, currency.code], context: "reading credit applications"
        ).checkedRows(table: "credit_applications") {
            takes[try row.int64(0, "invoice_id"), default: []].append(
                CreditTake(creditId: try row.text(1, "credit_id"), amount: try Self.minor(row, 2, "amount", currency), reason: row.optional(3)))
        }
        return takes
    }

    /// Per credit id, what issued invoices in force (not drafts, not superseded revisions)
    /// in `currency` have taken, in minor units: read under the `CreditLock`.
    public func creditsApplied(currency: Currency) throws -> [String: Int128] {
        var applied: [String: Int128] = [:]
        for row in try db.execute(
            """
            SELECT a.credit_id, sum(a.amount)::text FROM credit_applications a JOIN invoices i USING (invoice_id)
            WHERE i.status = 'issued' AND i.currency = $1 GROUP BY a.credit_id
            """, [currency.code], context: "reading credit balances"
        ).checkedRows(table: "credit_applications") {
            applied[try row.text(0, "credit_id")] = try Self.minor(row, 1, "sum", currency)
        }
        return applied
    }

    /// The columns `record` reads, first in a query of `invoices` or `current_invoices`.
    static let recordColumns = """
        invoice_id, project_id, revision, status, invoice_number, run_id, \(SourceReader.micros("issued_at")), fingerprint,
        corrects_invoice_id, difference::text
        """

    /// A draft's forecast (migration 013), in a query of `invoices` or `current_invoices`.
    static let forecastColumns = """
        forecast_subtotal::text, forecast_credits_applied::text, forecast_tax::text, forecast_total::text, \(SourceReader.micros("forecast_through"))
        """

    /// The forecast in `forecastColumns` starting at column `i`, or nil when the invoice has none.
    static func forecast(_ row: CheckedRow, at i: Int, currency: Currency) throws -> InvoiceForecast? {
        guard row.optional(i + 3) != nil else { return nil }
        return InvoiceForecast(through: Instant(microseconds: try row.int64(i + 4, "forecast_through")),
                               subtotal: try minor(row, i, "forecast_subtotal", currency),
                               creditsApplied: try minor(row, i + 1, "forecast_credits_applied", currency),
                               tax: try minor(row, i + 2, "forecast_tax", currency), total: try minor(row, i + 3, "forecast_total", currency))
    }

    /// An invoice's identity from the first columns of `row` (`recordColumns`).
    static func record(_ row: CheckedRow, currency: Currency) throws -> InvoiceRecord {
        let statusText = try row.text(3, "status")
        guard let status = InvoiceStatus(rawValue: statusText) else { throw row.error("status", "'\(statusText)' is not draft, issued or superseded") }
        guard let revision = Int(try row.text(2, "revision")) else { throw row.error("revision", "is not an integer") }
        var record = InvoiceRecord(
            invoiceId: try row.int64(0, "invoice_id"), projectId: try row.text(1, "project_id"), revision: revision, status: status,
            invoiceNumber: row.optional(4), runId: try row.int64(5, "run_id"),
            issuedAt: try row.optionalInt64(6, "issued_at").map(Instant.init(microseconds:)), fingerprint: try row.text(7, "fingerprint"))
        record.correctsInvoiceId = try row.optionalInt64(8, "corrects_invoice_id")
        record.difference = row.optional(9) == nil ? nil : try minor(row, 9, "difference", currency)
        return record
    }

    /// The lines of a stored invoice.
    public func lines(of invoiceId: Int64, currency: Currency) throws -> [StoredLine] {
        try db.execute(
            """
            SELECT instance_id, \(SourceReader.micros("rate_effective_from")), hourly_rate::text, billable_seconds::text, amount::text, line_no,
                   discount_id, discount_percent::text, type_name
            FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no
            """, [String(invoiceId)], context: "reading invoice lines"
        ).checkedRows(table: "invoice_lines", keyColumn: 5).map { row in
            StoredLine(instanceId: try row.text(0, "instance_id"), rateEffectiveFrom: Instant(microseconds: try row.int64(1, "rate_effective_from")),
                       hourlyRateText: try row.text(2, "hourly_rate"), billableSeconds: try row.int64(3, "billable_seconds"),
                       amount: try Self.minor(row, 4, "amount", currency), discountId: row.optional(6), discountPercent: row.optional(7),
                       typeName: row.optional(8))
        }
    }

    /// Every revision of every invoice of `period` in `currency` (superseded ones included),
    /// with its lines, by project and revision. Each is checked: its lines must add up to
    /// its stored subtotal, VAT and total.
    public func documents(period month: YearMonth, currency: Currency) throws -> [InvoiceDocument] {
        var lines: [Int64: [InvoiceLine]] = [:]
        try db.stream(
            """
            SELECT l.invoice_id, l.line_no, l.instance_id, l.instance_name, l.type_name, l.category, l.image,
                   \(SourceReader.micros("l.rate_effective_from")), \(SourceReader.micros("l.rate_effective_to")), l.hourly_rate::text,
                   (l.metered_seconds * 1000000)::int8, l.billable_seconds::int8, l.amount::text, l.daily_metered_us::text,
                   l.state_seconds::text, l.list_amount::text, (l.capped_seconds * 1000000)::int8, l.daily_capped_us::text,
                   l.discount_id, l.discount_percent::text, d.project_id, d.billing_account_id, d.type_name, d.category,
                   \(SourceReader.placedMicros("d.effective_from")), \(SourceReader.placedMicros("d.effective_to")), d.description
            FROM invoice_lines l JOIN invoices i USING (invoice_id) LEFT JOIN discounts d ON d.discount_id = l.discount_id
            WHERE i.period = $1 AND i.currency = $2 ORDER BY l.invoice_id, l.line_no
            """, [month.description, currency.code], context: "reading invoice lines"
        ) { r in
            let row = CheckedRow(table: "invoice_lines", values: (0..<27).map { r.string($0) })
            func integers(_ text: String?) -> [Int64] { (text ?? "{}").dropFirst().dropLast().split(separator: ",").compactMap { Int64($0) } }
            let daily = integers(row.optional(13))
            // The discount as it priced the line (its id and percent are the line's own);
            // the rest of the row, when finance still has it, for the reader.
            var discount: Discount?
            if let id = row.optional(18) {
                let percentText = try row.text(19, "discount_percent")
                guard let percent = ExactDecimal(parsing: percentText) else { throw row.error("discount_percent", "'\(percentText)' is not a decimal number") }
                discount = Discount(id: id, projectId: row.optional(20), billingAccountId: row.optional(21), typeName: row.optional(22),
                                    category: row.optional(23), percent: percent,
                                    effectiveFrom: try row.optionalInt64(24, "effective_from").map(Instant.init(microseconds:)) ?? Instant.postgresMinimum,
                                    effectiveTo: try row.optionalInt64(25, "effective_to").map(Instant.init(microseconds:)), description: row.optional(26))
            }
            var states: [StateTime] = []
            if let text = row.optional(14), let obj = JSON.parseObjectOfStrings(text) {
                for (state, seconds) in obj.sorted(by: { $0.key < $1.key }) {
                    if let micros = ExactDecimal(parsing: seconds)?.rescaled(to: 6) { states.append(StateTime(state: state, microseconds: Int64(micros))) }
                }
            }
            let rateText = try row.text(9, "hourly_rate")
            guard let hourlyRate = ExactDecimal(parsing: rateText) else { throw row.error("hourly_rate", "'\(rateText)' is not a decimal number") }
            let rate = RateVersion(typeName: try row.text(4, "type_name"), currency: currency.code, hourlyRate: hourlyRate,
                                   effectiveFrom: Instant(microseconds: try row.int64(7, "rate_effective_from")),
                                   effectiveTo: try row.optionalInt64(8, "rate_effective_to").map(Instant.init(microseconds:)))
            lines[try row.int64(0, "invoice_id"), default: []].append(InvoiceLine(
                lineNumber: Int(try row.int64(1, "line_no")), instanceId: try row.text(2, "instance_id"), instanceName: row.optional(3),
                typeName: rate.typeName, category: try row.text(5, "category"), image: try row.text(6, "image"), rate: rate,
                meteredMicroseconds: try row.int64(10, "metered_seconds"), dailyMicroseconds: daily, stateMicroseconds: states,
                billableSeconds: try row.int64(11, "billable_seconds"), amount: try Self.minor(row, 12, "amount", currency),
                listAmount: try Self.minor(row, 15, "list_amount", currency), discount: discount,
                cappedMicroseconds: try row.int64(16, "capped_seconds"), dailyCappedMicroseconds: integers(row.optional(17))))
        }
        let credits = try creditTakes(period: month, currency: currency, currentOnly: false)
        var docs: [InvoiceDocument] = []
        for row in try db.execute(
            """
            SELECT \(Self.recordColumns), project_name, billing_account_id, timezone, \(SourceReader.micros("window_end")),
                   vat_rate::text, rounding, subtotal::text, tax::text, total::text, granularity, list_subtotal::text, credits_applied::text,
                   \(Self.forecastColumns)
            FROM invoices WHERE period = $1 AND currency = $2 ORDER BY project_id, revision
            """, [month.description, currency.code], context: "reading invoices"
        ).checkedRows(table: "invoices") {
            let record = try Self.record(row, currency: currency)
            let zoneText = try row.text(12, "timezone"), vatText = try row.text(14, "vat_rate"), roundingText = try row.text(15, "rounding")
            guard let zone = BillingTimeZone(identifier: zoneText) else { throw row.error("timezone", "'\(zoneText)' is not an IANA zone") }
            guard let vat = ExactDecimal(parsing: vatText) else { throw row.error("vat_rate", "'\(vatText)' is not a decimal number") }
            guard let rounding = RoundingMode(rawValue: roundingText) else { throw row.error("rounding", "'\(roundingText)' is not a rounding mode") }
            let granularityText = try row.text(19, "granularity")
            guard let granularity = Granularity(rawValue: granularityText) else { throw row.error("granularity", "'\(granularityText)' is not a granularity") }
            let content = InvoiceContent(project: Project(id: record.projectId, name: try row.text(10, "project_name"), billingAccountId: row.optional(11)),
                                         currency: currency, lines: lines[record.invoiceId] ?? [], vatRate: vat, rounding: rounding,
                                         credits: credits[record.invoiceId] ?? [])
            guard currency.plain(content.subtotal) == row.optional(16), currency.plain(content.tax) == row.optional(17),
                currency.plain(content.total) == row.optional(18), currency.plain(content.listSubtotal) == row.optional(20),
                currency.plain(content.creditsApplied) == row.optional(21)
            else {
                throw StoreError.badSourceRow(table: "invoices", key: record.invoiceNumber ?? String(record.invoiceId),
                                              problem: "its lines and credits do not add up to its stored totals")
            }
            docs.append(InvoiceDocument(record: record, content: content.with(forecast: try Self.forecast(row, at: 22, currency: currency)), period: BillingPeriod(month: month, zone: zone),
                                        windowEnd: Instant(microseconds: try row.int64(13, "window_end")), vatRate: vat,
                                        granularity: granularity, rounding: rounding))
        }
        return docs
    }

    /// Column `i` of `row` as an amount in minor units of `currency`.
    static func minor(_ row: CheckedRow, _ i: Int, _ column: String, _ currency: Currency) throws -> Int128 {
        let text = try row.text(i, column)
        guard let d = ExactDecimal(parsing: text), let v = d.rescaled(to: currency.minorUnitDigits) else {
            throw row.error(column, "'\(text)' is not an amount in minor units of \(currency)")
        }
        return v
    }

    /// Records the run and applies `actions` (see `InvoicePlanner`): drafts replaced or
    /// removed, invoices issued with the next gapless numbers in project order, correcting
    /// revisions issued (the corrected revision becomes `superseded`, never changed otherwise).
    ///
    /// `whenNumbered` is called with the run's id and the invoice in force per project as soon as the
    /// invoices are stored, before their lines are copied in (the longest part), so that
    /// the files can be rendered meanwhile.
    public func record(_ result: BillingResult, actions: [InvoiceAction], kind: String, startedAt: Instant, host: String, pid: Int32,
                       whenNumbered: (_ runId: Int64, [String: InvoiceRecord]) -> Void = { _, _ in })
        throws -> RunOutcome
    {
        let runId = try insertRun(result, kind: kind, startedAt: startedAt, host: host, pid: pid)
        var records: [String: InvoiceRecord] = [:]
        var drafts: [Int64] = []
        var superseded: [Int64] = []
        var new: [NewInvoice] = []
        for action in actions {
            switch action {
            case .keep(let s), .differs(let s?, _):
                records[s.record.projectId] = s.record
            case .differs(nil, _):
                break
            case .removeDraft(let s):
                drafts.append(s.record.invoiceId)
            case .draft(let c, let replacing), .issue(let c, let replacing):
                if let replacing { drafts.append(replacing.record.invoiceId) }
                var issue = false
                if case .issue = action { issue = true }
                new.append(NewInvoice(content: c, issue: issue, corrects: nil))
            case .correct(let s, let c):
                new.append(NewInvoice(content: c, issue: true, corrects: s))
                superseded.append(s.record.invoiceId)
            }
        }
        if !drafts.isEmpty {
            try db.execute("DELETE FROM invoices WHERE invoice_id = ANY($1::int8[]) AND status = 'draft'",
                           ["{" + drafts.map(String.init).joined(separator: ",") + "}"], context: "replacing drafts")
        }
        let written = try insertInvoices(new, result: result, runId: runId)
        for (c, r) in written { records[c.project.id] = r }
        if !superseded.isEmpty {
            try db.execute("UPDATE invoices SET status = 'superseded' WHERE invoice_id = ANY($1::int8[]) AND status = 'issued'",
                           ["{" + superseded.map(String.init).joined(separator: ",") + "}"], context: "superseding corrected invoices")
        }
        try insertCreditTakes(written)
        whenNumbered(runId, records)
        try insertLines(written)
        let issuedIds = written.filter { $0.1.invoiceNumber != nil }.map { $0.1.invoiceId }
        if !issuedIds.isEmpty {
            try db.execute("SELECT bmbill_seal_invoices($1::int8[])", ["{" + issuedIds.map(String.init).joined(separator: ",") + "}"],
                           context: "sealing the issued invoices")
        }

        let status: RunOutcome.Status
        if actions.contains(where: { if case .correct = $0 { return true } else { return false } }) {
            status = .corrected
        } else if actions.contains(where: { if case .issue = $0 { return true } else { return false } }) {
            status = .issued
        } else if result.period.hasEnded(asOf: result.asOf) && result.hasErrors {
            status = .blocked
        } else if actions.contains(where: { if case .differs = $0 { return true } else { return false } }) {
            status = .needsRecompute
        } else if actions.contains(where: \.writes) {
            status = .draft
        } else {
            status = .unchanged
        }
        try db.execute("UPDATE billing_runs SET status = $2 WHERE run_id = $1", [String(runId), status.rawValue],
                       context: "recording the run's status")
        return RunOutcome(runId: runId, status: status, actions: actions, invoices: records)
    }

    /// Stores the checksums of the files rendered for the run, and its finish time.
    public func finishRun(_ runId: Int64, outputChecksums: JSON) throws {
        try db.execute("UPDATE billing_runs SET output_checksums = $2::jsonb, finished_at = clock_timestamp() WHERE run_id = $1",
                       [String(runId), outputChecksums.compact], context: "recording output checksums")
    }

    private func insertRun(_ r: BillingResult, kind: String, startedAt: Instant, host: String, pid: Int32) throws -> Int64 {
        let row = try db.execute(
            """
            INSERT INTO billing_runs (period, kind, status, started_at, finished_at, as_of, period_start, period_end, window_end,
                                      input_watermark, settings, counts, totals, anomalies, rates_in_force, host, pid, billable_states, pricing)
            VALUES ($1, $2, 'running', $3::timestamptz, clock_timestamp(), $4::timestamptz, $5::timestamptz, $6::timestamptz,
                    $7::timestamptz, $8::timestamptz, $9::jsonb, $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb, $14, $15, $16::jsonb,
                    $17::jsonb)
            RETURNING run_id
            """,
            [
                r.period.month.description, kind, startedAt.postgresText, r.asOf.postgresText, r.period.start.postgresText, r.period.end.postgresText,
                r.window.end.postgresText, r.inputWatermark?.postgresText, r.settingsJSON.compact, r.countsJSON.compact, r.totalsJSON.compact,
                r.anomaliesJSON.compact, r.ratesJSON.compact, host, String(pid), r.billableStatesJSON.compact, r.pricingJSON.compact,
            ], context: "recording the run")
        guard let id = try row.firstChecked(table: "billing_runs")?.int64(0, "run_id") else {
            throw StoreError.badSourceRow(table: "billing_runs", key: "new", problem: "the new run's id was not returned")
        }
        return id
    }

    /// An invoice revision to store.
    struct NewInvoice {
        let content: InvoiceContent
        let issue: Bool
        let corrects: StoredInvoice?
    }

    /// Stores new invoice revisions in one statement, in the given order, issued ones with
    /// the next gapless numbers of the series (reserved at once, inside the run's
    /// transaction, so a rollback gives them back).
    private func insertInvoices(_ new: [NewInvoice], result r: BillingResult, runId: Int64) throws -> [(InvoiceContent, InvoiceRecord)] {
        guard !new.isEmpty else { return [] }
        let issued = new.filter(\.issue).count
        var nextNumber: Int64 = 0
        if issued > 0 {
            let last = try db.execute(
                """
                INSERT INTO invoice_number_series (series, last_number) VALUES ($1, $2::int8)
                ON CONFLICT (series) DO UPDATE SET last_number = invoice_number_series.last_number + $2::int8
                RETURNING last_number
                """, [InvoiceStore.numberSeries, String(issued)], context: "taking the next invoice numbers"
            ).firstChecked(table: "invoice_number_series")?.int64(0, "last_number")
            guard let last else { throw StoreError.badSourceRow(table: "invoice_number_series", key: InvoiceStore.numberSeries, problem: "no number was returned") }
            nextNumber = last - Int64(issued) + 1
        }
        var rows: [JSON] = []
        var numbers: [String?] = []
        for n in new {
            let c = n.content, cur = c.currency
            var number: String?
            if n.issue {
                let digits = String(nextNumber)
                number = InvoiceStore.numberSeries + "-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
                nextNumber += 1
            }
            numbers.append(number)
            rows.append([
                "project_id": .string(c.project.id), "status": .string((n.issue ? InvoiceStatus.issued : .draft).rawValue), "invoice_number": .optional(number),
                "subtotal": .string(cur.plain(c.subtotal)), "tax": .string(cur.plain(c.tax)), "total": .string(cur.plain(c.total)),
                "list_subtotal": .string(cur.plain(c.listSubtotal)), "discount": .string(cur.plain(c.discount)),
                "credits_applied": .string(cur.plain(c.creditsApplied)),
                "forecast_subtotal": .optional(c.forecast.map { cur.plain($0.subtotal) }),
                "forecast_credits_applied": .optional(c.forecast.map { cur.plain($0.creditsApplied) }),
                "forecast_tax": .optional(c.forecast.map { cur.plain($0.tax) }), "forecast_total": .optional(c.forecast.map { cur.plain($0.total) }),
                "forecast_through": .optional(c.forecast?.through.postgresText),
                "project_name": .string(c.project.name), "billing_account_id": .optional(c.project.billingAccountId),
                "fingerprint": .string(c.fingerprint), "revision": .int(Int64(n.corrects.map { $0.record.revision + 1 } ?? 0)),
                "corrects_invoice_id": n.corrects.map { .int($0.record.invoiceId) } ?? .null,
                "difference_subtotal": .optional(n.corrects.map { cur.plain(c.subtotal - $0.subtotal) }),
                "difference_tax": .optional(n.corrects.map { cur.plain(c.tax - $0.tax) }),
                "difference": .optional(n.corrects.map { cur.plain(c.total - $0.total) }),
            ])
        }
        let currency = r.settings.currency.code
        let stored = try db.execute(
            """
            INSERT INTO invoices (project_id, period, status, invoice_number, currency, subtotal, tax, total, run_id,
                                  issued_at, project_name, billing_account_id, timezone, period_start, period_end, window_end,
                                  vat_rate, rounding, granularity, fingerprint, revision, corrects_invoice_id, difference_subtotal,
                                  difference_tax, difference, list_subtotal, discount, credits_applied, forecast_subtotal,
                                  forecast_credits_applied, forecast_tax, forecast_total, forecast_through)
            SELECT x->>'project_id', $2, x->>'status', x->>'invoice_number', $3, (x->>'subtotal')::numeric, (x->>'tax')::numeric,
                   (x->>'total')::numeric, $4::int8, CASE WHEN x->>'status' = 'issued' THEN clock_timestamp() END, x->>'project_name',
                   x->>'billing_account_id', $5, $6::timestamptz, $7::timestamptz, $8::timestamptz, $9::numeric, $10, $11,
                   x->>'fingerprint', (x->>'revision')::int, (x->>'corrects_invoice_id')::int8, (x->>'difference_subtotal')::numeric,
                   (x->>'difference_tax')::numeric, (x->>'difference')::numeric, (x->>'list_subtotal')::numeric, (x->>'discount')::numeric,
                   (x->>'credits_applied')::numeric, (x->>'forecast_subtotal')::numeric, (x->>'forecast_credits_applied')::numeric,
                   (x->>'forecast_tax')::numeric, (x->>'forecast_total')::numeric, (x->>'forecast_through')::timestamptz
            FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(x, n)
            ORDER BY e.n
            RETURNING invoice_id, project_id, \(SourceReader.micros("issued_at"))
            """,
            [
                JSON.array(rows).compact, r.period.month.description, currency, String(runId), r.settings.timeZone.identifier,
                r.period.start.postgresText, r.period.end.postgresText, r.window.end.postgresText, r.settings.vatRate.description,
                r.settings.rounding.rawValue, r.settings.granularity.rawValue,
            ], context: "storing \(new.count) invoice(s)")
        var ids: [String: (Int64, Instant?)] = [:]
        for row in stored.checkedRows(table: "invoices") {
            ids[try row.text(1, "project_id")] = (try row.int64(0, "invoice_id"), try row.optionalInt64(2, "issued_at").map(Instant.init(microseconds:)))
        }
        return try zip(new, numbers).map { n, number in
            let c = n.content
            guard let (id, issuedAt) = ids[c.project.id] else {
                throw StoreError.badSourceRow(table: "invoices", key: c.project.id, problem: "the stored invoice was not returned")
            }
            var record = InvoiceRecord(invoiceId: id, projectId: c.project.id, revision: n.corrects.map { $0.record.revision + 1 } ?? 0,
                                       status: n.issue ? .issued : .draft, invoiceNumber: number, runId: runId, issuedAt: issuedAt,
                                       fingerprint: c.fingerprint)
            record.correctsInvoiceId = n.corrects?.record.invoiceId
            record.difference = n.corrects.map { c.total - $0.total }
            return (c, record)
        }
    }

    /// What each new invoice takes (a draft: would take) from credits, before it is sealed.
    private func insertCreditTakes(_ invoices: [(InvoiceContent, InvoiceRecord)]) throws {
        var rows: [JSON] = []
        for (c, record) in invoices {
            for t in c.credits where t.amount > 0 {
                rows.append(["invoice_id": .int(record.invoiceId), "credit_id": .string(t.creditId), "amount": .string(c.currency.plain(t.amount))])
            }
        }
        guard !rows.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO credit_applications (invoice_id, credit_id, amount)
            SELECT (x->>'invoice_id')::int8, x->>'credit_id', (x->>'amount')::numeric FROM jsonb_array_elements($1::jsonb) AS e(x)
            """, [JSON.array(rows).compact], context: "storing the credits taken")
    }

    /// All lines of the new invoices in one COPY (binary: a large month has hundreds of
    /// thousands, each with its daily arrays).
    private func insertLines(_ invoices: [(InvoiceContent, InvoiceRecord)]) throws {
        guard invoices.contains(where: { !$0.0.lines.isEmpty }) else { return }
        try db.copyInBytes(
            """
            COPY invoice_lines (invoice_id, line_no, instance_id, instance_name, type_name, category, image, rate_effective_from,
                                rate_effective_to, hourly_rate, metered_seconds, billable_seconds, amount, daily_metered_us, state_seconds,
                                discount_id, discount_percent, list_amount, capped_seconds, daily_capped_us) FROM STDIN (FORMAT binary)
            """, context: "storing invoice lines"
        ) { send in
            var w = BinaryCopyWriter()
            try BinaryCopyWriter.header.withUnsafeBufferPointer { try send($0) }
            for (c, record) in invoices {
                for l in c.lines {
                    w.clear()
                    w.row(fields: 20)
                    w.int8(record.invoiceId)
                    w.int4(Int32(l.lineNumber))
                    w.text(l.instanceId)
                    w.text(l.instanceName)
                    w.text(l.typeName)
                    w.text(l.category)
                    w.text(l.image)
                    w.timestamptz(l.rate.effectiveFrom)
                    w.timestamptz(l.rate.effectiveTo)
                    try w.numeric(l.rate.hourlyRateText)
                    try w.numeric(formatSeconds(l.meteredMicroseconds))
                    try w.numeric(String(l.billableSeconds))
                    try w.numeric(c.currency.plain(l.amount))
                    w.int8Array(l.dailyMicroseconds)
                    w.jsonb(JSON.object(l.stateMicroseconds.map { ($0.state, .string(formatSeconds($0.microseconds))) }).compact)
                    w.text(l.discount?.id)
                    try w.numeric(l.discount?.percentText)
                    try w.numeric(c.currency.plain(l.listAmount))
                    try w.numeric(formatSeconds(l.cappedMicroseconds))
                    w.int8Array(l.dailyCappedMicroseconds.isEmpty ? nil : l.dailyCappedMicroseconds)
                    try w.bytes.withUnsafeBufferPointer { try send($0) }
                }
            }
            try BinaryCopyWriter.trailer.withUnsafeBufferPointer { try send($0) }
        }
    }
}
