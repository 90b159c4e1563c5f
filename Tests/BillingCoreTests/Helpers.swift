import BillingCore

/// `2026-10-01T00:00:00Z`-style instants, crashing the test on a typo.
func t(_ iso: String) -> Instant {
    guard let i = Instant(iso8601: iso) else { fatalError("bad instant \(iso)") }
    return i
}

let seoul = BillingTimeZone(identifier: "Asia/Seoul")!
let october = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: seoul)  // [09-30T15:00Z, 10-31T15:00Z)

func rate(_ type: String, _ amount: String, from: String = "2020-01-01T00:00:00Z", to: String? = nil, currency: String = "KRW") -> RateVersion {
    RateVersion(typeName: type, currency: currency, hourlyRate: ExactDecimal(parsing: amount)!, effectiveFrom: t(from), effectiveTo: to.map(t))
}

/// A small world: one project, instances of the three types, flat rates.
struct World {
    var projects = [Project(id: "prj-a", name: "A", billingAccountId: "acct-1"), Project(id: "prj-b", name: "B", billingAccountId: nil)]
    var types = [
        InstanceType(name: "r2a.baremetal", category: "memory_optimized"), InstanceType(name: "p2a.baremetal", category: "gpu"),
        InstanceType(name: "p1i.baremetal", category: "gpu"),
    ]
    var instances: [Instance] = []
    var rates = [rate("r2a.baremetal", "3600"), rate("p2a.baremetal", "51296"), rate("p1i.baremetal", "16996")]
    var states = BillableStateTable.seed
    var settings = BillingSettings()
    var changes: [String: [StateChange]] = [:]
    var discounts: [Discount] = []
    var caps: [MonthlyCap] = []
    var credits: [Credit] = []
    private var nextEvent: Int64 = 1

    mutating func instance(_ id: String, project: String = "prj-a", type: String = "r2a.baremetal", image: String = "Ubuntu 22.04",
                           created: String = "2026-01-01T00:00:00Z") {
        instances.append(Instance(id: id, projectId: project, typeName: type, image: image, name: id + "-name", createdAt: t(created)))
    }

    /// Records a change; returns its event id.
    @discardableResult
    mutating func change(_ id: String, _ state: String, at: String, event: Int64? = nil) -> Int64 {
        let e = event ?? nextEvent
        nextEvent = max(nextEvent, e) + 1
        changes[id, default: []].append(StateChange(eventId: e, state: state, changedAt: t(at), recordedAt: t(at)))
        return e
    }

    var catalog: BillingCatalog {
        BillingCatalog(projects: projects, types: types, instances: instances, rates: rates, billableStates: states, discounts: discounts,
                       caps: caps, credits: credits)
    }

    /// Bills `period` as of `asOf`, giving every instance only the changes the reader would
    /// (the last before the period and those inside it).
    func bill(_ period: BillingPeriod = october, asOf: String = "2026-12-01T00:00:00Z") -> BillingResult {
        var engine = BillingEngine(period: period, asOf: t(asOf), settings: settings, catalog: catalog)!
        for (id, all) in changes.sorted(by: { $0.key < $1.key }) {
            let sorted = all.sorted(by: StateChange.inEffectOrder)
            let before = sorted.filter { $0.changedAt < period.start }.suffix(1)
            let inside = sorted.filter { $0.changedAt >= period.start && $0.changedAt < period.end }
            engine.meter(instanceId: id, changes: Array(before) + inside)
        }
        return engine.finish()
    }
}

extension BillingResult {
    func invoice(_ project: String) -> InvoiceContent? { invoices.first { $0.project.id == project } }
    func anomalies(_ kind: Anomaly.Kind) -> [Anomaly] { anomalies.filter { $0.kind == kind } }
    func billableMicros(_ instance: String) -> Int64 {
        usage.filter { $0.instanceId == instance && $0.billable }.reduce(0) { $0 + $1.microseconds }
    }
}

/// A discount in force from `from` (to `to`), for a project or an account, on a type, a category or all.
func discount(_ id: String, _ percent: String, project: String? = nil, account: String? = nil, type: String? = nil, category: String? = nil,
              from: String = "2020-01-01T00:00:00Z", to: String? = nil) -> Discount {
    Discount(id: id, projectId: project, billingAccountId: account, typeName: type, category: category, percent: ExactDecimal(parsing: percent)!,
             effectiveFrom: t(from), effectiveTo: to.map(t))
}

func cap(_ type: String, _ hours: String, from: String = "2020-01-01T00:00:00Z", to: String? = nil) -> MonthlyCap {
    MonthlyCap(typeName: type, capHours: ExactDecimal(parsing: hours)!, effectiveFrom: t(from), effectiveTo: to.map(t))
}

func credit(_ id: String, _ amount: String, account: String = "acct-1", project: String? = nil, currency: String = "KRW",
            from: String = "2026-01-01T00:00:00Z", expires: String? = nil, reason: String? = nil) -> Credit {
    Credit(id: id, billingAccountId: account, projectId: project, currency: currency, amount: ExactDecimal(parsing: amount)!,
           validFrom: t(from), expiresAt: expires.map(t), reason: reason)
}
