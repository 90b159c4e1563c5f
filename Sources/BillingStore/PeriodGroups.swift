import BillingCore

/// A shard's instance ids by their bytes: a row's id to its place among them. Byte
/// equality, as the server's `COLLATE "C"` (Swift's `==` on strings would take
/// canonically equivalent ids for one). Open addressing over one array of all the ids'
/// bytes; seeded hashing (`Hasher`), so no id can be chosen to collide.
struct InstanceIdIndex {
    private var bytes: [UInt8] = []
    /// Where each id's bytes start in `bytes` (and, one past the last, where they end).
    private var starts: [Int] = [0]
    /// Id numbers, -1 for an empty slot; at most half full.
    private var slots: [Int32]
    private let mask: Int

    /// `ids` numbered in their order.
    init(_ ids: [String]) {
        var capacity = 16
        while capacity < ids.count * 2 { capacity <<= 1 }
        slots = Array(repeating: -1, count: capacity)
        mask = capacity - 1
        starts.reserveCapacity(ids.count + 1)
        for id in ids {
            bytes.append(contentsOf: id.utf8)
            starts.append(bytes.count)
        }
        for k in ids.indices {
            let (from, to) = (starts[k], starts[k + 1])
            let i = bytes.withUnsafeBufferPointer { all in
                let key = UnsafeBufferPointer(rebasing: all[from..<to])
                var i = Self.hash(key) & mask
                while slots[i] >= 0 && !same(Int(slots[i]), key) { i = (i + 1) & mask }  // the same bytes twice: the first keeps them
                return i
            }
            if slots[i] < 0 { slots[i] = Int32(k) }
        }
    }

    /// The number of the id whose bytes are `id`, or nil for none.
    @inline(__always)
    func number(of id: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = Self.hash(id) & mask
        while true {
            let k = Int(slots[i])
            if k < 0 { return nil }
            if same(k, id) { return k }
            i = (i + 1) & mask
        }
    }

    private func same(_ k: Int, _ id: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = starts[k + 1] - starts[k]
        guard n == id.count else { return false }
        guard n > 0 else { return true }
        return bytes.withUnsafeBufferPointer { SharedNames.sameBytes($0.baseAddress! + starts[k], id.baseAddress!, n) }
    }

    @inline(__always)
    private static func hash(_ id: UnsafeBufferPointer<UInt8>) -> Int {
        var h = Hasher()
        h.combine(bytes: UnsafeRawBufferPointer(id))
        return h.finalize()
    }
}

/// A period's changes read in no particular order, grouped by instance on the client:
/// appended as they come (32 bytes each, in one block of at most `limit` entries, whose
/// pages the system gives only as they are written), then put in instance order in place
/// (counting by instance, then one cycle per misplaced entry). No server sort, no second
/// copy.
final class PeriodGroups {
    struct Entry {
        let changedAt: Int64
        let eventId: Int64
        let recordedAt: Int64
        let instance: Int32
        let state: Int32
    }

    /// How many entries fit, at most.
    let limit: Int
    private(set) var count = 0
    private let entries: UnsafeMutablePointer<Entry>
    /// Per instance: how many entries it has; after `group`, where its entries start.
    private var starts: [Int]
    private var grouped = false

    /// Room for `limit` entries of `instances` instances (numbered from 0).
    init(instances: Int, limit: Int) {
        self.limit = max(0, limit)
        entries = .allocate(capacity: max(1, self.limit))
        starts = Array(repeating: 0, count: instances + 1)
    }

    deinit { entries.deallocate() }

    /// The size of one entry, for memory budgets.
    static let entryBytes = MemoryLayout<Entry>.stride

    /// Adds a change of instance `instance`; false when there is no more room (nothing added).
    @inline(__always)
    func append(instance: Int, state: Int, changedAt: Instant, eventId: Int64, recordedAt: Instant) -> Bool {
        guard count < limit else { return false }
        (entries + count).initialize(to: Entry(changedAt: changedAt.microseconds, eventId: eventId, recordedAt: recordedAt.microseconds,
                                               instance: Int32(truncatingIfNeeded: instance), state: Int32(truncatingIfNeeded: state)))
        count += 1
        starts[instance + 1] += 1
        return true
    }

    /// Puts the entries in instance order (within an instance in no particular order:
    /// `entries(of:)` puts them in effect order).
    func group() {
        precondition(!grouped, "grouped twice")
        grouped = true
        for k in 1..<starts.count { starts[k] += starts[k - 1] }
        // next[k]: the first place of instance k's range not yet holding one of its entries.
        var next = starts
        for k in 0..<(starts.count - 1) {
            while next[k] < starts[k + 1] {
                var e = entries[next[k]]
                // Follow the cycle: put e in its instance's next free place, take what was there.
                while Int(e.instance) != k {
                    let t = Int(e.instance)
                    swap(&e, &entries[next[t]])
                    next[t] += 1
                }
                entries[next[k]] = e
                next[k] += 1
            }
        }
    }

    /// Instance `k`'s entries (after `group`) in effect order (by instant, then event id),
    /// valid while this lives.
    func entries(of k: Int) -> UnsafeBufferPointer<Entry> {
        precondition(grouped, "entries(of:) before group()")
        var mine = UnsafeMutableBufferPointer(start: entries + starts[k], count: starts[k + 1] - starts[k])
        func precedes(_ a: Entry, _ b: Entry) -> Bool { (a.changedAt, a.eventId) < (b.changedAt, b.eventId) }
        if mine.count > 1, (1..<mine.count).contains(where: { precedes(mine[$0], mine[$0 - 1]) }) { mine.sort(by: precedes) }
        return UnsafeBufferPointer(mine)
    }
}
