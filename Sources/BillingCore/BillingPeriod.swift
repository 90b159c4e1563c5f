import Foundation

/// A calendar month, written `YYYY-MM`.
public struct YearMonth: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int64
    public let month: Int64

    public init?(year: Int64, month: Int64) {
        guard (1...12).contains(month), (1...9999).contains(year) else { return nil }
        self.init(unchecked: year, month: month)
    }

    /// For `next` and `previous`, which may step one month outside years 1 to 9999.
    fileprivate init(unchecked year: Int64, month: Int64) {
        self.year = year
        self.month = month
    }

    /// The periods bmbill bills: 1970-01 to 9999-12. Earlier months have no use in a
    /// cloud's books (and PostgreSQL has no year 0 for their neighbours); later ones cannot
    /// be written `YYYY-MM`. Commands refuse others with a usage error.
    public static let billable = YearMonth(unchecked: 1970, month: 1)...YearMonth(unchecked: 9999, month: 12)

    /// Parses exactly `YYYY-MM` (four-digit year, two-digit month 01 to 12).
    public init?(parsing text: String) {
        let b = Array(text.utf8)
        guard b.count == 7, b[4] == 45, b.enumerated().allSatisfy({ $0.offset == 4 || ($0.element >= 48 && $0.element <= 57) })
        else { return nil }
        let y = b[0..<4].reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
        let m = b[5..<7].reduce(Int64(0)) { $0 * 10 + Int64($1 - 48) }
        self.init(year: y, month: m)
    }

    public static func < (a: YearMonth, b: YearMonth) -> Bool { (a.year, a.month) < (b.year, b.month) }

    /// The month after; 9999-12 is followed by 10000-01 (the end of the last billable period).
    public var next: YearMonth { month == 12 ? YearMonth(unchecked: year + 1, month: 1) : YearMonth(unchecked: year, month: month + 1) }
    public var previous: YearMonth { month == 1 ? YearMonth(unchecked: year - 1, month: 12) : YearMonth(unchecked: year, month: month - 1) }
    public var firstDay: CivilDate { CivilDate(year: year, month: month, day: 1) }
    public var description: String { pad4(year) + "-" + pad2(month) }
}

/// The billing time zone: an IANA zone (`Asia/Seoul`, `America/New_York`) that turns
/// local calendar days and months into UTC instants, daylight-saving changes included.
public struct BillingTimeZone: Sendable, Hashable, CustomStringConvertible {
    public let identifier: String
    private let zone: TimeZone

    /// Nil when the zone database does not know `identifier`. Abbreviations such as
    /// `KST` and bare offsets are refused: only IANA names pin down DST rules.
    public init?(identifier: String) {
        guard identifier.contains("/") || identifier == "UTC" || identifier == "Etc/UTC",
            let zone = TimeZone(identifier: identifier)
        else { return nil }
        self.identifier = identifier
        self.zone = zone
    }

    public var description: String { identifier }

    /// Seconds east of UTC in force at `instant`.
    public func utcOffsetSeconds(at instant: Instant) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant.flooredSeconds))))
    }

    /// The first instant of local day `date`: its 00:00, or, where the zone skips
    /// midnight (a DST change at 00:00), the first local time that exists that day.
    public func startOfDay(_ date: CivilDate) -> Instant {
        let wall = date.daysSinceEpoch * 86_400  // local midnight read as if it were UTC
        // The offsets in force a day either side bracket any transition near midnight.
        let before = utcOffsetSeconds(at: Instant(seconds: wall - 86_400 - 14 * 3600))
        let after = utcOffsetSeconds(at: Instant(seconds: wall + 86_400 + 14 * 3600))
        var candidates: [Int64] = []
        for offset in [before, after] where utcOffsetSeconds(at: Instant(seconds: wall - offset)) == offset {
            candidates.append(wall - offset)
        }
        if let earliest = candidates.min() { return Instant(seconds: earliest) }
        // Midnight falls in a gap: the day starts when the clocks jump, which is the
        // UTC instant midnight would have had under the offset before the change.
        return Instant(seconds: wall - min(before, after))
    }

    /// The local calendar date that `instant` falls on.
    public func localDate(of instant: Instant) -> CivilDate {
        let local = instant.flooredSeconds + utcOffsetSeconds(at: instant)
        return CivilDate(daysSinceEpoch: floorDivMod(local, 86_400).0)
    }
}

/// A billing period: one calendar month in the billing zone, as the half-open UTC
/// interval `[start, end)` between its first local midnight and the next month's.
public struct BillingPeriod: Hashable, Sendable, CustomStringConvertible {
    public let month: YearMonth
    public let zone: BillingTimeZone
    public let start: Instant
    public let end: Instant

    public init(month: YearMonth, zone: BillingTimeZone) {
        self.month = month
        self.zone = zone
        self.start = zone.startOfDay(month.firstDay)
        self.end = zone.startOfDay(month.next.firstDay)
    }

    /// The period that contains `instant` in `zone`.
    public init(containing instant: Instant, zone: BillingTimeZone) {
        let date = zone.localDate(of: instant)
        self.init(month: YearMonth(unchecked: date.year, month: date.month), zone: zone)
    }

    public var description: String { month.description }

    /// The instants that are billed when the run looks at the world as of `asOf`:
    /// `[start, min(end, asOf))`, or nil when the period has not started by then.
    public func window(asOf: Instant) -> BillingWindow? {
        let end = min(self.end, asOf)
        guard start < end else { return nil }
        return BillingWindow(start: start, end: end)
    }

    /// True when the whole period lies before `asOf`: its invoices can be issued.
    public func hasEnded(asOf: Instant) -> Bool { end <= asOf }

    /// The local days of the period, each as its UTC window, in order. Their union is
    /// exactly the period (days are 23 or 25 hours long on DST changes).
    public var days: [(date: CivilDate, window: BillingWindow)] {
        var result: [(CivilDate, BillingWindow)] = []
        var date = month.firstDay
        var from = start
        while from < end {
            let nextDate = date.next
            let to = min(zone.startOfDay(nextDate), end)
            result.append((date, BillingWindow(start: from, end: to)))
            date = nextDate
            from = to
        }
        return result
    }
}

/// One local calendar day of a billing window, as its UTC interval.
public struct BillingDay: Hashable, Sendable {
    public let date: CivilDate
    public let window: BillingWindow

    public init(date: CivilDate, window: BillingWindow) {
        self.date = date
        self.window = window
    }
}

/// A half-open UTC interval `[start, end)` of instants that a run bills.
public struct BillingWindow: Hashable, Sendable {
    public let start: Instant
    public let end: Instant

    public init(start: Instant, end: Instant) {
        precondition(start <= end, "window ends before it starts")
        self.start = start
        self.end = end
    }

    /// Microseconds of `[from, to)` that lie inside the window (0 when disjoint).
    public func overlapMicroseconds(from: Instant, to: Instant) -> Int64 {
        let a = max(from, start)
        let b = min(to, end)
        return a < b ? a.microseconds(until: b) : 0
    }

    public var durationMicroseconds: Int64 { start.microseconds(until: end) }

    /// True when a source row's effective range `[from, to)` (`to` nil: open), read either
    /// way round (a row that ends before it starts is reported, so it must be found), has an
    /// instant in the window: whether a discount, cap or budget row concerns a run.
    public func isReached(from: Instant, to: Instant?) -> Bool {
        let lo = min(from, to ?? from), hi = to.map { max($0, from) }
        return lo < end && (hi.map { $0 > start } ?? true)
    }
}
