import BillingCore
@testable import BillingStore
import Foundation
import PostgresClient
import Testing

/// `BinaryCopyWriter`, which stores invoice lines with `COPY … (FORMAT binary)`: what the
/// server stores from it must be what the text format stored, value for value (exports
/// read these columns back as text).
@Suite("Writing COPY binary", .enabled(if: TestDatabase.serverReachable))
struct BinaryCopyWriterTests {
    /// Sends `rows` (each written by its closure) into `table` with COPY binary.
    func copy(_ db: PostgresConnection, _ table: String, _ rows: [(inout BinaryCopyWriter) throws -> Void]) throws {
        try db.copyInBytes("COPY \(table) FROM STDIN (FORMAT binary)") { send in
            try BinaryCopyWriter.header.withUnsafeBufferPointer { try send($0) }
            var w = BinaryCopyWriter()
            for row in rows {
                w.clear()
                try row(&w)
                try w.bytes.withUnsafeBufferPointer { try send($0) }
            }
            try BinaryCopyWriter.trailer.withUnsafeBufferPointer { try send($0) }
        }
    }

    @Test("Numerics are stored with the digits and scale of their text (1.50 stays 1.50), whatever the sign, size or number of decimals")
    func numerics() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try db.execute("CREATE TABLE n (k int4, v numeric, r numeric(20,6))")
        var values = ["0", "0.000000", "-0.5", "1.50", "10000", "9999.9999", "0.0001", "0.00001", "-12.50", "123456789012345678901234567890.123456",
                      "100000000", "99999999", "1", "-1", "2410560", "9876.543210", "0.000001", "-0.000001", "10000.0001", "170141183460469231731687303715884105727"]
        // Random decimals: 1 to 40 whole digits (leading zeros among them), 0 to 14 decimals, either sign.
        var g = SystemRandomNumberGenerator()
        for _ in 0..<400 {
            let whole = (0..<Int.random(in: 1...40, using: &g)).map { _ in String(Int.random(in: 0...9, using: &g)) }.joined()
            let decimals = Int.random(in: 0...14, using: &g)
            let fraction = (0..<decimals).map { _ in String(Int.random(in: 0...9, using: &g)) }.joined()
            values.append((Bool.random(using: &g) ? "-" : "") + whole + (decimals > 0 ? "." + fraction : ""))
        }
        try copy(db, "n (k, v)", values.enumerated().map { k, v in { w in
            w.row(fields: 2)
            w.int4(Int32(k))
            try w.numeric(v)
        } })
        let stored = try db.execute("SELECT v::text FROM n ORDER BY k").rows.map { $0[0]! }
        // What PostgreSQL makes of the same text: the text format's result.
        let expected = try values.map { try db.execute("SELECT $1::numeric::text", [$0]).scalar! }
        #expect(stored == expected)
        // A column with a scale rounds as it would from text.
        try copy(db, "n (k, r)", [{ w in
            w.row(fields: 2)
            w.int4(1000)
            try w.numeric("9876.5432105")
        }])
        #expect(try db.execute("SELECT r::text FROM n WHERE k = 1000").scalar == "9876.543211")
    }

    @Test("Anything but a plain decimal is refused before it is sent", arguments: ["", "-", "1.", ".5", "1e5", "NaN", "1,5", " 1", "+1", "1.2.3", "١٢"])
    func notDecimal(_ text: String) {
        var w = BinaryCopyWriter()
        #expect(throws: StoreError.self) { try w.numeric(text) }
        #expect(BinaryCopyWriter.numericDigits(text) == nil)
    }

    @Test("Base-10000 digits: leading and trailing zero groups dropped, the weight of the first group kept")
    func digits() {
        #expect(BinaryCopyWriter.numericDigits("10000")! == ([1], 1, false, 0))
        #expect(BinaryCopyWriter.numericDigits("0.0001")! == ([1], -1, false, 4))
        #expect(BinaryCopyWriter.numericDigits("-12.50")! == ([12, 5000], 0, true, 2))
        #expect(BinaryCopyWriter.numericDigits("-0.00")! == ([], 0, false, 2))
        #expect(BinaryCopyWriter.numericDigits("123456789.123456")! == ([1, 2345, 6789, 1234, 5600], 2, false, 6))
    }

    @Test("Texts (tabs, newlines, backslashes, non-ASCII), NULLs, timestamps to the microsecond, int8 arrays (empty too) and jsonb arrive as sent")
    func otherTypes() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try db.execute("CREATE TABLE x (k int8, s text, ts timestamptz, a bigint[], j jsonb)")
        let texts: [String?] = ["plain", "tab\there\nnewline\\back", "ünïcødé-服务器", "", nil]
        let instants: [Instant?] = [Instant(iso8601: "2026-09-30T15:00:00.000001Z"), Instant(microseconds: 0), Instant(microseconds: -1),
                                    Instant.postgresMinimum, nil]
        let arrays: [[Int64]?] = [[86_400_000_000, 0, -1], [], [Int64.max, Int64.min], [7], nil]
        let jsons: [String?] = [#"{"active": "1.5"}"#, "{}", #"{"a\tb": "ü"}"#, #"{"x": "1"}"#, nil]
        try copy(db, "x", (0..<5).map { k in { w in
            w.row(fields: 5)
            w.int8(Int64(k) - 2)
            w.text(texts[k])
            w.timestamptz(instants[k])
            w.int8Array(arrays[k])
            w.jsonb(jsons[k])
        } })
        let rows = try db.execute("SELECT k, s, \(SourceReader.micros("ts"))::text, a::text, j::text FROM x ORDER BY k").rows
        #expect(rows.map { $0[0] } == ["-2", "-1", "0", "1", "2"])
        #expect(rows.map { $0[1] } == texts)
        #expect(rows.map { $0[2] } == instants.map { $0.map { String($0.microseconds) } })
        #expect(rows.map { $0[3] } == arrays.map { $0.map { "{" + $0.map(String.init).joined(separator: ",") + "}" } })
        #expect(rows.map { $0[4] } == [#"{"active": "1.5"}"#, "{}", #"{"a\tb": "ü"}"#, #"{"x": "1"}"#, nil])
    }
}

extension BinaryCopyWriter {
    /// A plain decimal's base-10000 digits (no leading or trailing zero groups), the weight
    /// of the first (10000^weight), its sign and scale; nil when `text` is not `[-]d+[.d+]`.
    static func numericDigits(_ text: String) -> (digits: [Int16], weight: Int16, negative: Bool, scale: Int16)? {
        var text = text
        return text.withUTF8 { u in withNumericDigits(u) { d, w, n, s in (Array(d), w, n, s) } }
    }
}
