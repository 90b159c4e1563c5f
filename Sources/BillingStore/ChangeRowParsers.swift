import BillingCore

/// The strings of a change stream's instance ids and states, made once: consecutive rows
/// share their instance's id, and a table has a handful of states. `decode` makes a string
/// from a field's bytes (COPY text unescapes; binary takes them as they are).
struct SharedNames {
    private var idBytes: [UInt8] = []
    /// The id of the last row read (`startsInstance`).
    private(set) var id = ""
    private var parsedAny = false
    /// The states seen, by their bytes' length and first and last eight bytes (which tell
    /// apart any two names of up to 16 bytes); `stateBytes` for the longer ones' middles.
    private var stateKeys: [StateKey] = []
    private var stateBytes: [[UInt8]] = []
    /// The states' names, by their number (`stateNumber`).
    private(set) var stateNames: [String] = []

    /// Names past the first 64 (`stateNumber` keeps every one), by their bytes.
    private var moreStates: [[UInt8]: Int] = [:]

    private struct StateKey: Equatable {
        let length: Int
        let head: UInt64
        let tail: UInt64

        /// The key of the `n` bytes at `p`; `readable` bytes from `p` on are in the buffer
        /// (a short name followed by eight readable bytes is loaded whole and masked).
        @inline(__always)
        init(_ p: UnsafePointer<UInt8>, _ n: Int, readable: Int) {
            length = n
            if n >= 8 {
                head = UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)
                tail = UnsafeRawPointer(p + (n - 8)).loadUnaligned(as: UInt64.self)
            } else if readable >= 8 {
                head = n == 0 ? 0 : UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) & (UInt64.max >> (64 - 8 * n))
                tail = 0
            } else {
                var v: UInt64 = 0
                for i in 0..<n { v |= UInt64(p[i]) << (8 * UInt64(i)) }
                head = v
                tail = 0
            }
        }
    }

    /// True when `field` holds another id than the last row's (whose string is then `id`).
    mutating func startsInstance(_ row: UnsafeBufferPointer<UInt8>, _ field: Range<Int>,
                                 decode: (UnsafeBufferPointer<UInt8>, Range<Int>) -> String) -> Bool {
        let p = row.baseAddress! + field.lowerBound
        if parsedAny && idBytes.count == field.count && idBytes.withUnsafeBufferPointer({ Self.sameBytes(p, $0.baseAddress!, field.count) }) {
            return false
        }
        id = decode(row, field)
        idBytes = Array(UnsafeBufferPointer(rebasing: row[field]))
        parsedAny = true
        return true
    }

    mutating func state(_ row: UnsafeBufferPointer<UInt8>, _ field: Range<Int>, decode: (UnsafeBufferPointer<UInt8>, Range<Int>) -> String) -> String {
        let p = row.baseAddress! + field.lowerBound, n = field.count
        let key = StateKey(p, n, readable: row.count - field.lowerBound)
        if let k = known(key, p, n) { return stateNames[k] }
        let name = decode(row, field)
        if stateKeys.count < 64 { remember(key, row, field, name) }
        return name
    }

    /// The number of the state in `field` among the names seen (its place in `stateNames`): every distinct name is kept, however many there are.
    mutating func stateNumber(_ row: UnsafeBufferPointer<UInt8>, _ field: Range<Int>, decode: (UnsafeBufferPointer<UInt8>, Range<Int>) -> String) -> Int {
        let p = row.baseAddress! + field.lowerBound, n = field.count
        let key = StateKey(p, n, readable: row.count - field.lowerBound)
        if let k = known(key, p, n) { return k }
        if stateKeys.count < 64 {
            remember(key, row, field, decode(row, field))
        } else {
            // A column of free text: looked up by its bytes, not among every name seen.
            let bytes = Array(UnsafeBufferPointer(rebasing: row[field]))
            if let k = moreStates[bytes] { return k }
            moreStates[bytes] = stateNames.count
            stateNames.append(decode(row, field))
        }
        return stateNames.count - 1
    }

    /// The number of the name with `key` (and, past 16 bytes, the bytes at `p`), if seen;
    /// inlined into `state` and `stateNumber`, which run for every change.
    @inline(__always)
    private func known(_ key: StateKey, _ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
        for k in stateKeys.indices where stateKeys[k] == key {
            if n <= 16 || stateBytes[k].withUnsafeBufferPointer({ Self.sameBytes(p, $0.baseAddress!, n) }) { return k }
        }
        return nil
    }

    private mutating func remember(_ key: StateKey, _ row: UnsafeBufferPointer<UInt8>, _ field: Range<Int>, _ name: String) {
        stateKeys.append(key)
        stateBytes.append(field.count > 16 ? Array(UnsafeBufferPointer(rebasing: row[field])) : [])
        stateNames.append(name)
    }

    /// Whether `n` bytes at `a` and `b` are the same, compared eight at a time.
    static func sameBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        guard n >= 8 else { return (0..<n).allSatisfy { a[$0] == b[$0] } }
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 8 <= n {
            if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        return i == n || ra.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
}

