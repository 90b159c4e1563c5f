import BillingCore
import Foundation
import Reports

/// A Prometheus textfile-collector file (`--metrics-file`), written by write-then-rename so
/// the node exporter never reads half of it.
struct MetricsFile {
    let path: String
    /// Where the path came from, to name in messages (`--metrics-file` or `BMBILL_METRICS_FILE`).
    var source = "--metrics-file"

    /// Checks, before anything is billed, that the file can be written where it is: the
    /// path is a file or nothing yet (never a folder or a device), and its folder exists
    /// and takes a new file (tried for real: the temporary file the write goes through is
    /// created and removed). Throws a usage error (exit 2) naming the path and what to fix.
    func checkWritable() throws {
        let folder = MetricsFile.folder(of: path)
        func refuse(_ problem: String, _ fix: String) -> BMBillError {
            BMBillError.usage("\(source) \(path): \(problem); \(fix). Nothing was billed.")
        }
        var st = stat()
        if stat(path, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFDIR {
                throw refuse("is a folder", "give the file to write in it, for example \(path.hasSuffix("/") ? path : path + "/")bmbill.prom")
            }
            guard st.st_mode & S_IFMT == S_IFREG else {
                throw refuse("is not a regular file", "give the path of a .prom file in the node exporter's textfile folder")
            }
        }
        guard stat(folder, &st) == 0 else {
            let problem = errno == ENOENT ? "its folder \(folder) does not exist" : "its folder \(folder) cannot be reached (\(String(cString: strerror(errno))))"
            throw refuse(problem, "create it (mkdir -p \(folder)) or give a path in an existing folder")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw refuse("\(folder) is not a folder", "give a path in the node exporter's textfile folder")
        }
        let probe = OutputFolder.temporaryPath(for: path)
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw refuse("cannot create a file in \(folder) (\(reason))", "make the folder writable for this user or give a path in a writable folder")
        }
        close(fd)
        unlink(probe)
    }

    /// The folder the file goes in (`.` for a bare file name).
    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Writes the figures of a finished command. `runs` is empty when it failed before
    /// billing anything; the last success time is carried over from the previous file then.
    func write(command: String, startedAt: Instant, finishedAt: Instant, runs: [PeriodRun], exitCode: Int32) throws {
        var m = ""
        func metric(_ name: String, _ help: String, _ type: String = "gauge", _ samples: [(labels: String, value: String)]) {
            m += "# HELP bmbill_\(name) \(help)\n# TYPE bmbill_\(name) \(type)\n"
            for s in samples { m += "bmbill_\(name)\(s.labels.isEmpty ? "" : "{\(s.labels)}") \(s.value)\n" }
        }
        let cmd = "command=\"\(command)\""
        let end = String(finishedAt.flooredSeconds)
        metric("last_run_timestamp_seconds", "When the last run finished (Unix time).", "gauge", [(cmd, end)])
        metric("last_run_exit_code", "Exit code of the last run (0 done, 1 failure, 2 usage error, 65 data errors, 75 locked).", "gauge", [(cmd, String(exitCode))])
        let success = exitCode == 0 ? end : previousValue("bmbill_last_success_timestamp_seconds{\(cmd)}")
        if let success { metric("last_success_timestamp_seconds", "When a run last finished with exit code 0 (Unix time).", "gauge", [(cmd, success)]) }
        let millis = Int128(startedAt.microseconds(until: finishedAt) / 1000)
        metric("run_duration_seconds", "Wall time of the last run.", "gauge", [(cmd, formatScaled(millis, scale: 3))])
        var changes: [(String, String)] = [], invoices: [(String, String)] = [], anomalies: [(String, String)] = []
        var totals: [(String, String)] = [], differ: [(String, String)] = [], late: [(String, String)] = []
        for run in runs {
            let r = run.result
            let p = "period=\"\(r.period.month)\""
            changes.append((p, String(r.counts.changesRead)))
            invoices.append((p + ",status=\"\(run.status)\"", String(r.invoices.count)))
            for kind in Anomaly.Kind.allCases {
                let n = r.anomalies.filter { $0.kind == kind }.count
                anomalies.append((p + ",kind=\"\(kind.rawValue)\",severity=\"\(kind.severity.rawValue)\"", String(n)))
            }
            totals.append((p + ",currency=\"\(r.settings.currency.code)\"", r.settings.currency.plain(r.invoices.reduce(0) { $0 + $1.total })))
            differ.append((p, String(run.differFromIssued.count)))
            late.append((p, String(run.late?.changes ?? 0)))
        }
        metric("changes_read", "State changes read for the period.", "gauge", changes)
        metric("invoices", "Invoices of the period computed by the last run.", "gauge", invoices)
        metric("anomalies", "Data problems found, by kind.", "gauge", anomalies)
        metric("invoiced_amount", "Sum of the invoice totals of the period, VAT included, in the currency's major unit.", "gauge", totals)
        metric("projects_needing_recompute", "Issued invoices that today's data changes and that were not corrected.", "gauge", differ)
        metric("late_changes", "Changes recorded after the previous run of the period that touch it.", "gauge", late)
        // Budgets: an existing alertmanager pages on these (docs/forecast-and-budgets.md).
        var used: [(String, String)] = [], forecast: [(String, String)] = [], raised: [(String, String)] = []
        for run in runs {
            guard let report = run.budgets, !report.isEmpty else { continue }
            let p = "period=\"\(run.result.period.month)\""
            for s in report.standings {
                let b = s.budget
                let labels = "budget_id=\"\(MetricsFile.escaped(b.id))\",\(p),currency=\"\(s.currency.code)\","
                    + (b.projectId.map { "project_id=\"\(MetricsFile.escaped($0))\"" } ?? "billing_account_id=\"\(MetricsFile.escaped(b.billingAccountId ?? ""))\"")
                used.append((labels, s.usedRatio))
                if let ratio = s.forecastRatio { forecast.append((labels, ratio)) }
            }
            raised.append((p, String(run.mode.dryRun ? 0 : report.raised.count)))
        }
        if !used.isEmpty {
            metric("budget_used_ratio", "Month-to-date total (VAT included, after discounts and credits) over the budget's monthly amount.", "gauge", used)
            metric("budget_forecast_ratio", "Where the month ends if nothing changes, over the budget's monthly amount (months not ended).", "gauge", forecast)
            metric("budget_alerts_raised", "Budget alerts the last run raised for the period (each is raised once).", "gauge", raised)
        }
        try OutputFolder.atomicWrite(m, to: path)
    }

    /// A label value as the text format wants it: backslash, double quote and newline escaped.
    static func escaped(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    private func previousValue(_ series: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return String(line.dropFirst(series.count + 1))
        }
        return nil
    }
}
