/// The pieces of timestamp text that both readers share: `Instant(iso8601:)` (command lines,
/// settings, tests) and the COPY reader (every timestamp PostgreSQL sends). One date rule,
/// one clock rule, one overflow-checked sum.
public enum TimestampText {
    /// `YYYY-MM-DD` in `b[r]` (a year of `yearDigits` digits) as days since 1970-01-01; `bc`
    /// for a year before the common era (1 BC is astronomical year 0). Nil for anything else,
    /// and for year 0 when `refusingYearZero` (PostgreSQL writes 1 BC, never year 0).
    /// Nine year digits cannot overflow: ±10^9 years are about ±3.7 × 10^11 days.
    public static func days(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, yearDigits: ClosedRange<Int>, bc: Bool = false,
                            refusingYearZero: Bool = false) -> Int64? {
        var p = r.lowerBound
        guard var year = digits(b, &p, r.upperBound, yearDigits), dash(b, &p, r.upperBound), let month = digits(b, &p, r.upperBound, 2...2),
            dash(b, &p, r.upperBound), let day = digits(b, &p, r.upperBound, 2...2), p == r.upperBound
        else { return nil }
        guard !(refusingYearZero && year == 0) else { return nil }
        if bc { year = 1 - year }
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(year: year, month: month) else { return nil }
        return CivilDate(year: year, month: month, day: day).daysSinceEpoch
    }

    /// `HH:MM:SS[.f]` (one to six fraction digits) at the start of `b[r]`: the second of the
    /// day, the microseconds, and the index after it.
    public static func clock(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> (seconds: Int64, micros: Int64, end: Int)? {
        var p = r.lowerBound
        let end = r.upperBound
        guard let hour = digits(b, &p, end, 2...2), colon(b, &p, end), let minute = digits(b, &p, end, 2...2), colon(b, &p, end),
            let second = digits(b, &p, end, 2...2), hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var micros: Int64 = 0
        if p < end, b[p] == 0x2E {
            p += 1
            var n = 0
            while p < end, b[p] &- 48 < 10 {
                guard n < 6 else { return nil }  // finer than a microsecond: neither PostgreSQL nor bmbill stores it
                micros = micros * 10 + Int64(b[p] - 48)
                p += 1
                n += 1
            }
            guard n > 0 else { return nil }
            for _ in n..<6 { micros *= 10 }
        }
        return (hour * 3600 + minute * 60 + second, micros, p)
    }

    /// The instant at `seconds` and `micros` into day `days` of a clock `offsetSeconds` east
    /// of UTC; nil when it is not an Int64 of microseconds since 1970. Before 1970 the
    /// second's microseconds are counted down from the next second, so the earliest
    /// microsecond an Int64 holds (whose second alone does not fit) is read too.
    public static func instant(days: Int64, seconds secondOfDay: Int64, micros: Int64, offsetSeconds: Int64 = 0) -> Instant? {
        let (daySeconds, o1) = days.multipliedReportingOverflow(by: 86_400)
        let (local, o2) = daySeconds.addingReportingOverflow(secondOfDay)
        let (seconds, o3) = local.subtractingReportingOverflow(offsetSeconds)
        guard !o1, !o2, !o3 else { return nil }
        let (whole, o4) = seconds < 0 ? (seconds + 1).multipliedReportingOverflow(by: 1_000_000) : seconds.multipliedReportingOverflow(by: 1_000_000)
        let (total, o5) = whole.addingReportingOverflow(seconds < 0 ? micros - 1_000_000 : micros)
        guard !o4, !o5 else { return nil }
        return Instant(microseconds: total)
    }

    /// A decimal number of `count` digits at `p` (advanced past it).
    static func digits(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ end: Int, _ count: ClosedRange<Int>) -> Int64? {
        var v: Int64 = 0
        var n = 0
        while p < end, n < count.upperBound, b[p] &- 48 < 10 {
            v = v * 10 + Int64(b[p] - 48)
            p += 1
            n += 1
        }
        return n >= count.lowerBound ? v : nil
    }

    private static func dash(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ end: Int) -> Bool { expect(b, &p, end, 0x2D) }
    private static func colon(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ end: Int) -> Bool { expect(b, &p, end, 0x3A) }

    static func expect(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ end: Int, _ byte: UInt8) -> Bool {
        guard p < end, b[p] == byte else { return false }
        p += 1
        return true
    }
}
