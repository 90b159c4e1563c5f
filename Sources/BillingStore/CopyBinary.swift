import BillingCore

/// PostgreSQL's COPY binary format (the "Binary Format" section of the COPY page): a
/// header, then per row a 16-bit field count and per field a 32-bit length (-1: NULL)
/// followed by the value in the type's binary send/receive form, all big-endian, then a
/// trailer of -1. Read by `BinaryChangeRowParser`; written by `BinaryCopyWriter`.
enum CopyBinary {
    /// `PGCOPY\n\377\r\n\0`; the header goes on with flags (4 bytes) and the length of its
    /// extension area (4 bytes).
    static let signature: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]
    /// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch for timestamps.
    static let postgresEpoch: Int64 = 946_684_800_000_000
    /// `int8`'s type oid: the element type a `bigint[]` value names.
    static let int8Oid: Int32 = 20
}

/// Rows for `COPY … FROM STDIN (FORMAT binary)`: the server receives numbers, arrays and
/// timestamps as they are stored, with no text to parse (`invoice_lines`: the daily arrays
/// of 31 values were most of the text it parsed). Start with `header`, call `row` and the
/// field writers for each row, end with `trailer`. A value is written the way the column's
/// type receives it; numerics are given as the same plain decimal text the text format
/// would carry, so that what is stored (digits and scale) is the same either way.
struct BinaryCopyWriter {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(1024) }

    /// The header: signature, no flags, no extension.
    static let header: [UInt8] = CopyBinary.signature + [0, 0, 0, 0, 0, 0, 0, 0]
    /// The trailer: a field count of -1.
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Empties the buffer (keeping its capacity) for the next rows.
    mutating func clear() { bytes.removeAll(keepingCapacity: true) }

    /// Starts a row of `fields` fields.
    mutating func row(fields: Int) { append16(Int16(fields)) }

    mutating func null() { append32(-1) }

    mutating func int4(_ v: Int32) {
        append32(4)
        append32(v)
    }

    mutating func int8(_ v: Int64) {
        append32(8)
        append64(v)
    }

    /// `text` (or NULL): the UTF-8 bytes as they are, no escaping.
    mutating func text(_ s: String?) {
        guard var s else { return null() }
        s.withUTF8 { u in
            append32(Int32(u.count))
            bytes.append(contentsOf: u)
        }
    }

    /// `timestamptz` (or NULL): microseconds since 2000-01-01 UTC.
    mutating func timestamptz(_ t: Instant?) {
        guard let t else { return null() }
        int8(t.microseconds - CopyBinary.postgresEpoch)
    }

    /// `jsonb` (or NULL): format version 1, then the JSON text (which the server parses).
    mutating func jsonb(_ json: String?) {
        guard var json else { return null() }
        json.withUTF8 { u in
            append32(Int32(u.count + 1))
            bytes.append(1)
            bytes.append(contentsOf: u)
        }
    }

    /// `bigint[]` (or NULL): one dimension from 1, no NULL elements (an empty list: no dimension).
    mutating func int8Array(_ values: [Int64]?) {
        guard let values else { return null() }
        let header = values.isEmpty ? 12 : 20
        append32(Int32(header + values.count * 12))
        append32(values.isEmpty ? 0 : 1)  // dimensions
        append32(0)  // no NULLs
        append32(CopyBinary.int8Oid)
        if !values.isEmpty {
            append32(Int32(values.count))
            append32(1)  // lower bound
        }
        for v in values { int8(v) }
    }

    /// `numeric` (or NULL) from a plain decimal (`-12.50`, `0`, `9876.543210`: what
    /// `Currency.plain`, `formatSeconds` and rate texts give): base-10000 digits, the weight
    /// of the first, the sign and the display scale (the number of decimals written, so
    /// `1.50` is stored as `1.50`, as the text format would store it).
    mutating func numeric(_ text: String?) throws {
        guard var text else { return null() }
        let written: Void? = text.withUTF8 { u in
            Self.withNumericDigits(u) { digits, weight, negative, scale in
                append32(Int32(8 + 2 * digits.count))
                append16(Int16(digits.count))
                append16(weight)
                append16(negative ? 0x4000 : 0)
                append16(scale)
                for d in digits { append16(d) }
            }
        }
        guard written != nil else {
            throw StoreError.badSourceRow(table: "numeric", key: text, problem: "not a plain decimal number (bmbill writes no other)")
        }
    }

    /// Calls `body` with the digits, weight, sign and scale of the plain decimal `u`, made
    /// without allocating (this runs for every numeric of every invoice line); nil when `u`
    /// is not `[-]d+[.d+]` (at most 1000 digits on either side of the point).
    static func withNumericDigits<T>(_ u: UnsafeBufferPointer<UInt8>,
                                     _ body: (UnsafeBufferPointer<Int16>, Int16, Bool, Int16) -> T) -> T? {
        let negative = u.first == UInt8(ascii: "-")
        let wholeStart = negative ? 1 : 0
        var wholeEnd = wholeStart
        while wholeEnd < u.count, u[wholeEnd] >= 0x30, u[wholeEnd] <= 0x39 { wholeEnd += 1 }
        let hasPoint = wholeEnd < u.count && u[wholeEnd] == UInt8(ascii: ".")
        let fractionStart = hasPoint ? wholeEnd + 1 : wholeEnd
        var fractionEnd = fractionStart
        while fractionEnd < u.count, u[fractionEnd] >= 0x30, u[fractionEnd] <= 0x39 { fractionEnd += 1 }
        let wholeCount = wholeEnd - wholeStart, fractionCount = fractionEnd - fractionStart
        guard fractionEnd == u.count, wholeCount > 0, !hasPoint || fractionCount > 0, wholeCount <= 1000, fractionCount <= 1000 else {
            return nil
        }
        // The digits as one sequence padded with zeros to groups of four: on the left of the
        // whole part, on the right of the decimals.
        let left = (4 - wholeCount % 4) % 4, right = (4 - fractionCount % 4) % 4
        let total = left + wholeCount + fractionCount + right
        func digit(_ v: Int) -> Int16 {
            if v < left { return 0 }
            if v < left + wholeCount { return Int16(u[wholeStart + v - left] - 0x30) }
            if v < left + wholeCount + fractionCount { return Int16(u[fractionStart + v - left - wholeCount] - 0x30) }
            return 0
        }
        return withUnsafeTemporaryAllocation(of: Int16.self, capacity: total / 4) { groups in
            for g in 0..<(total / 4) { groups[g] = ((digit(4 * g) * 10 + digit(4 * g + 1)) * 10 + digit(4 * g + 2)) * 10 + digit(4 * g + 3) }
            var first = 0, last = total / 4
            while first < last, groups[first] == 0 { first += 1 }
            while last > first, groups[last - 1] == 0 { last -= 1 }
            // Zero: no digits, weight 0 and no sign, as PostgreSQL writes it.
            if first == last { return body(UnsafeBufferPointer(start: nil, count: 0), 0, false, Int16(fractionCount)) }
            return body(UnsafeBufferPointer(rebasing: groups[first..<last]), Int16((left + wholeCount) / 4 - 1 - first), negative,
                        Int16(fractionCount))
        }
    }

    private mutating func append16(_ v: Int16) {
        let u = UInt16(bitPattern: v)
        bytes.append(UInt8(u >> 8))
        bytes.append(UInt8(u & 0xFF))
    }

    private mutating func append32(_ v: Int32) {
        let u = UInt32(bitPattern: v)
        bytes.append(UInt8(u >> 24))
        bytes.append(UInt8((u >> 16) & 0xFF))
        bytes.append(UInt8((u >> 8) & 0xFF))
        bytes.append(UInt8(u & 0xFF))
    }

    private mutating func append64(_ v: Int64) {
        append32(Int32(truncatingIfNeeded: v >> 32))
        append32(Int32(truncatingIfNeeded: v))
    }
}
