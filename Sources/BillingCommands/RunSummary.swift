import BillingCore
import BillingStore
import Reports

/// The summary a run prints: a short table for people, JSON for machines.
enum RunSummary {
    static func text(_ runs: [PeriodRun]) -> String {
        var out = ""
        for run in runs {
            let r = run.result
            let c = r.settings.currency
            let what = run.mode.dryRun ? "recompute, dry run: nothing written" : "\(run.status), run \(run.outcome!.runId)"
            out += "\(r.period.month) (\(r.settings.timeZone), \(r.period.start.iso8601) to \(r.window.end.iso8601)): \(what)\n"
            out += "  \(r.counts.changesRead) changes read, \(r.counts.instancesBilled) instances billed, \(r.invoices.count) invoices\n"
            let records = run.records
            if !r.invoices.isEmpty {
                var rows = [["project", "invoice", "status", "subtotal", "vat", "total " + c.code]]
                let differ = Set(run.differFromIssued)
                for inv in r.invoices {
                    let rec = records[inv.project.id]
                    let status = differ.contains(inv.project.id) ? "(\(rec?.status.rawValue ?? "none") differs)" : (rec?.status.rawValue ?? "-")
                    rows.append([inv.project.id, rec?.invoiceNumber ?? "-", status, grouped(c.plain(inv.subtotal)),
                                 grouped(c.plain(inv.tax)), grouped(c.plain(inv.total))])
                }
                rows.append(["all projects", "", "", grouped(c.plain(r.invoices.reduce(0) { $0 + $1.subtotal })),
                             grouped(c.plain(r.invoices.reduce(0) { $0 + $1.tax })), grouped(c.plain(r.invoices.reduce(0) { $0 + $1.total }))])
                out += table(rows, rightAligned: [3, 4, 5])
                if r.hasPricing { out += pricingTable(r, dryRun: run.mode.dryRun) }
                out += forecastTable(r)
            }
            if r.anomalies.isEmpty {
                out += "  anomalies: none\n"
            } else {
                let kinds = r.anomalyCounts.map { "\($0.kind.rawValue) (\($0.kind.severity.rawValue)): \($0.count)" }
                out += "  anomalies: " + kinds.joined(separator: "; ") + "\n"
            }
            if let budgets = run.budgets, !budgets.isEmpty { out += budgetsText(budgets, run: run) }
            if let late = run.late {
                out += "  late data: \(late.changes) change(s) of \(late.instances) instance(s) recorded after run \(late.sinceRunId) "
                out += "(watermark \(late.watermark.iso8601)) touch \(r.period.month)"
                out += late.projects.isEmpty ? "\n" : "; projects: \(late.projects.joined(separator: ", "))\n"
            }
            out += changesText(run)
            if !run.differFromIssued.isEmpty {
                out += "  ! today's data changes the issued invoices of \(r.period.month) (\(run.differFromIssued.joined(separator: ", "))); "
                out += "the invoices and the period's files were left unchanged.\n    See why: bmbill recompute --period \(r.period.month) --dry-run\n"
                out += "    Correct:  bmbill recompute --period \(r.period.month)   (or bmbill run --period \(r.period.month) --adjust)\n"
            }
            if let dir = run.directory {
                let credits = (r.credits?.isEmpty ?? true) ? "" : " credits.csv,"
                let alerts = (run.budgets?.isEmpty ?? true) ? "" : " alerts.csv,"
                out += "  files: \(dir)/ (usage.csv, invoice_lines.csv, summary.csv, anomalies.csv,\(credits)\(alerts) invoices/, manifest.json)\n"
            }
            out += "\n"
        }
        return out
    }

    /// Per project, how list price becomes the tax base: list, discount, subtotal (charged),
    /// credits and the tax base VAT is charged on. A table of its own, so that each stays
    /// within 80 columns.
    static func pricingTable(_ r: BillingResult, dryRun: Bool) -> String {
        let c = r.settings.currency
        func sum(_ f: (InvoiceContent) -> Int128) -> String { grouped(c.plain(r.invoices.reduce(0) { $0 + f($1) })) }
        var rows = [["pricing", "list", "discount", "subtotal", "credits", "tax base"]]
        for inv in r.invoices {
            rows.append([inv.project.id, grouped(c.plain(inv.listSubtotal)), grouped(c.plain(inv.discount)), grouped(c.plain(inv.subtotal)),
                         grouped(c.plain(inv.creditsApplied)), grouped(c.plain(inv.taxBase))])
        }
        rows.append(["all projects", sum(\.listSubtotal), sum(\.discount), sum(\.subtotal), sum(\.creditsApplied), sum(\.taxBase)])
        var out = table(rows, rightAligned: [1, 2, 3, 4, 5])
        // A draft (or a dry run) only shows what it would take; an issued invoice took it.
        let verb = r.isIssuable && !dryRun ? "took" : "would take"
        for inv in r.invoices where inv.creditsApplied != 0 {
            let takes = inv.credits.filter { $0.amount != 0 }.map { "\(grouped(c.plain($0.amount))) from \($0.creditId)" }
            out += wrapped("  credits: \(inv.project.id) \(verb) ", takes, indent: "    ")
        }
        return out
    }

