import Foundation
import BillingCore
import Reports
import Testing

@Suite("Report files")
struct ReportsTests {
    @Test("CSV follows RFC 4180: quotes doubled, CRLF, fields with commas or newlines quoted")
    func rfc4180() {
        var w = CSVWriter(header: ["a", "b"])
        w.appendRecord([.text("Beta, Inc."), .text("say \"hi\"\nbye")])
        w.appendRecord([.plain("1.5"), .text("")])
        #expect(w.text == "a,b\r\n\"Beta, Inc.\",\"say \"\"hi\"\"\nbye\"\r\n1.5,\r\n")
    }

    @Test("Names that look like spreadsheet formulas are exported as plain text", arguments: [
        ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
        ("Robert'); DROP TABLE projects;--", "Robert'); DROP TABLE projects;--"), ("Alpha", "Alpha"),
    ])
    func formulas(input: String, written: String) {
        #expect(CSVWriter.defuseFormula(input) == written)
        var w = CSVWriter(header: ["n"])
        w.appendRecord([.plain("-5")])  // numbers we format stay numbers
        #expect(w.text.hasSuffix("-5\r\n"))
    }

    @Test("Project ids used in file names cannot leave the output folder", arguments: [
        ("prj-alpha", "prj-alpha"), ("../../x", "%2E.%2F..%2Fx"), ("/", "%2F"), ("a\u{0}b", "a%00b"), ("", "%00"), (".hidden", "%2Ehidden"),
    ])
    func safeNames(id: String, name: String) {
        #expect(SafeFileName.of(id) == name)
        #expect(!SafeFileName.of(id).contains("/"))
    }

    @Test("A very long id is cut and made unique by a hash")
    func longNames() {
        let a = SafeFileName.of(String(repeating: "x", count: 500) + "a")
        let b = SafeFileName.of(String(repeating: "x", count: 500) + "b")
        #expect(a.utf8.count <= 120 && b.utf8.count <= 120)
        #expect(a != b)
    }

    @Test("Rendering is deterministic and the manifest checks every file, usage.csv (written to disk in chunks) included")
    func deterministic() throws {
        let result = sampleResult()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-files-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["a", "b"] { try FileManager.default.createDirectory(atPath: dir + "/\(sub)/invoices", withIntermediateDirectories: true) }
        let ua = try UsageCSV.write(result, to: dir + "/a/usage.csv"), ub = try UsageCSV.write(result, to: dir + "/b/usage.csv")
        let usage = try String(contentsOfFile: ua.path, encoding: .utf8)
        #expect(usage == UsageCSV.text(result))
        #expect(ua.digest == ub.digest && ua.digest == SHA256.hex(of: Array(usage.utf8)) && ua.bytes == usage.utf8.count)
        // Chunks of any size give the same text.
        var chunks: [String] = []
        UsageCSV.render(result, chunk: 10) { chunks.append($0) }
        #expect(chunks.count > 2 && chunks.joined() == usage)

        let a = try PeriodFiles(result: result, records: [:], usage: ua), b = try PeriodFiles(result: result, records: [:], usage: ub)
        #expect(a.files.map { $0.path } == b.files.map { $0.path })
        #expect(a.files.last!.path == "manifest.json")
        let manifest = try String(contentsOfFile: dir + "/a/manifest.json", encoding: .utf8)
        for (path, digest) in a.files {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/a/" + path))
            #expect(bytes == (try Data(contentsOf: URL(fileURLWithPath: dir + "/b/" + path))), "\(path) is rendered the same twice")
            #expect(SHA256.hex(of: Array(bytes)) == digest)
            if path != "manifest.json" { #expect(manifest.contains("\"\(path)\": \"\(digest)\"")) }
        }
        #expect(usage.hasPrefix(PeriodFiles.usageColumns.joined(separator: ",") + "\r\n"))
        #expect(usage.contains(",active,true,2020-01-01T00:00:00Z,3600.000000,KRW,5400.5,5400.500000,1,\r\n"))
    }

    func sampleResult() -> BillingResult {
        let zone = BillingTimeZone(identifier: "Asia/Seoul")!
        let period = BillingPeriod(month: YearMonth(year: 2026, month: 10)!, zone: zone)
        let catalog = BillingCatalog(
            projects: [Project(id: "=p", name: "-Evil, Corp", billingAccountId: nil)], types: [InstanceType(name: "r2a.baremetal", category: "memory_optimized")],
            instances: [Instance(id: "i-1", projectId: "=p", typeName: "r2a.baremetal", image: "Ubuntu 22.04", name: "@db", createdAt: Instant(seconds: 0))],
            rates: [RateVersion(typeName: "r2a.baremetal", currency: "KRW", hourlyRate: ExactDecimal(parsing: "3600")!, effectiveFrom: Instant(iso8601: "2020-01-01T00:00:00Z")!, effectiveTo: nil)],
            billableStates: .seed)
        var engine = BillingEngine(period: period, asOf: period.end, settings: BillingSettings(), catalog: catalog)!
        let at = period.start.adding(microseconds: 1_000_000_000)
        engine.meter(instanceId: "i-1", changes: [
            StateChange(eventId: 1, state: "active", changedAt: at, recordedAt: at),
            StateChange(eventId: 2, state: "deleting", changedAt: at.adding(microseconds: 5_400_500_000), recordedAt: at),
        ])
        return engine.finish()
    }
}

@Suite("CSV reader")
struct CSVReaderTests {
    @Test("What the writer writes, the reader reads back field for field")
    func roundTrip() {
        let fields = ["plain", "Beta, Inc.", "say \"hi\"", "two\r\nlines", "", "tab\there"]
        var w = CSVWriter(header: ["a", "b", "c", "d", "e", "f"])
        w.appendRecord(fields.map { .plain($0) })
        let rows = CSVReader.records(w.text)
        #expect(rows == [["a", "b", "c", "d", "e", "f"], fields])
        #expect(CSVReader.dictionaries(w.text) == [Dictionary(uniqueKeysWithValues: zip(["a", "b", "c", "d", "e", "f"], fields))])
        #expect(CSVReader.records("x,y\nl,m") == [["x", "y"], ["l", "m"]])
    }
}

@Suite("CSV edge cases found by fuzzing")
struct CSVFuzzRegressionTests {
    @Test("A quote followed by a combining mark is still doubled")
    func quoteWithCombiningMark() {
        let field = "a\"\u{0301}b"
        var w = CSVWriter(header: ["f"])
        w.appendRecord([.plain(field)])
        #expect(CSVReader.records(w.text) == [["f"], [field]])
    }
}
