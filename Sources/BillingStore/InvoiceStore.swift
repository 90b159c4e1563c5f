import BillingCore
import PostgresClient

/// What a run did to the stored invoices.
public struct RunOutcome: Sendable {
    public enum Status: String, Sendable {
        /// Invoices were issued (numbers given) by this run.
        case issued
        /// Drafts were written: the period is still open.
        case draft
        /// Data errors kept the ended period's invoices from being issued; drafts written.
        case blocked
        /// Nothing differed from what was stored.
        case unchanged
    }

    public let runId: Int64
    public let status: Status
    /// The stored invoice for each project the result bills, by project id.
    public let invoices: [String: InvoiceRecord]
    /// Projects whose issued invoice differs from today's computation (late or corrected
    /// data): left untouched, for `bmbill recompute` to correct.
    public let differFromIssued: [String]
    /// Drafts deleted because their projects no longer have billable usage.
    public let draftsRemoved: [String]
}

/// Writes a billing result into `billing_runs`, `invoices` and `invoice_lines`.
///
/// Call everything inside one transaction: the caller commits only when the files have
/// been rendered too, so the database holds the previous complete state or the new one.
public struct InvoiceStore {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// The series of gapless invoice numbers (`BM-00000001`, `BM-00000002`, …).
    public static let numberSeries = "BM"

