import CLibPQ

/// Keeps passwords out of messages. libpq echoes a malformed connection string or URI in
/// its error text (`invalid URI: "postgresql://u:secret@[::1"`), and such text goes to
/// stderr, which cron mails or logs: every message that may hold part of a connection
/// string goes through `redact` first.
public enum Redaction {
    /// What replaces a secret.
    public static let mask = "****"

    /// The passwords that `conninfo` (key=value or URI, well-formed or not) and the
    /// environment's `PGPASSWORD` hold, as written and percent-decoded.
    public static func secrets(conninfo: String, environment: [String: String] = [:]) -> [String] {
        var found: [String] = []
        // What libpq itself reads as the password, when it can parse the string.
        var error: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(conninfo, &error) {
            var p = options
            while let keyword = p.pointee.keyword {
                if String(cString: keyword) == "password", let value = p.pointee.val { found.append(String(cString: value)) }
                p += 1
            }
            PQconninfoFree(options)
        }
        if let error { PQfreemem(error) }
        // And what a human meant as one, when it cannot.
        found += uriPasswords(conninfo) + keywordPasswords(conninfo)
        if let env = environment["PGPASSWORD"] { found.append(env) }
        var all: [String] = []
        for s in found where !s.isEmpty {
            all.append(s)
            if let decoded = percentDecoded(s), decoded != s, !decoded.isEmpty { all.append(decoded) }
        }
        // Longest first, so that a secret containing another is masked whole.
        return Array(Set(all)).sorted { $0.count != $1.count ? $0.count > $1.count : $0 < $1 }
    }

    /// `text` with every secret of `conninfo` (and of `PGPASSWORD` in `environment`)
    /// masked, and any `scheme://user:password@` or `password=value` left in it masked too.
    public static func redact(_ text: String, conninfo: String, environment: [String: String] = [:]) -> String {
        redact(text, secrets: secrets(conninfo: conninfo, environment: environment))
    }

    /// `text` with each of `secrets` masked, then the generic patterns.
    public static func redact(_ text: String, secrets: [String]) -> String {
        var out = text
        for s in secrets where !s.isEmpty { out = out.replacingAll(s, with: mask) }
        for s in uriPasswords(out) where !s.isEmpty && s != mask { out = out.replacingAll(s, with: mask) }
        for s in keywordPasswords(out) where !s.isEmpty && s != mask { out = out.replacingAll(s, with: mask) }
        return out
    }

    /// Passwords in the user-info of every `postgres://` or `postgresql://` URI in `text`
    /// (between the first `:` after the scheme and the last `@` before the host), and in
    /// its `password=` query parameters.
    static func uriPasswords(_ text: String) -> [String] {
        var found: [String] = []
        var rest = Substring(text)
        while let scheme = rest.firstRange(of: "://") {
            let after = rest[scheme.upperBound...]
            // The URI ends at white space or a quote (libpq quotes it in messages).
            let stops: Set<Character> = [" ", "\"", "'", "\n"]
            let end = after.firstIndex(where: { stops.contains($0) }) ?? after.endIndex
            let uri = after[..<end]
            let authorityEnd = uri.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? uri.endIndex
            if let at = uri[..<authorityEnd].lastIndex(of: "@") ?? uri.lastIndex(of: "@") {
                let userinfo = uri[..<at]
                if let colon = userinfo.firstIndex(of: ":") { found.append(String(userinfo[userinfo.index(after: colon)...])) }
            }
            if let q = uri.firstIndex(of: "?") {
                for pair in uri[uri.index(after: q)...].split(separator: "&") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    if kv.count == 2, kv[0].lowercased() == "password" { found.append(String(kv[1])) }
                }
            }
            rest = after[end...]
        }
        return found
    }

    /// Values of `password = value` in key=value text: quoted (`'se cret'`, with `\'`
    /// escapes) or up to the next white space.
    static func keywordPasswords(_ text: String) -> [String] {
        var found: [String] = []
        let chars = Array(text)
        let key = Array("password")
        var i = 0
        while i + key.count <= chars.count {
            let matches = (0..<key.count).allSatisfy { chars[i + $0].lowercased() == String(key[$0]) }
            let startsWord = i == 0 || !(chars[i - 1].isLetter || chars[i - 1] == "_")
            guard matches, startsWord else {
                i += 1
                continue
            }
            var j = i + key.count
            while j < chars.count, chars[j] == " " { j += 1 }
            guard j < chars.count, chars[j] == "=" else {
                i += 1
                continue
            }
            j += 1
            while j < chars.count, chars[j] == " " { j += 1 }
            var value = ""
            if j < chars.count, chars[j] == "'" {
                j += 1
                while j < chars.count, chars[j] != "'" {
                    if chars[j] == "\\", j + 1 < chars.count { j += 1 }
                    value.append(chars[j])
                    j += 1
                }
                // The quoted text as written, too (with its escapes).
                found.append(value)
            } else {
                while j < chars.count, !chars[j].isWhitespace, chars[j] != "\"", chars[j] != "&" {
                    value.append(chars[j])
                    j += 1
                }
            }
            found.append(value)
            i = j
        }
        return found
    }

    /// `%XX` escapes undone; nil when one is malformed or the bytes are not UTF-8.
    static func percentDecoded(_ s: String) -> String? {
        guard s.contains("%") else { return s }
        var bytes: [UInt8] = []
        let u = Array(s.utf8)
        var i = 0
        while i < u.count {
            if u[i] == 0x25 {
                guard i + 2 < u.count, let h = hex(u[i + 1]), let l = hex(u[i + 2]) else { return nil }
                bytes.append(h << 4 | l)
                i += 3
            } else {
                bytes.append(u[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hex(_ b: UInt8) -> UInt8? {
        switch b {
        case 48...57: return b - 48
        case 65...70: return b - 55
        case 97...102: return b - 87
        default: return nil
        }
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in this module).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
