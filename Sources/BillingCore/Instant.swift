/// A point in time in UTC, counted in whole microseconds since 1970-01-01T00:00:00Z.
///
/// Microseconds are the precision PostgreSQL stores for `timestamptz`, so metering is
/// exact: no instant read from the database is ever rounded.
public struct Instant: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Microseconds since the Unix epoch (negative before 1970).
    public var microseconds: Int64

    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(seconds: Int64) { self.microseconds = seconds * Instant.microsecondsPerSecond }

    public static let microsecondsPerSecond: Int64 = 1_000_000

    /// PostgreSQL's earliest `timestamptz`, `4714-11-24 00:00:00+00 BC`.
    public static let postgresMinimum = Instant(microseconds: -210_866_803_200_000_000)
    /// The first instant an `Instant` cannot hold: `294247-01-01T00:00:00Z`. PostgreSQL
    /// stores later ones (up to year 294276), which bmbill reports as anomalies instead of
    /// reading; the readers keep them out with `SourceReader.placeable`.
    public static let representableEnd = Instant(microseconds: 9_223_371_244_800_000_000)

    public static func < (a: Instant, b: Instant) -> Bool { a.microseconds < b.microseconds }

    /// Whole seconds since the epoch, rounded towards negative infinity.
    public var flooredSeconds: Int64 {
        let (q, r) = microseconds.quotientAndRemainder(dividingBy: Instant.microsecondsPerSecond)
        return r < 0 ? q - 1 : q
    }

    /// Microseconds from `self` to `later` (negative when `later` is earlier).
    public func microseconds(until later: Instant) -> Int64 { later.microseconds - microseconds }

    public func adding(microseconds delta: Int64) -> Instant { Instant(microseconds: microseconds + delta) }

    /// ISO 8601 in UTC: `2026-10-01T00:00:00Z`, with six fractional digits only when
    /// the instant is not a whole second (`2026-10-14T23:40:00.250000Z`).
    public var iso8601: String {
        let (secs, micros) = floorDivMod(microseconds, Instant.microsecondsPerSecond)  // no overflow at Int64.min
        let (days, secOfDay) = floorDivMod(secs, 86_400)
        let civil = CivilDate(daysSinceEpoch: days)
        var s = civil.isoDate + "T" + pad2(secOfDay / 3600) + ":" + pad2(secOfDay / 60 % 60) + ":" + pad2(secOfDay % 60)
        if micros != 0 {
            let digits = String(micros)
            s += "." + String(repeating: "0", count: 6 - digits.count) + digits
        }
        return s + "Z"
    }

    public var description: String { iso8601 }

    /// The instant as PostgreSQL reads it back exactly: ISO 8601 in the common era, and
    /// `0044-03-15 00:00:00+00 BC` before it (PostgreSQL refuses ISO's negative years).
    public var postgresText: String {
        let (days, _) = floorDivMod(flooredSeconds, 86_400)
        let civil = CivilDate(daysSinceEpoch: days)
        guard civil.year <= 0 else { return iso8601 }
        let t = iso8601
        let time = t[t.index(after: t.firstIndex(of: "T")!)...].dropLast()  // HH:MM:SS[.ffffff]
        return pad4(1 - civil.year) + "-" + pad2(civil.month) + "-" + pad2(civil.day) + " " + time + "+00 BC"
    }

    /// Parses an ISO 8601 instant with an explicit offset: `2026-12-01T00:00:00Z`,
    /// `2026-12-01 09:00:00+09:00`, `2026-10-14T23:40:00.25Z`. A bare date or a time
    /// without an offset is refused: an instant must not depend on the machine's zone.
    public init?(iso8601 text: String) {
        var text = text
        guard let parsed = text.withUTF8({ Instant.parseISO8601($0) }) else { return nil }
        self = parsed
    }

    /// `YYYY-MM-DD`, `T` (or `t` or a space), `HH:MM:SS[.ffffff]`, then `Z` or `±HH[:MM]`.
    private static func parseISO8601(_ b: UnsafeBufferPointer<UInt8>) -> Instant? {
        guard b.count >= 10, let days = TimestampText.days(b, 0..<10, yearDigits: 4...4) else { return nil }
        guard b.count > 10, b[10] == 84 || b[10] == 116 || b[10] == 32 else { return nil }  // T, t or space
        guard let (seconds, micros, p0) = TimestampText.clock(b, 11..<b.count) else { return nil }
        var p = p0
        var offsetSeconds: Int64 = 0
        guard p < b.count else { return nil }
        if b[p] == 90 || b[p] == 122 {  // Z
            p += 1
        } else if b[p] == 43 || b[p] == 45 {  // + or -
            let sign: Int64 = b[p] == 45 ? -1 : 1
            p += 1
            guard let oh = TimestampText.digits(b, &p, b.count, 2...2) else { return nil }
            var om: Int64 = 0
            if TimestampText.expect(b, &p, b.count, 58) {
                guard let m = TimestampText.digits(b, &p, b.count, 2...2) else { return nil }
                om = m
            } else if let m = TimestampText.digits(b, &p, b.count, 2...2) {
                om = m
            }
            guard oh <= 23, om <= 59 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard p == b.count else { return nil }
        return TimestampText.instant(days: days, seconds: seconds, micros: micros, offsetSeconds: offsetSeconds)
    }
}

/// A calendar date in the proleptic Gregorian calendar, with no zone.
public struct CivilDate: Hashable, Comparable, Sendable {
    public var year: Int64
    public var month: Int64
    public var day: Int64

    public init(year: Int64, month: Int64, day: Int64) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func < (a: CivilDate, b: CivilDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    public var daysSinceEpoch: Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    public init(daysSinceEpoch days: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.init(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)
    }

    public static func isLeap(_ year: Int64) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    public static func daysIn(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The next calendar day.
    public var next: CivilDate {
        if day < CivilDate.daysIn(year: year, month: month) { return CivilDate(year: year, month: month, day: day + 1) }
        if month < 12 { return CivilDate(year: year, month: month + 1, day: 1) }
        return CivilDate(year: year + 1, month: 1, day: 1)
    }

    /// `YYYY-MM-DD`.
    public var isoDate: String { pad4(year) + "-" + pad2(month) + "-" + pad2(day) }
}

func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
    let (q, r) = a.quotientAndRemainder(dividingBy: b)
    return r < 0 ? (q - 1, r + b) : (q, r)
}

func pad2(_ v: Int64) -> String { v < 10 ? "0" + String(v) : String(v) }
/// At least four digits; a negative year (astronomical: 0 is 1 BC) as `-` and four digits.
func pad4(_ v: Int64) -> String {
    if v < 0 { return "-" + pad4(-v) }
    let s = String(v)
    return s.count >= 4 ? s : String(repeating: "0", count: 4 - s.count) + s
}
