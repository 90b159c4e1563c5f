/// An exact decimal number, `units × 10^-scale`, for rates, VAT rates and amounts.
///
/// Parsing is strict (unlike Foundation's `Decimal(string:)`, which reads `"12abc"` as
/// 12): an optional sign, digits, and an optional fraction; nothing else.
public struct ExactDecimal: Hashable, Sendable, CustomStringConvertible {
    public var units: Int128
    public var scale: Int

    public init(units: Int128, scale: Int) {
        self.units = units
        self.scale = scale
    }

    /// The largest number of significant digits accepted (PostgreSQL's `numeric(20,6)`
    /// needs 20; 30 leaves room and still cannot overflow `Int128` in any product we form).
    public static let maxDigits = 30

    public init?(parsing text: String) {
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let first = bytes.first, first == 45 || first == 43 {
            negative = first == 45
            bytes = bytes.dropFirst()
        }
        var units: Int128 = 0
        var scale = 0
        var digitCount = 0
        var seenPoint = false
        var seenDigit = false
        for b in bytes {
            if b == 46 {
                guard !seenPoint else { return nil }
                seenPoint = true
                continue
            }
            guard b >= 48 && b <= 57 else { return nil }
            seenDigit = true
            if units != 0 || b != 48 { digitCount += 1 }
            guard digitCount <= ExactDecimal.maxDigits else { return nil }
            units = units * 10 + Int128(b - 48)
            if seenPoint { scale += 1 }
        }
        guard seenDigit, scale <= 18 else { return nil }
        self.init(units: negative ? -units : units, scale: scale)
    }

    /// The same number with exactly `newScale` fractional digits, or nil when that
    /// would drop a non-zero digit.
    public func rescaled(to newScale: Int) -> Int128? {
        if newScale >= scale { return units * pow10(newScale - scale) }
        let (q, r) = units.quotientAndRemainder(dividingBy: pow10(scale - newScale))
        return r == 0 ? q : nil
    }

    public var isNegative: Bool { units < 0 }

    /// The same number without trailing fractional zeros (`80.00` -> `80`): equal numbers
    /// are then equal values.
    public var normalized: ExactDecimal {
        var d = self
        while d.scale > 0 && d.units % 10 == 0 {
            d.units /= 10
            d.scale -= 1
        }
        return d
    }

    /// -1, 0 or 1 as `self` is below, equal to or above `other`, exactly, for any two values
    /// (integer parts first, then the fractions at a common scale: nothing can overflow).
    public func compare(_ other: ExactDecimal) -> Int {
        let (qa, ra) = units.quotientAndRemainder(dividingBy: pow10(scale))
        let (qb, rb) = other.units.quotientAndRemainder(dividingBy: pow10(other.scale))
        if qa != qb { return qa < qb ? -1 : 1 }
        let common = max(scale, other.scale)
        let fa = ra * pow10(common - scale), fb = rb * pow10(common - other.scale)
        return fa == fb ? 0 : (fa < fb ? -1 : 1)
    }

    /// Plain decimal notation with `scale` fractional digits (`9876.543210`).
    public var description: String { formatScaled(units, scale: scale) }
}

/// 10 to the power `n` as an `Int128` (n from 0 to 38).
public func pow10(_ n: Int) -> Int128 {
    precondition(n >= 0 && n <= 38, "10^\(n) does not fit Int128")
    var v: Int128 = 1
    for _ in 0..<n { v *= 10 }
    return v
}

/// Formats `units × 10^-scale` in plain decimal notation, with exactly `scale` digits after the point.
public func formatScaled(_ units: Int128, scale: Int) -> String { formatDecimal(units, scale: scale, trimmed: false) }

/// Formats `units × 10^-scale` with trailing fractional zeros (and a bare point) removed:
/// `13019.750000` becomes `13019.75`, `2484000.000000` becomes `2484000`.
public func formatScaledTrimmed(_ units: Int128, scale: Int) -> String { formatDecimal(units, scale: scale, trimmed: true) }

/// The digits are made in a byte buffer, with 64-bit arithmetic where the value fits:
/// usage reports format millions of these.
private func formatDecimal(_ units: Int128, scale: Int, trimmed: Bool) -> String {
    let negative = units < 0
    let magnitude = negative ? (0 - units).magnitude : units.magnitude
    let capacity = 48 + max(0, scale)
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buf in
        var end = capacity
        var start = capacity
        /// Writes `m`'s digits backwards from `start`, the point after `scale` of them, and
        /// zeros up to `0.` where `m` has fewer digits than that.
        func digits<T: FixedWidthInteger & UnsignedInteger>(_ m: T) {
            var m = m
            var produced = 0
            repeat {
                start -= 1
                buf[start] = 48 + UInt8(m % 10)
                m /= 10
                produced += 1
                if produced == scale {
                    start -= 1
                    buf[start] = 0x2E
                }
            } while m > 0 || (scale > 0 && produced <= scale)
        }
        if magnitude <= UInt128(UInt64.max) { digits(UInt64(magnitude)) } else { digits(magnitude) }
        if trimmed && scale > 0 {
            while buf[end - 1] == 0x30 { end -= 1 }
            if buf[end - 1] == 0x2E { end -= 1 }
        }
        if negative {
            start -= 1
            buf[start] = 0x2D
        }
        return String(decoding: UnsafeBufferPointer(rebasing: buf[start..<end]), as: UTF8.self)
    }
}
