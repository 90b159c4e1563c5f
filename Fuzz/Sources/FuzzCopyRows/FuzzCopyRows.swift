import BillingCore
@_spi(Fuzzing) import BillingStore
import FuzzDriver

/// The COPY text row parser that reads `instance_state_changes` straight from libpq's
/// buffer. Any bytes: never a crash, and
/// - each line parses with a parser kept across lines (its caches warm) exactly as with a
///   fresh one, and parses when and only when its five fields are what the reference
///   below accepts, to the values the reference gives;
/// - every tab-separated field reads as a timestamp, an integer and a text exactly as the
///   reference reads it (timestamps in Int128: nil when not an Int64 of microseconds);
/// - the first eight bytes, as microseconds, printed the way PostgreSQL prints a
///   timestamptz, read back to the same instant, and `Instant.iso8601` prints it;
/// - fields split from the input at 0x1F (0x1E alone for NULL), made into a row by
///   `CopyText.row`, split and unescape back to the same fields.
@_cdecl("FuzzCopyRows_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, count in fuzzCopyRows(data, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCopyRows(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: count))
    checkRows(input)
    checkFields(input)
    checkInstant(input)
    checkRowRoundTrip(input)
    return 0
}

// MARK: Properties

func checkRows(_ input: [UInt8]) {
    var kept = CopyTextFuzzing.RowParser()
    var start = 0
    while start < input.count {
        var end = start
        while end < input.count, input[end] != 0x0A { end += 1 }
        if end < input.count { end += 1 }  // libpq hands each row with its newline
        // Each row in a buffer of its own, as libpq gives it.
        let line = Array(input[start..<end])
        start = end
        line.withUnsafeBufferPointer { row in
            let warm = Result { try kept.parse(row) }
            var fresh = CopyTextFuzzing.RowParser()
            let cold = Result { try fresh.parse(row) }
            switch (warm, cold) {
            case (.success(let a), .success(let b)): precondition(a == b, "the kept parser reads \(a), a fresh one \(b)")
            case (.failure(let a), .failure(let b)): precondition("\(a)" == "\(b)", "the kept parser says \(a), a fresh one \(b)")
            default: preconditionFailure("the kept parser gives \(warm), a fresh one \(cold)")
            }
            let expected = referenceRow(line)
            switch (cold, expected) {
            case (.success(let got), .some(let want)):
                precondition(got == want, "row read as \(got), the reference reads \(want)")
            case (.failure, .none): break
            default: preconditionFailure("row \(line): parser \(cold), reference \(String(describing: expected))")
            }
        }
    }
}

func checkFields(_ input: [UInt8]) {
    input.withUnsafeBufferPointer { row in
        let fields = CopyTextFuzzing.split(row)
        precondition(fields.count == referenceSplit(input).count, "split")
        var reader = CopyTextFuzzing.TimestampReader()
        for r in fields {
            let bytes = Array(input[r])
            let want = referenceTimestamp(bytes)
            var fresh = CopyTextFuzzing.TimestampReader()
            let got = fresh.read(row, r)
            precondition(got == want, "\(String(decoding: bytes, as: UTF8.self)): read \(String(describing: got)), reference \(String(describing: want))")
            precondition(reader.read(row, r) == got, "a reader with a cached date reads otherwise")
            if let got { checkPrint(got) }
            precondition(CopyTextFuzzing.int64(row, r) == Int64(String(decoding: bytes, as: UTF8.self)), "int64")
            let text = CopyTextFuzzing.string(row, r)
            precondition(text == referenceUnescape(input[r]), "\(String(decoding: bytes, as: UTF8.self)) unescapes to \(text.debugDescription), the reference to \(referenceUnescape(input[r]).debugDescription)")
        }
    }
}

func checkInstant(_ input: [UInt8]) {
    guard input.count >= 8 else { return }
    var micros: Int64 = 0
    for b in input[0..<8] { micros = micros << 8 | Int64(b) }
    let text = Array(referencePrint(Int128(micros)).utf8)
    text.withUnsafeBufferPointer { row in
        var reader = CopyTextFuzzing.TimestampReader()
        let got = reader.read(row, 0..<row.count)
        precondition(got == Instant(microseconds: micros), "\(String(decoding: text, as: UTF8.self)) reads as \(String(describing: got)), not \(micros)")
    }
    precondition(referenceTimestamp(text) == Instant(microseconds: micros), "the reference printer and parser disagree")
    checkPrint(Instant(microseconds: micros))
}

