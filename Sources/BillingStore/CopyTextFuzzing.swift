import BillingCore

/// The COPY text row parser (`ChangeRowParser`, `CopyText`), otherwise internal, for the
/// libFuzzer target FuzzCopyRows in Fuzz/ and nothing else: only an
/// `@_spi(Fuzzing) import BillingStore` sees it.
@_spi(Fuzzing)
public enum CopyTextFuzzing {
    /// A row parser kept across rows, as a COPY read keeps it (its caches of the last id,
    /// the states seen and the last date read).
    public struct RowParser {
        private var parser = ChangeRowParser(context: "fuzzing")
        public init() {}
        public mutating func parse(_ row: UnsafeBufferPointer<UInt8>) throws -> (instanceId: String, change: StateChange) { try parser.parse(row) }
    }

    /// A timestamp reader kept across fields (it caches the last date part read).
    public struct TimestampReader {
        private var cache = CopyText.DateCache()
        public init() {}
        public mutating func read(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Instant? { CopyText.timestamp(row, r, cache: &cache) }
    }

    public static func row(_ fields: [String?]) -> String { CopyText.row(fields) }

    public static func split(_ row: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var fields: [Range<Int>] = []
        CopyText.split(row, into: &fields)
        return fields
    }

    public static func string(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String { CopyText.string(row, r) }
    public static func int64(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int64? { CopyText.int64(row, r) }
}