/// Parses `instance_id, state, changed_at, event_id, recorded_at` rows of COPY text,
/// reusing the strings of the instance id and of the states it has seen.
struct ChangeRowParser {
    let context: String
    private var fields: [Range<Int>] = []
    private var names = SharedNames()
    private var dates = CopyText.DateCache()

    init(context: String) { self.context = context }

    /// `\N`, a NULL in COPY text (both text columns are NOT NULL).
    private static let null: [UInt8] = [0x5C, 0x4E]

    mutating func parse(_ row: UnsafeBufferPointer<UInt8>) throws -> (instanceId: String, change: StateChange) {
        CopyText.split(row, into: &fields)
        guard fields.count == 5 else { throw bad(row, "expected 5 columns, got \(fields.count)") }
        guard !CopyText.equals(row, fields[0], Self.null) else { throw bad(row, "instance_id is NULL") }
        _ = names.startsInstance(row, fields[0], decode: CopyText.string)
        guard !CopyText.equals(row, fields[1], Self.null) else { throw bad(row, "state is NULL") }
        let state = names.state(row, fields[1], decode: CopyText.string)
        guard let changedAt = CopyText.timestamp(row, fields[2], cache: &dates) else { throw bad(row, "changed_at is not a timestamp bmbill can read") }
        guard let eventId = CopyText.int64(row, fields[3]) else { throw bad(row, "event_id is not an integer") }
        guard let recordedAt = CopyText.timestamp(row, fields[4], cache: &dates) else { throw bad(row, "recorded_at is not a timestamp bmbill can read") }
        return (names.id, StateChange(eventId: eventId, state: state, changedAt: changedAt, recordedAt: recordedAt))
    }

    private func bad(_ row: UnsafeBufferPointer<UInt8>, _ problem: String) -> StoreError {
        StoreError.badSourceRow(table: "instance_state_changes", key: String(decoding: row.prefix(200), as: UTF8.self), problem: "\(problem) (\(context))")
    }
}

/// Parses the same rows from `COPY … TO STDOUT (FORMAT binary)`: each field's length and
/// bytes, timestamps as `int8` microseconds since 2000-01-01 UTC and ids as `int8`, so there
/// is no text to split or to read digits from. The first row carries the format's header,
/// the last message is its trailer (`parse` gives nil for it). Every length is checked
/// against the row before it is read: a malformed row is an error, never a read past the
/// buffer. This runs for every change, so it reads the row in one pass with plain loads.
struct BinaryChangeRowParser {
    let context: String
    private var names = SharedNames()
    private var sawHeader = false
    /// The instance id of the last row parsed.
    var instanceId: String { names.id }
    /// Whether the last row parsed is of another instance than the row before it.
    private(set) var startsInstance = false

    init(context: String) { self.context = context }

    private static let short = "the row ends before its fields do"

    /// The next change, or nil for the trailer; `instanceId` and `startsInstance` tell whose it is.
    mutating func parse(_ row: UnsafeBufferPointer<UInt8>) throws -> StateChange? {
        guard let f = try fields(row) else { return nil }
        startsInstance = names.startsInstance(row, f.id, decode: Self.decode)
        let state = names.state(row, f.state, decode: Self.decode)
        return StateChange(eventId: f.eventId, state: state, changedAt: f.changedAt, recordedAt: f.recordedAt)
    }

    /// The next change with its instance id as the row's bytes and its state as a number
    /// (its place in `stateNames`), or nil for the trailer: for rows in no order, where making the id
    /// and state strings of every row would cost more than the rest.
    mutating func parseUnnamed(_ row: UnsafeBufferPointer<UInt8>) throws -> UnnamedChange? {
        guard let f = try fields(row) else { return nil }
        return UnnamedChange(id: UnsafeBufferPointer(rebasing: row[f.id]), state: names.stateNumber(row, f.state, decode: Self.decode),
                             changedAt: f.changedAt, eventId: f.eventId, recordedAt: f.recordedAt)
    }

    /// The names of the states `parseUnnamed` numbered, by number.
    var stateNames: [String] { names.stateNames }

    /// A row of `parseUnnamed`: `id` is in libpq's buffer, valid until the next row is read.
    struct UnnamedChange {
        let id: UnsafeBufferPointer<UInt8>
        let state: Int
        let changedAt: Instant
        let eventId: Int64
        let recordedAt: Instant
    }

    /// The row's fields after the header (on the first row), or nil for the trailer. Inlined
    /// into `parse` and `parseUnnamed`: a call per row shows in the instructions per change.
    @inline(__always)
    private mutating func fields(_ row: UnsafeBufferPointer<UInt8>) throws -> Fields? {
        guard let base = row.baseAddress else { throw bad(row, Self.short) }
        let p = UnsafeRawPointer(base), end = row.count
        var at = 0
        if !sawHeader {
            let sig = CopyBinary.signature.count
            guard end >= sig + 8, CopyText.equals(row, 0..<sig, CopyBinary.signature) else { throw bad(row, "not COPY's binary format") }
            let ext = Int(Int32(bigEndian: p.loadUnaligned(fromByteOffset: sig + 4, as: Int32.self)))
            guard ext >= 0, ext <= end - sig - 8 else { throw bad(row, Self.short) }
            at = sig + 8 + ext
            sawHeader = true
        }
        guard end - at >= 2 else { throw bad(row, Self.short) }
        let count = Int16(bigEndian: p.loadUnaligned(fromByteOffset: at, as: Int16.self))
        if count == -1 { return nil }
        guard count == 5 else { throw bad(row, "expected 5 columns, got \(count)") }
        do { return try Self.fields(p, at: at + 2, end: end) } catch { throw bad(row, error.words) }
    }

