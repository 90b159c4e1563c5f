import ArgumentParser
import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient
import Reports

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Bill a period: the cron job.",
        discussion: """
            Without --period: the last month that has ended (issued invoices) and the current month to \
            date (drafts). A month that has ended gets issued invoices with gapless numbers, unless \
            data errors keep them as drafts (exit 65). Running an unchanged period again changes \
            nothing.

            On a month already issued, changes recorded since its last run are reported; issued \
            invoices are never changed: if today's data gives other amounts the run says so and leaves \
            them (and the period's files) as they are. Correct them with 'bmbill recompute', or let \
            this run issue the corrections with --adjust.

            Examples:
              bmbill run
              bmbill run --period 2026-10 --out /srv/billing/reports
              bmbill run --metrics-file /var/lib/node_exporter/textfile/bmbill.prom
              bmbill run --period 2026-10 --as-of 2026-10-20T00:00:00Z --json
              bmbill run --period 2026-10 --adjust
              bmbill run --period 2026-10 --shards 16 --workers 4

            With --shards the period's instances are split by a hash of their id into shards recorded \
            in PostgreSQL; --workers local 'bmbill work' processes (and 'bmbill work' on other \
            machines) meter them, a dead worker's shard is taken over, and the invoices are assembled \
            once all are done: the same rows and files as without --shards. See docs/scaling.md.
            """)

    @Option(help: ArgumentHelp("Month to bill, YYYY-MM, in the billing time zone.", valueName: "YYYY-MM"))
    var period: String?

    @Option(name: .customLong("as-of"), help: ArgumentHelp("Bill as if it were this instant (ISO 8601, e.g. 2026-12-01T00:00:00Z); default now.", valueName: "instant"))
    var asOf: String?

    @Flag(help: "Also issue correcting revisions where today's data changes an issued invoice.")
    var adjust = false

    @Option(help: ArgumentHelp("Split each period into this many shards of the instances, metered by worker processes (1-4096).", valueName: "N"))
    var shards: Int?

    @Option(help: ArgumentHelp("Local 'bmbill work' processes for --shards (default: the number of cores; 0: only workers started elsewhere, and the run itself).", valueName: "K"))
    var workers: Int?

    @OptionGroup var output: OutputOptions
    @OptionGroup var billing: BillingOptions
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let shards, !(1...4096).contains(shards) { throw ValidationError("--shards must be between 1 and 4096, not \(shards)") }
        if let workers {
            guard shards != nil else { throw ValidationError("--workers needs --shards") }
            guard (0...256).contains(workers) else { throw ValidationError("--workers must be between 0 and 256, not \(workers)") }
        }
    }

    func run() throws {
        let sharding = shards.map {
            Sharding(shards: $0, workers: workers ?? ProcessInfo.processInfo.activeProcessorCount, conninfo: connection.conninfo)
        }
        try BillingCommand(output: output, billing: billing, connection: connection, name: "run", sharding: sharding).execute { settings, asOf in
            if let period { return [try parsePeriod(period)] }
            let current = BillingPeriod(containing: asOf, zone: settings.timeZone).month
            return [current.previous, current]
        } asOf: { try parseAsOf(asOf) } mode: { .scheduled(adjust: adjust) }
    }
}

struct RecomputeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recompute",
        abstract: "Bill a period again from today's data and correct issued invoices.",
        discussion: """
            Shows, per project, the issued total, the new total, the difference, and which lines \
            changed and why (late changes, a corrected rate, a changed billable-state table, other \
            settings, a discount or monthly cap changed). Without --dry-run it issues a correcting revision for each project whose amount \
            changed: the next revision number, its own gapless invoice number, the corrected amounts \
            and the difference; the issued invoice is never modified (it becomes 'superseded'). \
            Projects that did not change get nothing new; a second identical recompute does nothing. \
            --dry-run writes nothing at all.

            Examples:
              bmbill recompute --period 2026-10 --dry-run
              bmbill recompute --period 2026-10 --project prj-alpha --project prj-beta
            """)

    @Option(help: ArgumentHelp("Month to recompute, YYYY-MM.", valueName: "YYYY-MM"))
    var period: String

    @Option(name: .customLong("project"), help: ArgumentHelp("Only this project (repeatable).", valueName: "id"))
    var projects: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Show what would change; write nothing.")
    var dryRun = false

    @Option(name: .customLong("as-of"), help: ArgumentHelp("Recompute as if it were this instant (ISO 8601); default now.", valueName: "instant"))
    var asOf: String?

    @OptionGroup var output: OutputOptions
    @OptionGroup var billing: BillingOptions
    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        try BillingCommand(output: output, billing: billing, connection: connection, name: "recompute").execute { _, _ in
            [try parsePeriod(period)]
        } asOf: { try parseAsOf(asOf) } mode: { .recompute(projects: projects.isEmpty ? nil : Set(projects), dryRun: dryRun) }
    }
}

/// What `run` and `recompute` share: settings, connection, billing each period, the
/// summary, the metrics file and the exit code.
struct BillingCommand {
    let output: OutputOptions
    let billing: BillingOptions
    let connection: ConnectionOptions
    let name: String
    var sharding: Sharding? = nil

