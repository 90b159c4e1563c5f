import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// How a run splits its period over worker processes (`run --shards N --workers K`).
public struct Sharding: Sendable {
    /// Shards of the instances, by a hash of their id.
    public let shards: Int
    /// Local `bmbill work` processes to start (0: only workers started elsewhere, and the
    /// run itself, do the shards).
    public let workers: Int
    /// `--db` as given, passed on to the local workers.
    public let conninfo: String?
}

/// How a sharded run's plan (`ShardStore.Plan`) is written and read: what every worker
/// must apply so that the shards add up to what one process would compute.
enum ShardPlan {
    /// The plan of `month` with the run's settings and the fingerprint of `catalog`.
    static func make(_ month: YearMonth, shards: Int, asOf: Instant, settings: BillingSettings, usageByDay: Bool,
                     catalog: BillingCatalog) -> ShardStore.Plan {
        ShardStore.Plan(period: month, shards: shards, asOf: asOf, settings: settingsJSON(settings, usageByDay: usageByDay).compact,
                        inputs: inputs(catalog))
    }

    /// Fingerprint of what metering depends on besides the changes: the rates (shards
    /// refer to rate versions by position), the instance types and the billable states.
    static func inputs(_ catalog: BillingCatalog) -> String {
        var text = "rates\n"
        for r in catalog.rates {
            text += "\(r.typeName)|\(r.currency)|\(r.hourlyRate)|\(r.effectiveFrom.microseconds)|\(r.effectiveTo?.microseconds ?? -1)\n"
        }
        text += "types\n"
        for t in catalog.types.values.sorted(by: { $0.name < $1.name }) { text += "\(t.name)|\(t.category)\n" }
        text += "states\n"
        for s in catalog.billableStates.entries { text += "\(s.state)|\(s.billable)\n" }
        for c in catalog.billableStates.conflicts { text += "conflict|\(c)\n" }
        // Discounts and caps split and cap the lines the shards meter (credits do not: they
        // are taken when the run stores its invoices), and an account's discounts follow
        // its projects.
        let byId: (Discount, Discount) -> Bool = { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
        text += "discounts\n"
        for d in catalog.discounts.sorted(by: byId) {
            text += "\(d.id)|\(d.projectId ?? "-")|\(d.billingAccountId ?? "-")|\(d.typeName ?? "-")|\(d.category ?? "-")|\(d.percent)|"
                + "\(d.effectiveFrom.microseconds)|\(d.effectiveTo?.microseconds ?? -1)\n"
        }
        let accounts = Set(catalog.discounts.compactMap(\.billingAccountId))
        for p in catalog.projects.values.sorted(by: { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) })
        where p.billingAccountId.map(accounts.contains) ?? false {
            text += "account|\(p.id)|\(p.billingAccountId!)\n"
        }
        text += "caps\n"
        for c in catalog.caps.sorted(by: { ($0.typeName, $0.effectiveFrom) < ($1.typeName, $1.effectiveFrom) }) {
            text += "\(c.typeName)|\(c.capHours)|\(c.effectiveFrom.microseconds)|\(c.effectiveTo?.microseconds ?? -1)\n"
        }
        return SHA256.hex(of: Array(text.utf8))
    }

    static func settingsJSON(_ settings: BillingSettings, usageByDay: Bool) -> JSON {
        [
            "timezone": .string(settings.timeZone.identifier), "currency": .string(settings.currency.code),
            "vat_rate": .string(settings.vatRate.description), "rounding": .string(settings.rounding.rawValue),
            "granularity": .string(settings.granularity.rawValue), "windows_types": .array(settings.windowsTypes.sorted().map { .string($0) }),
            "usage_by_day": .bool(usageByDay),
        ]
    }

    static func parseSettings(_ text: String) -> (BillingSettings, Bool)? {
        guard let o = JSON.parse(text),
            let zone = o["timezone"]?.stringValue.flatMap(BillingTimeZone.init(identifier:)),
            let currency = o["currency"]?.stringValue.flatMap(Currency.init(code:)),
            let vat = o["vat_rate"]?.stringValue.flatMap(ExactDecimal.init(parsing:)),
            let rounding = o["rounding"]?.stringValue.flatMap(RoundingMode.init(rawValue:)),
            let granularity = o["granularity"]?.stringValue.flatMap(Granularity.init(rawValue:)),
            let windows = o["windows_types"]?.arrayValue?.compactMap(\.stringValue), let byDay = o["usage_by_day"]?.boolValue
        else { return nil }
        return (BillingSettings(timeZone: zone, currency: currency, vatRate: vat, rounding: rounding, granularity: granularity,
                                windowsTypes: Set(windows)), byDay)
    }
}

