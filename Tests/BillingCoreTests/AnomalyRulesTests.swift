import BillingCore
import Testing

/// billing-rules.md section 6: data problems are reported, never hidden.
@Suite("6. Data problems")
struct AnomalyRulesTests {
    @Test("6. An unknown state name is an error; its time is reported, not billed")
    func unknownState() {
        var w = World()
        w.instance("i-1")
        let e = w.change("i-1", "actve", at: "2026-10-31T14:00:00Z")
        let r = w.bill()
        let a = r.anomalies(.unknownState)
        #expect(a.count == 1)
        #expect(a[0].severity == .error)
        #expect(a[0].eventIds == [e])
        #expect(a[0].microseconds == 3_600_000_000)
        #expect(r.isIssuable == false)
    }

    @Test("6. Changes of an instance with no instances row are an error: no project to bill")
    func orphan() {
        var w = World()
        let e = w.change("i-ghost", "active", at: "2026-10-31T14:00:00Z")
        let r = w.bill()
        let a = r.anomalies(.orphanChange)
        #expect(a.count == 1 && a[0].severity == .error && a[0].eventIds == [e])
        #expect(a[0].microseconds == 3_600_000_000)
        #expect(r.invoices.isEmpty)
        #expect(r.isIssuable == false)
    }

    @Test("6. Duplicate changes at one instant are one warning, never a double charge")
    func duplicateInstant() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z", event: 21)
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z", event: 22)
        let r = w.bill()
        let a = r.anomalies(.duplicateInstant)
        #expect(a.count == 1 && a[0].severity == .warning && a[0].eventIds == [21, 22])
        #expect(r.billableMicros("i-1") == 3_600_000_000)
        #expect(r.isIssuable)
    }

    @Test("6. The duplicate-instant warning says which change holds: the last, or a deleted (final) before others",
          arguments: [
            (["active", "stopped"], "the last, stopped (event 2), holds"),
            (["active", " Deleted\u{00A0}"], "the last, deleted (event 2), holds"),
            (["deleted", "active", "stopped"], "deleted (event 1) holds: it is final, the later ones are not applied"),
          ])
    func duplicateInstantSaysWhatHolds(_ c: (states: [String], holds: String)) {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-05T00:00:00Z", event: 0)
        for (n, state) in c.states.enumerated() { w.change("i-1", state, at: "2026-10-10T00:00:00Z", event: Int64(n + 1)) }
        let r = w.bill()
        let a = r.anomalies(.duplicateInstant)
        #expect(a.count == 1 && a[0].detail.hasSuffix(c.holds), "\(a.map(\.detail))")
        // The time billed agrees with the words: five days, then whatever holds.
        let after: Int64 = c.holds.contains("stopped") ? 21 * 86_400 + 15 * 3600 : 0
        #expect(r.billableMicros("i-1") == (5 * 86_400 + after) * 1_000_000)
    }

    @Test("6. Changes all set aside at one instant (deleted earlier) say that none is applied")
    func duplicateInstantAfterDeleted() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-05T00:00:00Z", event: 1)
        w.change("i-1", "deleted", at: "2026-10-06T00:00:00Z", event: 2)
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z", event: 3)
        w.change("i-1", "stopped", at: "2026-10-10T00:00:00Z", event: 4)
        let a = w.bill().anomalies(.duplicateInstant)
        #expect(a.count == 1 && a[0].detail.hasSuffix("none is applied: the instance was deleted before"), "\(a.map(\.detail))")
    }

    @Test("6. Changes after deleted are a warning and are not applied")
    func afterDeleted() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        w.change("i-1", "deleted", at: "2026-10-10T01:00:00Z")
        let late = w.change("i-1", "active", at: "2026-10-11T00:00:00Z")
        let r = w.bill()
        #expect(r.anomalies(.changeAfterDeleted).map(\.eventIds) == [[late]])
        #expect(r.billableMicros("i-1") == 3_600_000_000)
        #expect(r.isIssuable)
    }

    @Test("6. Changes after deleted are caught when deleted came in an earlier period")
    func afterDeletedCarriedIn() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "deleted", at: "2026-09-10T00:00:00Z")
        w.change("i-1", "active", at: "2026-10-11T00:00:00Z")
        let r = w.bill()
        #expect(r.anomalies(.changeAfterDeleted).count == 1)
        #expect(r.billableMicros("i-1") == 0)
    }

    @Test("6. Changes after as_of are a warning; their time is not billed")
    func afterAsOf() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        let future = w.change("i-1", "stopped", at: "2026-10-25T00:00:00Z")
        let r = w.bill(asOf: "2026-10-20T00:00:00Z")
        #expect(r.anomalies(.changeAfterAsOf).map(\.eventIds) == [[future]])
        #expect(r.anomalies(.changeAfterAsOf)[0].severity == .warning)
        #expect(r.billableMicros("i-1") == 10 * 86_400 * 1_000_000)
    }

    @Test("6. Changes before the instance's created_at are a warning, billed as recorded")
    func beforeCreated() {
        var w = World()
        w.instance("i-1", created: "2026-10-10T00:00:00Z")
        let early = w.change("i-1", "active", at: "2026-10-09T23:00:00Z")
        w.change("i-1", "deleting", at: "2026-10-10T01:00:00Z")
        let r = w.bill()
        #expect(r.anomalies(.changeBeforeCreated).map(\.eventIds) == [[early]])
        #expect(r.billableMicros("i-1") == 2 * 3_600_000_000)
    }

    @Test("6. A Windows image on a type other than r2a.baremetal is a warning", arguments: [
        ("p2a.baremetal", "Windows 2022", 1), ("r2a.baremetal", "Windows 2019", 0), ("p1i.baremetal", "Ubuntu 22.04 (GPU)", 0),
    ])
    func windowsImage(type: String, image: String, warnings: Int) {
        var w = World()
        w.instance("i-1", type: type, image: image)
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        let r = w.bill()
        #expect(r.anomalies(.windowsImageOnType).count == warnings)
        #expect(r.anomalies(.windowsImageOnType).allSatisfy { $0.severity == .warning })
        #expect(r.isIssuable)
    }

    @Test("6. An error keeps the period's invoices from being issued; warnings do not")
    func errorsBlockIssue() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z", event: 1)
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z", event: 2)
        #expect(w.bill().isIssuable)
        w.change("i-ghost", "active", at: "2026-10-31T14:00:00Z")
        #expect(w.bill().isIssuable == false)
    }

    @Test("6. An instance of a type or project that is not on record is an error")
    func unknownTypeOrProject() {
        var w = World()
        w.instance("i-1", project: "prj-nobody", type: "x9.baremetal")
        w.rates.append(rate("x9.baremetal", "1"))
        w.change("i-1", "active", at: "2026-10-31T14:00:00Z")
        let r = w.bill()
        #expect(r.anomalies(.unknownInstanceType).count == 1)
        #expect(r.anomalies(.unknownProject).count == 1)
        #expect(r.isIssuable == false)
    }

    @Test("6. A long list of events is capped on one anomaly, and the rest are counted")
    func cappedEventIds() {
        var w = World()
        w.instance("i-1")
        for i in 0..<80 { w.change("i-1", "active", at: "2026-10-25T00:00:\(String(format: "%02d", i % 60)).\(i / 60)Z") }
        let a = w.bill(asOf: "2026-10-20T00:00:00Z").anomalies(.changeAfterAsOf)
        #expect(a.count == 1)
        #expect(a[0].eventIds.count == BillingEngine.eventIdsPerAnomaly)
        #expect(a[0].detail.contains("30 more events not listed"))
    }
}
