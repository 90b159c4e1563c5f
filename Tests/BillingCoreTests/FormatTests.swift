import BillingCore
import Testing

@Suite("Exact formats")
struct FormatTests {
    @Test("SHA-256 matches the FIPS 180-4 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256(input: String, digest: String) {
        #expect(SHA256.hex(of: Array(input.utf8)) == digest)
        #expect(Self.portableHex(Array(input.utf8)) == digest)
    }

    /// The digest by the portable code, whatever the processor.
    static func portableHex(_ bytes: [UInt8]) -> String {
        var h = SHA256(portable: true)
        h.update(bytes)
        return h.hexDigest()
    }

    @Test("SHA-256 of a million 'a's (multi-block)")
    func sha256Long() {
        let a = [UInt8](repeating: 97, count: 1_000_000), digest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hex(of: a) == digest)
        #expect(Self.portableHex(a) == digest)
    }

    @Test("SHA-256 by the processor's SHA instructions equals the portable code's on random data of every length up to 300 bytes and on 1 MB")
    func sha256ProcessorAndPortable() {
        var g = SystemRandomNumberGenerator()
        for n in Array(0...300) + [1 << 20] {
            let data = (0..<n).map { _ in UInt8.random(in: 0...255, using: &g) }
            #expect(SHA256.hex(of: data) == Self.portableHex(data), "\(n) bytes")
        }
    }

    #if os(Linux) && arch(x86_64)
    @Test("The processor's SHA instructions are used where /proc/cpuinfo lists them (sha_ni)")
    func sha256UsesProcessor() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        #expect(SHA256.usesProcessorInstructions == flags.contains("sha_ni"))
    }
    #endif

    @Test("SHA-256 fed in uneven pieces equals the digest of the whole")
    func sha256Pieces() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        for piece in [1, 3, 63, 64, 65, 200] {
            var h = SHA256()
            var i = 0
            while i < data.count {
                let end = min(i + piece, data.count)
                h.update(data[i..<end])
                i = end
            }
            let hex = h.finalize().map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            #expect(hex == SHA256.hex(of: data), "pieces of \(piece)")
        }
    }

    @Test("Decimal formatting is plain and exact")
    func decimals() {
        #expect(formatScaled(9_876_543_210, scale: 6) == "9876.543210")
        #expect(formatScaled(-5, scale: 2) == "-0.05")
        #expect(formatSeconds(13_019_750_000) == "13019.75")
        #expect(formatSeconds(2_484_000_000_000) == "2484000")
        #expect(Currency(code: "USD")!.plain(12_50) == "12.50")
    }

    @Test("Display formats: thousands separators and hours, exact")
    func display() {
        #expect(DisplayFormat.grouped("28912492") == "28,912,492")
        #expect(DisplayFormat.grouped("-260740") == "-260,740")
        #expect(DisplayFormat.grouped("999") == "999")
        #expect(DisplayFormat.grouped("1234.50") == "1,234.50")
        #expect(DisplayFormat.hours(microseconds: 13_020_000_000, decimals: 2) == "3.62")
        #expect(DisplayFormat.hours(microseconds: 1, decimals: 9) == "0.000000000")
        #expect(DisplayFormat.hours(microseconds: 2, decimals: 9) == "0.000000001")  // 0.56e-9 h rounds up
        #expect(DisplayFormat.hours(microseconds: 1_800, decimals: 9) == "0.000000500")
    }

    @Test("JSON prints the same bytes for the same value, money as strings")
    func json() {
        let v: JSON = ["b": "1", "a": [.int(2), .null, true], "s": "x\"\n\u{1}"]
        #expect(v.compact == #"{"b":"1","a":[2,null,true],"s":"x\"\n\u0001"}"#)
        #expect(v.pretty.hasSuffix("}\n"))
    }
}
