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
