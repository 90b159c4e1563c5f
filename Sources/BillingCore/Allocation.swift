/// Exact splitting of an amount into parts, for daily figures that must add up to the
/// invoice to the unit (FOCUS rows, daily charts).
public enum Allocation {
    /// Splits `total` into parts proportional to `weights` (none negative) that add up to
    /// `total` exactly: each part gets its share rounded down, then the units left over go
    /// one each to the parts with the largest remainders (the earliest first on ties).
    /// With all weights zero, everything goes to the first part.
    public static func proportional(_ total: Int128, weights: [Int64]) -> [Int128] {
        proportional(total, weights: weights.map { Int128($0) })
    }

    public static func proportional(_ total: Int128, weights: [Int128]) -> [Int128] {
        guard !weights.isEmpty else { return [] }
        precondition(weights.allSatisfy { $0 >= 0 }, "weights must not be negative")
        let sum = weights.reduce(Int128(0), +)
        guard sum > 0 else { return [total] + [Int128](repeating: 0, count: weights.count - 1) }
        let magnitude = total < 0 ? -total : total
        var parts: [Int128] = []
        var remainders: [(Int128, Int)] = []
        parts.reserveCapacity(weights.count)
        for (i, w) in weights.enumerated() {
            // magnitude × w may pass Int128 (a month of the largest rates in a three-digit
            // currency): multiplied full width; the share itself, at most magnitude, fits.
            let (q, r) = sum.dividingFullWidth(magnitude.multipliedFullWidth(by: w))
            parts.append(q)
            remainders.append((r, i))
        }
        var left = magnitude - parts.reduce(0, +)
        for (_, i) in remainders.sorted(by: { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }) where left > 0 {
            parts[i] += 1
            left -= 1
        }
        return total < 0 ? parts.map { -$0 } : parts
    }
}
