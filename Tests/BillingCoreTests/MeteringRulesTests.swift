import BillingCore
import Testing

/// billing-rules.md section 1: what is billed.
@Suite("1. What is billed")
struct MeteringRulesTests {
    @Test("1. The state at t is the latest change with changed_at <= t; changes at one instant apply in event_id order")
    func latestChangeHolds() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-05T00:00:00Z", event: 10)
        // Two changes at one instant, recorded out of order: event 12 (stopped) is applied after 11 (error).
        w.change("i-1", "stopped", at: "2026-10-06T00:00:00Z", event: 12)
        w.change("i-1", "error", at: "2026-10-06T00:00:00Z", event: 11)
        w.change("i-1", "deleting", at: "2026-10-07T00:00:00Z", event: 13)
        let r = w.bill()
        // active 1 day + stopped (billed) 1 day; the error at the same instant lasts 0 s.
        #expect(r.billableMicros("i-1") == 2 * 86_400 * 1_000_000)
        #expect(r.usage.contains { $0.state == "error" } == false)
    }

    @Test("1. Before its first change an instance has no state and is not billed")
    func nothingBeforeFirstChange() {
        var w = World()
        w.instance("i-1", created: "2026-09-01T00:00:00Z")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        #expect(w.bill().billableMicros("i-1") == 3600 * 1_000_000)
    }

    @Test("1. The state carried in from before the period holds from period_start")
    func carriedInState() {
        var w = World()
        w.instance("i-1", created: "2026-08-01T00:00:00Z")
        w.change("i-1", "active", at: "2026-08-01T00:00:00Z")
        let r = w.bill()
        #expect(r.billableMicros("i-1") == october.start.microseconds(until: october.end))
    }

    @Test("1. Intervals are half-open [changed_at, next) and clipped to [period_start, min(period_end, as_of))")
    func clippingToWindow() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-09-30T14:00:00Z")  // an hour before the period
        let r = w.bill(asOf: "2026-10-01T15:00:00Z")  // one day into the period
        #expect(r.window.start == t("2026-09-30T15:00:00Z"))
        #expect(r.window.end == t("2026-10-01T15:00:00Z"))
        #expect(r.billableMicros("i-1") == 86_400 * 1_000_000)
    }

    @Test("1. Time after as_of is never billed")
    func nothingAfterAsOf() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        let asOf = "2026-10-10T00:00:01.5Z"
        #expect(w.bill(asOf: asOf).billableMicros("i-1") == 1_500_000)
    }

    @Test("1. Billable states follow the seed's table", arguments: [
        ("spawning", false), ("active", true), ("stopped", true), ("rebuild_spawning", true), ("rebooting_hard", true),
        ("rebooting_started_hard", true), ("powering-off", true), ("powering-on", true), ("error", false), ("deleting", false),
        ("shelved_offloaded", false), ("deleted", false),
    ])
    func billableStateTable(state: String, billed: Bool) {
        var w = World()
        w.instance("i-1")
        w.change("i-1", state, at: "2026-10-10T00:00:00Z")
        w.change("i-1", "deleting", at: "2026-10-10T01:00:00Z")
        let r = w.bill()
        #expect(r.billableMicros("i-1") == (billed ? 3600 * 1_000_000 : 0))
        #expect(r.hasErrors == false)
    }

    @Test("1. The billable-state table is data: an operator's change applies without a release")
    func tableIsData() {
        var w = World()
        w.states = BillableStateTable(["active": true, "stopped": false])
        w.instance("i-1")
        w.change("i-1", "stopped", at: "2026-10-10T00:00:00Z")
        #expect(w.bill().billableMicros("i-1") == 0)
    }

    @Test("1. Canonical state names: every Unicode white space trimmed (the White_Space property, all 25), ASCII lowered, nothing else")
    func canonicalRule() {
        let all = (0...0x10FFFF).compactMap { Unicode.Scalar(UInt32($0)) }.filter { $0.properties.isWhitespace }
        #expect(Set(all) == BillableStateTable.whiteSpace && all.count == 25)
        for ws in all {
            let p = String(Character(ws))
            #expect(BillableStateTable.canonical(p + "DELETED" + p + p) == "deleted")
            #expect(BillableStateTable.canonical("Act" + p + "ive") == "act" + p + "ive")  // inside: kept
        }
        // Not white space: kept. Non-ASCII letters: never lowered (PostgreSQL's lower()
        // follows the collation; bmbill_canonical_state and this rule do not).
        #expect(BillableStateTable.canonical("\u{200B}deleted") == "\u{200B}deleted")
        #expect(BillableStateTable.canonical("ÄCTIVE") == "Äctive")
        #expect(BillableStateTable.canonical("\u{212A}") == "\u{212A}")
        #expect(BillableStateTable.canonical(" \u{3000} ") == "")
    }

    @Test("1. State names match case-insensitively", arguments: ["Active", "ACTIVE", "active", " Active "])
    func caseInsensitiveStates(name: String) {
        var w = World()
        w.instance("i-1")
        w.change("i-1", name, at: "2026-10-31T14:00:00Z")
        let r = w.bill()
        #expect(r.billableMicros("i-1") == 3600 * 1_000_000)
        #expect(r.anomalies(.unknownState).isEmpty)
    }

    @Test("1. Metering is exact to the microsecond")
    func microsecondExact() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:59:59.999999Z")
        let r = w.bill()
        #expect(r.billableMicros("i-1") == 1)
        #expect(r.invoice("prj-a")!.lines[0].billableSeconds == 1)  // rounded up to one second, once
    }

    @Test("1. Granularity rounds each line's exact duration up to a whole unit, once", arguments: [
        (Granularity.second, Int64(3601)), (Granularity.minute, Int64(3660)), (Granularity.hour, Int64(7200)),
    ])
    func granularity(unit: Granularity, expected: Int64) {
        var w = World()
        w.settings.granularity = unit
        w.instance("i-1")
        // Two intervals of 1800.25 s on one line: rounded once (3600.5 s -> one unit up), not per interval.
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        w.change("i-1", "error", at: "2026-10-10T00:30:00.25Z")
        w.change("i-1", "active", at: "2026-10-11T00:00:00Z")
        w.change("i-1", "deleting", at: "2026-10-11T00:30:00.25Z")
        let line = w.bill().invoice("prj-a")!.lines[0]
        #expect(line.meteredMicroseconds == 3_600_500_000)
        #expect(line.billableSeconds == expected)
    }

    @Test("1. Usage reports show the exact metered seconds, not the rounded ones")
    func usageIsExact() {
        var w = World()
        w.settings.granularity = .hour
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        w.change("i-1", "deleting", at: "2026-10-10T00:00:00.25Z")
        let r = w.bill()
        #expect(r.usage.first { $0.state == "active" }!.microseconds == 250_000)
        #expect(r.invoice("prj-a")!.lines[0].billableSeconds == 3600)
    }
}
