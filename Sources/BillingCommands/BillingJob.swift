import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient
import Reports

/// How a period is billed.
public enum BillingMode: Sendable {
    /// `bmbill run`: issue what can be issued; with `adjust`, also correct issued invoices
    /// that today's data changes.
    case scheduled(adjust: Bool)
    /// `bmbill recompute`: correct issued invoices (only `projects`, when given); with
    /// `dryRun`, show what would change and write nothing at all.
    case recompute(projects: Set<String>?, dryRun: Bool)

    var kind: String {
        if case .recompute = self { return "recompute" }
        return "scheduled"
    }
    var corrects: Bool {
        switch self {
        case .scheduled(let adjust): return adjust
        case .recompute: return true
        }
    }
    var dryRun: Bool {
        if case .recompute(_, let dry) = self { return dry }
        return false
    }
    var projects: Set<String>? {
        if case .recompute(let p, _) = self { return p }
        return nil
    }
}

/// How one project's issued invoice compares with today's computation, and why.
public struct ProjectChange: Sendable {
    public let projectId: String
    /// Nil when the project had no invoice in the issued period.
    public let issued: StoredInvoice?
    public let currency: Currency
    public let newTotal: Int128
    public var difference: Int128 { newTotal - (issued?.total ?? 0) }
    public let lines: [LineChange]
    /// Plain-language causes: late changes, corrected rates, a changed billable-state table, settings.
    public let reasons: [String]
}

/// One period billed: what was computed and what the run did with it.
public struct PeriodRun {
    public let result: BillingResult
    public let mode: BillingMode
    /// The plan, applied unless the mode is a dry run.
    public let actions: [InvoiceAction]
    /// Nil on a dry run (nothing was written).
    public let outcome: RunOutcome?
    /// Issued invoices that today's data changes, with the reasons.
    public let changes: [ProjectChange]
    public let late: LateChanges?
    /// Where the files are, or nil when they were not written.
    public let directory: String?
    /// The period's budgets after the run, and its alerts (on a dry run, those it would raise).
    public var budgets: BudgetReport? = nil

    /// The run's status, or `dry_run` when nothing was written.
    public var status: String { outcome?.status.rawValue ?? "dry_run" }
    /// The invoice in force per project after the run (before it, on a dry run).
    public var records: [String: InvoiceRecord] {
        if let outcome { return outcome.invoices }
        var r: [String: InvoiceRecord] = [:]
        for a in actions {
            switch a {
            case .keep(let s), .differs(let s?, _), .correct(let s, _), .removeDraft(let s): r[s.record.projectId] = s.record
            case .draft(_, let s?), .issue(_, let s?): r[s.record.projectId] = s.record
            default: break
            }
        }
        return r
    }
    /// Projects whose issued invoice differs from today's data and was not corrected.
    public var differFromIssued: [String] { actions.differFromIssued }
}

/// The billing of one period, end to end: read, meter, rate, store, write files.
public struct BillingJob {
    public let db: PostgresConnection
    public let settings: BillingSettings
    public let outputRoot: String
    public let logger: Logger
    /// Usage rows per day too (`--by day`).
    public var usageByDay = false
    /// Connections reading the period in parallel, each a hash shard of the instances.
    public var readers = BillingJob.defaultReaders
    /// Split the period over worker processes through the shard tables (`--shards`).
    public var sharding: Sharding?
    /// One reader per core, at most four.
    public static var defaultReaders: Int { min(4, max(1, ProcessInfo.processInfo.activeProcessorCount)) }

    public init(db: PostgresConnection, settings: BillingSettings, outputRoot: String, logger: Logger) {
        self.db = db
        self.settings = settings
        self.outputRoot = outputRoot
        self.logger = logger
    }

    /// Refuses to run against a schema that `bmbill migrate` has not brought up to date.
    public func checkSchema() throws { try Migrator().requireCurrent(db) }

