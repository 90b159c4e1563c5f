import FuzzDriver
import Reports

/// The CSV writer: any fields, split from the input at 0x1F, read back by an RFC 4180
/// reader give the same fields (text behind a formula guard gets its `'`). File names made
/// from ids never leave their folder.
@_cdecl("FuzzCSV_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, count in fuzzCSV(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let fields = text.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
    var w = CSVWriter(header: ["h"])
    w.appendRecord(fields.map { .text($0) })
    let rows = CSVReader.records(w.text)
    precondition(rows.count == 2, "record count")
    precondition(rows[1] == fields.map(CSVWriter.defuseFormula), "fields do not round-trip")
    let name = SafeFileName.of(text)
    precondition(!name.isEmpty && !name.contains("/") && !name.hasPrefix(".") && name.utf8.count <= 120, "unsafe file name \(name)")
    return 0
}
