import ArgumentParser
import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Bill a period: the cron job.",
        discussion: """
            Without --period: the last month that has ended (issued invoices) and the current
            month to date (drafts). A month that has ended gets issued invoices with gapless
            numbers, unless data errors keep them as drafts (exit 65). Running an unchanged
            period again changes nothing.

            Examples:
              bmbill run
              bmbill run --period 2026-10 --out /srv/billing/reports
              bmbill run --period 2026-10 --as-of 2026-10-20T00:00:00Z --json
            """)

    @Option(help: ArgumentHelp("Month to bill, YYYY-MM, in the billing time zone.", valueName: "YYYY-MM"))
    var period: String?

    @Option(name: .customLong("as-of"), help: ArgumentHelp("Bill as if it were this instant (ISO 8601, e.g. 2026-12-01T00:00:00Z); default now.", valueName: "instant"))
    var asOf: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var billing: BillingOptions
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let (settings, config) = try billing.resolve()
        let asOf = try parseAsOf(asOf)
        let months: [YearMonth]
        if let period {
            months = [try parsePeriod(period)]
        } else {
            let current = BillingPeriod(containing: asOf, zone: settings.timeZone).month
            months = [current.previous, current]
        }
        let logger = Logger(label: "bmbill.run")
        let db = try PostgresConnection(conninfo: connection.db ?? "")
        let job = BillingJob(db: db, settings: settings, outputRoot: output.root(config: config), logger: logger)
        try job.checkSchema()
        let catalog = try SourceReader(db).loadCatalog()
        var runs: [PeriodRun] = []
        for month in months {
            runs.append(try job.bill(month, asOf: asOf, catalog: catalog))
        }
        print(output.json ? RunSummary.json(runs).pretty : RunSummary.text(runs), terminator: "")

        let blocked = runs.filter { $0.outcome.status == .blocked }
        if !blocked.isEmpty {
            throw BMBillError.dataErrors(
                "data errors kept the invoices of \(blocked.map { $0.result.period.month.description }.joined(separator: ", ")) from being issued; "
                    + "they stay drafts. Fix what anomalies.csv lists as errors, then run again.")
        }
    }
}