/// `Instant.iso8601` prints any instant; within years 1 to 9999 (the ones `Instant(iso8601:)`
/// takes) it reads back, and its date is the reference's.
func checkPrint(_ instant: Instant) {
    let iso = instant.iso8601
    let pg = referencePrint(Int128(instant.microseconds))
    guard !pg.hasSuffix(" BC"), Array(pg.utf8)[4] == 0x2D else { return }  // years 1 to 9999
    precondition(Instant(iso8601: iso) == instant, "\(iso) does not read back")
    precondition(iso.prefix(10) == pg.prefix(10), "iso8601 prints the date \(iso), the reference \(pg)")
}

func checkRowRoundTrip(_ input: [UInt8]) {
    let text = String(decoding: input, as: UTF8.self)
    let fields: [String?] = text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map { $0 == "\u{1E}" ? nil : String($0) }
    let row = Array(CopyTextFuzzing.row(fields).utf8)
    precondition(row.last == 0x0A && row.firstIndex(of: 0x0A) == row.count - 1, "a row is one line")
    row.withUnsafeBufferPointer { buffer in
        let ranges = CopyTextFuzzing.split(buffer)
        precondition(ranges.count == fields.count, "\(fields.count) fields came back as \(ranges.count)")
        for (field, r) in zip(fields, ranges) {
            let isNull = Array(row[r]) == [0x5C, 0x4E]
            precondition(isNull == (field == nil), "NULL is \\N and only NULL is")
            if let field { precondition(CopyTextFuzzing.string(buffer, r) == field, "\(field.debugDescription) came back as \(CopyTextFuzzing.string(buffer, r).debugDescription)") }
        }
    }
}

// MARK: Reference, written apart from the parser: plain loops, Int128, another calendar formula

func referenceSplit(_ row: [UInt8]) -> [ArraySlice<UInt8>] {
    let body = row.last == 0x0A ? row.dropLast() : row[...]
    return body.split(separator: 0x09, omittingEmptySubsequences: false)
}

