import FuzzDriver
import BillingCore

/// Periods, instants and decimals from arbitrary text: never a crash, and whatever parses
/// prints back to something that parses to the same value.
@_cdecl("FuzzParsers_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, count in fuzzParsers(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParsers(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    if let m = YearMonth(parsing: text) {
        precondition(m.description == text, "YearMonth does not print back: \(text)")
        precondition(m.next.previous == m)
    }
    if let i = Instant(iso8601: text) {
        precondition(Instant(iso8601: i.iso8601) == i, "Instant does not round-trip: \(text)")
    }
    if let d = ExactDecimal(parsing: text) {
        let again = ExactDecimal(parsing: d.description)!
        precondition(again.units == d.units && again.scale == d.scale, "decimal does not round-trip: \(text)")
    }
    _ = Currency(code: text)
    _ = RoundingMode(rawValue: text)
    _ = Granularity(rawValue: text)
    return 0
}