    /// For a month to date: where each draft ends if nothing changes (`InvoiceForecast`).
    static func forecastTable(_ r: BillingResult) -> String {
        let forecasts = r.invoices.compactMap { inv in inv.forecast.map { (inv.project.id, $0) } }
        guard let through = forecasts.first?.1.through else { return "" }
        let c = r.settings.currency, credits = r.hasPricing
        func sum(_ f: (InvoiceForecast) -> Int128) -> String { grouped(c.plain(forecasts.reduce(0) { $0 + f($1.1) })) }
        let head = "  if nothing changes after \(r.asOf.iso8601), \(r.period.month) ends (to \(through.iso8601)) at:\n"
        var rows = [["forecast", "subtotal"] + (credits ? ["credits"] : []) + ["vat", "total " + c.code]]
        for (project, f) in forecasts {
            rows.append([project, grouped(c.plain(f.subtotal))] + (credits ? [grouped(c.plain(f.creditsApplied))] : [])
                + [grouped(c.plain(f.tax)), grouped(c.plain(f.total))])
        }
        rows.append(["all projects", sum(\.subtotal)] + (credits ? [sum(\.creditsApplied)] : []) + [sum(\.tax), sum(\.total)])
        return head + table(rows, rightAligned: Set(1..<rows[0].count))
    }

    /// Each budget's month after the run, and the alerts it raised (a dry run: would raise).
    static func budgetsText(_ report: BudgetReport, run: PeriodRun) -> String {
        let c = run.result.settings.currency
        var out = "  budgets (\(c.code), VAT included, after discounts and credits):\n"
        for s in report.standings {
            let b = s.budget
            out += "    \(b.id) (\(b.holder)): \(grouped(c.plain(s.actual))) of \(grouped(b.monthlyAmount.description)) (\(percent(s.usedRatio)))"
            if let f = s.forecast, let ratio = s.forecastRatio { out += "; forecast \(grouped(c.plain(f))) (\(percent(ratio)))" }
            out += "\n"
        }
        let verb = run.mode.dryRun ? "would raise" : "raised"
        for a in report.raised {
            let what = a.kind == .actual ? "month to date" : "forecast"
            out += "    ! alert \(verb): \(a.budgetId) \(what) reached \(a.threshold) % (\(grouped(a.amount.description)) of \(grouped(a.monthlyAmount.description)))\n"
        }
        let earlier = report.alerts.count - report.raised.count
        out += "    alerts on record for \(run.result.period.month): \(report.alerts.count) (\(report.raised.count) \(run.mode.dryRun ? "would be " : "")new, \(earlier) earlier)\n"
        return out
    }

    /// A ratio with 6 decimals (`1.220000`) as a percent with 2, rounded down (`122.00 %`).
    static func percent(_ ratio: String) -> String {
        guard let d = ExactDecimal(parsing: ratio), let units = d.rescaled(to: 6) else { return ratio }
        var q = units / 100
        if units < 0 && units % 100 != 0 { q -= 1 }
        return formatScaled(q, scale: 2) + " %"
    }

    /// Budgets in the JSON summary: each one's standing, and the alerts the run raised (a dry
    /// run: would raise) with the number on record.
    static func budgetsJSON(_ report: BudgetReport, currency c: Currency) -> JSON {
        [
            "budgets": .array(report.standings.map { s in
                [
                    "budget_id": .string(s.budget.id), "project_id": .optional(s.budget.projectId),
                    "billing_account_id": .optional(s.budget.billingAccountId), "currency": .string(c.code),
                    "monthly_amount": .string(s.budget.monthlyAmount.description),
                    "thresholds": .array((s.budget.thresholds ?? []).map { .string($0.description) }),
                    "month_to_date": .string(c.plain(s.actual)), "used_ratio": .string(s.usedRatio),
                    "forecast": .optional(s.forecast.map { c.plain($0) }), "forecast_ratio": .optional(s.forecastRatio),
                ]
            }),
            "alerts_raised": .array(report.raised.map(alertJSON)),
            "alerts_on_record": .int(Int64(report.alerts.count)),
        ]
    }

