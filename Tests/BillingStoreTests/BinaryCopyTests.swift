import BillingCore
@testable import BillingStore
import PropertyBased
import Testing

/// The COPY binary parser that reads `instance_state_changes` (SourceReader): exact on what
/// PostgreSQL sends (checked against the server by every integration test that bills), and
/// total: no byte string crashes it or reads past the row.
@Suite("COPY binary parsing")
struct BinaryCopyTests {
    static let header: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]

    static func be(_ v: Int64, _ n: Int) -> [UInt8] { (0..<n).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func text(_ s: String) -> [UInt8] { be(Int64(s.utf8.count), 4) + Array(s.utf8) }
    static func int8(_ v: Int64) -> [UInt8] { be(8, 4) + be(v, 8) }

    /// A row of the reader's five columns; timestamps in microseconds since the Unix epoch.
    static func row(_ id: String, _ state: String, changed: Int64, event: Int64, recorded: Int64) -> [UInt8] {
        be(5, 2) + text(id) + text(state) + int8(changed - CopyBinary.postgresEpoch) + int8(event)
            + int8(recorded - CopyBinary.postgresEpoch)
    }

    /// Each change with its instance's id and whether the parser says it starts another instance.
    func parseRows(_ rows: [[UInt8]]) throws -> [(id: String, starts: Bool, change: StateChange)] {
        var parser = BinaryChangeRowParser(context: "a test")
        return try rows.compactMap { r in
            try r.withUnsafeBufferPointer { try parser.parse($0) }.map { (parser.instanceId, parser.startsInstance, $0) }
        }
    }

    func parse(_ rows: [[UInt8]]) throws -> [StateChange] { try parseRows(rows).map(\.change) }

    @Test("A header, rows and the trailer: every field exact, timestamps moved from 2000-01-01 to the Unix epoch")
    func rows() throws {
        let oct1 = Instant(iso8601: "2026-09-30T15:00:00.000001Z")!.microseconds
        let rows = try parseRows([Self.header + Self.row("i-1", "active", changed: oct1, event: 7, recorded: oct1 + 1_000_000),
                                  Self.row("i-1", "Stopped ", changed: 0, event: Int64.max, recorded: -1),
                                  Self.row("é-2", "active", changed: oct1, event: -3, recorded: oct1), Self.be(-1, 2)])
        let changes = rows.map(\.change)
        #expect(changes.count == 3)
        #expect(rows.map(\.id) == ["i-1", "i-1", "é-2"] && rows.map(\.starts) == [true, false, true])
        #expect(changes[0] == StateChange(eventId: 7, state: "active", changedAt: Instant(microseconds: oct1),
                                          recordedAt: Instant(microseconds: oct1 + 1_000_000)))
        #expect(changes[1].state == "Stopped " && changes[1].changedAt.microseconds == 0 && changes[1].eventId == Int64.max
            && changes[1].recordedAt.microseconds == -1)
        #expect(changes[2].eventId == -3)
    }

    /// Ids and states are compared by their bytes, eight at a time, and states first by
    /// their length and first and last eight bytes: names alike in all of those but one
    /// byte, of every length around the word size, must still be told apart.
    @Test("Instance ids and state names are told apart by every byte, at every length")
    func namesByEveryByte() throws {
        var names: [String] = [""]
        for n in [1, 7, 8, 9, 15, 16, 17, 22, 23, 24, 25, 36, 40] {
            let base = (0..<n).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) }
            names.append(String(base))
            for k in Set([0, n / 2, n - 1]) {  // the same name with one byte changed: first, middle, last
                var other = base
                other[k] = "_"
                names.append(String(other))
            }
        }
        // Every name as an id and as a state, each twice in a row, then all again in another order.
        let order = names + names.reversed()
        var bytes: [[UInt8]] = []
        var expected: [(id: String, starts: Bool, state: String)] = []
        for (i, name) in order.enumerated() {
            for repeatIndex in 0..<2 {
                bytes.append(Self.row(name, name, changed: Int64(i), event: Int64(i * 2 + repeatIndex), recorded: 0))
                expected.append((name, repeatIndex == 0 && (i == 0 || order[i - 1] != name), name))
            }
        }
        bytes[0] = Self.header + bytes[0]
        let rows = try parseRows(bytes + [Self.be(-1, 2)])
        #expect(rows.map(\.id) == expected.map(\.id))
        #expect(rows.map(\.change.state) == expected.map(\.state))
        #expect(rows.map(\.starts) == expected.map(\.starts))
    }

    @Test("Malformed rows are errors naming the problem", arguments: [
        ("no header", Self.row("i", "a", changed: 0, event: 1, recorded: 0), "not COPY's binary format"),
        ("four columns", Self.header + Self.be(4, 2), "expected 5 columns"),
        ("NULL state", Self.header + Self.be(5, 2) + Self.text("i") + Self.be(-1, 4), "state is NULL"),
        ("a short int8", Self.header + Self.be(5, 2) + Self.text("i") + Self.text("a") + Self.be(4, 4) + Self.be(0, 4), "changed_at is not 8 bytes"),
        ("cut short", Array((Self.header + Self.row("i", "a", changed: 0, event: 1, recorded: 0)).dropLast(3)), "the row ends before"),
        ("a length past the row", Self.header + Self.be(5, 2) + Self.be(1000, 4) + [0x41], "the row ends before"),
        ("a timestamp past Int64", Self.header + Self.be(5, 2) + Self.text("i") + Self.text("a") + Self.int8(Int64.max), "cannot be placed in time"),
        ("bytes after the fields", Self.header + Self.row("i", "a", changed: 0, event: 1, recorded: 0) + [0], "1 bytes follow the row's fields"),
        ("a NULL event id", Self.header + Self.be(5, 2) + Self.text("i") + Self.text("a") + Self.int8(0) + Self.be(-1, 4), "event_id is NULL"),
        ("a header cut short", Array(Self.header.prefix(12)), "not COPY's binary format"),
    ])
    func malformed(_ c: (name: String, bytes: [UInt8], problem: String)) {
        #expect(throws: StoreError.self, "\(c.name)") { _ = try parse([c.bytes]) }
        do { _ = try parse([c.bytes]) } catch { #expect("\(error)".contains(c.problem), "\(c.name): \(error)") }
    }

    @Test("No byte string crashes it or reads past the row", .timeLimit(.minutes(1)))
    func total() async {
        await propertyCheck(count: 2000, input: Gen.int(in: 0...255).array(of: 0...80), Gen.int(in: 0...2)) { noise, mode in
            let bytes = mode == 0 ? noise.map(UInt8.init) : Self.header + (mode == 1 ? Self.be(5, 2) : []) + noise.map(UInt8.init)
            _ = try? parse([bytes])
        }
    }
}