    /// What is wrong with a row, in words (`parse` adds what was being read).
    private struct Problem: Error { let words: String }

    /// A row's five fields, read from `at` to `end` (static, with a typed error: no copy of
    /// the parser and no boxed error on the way of every row).
    private struct Fields {
        let id: Range<Int>
        let state: Range<Int>
        let changedAt: Instant
        let eventId: Int64
        let recordedAt: Instant
    }

    private static func fields(_ p: UnsafeRawPointer, at start: Int, end: Int) throws(Problem) -> Fields {
        var at = start
        let id = try text(p, &at, end, "instance_id")
        let state = try text(p, &at, end, "state")
        // A well-formed row ends with its three 8-byte fields, 36 bytes with their lengths:
        // checked at once. Any other ending is read field by field, to say what is wrong.
        if end - at == 36, length(p, at) == 8, length(p, at + 12) == 8, length(p, at + 24) == 8 {
            let (changed, c) = value(p, at + 4).addingReportingOverflow(CopyBinary.postgresEpoch)
            let (recorded, r) = value(p, at + 28).addingReportingOverflow(CopyBinary.postgresEpoch)
            if !c && !r {
                return Fields(id: id, state: state, changedAt: Instant(microseconds: changed), eventId: value(p, at + 16),
                              recordedAt: Instant(microseconds: recorded))
            }
        }
        let changedAt = try instant(p, &at, end, "changed_at")
        let eventId = try int8(p, &at, end, "event_id")
        let recordedAt = try instant(p, &at, end, "recorded_at")
        guard at == end else { throw Problem(words: "\(end - at) bytes follow the row's fields") }
        return Fields(id: id, state: state, changedAt: changedAt, eventId: eventId, recordedAt: recordedAt)
    }

    /// The length word at `at` (the caller has checked it is in the row).
    @inline(__always)
    private static func length(_ p: UnsafeRawPointer, _ at: Int) -> Int32 { Int32(bigEndian: p.loadUnaligned(fromByteOffset: at, as: Int32.self)) }

    /// The 8-byte value at `at` (the caller has checked it is in the row).
    @inline(__always)
    private static func value(_ p: UnsafeRawPointer, _ at: Int) -> Int64 { Int64(bigEndian: p.loadUnaligned(fromByteOffset: at, as: Int64.self))
    }

    /// A field's length word at `at`, checked to be in the row; moves past it.
    @inline(__always)
    private static func length(_ p: UnsafeRawPointer, _ at: inout Int, _ end: Int) throws(Problem) -> Int {
        guard end - at >= 4 else { throw Problem(words: short) }
        defer { at += 4 }
        return Int(length(p, at))
    }

    /// A NOT NULL text field's bytes; moves past them.
    @inline(__always)
    private static func text(_ p: UnsafeRawPointer, _ at: inout Int, _ end: Int, _ name: StaticString) throws(Problem) -> Range<Int> {
        let n = try length(p, &at, end)
        guard n >= 0 else { throw Problem(words: "\(name) is NULL") }
        guard n <= end - at else { throw Problem(words: short) }
        defer { at += n }
        return at..<(at + n)
    }

    /// A NOT NULL `int8` (or `timestamptz`) field; moves past it.
    @inline(__always)
    private static func int8(_ p: UnsafeRawPointer, _ at: inout Int, _ end: Int, _ name: StaticString) throws(Problem) -> Int64 {
        let n = try length(p, &at, end)
        guard n >= 0 else { throw Problem(words: "\(name) is NULL") }
        guard n == 8 else { throw Problem(words: "\(name) is not 8 bytes") }
        guard end - at >= 8 else { throw Problem(words: short) }
        defer { at += 8 }
        return value(p, at)
    }

    @inline(__always)
    private static func instant(_ p: UnsafeRawPointer, _ at: inout Int, _ end: Int, _ name: StaticString) throws(Problem) -> Instant {
        let (micros, overflow) = try int8(p, &at, end, name).addingReportingOverflow(CopyBinary.postgresEpoch)
        guard !overflow else { throw Problem(words: "\(name) cannot be placed in time") }
        return Instant(microseconds: micros)
    }

    private static func decode(_ row: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: row[r]), as: UTF8.self)
    }

    private func bad(_ row: UnsafeBufferPointer<UInt8>, _ problem: String) -> StoreError {
        StoreError.badSourceRow(table: "instance_state_changes", key: "binary row of \(row.count) bytes", problem: "\(problem) (\(context))")
    }
}
