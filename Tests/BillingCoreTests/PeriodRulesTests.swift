import BillingCore
import Testing

/// billing-rules.md section 4: periods.
@Suite("4. Periods")
struct PeriodRulesTests {
    @Test("4. The default period is the calendar month in Asia/Seoul, as UTC instants")
    func seoulMonth() {
        #expect(october.start == t("2026-09-30T15:00:00Z"))
        #expect(october.end == t("2026-10-31T15:00:00Z"))
        #expect(BillingSettings().timeZone.identifier == "Asia/Seoul")
    }

    @Test("4. Any IANA zone works, DST included", arguments: [
        ("America/New_York", 2026, 11, "2026-11-01T04:00:00Z", "2026-12-01T05:00:00Z", Int64(30 * 24 + 1)),
        ("Europe/Berlin", 2026, 3, "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z", Int64(31 * 24 - 1)),
        ("UTC", 2028, 2, "2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z", Int64(29 * 24)),
        ("Australia/Lord_Howe", 2026, 4, "2026-03-31T13:00:00Z", "2026-04-30T13:30:00Z", Int64(30 * 24)),
    ])
    func zones(zone: String, year: Int64, month: Int64, start: String, end: String, hours: Int64) {
        let p = BillingPeriod(month: YearMonth(year: year, month: month)!, zone: BillingTimeZone(identifier: zone)!)
        #expect(p.start == t(start))
        #expect(p.end == t(end))
        if zone != "Australia/Lord_Howe" {  // Lord Howe shifts by half an hour
            #expect(p.start.microseconds(until: p.end) == hours * 3_600_000_000)
        }
    }

    @Test("4. A zone that skips midnight starts that day when the clocks jump")
    func midnightGap() {
        // Chile moves from -04 to -03 at 00:00 on 2026-09-06: that day begins at 01:00 local.
        let santiago = BillingTimeZone(identifier: "America/Santiago")!
        #expect(santiago.startOfDay(CivilDate(year: 2026, month: 9, day: 6)) == t("2026-09-06T04:00:00Z"))
        let days = BillingPeriod(month: YearMonth(year: 2026, month: 9)!, zone: santiago).days
        #expect(days.count == 30)
        #expect(days[5].window.durationMicroseconds == 23 * 3_600_000_000)
    }

    @Test("4. The days of a period cover it exactly, in order")
    func daysCoverPeriod() {
        let ny = BillingPeriod(month: YearMonth(year: 2026, month: 11)!, zone: BillingTimeZone(identifier: "America/New_York")!)
        let days = ny.days
        #expect(days.count == 30)
        #expect(days.first!.window.start == ny.start)
        #expect(days.last!.window.end == ny.end)
        for i in 1..<days.count { #expect(days[i].window.start == days[i - 1].window.end) }
        #expect(days[0].window.durationMicroseconds == 25 * 3_600_000_000)  // 1 Nov: clocks go back
    }

    @Test("4. A month that has not ended gives a draft; a month that has ended gives issued invoices")
    func draftOrIssued() {
        var w = World()
        w.instance("i-1")
        w.change("i-1", "active", at: "2026-10-10T00:00:00Z")
        #expect(w.bill(asOf: "2026-10-20T00:00:00Z").isIssuable == false)
        #expect(w.bill(asOf: "2026-10-31T15:00:00Z").isIssuable == true)
    }

    @Test("4. Periods and instants parse strictly")
    func parsing() {
        #expect(YearMonth(parsing: "2026-10") == YearMonth(year: 2026, month: 10))
        for bad in ["2026-13", "2026-1", "26-10", "2026/10", "2026-10-01", "", "2026-00"] { #expect(YearMonth(parsing: bad) == nil) }
        #expect(Instant(iso8601: "2026-12-01T09:00:00+09:00") == t("2026-12-01T00:00:00Z"))
        #expect(Instant(iso8601: "2026-10-14 23:40:00.25Z")!.iso8601 == "2026-10-14T23:40:00.250000Z")
        for bad in ["2026-12-01", "2026-12-01T00:00:00", "2026-02-30T00:00:00Z", "2026-12-01T24:00:00Z", "2026-12-01T00:00:00.1234567Z"] {
            #expect(Instant(iso8601: bad) == nil)
        }
        #expect(t("1969-12-31T23:59:59.5Z").microseconds == -500_000)
        #expect(t("1969-12-31T23:59:59.5Z").iso8601 == "1969-12-31T23:59:59.500000Z")
        #expect(BillingTimeZone(identifier: "KST") == nil)
        #expect(BillingTimeZone(identifier: "Mars/Olympus") == nil)
    }
}
