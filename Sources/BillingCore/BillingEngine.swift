/// What the engine needs to know besides the state changes: the small tables.
public struct BillingCatalog: Sendable {
    public var projects: [String: Project]
    public var types: [String: InstanceType]
    public var instances: [String: Instance]
    public var rates: [RateVersion]
    public var billableStates: BillableStateTable

    public init(
        projects: [Project], types: [InstanceType], instances: [Instance], rates: [RateVersion],
        billableStates: BillableStateTable
    ) {
        self.projects = Dictionary(projects.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.types = Dictionary(types.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.instances = Dictionary(instances.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.rates = rates
        self.billableStates = billableStates
    }
}

/// Counts a run reports.
public struct BillingCounts: Hashable, Sendable {
    public var changesRead = 0
    public var instancesRead = 0
    public var instancesBilled = 0
    public var usageRows = 0
    public var invoiceLines = 0
    public var invoices = 0
}

/// The complete outcome of billing one period as of one instant.
public struct BillingResult: Sendable {
    public let period: BillingPeriod
    public let asOf: Instant
    public let window: BillingWindow
    public let settings: BillingSettings
    /// Sorted by project, instance, state and rate version.
    public let usage: [UsageRow]
    /// One per project with billable usage, sorted by project id.
    public let invoices: [InvoiceContent]
    /// In report order (errors first).
    public let anomalies: [Anomaly]
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

/// Turns a period's state changes into usage, invoice contents and anomalies.
///
/// Feed it every instance's changes once (`meter`), in any instance order, then call
/// `finish`. It holds only per-line totals between calls, so memory grows with the
/// number of instances, not with the number of changes.
public struct BillingEngine: Sendable {
    public let period: BillingPeriod
    public let asOf: Instant
    public let window: BillingWindow
    public let settings: BillingSettings
    private let catalog: BillingCatalog
    private let rateCard: RateCard

    private var usage: [UsageRow] = []
    private var lineMicros: [String: [LineKey: [Int64]]] = [:]  // project -> line -> metered µs per day
    private var lineStates: [String: [LineKey: [String: Int64]]] = [:]  // project -> line -> metered µs per state
    private let days: [BillingDay]
    /// Usage rows per day as well as per state and rate (`usage.csv --by day`).
    public var splitUsageByDay = false
    private var anomalies: [Anomaly]
    private var watermark: Instant?
    private var counts = BillingCounts()

    private struct LineKey: Hashable {
        let instanceId: String
        let rate: RateVersion
    }

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
        self.days = period.days.filter { $0.window.start < window.end }.map {
            BillingDay(date: $0.date, window: BillingWindow(start: $0.window.start, end: min($0.window.end, window.end)))
        }
        self.anomalies = rateCard.problems(touching: window) + catalog.billableStates.conflicts.map {
            Anomaly(.error, .conflictingStates, detail: "billable_states holds '\($0)' more than once, billed and not billed")
        }
    }

    /// Records a problem found outside the metering (for example by the reader).
    public mutating func report(_ anomaly: Anomaly) { anomalies.append(anomaly) }

    private var invalidByInstance: [String: [Anomaly]] = [:]

    /// Records a change that cannot be placed in time (an infinite timestamp). One dated
    /// `-infinity` would hold in every period and is reported at once; any other is
    /// reported when its instance is metered in this period.
    public mutating func noteInvalidTimestamp(eventId: Int64, instanceId: String, detail: String, holdsForever: Bool) {
        let a = Anomaly(.error, .invalidTimestamp, projectId: catalog.instances[instanceId]?.projectId, instanceId: instanceId,
                        eventIds: [eventId], detail: "change \(detail) cannot be placed in time; it is not applied")
        if holdsForever { anomalies.append(a) } else { invalidByInstance[instanceId, default: []].append(a) }
    }

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
        let inPeriod = changes.filter { $0.changedAt >= period.start }.sorted(by: StateChange.inEffectOrder)
        let clipped = timeline.clipped(to: window)
        let projectId = instance?.projectId

        func report(_ kind: Anomaly.Kind, _ events: [Int64], micros: Int64? = nil, _ detail: String) {
            let listed = Array(events.prefix(BillingEngine.eventIdsPerAnomaly))
            let more = events.count - listed.count
            anomalies.append(
                Anomaly(kind.severity, kind, projectId: projectId, instanceId: instanceId, eventIds: listed, microseconds: micros,
                        detail: more > 0 ? detail + " (\(more) more events not listed)" : detail))
        }

        // Warnings about the changes themselves.
        var i = 0
        while i < inPeriod.count {
            var j = i + 1
            while j < inPeriod.count, inPeriod[j].changedAt == inPeriod[i].changedAt { j += 1 }
            if j - i > 1 {
                let group = inPeriod[i..<j]
                report(.duplicateInstant, group.map(\.eventId),
                       "\(j - i) changes at \(inPeriod[i].changedAt) (\(group.map { $0.state }.joined(separator: ", "))); the last, \(group.last!.state), holds")
            }
            i = j
        }
        let afterDeleted = timeline.setAsideAfterDeleted.filter { $0.changedAt >= period.start }
        if !afterDeleted.isEmpty {
            report(.changeAfterDeleted, afterDeleted.map(\.eventId),
                   "\(afterDeleted.count) change(s) after the instance was deleted, from \(afterDeleted[0].changedAt); not applied")
        }
        let afterAsOf = inPeriod.filter { $0.changedAt > asOf }
        if !afterAsOf.isEmpty {
            report(.changeAfterAsOf, afterAsOf.map(\.eventId),
                   "\(afterAsOf.count) change(s) after as_of \(asOf), from \(afterAsOf[0].changedAt); that time is not billed in this run")
        }
        if let instance {
            let early = inPeriod.filter { $0.changedAt < instance.createdAt }
            if !early.isEmpty {
                report(.changeBeforeCreated, early.map(\.eventId),
                       "\(early.count) change(s) before created_at \(instance.createdAt), from \(early[0].changedAt); billed as recorded")
            }
        }

        let table = catalog.billableStates
        guard let instance else {
            // No instances row: no project to bill. Report it when it matters to this period.
            let billable = clipped.filter { table.isBillable($0.state) == true }
            let micros = billable.reduce(Int64(0)) { $0 + $1.from.microseconds(until: $1.to!) }
            if !inPeriod.isEmpty || micros > 0 {
                let ids = inPeriod.isEmpty ? changes.map(\.eventId) : inPeriod.map(\.eventId)
                report(.orphanChange, ids, micros: micros,
                       "changes for instance \(instanceId), which has no instances row: \(formatSeconds(micros)) s of billable time cannot be billed to any project")
            }
            return
        }
        guard !clipped.isEmpty else { return }

        let type = catalog.types[instance.typeName]
        if type == nil {
            report(.unknownInstanceType, clipped.map(\.eventId), "type \(instance.typeName) is not in instance_types")
        } else if !InstanceType.categoryOrder.contains(type!.category) {
            report(.unknownCategory, [], "type \(instance.typeName) has category '\(type!.category)', not one invoices group by")
        }
        if catalog.projects[instance.projectId] == nil {
            report(.unknownProject, [], "project \(instance.projectId) is not in projects")
        }
        if instance.hasWindowsImage && !settings.windowsTypes.contains(instance.typeName) {
            report(.windowsImageOnType, [], "image \(instance.image) on \(instance.typeName)")
        }

        // Meter: every clipped interval, split at rate changes.
        var rows: [UsageKey: Int64] = [:]
        var unknownStates: [String: (micros: Int64, events: [Int64])] = [:]
        var unpriced: (micros: Int64, events: [Int64], from: Instant?, to: Instant?) = (0, [], nil, nil)
        var billedAny = false
        for interval in clipped {
            let billable = table.isBillable(interval.state)
            if billable == nil {
                unknownStates[interval.state, default: (0, [])].micros += interval.from.microseconds(until: interval.to!)
                unknownStates[interval.state, default: (0, [])].events.append(interval.eventId)
            }
            for piece in rateCard.segments(of: instance.typeName, from: interval.from, to: interval.to!) {
                let micros = piece.from.microseconds(until: piece.to)
                if splitUsageByDay {
                    forEachDay(from: piece.from, to: piece.to) { day, dayMicros in
                        rows[UsageKey(state: interval.state, billable: billable == true, rate: piece.rate, day: day), default: 0] += dayMicros
                    }
                } else {
                    rows[UsageKey(state: interval.state, billable: billable == true, rate: piece.rate, day: nil), default: 0] += micros
                }
                guard billable == true else { continue }
                if let rate = piece.rate {
                    let key = LineKey(instanceId: instanceId, rate: rate)
                    var daily = lineMicros[instance.projectId, default: [:]][key] ?? [Int64](repeating: 0, count: days.count)
                    forEachDay(from: piece.from, to: piece.to) { day, dayMicros in daily[day] += dayMicros }
                    lineMicros[instance.projectId, default: [:]][key] = daily
                    lineStates[instance.projectId, default: [:]][key, default: [:]][interval.state, default: 0] += micros
                    billedAny = true
                } else {
                    unpriced.micros += micros
                    if unpriced.events.last != interval.eventId { unpriced.events.append(interval.eventId) }
                    unpriced.from = unpriced.from ?? piece.from
                    unpriced.to = piece.to
                }
            }
        }
        for (state, u) in unknownStates.sorted(by: { $0.key < $1.key }) {
            report(.unknownState, u.events, micros: u.micros,
                   "state '\(state)' is not in billable_states: \(formatSeconds(u.micros)) s not billed")
        }
        if unpriced.micros > 0 {
            report(.missingRate, unpriced.events, micros: unpriced.micros,
                   "\(formatSeconds(unpriced.micros)) s of billable time between \(unpriced.from!) and \(unpriced.to!) has no \(settings.currency.code) rate for \(instance.typeName)")
        }
        if billedAny { counts.instancesBilled += 1 }
        let projectName = catalog.projects[instance.projectId]?.name ?? instance.projectId
        for (key, micros) in rows where key.state != BillableStateTable.deleted {
            usage.append(UsageRow(projectId: instance.projectId, projectName: projectName, instanceId: instanceId,
                                  instanceName: instance.name, typeName: instance.typeName, category: type?.category ?? "unknown",
                                  image: instance.image, state: key.state, billable: key.billable, rate: key.rate,
                                  microseconds: micros, day: key.day.map { days[$0].date }, lineNumber: nil))
        }
    }

    private struct UsageKey: Hashable {
        let state: String
        let billable: Bool
        let rate: RateVersion?
        let day: Int?
    }

    /// Calls `body` with each day of the window that `[from, to)` touches and the
    /// microseconds it spends in that day.
    private func forEachDay(from: Instant, to: Instant, _ body: (Int, Int64) -> Void) {
        var lo = 0, hi = days.count  // first day whose end is after `from`
        while lo < hi {
            let mid = (lo + hi) / 2
            if days[mid].window.end <= from { lo = mid + 1 } else { hi = mid }
        }
        var i = lo
        while i < days.count, days[i].window.start < to {
            let micros = days[i].window.overlapMicroseconds(from: from, to: to)
            if micros > 0 { body(i, micros) }
            i += 1
        }
    }

    /// Prices the metered lines and assembles the result.
    public func finish() -> BillingResult {
        var invoices: [InvoiceContent] = []
        var lineNumbers: [String: [LineKey: Int]] = [:]
        for projectId in lineMicros.keys.sorted() {
            let keyed = lineMicros[projectId]!
            let project = catalog.projects[projectId] ?? Project(id: projectId, name: projectId, billingAccountId: nil)
            let sortedKeys = keyed.keys.sorted { a, b in
                let ia = catalog.instances[a.instanceId]!, ib = catalog.instances[b.instanceId]!
                let ca = catalog.types[ia.typeName]?.category ?? "unknown"
                let cb = catalog.types[ib.typeName]?.category ?? "unknown"
                if ca != cb {
                    let ra = InstanceType.categoryRank(ca), rb = InstanceType.categoryRank(cb)
                    return ra != rb ? ra < rb : ca < cb
                }
                if a.instanceId != b.instanceId { return a.instanceId < b.instanceId }
                return a.rate.effectiveFrom < b.rate.effectiveFrom
            }
            var lines: [InvoiceLine] = []
            for (n, key) in sortedKeys.enumerated() {
                let instance = catalog.instances[key.instanceId]!
                let daily = keyed[key]!
                let micros = daily.reduce(0, +)
                let seconds = settings.granularity.billableSeconds(ofMicroseconds: micros)
                lines.append(
                    InvoiceLine(
                        lineNumber: n + 1, instanceId: key.instanceId, instanceName: instance.name, typeName: instance.typeName,
                        category: catalog.types[instance.typeName]?.category ?? "unknown", image: instance.image, rate: key.rate,
                        meteredMicroseconds: micros, dailyMicroseconds: daily,
                        stateMicroseconds: lineStates[projectId]?[key] ?? [:], billableSeconds: seconds,
                        amount: Pricing.lineAmount(billableSeconds: seconds, rate: key.rate, currency: settings.currency,
                                                   rounding: settings.rounding)))
                lineNumbers[projectId, default: [:]][key] = n + 1
            }
            invoices.append(InvoiceContent(project: project, currency: settings.currency, lines: lines, vatRate: settings.vatRate,
                                           rounding: settings.rounding))
        }
        var rows = usage
        for i in rows.indices where rows[i].billable {
            if let rate = rows[i].rate {
                rows[i].lineNumber = lineNumbers[rows[i].projectId]?[LineKey(instanceId: rows[i].instanceId, rate: rate)]
            }
        }
        rows.sort { a, b in
            if a.projectId != b.projectId { return a.projectId < b.projectId }
            if a.instanceId != b.instanceId { return a.instanceId < b.instanceId }
            let fa = a.rate?.effectiveFrom.microseconds ?? Int64.min, fb = b.rate?.effectiveFrom.microseconds ?? Int64.min
            if fa != fb { return fa < fb }
            if a.state != b.state { return a.state < b.state }
            return (a.day ?? CivilDate(year: 0, month: 1, day: 1)) < (b.day ?? CivilDate(year: 0, month: 1, day: 1))
        }
        var counts = self.counts
        counts.usageRows = rows.count
        counts.invoices = invoices.count
        counts.invoiceLines = invoices.reduce(0) { $0 + $1.lines.count }
        return BillingResult(
            period: period, asOf: asOf, window: window, settings: settings, usage: rows, invoices: invoices,
            anomalies: anomalies.sorted(by: Anomaly.reportOrder), inputWatermark: watermark, counts: counts,
            ratesInForce: rateCard.versionsInForce(from: window.start, to: window.end), billableStates: catalog.billableStates, days: days)
    }
}

/// Microseconds as seconds in plain decimal, trailing zeros trimmed (`13019.75`).
public func formatSeconds(_ micros: Int64) -> String { formatScaledTrimmed(Int128(micros), scale: 6) }
