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

    func parse(_ rows: [[UInt8]]) throws -> [StateChange] {
        var parser = BinaryChangeRowParser(context: "a test")
        return try rows.compactMap { r in try r.withUnsafeBufferPointer { try parser.parse($0) } }
    }

    @Test("A header, rows and the trailer: every field exact, timestamps moved from 2000-01-01 to the Unix epoch")
    func rows() throws {
        let oct1 = Instant(iso8601: "2026-09-30T15:00:00.000001Z")!.microseconds
        let changes = try parse([Self.header + Self.row("i-1", "active", changed: oct1, event: 7, recorded: oct1 + 1_000_000),
                                 Self.row("i-1", "Stopped ", changed: 0, event: Int64.max, recorded: -1),
                                 Self.row("é-2", "active", changed: oct1, event: -3, recorded: oct1), Self.be(-1, 2)])
        #expect(changes.count == 3)
        #expect(changes[0] == StateChange(eventId: 7, instanceId: "i-1", state: "active", changedAt: Instant(microseconds: oct1),
                                          recordedAt: Instant(microseconds: oct1 + 1_000_000)))
        #expect(changes[1].state == "Stopped " && changes[1].changedAt.microseconds == 0 && changes[1].eventId == Int64.max
            && changes[1].recordedAt.microseconds == -1)
        #expect(changes[2].instanceId == "é-2" && changes[2].eventId == -3)
    }

    @Test("Malformed rows are errors naming the problem", arguments: [
        ("no header", Self.row("i", "a", changed: 0, event: 1, recorded: 0), "not COPY's binary format"),
        ("four columns", Self.header + Self.be(4, 2), "expected 5 columns"),
        ("NULL state", Self.header + Self.be(5, 2) + Self.text("i") + Self.be(-1, 4), "state is NULL"),
        ("a short int8", Self.header + Self.be(5, 2) + Self.text("i") + Self.text("a") + Self.be(4, 4) + Self.be(0, 4), "changed_at is not 8 bytes"),
        ("cut short", Array((Self.header + Self.row("i", "a", changed: 0, event: 1, recorded: 0)).dropLast(3)), "the row ends before"),
        ("a length past the row", Self.header + Self.be(5, 2) + Self.be(1000, 4) + [0x41], "the row ends before"),
        ("a timestamp past Int64", Self.header + Self.be(5, 2) + Self.text("i") + Self.text("a") + Self.int8(Int64.max), "cannot be placed in time"),
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
