import BillingCore
@testable import BillingStore
import Testing

/// Grouping a period's rows read in no order on the client (`SourceReader.Grouping`): ids
/// matched by their bytes, rows put with their instance, nothing lost, room never exceeded.
@Suite("Grouping a period's rows on the client")
struct PeriodGroupsTests {
    @Test("Rows read unnamed keep every byte of their ids and number their states, past 64 distinct names")
    func unnamedRows() throws {
        var parser = BinaryChangeRowParser(context: "a test")
        let states = (0..<70).map { "state-\($0)-" + String(repeating: "x", count: $0 % 20) } + ["a", "b", "state-3-xxx"]
        let ids = ["", "i-1", "e\u{301}", "\u{e9}", "i-1 ", "i-tab\there"]
        var seen: [(id: [UInt8], state: Int, event: Int64)] = []
        for (n, state) in (states + states.reversed()).enumerated() {
            let id = ids[n % ids.count]
            var bytes = BinaryCopyTests.row(id, state, changed: Int64(n), event: Int64(n), recorded: Int64(-n))
            if n == 0 { bytes = BinaryCopyTests.header + bytes }
            let change = try #require(try bytes.withUnsafeBufferPointer { try parser.parseUnnamed($0) })
            #expect(change.changedAt.microseconds == Int64(n) && change.eventId == Int64(n) && change.recordedAt.microseconds == Int64(-n))
            seen.append((Array(change.id), change.state, change.eventId))
        }
        let all = states + states.reversed()
        #expect(seen.map(\.id) == all.indices.map { Array(ids[$0 % ids.count].utf8) })
        #expect(seen.map { parser.stateNames[$0.state] } == all, "each number names its row's state")
        #expect(Set(parser.stateNames).count == parser.stateNames.count, "each name numbered once")
        #expect(try BinaryCopyTests.be(-1, 2).withUnsafeBufferPointer { try parser.parseUnnamed($0) } == nil, "the trailer")
    }

    @Test("An id is found by its bytes only: canonically equal ids, one byte off, a prefix and the empty id are others")
    func idIndex() {
        let ids = ["", "i-1", "i-10", "e\u{301}-twin", "\u{e9}-twin", "i-ünïcødé-服务器"] + (0..<1000).map { "i-\($0)-" + String(repeating: "z", count: $0 % 37) }
        let index = InstanceIdIndex(ids)
        for (k, id) in ids.enumerated() {
            #expect(Array(id.utf8).withUnsafeBufferPointer { index.number(of: $0) } == k, "\(id)")
        }
        for other in ["i-", "i-1 ", "I-1", "i-100000", "\u{e9}-twi", "e-twin", "i-1-zz"] {
            #expect(Array(other.utf8).withUnsafeBufferPointer { index.number(of: $0) } == nil, "\(other)")
        }
        #expect(InstanceIdIndex([]).number(of: UnsafeBufferPointer(start: nil, count: 0)) == nil)
    }

    @Test("Grouped in place: each instance's rows, all of them, in effect order; appending stops at the limit")
    func groupsInPlace() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let instances = Int.random(in: 1...40, using: &rng), rows = Int.random(in: 0...300, using: &rng)
            let groups = PeriodGroups(instances: instances, limit: rows)
            var expected = Array(repeating: [(Int64, Int64, Int64, Int)](), count: instances)
            for _ in 0..<rows {
                // Few instants, so that ties fall to the event id.
                let k = Int.random(in: 0..<instances, using: &rng), at = Int64.random(in: 0...5, using: &rng), event = Int64.random(in: -9...9, using: &rng)
                let state = Int.random(in: 0...3, using: &rng)
                #expect(groups.append(instance: k, state: state, changedAt: Instant(microseconds: at), eventId: event, recordedAt: Instant(microseconds: at * 7)))
                expected[k].append((at, event, at * 7, state))
            }
            #expect(!groups.append(instance: 0, state: 0, changedAt: Instant(microseconds: 0), eventId: 0, recordedAt: Instant(microseconds: 0)),
                    "no room past the limit")
            #expect(groups.count == rows)
            groups.group()
            for k in 0..<instances {
                let got = groups.entries(of: k).map { e in
                    #expect(Int(e.instance) == k)
                    return (e.changedAt, e.eventId, e.recordedAt, Int(e.state))
                }
                let want = expected[k].sorted { ($0.0, $0.1) < ($1.0, $1.1) }
                #expect(got.map(\.0) == want.map(\.0) && got.map(\.1) == want.map(\.1))
                #expect(got.map(\.2) == want.map(\.2))
                // Rows at one instant with one event id (not in a real table) keep a state each: the same states, as a multiset.
                #expect(got.map { "\($0.0)/\($0.1)/\($0.3)" }.sorted() == want.map { "\($0.0)/\($0.1)/\($0.3)" }.sorted())
            }
        }
    }
}

@Suite("How much of a period the readers group on the client")
struct GroupingLimitTests {
    @Test("Grouped on the client while the shard's rows, a quarter more than estimated, fit beside its instances' share of memory; else sorted by the server")
    func automaticLimit() {
        let entry = PeriodGroups.entryBytes, memory = SourceReader.groupingMemory, perInstance = SourceReader.memoryPerInstance
        #expect(entry == 32)
        // The bench's month: 3 M rows of 30,000 instances, two readers.
        let limit = SourceReader.groupingLimit(estimate: 3_030_000, shards: 2, instances: 15_000)
        #expect(limit == (memory / 2 - perInstance * 15_000) / entry)
        #expect(limit.map { $0 * entry + perInstance * 15_000 } ?? 0 <= memory / 2)
        // 100,000 instances leave no room: the server sorts, whatever the rows.
        #expect(SourceReader.groupingLimit(estimate: 0, shards: 2, instances: 50_000) == nil)
        // Just fits, and a row more does not.
        let room = (memory - perInstance * 1000) / entry
        let fits = room * 4 / 5
        #expect(SourceReader.groupingLimit(estimate: fits, shards: 1, instances: 1000) == room)
        #expect(SourceReader.groupingLimit(estimate: fits + 2, shards: 1, instances: 1000) == nil)
        // Shards share the memory: two with half the rows each, but as many instances each, do not fit.
        #expect(SourceReader.groupingLimit(estimate: fits, shards: 2, instances: 500) != nil)
        #expect(SourceReader.groupingLimit(estimate: fits, shards: 2, instances: 1000) == nil)
    }
}
