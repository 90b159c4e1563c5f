import BillingCore
import BillingStore

/// The summary a run prints: a short table for people, JSON for machines.
enum RunSummary {
    static func text(_ runs: [PeriodRun]) -> String {
        var out = ""
        for run in runs {
            let r = run.result
            let c = r.settings.currency
            out += "\(r.period.month) (\(r.settings.timeZone), \(r.period.start.iso8601) to \(r.window.end.iso8601)): "
            out += "\(run.outcome.status.rawValue), run \(run.outcome.runId)\n"
            out += "  \(r.counts.changesRead) changes read, \(r.counts.instancesBilled) instances billed, \(r.invoices.count) invoices\n"
            if !r.invoices.isEmpty {
                var rows = [["project", "invoice", "status", "subtotal", "vat", "total " + c.code]]
                for inv in r.invoices {
                    let rec = run.outcome.invoices[inv.project.id]
                    rows.append([inv.project.id, rec?.invoiceNumber ?? "-", rec?.status ?? "-", grouped(c.plain(inv.subtotal)),
                                 grouped(c.plain(inv.tax)), grouped(c.plain(inv.total))])
                }
                rows.append(["all projects", "", "", grouped(c.plain(r.invoices.reduce(0) { $0 + $1.subtotal })),
                             grouped(c.plain(r.invoices.reduce(0) { $0 + $1.tax })), grouped(c.plain(r.invoices.reduce(0) { $0 + $1.total }))])
                out += table(rows, rightAligned: [3, 4, 5])
            }
            if r.anomalies.isEmpty {
                out += "  anomalies: none\n"
            } else {
                let kinds = r.anomalyCounts.map { "\($0.kind.rawValue) (\($0.kind.severity.rawValue)): \($0.count)" }
                out += "  anomalies: " + kinds.joined(separator: "; ") + "\n"
            }
            if !run.outcome.differFromIssued.isEmpty {
                out += "  ! issued invoices differ from the data now for \(run.outcome.differFromIssued.joined(separator: ", ")): "
                out += "they were left unchanged and no files were written; review the changes and correct them by a recompute\n"
            }
            if let dir = run.directory { out += "  files: \(dir)/ (usage.csv, invoice_lines.csv, anomalies.csv, invoices/, manifest.json)\n" }
            out += "\n"
        }
        return out
    }

    static func json(_ runs: [PeriodRun]) -> JSON {
        [
            "periods": .array(runs.map { run in
                let r = run.result
                return [
                    "period": .string(r.period.month.description),
                    "run_id": .int(run.outcome.runId),
                    "status": .string(run.outcome.status.rawValue),
                    "as_of": .string(r.asOf.iso8601),
                    "window_utc": [.string(r.window.start.iso8601), .string(r.window.end.iso8601)],
                    "input_watermark": .optional(r.inputWatermark?.iso8601),
                    "settings": r.settingsJSON,
                    "counts": r.countsJSON,
                    "totals": r.totalsJSON,
                    "anomalies": r.anomaliesJSON,
                    "invoices": .array(r.invoices.map { inv in
                        let rec = run.outcome.invoices[inv.project.id]
                        return [
                            "project_id": .string(inv.project.id), "invoice_id": rec.map { .int($0.invoiceId) } ?? .null,
                            "invoice_number": .optional(rec?.invoiceNumber), "status": .optional(rec?.status),
                            "subtotal": .string(inv.currency.plain(inv.subtotal)), "tax": .string(inv.currency.plain(inv.tax)),
                            "total": .string(inv.currency.plain(inv.total)),
                        ]
                    }),
                    "differ_from_issued": .array(run.outcome.differFromIssued.map { .string($0) }),
                    "directory": .optional(run.directory),
                ]
            })
        ]
    }

    /// `28912492` as `28,912,492` (human output only; files keep plain numbers).
    static func grouped(_ plain: String) -> String {
        let negative = plain.hasPrefix("-")
        let body = negative ? String(plain.dropFirst()) : plain
        let parts = body.split(separator: ".", maxSplits: 1)
        var digits = Array(parts[0])
        var out: [Character] = []
        while digits.count > 3 {
            out = [","] + digits.suffix(3) + out
            digits.removeLast(3)
        }
        out = digits + out
        return (negative ? "-" : "") + String(out) + (parts.count > 1 ? "." + parts[1] : "")
    }

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
