import BillingCore

/// Turns an id from the source data into a file name that stays inside its folder.
///
/// Letters, digits, `-`, `_` and `.` pass through; every other byte becomes `%XX`, so `/`,
/// NUL and `..` cannot climb out. A leading `.` is encoded (no hidden or `..` names), and
/// a name longer than 120 bytes is cut and suffixed with a hash so two long ids never collide.
public enum SafeFileName {
    public static func of(_ id: String) -> String {
        var out = ""
        for (i, b) in id.utf8.enumerated() {
            let ok = (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 45 || b == 95 || (b == 46 && i > 0)
            if ok {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                let hex = String(b, radix: 16, uppercase: true)
                out += "%" + (b < 16 ? "0" : "") + hex
            }
        }
        if out.isEmpty { out = "%00" }
        if out.utf8.count > 120 {
            out = String(out.prefix(100)) + "~" + String(SHA256.hex(of: Array(id.utf8)).prefix(16))
        }
        return out
    }
}
