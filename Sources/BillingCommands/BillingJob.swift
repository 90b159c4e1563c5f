import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient
import Reports

/// One period billed: what was computed and what the run did with it.
public struct PeriodRun {
    public let result: BillingResult
    public let outcome: RunOutcome
    /// Where the files are, or nil when they were not written (see `outcome.differFromIssued`).
    public let directory: String?
}

/// The billing run of one period, end to end: read, meter, rate, store, write files.
public struct BillingJob {
    public let db: PostgresConnection
    public let settings: BillingSettings
    public let outputRoot: String
    public let logger: Logger

    public init(db: PostgresConnection, settings: BillingSettings, outputRoot: String, logger: Logger) {
        self.db = db
        self.settings = settings
        self.outputRoot = outputRoot
        self.logger = logger
    }

    /// Refuses to run against a schema that `bmbill migrate` has not brought up to date.
    public func checkSchema() throws {
        let pending = try Migrator().pending(db)
        if !pending.isEmpty { throw StoreError.schemaNotReady(pending: pending.map(\.name)) }
    }

    /// Bills `month` as of `asOf`. The database is written in one transaction, under the
    /// period's advisory lock; files are written after the commit, each by rename.
    public func bill(_ month: YearMonth, asOf: Instant, catalog: BillingCatalog) throws -> PeriodRun {
        let period = BillingPeriod(month: month, zone: settings.timeZone)
        guard var engine = BillingEngine(period: period, asOf: asOf, settings: settings, catalog: catalog) else {
            throw BMBillError.usage("period \(month) starts at \(period.start), after --as-of \(asOf): there is nothing to bill yet")
        }
        let lock = PeriodLock(db: db, period: month)
        try lock.acquire()
        defer { lock.release() }

        let startedAt = Instant.now()
        logger.info("billing period", metadata: ["period": "\(month)", "window_end": "\(engine.window.end)", "as_of": "\(asOf)"])
        try SourceReader(db).forEachInstance(in: period) { id, changes in engine.meter(instanceId: id, changes: changes) }
        let result = engine.finish()
        logger.info("metered", metadata: ["changes": "\(result.counts.changesRead)", "instances": "\(result.counts.instancesRead)",
                                          "anomalies": "\(result.anomalies.count)"])

        let store = InvoiceStore(db)
        let (outcome, files) = try db.transaction {
            let outcome = try store.record(result, kind: "scheduled", startedAt: startedAt, host: hostName(), pid: getpid())
            let files = PeriodFiles(result: result, records: outcome.invoices)
            try store.finishRun(outcome.runId, outputChecksums: outcome.differFromIssued.isEmpty ? files.checksumsJSON : [:])
            return (outcome, files)
        }
        guard outcome.differFromIssued.isEmpty else {
            logger.warning("issued invoices differ from the data now; files left as they were",
                           metadata: ["period": "\(month)", "projects": "\(outcome.differFromIssued.joined(separator: ","))"])
            return PeriodRun(result: result, outcome: outcome, directory: nil)
        }
        let folder = OutputFolder(root: outputRoot)
        try folder.write(period: month.description, files: files)
        logger.info("wrote files", metadata: ["dir": "\(folder.periodDirectory(month.description))", "run_id": "\(outcome.runId)"])
        return PeriodRun(result: result, outcome: outcome, directory: folder.periodDirectory(month.description))
    }
}

/// The advisory lock that keeps two runs of one period apart (billing-rules.md section 7).
struct PeriodLock {
    let db: PostgresConnection
    let period: YearMonth

    var key: Int64 {
        // A stable 63-bit key from the period: namespace "bmbill" in the high bits.
        0x626D_6269_0000_0000 | (period.year * 100 + period.month)
    }

    func acquire() throws {
        guard try db.tryAdvisoryLock(key) else {
            let holder = try? db.execute(
                """
                SELECT a.pid, coalesce(a.client_addr::text, 'local'), a.backend_start, a.application_name
                FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::int8 << 32) | l.objid::int8) = $1::int8
                """, [String(key)]
            ).rows.first
            let who = holder.map { "backend pid \($0[0] ?? "?") from \($0[1] ?? "?") connected since \($0[2] ?? "?")" } ?? "another session"
            throw BMBillError.locked("period \(period) is being billed by \(who); try again when it finishes")
        }
    }

    func release() { try? db.advisoryUnlock(key) }
}

func hostName() -> String { ProcessInfo.processInfo.hostName }
