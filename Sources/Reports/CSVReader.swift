/// Reads RFC 4180 CSV (the counterpart of `CSVWriter`): quoted fields may hold commas,
/// doubled quotes and line breaks; records end with CRLF or LF. Used to check what bmbill
/// writes and to load fixtures.
public enum CSVReader {
    /// All records, the header included.
    public static func records(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        let u = Array(text.unicodeScalars)
        var i = 0
        while i < u.count {
            let c = u[i]
            if quoted {
                if c == "\"" {
                    if i + 1 < u.count && u[i + 1] == "\"" {
                        field.unicodeScalars.append("\"")
                        i += 1
                    } else {
                        quoted = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field)
                field = ""
            } else if c == "\n" || (c == "\r" && i + 1 < u.count && u[i + 1] == "\n") {
                if c == "\r" { i += 1 }
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.unicodeScalars.append(c)
            }
            i += 1
        }
        if !field.isEmpty || !row.isEmpty {
            row.append(field)
            rows.append(row)
        }
        return rows
    }

    /// The records after the header, each as column name -> value.
    public static func dictionaries(_ text: String) -> [[String: String]] {
        let rows = records(text)
        guard let header = rows.first else { return [] }
        return rows.dropFirst().map { Dictionary(zip(header, $0), uniquingKeysWith: { a, _ in a }) }
    }
}
