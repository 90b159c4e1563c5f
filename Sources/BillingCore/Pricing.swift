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

    /// A line's list amount and charged amount (pricing.md section 1), each rounded once:
    /// list = billable seconds × rate / 3600 s; charged = list × (100 − percent) / 100, from
    /// the exact figures. Without a discount the two are equal.
    ///
    /// The charged numerator stays below 10^36 (a 745-hour month at the largest rate, three
    /// minor digits, percent in ten-thousandths), against `Int128`'s 1.7 × 10^38.
    public static func lineAmounts(billableSeconds: Int64, rate: RateVersion, discount: Discount?, currency: Currency,
                                   rounding: RoundingMode) -> (list: Int128, charged: Int128) {
        let list = lineAmount(billableSeconds: billableSeconds, rate: rate, currency: currency, rounding: rounding)
        guard let discount else { return (list, list) }
        let whole = 100 * pow10(Discount.percentScale)
        let numerator = Int128(billableSeconds) * rate.microsPerHour * pow10(currency.minorUnitDigits) * (whole - discount.percentUnits)
        return (list, rounding.divide(numerator, by: 3600 * 1_000_000 * whole))
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
