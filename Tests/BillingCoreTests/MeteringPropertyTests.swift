import Foundation
import BillingCore
import PropertyBased
import Testing

/// Invariants of metering, checked on random timelines.
@Suite("Metering invariants (property-based)")
struct MeteringPropertyTests {
    static let states = ["spawning", "active", "stopped", "powering-off", "powering-on", "error", "rebuild_spawning", "deleting"]
    static let zones = ["Asia/Seoul", "America/New_York", "Europe/Berlin", "America/Santiago", "Australia/Lord_Howe"]

    /// A random timeline of `steps` changes starting before the period and running past it.
    static func timeline(_ steps: [(Int, Int)], period: BillingPeriod) -> [StateChange] {
        var at = period.start.adding(microseconds: -86_400_000_000)
        return steps.enumerated().map { n, step in
            at = at.adding(microseconds: Int64(step.0) * 1_000_003 + Int64(step.0 % 7))  // odd microseconds on purpose
            return StateChange(eventId: Int64(n + 1), state: states[step.1 % states.count], changedAt: at, recordedAt: at)
        }
    }

    static let stepGen = zip(Gen.int(in: 0...200_000), Gen.int(in: 0...20)).array(of: 1...80)

    @Test("StateTimeline's intervals, states and set-aside changes are those of a plain walk of the changes (names in any case, deleted, one instant)")
    func timelineEqualsPlainWalk() async {
        let names = ["active", "Active", " active", "stopped", "STOPPED\t", "error", "deleted", "Deleted ", "spawning", "rebooting_started_hard",
                     "Rebooting_Started_Hard", "no-such-state"]
        await propertyCheck(count: 300, input: zip(Gen.int(in: 0...3), Gen.int(in: 0...(names.count - 1))).array(of: 0...40)) { steps in
            var at = october.start
            var changes: [StateChange] = []
            for (n, step) in steps.enumerated() {
                at = at.adding(microseconds: Int64(step.0) * 3_600_000_000)  // 0: the same instant as the change before
                changes.append(StateChange(eventId: Int64(n * 7919 % 1000), state: names[step.1], changedAt: at, recordedAt: at))
            }
            // The rules, walked plainly: in (instant, event id) order, up to and with the first deleted.
            let ordered = changes.sorted { ($0.changedAt, $0.eventId) < ($1.changedAt, $1.eventId) }
            let canonical = ordered.map { $0.state.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
            let applied = (canonical.firstIndex(of: "deleted") ?? (ordered.count - 1)) + 1
            var states: [String] = []
            for s in canonical.prefix(applied) where !states.contains(s) { states.append(s) }
            let tl = StateTimeline(changes: changes.shuffled())
            #expect(tl.states == states)
            #expect(tl.intervals.count == applied)
            for (i, interval) in tl.intervals.enumerated() {
                #expect(interval.from == ordered[i].changedAt && interval.eventId == ordered[i].eventId)
                #expect(interval.to == (i + 1 < applied ? ordered[i + 1].changedAt : nil))
                #expect(tl.state(of: interval) == canonical[i] && interval.stateIndex == states.firstIndex(of: canonical[i]))
            }
            #expect(tl.setAsideAfterDeleted == Array(ordered.dropFirst(applied)))
        }
    }

    @Test("A month's billable seconds equal the sum of its days'")
    func monthEqualsSumOfDays() async {
        await propertyCheck(count: 150, input: Self.stepGen, Gen.int(in: 0...4), Gen.int(in: 1...12)) { steps, z, m in
            let period = BillingPeriod(month: YearMonth(year: 2026, month: Int64(m))!, zone: BillingTimeZone(identifier: Self.zones[z])!)
            let tl = StateTimeline(changes: Self.timeline(steps, period: period))
            let whole = tl.billableMicroseconds(in: period.window(asOf: period.end)!, table: .seed)
            let days = period.days.reduce(Int64(0)) { $0 + tl.billableMicroseconds(in: $1.window, table: .seed) }
            #expect(whole == days)
        }
    }

    @Test("A split at a rate change keeps every microsecond")
    func splitKeepsEverySecond() async {
        await propertyCheck(count: 200, input: Gen.int(in: 0...2_000_000), Gen.int(in: 0...2_000_000), Gen.int(in: 0...3_000_000).array(of: 0...4)) {
            a, b, cuts in
            let base = october.start.microseconds
            let from = Instant(microseconds: base + Int64(min(a, b)) * 1_000_000 + 17)
            let to = Instant(microseconds: base + Int64(max(a, b)) * 1_000_000 + 17)
            // Rate versions cut at sorted, distinct points; there may be gaps between them.
            let points = Array(Set(cuts)).sorted().map { Instant(microseconds: base + Int64($0) * 1_000_000) }
            var versions: [RateVersion] = []
            for (i, p) in points.enumerated() where i % 2 == 0 {
                let end = i + 1 < points.count ? points[i + 1] : nil
                versions.append(RateVersion(typeName: "x", currency: "KRW", hourlyRate: ExactDecimal(units: Int128(i + 1), scale: 0),
                                            effectiveFrom: p, effectiveTo: end))
            }
            let card = RateCard(rates: versions, currency: .krw)
            let pieces = card.segments(of: "x", from: from, to: to)
            #expect(pieces.reduce(Int64(0)) { $0 + $1.from.microseconds(until: $1.to) } == from.microseconds(until: to))
            for i in pieces.indices.dropFirst() { #expect(pieces[i].from == pieces[i - 1].to) }
            if let first = pieces.first { #expect(first.from == from) }
            if let last = pieces.last { #expect(last.to == to) }
        }
    }

    @Test("No instant is billed twice: clipped intervals are disjoint, ordered and inside the window")
    func noInstantTwice() async {
        await propertyCheck(count: 200, input: Self.stepGen, Gen.int(in: 0...40)) { steps, asOfDays in
            let changes = Self.timeline(steps, period: october)
            let tl = StateTimeline(changes: changes.shuffled())  // order of arrival must not matter
            let window = october.window(asOf: october.start.adding(microseconds: Int64(asOfDays) * 86_400_000_000 + 1))!
            let clipped = tl.clipped(to: window)
            for i in clipped.indices {
                #expect(clipped[i].from < clipped[i].to!)
                #expect(clipped[i].from >= window.start && clipped[i].to! <= window.end)
                if i > 0 { #expect(clipped[i].from >= clipped[i - 1].to!) }
            }
            let total = clipped.reduce(Int64(0)) { $0 + $1.from.microseconds(until: $1.to!) }
            #expect(total <= window.durationMicroseconds)
        }
    }

    @Test("Invoice totals equal the sum of their lines, and usage seconds the lines' metered seconds")
    func totalsAgree() async {
        await propertyCheck(count: 60, input: Self.stepGen) { steps in
            var w = World()
            w.rates = [rate("r2a.baremetal", "9876.543210", to: "2026-10-15T03:17:00Z"), rate("r2a.baremetal", "12345.6789", from: "2026-10-15T03:17:00Z")]
            w.instance("i-1")
            for c in Self.timeline(steps, period: october) { w.changes["i-1", default: []].append(c) }
            let r = w.bill()
            for inv in r.invoices {
                #expect(inv.subtotal == inv.lines.reduce(0) { $0 + $1.amount })
                for line in inv.lines {
                    let usage = r.usage.filter { $0.lineNumber == line.lineNumber && $0.projectId == inv.project.id }
                    #expect(usage.reduce(Int64(0)) { $0 + $1.microseconds } == line.meteredMicroseconds)
                }
            }
        }
    }

    @Test("The engine bills what the simple StateTimeline reference says, per rate version, on random timelines, rate changes and zones")
    func engineEqualsReference() async {
        await propertyCheck(count: 150, input: Self.stepGen, Gen.int(in: 0...3_000_000).array(of: 0...4), Gen.int(in: 0...40), Gen.int(in: 0...4)) {
            steps, cuts, asOfDays, z in
            let period = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: BillingTimeZone(identifier: Self.zones[z])!)
            // Versions with no gaps (all time priced), cut at random instants around the period.
            let base = period.start.microseconds - 86_400_000_000
            let points = Array(Set(cuts)).sorted().map { Instant(microseconds: base + Int64($0) * 1_000_000 + 3) }
            var bounds = [t("2020-01-01T00:00:00Z")] + points
            var versions: [RateVersion] = []
            for k in bounds.indices {
                versions.append(RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(units: Int128(k + 1) * 1000, scale: 0),
                                            effectiveFrom: bounds[k], effectiveTo: k + 1 < bounds.count ? bounds[k + 1] : nil))
            }
            bounds.append(Instant(microseconds: Int64.max))
            var w = World()
            w.rates = versions
            w.instance("i-1")
            let changes = Self.timeline(steps, period: period)
            w.changes["i-1"] = changes
            let asOf = period.start.adding(microseconds: Int64(asOfDays) * 86_400_000_000 + 1)
            let r = w.bill(period, asOf: asOf.iso8601)
            let window = period.window(asOf: asOf)!
            let reference = StateTimeline(changes: changes)
            let lines = r.invoices.flatMap(\.lines)
            #expect(lines.reduce(Int64(0)) { $0 + $1.meteredMicroseconds } == reference.billableMicroseconds(in: window, table: .seed))
            // Each line holds exactly the reference's billable time under its version.
            for k in versions.indices {
                let from = max(bounds[k], window.start), to = min(bounds[k + 1], window.end)
                let want = from < to ? reference.billableMicroseconds(in: BillingWindow(start: from, end: to), table: .seed) : 0
                let got = lines.filter { $0.rate.effectiveFrom == versions[k].effectiveFrom }.reduce(Int64(0)) { $0 + $1.meteredMicroseconds }
                #expect(got == want, "version \(k)")
            }
        }
    }
}