/// Claims pending shards and meters them, one transaction per shard: the claim
/// (`FOR UPDATE SKIP LOCKED`), the read, and the stored metering commit together, so a
/// worker that dies leaves its shard pending for another.
struct ShardWorker {
    /// A connection used for nothing else (the read switches it to UTC).
    let db: PostgresConnection
    let name: String
    let logger: Logger
    /// Called once per shard when its metering has begun (a test hook).
    var onStarted: (Int) -> Void = { _ in }

    /// What one claimed shard gave.
    struct Done {
        let shard: Int
        let changes: Int
        let instances: Int
    }

    /// Claims one pending shard of `period` and meters it with `catalog` (loaded lazily,
    /// once). Nil when no pending shard is free (all done, or taken by other workers).
    func processOne(period: YearMonth, catalog: () throws -> BillingCatalog) throws -> Done? {
        let store = ShardStore(db)
        guard let claim = try store.claim(period) else { return nil }
        var finished = false
        defer { if !finished { store.abandon() } }
        let shard = claim.shard, count = claim.plan.shards, asOf = claim.plan.asOf
        guard let (settings, byDay) = ShardPlan.parseSettings(claim.plan.settings) else {
            throw BMBillError.failure("the shard plan of \(period) has settings this bmbill cannot read: \(claim.plan.settings)")
        }
        let catalog = try catalog()
        guard ShardPlan.inputs(catalog) == claim.plan.inputs else {
            throw BMBillError.failure(
                "the rates, instance types, billable states, discounts or caps changed since the sharded run of \(period) was planned; "
                    + "this worker leaves shard \(shard + 1) of \(count) to the run, which will finish it")
        }
        let period = BillingPeriod(month: period, zone: settings.timeZone)
        guard var engine = BillingEngine(period: period, asOf: asOf, settings: settings, catalog: catalog) else {
            throw BMBillError.failure("period \(period.month) starts after the plan's as_of \(asOf)")
        }
        engine.splitUsageByDay = byDay
        let reader = SourceReader(db)
        try reader.noteInvalidTimestamps(in: &engine)
        logger.info("metering shard", metadata: ["period": "\(period.month)", "shard": "\(shard + 1)/\(count)", "worker": "\(name)"])
        var started = false
        let each = { (id: String, changes: [StateChange]) throws in
            if !started {
                started = true
                onStarted(shard)
            }
            engine.meter(instanceId: id, changes: changes)
        }
        // By instance: a worker reads in its claim's transaction, not in one snapshot, and
        // reading by instance takes each instance's carried-in state and changes in one
        // statement (the period's scan reads instance ids and rows in separate ones).
        try reader.forEachInstance(in: period, shard: InstanceShard(index: shard, count: count), plan: .byInstance, each)
        // The changes of instances with no instances row, of every shard, with the first:
        // the period's index is scanned for them once, not once a shard.
        if shard == 0 { try reader.forEachOrphan(in: period, each) }
        let partial = engine.partial
        let json = String(decoding: try JSONEncoder().encode(partial), as: UTF8.self)
        try store.finish(claim, worker: name, changes: partial.changesRead, instances: partial.instancesRead, metering: json)
        finished = true
        return Done(shard: shard, changes: partial.changesRead, instances: partial.instancesRead)
    }

    /// Works until no pending shard of `period` is free; returns what it did.
    func drain(period: YearMonth, catalog: () throws -> BillingCatalog) throws -> [Done] {
        var done: [Done] = []
        while let d = try processOne(period: period, catalog: catalog) { done.append(d) }
        return done
    }
}