    /// Bills `month` as of `asOf`. The database is written in one transaction, under the
    /// period's advisory lock; the files after the commit, swapped in as a whole folder.
    public func bill(_ month: YearMonth, asOf: Instant, catalog: BillingCatalog, mode: BillingMode) throws -> PeriodRun {
        let period = BillingPeriod(month: month, zone: settings.timeZone)
        guard var engine = BillingEngine(period: period, asOf: asOf, settings: settings, catalog: catalog) else {
            throw BMBillError.usage("period \(month) starts at \(period.start), after --as-of \(asOf): there is nothing to bill yet")
        }
        engine.splitUsageByDay = usageByDay
        let lock = PeriodLock(db: db, period: month)
        if !mode.dryRun, let holder = try lock.acquire() {
            throw BMBillError.locked("period \(month) is being billed by \(holder); try again when it finishes")
        }
        defer { if !mode.dryRun { lock.release() } }

        let startedAt = Instant.now()
        logger.info("billing period", metadata: ["period": "\(month)", "window_end": "\(engine.window.end)", "as_of": "\(asOf)", "mode": "\(mode.kind)"])
        pause("reading")
        let reader = SourceReader(db)
        let onTerminal = isatty(STDERR_FILENO) == 1
        let line = ProgressLine(label: "reading \(month)", total: onTerminal ? try reader.changesInPeriod(period) : nil, enabled: onTerminal)
        if let sharding {
            engine = try meterSharded(engine, catalog: catalog, sharding: sharding)
        } else {
            try reader.noteInvalidTimestamps(in: &engine)
            let plan = try readPlan(reader, period)
            logger.debug("read plan", metadata: ["plan": "\(plan.rawValue)"])
            engine = try ParallelMetering(db: db, readers: readers, name: "bmbill pid \(getpid())", plan: plan)
                .meter(engine, catalog: catalog, progress: line)
        }
        line.finish()
        let read = Instant.now()
        let result = engine.finish()
        logger.info("metered", metadata: ["changes": "\(result.counts.changesRead)", "instances": "\(result.counts.instancesRead)",
                                          "anomalies": "\(result.anomalies.count)", "readers": "\(readers)",
                                          "read_ms": "\(startedAt.microseconds(until: read) / 1000)", "priced_ms": "\(read.microseconds(until: Instant.now()) / 1000)"])
        let run = try record(result, mode: mode, startedAt: startedAt)
        // The shards' results are not needed once the run is stored; a plan left by a
        // sharded run that died is stale now that this run (holding the lock) billed the period.
        if !mode.dryRun { removeShardPlan(month) }
        return run
    }

