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
    public var pretty: String { String(decoding: prettyBytes, as: UTF8.self) }

    /// `pretty` as UTF-8 (what files are written from).
    public var prettyBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(&out, indent: 0, pretty: true)
        out.append(0x0A)
        return out
    }

    /// On one line, no spaces (for jsonb columns).
    public var compact: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(&out, indent: 0, pretty: false)
        return String(decoding: out, as: UTF8.self)
    }

    /// Writes the value as UTF-8 into `out`: one buffer for the whole document (a thousand
    /// invoice files of thousands of lines each are written per run).
    private func write(_ out: inout [UInt8], indent: Int, pretty: Bool) {
        switch self {
        case .null: JSON.put("null", &out)
        case .bool(let b): JSON.put(b ? "true" : "false", &out)
        case .int(let i): JSON.putInteger(i, &out)
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let items):
            if items.isEmpty { return JSON.put("[]", &out) }
            out.append(0x5B)  // [
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                JSON.newline(indent + 1, pretty, &out)
                item.write(&out, indent: indent + 1, pretty: pretty)
            }
            JSON.newline(indent, pretty, &out)
            out.append(0x5D)  // ]
        case .object(let members):
            if members.isEmpty { return JSON.put("{}", &out) }
            out.append(0x7B)  // {
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(0x2C) }
                JSON.newline(indent + 1, pretty, &out)
                JSON.quote(key, into: &out)
                out.append(0x3A)  // :
                if pretty { out.append(0x20) }
                value.write(&out, indent: indent + 1, pretty: pretty)
            }
            JSON.newline(indent, pretty, &out)
            out.append(0x7D)  // }
        }
    }

    private static func put(_ s: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// When pretty: a newline and `level` two-space indents.
    private static func newline(_ level: Int, _ pretty: Bool, _ out: inout [UInt8]) {
        guard pretty else { return }
        out.append(0x0A)
        out.append(contentsOf: repeatElement(0x20, count: 2 * level))
    }

    private static func putInteger(_ i: Int64, _ out: inout [UInt8]) {
        if i < 0 { out.append(0x2D) }
        var m = i.magnitude
        let mark = out.count
        repeat {
            out.append(0x30 + UInt8(m % 10))
            m /= 10
        } while m > 0
        out[mark...].reverse()
    }

    /// A string in quotes, escaped: quote, backslash and control characters (`\n`, `\r`,
    /// `\t` by name, the others as `\u00xx`), and U+2028/U+2029 (E2 80 A8/A9 in UTF-8) as
    /// `\u2028`/`\u2029`; everything else as it is.
    private static func quote(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { u in
            out.append(0x22)
            // Most strings need no escape: copy them whole.
            if !u.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0xE2 }) {
                out.append(contentsOf: u)
                out.append(0x22)
                return
            }
            var i = 0
            while i < u.count {
                let b = u[i]
                switch b {
                case 0x22: put("\\\"", &out)
                case 0x5C: put("\\\\", &out)
                case 0x0A: put("\\n", &out)
                case 0x0D: put("\\r", &out)
                case 0x09: put("\\t", &out)
                case 0xE2 where i + 2 < u.count && u[i + 1] == 0x80 && (u[i + 2] == 0xA8 || u[i + 2] == 0xA9):
                    put(u[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", &out)
                    i += 2
                case ..<0x20:
                    put("\\u00", &out)
                    let hex: StaticString = "0123456789abcdef"
                    out.append(hex.utf8Start[Int(b >> 4)])
                    out.append(hex.utf8Start[Int(b & 0xF)])
                default: out.append(b)
                }
                i += 1
            }
            out.append(0x22)
        }
    }
}

extension JSON {
    /// Parses JSON text: the one reader of the JSON bmbill stores (settings, billable
    /// states, per-state seconds, shard plans). Numbers must be integers (bmbill writes
    /// money and durations as strings); nil for anything else that is not JSON.
    public static func parse(_ text: String) -> JSON? {
        var p = JSONParser(Array(text.utf8))
        guard let value = p.value() else { return nil }
        p.skipSpace()
        // (Not a ternary: `nil` there would be read as JSON's own nil literal, `.null`.)
        guard p.atEnd else { return nil }
        return value
    }

    /// The members of an object, in order; nil for anything else.
    public var members: [(String, JSON)]? { if case .object(let m) = self { return m } else { return nil } }
    /// The value of member `key` of an object.
    public subscript(key: String) -> JSON? { members?.first { $0.0 == key }?.1 }
    /// The object without the members named in `keys` (the others in order); anything else as it is.
    public func removing(_ keys: Set<String>) -> JSON {
        guard case .object(let m) = self else { return self }
        return .object(m.filter { !keys.contains($0.0) })
    }
    /// The object with `value` as its last member `key`; anything else as it is.
    public func adding(_ key: String, _ value: JSON) -> JSON {
        guard case .object(let m) = self else { return self }
        return .object(m + [(key, value)])
    }
    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }

    /// An object whose members are all strings, as a dictionary; nil otherwise.
    public static func parseObjectOfStrings(_ text: String) -> [String: String]? { parseObject(text, \.stringValue) }

    /// An object whose members are all booleans, as a dictionary; nil otherwise.
    public static func parseObjectOfBools(_ text: String) -> [String: Bool]? { parseObject(text, \.boolValue) }

    /// An object whose members all give a value through `member`, as a dictionary.
    private static func parseObject<T>(_ text: String, _ member: (JSON) -> T?) -> [String: T]? {
        guard let members = parse(text)?.members else { return nil }
        var out: [String: T] = [:]
        for (k, v) in members {
            guard let value = member(v) else { return nil }
            out[k] = value
        }
        return out
    }
}

/// A recursive-descent reader of JSON bytes (RFC 8259), for `JSON.parse`.
private struct JSONParser {
    let b: [UInt8]
    var i = 0
    var depth = 0

    init(_ bytes: [UInt8]) { b = bytes }

    var atEnd: Bool { i == b.count }

    mutating func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

    mutating func literal(_ word: String) -> Bool {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { return false }
        i += w.count
        return true
    }

    mutating func value() -> JSON? {
        skipSpace()
        guard i < b.count else { return nil }
        switch b[i] {
        case UInt8(ascii: "{"):
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var members: [(String, JSON)] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard let key = string() else { return nil }
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return nil }
                i += 1
                guard let v = value() else { return nil }
                members.append((key, v))
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "}") else { return nil }
                i += 1
                return .object(members)
            }
        case UInt8(ascii: "["):
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var items: [JSON] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            while true {
                guard let v = value() else { return nil }
                items.append(v)
                skipSpace()
                guard i < b.count else { return nil }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                guard b[i] == UInt8(ascii: "]") else { return nil }
                i += 1
                return .array(items)
            }
        case UInt8(ascii: "\""):
            return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        default:
            return integer()
        }
    }

    /// `-?digits`, no fraction or exponent (bmbill writes no other numbers).
    mutating func integer() -> JSON? {
        let start = i
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < b.count, b[i] >= 48, b[i] <= 57 { i += 1 }
        guard i > digits, i - digits == 1 || b[digits] != 48 else { return nil }
        if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { return nil }
        return Int64(String(decoding: b[start..<i], as: UTF8.self)).map { .int($0) }
    }

    mutating func string() -> String? {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < b.count {
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard i < b.count else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard literal("\\u"), let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { return nil }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: return nil
                }
            default:
                guard c >= 0x20 else { return nil }
                out.append(c)
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard i + 4 <= b.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = b[i + k]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: return nil
            }
            v = v * 16 + d
        }
        i += 4
        return v
    }
}
