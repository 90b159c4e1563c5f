import Foundation
import BillingCore
@testable import BillingStore
import Testing

/// The COPY text parser that reads `instance_state_changes` from libpq's buffer: total (no
/// input crashes it) and exact over everything PostgreSQL sends. The expected values are
/// worked out apart from the parser (see each test) and were checked once against
/// PostgreSQL 15's `extract(epoch FROM …)`.
@Suite("COPY text parsing")
struct CopyTextTests {
    func timestamp(_ text: String) -> Instant? {
        var cache = CopyText.DateCache()
        return Array(text.utf8).withUnsafeBufferPointer { CopyText.timestamp($0, 0..<$0.count, cache: &cache) }
    }

    func micros(_ text: String) -> Int64? { timestamp(text)?.microseconds }

    func parse(_ row: String) throws -> (instanceId: String, change: StateChange) {
        var parser = ChangeRowParser(context: "a test")
        return try Array(row.utf8).withUnsafeBufferPointer { try parser.parse($0) }
    }

    func fields(_ row: String) -> [String] {
        Array(row.utf8).withUnsafeBufferPointer { buffer in
            var ranges: [Range<Int>] = []
            CopyText.split(buffer, into: &ranges)
            return ranges.map { CopyText.string(buffer, $0) }
        }
    }

    @Test("The last microsecond an Int64 holds parses; the next one, and PostgreSQL's own last, are nil")
    func int64Ceiling() {
        #expect(micros("294247-01-10 04:00:54.775807+00") == Int64.max)
        #expect(micros("294247-01-10 04:00:54.775808+00") == nil)
        #expect(micros("294247-01-10 04:00:55+00") == nil)
        #expect(micros("294276-12-31 23:59:59.999999+00") == nil)
        #expect(micros("999999999-12-31 23:59:59.999999+00") == nil)
    }