    /// Plans, stores and writes the files of a computed period (the second half of `bill`;
    /// also how a sharded run finishes once every shard is metered).
    func record(_ result: BillingResult, mode: BillingMode, startedAt: Instant) throws -> PeriodRun {
        let month = result.period.month, period = result.period
        let recordStart = Instant.now()
        func ms() -> String { "\(recordStart.microseconds(until: Instant.now()) / 1000)" }
        let store = InvoiceStore(db)
        try store.checkSeals(period: month)
        // Credits are shared by every period: their balances are read, and what this run
        // takes stored, under the credit lock (after the period lock; always in that order).
        let creditLock = CreditLock(db: db)
        if !mode.dryRun { try creditLock.acquire() }
        defer { if !mode.dryRun { creditLock.release() } }
        let stored = try store.current(period: month, currency: settings.currency)
        let ledger = CreditLedger(credits: result.creditRows, applied: try store.creditsApplied(currency: settings.currency),
                                  currency: settings.currency, period: period)
        let (actions, result) = InvoicePlanner.plan(result, stored: stored, correctIssued: mode.corrects, projects: mode.projects, credits: ledger)
        let late = try RunHistory(db).lateChanges(period)
        let changes = try explain(actions, periodIssued: stored.values.contains { $0.isIssued }, result: result, store: store)
        // Budgets: each one's month after this run, against the alerts on record (read under the period's lock).
        let standings = BudgetStanding.of(result.budgets, spend: ProjectSpend.afterRun(stored: stored, actions: actions), currency: settings.currency,
                                          forecasting: result.forecastsMonthEnd)
        let alerts = BudgetAlertStore(db)
        let onRecord = try alerts.alerts(period: month)
        func budgetReport(runId: Int64?) -> BudgetReport {
            BudgetReport(standings: standings, onRecord: onRecord, period: month, runId: runId, asOf: result.asOf)
        }
        if mode.dryRun {
            return PeriodRun(result: result, mode: mode, actions: actions, outcome: nil, changes: changes, late: late, directory: nil,
                             budgets: budgetReport(runId: nil))
        }

        // usage.csv depends on the computation alone: it is written to the staging folder
        // on another core while the invoices are stored.
        let folder = OutputFolder(root: outputRoot)
        let staging = try folder.stage(period: month.description)
        var swapped = false
        let usage = Background { try UsageCSV.write(result, to: staging + "/usage.csv") }
        defer {
            if !swapped {
                _ = try? usage.wait()  // never remove the folder while the thread still writes into it
                folder.discard(staging: staging)
            }
        }
        logger.debug("planned", metadata: ["ms": "\(ms())"])
        let zero = zeroInvoices(actions)
        var report = budgetReport(runId: nil)
        let (outcome, files) = try db.transaction {
            // The files are rendered on another thread while the invoice lines are copied in.
            var rendering: Background<PeriodFiles?>?
            defer { _ = try? rendering?.wait() }  // never leave it writing into a folder being discarded
            let outcome = try store.record(result, actions: actions, kind: mode.kind, startedAt: startedAt, host: hostName(), pid: getpid()) {
                runId, records in
                report = budgetReport(runId: runId)
                let budgets = report
                rendering = Background {
                    try PeriodFiles.ifConsistent(result: result, records: records, zeroInvoices: zero, budgets: budgets, usage: try usage.wait())
                }
            }
            try alerts.add(report.raised)
            logger.debug("stored", metadata: ["ms": "\(ms())"])
            let files = try rendering?.wait() ?? PeriodFiles.ifConsistent(result: result, records: outcome.invoices, zeroInvoices: zero,
                                                                          budgets: report, usage: try usage.wait())
            try store.finishRun(outcome.runId, outputChecksums: files?.checksumsJSON ?? [:])
            pause("transaction")
            return (outcome, files)
        }
        guard let files else {
            logger.warning("the stored invoices differ from today's data; the period's files were left as they are",
                           metadata: ["period": "\(month)", "projects": "\(outcome.differFromIssued.joined(separator: ","))"])
            return PeriodRun(result: result, mode: mode, actions: actions, outcome: outcome, changes: changes, late: late, directory: nil,
                             budgets: report)
        }
        for warning in try folder.write(period: month.description, files: files, beforeSwap: { self.pause("files") }) {
            logger.warning("\(warning)", metadata: ["period": "\(month)"])
        }
        swapped = true
        logger.info("wrote files", metadata: ["dir": "\(folder.periodDirectory(month.description))", "run_id": "\(outcome.runId)", "record_ms": "\(ms())"])
        return PeriodRun(result: result, mode: mode, actions: actions, outcome: outcome, changes: changes, late: late,
                         directory: folder.periodDirectory(month.description), budgets: report)
    }

    /// Invoices of zero with no usage behind them (full credits, issued now or before): they
    /// have files although the computation bills nothing for their projects.
    func zeroInvoices(_ actions: [InvoiceAction]) -> [InvoiceContent] {
        actions.compactMap { a -> InvoiceContent? in
            switch a {
            case .correct(_, let c) where c.lines.isEmpty: return c
            case .keep(let s) where s.isIssued && s.subtotal == 0:
                return InvoiceContent(project: s.project, currency: s.currency, lines: [], vatRate: settings.vatRate, rounding: settings.rounding)
            default: return nil
            }
        }
    }

    /// For every issued invoice the plan corrects or reports as different: the line
    /// changes and their causes.
    func explain(_ actions: [InvoiceAction], periodIssued: Bool, result: BillingResult, store: InvoiceStore) throws -> [ProjectChange] {
        var out: [ProjectChange] = []
        var history = HistoryLookups(history: RunHistory(db))
        for action in actions {
            let issued: StoredInvoice?, content: InvoiceContent
            switch action {
            case .correct(let s, let c):
                issued = s
                content = c
            case .differs(let s, let c):
                issued = s
                content = c
            case .issue(let c, _) where periodIssued:  // a project new to an issued period
                issued = nil
                content = c
            default: continue
            }
            let old = try issued.map { try store.lines(of: $0.record.invoiceId, currency: $0.currency) } ?? []
            let lines = LineChange.between(old: old, new: content.lines.map(\.stored))
            // What pricing the invoice's lines (issued or new) have to do with.
            let priced = PricedLines(types: Set(old.compactMap(\.typeName) + content.lines.map(\.typeName)),
                                     discounts: Set(old.compactMap(\.discountId) + content.lines.compactMap(\.discount?.id)))
            out.append(ProjectChange(projectId: content.project.id, issued: issued, currency: content.currency, newTotal: content.total,
                                     lines: lines, reasons: try reasons(issued: issued, project: content.project, priced: priced, lines: lines, result: result,
                                                                        history: &history)))
        }
        return out
    }