    static func alertJSON(_ a: BudgetAlert) -> JSON {
        [
            "budget_id": .string(a.budgetId), "kind": .string(a.kind.rawValue), "threshold_percent": .string(a.threshold.description),
            "project_id": .optional(a.projectId), "billing_account_id": .optional(a.billingAccountId), "currency": .string(a.currency),
            "monthly_amount": .string(a.monthlyAmount.description), "amount": .string(a.amount.description),
            "run_id": a.runId.map { .int($0) } ?? .null, "as_of": .string(a.asOf.iso8601),
        ]
    }

    /// `head` and `items` joined by ", ", broken before an item that would pass column 80,
    /// the next lines starting with `indent`.
    static func wrapped(_ head: String, _ items: [String], indent: String) -> String {
        var out = "", line = head
        for (i, item) in items.enumerated() {
            let piece = item + (i < items.count - 1 ? "," : "")
            if i > 0 && line.count + 1 + piece.count > 80 {
                out += line + "\n"
                line = indent + piece
            } else {
                line += (i > 0 ? " " : "") + piece
            }
        }
        return out + line + "\n"
    }

    /// Per project: the issued total, the new total, the difference, the changed lines and why.
    static func changesText(_ run: PeriodRun) -> String {
        guard !run.changes.isEmpty else {
            if case .recompute = run.mode { return "  no issued invoice changes\n" }
            return ""
        }
        var out = "  changes against the issued invoices:\n"
        for ch in run.changes {
            let c = ch.currency
            let after = run.outcome?.invoices[ch.projectId]
            if let issued = ch.issued {
                out += "    \(ch.projectId) \(issued.record.invoiceNumber ?? "-") (revision \(issued.record.revision)): "
                out += "issued \(grouped(c.plain(issued.total))), now \(grouped(c.plain(ch.newTotal))), difference \(signed(c.plain(ch.difference)))"
                if let after, after.correctsInvoiceId == issued.record.invoiceId {
                    out += " -> correcting revision \(after.revision), \(after.invoiceNumber ?? "")"
                }
            } else {
                out += "    \(ch.projectId) had no invoice: now \(grouped(c.plain(ch.newTotal)))"
                if let after { out += " -> issued \(after.invoiceNumber ?? "")" }
            }
            out += "\n"
            for l in ch.lines {
                let old = l.old.map { "\($0.billableSeconds) s \(grouped(c.plain($0.amount)))" } ?? "none"
                let new = l.new.map { "\($0.billableSeconds) s \(grouped(c.plain($0.amount)))" } ?? "none"
                let under = l.discountId.map { " under \($0)" } ?? ""
                out += "      \(l.kind.rawValue) \(l.instanceId) at rate from \(l.rateEffectiveFrom.iso8601)\(under): \(old) -> \(new) (\(signed(c.plain(l.amountDelta))))\n"
            }
            for reason in ch.reasons { out += "      why: \(reason)\n" }
        }
        return out
    }