extension BillingJob {
    /// Meters `engine`'s period through the shard tables: records the plan, starts the
    /// local workers, works itself whenever none of its workers is alive (so a shard whose
    /// worker died is taken over), and absorbs every shard's metering once all are done.
    ///
    /// The engine returned is made afresh with the catalog as it is once the shards are done
    /// (only `engine`'s period, as-of and settings are used).
    func meterSharded(_ engine: BillingEngine, catalog: BillingCatalog, sharding: Sharding) throws -> BillingEngine {
        let month = engine.period.month
        let plan = ShardPlan.make(month, shards: sharding.shards, asOf: engine.asOf, settings: settings, usageByDay: usageByDay, catalog: catalog)
        let name = "bmbill pid \(getpid()) on \(hostName())"
        let shardStore = ShardStore(db)
        try shardStore.create(plan, by: name)
        logger.info("sharded run", metadata: ["period": "\(month)", "shards": "\(sharding.shards)", "workers": "\(sharding.workers)"])
        var children: [Process] = []
        defer { for c in children where c.isRunning { c.terminate() } }
        for _ in 0..<sharding.workers { children.append(try startWorker(month, conninfo: sharding.conninfo)) }

        let helper = try PostgresConnection(conninfo: db.conninfo)
        helper.setApplicationName("\(name) worker")
        let own = ShardWorker(db: helper, name: name, logger: logger)
        while true {
            let (done, total) = try shardStore.progress(month)
            guard total == sharding.shards else {
                throw BMBillError.failure("the shard plan of \(month) was replaced while this run waited for it (by another 'run --shards'?)")
            }
            if done == total { break }
            if children.allSatisfy({ !$0.isRunning }) {
                // No local worker left (none started, all finished, or one died): take a
                // pending shard over, or wait for the workers elsewhere that hold them.
                if let d = try own.processOne(period: month, catalog: { catalog }) {
                    logger.info("metered shard", metadata: ["shard": "\(d.shard + 1)/\(total)", "by": "the run itself"])
                    continue
                }
            }
            usleep(100_000)
        }
        for c in children { c.waitUntilExit() }

        // Assemble with the catalog as it is now, which holds every instance a worker saw;
        // what metering depends on must not have changed since the plan.
        let fresh = try SourceReader(db).loadCatalog()
        guard ShardPlan.inputs(fresh) == plan.inputs else {
            throw BMBillError.failure("the rates, instance types, billable states, discounts or caps changed during the sharded run of \(month); run it again")
        }
        guard var merged = BillingEngine(period: engine.period, asOf: engine.asOf, settings: settings, catalog: fresh) else {
            throw BMBillError.failure("period \(month) starts after \(engine.asOf)")
        }
        merged.splitUsageByDay = usageByDay
        try SourceReader(db).noteInvalidTimestamps(in: &merged)
        var earliest: Instant?
        for shard in 0..<sharding.shards {
            guard let text = try shardStore.metering(month, shard: shard) else { throw BMBillError.failure("shard \(shard + 1) of \(month) has no result") }
            let partial = try JSONDecoder().decode(MeteringPartial.self, from: Data(text.utf8))
            if let w = partial.latestRecordedAt, earliest.map({ w < $0 }) ?? true { earliest = w }
            merged.absorb(partial)
        }
        // The shards were read at different moments. If changes dated in the period were
        // recorded (or removed) meanwhile, the shards did not all see them: the run's
        // watermark is then the earliest shard's, so the next run finds them as late data
        // (never silently missed). Otherwise it is what one reader would have recorded.
        let read = merged.partial.periodChangesRead
        if let watermark = merged.partial.latestRecordedAt {
            let now = try SourceReader(db).periodChanges(engine.period, recordedUpTo: watermark)
            if now != read {
                logger.warning("changes were recorded while the shards were read; the next run reports them as late data",
                               metadata: ["period": "\(month)", "read": "\(read)", "now": "\(now)"])
                merged.setWatermark(earliest)
            }
        }
        return merged
    }

    /// Removes the plan and the shards' results once the run is stored.
    func removeShardPlan(_ month: YearMonth) { ShardStore(db).remove(month) }

    /// Starts `bmbill work --period P` as a child process; its output goes to stderr.
    private func startWorker(_ month: YearMonth, conninfo: String?) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0])
        p.arguments = ["work", "--period", month.description]
        // --db may hold a password: hand it over in the environment, not on the command line (ps).
        if let conninfo {
            var env = ProcessInfo.processInfo.environment
            env["BMBILL_DB"] = conninfo
            p.environment = env
        }
        p.standardOutput = FileHandle.standardError
        do {
            try p.run()
        } catch {
            throw BMBillError.failure("cannot start a worker (\(p.executableURL!.path) work): \(error.localizedDescription)")
        }
        return p
    }
}