    /// The instance types and discounts on an invoice's lines, issued or new.
    struct PricedLines {
        var types: Set<String>
        var discounts: Set<String>
    }

    /// What `reasons` looks up in the run history, each once however many invoices ask: the
    /// issuing runs by id, and per watermark the late changes of every project.
    struct HistoryLookups {
        let history: RunHistory
        var runs: [Int64?: IssuingRun?] = [:]
        var late: [Instant: [String: Int]] = [:]

        mutating func issuingRun(runId: Int64?, period: YearMonth) throws -> IssuingRun? {
            if let known = runs[runId] { return known }
            let run = try history.issuingRun(runId: runId, period: period)
            runs[runId] = .some(run)
            return run
        }

        mutating func lateChanges(projectId: String, after watermark: Instant, before end: Instant) throws -> Int {
            if late[watermark] == nil { late[watermark] = try history.lateChangeCounts(after: watermark, before: end) }
            return late[watermark]?[projectId] ?? 0
        }
    }

    private func reasons(issued: StoredInvoice?, project: Project, priced: PricedLines, lines: [LineChange], result: BillingResult,
                         history: inout HistoryLookups) throws -> [String] {
        let projectId = project.id
        var reasons: [String] = []
        // The run that issued what is stored; for a project with no invoice, the period's last issuing run.
        let run = try history.issuingRun(runId: issued?.record.runId, period: result.period.month)
        if let watermark = run?.watermark {
            let late = try history.lateChanges(projectId: projectId, after: watermark, before: result.period.end)
            if late > 0 { reasons.append("\(late) late change(s) recorded after \(watermark) (the issuing run's watermark)") }
        }
        for l in lines where l.rateChanged {
            reasons.append("rate of \(l.instanceId) from \(l.rateEffectiveFrom) corrected: \(l.old!.hourlyRateText) -> \(l.new!.hourlyRateText)")
        }
        if let before = run?.billableStates {
            for (state, billable) in result.billableStates.entries where before[state] != billable {
                reasons.append("billable-state table changed: \(state) is now \(billable ? "billed" : "not billed")")
            }
        }
        let settingsNow: [(String, String?, String)] = [
            ("vat_rate", run?.settings["vat_rate"], result.settings.vatRate.description),
            ("rounding", run?.settings["rounding"], result.settings.rounding.rawValue),
            ("granularity", run?.settings["granularity"], result.settings.granularity.rawValue),
        ]
        for (name, was, isNow) in settingsNow {
            if let was, was != isNow { reasons.append("setting \(name) changed: \(was) -> \(isNow)") }
        }
        if let run {
            reasons += Self.pricingReasons(before: run.pricing, now: RunPricing(discounts: result.discountsInForce, caps: result.capsInForce),
                                           project: project, priced: priced)
        }
        if reasons.isEmpty && !lines.isEmpty { reasons.append("source data changed (rates, instances or states)") }
        return reasons
    }

