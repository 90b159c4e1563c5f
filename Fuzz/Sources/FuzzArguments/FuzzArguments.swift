import FuzzDriver
import BillingCommands

/// The command line: arbitrary arguments (split at NUL) are parsed and validated, never
/// run. Parsing may fail; it must not crash.
@_cdecl("FuzzArguments_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, count in fuzzArguments(data!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzArguments(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: count), as: UTF8.self)
    let args = text.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
    _ = BMBill.validate(arguments: args)
    return 0
}
