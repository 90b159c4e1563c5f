import BillingCore
import PropertyBased
import Testing

@Suite("JSON: one writer, one reader")
struct JSONTests {
    @Test("What bmbill writes reads back to the same value (random objects, strings with every kind of escape)")
    func roundTrip() async {
        let text = Gen.unicodeScalar(in: Unicode.Scalar(0)...Unicode.Scalar(0xD7FF)!).array(of: 0...12).map { String(String.UnicodeScalarView($0)) }
        await propertyCheck(count: 300, input: text, text, Gen.int(in: -1_000_000...1_000_000), Gen.bool) { a, b, n, flag in
            let value: JSON = ["a": .string(a), b: .array([.int(Int64(n)), .bool(flag), .null, ["nested": .string(a + "\u{1F600}" + b)]]), "e": [:]]
            #expect(JSON.parse(value.compact) == value)
            #expect(JSON.parse(value.pretty) == value)
        }
    }

    @Test("The writer gives, byte for byte, what the first one (String appends, by Unicode scalars) gave: files are compared across versions")
    func sameBytesAsBefore() async {
        let text = Gen.unicodeScalar(in: Unicode.Scalar(0)...Unicode.Scalar(0xD7FF)!).array(of: 0...12).map { String(String.UnicodeScalarView($0)) }
        await propertyCheck(count: 300, input: text, text, Gen.int(in: Int.min...Int.max), Gen.bool) { a, b, n, flag in
            let value: JSON = ["a": .string(a + "\u{2028}x\u{2029}\u{7F}"), b: .array([.int(Int64(n)), .bool(flag), .null, [], [:], ["nested": .string(a + "\u{1F600}" + b)]]), "e": [:]]
            #expect(value.pretty == Self.reference(value, pretty: true) + "\n")
            #expect(value.compact == Self.reference(value, pretty: false))
            #expect(value.prettyBytes == Array(value.pretty.utf8))
        }
    }

    /// The first writer, kept as the reference of the format.
    static func reference(_ v: JSON, indent: Int = 0, pretty: Bool) -> String {
        let pad = pretty ? String(repeating: "  ", count: indent + 1) : "", close = pretty ? String(repeating: "  ", count: indent) : ""
        let nl = pretty ? "\n" : ""
        func quote(_ s: String) -> String {
            var out = "\""
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
            return out + "\""
        }
        switch v {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .string(let s): return quote(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            return "[" + nl + items.enumerated().map { i, item in
                pad + reference(item, indent: indent + 1, pretty: pretty) + (i + 1 < items.count ? "," : "") + nl
            }.joined() + close + "]"
        case .object(let members):
            if members.isEmpty { return "{}" }
            return "{" + nl + members.enumerated().map { i, m in
                pad + quote(m.0) + (pretty ? ": " : ":") + reference(m.1, indent: indent + 1, pretty: pretty) + (i + 1 < members.count ? "," : "") + nl
            }.joined() + close + "}"
        }
    }

    @Test("PostgreSQL's jsonb text reads as written", arguments: [
        (#"{"active": true, "error": false}"#, true), (#"{"i-1": "12.5", "x": "0"}"#, true), (#" [1, -2, "\u00e9\ud83d\ude00"] "#, true),
        ("{}", true), ("[]", true), ("1.5", false), ("1e3", false), ("01", false), (#"{"a": 1,}"#, false), (#"{"a" 1}"#, false),
        ("[1] x", false), (#""\x""#, false), (#""\ud800""#, false), ("tru", false), ("", false), (String(repeating: "[", count: 100), false),
    ])
    func parses(_ c: (text: String, ok: Bool)) {
        let parsed = JSON.parse(c.text).map { _ in true } ?? false
        #expect(parsed == c.ok, "\(c.text)")
    }

    @Test("Typed readers: objects of strings and of booleans")
    func typedReaders() {
        #expect(JSON.parseObjectOfBools(#"{"active": true, "error": false}"#) == ["active": true, "error": false])
        #expect(JSON.parseObjectOfBools(#"{"active": "yes"}"#) == nil)
        #expect(JSON.parseObjectOfStrings(#"{"active": "3600.25"}"#) == ["active": "3600.25"])
        #expect(JSON.parse(#"[" \u00e9"]"#)?.arrayValue?.first?.stringValue == " é")
    }
}
