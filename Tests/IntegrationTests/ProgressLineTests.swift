import BillingCore
import Foundation
import Testing

@testable import BillingCommands

@Suite("Progress line")
struct ProgressLineTests {
    @Test("It says rows, share, rate and time left")
    func text() {
        let start = Instant(seconds: 1_000)
        let line = ProgressLine(label: "reading 2026-10", total: 1_000_000, enabled: false, started: start)
        line.advance(by: 250_000)
        #expect(line.text(now: Instant(seconds: 1_002)) == "reading 2026-10: 250,000 / 1,000,000 changes (25%), 125,000 rows/s, 6 s left")
        let unknown = ProgressLine(label: "reading", total: nil, enabled: false, started: start)
        unknown.advance(by: 10)
        #expect(unknown.text(now: Instant(seconds: 1_001)) == "reading: 10 changes, 10 rows/s")
    }

    @Test("It stays silent when stderr is not a terminal", .enabled(if: TestDatabase.serverReachable))
    func silentOffTerminal() throws {
        let t = try TestDatabase()
        let db = try t.connect()
        try t.loadExample(db)
        let r = try t.run(["run", "--period", "2026-10", "--as-of", "2026-12-01T00:00:00Z", "--out", tempDir()], env: ["BMBILL_LOG_LEVEL": "info"])
        #expect(r.status == 0)
        #expect(!r.stderr.contains("\r") && !r.stderr.contains("rows/s"))
    }
}