    /// How the discounts and caps that concern a project differ between the run that issued
    /// its invoice and today (pricing.md section 4): the discounts it or its billing account
    /// holds that price its lines (issued or new: a discount that starts or stops pricing
    /// them is on one side), and the caps of the types on its lines. A discount of the
    /// account that prices none of the project's time is left out: it explains nothing.
    /// Discounts by id, then caps by type.
    static func pricingReasons(before: RunPricing, now: RunPricing, project: Project, priced: PricedLines) -> [String] {
        var reasons: [String] = []
        let types = priced.types
        func concerns(_ d: RunPricing.DiscountTerms) -> Bool {
            d.holds(projectId: project.id, billingAccountId: project.billingAccountId) && priced.discounts.contains(d.id)
        }
        func range(_ d: RunPricing.DiscountTerms) -> String { "from \(d.effectiveFrom) to \(d.effectiveTo ?? "open")" }
        let old = Dictionary(before.discounts.filter(concerns).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let new = Dictionary(now.discounts.filter(concerns).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for id in Set(old.keys).union(new.keys).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            switch (old[id], new[id]) {
            case (nil, let d?):
                reasons.append("discount changed: \(id) added, \(d.percent) % (\(d.scope), \(range(d)))")
            case (let d?, nil):
                reasons.append("discount changed: \(id) removed, was \(d.percent) % (\(d.scope), \(range(d)))")
            case (let a?, let b?) where a != b:
                var what: [String] = []
                if a.percent != b.percent { what.append("\(a.percent) % -> \(b.percent) %") }
                if a.scope != b.scope { what.append("\(a.scope) -> \(b.scope)") }
                if range(a) != range(b) { what.append("\(range(a)) -> \(range(b))") }
                reasons.append("discount changed: \(id) " + what.joined(separator: "; "))
            default:
                break
            }
        }
        let oldCaps = Dictionary(before.caps.filter { types.contains($0.typeName) }.map { ($0.typeName, $0) }, uniquingKeysWith: { a, _ in a })
        let newCaps = Dictionary(now.caps.filter { types.contains($0.typeName) }.map { ($0.typeName, $0) }, uniquingKeysWith: { a, _ in a })
        for type in Set(oldCaps.keys).union(newCaps.keys).sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            switch (oldCaps[type], newCaps[type]) {
            case (nil, let c?): reasons.append("cap changed: \(type) none -> \(c.hoursText) h")
            case (let c?, nil): reasons.append("cap changed: \(type) \(c.hoursText) h -> none")
            case (let a?, let b?) where !a.sameHours(as: b): reasons.append("cap changed: \(type) \(a.hoursText) h -> \(b.hoursText) h")
            default: break
            }
        }
        return reasons
    }

    private func pause(_ point: String) { testPause(point) }
}

/// How a period's changes are read: `BMBILL_READ_PLAN` (`by-instance` or
/// `by-period-scan`) when it is set, for an operator who knows the table's layout; else
/// what `SourceReader.readPlan(for:)` finds. Both plans read the same changes.
func readPlan(_ reader: SourceReader, _ period: BillingPeriod) throws -> SourceReader.ReadPlan {
    if let chosen = ProcessInfo.processInfo.environment["BMBILL_READ_PLAN"], !chosen.isEmpty {
        guard let plan = SourceReader.ReadPlan(rawValue: chosen) else {
            throw BMBillError.usage("BMBILL_READ_PLAN is '\(chosen)': set it to by-instance or by-period-scan, or leave it unset to let bmbill choose")
        }
        return plan
    }
    return try reader.readPlan(for: period)
}

/// Test hook: with `BMBILL_TEST_PAUSE_AT=<point>` the process stops at that point,
/// announcing `bmbill: paused at <point> (pid N)` on stderr, so crash tests can kill it
/// there; for `BMBILL_TEST_PAUSE_SECONDS` seconds, or until killed. With
/// `BMBILL_TEST_PAUSE_ONCE=<file>` only the first process to get there pauses (it
/// creates the file).
func testPause(_ point: String) {
    let env = ProcessInfo.processInfo.environment
    guard env["BMBILL_TEST_PAUSE_AT"] == point else { return }
    if let marker = env["BMBILL_TEST_PAUSE_ONCE"] {
        let fd = open(marker, O_CREAT | O_EXCL | O_WRONLY, 0o644)
        guard fd >= 0 else { return }
        close(fd)
    }
    FileHandle.standardError.write(Data("bmbill: paused at \(point) (pid \(getpid()))\n".utf8))
    if let seconds = env["BMBILL_TEST_PAUSE_SECONDS"].flatMap({ UInt32($0) }) {
        sleep(seconds)
    } else {
        while true { sleep(60) }
    }
}

/// Opens the connection and names it after this process, so that a second run can say
/// who holds a period's lock (PostgreSQL keeps the first 63 bytes).
func openConnection(_ options: ConnectionOptions, command: String) throws -> PostgresConnection {
    let db = try PostgresConnection(conninfo: options.conninfo ?? "")
    db.setApplicationName("bmbill \(command) pid \(getpid()) since \(Instant.now().iso8601.prefix(19))Z on \(hostName())")
    return db
}

func hostName() -> String { ProcessInfo.processInfo.hostName }
