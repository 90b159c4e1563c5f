import BillingCore
import PostgresClient

/// Realistic synthetic source data for demos and tests, the same for the same seed and
/// end instant: projects (some sharing a billing account), the three bare-metal types
/// with demo rates and one rate change, instance lifecycles over several months that
/// pass through every state of the seed's table, and (unless `pricing` is off) a few
/// discounts, a monthly cap and credits (`pricingRows`), and (unless `budgets` is off) two
/// budgets (`budgetRows`).
public struct DemoData {
    public var projects = 6
    public var instances = 40
    public var months = 4
    public var seed: UInt64 = 42
    /// Load the pricing rows (discounts, monthly caps, credits); off: every invoice at list price.
    public var pricing = true
    /// Load the budgets; off: no budget is compared and no alert raised.
    public var budgets = true
    /// The last instant of the data: no change is later. Whole seconds.
    public var until: Instant

    public init(until: Instant) { self.until = until }

    /// Demo rates, KRW per hour. p2a and p1i are public list figures (not official);
    /// r2a is an example figure chosen for the demo.
    public static let baseRates: [(type: String, rate: String)] = [
        ("r2a.baremetal", "9876.543210"), ("p2a.baremetal", "51296.000000"), ("p1i.baremetal", "16996.000000"),
    ]
    /// p2a's price drops by 5% inside the last ended month (see `rateChange`).
    public static let p2aNewRate = "48731.200000"

    static let types: [(name: String, category: String, vcpus: Int, memory: Int, gpus: Int, gpuModel: String?)] = [
        ("r2a.baremetal", "memory_optimized", 192, 2048, 0, nil),
        ("p2a.baremetal", "gpu", 128, 1536, 8, "A100"),
        ("p1i.baremetal", "gpu", 56, 512, 4, "V100"),
    ]
    static let linuxImages = ["Ubuntu 20.04", "Ubuntu 22.04", "CentOS Stream 8", "Rocky Linux 8", "Rocky Linux 9", "Alma Linux 9"]
    static let gpuImages = ["Ubuntu 20.04 (GPU)", "Ubuntu 22.04 (GPU)"]
    static let windowsImages = ["Windows 2019", "Windows 2022"]
    static let projectNames = [
        "Aurora Analytics", "Beta, Inc.", "Cheonan Genomics", "Delta Render Farm", "Echo Payments", "Foxtrot ML Lab",
        "Gangnam Games", "Haeundae Logistics", "Incheon Air Data", "Jeju Weather",
    ]
    static let instanceRoles = ["db", "cache", "trainer", "inference", "render", "build", "etl", "search"]

    /// The instant p2a's rate changes: the 15th, 12:17 local, of the month before `until`'s.
    public func rateChange(zone: BillingTimeZone) -> Instant {
        let lastEnded = BillingPeriod(containing: until, zone: zone).month.previous
        return zone.startOfDay(CivilDate(year: lastEnded.year, month: lastEnded.month, day: 15)).adding(microseconds: (12 * 3600 + 17 * 60) * 1_000_000)
    }

    /// The tables `load` fills, in loading order (the column order of each is its table's).
    public static let tables = ["projects", "instance_types", "instances", "instance_state_changes", "rates",
                                "discounts", "monthly_caps", "credits", "budgets"]