    /// Pricing's keys (the run's `pricing`; per invoice its list subtotal, discount, credits
    /// and tax base; `totalsJSON`'s sums) only when pricing plays a part in the period
    /// (`BillingResult.hasPricing`): a run without pricing prints the JSON it always did.
    static func json(_ runs: [PeriodRun]) -> JSON {
        [
            "periods": .array(runs.map { run in
                let r = run.result
                let records = run.records
                let pricing = r.hasPricing
                // A line change names its discount when pricing plays a part now or played one
                // in the issued revision (a discount since removed).
                let changesPricing = pricing || run.changes.contains { $0.lines.contains { $0.discountId != nil } }
                let period: JSON = [
                    "period": .string(r.period.month.description),
                    "run_id": run.outcome.map { .int($0.runId) } ?? .null,
                    "kind": .string(run.mode.kind),
                    "dry_run": .bool(run.mode.dryRun),
                    "status": .string(run.status),
                    "as_of": .string(r.asOf.iso8601),
                    "window_utc": [.string(r.window.start.iso8601), .string(r.window.end.iso8601)],
                    "input_watermark": .optional(r.inputWatermark?.iso8601),
                    "settings": r.settingsJSON,
                    "counts": r.countsJSON,
                    "totals": r.totalsJSON,
                    "pricing": r.pricingJSON,
                    "anomalies": r.anomaliesJSON,
                    "invoices": .array(r.invoices.map { inv in
                        let rec = records[inv.project.id]
                        let invoice: JSON = [
                            "project_id": .string(inv.project.id), "invoice_id": rec.map { .int($0.invoiceId) } ?? .null,
                            "invoice_number": .optional(rec?.invoiceNumber), "status": .optional(rec?.status.rawValue),
                            "revision": rec.map { .int(Int64($0.revision)) } ?? .null,
                            "list_subtotal": .string(inv.currency.plain(inv.listSubtotal)), "discount": .string(inv.currency.plain(inv.discount)),
                            "subtotal": .string(inv.currency.plain(inv.subtotal)), "credits_applied": .string(inv.currency.plain(inv.creditsApplied)),
                            "credits": .array(inv.credits.map { t in
                                ["credit_id": .string(t.creditId), "amount": .string(inv.currency.plain(t.amount)), "reason": .optional(t.reason)]
                            }),
                            "tax_base": .string(inv.currency.plain(inv.taxBase)), "tax": .string(inv.currency.plain(inv.tax)),
                            "total": .string(inv.currency.plain(inv.total)),
                        ]
                        let shown = pricing ? invoice : invoice.removing(RunSummary.pricingInvoiceKeys)
                        return inv.forecast.map { shown.adding("forecast", PeriodFiles.forecastJSON($0, inv.currency)) } ?? shown
                    }),
                    "late_changes": run.late.map { l in
                        [
                            "since_run_id": .int(l.sinceRunId), "watermark": .string(l.watermark.iso8601), "changes": .int(Int64(l.changes)),
                            "instances": .int(Int64(l.instances)), "projects": .array(l.projects.map { .string($0) }),
                        ]
                    } ?? .null,
                    "changes": .array(run.changes.map { ch in
                        let c = ch.currency
                        return [
                            "project_id": .string(ch.projectId), "issued_invoice_number": .optional(ch.issued?.record.invoiceNumber),
                            "issued_revision": ch.issued.map { .int(Int64($0.record.revision)) } ?? .null,
                            "issued_total": .string(c.plain(ch.issued?.total ?? 0)),
                            "new_total": .string(c.plain(ch.newTotal)), "difference": .string(c.plain(ch.difference)),
                            "lines": .array(ch.lines.map { l in
                                let line: JSON = [
                                    "change": .string(l.kind.rawValue), "instance_id": .string(l.instanceId),
                                    "rate_effective_from": .string(l.rateEffectiveFrom.iso8601), "discount_id": .optional(l.discountId),
                                    "old_billable_seconds": l.old.map { .string(String($0.billableSeconds)) } ?? .null,
                                    "new_billable_seconds": l.new.map { .string(String($0.billableSeconds)) } ?? .null,
                                    "old_amount": l.old.map { .string(c.plain($0.amount)) } ?? .null,
                                    "new_amount": l.new.map { .string(c.plain($0.amount)) } ?? .null,
                                ]
                                return changesPricing ? line : line.removing(["discount_id"])
                            }),
                            "reasons": .array(ch.reasons.map { .string($0) }),
                        ]
                    }),
                    "differ_from_issued": .array(run.differFromIssued.map { .string($0) }),
                    "directory": .optional(run.directory),
                ]
                var shown = pricing ? period : period.removing(["pricing"])
                if let f = forecastTotals(r) { shown = shown.adding("forecast_totals", f) }
                if let b = run.budgets, !b.isEmpty { shown = shown.adding("budgets", budgetsJSON(b, currency: r.settings.currency)) }
                return shown
            })
        ]
    }

    /// The sums of a month to date's forecasts (nil once the period has ended).
    static func forecastTotals(_ r: BillingResult) -> JSON? {
        let forecasts = r.invoices.compactMap(\.forecast)
        guard r.forecastsMonthEnd, let through = forecasts.first?.through else { return nil }
        return PeriodFiles.forecastJSON(
            InvoiceForecast(through: through, subtotal: forecasts.reduce(0) { $0 + $1.subtotal }, creditsApplied: forecasts.reduce(0) { $0 + $1.creditsApplied },
                            tax: forecasts.reduce(0) { $0 + $1.tax }, total: forecasts.reduce(0) { $0 + $1.total }), r.settings.currency)
    }

    /// The keys pricing adds to an invoice of the JSON summary.
    static let pricingInvoiceKeys: Set<String> = ["list_subtotal", "discount", "credits_applied", "credits", "tax_base"]

    static func signed(_ plain: String) -> String { plain.hasPrefix("-") ? grouped(plain) : "+" + grouped(plain) }

    /// `28912492` as `28,912,492` (human output only; files keep plain numbers).
    static func grouped(_ plain: String) -> String { DisplayFormat.grouped(plain) }

    static func table(_ rows: [[String]], rightAligned: Set<Int>) -> String {
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            "  " + row.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: "  ") + "\n"
        }.joined()
    }
}
