/// A JSON value with object keys kept in the order given, so that the same value always
/// prints to the same bytes (manifests and invoice files are compared byte for byte).
/// Money and durations are strings of exact decimals, never JSON numbers.
public indirect enum JSON: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    case null
    case bool(Bool)
    case int(Int64)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }

    /// A string, or null for nil.
    public static func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }

    public static func == (a: JSON, b: JSON) -> Bool { a.compact == b.compact }
    public func hash(into hasher: inout Hasher) { hasher.combine(compact) }

    /// Indented with two spaces, a newline at the end.
    public var pretty: String {
        var out = ""
        write(&out, indent: 0, pretty: true)
        return out + "\n"
    }

    /// On one line, no spaces (for jsonb columns).
    public var compact: String {
        var out = ""
        write(&out, indent: 0, pretty: false)
        return out
    }

    private func write(_ out: inout String, indent: Int, pretty: Bool) {
        var pad: String { pretty ? String(repeating: "  ", count: indent + 1) : "" }
        var close: String { pretty ? String(repeating: "  ", count: indent) : "" }
        let nl = pretty ? "\n" : ""
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty {
                out += "[]"
                return
            }
            out += "[" + nl
            let pad = pad
            for (i, item) in items.enumerated() {
                out += pad
                item.write(&out, indent: indent + 1, pretty: pretty)
                out += (i + 1 < items.count ? "," : "") + nl
            }
            out += close + "]"
        case .object(let members):
            if members.isEmpty {
                out += "{}"
                return
            }
            out += "{" + nl
            let pad = pad
            for (i, (key, value)) in members.enumerated() {
                out += pad
                JSON.quote(key, into: &out)
                out += pretty ? ": " : ":"
                value.write(&out, indent: indent + 1, pretty: pretty)
                out += (i + 1 < members.count ? "," : "") + nl
            }
            out += close + "}"
        }
    }

    private static func quote(_ s: String, into out: inout String) {
        // Most strings need no escape: no control character, quote or backslash, and no
        // U+2028/U+2029 (UTF-8 E2 80 A8/A9): copy them whole.
        if !s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0xE2 }) {
            out += "\""
            out += s
            out += "\""
            return
        }
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