    /// The rows, as COPY text per table.
    public func generate(zone: BillingTimeZone) -> [String: [[String?]]] {
        var rng = SplitMix64(seed: seed)
        var tables: [String: [[String?]]] = [:]
        tables["projects"] = (0..<projects).map { p in
            let name = DemoData.projectNames[p % DemoData.projectNames.count] + (p >= DemoData.projectNames.count ? " \(p / DemoData.projectNames.count + 1)" : "")
            return [DemoData.projectId(p), name, accountId(p)]
        }
        tables["instance_types"] = DemoData.types.map { [$0.name, $0.category, String($0.vcpus), String($0.memory), String($0.gpus), $0.gpuModel] }
        let epoch2020 = Instant(iso8601: "2020-01-01T00:00:00Z")!
        let change = rateChange(zone: zone)
        tables["rates"] = DemoData.baseRates.map { t -> [String?] in
            [t.type, "KRW", t.rate, epoch2020.iso8601, t.type == "p2a.baremetal" ? change.iso8601 : nil]
        } + [["p2a.baremetal", "KRW", DemoData.p2aNewRate, change.iso8601, nil]]

        let historyStart = zone.startOfDay(BillingPeriod(containing: until, zone: zone).month.firstDay).microseconds
            - Int64(months - 1) * 30 * 86_400 * 1_000_000
        let span = until.microseconds - historyStart
        var instanceRows: [[String?]] = []
        var changes: [[String?]] = []
        var eventId: Int64 = 0
        for n in 0..<instances {
            let type = DemoData.types[rng.below(10) < 5 ? 0 : (rng.below(2) == 0 ? 1 : 2)]
            let image: String
            if type.name == "r2a.baremetal" {
                image = rng.below(4) == 0 ? DemoData.windowsImages[rng.below(2)] : DemoData.linuxImages[rng.below(DemoData.linuxImages.count)]
            } else {
                image = DemoData.gpuImages[rng.below(2)]
            }
            let id = "i-" + hex8(rng.next())
            let project = DemoData.projectId(rng.below(projects))
            // Created anywhere in the first 85% of the history, on a whole second.
            let created = Instant(seconds: (historyStart + Int64(rng.below(Int(span / 1_000_000 * 85 / 100))) * 1_000_000) / 1_000_000)
            instanceRows.append([id, project, type.name, image, DemoData.instanceRoles[rng.below(DemoData.instanceRoles.count)] + "-\(n + 1)", created.iso8601])
            for (state, at) in lifecycle(from: created, rng: &rng) {
                eventId += 1
                changes.append([String(eventId), id, state, at.iso8601, at.adding(microseconds: 1_000_000 + Int64(rng.below(3_000_000))).iso8601])
            }
        }
        tables["instances"] = instanceRows
        tables["instance_state_changes"] = changes
        let priced = pricing ? pricingRows(zone: zone) : (discounts: [], caps: [], credits: [])
        tables["discounts"] = priced.discounts
        tables["monthly_caps"] = priced.caps
        tables["credits"] = priced.credits
        tables["budgets"] = budgets ? budgetRows() : []
        return tables
    }

    /// The billing account of project number `p`, as `generate` assigns it: every other
    /// project shares an account with its neighbour; the last of more than two stands alone.
    func accountId(_ p: Int) -> String? {
        p == projects - 1 && projects > 2 ? nil : "acct-\(p % max(1, projects / 2) + 1)"
    }

