/// Writes RFC 4180 CSV: comma-separated, fields with a comma, quote, CR or LF in double
/// quotes (quotes doubled), CRLF after every record, UTF-8.
public struct CSVWriter {
    public private(set) var text = ""

    public init(header: [String]) { appendRecord(header.map { .text($0) }) }

    /// A field, and whether it came from users (names, ids) or is a number we made.
    public enum Field {
        /// Text from the source data. If it starts with `=`, `+`, `-`, `@`, tab or CR a
        /// spreadsheet would run it as a formula, so it is written behind a `'`.
        case text(String)
        /// A number or code bmbill formatted itself: written as it is.
        case plain(String)
    }

    public mutating func appendRecord(_ fields: [Field]) {
        for (i, field) in fields.enumerated() {
            if i > 0 { text += "," }
            switch field {
            case .text(let s): text += CSVWriter.escape(CSVWriter.defuseFormula(s))
            case .plain(let s): text += CSVWriter.escape(s)
            }
        }
        text += "\r\n"
    }

    public static func defuseFormula(_ s: String) -> String {
        guard let first = s.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return s }
        return "'" + s
    }

    public static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else { return s }
        return "\"" + s.doublingQuotes() + "\""
    }
}

extension String {
    /// Doubles every `"` scalar. Works on Unicode scalars, not characters: a quote followed
    /// by a combining mark is one character but still a quote to a CSV reader (found by
    /// the CSV fuzz target).
    func doublingQuotes() -> String {
        var out = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            out.append(scalar)
            if scalar == "\"" { out.append(scalar) }
        }
        return String(out)
    }
}
