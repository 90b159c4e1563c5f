/// An ISO 4217 currency: its code and the number of digits of its minor unit.
public struct Currency: Hashable, Sendable, CustomStringConvertible {
    /// Three upper-case letters, e.g. `KRW`.
    public let code: String
    /// Digits after the decimal point of the minor unit: KRW 0, USD 2, KWD 3.
    public let minorUnitDigits: Int

    public var description: String { code }

    /// The currencies bmbill knows the minor unit of (ISO 4217). A code not listed is
    /// refused rather than guessed, because a wrong exponent bills 100x too much or too little.
    public static let known: [String: Int] = [
        "KRW": 0, "JPY": 0, "VND": 0, "CLP": 0, "ISK": 0, "PYG": 0, "UGX": 0, "XAF": 0, "XOF": 0,
        "USD": 2, "EUR": 2, "GBP": 2, "CNY": 2, "HKD": 2, "SGD": 2, "TWD": 2, "AUD": 2, "CAD": 2,
        "CHF": 2, "NZD": 2, "INR": 2, "IDR": 2, "THB": 2, "MYR": 2, "PHP": 2, "SEK": 2, "NOK": 2,
        "DKK": 2, "PLN": 2, "CZK": 2, "HUF": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "AED": 2, "SAR": 2,
        "ILS": 2, "TRY": 2,
        "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
    ]

    public init?(code raw: String) {
        let code = raw.uppercased()
        guard let digits = Currency.known[code] else { return nil }
        self.code = code
        self.minorUnitDigits = digits
    }

    public static let krw = Currency(code: "KRW")!

    /// Formats minor units in plain decimal notation: KRW `28912492`, USD `12.50`.
    public func plain(_ minorUnits: Int128) -> String { formatScaled(minorUnits, scale: minorUnitDigits) }
}