    /// Pricing rows (pricing.md) a newcomer finds on the demo invoices, fixed for a given
    /// `until`, zone and number of projects, and valid by every rule bmbill checks (no
    /// error anomaly). In the column order of `sql/012_pricing.sql`.
    /// - discounts: prj-1002's own 5 % on every type, for all time; from the 16th of the
    ///   last ended month, 10 % on GPU servers for every project of prj-1001's account;
    /// - a cap: r2a.baremetal instances pay for at most 600 h a month, since 2020;
    /// - credits (KRW): a welcome credit for prj-1002's account, valid a year from the
    ///   start of the history; an SLA credit for prj-1001 alone, granted in the last ended
    ///   month, expiring at the end of the current one; a small promotional credit for
    ///   prj-1003's account, valid in the last ended month only (taken first, as it expires
    ///   soonest, or else reported as `credit expired unused`).
    /// Projects are prj-1001 onwards; with fewer projects the rows go to the last one.
    public func pricingRows(zone: BillingTimeZone) -> (discounts: [[String?]], caps: [[String?]], credits: [[String?]]) {
        let current = BillingPeriod(containing: until, zone: zone)
        let lastEnded = BillingPeriod(month: current.month.previous, zone: zone)
        let first = 0, second = min(1, projects - 1), third = min(2, projects - 1)
        let epoch2020 = Instant(iso8601: "2020-01-01T00:00:00Z")!
        let midMonth = zone.startOfDay(CivilDate(year: lastEnded.month.year, month: lastEnded.month.month, day: 16))
        let discounts: [[String?]] = [
            ["d-demo-partner", DemoData.projectId(second), nil, nil, nil, "5.0000", epoch2020.iso8601, nil,
             "Partner discount: 5% on every server"],
            ["d-demo-gpu", nil, accountId(first) ?? "acct-1", nil, "gpu", "10.0000", midMonth.iso8601, nil,
             "Enterprise agreement from \(lastEnded.month)-16: GPU servers 10% off"],
        ]
        let caps: [[String?]] = [["r2a.baremetal", "600.0000", epoch2020.iso8601, nil]]
        // History starts on a whole second (see `generate`); the welcome credit lasts a year from then.
        let historyStart = Instant(seconds: (current.start.microseconds - Int64(months - 1) * 30 * 86_400 * 1_000_000) / 1_000_000)
        let welcomeAccount = accountId(second) ?? accountId(first) ?? "acct-1"
        let promoAccount = accountId(third) ?? accountId(first) ?? "acct-1"
        let credits: [[String?]] = [
            ["c-demo-welcome", welcomeAccount, nil, "KRW", "20000000", historyStart.iso8601,
             historyStart.adding(microseconds: 365 * 86_400 * 1_000_000).iso8601, "Welcome credit"],
            ["c-demo-sla", accountId(first) ?? "acct-1", DemoData.projectId(first), "KRW", "500000",
             zone.startOfDay(CivilDate(year: lastEnded.month.year, month: lastEnded.month.month, day: 20)).iso8601,
             current.end.iso8601, "SLA credit for the outage of \(lastEnded.month)-19"],
            ["c-demo-promo", promoAccount, nil, "KRW", "150000", lastEnded.start.iso8601, lastEnded.end.iso8601,
             "Promotional credit for \(lastEnded.month) only"],
        ]
        return (discounts, caps, credits)
    }

    /// Budgets (docs/forecast-and-budgets.md) a newcomer sees alerts from, in the column order
    /// of `sql/013_forecast_and_budgets.sql`, all since 2020:
    /// - prj-1001's own budget of 25,000,000 KRW a month at the default thresholds (50, 80,
    ///   100 %): its GPU fleet passes it every month, and its forecast says so early;
    /// - prj-1002's billing account: 60,000,000 KRW a month, alerts at 75, 90, 100 and 120 %.
    public func budgetRows() -> [[String?]] {
        let second = min(1, projects - 1)
        return [
            ["b-demo-aurora", DemoData.projectId(0), nil, "KRW", "25000000", nil, "2020-01-01T00:00:00Z", nil,
             "Aurora Analytics: monthly spend limit agreed with finance"],
            ["b-demo-account", nil, accountId(second) ?? "acct-1", "KRW", "60000000", "{75,90,100,120}", "2020-01-01T00:00:00Z", nil,
             "Billing account budget"],
        ]
    }

