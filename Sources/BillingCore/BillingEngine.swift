/// What the engine needs to know besides the state changes: the small tables.
public struct BillingCatalog: Sendable {
    public var projects: [String: Project]
    public var types: [String: InstanceType]
    public var instances: [String: Instance]
    public var rates: [RateVersion]
    public var billableStates: BillableStateTable
    /// Source rows that could not be used (a rate with a date that cannot be placed in time,
    /// or a NULL rate): reported with every period.
    public var problems: [Anomaly]
    /// Pricing beyond the list price (pricing.md): every row, as read.
    public var discounts: [Discount]
    public var caps: [MonthlyCap]
    public var credits: [Credit]
    /// Budgets (docs/forecast-and-budgets.md): every version, as read.
    public var budgets: [Budget]

    public init(
        projects: [Project], types: [InstanceType], instances: [Instance], rates: [RateVersion],
        billableStates: BillableStateTable, problems: [Anomaly] = [], discounts: [Discount] = [], caps: [MonthlyCap] = [], credits: [Credit] = [],
        budgets: [Budget] = []
    ) {
        self.problems = problems
        self.budgets = budgets
        self.discounts = discounts
        self.caps = caps
        self.credits = credits
        self.projects = Dictionary(projects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.types = Dictionary(types.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.instances = Dictionary(instances.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.rates = rates
        self.billableStates = billableStates
    }
}

/// Counts a run reports.
public struct BillingCounts: Hashable, Sendable, Codable {
    public var changesRead = 0
    /// Of `changesRead`, those dated inside the period (the others carry a state in).
    public var periodChangesRead = 0
    public var instancesRead = 0
    public var instancesBilled = 0
    public var usageRows = 0
    public var invoiceLines = 0
    public var invoices = 0

    mutating func add(_ o: BillingCounts) {
        changesRead += o.changesRead
        periodChangesRead += o.periodChangesRead
        instancesRead += o.instancesRead
        instancesBilled += o.instancesBilled
    }
}

/// The complete outcome of billing one period as of one instant.
public struct BillingResult: Sendable {
    public let period: BillingPeriod
    public let asOf: Instant
    public let window: BillingWindow
    public let settings: BillingSettings
    /// The usage rows, sorted by project, instance, rate version, state and day, held
    /// compactly (`forEach` makes each row when it is needed).
    public let usageTable: UsageTable
    /// One per project with billable usage, sorted by project id. Once planned with
    /// credits (`InvoicePlanner.plan(_:stored:correctIssued:projects:credits:)`), each
    /// carries the credits it takes or took.
    public internal(set) var invoices: [InvoiceContent]
    /// In report order (errors first).
    public internal(set) var anomalies: [Anomaly]
    /// The credits of the run, once planned with them; nil before.
    public internal(set) var credits: CreditLedger?
    /// The latest `recorded_at` among the changes read; nil when none were.
    public let inputWatermark: Instant?
    public let counts: BillingCounts
    /// The rate versions of the billing currency in force during the window.
    public let ratesInForce: [RateVersion]
    /// The billable-state table the run applied.
    public let billableStates: BillableStateTable
    /// The local days of the window, in order; `InvoiceLine.dailyMicroseconds` and daily
    /// usage rows index into it.
    public let days: [BillingDay]
    /// The discounts that price some time of the window (valid rows only).
    public let discountsInForce: [Discount]
    /// The monthly cap of each type, in force at the period start (valid ones only).
    public let capsInForce: [MonthlyCap]
    /// Every credits row, as read (the ledger keeps those that play a part).
    public let creditRows: [Credit]
    /// For a month not ended as of `asOf`: per project with time to bill by the period's
    /// end, sorted by project id, the invoice of the whole month if nothing changes after
    /// `asOf` (`BillingEngine.Forecasting`), before credits. Empty once the period has ended.
    /// Each project here has an invoice in `invoices` (of zero when nothing is billed yet),
    /// which carries the forecast once planned (`InvoiceContent.forecast`).
    public let forecasts: [InvoiceContent]
    /// The budgets that apply to the period (`Budget.applicable`): compared after the run.
    public let budgets: [Budget]
    /// True when the run forecasts the month's end: the period has not ended as of `asOf`.
    public var forecastsMonthEnd: Bool { !period.hasEnded(asOf: asOf) }

    /// Every usage row, made at once (for tests and small periods; files use `usageTable`).
    public var usage: [UsageRow] { usageTable.rows }
    public var hasErrors: Bool { anomalies.contains { $0.severity == .error } }
    /// True when the invoices may be issued: the period has ended and no error stands in the way.
    public var isIssuable: Bool { period.hasEnded(asOf: asOf) && !hasErrors }

    /// Anomaly counts by kind, in report order.
    public var anomalyCounts: [(kind: Anomaly.Kind, count: Int)] {
        var counts: [Anomaly.Kind: Int] = [:]
        for a in anomalies { counts[a.kind, default: 0] += 1 }
        return Anomaly.Kind.allCases.compactMap { k in counts[k].map { (k, $0) } }
    }
}

/// Time of one instance in one state under one rate version (and, split by day, on one
/// day): a usage row in compact form.
struct UsageCell: Hashable, Sendable, Codable {
    // Laid out largest first: 40 bytes a cell (a large month holds millions).
    var state: String
    var micros: Int64
    /// Index into the run's rate versions (`RateCard.all`); -1 where no version is in force.
    var rate: Int32
    /// Index into the run's discounts (`PriceAgreements.discounts`); -1 for none.
    var discount: Int32 = -1
    /// Index into the window's days; -1 when usage is not split by day.
    var day: Int16
    var billable: Bool
    /// Time after the instance's monthly cap was reached.
    var capped = false
}

/// The billed time of one instance at one rate version under one discount: an invoice
/// line before pricing.
struct LineCell: Sendable, Codable {
    var rate: Int32
    /// Index into the run's discounts; -1 for none.
    var discount: Int32 = -1
    /// Charged (not capped) microseconds per day of the window. (Its time per state is in
    /// the instance's usage cells of the same rate version and discount.)
    var daily: [Int64]
    /// Capped microseconds per day of the window; empty while none is capped.
    var cappedDaily: [Int64] = []
    /// The line's number on its invoice, given by `finish`.
    var lineNumber: Int32 = 0
}

/// What metering one instance gave: its usage cells and its lines.
struct MeteredInstance: Sendable, Codable {
    var instanceId: String
    var usage: [UsageCell]
    var lines: [LineCell]
    /// The lines of the month's forecast (`BillingEngine.Forecasting`): one "day", the
    /// whole period; empty when the period has ended or nothing is forecast.
    var forecast: [LineCell] = []

    /// The billed time at rate version `rate` per state, by state name: a line's reasons.
    static func states(of usage: [UsageCell], rate: Int32, discount: Int32) -> [StateTime] {
        var out: [StateTime] = []
        for cell in usage where cell.billable && cell.rate == rate && cell.discount == discount {
            if let k = out.firstIndex(where: { $0.state == cell.state }) {
                out[k] = StateTime(state: cell.state, microseconds: out[k].microseconds + cell.micros)
            } else {
                out.append(StateTime(state: cell.state, microseconds: cell.micros))
            }
        }
        return out.sorted { $0.state < $1.state }
    }
}

/// An engine's metering, without its catalog: what a shard hands to the process that
/// assembles the invoices (`BillingEngine.partial`, `BillingEngine.absorb`). Rates are
/// indices into the rate card, so both sides must have read the same rates.
public struct MeteringPartial: Sendable, Codable {
    var metered: [MeteredInstance]
    var anomalies: [Anomaly]
    var counts: BillingCounts
    var watermark: Int64?

    public var changesRead: Int { counts.changesRead }
    public var periodChangesRead: Int { counts.periodChangesRead }
    public var instancesRead: Int { counts.instancesRead }
    /// The latest `recorded_at` this metering read.
    public var latestRecordedAt: Instant? { watermark.map(Instant.init(microseconds:)) }
}

/// The usage rows of a result, compactly: one entry per instance, sorted.
public struct UsageTable: Sendable {
    let metered: [MeteredInstance]
    let catalog: BillingCatalog
    /// The rate versions `UsageRow.rateIndex` refers to.
    public let rates: [RateVersion]
    let discounts: [Discount]
    let days: [BillingDay]
    public let count: Int
    /// True when the rows are split by day (`--by day`).
    public let byDay: Bool

    /// Calls `body` with each row in report order.
    public func forEach(_ body: (UsageRow) throws -> Void) rethrows {
        for m in metered {
            guard let instance = catalog.instances[m.instanceId] else { continue }
            let projectName = catalog.projects[instance.projectId]?.name ?? instance.projectId
            let category = catalog.types[instance.typeName]?.category ?? "unknown"
            for cell in m.usage where cell.state != BillableStateTable.deleted {  // `deleted` time is no usage
                let rate = cell.rate >= 0 ? rates[Int(cell.rate)] : nil
                let lineNumber = cell.billable && cell.rate >= 0
                    ? m.lines.first { $0.rate == cell.rate && $0.discount == cell.discount }.map { Int($0.lineNumber) } : nil
                try body(
                    UsageRow(projectId: instance.projectId, projectName: projectName, instanceId: m.instanceId, instanceName: instance.name,
                             typeName: instance.typeName, category: category, image: instance.image, state: cell.state,
                             billable: cell.billable, rate: rate, discount: cell.discount >= 0 ? discounts[Int(cell.discount)] : nil,
                             capped: cell.capped, microseconds: cell.micros, day: cell.day >= 0 ? days[Int(cell.day)].date : nil,
                             lineNumber: lineNumber, rateIndex: Int(cell.rate)))
            }
        }
    }

    /// Every row, made at once.
    public var rows: [UsageRow] {
        var rows: [UsageRow] = []
        rows.reserveCapacity(count)
        forEach { rows.append($0) }
        return rows
    }
}

/// Turns a period's state changes into usage, invoice contents and anomalies.
///
/// Feed it every instance's changes once (`meter`), in any instance order, then call
/// `finish`. Between calls it holds each metered instance's totals (a few cells per
/// state and rate), so memory grows with the number of instances, not with the number of
/// changes. Engines that metered disjoint sets of instances combine: one `absorb`s the
/// others' `partial`.
public struct BillingEngine: Sendable {
    public let period: BillingPeriod
    public let asOf: Instant
    public let window: BillingWindow
    public let settings: BillingSettings
    private let catalog: BillingCatalog
    private let rateCard: RateCard
    private let agreements: PriceAgreements
    /// Each (project, type)'s discount pieces, made once: its instances share them.
    private var discountTimelines: [ProjectType: [PriceAgreements.Piece]] = [:]
    private struct ProjectType: Hashable {
        let project: String
        let type: String
    }
    private let days: [BillingDay]
    /// Usage rows per day as well as per state and rate (`usage.csv --by day`).
    public var splitUsageByDay = false
    /// How the month ends if nothing changes; nil once the period has ended.
    private let forecasting: Forecasting?
    private var forecastDiscountTimelines: [ProjectType: [PriceAgreements.Piece]] = [:]
    /// The budgets that apply to the window; their problems are warnings of the run.
    private let budgets: [Budget]

    /// The forecast of a month that has not ended as of `asOf` (the spend forecast): the
    /// same billing as a run of the whole month after its end, on the changes known at
    /// `asOf`, each instance staying in the state it is in at `asOf` until the period's end.
    /// Rates, discounts and caps are those of the whole month (effective dates are known
    /// ahead). Its lines need only their total time, so the whole period is one "day".
    struct Forecasting: Sendable {
        let window: BillingWindow
        let days: [BillingDay]
        let agreements: PriceAgreements
    }

    private var metered: [MeteredInstance] = []
    /// Problems of the whole run (the price list, the state table, timestamps that hold
    /// forever): every engine of a run finds the same, so they stay out of `partial` and
    /// the engine that `absorb`s the others reports them once.
    private var runAnomalies: [Anomaly]
    /// Problems of the instances this engine metered.
    private var anomalies: [Anomaly] = []
    private var watermark: Instant?
    private var counts = BillingCounts()
    private var invalidByInstance: [String: [Anomaly]] = [:]

    /// The largest number of event ids listed on one anomaly; the rest are counted.
    public static let eventIdsPerAnomaly = 50

    /// Nil when the period has not started as of `asOf` (nothing can be billed yet).
    public init?(period: BillingPeriod, asOf: Instant, settings: BillingSettings, catalog: BillingCatalog) {
        guard let window = period.window(asOf: asOf) else { return nil }
        self.period = period
        self.asOf = asOf
        self.window = window
        self.settings = settings
        self.catalog = catalog
        self.rateCard = RateCard(rates: catalog.rates, currency: settings.currency)
        self.agreements = PriceAgreements(discounts: catalog.discounts, caps: catalog.caps, period: period, window: window)
        self.days = period.days.filter { $0.window.start < window.end }.map {
            BillingDay(date: $0.date, window: BillingWindow(start: $0.window.start, end: min($0.window.end, window.end)))
        }
        if period.hasEnded(asOf: asOf) {
            forecasting = nil
        } else {
            let whole = BillingWindow(start: period.start, end: period.end)
            forecasting = Forecasting(window: whole, days: [BillingDay(date: period.month.firstDay, window: whole)],
                                      agreements: PriceAgreements(discounts: catalog.discounts, caps: catalog.caps, period: period, window: whole))
        }
        let budgets = Budget.applicable(catalog.budgets, currency: settings.currency, window: window)
        self.budgets = budgets.budgets
        self.runAnomalies = catalog.problems + rateCard.problems(touching: window) + catalog.billableStates.conflicts.map {
            Anomaly(.error, .conflictingStates, detail: "billable_states holds '\($0)' more than once, billed and not billed")
        } + agreements.problems + CreditLedger.problems(of: catalog.credits, currency: settings.currency, period: period) + budgets.problems
    }

    /// Records a problem found outside the metering (for example by the reader).
    public mutating func report(_ anomaly: Anomaly) { anomalies.append(anomaly) }

    /// Records a change that cannot be placed in time (an infinity, or a year past 294246).
    /// One that concerns every period (dated `-infinity`, it would hold in all of them) or
    /// dated inside this one (only its `recorded_at` is unplaceable) is reported at once;
    /// any other when its instance is metered in this period.
    public mutating func noteInvalidTimestamp(eventId: Int64, instanceId: String, detail: String, concernsEveryPeriod: Bool, inPeriod: Bool) {
        let a = Anomaly(.error, .invalidTimestamp, projectId: catalog.instances[instanceId]?.projectId, instanceId: instanceId,
                        eventIds: [eventId], detail: "change \(detail) cannot be placed in time; it is not applied")
        if concernsEveryPeriod { runAnomalies.append(a) } else if inPeriod { anomalies.append(a) } else { invalidByInstance[instanceId, default: []].append(a) }
    }

    /// The metering so far, to hand to another engine of the same run (`absorb`).
    public var partial: MeteringPartial {
        MeteringPartial(metered: metered, anomalies: anomalies, counts: counts, watermark: watermark?.microseconds)
    }

    /// Adds another engine's metering of other instances (a shard of the same run).
    public mutating func absorb(_ p: MeteringPartial) {
        for m in p.metered {
            guard catalog.instances[m.instanceId] != nil else {
                // Metered by another process whose catalog had the instance; this one's has
                // not (its row was deleted meanwhile): the time cannot be billed to anyone.
                anomalies.append(
                    Anomaly(.error, .orphanChange, instanceId: m.instanceId,
                            detail: "instance \(m.instanceId) was metered but its instances row is gone: its time cannot be billed to any project"))
                continue
            }
            metered.append(m)
        }
        anomalies += p.anomalies
        counts.add(p.counts)
        if let w = p.watermark.map(Instant.init(microseconds:)), watermark.map({ w > $0 }) ?? true { watermark = w }
    }

    /// Sets the run's input watermark (a sharded run lowers it when changes were recorded
    /// while its shards were read, so that the next run finds them as late data).
    public mutating func setWatermark(_ w: Instant?) { watermark = w }


    /// Meters one instance. `changes` are all of its changes before the period's end:
    /// at least the last one before the period starts (the state carried in) and every
    /// one inside the period.
    public mutating func meter(instanceId: String, changes: [StateChange]) {
        guard !changes.isEmpty else { return }
        if let invalid = invalidByInstance.removeValue(forKey: instanceId) { anomalies += invalid }
        counts.changesRead += changes.count
        counts.instancesRead += 1
        for c in changes where watermark.map({ c.recordedAt > $0 }) ?? true { watermark = c.recordedAt }

        let timeline = StateTimeline(changes: changes)
        let instance = catalog.instances[instanceId]
        // The period's changes in effect order: the reader's come sorted, so they are a suffix.
        let inPeriod = changes.isSorted(by: StateChange.inEffectOrder)
            ? changes[(changes.firstIndex { $0.changedAt >= period.start } ?? changes.endIndex)...]
            : ArraySlice(changes.filter { $0.changedAt >= period.start }.sorted(by: StateChange.inEffectOrder))
        counts.periodChangesRead += inPeriod.count
        let clipped = timeline.clipped(to: window)
        var report = InstanceReport(projectId: instance?.projectId, instanceId: instanceId)
        defer { anomalies += report.anomalies }

        reportChangeWarnings(inPeriod, timeline: timeline, instance: instance, &report)
        guard let instance else {
            reportOrphan(instanceId, changes: changes, inPeriod: inPeriod, clipped: clipped, timeline: timeline, &report)
            return
        }
        var walk = IntervalWalk()
        if !clipped.isEmpty {
            reportCatalogProblems(instance, clipped: clipped, &report)
            // Worked out first: a mutating call among the arguments of a call on `self` copies the whole engine.
            let pieces = discountPieces(for: instance, forecast: false)
            walk = meterIntervals(clipped, states: timeline.states, typeName: instance.typeName, discounts: pieces,
                                  cap: agreements.caps[instance.typeName], days: days, byDay: splitUsageByDay, keepsCells: true)
            for u in walk.unknownStates.sorted(by: { $0.state < $1.state }) {
                report.add(.unknownState, u.events, micros: u.micros, "state '\(u.state)' is not in billable_states: \(formatSeconds(u.micros)) s not billed")
            }
            if walk.unpriced.micros > 0 {
                report.add(.missingRate, walk.unpriced.events, micros: walk.unpriced.micros,
                           "\(formatSeconds(walk.unpriced.micros)) s of billable time between \(walk.unpriced.from!) and \(walk.unpriced.to!) has no "
                               + "\(settings.currency.code) rate for \(instance.typeName)")
            }
        }
        let forecast = forecastLines(instance, changes: changes, timeline: timeline, unpricedSoFar: walk.unpriced.micros, &report)
        if !walk.lines.isEmpty { counts.instancesBilled += 1 }
        if walk.cells.isEmpty && walk.lines.isEmpty && forecast.isEmpty { return }
        // Report order within the instance: rate version, state, day.
        let all = rateCard.all
        walk.cells.sort { a, b in
            let fa = a.rate >= 0 ? all[Int(a.rate)].effectiveFrom.microseconds : Int64.min
            let fb = b.rate >= 0 ? all[Int(b.rate)].effectiveFrom.microseconds : Int64.min
            if fa != fb { return fa < fb }
            if a.discount != b.discount { return a.discount < b.discount }
            if a.state != b.state { return a.state < b.state }
            if a.capped != b.capped { return !a.capped }
            return a.day < b.day
        }
        // Lines by rate version, then in the order their time began.
        walk.lines = walk.lines.enumerated().sorted { a, b in
            let fa = all[Int(a.element.rate)].effectiveFrom, fb = all[Int(b.element.rate)].effectiveFrom
            return fa != fb ? fa < fb : a.offset < b.offset
        }.map(\.element)
        metered.append(MeteredInstance(instanceId: instanceId, usage: walk.cells, lines: walk.lines, forecast: forecast))
    }

    /// The instance's lines in the month's forecast (`Forecasting`): its changes known at
    /// `asOf` (a change at `asOf` itself is the state it is in then), the last state held
    /// to the period's end, metered by the same rules over the whole period. Billable time
    /// the forecast cannot price beyond what the run so far could not (`unpricedSoFar`) is
    /// a warning: the forecast leaves it out.
    private mutating func forecastLines(_ instance: Instance, changes: [StateChange], timeline: StateTimeline, unpricedSoFar: Int64,
                                        _ report: inout InstanceReport) -> [LineCell] {
        guard let f = forecasting else { return [] }
        let known = changes.contains { $0.changedAt > asOf } ? StateTimeline(changes: changes.filter { $0.changedAt <= asOf }) : timeline
        let clipped = known.clipped(to: f.window)
        guard !clipped.isEmpty else { return [] }
        let pieces = discountPieces(for: instance, forecast: true)
        let walk = meterIntervals(clipped, states: known.states, typeName: instance.typeName, discounts: pieces,
                                  cap: f.agreements.caps[instance.typeName], days: f.days, byDay: false, keepsCells: false)
        let unpriced = walk.unpriced.micros - unpricedSoFar
        if unpriced > 0 {
            report.add(.forecastUnpriced, [], micros: unpriced,
                       "the forecast to the period's end \(period.end) has \(formatSeconds(unpriced)) s of billable time with no "
                           + "\(settings.currency.code) rate for \(instance.typeName); it is left out of the forecast")
        }
        return walk.lines
    }

    /// The anomalies of one instance, each listing at most `eventIdsPerAnomaly` events.
    struct InstanceReport {
        let projectId: String?
        let instanceId: String
        var anomalies: [Anomaly] = []

        mutating func add(_ kind: Anomaly.Kind, _ events: [Int64], micros: Int64? = nil, _ detail: String) {
            let listed = Array(events.prefix(BillingEngine.eventIdsPerAnomaly))
            let more = events.count - listed.count
            anomalies.append(
                Anomaly(kind.severity, kind, projectId: projectId, instanceId: instanceId, eventIds: listed, microseconds: micros,
                        detail: more > 0 ? detail + " (\(more) more events not listed)" : detail))
        }
    }

    /// Warnings about the changes themselves: several at one instant, after `deleted`,
    /// after `as_of`, before `created_at`; and a `created_at` that cannot be placed.
    private func reportChangeWarnings(_ inPeriod: ArraySlice<StateChange>, timeline: StateTimeline, instance: Instance?, _ report: inout InstanceReport) {
        var i = inPeriod.startIndex
        while i < inPeriod.endIndex {
            var j = i + 1
            while j < inPeriod.endIndex, inPeriod[j].changedAt == inPeriod[i].changedAt { j += 1 }
            if j - i > 1 {
                let group = inPeriod[i..<j]
                report.add(.duplicateInstant, group.map(\.eventId),
                           "\(j - i) changes at \(inPeriod[i].changedAt) (\(group.map { $0.state }.joined(separator: ", "))); \(timeline.holding(at: inPeriod[i].changedAt))")
            }
            i = j
        }
        let afterDeleted = timeline.setAsideAfterDeleted.filter { $0.changedAt >= period.start }
        if !afterDeleted.isEmpty {
            report.add(.changeAfterDeleted, afterDeleted.map(\.eventId),
                       "\(afterDeleted.count) change(s) after the instance was deleted, from \(afterDeleted[0].changedAt); not applied")
        }
        if let last = inPeriod.last, last.changedAt > asOf {
            let afterAsOf = inPeriod.filter { $0.changedAt > asOf }
            report.add(.changeAfterAsOf, afterAsOf.map(\.eventId),
                       "\(afterAsOf.count) change(s) after as_of \(asOf), from \(afterAsOf[0].changedAt); that time is not billed in this run")
        }
        if let instance, let createdAt = instance.createdAt, let first = inPeriod.first, first.changedAt < createdAt {
            let early = inPeriod.filter { $0.changedAt < createdAt }
            report.add(.changeBeforeCreated, early.map(\.eventId),
                       "\(early.count) change(s) before created_at \(createdAt), from \(early[0].changedAt); billed as recorded")
        }
        if let problem = instance?.createdAtProblem { report.add(.invalidCreatedAt, [], problem) }
    }

    /// No instances row: no project to bill. Reported when it matters to this period.
    private func reportOrphan(_ instanceId: String, changes: [StateChange], inPeriod: ArraySlice<StateChange>, clipped: [StateTimeline.Interval],
                              timeline: StateTimeline, _ report: inout InstanceReport) {
        let table = catalog.billableStates
        let micros = clipped.filter { table.isBillable(timeline.state(of: $0)) == true }.reduce(Int64(0)) { $0 + $1.from.microseconds(until: $1.to!) }
        guard !inPeriod.isEmpty || micros > 0 else { return }
        report.add(.orphanChange, inPeriod.isEmpty ? changes.map(\.eventId) : inPeriod.map(\.eventId), micros: micros,
                   "changes for instance \(instanceId), which has no instances row: \(formatSeconds(micros)) s of billable time cannot be billed to any project")
    }

    /// What the catalog lacks for a billed instance: its type, its category, its project;
    /// and a Windows image on a type that does not offer it.
    private func reportCatalogProblems(_ instance: Instance, clipped: [StateTimeline.Interval], _ report: inout InstanceReport) {
        if let type = catalog.types[instance.typeName] {
            if !InstanceType.categoryOrder.contains(type.category) {
                report.add(.unknownCategory, [], "type \(instance.typeName) has category '\(type.category)', not one invoices group by")
            }
        } else {
            report.add(.unknownInstanceType, clipped.map(\.eventId), "type \(instance.typeName) is not in instance_types")
        }
        if catalog.projects[instance.projectId] == nil {
            report.add(.unknownProject, [], "project \(instance.projectId) is not in projects")
        }
        if instance.hasWindowsImage && !settings.windowsTypes.contains(instance.typeName) {
            report.add(.windowsImageOnType, [], "image \(instance.image) on \(instance.typeName)")
        }
    }

    /// The discount pieces of `instance`'s time (empty: list price throughout), made once
    /// per project and type; overlaps found on the way are reported once each.
    /// With `forecast`, the pieces of the forecast's whole period (`Forecasting`); its
    /// overlaps are reported too: they will stand in the way of the month's invoices.
    private mutating func discountPieces(for instance: Instance, forecast: Bool) -> [PriceAgreements.Piece] {
        guard let agreements = forecast ? forecasting?.agreements : agreements, !agreements.hasNoDiscounts else { return [] }
        let key = ProjectType(project: instance.projectId, type: instance.typeName)
        if let pieces = forecast ? forecastDiscountTimelines[key] : discountTimelines[key] { return pieces }
        let (pieces, overlaps) = agreements.timeline(projectId: instance.projectId, billingAccountId: catalog.projects[instance.projectId]?.billingAccountId,
                                                     typeName: instance.typeName, category: catalog.types[instance.typeName]?.category)
        anomalies += overlaps  // each (project, type) finds the pairs it sees; `finish` keeps one of each
        if forecast { forecastDiscountTimelines[key] = pieces } else { discountTimelines[key] = pieces }
        return pieces
    }

    /// What walking one instance's intervals gave.
    struct IntervalWalk {
        var cells: [UsageCell] = []
        var lines: [LineCell] = []
        var unknownStates: [(state: String, micros: Int64, events: [Int64])] = []
        var unpriced: (micros: Int64, events: [Int64], from: Instant?, to: Instant?) = (0, [], nil, nil)
    }

    /// Walks one instance's intervals in time order into an `IntervalWalk`. A struct with
    /// mutating methods (not closures over local variables, which Swift checks for
    /// exclusive access at run time on every call). An instance has a handful of states,
    /// rate versions and discounts, so its cells are kept in small arrays searched in place.
    struct IntervalWalker {
        /// The timeline's states, by the intervals' `stateIndex`.
        let states: [String]
        let days: [BillingDay]
        let byDay: Bool
        let pieces: [PriceAgreements.Piece]
        let cap: Int64?
        /// False for a forecast: only its lines are needed.
        let keepsCells: Bool
        var walk = IntervalWalk()
        /// What tells `walk.cells` apart, one per cell: compared as integers, not by state name.
        var cellKeys: [CellKey] = []
        var dayCursor = 0
        var pieceCursor = 0
        var billedSoFar: Int64 = 0

        init(states: [String], days: [BillingDay], byDay: Bool, pieces: [PriceAgreements.Piece], cap: Int64?, keepsCells: Bool = true) {
            self.states = states
            self.days = days
            self.byDay = byDay
            self.pieces = pieces
            self.cap = cap
            self.keepsCells = keepsCells
        }

        mutating func noteUnknown(_ interval: StateTimeline.Interval) {
            let micros = interval.from.microseconds(until: interval.to!)
            if let k = walk.unknownStates.firstIndex(where: { $0.state == states[interval.stateIndex] }) {
                walk.unknownStates[k].micros += micros
                walk.unknownStates[k].events.append(interval.eventId)
            } else {
                walk.unknownStates.append((states[interval.stateIndex], micros, [interval.eventId]))
            }
        }

        struct CellKey: Equatable {
            let state: Int
            let rate: Int32
            let discount: Int32
            let day: Int16
            let capped: Bool
        }

        mutating func addCell(_ interval: StateTimeline.Interval, _ billable: Bool, _ rate: Int32, _ discount: Int32, _ capped: Bool, _ day: Int16,
                              _ micros: Int64) {
            let key = CellKey(state: interval.stateIndex, rate: rate, discount: discount, day: day, capped: capped)
            if let k = cellKeys.firstIndex(of: key) {
                walk.cells[k].micros += micros
                return
            }
            cellKeys.append(key)
            walk.cells.append(UsageCell(state: states[interval.stateIndex], micros: micros, rate: rate, discount: discount, day: day, billable: billable, capped: capped))
        }

        /// One piece of `interval`: one rate version and discount, capped or not.
        mutating func record(_ interval: StateTimeline.Interval, _ isBilled: Bool, _ from: Instant, _ to: Instant, _ rate: Int32, _ discount: Int32,
                             _ capped: Bool) {
            let eventId = interval.eventId
            let micros = from.microseconds(until: to)
            let dayCount = days.count
            if byDay || isBilled && rate >= 0 {
                // Pieces come in time order, so the day cursor only moves forward.
                while dayCursor < dayCount, days[dayCursor].window.end <= from { dayCursor += 1 }
                var line = -1
                if isBilled && rate >= 0 {
                    if let k = walk.lines.firstIndex(where: { $0.rate == rate && $0.discount == discount }) {
                        line = k
                    } else {
                        walk.lines.append(LineCell(rate: rate, discount: discount, daily: [Int64](repeating: 0, count: dayCount)))
                        line = walk.lines.count - 1
                    }
                    if capped && walk.lines[line].cappedDaily.isEmpty { walk.lines[line].cappedDaily = [Int64](repeating: 0, count: dayCount) }
                }
                var d = dayCursor
                while d < dayCount, days[d].window.start < to {
                    let dayMicros = days[d].window.overlapMicroseconds(from: from, to: to)
                    if dayMicros > 0 {
                        if line >= 0 {
                            if capped { walk.lines[line].cappedDaily[d] += dayMicros } else { walk.lines[line].daily[d] += dayMicros }
                        }
                        if byDay { addCell(interval, isBilled, rate, discount, capped, Int16(d), dayMicros) }
                    }
                    d += 1
                }
            }
            if !byDay && keepsCells { addCell(interval, isBilled, rate, discount, capped, -1, micros) }
            if isBilled && rate < 0 {
                walk.unpriced.micros += micros
                if walk.unpriced.events.last != eventId { walk.unpriced.events.append(eventId) }
                walk.unpriced.from = walk.unpriced.from ?? from
                walk.unpriced.to = to
            }
        }

        /// Billed time of one rate segment: split where the discount changes and where the cap is reached.
        mutating func recordBilled(_ interval: StateTimeline.Interval, _ from: Instant, _ to: Instant, _ rate: Int32) {
            var at = from
            while at < to {
                var end = to, discount: Int32 = -1
                if !pieces.isEmpty {
                    while pieceCursor < pieces.count, pieces[pieceCursor].to <= at { pieceCursor += 1 }
                    if pieceCursor < pieces.count {
                        end = min(end, pieces[pieceCursor].to)
                        discount = pieces[pieceCursor].discount
                    }
                }
                if let cap {
                    let length = at.microseconds(until: end)
                    if billedSoFar >= cap {
                        record(interval, true, at, end, rate, discount, true)
                    } else if length <= cap - billedSoFar {
                        record(interval, true, at, end, rate, discount, false)
                    } else {
                        let reached = at.adding(microseconds: cap - billedSoFar)
                        record(interval, true, at, reached, rate, discount, false)
                        record(interval, true, reached, end, rate, discount, true)
                    }
                    billedSoFar += length
                } else {
                    record(interval, true, at, end, rate, discount, false)
                }
                at = end
            }
        }
    }

    /// Meters every clipped interval (of a timeline whose distinct states are `states`):
    /// split at rate changes (`RateCard.forEachSegment`), at discount changes (`discounts`,
    /// pieces covering the window) and where the instance's billed time reaches `cap`
    /// (microseconds, counted in time order), into usage cells and, for billed time, into
    /// lines by day (`IntervalWalker`).
    private func meterIntervals(_ clipped: [StateTimeline.Interval], states: [String], typeName: String, discounts pieces: [PriceAgreements.Piece],
                                cap: Int64?, days: [BillingDay], byDay: Bool, keepsCells: Bool) -> IntervalWalk {
        var walker = IntervalWalker(states: states, days: days, byDay: byDay, pieces: pieces, cap: cap, keepsCells: keepsCells)
        let versions = rateCard.indexRange(of: typeName)
        var versionCursor = versions.lowerBound
        let simple = pieces.isEmpty && cap == nil
        let billables = states.map(catalog.billableStates.isBillable)
        for interval in clipped {
            let billable = billables[interval.stateIndex]
            if billable == nil { walker.noteUnknown(interval) }
            let isBilled = billable == true
            rateCard.forEachSegment(of: versions, from: interval.from, to: interval.to!, cursor: &versionCursor) { from, to, rate in
                if isBilled && !simple {
                    walker.recordBilled(interval, from, to, rate)
                } else {
                    walker.record(interval, isBilled, from, to, rate, -1, false)
                }
            }
        }
        return walker.walk
    }

    /// Prices the metered lines and assembles the result.
    public func finish() -> BillingResult {
        let all = rateCard.all
        // Instances by project, then id: the order of usage rows.
        // Each instance looked up once (not in the sort's comparisons).
        let projectOf = metered.map { catalog.instances[$0.instanceId]?.projectId }
        var order = metered.indices.filter { projectOf[$0] != nil }
        order.sort { a, b in
            let pa = projectOf[a]!, pb = projectOf[b]!
            return pa != pb ? pa < pb : metered[a].instanceId < metered[b].instanceId
        }
        var sorted = order.map { metered[$0] }
        let sortedProjects = order.map { projectOf[$0]! }

        var invoices: [InvoiceContent] = []
        var forecasts: [InvoiceContent] = []
        var usageRows = 0
        var start = 0
        while start < sorted.count {
            let projectId = sortedProjects[start]
            var end = start
            while end < sorted.count, sortedProjects[end] == projectId { end += 1 }
            // Lines grouped by category (invoice order), then instance, then rate version.
            var keys: [(instance: Int, line: Int, rank: Int, category: String)] = []
            for m in start..<end {
                usageRows += sorted[m].usage.count { $0.state != BillableStateTable.deleted }
                let instance = catalog.instances[sorted[m].instanceId]!
                let category = catalog.types[instance.typeName]?.category ?? "unknown"
                for l in sorted[m].lines.indices { keys.append((m, l, InstanceType.categoryRank(category), category)) }
            }
            if !keys.isEmpty {
                keys.sort { a, b in
                    if a.category != b.category { return a.rank != b.rank ? a.rank < b.rank : a.category < b.category }
                    return a.instance != b.instance ? a.instance < b.instance : a.line < b.line
                }
                var lines: [InvoiceLine] = []
                lines.reserveCapacity(keys.count)
                for (n, key) in keys.enumerated() {
                    sorted[key.instance].lines[key.line].lineNumber = Int32(n + 1)
                    lines.append(invoiceLine(sorted[key.instance].lines[key.line], number: n + 1, of: sorted[key.instance], category: key.category,
                                             discounts: agreements.discounts, usage: sorted[key.instance].usage))
                }
                invoices.append(InvoiceContent(project: project(projectId), currency: settings.currency, lines: lines, vatRate: settings.vatRate,
                                               rounding: settings.rounding))
            }
            if let f = forecasting {
                var lines: [InvoiceLine] = []
                for m in start..<end {
                    let category = catalog.types[catalog.instances[sorted[m].instanceId]!.typeName]?.category ?? "unknown"
                    for cell in sorted[m].forecast {
                        // No usage cells: the instance's are the run's, indexed by its discounts, not the forecast's.
                        lines.append(invoiceLine(cell, number: lines.count + 1, of: sorted[m], category: category, discounts: f.agreements.discounts,
                                                 usage: []))
                    }
                }
                if !lines.isEmpty {
                    let content = InvoiceContent(project: project(projectId), currency: settings.currency, lines: lines, vatRate: settings.vatRate,
                                                 rounding: settings.rounding)
                    forecasts.append(content)
                    // A project with no billed time so far but some to come: a draft of zero carries its forecast.
                    if invoices.last?.project.id != projectId {
                        invoices.append(InvoiceContent(project: content.project, currency: settings.currency, lines: [], vatRate: settings.vatRate,
                                                       rounding: settings.rounding))
                    }
                }
            }
            start = end
        }
        var counts = self.counts
        counts.usageRows = usageRows
        counts.invoices = invoices.count
        counts.invoiceLines = invoices.reduce(0) { $0 + $1.lines.count }
        return BillingResult(
            period: period, asOf: asOf, window: window, settings: settings,
            usageTable: UsageTable(metered: sorted, catalog: catalog, rates: all, discounts: agreements.discounts, days: days, count: usageRows,
                                   byDay: splitUsageByDay),
            invoices: invoices, anomalies: Self.withoutRepeats(runAnomalies + anomalies).sorted(by: Anomaly.reportOrder), inputWatermark: watermark, counts: counts,
            ratesInForce: rateCard.versionsInForce(from: window.start, to: window.end), billableStates: catalog.billableStates, days: days,
            discountsInForce: agreements.discounts,
            capsInForce: catalog.caps.filter { agreements.caps[$0.typeName] != nil && $0.microseconds != nil && $0.inForce(at: period.start) }
                .sorted { $0.typeName.utf8.lexicographicallyPrecedes($1.typeName.utf8) },
            creditRows: catalog.credits, forecasts: forecasts, budgets: budgets)
    }
}

extension BillingEngine {
    /// The project as the catalog has it (its id alone when the row is missing).
    private func project(_ id: String) -> Project { catalog.projects[id] ?? Project(id: id, name: id, billingAccountId: nil) }

    /// A metered line, priced: its charged time rounded up once, its amounts (pricing.md section 1).
    private func invoiceLine(_ cell: LineCell, number: Int, of m: MeteredInstance, category: String, discounts: [Discount],
                             usage: [UsageCell]) -> InvoiceLine {
        let instance = catalog.instances[m.instanceId]!
        let rate = rateCard.all[Int(cell.rate)]
        let charged = cell.daily.reduce(0, +), capped = cell.cappedDaily.reduce(0, +)
        let seconds = settings.granularity.billableSeconds(ofMicroseconds: charged)
        let discount = cell.discount >= 0 ? discounts[Int(cell.discount)] : nil
        return InvoiceLine(
            lineNumber: number, instanceId: instance.id, instanceName: instance.name, typeName: instance.typeName, category: category,
            image: instance.image, rate: rate, meteredMicroseconds: charged + capped, dailyMicroseconds: cell.daily, usage: usage,
            rateIndex: cell.rate, discountIndex: cell.discount, billableSeconds: seconds,
            amounts: Pricing.lineAmounts(billableSeconds: seconds, rate: rate, discount: discount, currency: settings.currency, rounding: settings.rounding),
            discount: discount, cappedMicroseconds: capped, dailyCappedMicroseconds: cell.cappedDaily)
    }

    /// The anomalies with the run-wide ones that engines of one run may each find (an
    /// overlap of two discounts) kept once.
    static func withoutRepeats(_ list: [Anomaly]) -> [Anomaly] {
        var seen: Set<String> = []
        return list.filter { $0.kind != .overlappingDiscounts || seen.insert($0.detail).inserted }
    }
}

/// Microseconds as seconds in plain decimal, trailing zeros trimmed (`13019.75`).
public func formatSeconds(_ micros: Int64) -> String { formatScaledTrimmed(Int128(micros), scale: 6) }
