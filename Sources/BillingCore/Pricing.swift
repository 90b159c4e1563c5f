/// The money rules of billing-rules.md section 3, each in one place.
public enum Pricing {
    /// The amount of an invoice line in minor units: billable seconds × hourly rate /
    /// 3600 s, rounded once by `rounding` to the currency's minor unit.
    ///
    /// `Int128` holds it with room to spare: even at the largest `numeric(20,6)` rate
    /// (10^20 millionths an hour) a 745-hour month is below 10^30, against 1.7 × 10^38.
    public static func lineAmount(billableSeconds: Int64, rate: RateVersion, currency: Currency, rounding: RoundingMode) -> Int128 {
        let numerator = Int128(billableSeconds) * rate.microsPerHour * pow10(currency.minorUnitDigits)
        return rounding.divide(numerator, by: 3600 * 1_000_000)
    }

    /// VAT on a subtotal, in minor units, rounded the same way as the lines.
    public static func tax(onSubtotal subtotal: Int128, vatRate: ExactDecimal, rounding: RoundingMode) -> Int128 {
        rounding.divide(subtotal * vatRate.units, by: pow10(vatRate.scale))
    }

    /// The informative price of exactly metered time, in millionths of a major unit
    /// (rounded half-up): the `amount` column of `usage.csv`. Invoices never use it.
    public static func meteredAmountMicros(microseconds: Int64, rate: RateVersion) -> Int128 {
        RoundingMode.halfUp.divide(Int128(microseconds) * rate.microsPerHour, by: 3600 * 1_000_000)
    }
}