    /// Records the run and brings the period's invoices in line with `result`:
    /// - an issued invoice is never changed; if the new content differs, the project is
    ///   listed in `differFromIssued`;
    /// - when the result is issuable, drafts are replaced by issued invoices with the next
    ///   gapless numbers, in project order;
    /// - otherwise drafts are replaced when their content or window changed, and kept
    ///   (same id) when not; drafts of projects with no usage left are deleted.
    public func record(_ result: BillingResult, kind: String, startedAt: Instant, host: String, pid: Int32) throws -> RunOutcome {
        let period = result.period.month.description
        let currency = result.settings.currency.code
        let runId = try insertRun(result, kind: kind, startedAt: startedAt, host: host, pid: pid)

        var existing: [String: (stored: InvoiceRecord, windowEnd: Int64)] = [:]
        for row in try db.execute(
            """
            SELECT invoice_id, project_id, revision, status, invoice_number, run_id,
                   \(SourceReader.micros("issued_at")), fingerprint, \(SourceReader.micros("window_end"))
            FROM current_invoices WHERE period = $1 AND currency = $2
            """, [period, currency], context: "reading the period's invoices"
        ).rows {
            let s = InvoiceRecord(invoiceId: Int64(row[0]!)!, projectId: row[1]!, revision: Int(row[2]!)!, status: row[3]!,
                                  invoiceNumber: row[4], runId: Int64(row[5]!)!, issuedAt: row[6].map { Instant(microseconds: Int64($0)!) },
                                  fingerprint: row[7]!)
            existing[s.projectId] = (s, Int64(row[8]!)!)
        }

        var stored: [String: InvoiceRecord] = [:]
        var differ: [String] = []
        var toInsert: [InvoiceContent] = []
        for content in result.invoices {
            let id = content.project.id
            if let ex = existing[id] {
                if ex.stored.status == "issued" {
                    stored[id] = ex.stored
                    if ex.stored.fingerprint != content.fingerprint { differ.append(id) }
                    continue
                }
                // A draft: keep it when nothing moved, else replace it.
                if !result.isIssuable && ex.stored.fingerprint == content.fingerprint && ex.windowEnd == result.window.end.microseconds {
                    stored[id] = ex.stored
                    continue
                }
                try db.execute("DELETE FROM invoices WHERE invoice_id = $1 AND status = 'draft'", [String(ex.stored.invoiceId)],
                               context: "replacing the draft of \(id)")
            }
            toInsert.append(content)
        }
        var removed: [String] = []
        let billed = Set(result.invoices.map { $0.project.id })
        for (id, ex) in existing.sorted(by: { $0.key < $1.key }) where !billed.contains(id) {
            if ex.stored.status == "draft" {
                try db.execute("DELETE FROM invoices WHERE invoice_id = $1", [String(ex.stored.invoiceId)],
                               context: "removing the draft of \(id)")
                removed.append(id)
            } else {
                differ.append(id)  // issued, but no usage any more: a full credit is due
            }
        }

        let issuing = result.isIssuable
        for content in toInsert {  // already in project order
            stored[content.project.id] = try insertInvoice(content, result: result, runId: runId, issue: issuing)
        }
        try insertLines(toInsert, ids: stored)

        let status: RunOutcome.Status
        if issuing && !toInsert.isEmpty {
            status = .issued
        } else if result.period.hasEnded(asOf: result.asOf) && result.hasErrors {
            status = .blocked
        } else if toInsert.isEmpty && removed.isEmpty {
            status = .unchanged
        } else {
            status = .draft
        }
        try db.execute("UPDATE billing_runs SET status = $2 WHERE run_id = $1", [String(runId), status.rawValue],
                       context: "recording the run's status")
        return RunOutcome(runId: runId, status: status, invoices: stored, differFromIssued: differ.sorted(), draftsRemoved: removed)
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
                                      input_watermark, settings, counts, totals, anomalies, rates_in_force, host, pid)
            VALUES ($1, $2, 'running', $3::timestamptz, clock_timestamp(), $4::timestamptz, $5::timestamptz, $6::timestamptz,
                    $7::timestamptz, $8::timestamptz, $9::jsonb, $10::jsonb, $11::jsonb, $12::jsonb, $13::jsonb, $14, $15)
            RETURNING run_id
            """,
            [
                r.period.month.description, kind, startedAt.iso8601, r.asOf.iso8601, r.period.start.iso8601, r.period.end.iso8601,
                r.window.end.iso8601, r.inputWatermark?.iso8601, r.settingsJSON.compact, r.countsJSON.compact, r.totalsJSON.compact,
                r.anomaliesJSON.compact, r.ratesJSON.compact, host, String(pid),
            ], context: "recording the run")
        return Int64(row.scalar!)!
    }

    private func insertInvoice(_ c: InvoiceContent, result r: BillingResult, runId: Int64, issue: Bool) throws -> InvoiceRecord {
        var number: String?
        if issue {
            let n = try db.execute(
                """
                INSERT INTO invoice_number_series (series, last_number) VALUES ($1, 1)
                ON CONFLICT (series) DO UPDATE SET last_number = invoice_number_series.last_number + 1
                RETURNING last_number
                """, [InvoiceStore.numberSeries], context: "taking the next invoice number"
            ).scalar!
            number = InvoiceStore.numberSeries + "-" + String(repeating: "0", count: max(0, 8 - n.count)) + n
        }
        let cur = c.currency
        let row = try db.execute(
            """
            INSERT INTO invoices (project_id, period, revision, status, invoice_number, currency, subtotal, tax, total, run_id,
                                  issued_at, project_name, billing_account_id, timezone, period_start, period_end, window_end,
                                  vat_rate, rounding, granularity, fingerprint)
            VALUES ($1, $2, 0, $3, $4, $5, $6::numeric, $7::numeric, $8::numeric, $9, CASE WHEN $3 = 'issued' THEN clock_timestamp() END,
                    $10, $11, $12, $13::timestamptz, $14::timestamptz, $15::timestamptz, $16::numeric, $17, $18, $19)
            RETURNING invoice_id, \(SourceReader.micros("issued_at"))
            """,
            [
                c.project.id, r.period.month.description, issue ? "issued" : "draft", number, cur.code, cur.plain(c.subtotal),
                cur.plain(c.tax), cur.plain(c.total), String(runId), c.project.name, c.project.billingAccountId,
                r.settings.timeZone.identifier, r.period.start.iso8601, r.period.end.iso8601, r.window.end.iso8601,
                r.settings.vatRate.description, r.settings.rounding.rawValue, r.settings.granularity.rawValue, c.fingerprint,
            ], context: "storing the invoice of \(c.project.id)")
        return InvoiceRecord(invoiceId: Int64(row.rows[0][0]!)!, projectId: c.project.id, revision: 0, status: issue ? "issued" : "draft",
                             invoiceNumber: number, runId: runId, issuedAt: row.rows[0][1].map { Instant(microseconds: Int64($0)!) },
                             fingerprint: c.fingerprint)
    }

    /// All lines of the new invoices in one COPY: a large month has hundreds of thousands.
    private func insertLines(_ invoices: [InvoiceContent], ids: [String: InvoiceRecord]) throws {
        guard invoices.contains(where: { !$0.lines.isEmpty }) else { return }
        try db.copyIn(
            """
            COPY invoice_lines (invoice_id, line_no, instance_id, instance_name, type_name, category, image, rate_effective_from,
                                rate_effective_to, hourly_rate, metered_seconds, billable_seconds, amount) FROM STDIN
            """, context: "storing invoice lines"
        ) { send in
            for c in invoices {
                let id = String(ids[c.project.id]!.invoiceId)
                for l in c.lines {
                    try send(
                        CopyText.row([
                            id, String(l.lineNumber), l.instanceId, l.instanceName, l.typeName, l.category, l.image,
                            l.rate.effectiveFrom.iso8601, l.rate.effectiveTo?.iso8601, l.rate.hourlyRateText,
                            formatSeconds(l.meteredMicroseconds), String(l.billableSeconds), c.currency.plain(l.amount),
                        ]))
                }
            }
        }
    }
}

/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
enum CopyText {
    static func row(_ fields: [String?]) -> String {
        var line = ""
        for (i, f) in fields.enumerated() {
            if i > 0 { line += "\t" }
            guard let f else {
                line += "\\N"
                continue
            }
            for ch in f.unicodeScalars {
                switch ch {
                case "\\": line += "\\\\"
                case "\t": line += "\\t"
                case "\n": line += "\\n"
                case "\r": line += "\\r"
                default: line.unicodeScalars.append(ch)
                }
            }
        }
        return line + "\n"
    }
}
