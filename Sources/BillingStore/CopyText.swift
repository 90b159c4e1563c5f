import BillingCore
import PostgresClient

/// PostgreSQL's COPY text format: tab-separated, `\N` for NULL, backslash escapes.
///
/// Rows to `COPY ... FROM STDIN` are made by `row`; rows of `COPY ... TO STDOUT` are read
/// straight from libpq's buffer: fields split at tabs, escapes undone only where there are
/// any, numbers and timestamps parsed from the bytes without making strings.
enum CopyText {
    /// One row to send, its fields escaped and NULLs written `\N`.
    static func row(_ fields: [String?]) -> String {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        for (i, f) in fields.enumerated() {
            if i > 0 { line.append(0x09) }
            guard let f else {
                line.append(0x5C)
                line.append(UInt8(ascii: "N"))
                continue
            }
            for b in f.utf8 {
                switch b {
                case 0x5C: line += [0x5C, 0x5C]
                case 0x09: line += [0x5C, UInt8(ascii: "t")]
                case 0x0A: line += [0x5C, UInt8(ascii: "n")]
                case 0x0D: line += [0x5C, UInt8(ascii: "r")]
                default: line.append(b)
                }
            }
        }
        line.append(0x0A)
        return String(decoding: line, as: UTF8.self)
    }

    /// The fields of one row (without its newline), as ranges of `row`.
    static func split(_ row: UnsafeBufferPointer<UInt8>, into fields: inout [Range<Int>]) {
        fields.removeAll(keepingCapacity: true)
        var end = row.count
        if end > 0, row[end - 1] == 0x0A { end -= 1 }
        var start = 0
        var i = 0
        while i < end {
            if row[i] == 0x09 {
                fields.append(start..<i)
                start = i + 1
            }
            i += 1
        }
        fields.append(start..<end)
    }

    /// A text field as a string, its escapes (`\t`, `\\`, `\123` …) undone.
    static func string(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
        let slice = UnsafeBufferPointer(rebasing: row[r])
        guard slice.contains(0x5C) else { return String(decoding: slice, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(slice.count)
        var i = 0
        while i < slice.count {
            let b = slice[i]
            guard b == 0x5C, i + 1 < slice.count else {
                out.append(b)
                i += 1
                continue
            }
            let c = slice[i + 1]
            i += 2
            switch c {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "v"): out.append(0x0B)
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                var v = Int(c - 48)
                var n = 1
                while n < 3, i < slice.count, (48...55).contains(slice[i]) {
                    v = v * 8 + Int(slice[i] - 48)
                    i += 1
                    n += 1
                }
                out.append(UInt8(truncatingIfNeeded: v))
            case UInt8(ascii: "x"):
                var v = 0
                var n = 0
                while n < 2, i < slice.count, let h = hexValue(slice[i]) {
                    v = v * 16 + h
                    i += 1
                    n += 1
                }
                // `\x` with no hex digit is an `x`, as PostgreSQL reads it.
                out.append(n == 0 ? c : UInt8(v))
            default: out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: return Int(b - 48)
        case 65...70: return Int(b - 55)
        case 97...102: return Int(b - 87)
        default: return nil
        }
    }

    /// True when the field holds exactly `bytes` (no escapes).
    static func equals(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ bytes: [UInt8]) -> Bool {
        guard r.count == bytes.count else { return false }
        return bytes.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                if row[r.lowerBound + i] != b[i] { return false }
                i += 1
            }
            return true
        }
    }

    /// A decimal integer field.
    static func int64(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int64? { parseInt64(UnsafeBufferPointer(rebasing: row[r])) }

    /// A `timestamptz` as PostgreSQL writes it with `DateStyle = ISO` and `TimeZone = UTC`:
    /// `2026-10-01 00:00:00+00`, `2026-10-01 00:00:00.25+00`, `12345-01-01 00:00:00+00`,
    /// `0044-03-15 00:00:00+00 BC`. Nil for anything else, and for an instant outside
    /// `Instant`'s range (microseconds in an Int64, from 290309-12-21 19:59:05.224192 BC
    /// to 294247-01-10 04:00:54.775807), which PostgreSQL's reaches past at both ends.
    ///
    /// `cache` keeps the last date read and its day number: an instance's changes mostly
    /// fall on few days, so most timestamps skip the calendar arithmetic.
    static func timestamp(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, cache: inout DateCache) -> Instant? {
        var end = r.upperBound
        let bc = r.count > 3 && row[end - 3] == 0x20 && row[end - 2] == 0x42 && row[end - 1] == 0x43  // " BC"
        if bc { end -= 3 }
        guard let space = (r.lowerBound..<end).first(where: { row[$0] == 0x20 }) else { return nil }
        let days: Int64
        if !bc && space - r.lowerBound == 10 {
            let base = UnsafeRawPointer(row.baseAddress! + r.lowerBound)
            let key = (base.loadUnaligned(as: UInt64.self), base.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
            if cache.valid && key == cache.bytes {
                days = cache.days
            } else {
                guard let d = date(row, r.lowerBound..<space, bc: false) else { return nil }
                cache = DateCache(bytes: key, days: d, valid: true)
                days = d
            }
        } else {
            guard let d = date(row, r.lowerBound..<space, bc: bc) else { return nil }
            days = d
        }
        return clock(row, (space + 1)..<end, days: days)
    }

    /// The last date part read and its day number (see `timestamp`).
    struct DateCache {
        var bytes: (UInt64, UInt16) = (0, 0)
        var days: Int64 = 0
        var valid = false
    }

    /// `YYYY-MM-DD` (four to nine year digits, not year 0) as days since 1970-01-01; `bc` for
    /// a year before the common era.
    private static func date(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, bc: Bool) -> Int64? {
        TimestampText.days(row, r, yearDigits: 4...9, bc: bc, refusingYearZero: true)
    }

    /// `HH:MM:SS[.ffffff]+00` on day `days`; nil when the instant is not an Int64 of
    /// microseconds.
    private static func clock(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, days: Int64) -> Instant? {
        guard let (seconds, micros, p) = TimestampText.clock(row, r) else { return nil }
        // "+00": the reading session is in UTC.
        guard r.upperBound - p == 3, row[p] == 0x2B, row[p + 1] == 0x30, row[p + 2] == 0x30 else { return nil }
        return TimestampText.instant(days: days, seconds: seconds, micros: micros)
    }
}
