/// One version of an instance type's hourly price, in force over `[effectiveFrom, effectiveTo)`.
public struct RateVersion: Hashable, Sendable {
    public let typeName: String
    public let currency: String
    /// Price of one hour, in major currency units with up to six decimals (`9876.543210` KRW).
    public let hourlyRate: ExactDecimal
    public let effectiveFrom: Instant
    /// Exclusive end; nil while the price is still in force.
    public let effectiveTo: Instant?

    public init(typeName: String, currency: String, hourlyRate: ExactDecimal, effectiveFrom: Instant, effectiveTo: Instant?) {
        self.typeName = typeName
        self.currency = currency
        self.hourlyRate = hourlyRate
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
    }

    /// The rate in millionths of a major unit per hour (the scale of `numeric(20,6)`).
    public var microsPerHour: Int128 { hourlyRate.rescaled(to: 6) ?? 0 }

    /// The rate with exactly six decimals, as `numeric(20,6)` shows it (`3600.000000`).
    public var hourlyRateText: String { formatScaled(microsPerHour, scale: 6) }

    func covers(_ t: Instant) -> Bool { effectiveFrom <= t && (effectiveTo.map { t < $0 } ?? true) }
}

/// The price list of one currency: for each instance type, its rate versions in time order.
public struct RateCard: Sendable {
    public let currency: Currency
    private var versionsByType: [String: [RateVersion]] = [:]
    /// Every usable version, by type name and then in time order: compact usage refers to
    /// a version by its index here.
    public private(set) var all: [RateVersion] = []
    private var ranges: [String: Range<Int>] = [:]
    /// Problems with the price list itself (overlapping versions, negative or over-precise
    /// rates), each with the time range it concerns.
    private var located: [(anomaly: Anomaly, from: Instant, to: Instant?)] = []

    /// Every problem of the price list.
    public var problems: [Anomaly] { located.map(\.anomaly) }

    /// The problems that concern some instant of `window`: a bad version of 2019 does not
    /// hold up the invoices of 2026 (it is reported when 2019 is billed).
    public func problems(touching window: BillingWindow) -> [Anomaly] {
        located.filter { p in p.from < window.end && (p.to.map { $0 > window.start } ?? true) }.map(\.anomaly)
    }

    /// Keeps the rates in `currency`; rates in other currencies play no part in the run.
    public init(rates: [RateVersion], currency: Currency) {
        self.currency = currency
        for rate in rates where rate.currency.uppercased() == currency.code {
            if rate.hourlyRate.isNegative {
                located.append((Anomaly(.error, .invalidRate, detail: "\(rate.typeName) rate \(rate.hourlyRate) \(currency.code)/h from \(rate.effectiveFrom) is negative; the version is not used"), rate.effectiveFrom, rate.effectiveTo))
                continue
            }
            if rate.hourlyRate.rescaled(to: 6) == nil {
                located.append((Anomaly(.error, .invalidRate, detail: "\(rate.typeName) rate \(rate.hourlyRate) \(currency.code)/h has more than six decimals; the version is not used"), rate.effectiveFrom, rate.effectiveTo))
                continue
            }
            if let to = rate.effectiveTo, to <= rate.effectiveFrom {
                located.append((Anomaly(.error, .invalidRate, detail: "\(rate.typeName) rate from \(rate.effectiveFrom) ends at \(to), before it starts; the version is not used"), to, nil))
                continue
            }
            versionsByType[rate.typeName, default: []].append(rate)
        }
        for type in versionsByType.keys.sorted() {
            var versions = versionsByType[type]!
            versions.sort { $0.effectiveFrom < $1.effectiveFrom }
            var kept: [RateVersion] = []
            for v in versions {
                if let prev = kept.last, prev.effectiveTo.map({ $0 > v.effectiveFrom }) ?? true {
                    let overlapEnd: Instant? = [prev.effectiveTo, v.effectiveTo].compactMap { $0 }.min()
                    located.append((Anomaly(.error, .overlappingRates, detail: "\(type) \(currency.code) rates from \(prev.effectiveFrom) and from \(v.effectiveFrom) overlap; the later version is not used until the ranges are fixed"), v.effectiveFrom, overlapEnd))
                    continue
                }
                kept.append(v)
            }
            versionsByType[type] = kept
            ranges[type] = all.count..<(all.count + kept.count)
            all += kept
        }
    }

    /// Where `typeName`'s versions are in `all` (empty when it has none).
    public func indexRange(of typeName: String) -> Range<Int> { ranges[typeName] ?? 0..<0 }

    /// Every version of `typeName`, in time order.
    public func versions(of typeName: String) -> [RateVersion] { versionsByType[typeName] ?? [] }

    /// All versions in force at some instant of `[from, to)`.
    public func versionsInForce(from: Instant, to: Instant) -> [RateVersion] {
        versionsByType.keys.sorted().flatMap { type in
            versions(of: type).filter { v in v.effectiveFrom < to && (v.effectiveTo.map { $0 > from } ?? true) }
        }
    }

    /// Splits `[from, to)` at every rate change of `typeName`. Each piece carries the
    /// version in force over it, or nil where no version is (time that cannot be priced).
    public func segments(of typeName: String, from: Instant, to: Instant) -> [(from: Instant, to: Instant, rate: RateVersion?)] {
        var pieces: [(Instant, Instant, RateVersion?)] = []
        var cursor = indexRange(of: typeName).lowerBound
        forEachSegment(of: indexRange(of: typeName), from: from, to: to, cursor: &cursor) { a, b, v in pieces.append((a, b, v >= 0 ? all[Int(v)] : nil)) }
        return pieces
    }

    /// The one rate-splitting routine: calls `body` with each piece of `[from, to)` between
    /// the rate changes of a type's `versions` (its `indexRange(of:)`, looked up once by a
    /// caller that splits many intervals), in time order, and the index in `all` of the
    /// version in force over it, or -1 where none is. `cursor` is the first of the type's
    /// versions that may still be in force (start it at `versions.lowerBound`); calls made in
    /// time order with the same cursor walk the versions once in all.
    public func forEachSegment(of versions: Range<Int>, from: Instant, to: Instant, cursor: inout Int,
                               _ body: (_ from: Instant, _ to: Instant, _ version: Int32) -> Void) {
        var at = from
        while at < to {
            while cursor < versions.upperBound, let end = all[cursor].effectiveTo, end <= at { cursor += 1 }
            let pieceEnd: Instant, version: Int32
            if cursor < versions.upperBound, all[cursor].effectiveFrom <= at {
                pieceEnd = min(all[cursor].effectiveTo ?? to, to)
                version = Int32(cursor)
            } else {
                pieceEnd = cursor < versions.upperBound ? min(all[cursor].effectiveFrom, to) : to
                version = -1
            }
            body(at, pieceEnd, version)
            at = pieceEnd
        }
    }
}
