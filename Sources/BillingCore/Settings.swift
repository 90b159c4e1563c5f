/// How long a unit of billable time is: each invoice line's exact duration is rounded
/// up to a whole unit, once (billing-rules.md section 1).
public enum Granularity: String, CaseIterable, Sendable {
    case second, minute, hour

    public var seconds: Int64 {
        switch self {
        case .second: return 1
        case .minute: return 60
        case .hour: return 3600
        }
    }

    /// The exact duration in microseconds rounded up to a whole unit, in seconds.
    public func billableSeconds(ofMicroseconds micros: Int64) -> Int64 {
        let unitMicros = Int128(seconds) * Int128(Instant.microsecondsPerSecond)
        return Int64(ceilDivide(Int128(micros), by: unitMicros)) * seconds
    }
}

/// The settings that decide a bill. Every run records them in its manifest.
public struct BillingSettings: Hashable, Sendable {
    public var timeZone: BillingTimeZone
    public var currency: Currency
    /// VAT as an exact fraction, e.g. `0.10`.
    public var vatRate: ExactDecimal
    public var rounding: RoundingMode
    public var granularity: Granularity
    /// Instance types on which a Windows image is allowed (the seed: only `r2a.baremetal`).
    public var windowsTypes: Set<String>

    public init(
        timeZone: BillingTimeZone = BillingTimeZone(identifier: "Asia/Seoul")!,
        currency: Currency = .krw,
        vatRate: ExactDecimal = ExactDecimal(units: 10, scale: 2),
        rounding: RoundingMode = .halfUp,
        granularity: Granularity = .second,
        windowsTypes: Set<String> = ["r2a.baremetal"]
    ) {
        self.timeZone = timeZone
        self.currency = currency
        self.vatRate = vatRate
        self.rounding = rounding
        self.granularity = granularity
        self.windowsTypes = windowsTypes
    }
}