    @Test("The red team's row (recorded_at 294247-02-01, past Int64) is an error naming the row, not a crash")
    func redTeamRow() {
        #expect(micros("294247-02-01 00:00:00+00") == nil)
        #expect {
            try parse("i-4\tactive\t2026-10-01 00:00:00+00\t9\t294247-02-01 00:00:00+00\n")
        } throws: { error in
            "\(error)".contains("recorded_at is not a timestamp bmbill can read") && "\(error)".contains("i-4\tactive")
        }
    }

    @Test("The first microsecond an Int64 holds parses, though its second alone does not fit; the one before is nil")
    func int64Floor() {
        // Int64.min µs is day -106 751 992 at 71 945.224192 s (19:59:05.224192); that day
        // is 290309-12-21 BC, found by shifting whole 400-year cycles into Python's datetime.
        #expect(micros("290309-12-21 19:59:05.224192+00 BC") == Int64.min)
        #expect(micros("290309-12-21 19:59:05.224191+00 BC") == nil)
        #expect(micros("290309-12-21 19:59:05.224193+00 BC") == Int64.min + 1)
        #expect(micros("999999999-01-01 00:00:00+00 BC") == nil)
    }

    @Test("PostgreSQL's first instant, 4714-11-24 BC, and landmarks read exactly")
    func landmarks() {
        // Typed: inside #expect, an untyped product of literals compared with an Int64? is
        // reported unequal even when equal (seen with swift-testing in Swift 6.3).
        let second: Int64 = 1_000_000, day = 86_400 * second
        // Julian day 0 began at noon of 4714-11-24 BC (proleptic Gregorian) and the Unix
        // epoch is Julian day 2 440 587.5, so that midnight is 2 440 588 days before 1970.
        #expect(micros("4714-11-24 00:00:00+00 BC") == -2_440_588 * day)
        #expect(micros("4714-11-24 00:00:00+00 BC") == -210_866_803_200 * second)
        // 0001-01-01: 719 162 days before 1970 (Python: date(1970, 1, 1).toordinal() - 1).
        #expect(micros("0001-01-01 00:00:00+00") == -719_162 * day)
        #expect(micros("0001-12-31 23:59:59.999999+00 BC") == -719_162 * day - 1)
        #expect(micros("1970-01-01 00:00:00+00") == 0)
        #expect(micros("1969-12-31 23:59:59.999999+00") == -1)
        // Python's datetime (years outside 1...9999 shifted by whole 400-year cycles).
        #expect(micros("2026-10-01 00:00:00+00") == 1_790_812_800 * second)
        #expect(micros("2028-02-29 12:00:00+00") == 1_835_438_400 * second)
        #expect(micros("0044-03-15 12:00:00+00 BC") == -63_517_780_800 * second)
        #expect(micros("12345-06-07 08:09:10+00") == 327_416_976_550 * second)
    }

    @Test("Fractional seconds of one to six digits are microseconds; seven digits or none are refused")
    func fractions() {
        let base: Int64 = 1_790_812_800 * 1_000_000
        #expect(micros("2026-10-01 00:00:00.1+00") == base + 100_000)
        #expect(micros("2026-10-01 00:00:00.12+00") == base + 120_000)
        #expect(micros("2026-10-01 00:00:00.123+00") == base + 123_000)
        #expect(micros("2026-10-01 00:00:00.1234+00") == base + 123_400)
        #expect(micros("2026-10-01 00:00:00.12345+00") == base + 123_450)
        #expect(micros("2026-10-01 00:00:00.123456+00") == base + 123_456)
        #expect(micros("2026-10-01 00:00:00.000001+00") == base + 1)
        #expect(micros("2026-10-01 00:00:00.1234567+00") == nil)
        #expect(micros("2026-10-01 00:00:00.+00") == nil)
        #expect(micros("1969-12-31 23:59:59.5+00") == -500_000)
    }

    @Test("Malformed timestamps are nil", arguments: [
        "", " ", "\n", " BC", "\\N", "infinity", "-infinity", "2026-10-01", "2026-10-01 00:00:00",
        "2026-10-01 00:00:00+09", "2026-10-01 00:00:00-00", "2026-10-01T00:00:00+00", "2026-10-01 00:00:00+00 AD",
        "2026-10-01  00:00:00+00", " 2026-10-01 00:00:00+00", "2026-10-01 00:00:00+00 ", "2026-10-01 00:00:00+00 BC ",
        "2026-10-01 24:00:00+00", "2026-10-01 23:60:00+00", "2026-10-01 23:59:60+00", "2026-10-01 0:00:00+00",
        "2026-02-29 00:00:00+00", "1900-02-29 00:00:00+00", "2026-13-01 00:00:00+00", "2026-00-01 00:00:00+00",
        "2026-10-00 00:00:00+00", "2026-10-32 00:00:00+00", "2026-1-01 00:00:00+00", "226-10-01 00:00:00+00",
        "1234567890-01-01 00:00:00+00", "0000-01-01 00:00:00+00", "0000-01-01 00:00:00+00 BC", "-001-01-01 00:00:00+00",
        "2026-10-01 00:00:00.1.2+00", "2026-10-01 00:00:00,5+00", "2026-10-01 00:00+00", "2026-10-01 00:00:00+0",
        "9999999999999999999-01-01 00:00:00+00", "2026-10-01 99:99:99+00", "２０２６-10-01 00:00:00+00",
    ])
    func malformed(_ text: String) {
        #expect(timestamp(text) == nil)
    }

    @Test("A date cached from one timestamp does not leak into another: other clock, BC twin, invalid date")
    func dateCache() {
        var cache = CopyText.DateCache()
        func read(_ text: String) -> Int64? {
            Array(text.utf8).withUnsafeBufferPointer { CopyText.timestamp($0, 0..<$0.count, cache: &cache)?.microseconds }
        }
        #expect(read("0044-03-15 00:00:00+00") == micros("0044-03-15 00:00:00+00"))
        #expect(read("0044-03-15 00:00:01+00") == micros("0044-03-15 00:00:00+00")! + 1_000_000)
        #expect(read("0044-03-15 00:00:00+00 BC") == micros("0044-03-15 00:00:00+00 BC"))
        #expect(read("0044-03-15 00:00:00+00 BC") != micros("0044-03-15 00:00:00+00"))
        #expect(read("2026-02-30 00:00:00+00") == nil)
        #expect(read("0044-03-15 99:00:00+00") == nil)
        #expect(read("0044-03-15 23:59:59.999999+00") == micros("0044-03-16 00:00:00+00")! - 1)
    }

    @Test("A row of COPY text made by CopyText.row splits and unescapes back to its fields")
    func rowRoundTrip() {
        let values = ["plain", "tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "", "üñï 服务器", "\u{8}\u{C}\u{B}\0"]
        let row = CopyText.row(values)
        #expect(row.filter { $0 == "\n" } == "\n" && row.hasSuffix("\n"))
        #expect(fields(row) == values)
        #expect(CopyText.row(["a", nil, "b"]) == "a\t\\N\tb\n")
    }

    @Test("split: empty input, a lone newline and bare tabs give empty fields, never a crash")
    func split() {
        #expect(fields("") == [""])
        #expect(fields("\n") == [""])
        #expect(fields("\n\n") == ["\n"])
        #expect(fields("\t\t") == ["", "", ""])
        #expect(fields("a\tb\n") == ["a", "b"])
        // No base address at all.
        var ranges: [Range<Int>] = [0..<1]
        CopyText.split(UnsafeBufferPointer(start: nil, count: 0), into: &ranges)
        #expect(ranges == [0..<0])
    }

    @Test("Escapes are undone as PostgreSQL reads them: octal, hex (`\\x` alone is x), the letter escapes, anything else as itself")
    func escapes() {
        #expect(fields(#"\101\x41\x4"#) == ["AA\u{4}"])
        #expect(fields(#"\303\274"#) == ["ü"])
        #expect(fields(#"\x\xg\xZZ"#) == ["xxgxZZ"])
        #expect(fields(#"\b\f\n\r\t\v\\\q\N"#) == ["\u{8}\u{C}\n\r\t\u{B}\\qN"])
        #expect(fields(#"\7\77\777\1234"#) == ["\u{7}?\u{FFFD}S4"])
        #expect(fields("end\\") == ["end\\"])
        #expect(fields("\\") == ["\\"])
    }

    @Test("int64 fields: the Int64 range exactly, nothing beyond it, no empty or bare sign")
    func integers() {
        func int(_ text: String) -> Int64? { Array(text.utf8).withUnsafeBufferPointer { CopyText.int64($0, 0..<$0.count) } }
        #expect(int("9223372036854775807") == Int64.max)
        #expect(int("-9223372036854775808") == Int64.min)
        #expect(int("9223372036854775808") == nil)
        #expect(int("-9223372036854775809") == nil)
        #expect(int("99999999999999999999999") == nil)
        #expect(int("42") == 42)
        for bad in ["", "-", "+", "\\N", "1 ", " 1", "1.0", "0x10", "１"] { #expect(int(bad) == nil, "\(bad)") }
    }

    @Test("A whole row reads exactly; rows of the wrong shape or with NULL text columns are errors, not crashes")
    func rows() throws {
        let (instanceId, change) = try parse("i-tab\\there\t Active\\t\t0044-03-15 12:00:00.5+00 BC\t-7\t294247-01-10 04:00:54.775807+00\n")
        #expect(instanceId == "i-tab\there")
        #expect(change.state == " Active\t")
        #expect(change.changedAt.microseconds == micros("0044-03-15 12:00:00+00 BC")! + 500_000)
        #expect(change.eventId == -7)
        #expect(change.recordedAt.microseconds == Int64.max)
        let broken: [(String, String)] = [
            ("", "expected 5 columns, got 1"),
            ("\n", "expected 5 columns, got 1"),
            ("\t\t\t\t\n", "changed_at"),
            ("\t\t\t\t\t\n", "expected 5 columns, got 6"),
            ("\\N\tactive\t2026-10-01 00:00:00+00\t1\t2026-10-01 00:00:00+00\n", "instance_id is NULL"),
            ("i-1\t\\N\t2026-10-01 00:00:00+00\t1\t2026-10-01 00:00:00+00\n", "state is NULL"),
            ("i-1\tactive\t2026-10-01 00:00:00+00\t\\N\t2026-10-01 00:00:00+00\n", "event_id"),
            ("i-1\tactive\t294247-01-10 04:00:54.775808+00\t1\t2026-10-01 00:00:00+00\n", "changed_at"),
            ("i-1\tactive\t2026-10-01 00:00:00+00\t1\t294276-12-31 23:59:59.999999+00\n", "recorded_at"),
        ]
        for (row, problem) in broken {
            #expect {
                try parse(row)
            } throws: { error in
                guard case StoreError.badSourceRow(let table, _, let said) = error else { return false }
                return table == "instance_state_changes" && said.contains(problem) && said.contains("a test")
            }
        }
    }

    @Test("CivilDate.daysSinceEpoch with nine-digit years, either side of year 0, does not overflow and round-trips")
    func nineDigitYears() {
        // An independent count: 365 days a year plus the leap days (every 4th year, not the
        // 100th, yes the 400th) from year 1970 to year y.
        func days(toJanuary1 y: Int64) -> Int64 {
            func leapDaysBefore(_ y: Int64) -> Int64 {
                func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
                return floorDiv(y - 1, 4) - floorDiv(y - 1, 100) + floorDiv(y - 1, 400)
            }
            return 365 * (y - 1970) + leapDaysBefore(y) - leapDaysBefore(1970)
        }
        for year: Int64 in [999_999_999, 100_000_000, 294_248, 2026, 1, 0, -1, -4713, -290_308, -999_999_998, -999_999_999] {
            let date = CivilDate(year: year, month: 1, day: 1)
            #expect(date.daysSinceEpoch == days(toJanuary1: year), "\(year)")
            #expect(CivilDate(daysSinceEpoch: date.daysSinceEpoch) == date, "\(year)")
            let last = CivilDate(year: year, month: 12, day: 31)
            #expect(last.daysSinceEpoch == days(toJanuary1: year + 1) - 1, "\(year)")
        }
    }

    @Test("Instant.iso8601 prints the first and last Int64 microseconds without overflowing")
    func printsExtremes() {
        #expect(Instant(microseconds: .max).iso8601 == "294247-01-10T04:00:54.775807Z")
        #expect(Instant(microseconds: .min).iso8601.hasSuffix("-12-21T19:59:05.224192Z"))
        #expect(Instant(microseconds: -1).iso8601 == "1969-12-31T23:59:59.999999Z")
    }

    @Test("The COPY reader and Instant(iso8601:) share one parser: they agree on every instant of years 1 to 9999 tried")
    func readersAgree() {
        // A walk over instants with odd steps (days, seconds and microseconds all vary).
        var t = Instant(iso8601: "0001-01-01T00:00:00Z")!.microseconds
        let end = Instant(iso8601: "9999-12-31T23:59:59.999999Z")!.microseconds
        var n = 0
        while t <= end {
            let instant = Instant(microseconds: t)
            let iso = instant.iso8601  // 2026-10-01T00:00:00Z or …T00:00:00.250000Z
            let copy = iso.replacingOccurrences(of: "T", with: " ").replacingOccurrences(of: "Z", with: "+00")
            #expect(Instant(iso8601: iso) == instant, "\(iso)")
            #expect(timestamp(copy) == instant, "\(copy)")
            t += 3_155_760_000_000_000 / 997 + 1_234_567  // about 100 years / 997, plus odd microseconds
            n += 1
        }
        #expect(n > 9000)
    }
}