/// The COPY text unescaping of PostgreSQL's CopyReadAttributesText, for the escapes bmbill
/// needs to read (`\b \f \n \r \t \v`, octal, `\x` hex, any other character as itself).
func referenceUnescape(_ field: ArraySlice<UInt8>) -> String {
    var out: [UInt8] = []
    var rest = field[...]
    while let b = rest.popFirst() {
        guard b == 0x5C, let c = rest.popFirst() else { out.append(b); continue }
        switch c {
        case 0x30...0x37:
            var v = Int(c - 0x30)
            for _ in 0..<2 {
                guard let d = rest.first, (0x30...0x37).contains(d) else { break }
                v = v * 8 + Int(d - 0x30)
                rest.removeFirst()
            }
            out.append(UInt8(v & 0xFF))
        case UInt8(ascii: "x"):
            if let h = rest.first.flatMap(hex) {
                rest.removeFirst()
                var v = h
                if let h2 = rest.first.flatMap(hex) { v = v * 16 + h2; rest.removeFirst() }
                out.append(UInt8(v))
            } else {
                out.append(c)
            }
        case UInt8(ascii: "b"): out.append(8)
        case UInt8(ascii: "f"): out.append(12)
        case UInt8(ascii: "n"): out.append(10)
        case UInt8(ascii: "r"): out.append(13)
        case UInt8(ascii: "t"): out.append(9)
        case UInt8(ascii: "v"): out.append(11)
        default: out.append(c)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

func hex(_ b: UInt8) -> Int? { Int(String(UnicodeScalar(b)), radix: 16) }

func referenceRow(_ row: [UInt8]) -> (instanceId: String, change: StateChange)? {
    let f = referenceSplit(row)
    guard f.count == 5, Array(f[0]) != [0x5C, 0x4E], Array(f[1]) != [0x5C, 0x4E],
        let changedAt = referenceTimestamp(Array(f[2])),
        let eventId = Int64(String(decoding: f[3], as: UTF8.self)),
        let recordedAt = referenceTimestamp(Array(f[4]))
    else { return nil }
    return (referenceUnescape(f[0]), StateChange(eventId: eventId, state: referenceUnescape(f[1]), changedAt: changedAt, recordedAt: recordedAt))
}

/// `Y{4,9}-MM-DD HH:MM:SS[.f{1,6}]+00[ BC]`, year not 0, a real date and time of day, as
/// microseconds when they fit in an Int64.
func referenceTimestamp(_ field: [UInt8]) -> Instant? {
    var text = String(decoding: field, as: UTF8.self)
    var bc = false
    if text.hasSuffix(" BC") {
        bc = true
        text.removeLast(3)
    }
    let isDigit: (Character) -> Bool = { $0.isASCII && $0.isNumber }
    guard text.hasSuffix("+00") else { return nil }
    text.removeLast(3)
    let halves = text.split(separator: " ", omittingEmptySubsequences: false)
    guard halves.count == 2 else { return nil }
    let date = halves[0].split(separator: "-", omittingEmptySubsequences: false)
    guard date.count == 3, (4...9).contains(date[0].count), date[1].count == 2, date[2].count == 2,
        date.allSatisfy({ $0.allSatisfy(isDigit) })
    else { return nil }
    let timeAndFraction = halves[1].split(separator: ".", omittingEmptySubsequences: false)
    guard (1...2).contains(timeAndFraction.count) else { return nil }
    let time = timeAndFraction[0].split(separator: ":", omittingEmptySubsequences: false)
    guard time.count == 3, time.allSatisfy({ $0.count == 2 && $0.allSatisfy(isDigit) }) else { return nil }
    var fraction: Int128 = 0
    if timeAndFraction.count == 2 {
        let digits = timeAndFraction[1]
        guard (1...6).contains(digits.count), digits.allSatisfy(isDigit) else { return nil }
        fraction = Int128(digits + String(repeating: "0", count: 6 - digits.count))!
    }
    var year = Int128(date[0])!
    let month = Int128(date[1])!, day = Int128(date[2])!
    let hour = Int128(time[0])!, minute = Int128(time[1])!, second = Int128(time[2])!
    guard year != 0 else { return nil }
    if bc { year = 1 - year }
    guard (1...12).contains(month), day >= 1, day <= daysInMonth(year, month), hour < 24, minute < 60, second < 60 else { return nil }
    let micros = ((referenceDays(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + fraction
    guard let m = Int64(exactly: micros) else { return nil }
    return Instant(microseconds: m)
}

/// PostgreSQL's `DateStyle = ISO` output in UTC: year at least four digits, ` BC` for the
/// years before 1 (year 0 is 1 BC), fraction only when not zero and without trailing zeros.
func referencePrint(_ micros: Int128) -> String {
    let secs = floorDiv(micros, 1_000_000), fraction = micros - secs * 1_000_000
    let days = floorDiv(secs, 86_400), secOfDay = secs - days * 86_400
    var year = 1970 + floorDiv(days * 400, 146_097)
    while referenceDays(year, 1, 1) > days { year -= 1 }
    while referenceDays(year + 1, 1, 1) <= days { year += 1 }
    var month: Int128 = 12
    while referenceDays(year, month, 1) > days { month -= 1 }
    let day = days - referenceDays(year, month, 1) + 1
    func pad(_ v: Int128, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    var s = pad(year >= 1 ? year : 1 - year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + " "
    s += pad(secOfDay / 3600, 2) + ":" + pad(secOfDay / 60 % 60, 2) + ":" + pad(secOfDay % 60, 2)
    if fraction != 0 {
        var f = pad(fraction, 6)
        while f.hasSuffix("0") { f.removeLast() }
        s += "." + f
    }
    return s + "+00" + (year >= 1 ? "" : " BC")
}

func floorDiv(_ a: Int128, _ b: Int128) -> Int128 {
    let q = a / b
    return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q
}

func isLeapYear(_ y: Int128) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

func daysInMonth(_ y: Int128, _ m: Int128) -> Int128 {
    [31, isLeapYear(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Int(m - 1)]
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian, astronomical years): whole years
/// and the leap days before each January 1st, then the month's first day.
func referenceDays(_ y: Int128, _ m: Int128, _ d: Int128) -> Int128 {
    func leapDaysBefore(_ y: Int128) -> Int128 { floorDiv(y - 1, 4) - floorDiv(y - 1, 100) + floorDiv(y - 1, 400) }
    let firstOfMonth: [Int128] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]
    return 365 * (y - 1970) + leapDaysBefore(y) - leapDaysBefore(1970) + firstOfMonth[Int(m - 1)] + (m > 2 && isLeapYear(y) ? 1 : 0) + d - 1
}
