/// How an exact quotient becomes a whole number of minor currency units.
///
/// Amounts are rounded exactly once, at the end (billing-rules.md section 3).
public enum RoundingMode: String, CaseIterable, Sendable, Codable {
    /// Half away from zero: 0.5 becomes 1 (the default).
    case halfUp = "half-up"
    /// Half to even (banker's rounding): 0.5 becomes 0, 1.5 becomes 2.
    case halfEven = "half-even"
    /// Towards negative infinity: never charges a fraction the customer did not use.
    case floor = "floor"

    /// `numerator / denominator` rounded to an integer by this mode. `denominator` > 0.
    public func divide(_ numerator: Int128, by denominator: Int128) -> Int128 {
        precondition(denominator > 0, "denominator must be positive")
        var (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
        // Normalise to floor division: 0 <= r < denominator.
        if r < 0 {
            q -= 1
            r += denominator
        }
        switch self {
        case .floor:
            return q
        case .halfUp:
            // Half away from zero: for a negative quotient the tie goes down.
            let twice = 2 * r
            if twice > denominator { return q + 1 }
            if twice < denominator { return q }
            return numerator >= 0 ? q + 1 : q
        case .halfEven:
            let twice = 2 * r
            if twice > denominator { return q + 1 }
            if twice < denominator { return q }
            return q % 2 == 0 ? q : q + 1
        }
    }
}

/// `numerator / denominator` rounded up (towards positive infinity). `denominator` > 0.
public func ceilDivide(_ numerator: Int128, by denominator: Int128) -> Int128 {
    let (q, r) = numerator.quotientAndRemainder(dividingBy: denominator)
    return r > 0 ? q + 1 : q
}
