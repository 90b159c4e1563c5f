/// Writes RFC 4180 CSV: comma-separated, fields with a comma, quote, CR or LF in double
/// quotes (quotes doubled), CRLF after every record, UTF-8.
public struct CSVWriter {
    /// The bytes written so far (UTF-8).
    public private(set) var bytes: [UInt8] = []
    /// The text written so far.
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// Fields of the record being written (for the commas between them).
    private var fieldsInRecord = 0

    public init(header: [String]) { appendRecord(header.map { .text($0) }) }

    /// A writer with no header: for pieces of records (`append(written:fields:)`).
    public init() {}

    /// Forgets the bytes written so far.
    public mutating func clear() {
        bytes.removeAll(keepingCapacity: true)
        fieldsInRecord = 0
    }

    /// A field, and whether it came from users (names, ids) or is a number we made.
    public enum Field {
        /// Text from the source data. If it starts with `=`, `+`, `-`, `@`, tab or CR a
        /// spreadsheet would run it as a formula, so it is written behind a `'`.
        case text(String)
        /// A number or code bmbill formatted itself: written as it is.
        case plain(String)
    }

    /// Appends one record. Works on UTF-8 bytes: the characters that matter (`,` `"` CR
    /// LF and the formula starters) are ASCII, and an ASCII byte never occurs inside a
    /// multi-byte character, so a quote followed by a combining mark is still doubled.
    public mutating func appendRecord(_ fields: [Field]) {
        for field in fields { append(field) }
        endRecord()
    }

    /// Appends one field to the record being written (`endRecord` ends it).
    public mutating func append(_ field: Field) {
        if fieldsInRecord > 0 { bytes.append(0x2C) }
        fieldsInRecord += 1
        switch field {
        case .text(var s):
            s.withUTF8 { append($0, defuse: true) }
        case .plain(var s):
            s.withUTF8 { append($0, defuse: false) }
        }
    }

    /// Appends `fields` fields another writer wrote (its `bytes`, with no record end): the
    /// columns that repeat on many records, written once (usage.csv's instance columns).
    public mutating func append(written: [UInt8], fields: Int) {
        if fieldsInRecord > 0 { bytes.append(0x2C) }
        fieldsInRecord += fields
        bytes.append(contentsOf: written)
    }

    /// Ends the record: CRLF.
    public mutating func endRecord() {
        bytes.append(0x0D)
        bytes.append(0x0A)
        fieldsInRecord = 0
    }

    private mutating func append(_ field: UnsafeBufferPointer<UInt8>, defuse: Bool) {
        let formula = defuse && field.first.map { CSVWriter.formulaStarters.contains($0) } == true
        let quote = field.contains { $0 == 0x2C || $0 == 0x22 || $0 == 0x0D || $0 == 0x0A }
        if quote { bytes.append(0x22) }
        if formula { bytes.append(0x27) }
        if quote {
            for b in field {
                bytes.append(b)
                if b == 0x22 { bytes.append(0x22) }
            }
            bytes.append(0x22)
        } else {
            bytes.append(contentsOf: field)
        }
    }

    /// First bytes that make a spreadsheet read a cell as a formula: `=`, `+`, `-`, `@`, tab, CR.
    static let formulaStarters: [UInt8] = [0x3D, 0x2B, 0x2D, 0x40, 0x09, 0x0D]

    /// `s` as a `.text` field writes it (before CSV quoting): behind a `'` when it would
    /// start a formula.
    public static func defuseFormula(_ s: String) -> String {
        guard let first = s.utf8.first, formulaStarters.contains(first) else { return s }
        return "'" + s
    }
}