    /// Bills each month and prints the summary. With a metrics file, checks first that it
    /// can be written (exit 2 when not, before anything is billed) and writes it at the end
    /// whatever happened; a failed write is reported and makes the command exit 1 (or the
    /// run's own non-zero code), so that a dead metrics file never goes unnoticed.
    func execute(months: (BillingSettings, Instant) throws -> [YearMonth], asOf: () throws -> Instant?, mode: () -> BillingMode) throws {
        let startedAt = Instant.now()
        var runs: [PeriodRun] = []
        var exitCode = ExitStatus.failure
        let metrics = try output.metricsFile(config: [:]).map {
            MetricsFile(path: $0, source: output.metricsFile != nil ? "--metrics-file" : "BMBILL_METRICS_FILE")
        }
        try metrics?.checkWritable()
        var failure: Error?
        do {
            let (settings, config) = try billing.resolve()
            let requestedAsOf = try asOf()
            let logger = Logger(label: "bmbill.\(name)")
            let db = try openConnection(connection, command: name)
            let clock = try InvoiceStore(db).clock()
            let months = try months(settings, requestedAsOf ?? clock)
            let asOf = try Self.asOf(requestedAsOf, clock: clock, months: months, zone: settings.timeZone)
            for m in months { try checkBillable(m, what: "period \(m) (from --as-of \(asOf))") }
            var job = BillingJob(db: db, settings: settings, outputRoot: output.root(config: config), logger: logger)
            job.usageByDay = output.usageGrain == .day
            job.sharding = sharding
            try job.checkSchema()
            let catalog = try SourceReader(db).loadCatalog()
            try checkProjects(mode(), catalog: catalog, months: months, db: db, currency: settings.currency)
            for month in months {
                runs.append(try job.bill(month, asOf: asOf, catalog: catalog, mode: mode()))
            }
            print(output.json ? RunSummary.json(runs).pretty : RunSummary.text(runs), terminator: "")
            try checkDataErrors(runs)
            exitCode = ExitStatus.success
        } catch {
            exitCode = BMBill.exitStatus(for: error)
            failure = error
        }
        if let metrics {
            do {
                try metrics.write(command: name, startedAt: startedAt, finishedAt: Instant.now(), runs: runs, exitCode: exitCode)
            } catch {
                let reason = if case OutputError.cannotWrite(_, let r) = error { r } else { "\(error)" }
                let message = "could not write the metrics file \(metrics.path) (\(metrics.source)): \(reason); "
                    + "Prometheus keeps the previous figures until it is fixed (the folder must exist and be writable)"
                guard failure != nil else { throw BMBillError.failure(message) }
                FileHandle.standardError.write(Data("bmbill: \(message)\n".utf8))
            }
        }
        if let failure { throw failure }
    }

    /// The instant to bill as of: `requested` (`--as-of`) when given, else the database's
    /// clock. An `--as-of` later than that clock would bill time that has not passed and
    /// issue permanent invoices for months that have not ended: it is refused unless every
    /// month to bill has already ended by the clock, and then the months are billed as of
    /// the clock (what is known now; the run records that instant), with a note on stderr.
    static func asOf(_ requested: Instant?, clock: Instant, months: [YearMonth], zone: BillingTimeZone) throws -> Instant {
        guard let requested, requested > clock else { return requested ?? clock }
        if let open = months.first(where: { !BillingPeriod(month: $0, zone: zone).hasEnded(asOf: clock) }) {
            throw BMBillError.usage(
                "--as-of \(requested) is later than the database's clock (\(clock)) and period \(open) has not ended by it: bmbill bills "
                    + "only time that has passed, and issues a month only once it has ended. Leave --as-of out to bill as of now.")
        }
        let ended = months.map(\.description).joined(separator: ", ")
        FileHandle.standardError.write(Data(
            "bmbill: --as-of \(requested) is later than the database's clock (\(clock)); \(ended) ended before the clock, so it is billed as of the clock\n".utf8))
        return clock
    }

    /// `recompute --project` must name projects bmbill knows: in `projects`, or with an
    /// invoice of the period (a project since removed can still be corrected).
    private func checkProjects(_ mode: BillingMode, catalog: BillingCatalog, months: [YearMonth], db: PostgresConnection,
                               currency: Currency) throws {
        guard let wanted = mode.projects else { return }
        let store = InvoiceStore(db)
        var known = Set(catalog.projects.keys)
        for m in months { known.formUnion(try store.current(period: m, currency: currency).keys) }
        let unknown = wanted.subtracting(known).sorted()
        guard unknown.isEmpty else {
            throw BMBillError.usage(
                "--project \(unknown.joined(separator: ", ")): no such project (not in projects, and no \(currency.code) invoice of "
                    + "\(months.map(\.description).joined(separator: ", "))); check the id")
        }
    }

    /// Any error anomaly makes the command exit 65 (billing-rules.md section 6), for the
    /// month to date as much as for an ended month, so that cron reports it.
    private func checkDataErrors(_ runs: [PeriodRun]) throws {
        let withErrors = runs.filter { $0.result.hasErrors }
        guard !withErrors.isEmpty else { return }
        let periods = withErrors.map { $0.result.period.month.description }.joined(separator: ", ")
        if case .recompute = withErrors[0].mode {
            throw BMBillError.dataErrors("data errors in \(periods): no correction can be issued until they are fixed. "
                + "Fix what anomalies.csv lists as errors (or the anomalies above), then recompute again.")
        }
        let ended = withErrors.filter { $0.result.period.hasEnded(asOf: $0.result.asOf) }.map { $0.result.period.month.description }
        let open = withErrors.filter { !$0.result.period.hasEnded(asOf: $0.result.asOf) }.map { $0.result.period.month.description }
        var what: [String] = []
        if !ended.isEmpty { what.append("data errors kept the invoices of \(ended.joined(separator: ", ")) from being issued; they stay drafts") }
        if !open.isEmpty { what.append("the drafts of \(open.joined(separator: ", ")) have data errors and could not be issued as they are") }
        throw BMBillError.dataErrors(what.joined(separator: "; ") + ". Fix what anomalies.csv lists as errors, then run again.")
    }
}