    /// One instance's changes from `created` until it is deleted or `until` comes.
    func lifecycle(from created: Instant, rng: inout SplitMix64) -> [(String, Instant)] {
        var out: [(String, Instant)] = []
        var t = created
        func at(_ state: String, after seconds: Int) -> Bool {
            t = t.adding(microseconds: Int64(seconds) * 1_000_000)
            guard t < until else { return false }
            out.append((state, t))
            return true
        }
        guard at("spawning", after: 0), at("active", after: 600 + rng.below(2400)) else { return out }
        var state = "active"
        while true {
            let hours = 6 + rng.below(24 * 12)
            let dice = rng.below(100)
            let pause = hours * 3600 + rng.below(3600)
            if state == "stopped" {
                guard at("powering-on", after: pause), at("active", after: 60 + rng.below(120)) else { return out }
                state = "active"
                continue
            }
            switch dice {
            case 0..<25:  // stop
                guard at("powering-off", after: pause), at("stopped", after: 30 + rng.below(150)) else { return out }
                state = "stopped"
            case 25..<40:  // hard reboot
                guard at("rebooting_hard", after: pause), at("rebooting_started_hard", after: 2 + rng.below(10)),
                    at("active", after: 120 + rng.below(600))
                else { return out }
            case 40..<50:  // rebuild
                guard at("rebuild_spawning", after: pause), at("active", after: 1200 + rng.below(4200)) else { return out }
            case 50..<58:  // error, then recovered by the operator
                guard at("error", after: pause), at("active", after: 1800 + rng.below(36_000)) else { return out }
            case 58..<64:  // terminate: shelved, later deleted
                guard at("powering-off", after: pause), at("shelved_offloaded", after: 60 + rng.below(120)),
                    at("deleting", after: 86_400 * (1 + rng.below(5))), at("deleted", after: 60 + rng.below(240))
                else { return out }
                return out
            case 64..<70:  // delete
                guard at("deleting", after: pause), at("deleted", after: 60 + rng.below(240)) else { return out }
                return out
            default:  // keeps running
                t = t.adding(microseconds: Int64(pause) * 1_000_000)
                if t >= until { return out }
            }
        }
    }

    static func projectId(_ n: Int) -> String { "prj-" + String(1001 + n) }

    /// Loads the rows. With `replace`, first empties the source tables and every bmbill
    /// output table (a demo database only); otherwise refuses to touch non-empty tables.
    public func load(into db: PostgresConnection, zone: BillingTimeZone, replace: Bool) throws -> [String: Int] {
        let tables = generate(zone: zone)
        let order = DemoData.tables
        var counts: [String: Int] = [:]
        try db.transaction {
            if replace {
                try db.execute("TRUNCATE projects, instance_types, instances, instance_state_changes, rates, discounts, monthly_caps, credits, budgets, credit_applications, budget_alerts, invoice_lines, invoices, billing_runs, invoice_number_series RESTART IDENTITY",
                               context: "emptying the demo database")
            } else {
                for t in order {
                    let n = try db.execute("SELECT count(*) FROM \(t)", context: "checking \(t)").scalar ?? "0"
                    if n != "0" { throw DemoDataError.notEmpty(table: t, rows: Int(n) ?? 0) }
                }
            }
            for t in order {
                let rows = tables[t] ?? []
                try db.copyIn("COPY \(t) FROM STDIN", context: "loading \(t)") { send in
                    for row in rows { try send(CopyText.row(row)) }
                }
                counts[t] = rows.count
            }
            try db.execute("SELECT setval(pg_get_serial_sequence('instance_state_changes', 'event_id'), greatest((SELECT max(event_id) FROM instance_state_changes), 1))")
        }
        return counts
    }
}

/// The demo loader would have mixed synthetic rows with real ones.
public enum DemoDataError: Error, CustomStringConvertible {
    case notEmpty(table: String, rows: Int)

    public var description: String {
        switch self {
        case .notEmpty(let table, let rows):
            return "\(table) already holds \(rows) rows; demo-data loads only into empty tables. On a demo database, pass --replace to empty it first"
        }
    }
}

/// A small, fast, seedable generator (SplitMix64): the same seed gives the same data everywhere.
public struct SplitMix64 {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0).
    public mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

func hex8(_ v: UInt64) -> String {
    let s = String(v & 0xFFFF_FFFF, radix: 16)
    return String(repeating: "0", count: 8 - s.count) + s
}
