/// Number formats for people (summaries, invoices, progress lines). Files for machines
/// keep plain numbers.
public enum DisplayFormat {
    /// A plain decimal with thousands separators: `-28912492.5` becomes `-28,912,492.5`.
    public static func grouped(_ plain: String) -> String {
        let negative = plain.hasPrefix("-")
        let body = negative ? String(plain.dropFirst()) : plain
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        var digits = Array(parts.first ?? "")
        var out: [Character] = []
        while digits.count > 3 {
            out = [","] + digits.suffix(3) + out
            digits.removeLast(3)
        }
        return (negative ? "-" : "") + String(digits + out) + (parts.count > 1 ? "." + parts[1] : "")
    }

    /// Microseconds as hours with `decimals` digits, rounded half-up (exact integers).
    public static func hours(microseconds: Int64, decimals: Int) -> String {
        formatScaled(RoundingMode.halfUp.divide(Int128(microseconds) * pow10(decimals), by: 3_600_000_000), scale: decimals)
    }
}
