import Foundation
import PostgresClient
import Testing

/// A fresh database per test on the server the PG* variables point at (make test starts
/// one). Without a server the tests are skipped, unless BMBILL_TEST_REQUIRE_DB=1 (as in
/// make test and CI), where a missing server fails the run.
final class TestDatabase {
    let name: String
    let conninfo: String

    static var serverReachable: Bool {
        if (try? PostgresConnection(conninfo: "dbname=postgres connect_timeout=3")) != nil { return true }
        return ProcessInfo.processInfo.environment["BMBILL_TEST_REQUIRE_DB"] == "1"  // then fail loudly in init
    }

    init() throws {
        name = "bmbill_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = try PostgresConnection(conninfo: "dbname=postgres")
        try admin.execute("CREATE DATABASE \(name)")
        conninfo = "dbname=\(name)"
    }

    deinit {
        if let admin = try? PostgresConnection(conninfo: "dbname=postgres") {
            _ = try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    func connect() throws -> PostgresConnection { try PostgresConnection(conninfo: conninfo) }

    /// Migrates and loads the october-2026 example into the source tables.
    func loadExample(_ db: PostgresConnection) throws {
        try run(["migrate"]).expectSuccess()
        try loadCSVs(db, from: Fixtures.october)
    }

    /// Migrates and loads the pricing-october-2026 example: october-2026 plus its discounts,
    /// monthly caps and credits.
    func loadPricingExample(_ db: PostgresConnection) throws {
        try loadExample(db)
        for table in ["discounts", "monthly_caps", "credits"] {
            let text = try String(contentsOf: Fixtures.pricing.appendingPathComponent(table + ".csv"), encoding: .utf8)
            let columns = text.split(separator: "\n", maxSplits: 1)[0]
            try db.copyIn("COPY \(table) (\(columns)) FROM STDIN WITH (FORMAT csv, HEADER true, NULL '')") { send in try send(text) }
        }
    }

    func loadCSVs(_ db: PostgresConnection, from dir: URL) throws {
        for table in ["projects", "instance_types", "instances", "instance_state_changes", "rates"] {
            let text = try String(contentsOf: dir.appendingPathComponent(table + ".csv"), encoding: .utf8)
            try db.copyIn("COPY \(table) FROM STDIN WITH (FORMAT csv, HEADER true, NULL '')") { send in try send(text) }
        }
        // Rows came with their event ids: move the identity past them for later inserts.
        try db.execute("SELECT setval(pg_get_serial_sequence('instance_state_changes', 'event_id'), (SELECT max(event_id) FROM instance_state_changes))")
    }

    /// Runs the built bmbill binary against this database.
    func run(_ args: [String], env extra: [String: String] = [:]) throws -> CommandResult {
        try BMBillBinary.run(args, env: ["PGDATABASE": name].merging(extra) { $1 })
    }
}

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String

    @discardableResult
    func expectSuccess(sourceLocation: SourceLocation = #_sourceLocation) -> CommandResult {
        #expect(status == 0, "exit \(status): \(stderr)", sourceLocation: sourceLocation)
        return self
    }
}

/// A bmbill process started in the background, stopped at a test pause point.
final class PausedRun {
    let process = Process()
    let errPath: String

    /// Starts `bmbill args` with `BMBILL_TEST_PAUSE_AT=point` and waits until it says it paused.
    init(_ t: TestDatabase, _ args: [String], pauseAt point: String, seconds: Int? = nil) throws {
        errPath = tempDir() + "/err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: BMBillBinary.path)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["PGDATABASE"] = t.name
        env["BMBILL_TEST_PAUSE_AT"] = point
        if let seconds { env["BMBILL_TEST_PAUSE_SECONDS"] = String(seconds) }
        process.environment = env
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        for _ in 0..<600 {
            if read(errPath).contains("paused at \(point)") { return }
            if !process.isRunning { break }
            usleep(50_000)
        }
        Issue.record("bmbill did not pause at \(point): \(read(errPath))")
    }

    var pid: Int32 { process.processIdentifier }

    func kill9() {
        kill(pid, SIGKILL)
        process.waitUntilExit()
    }

    func wait() -> (status: Int32, stderr: String) {
        process.waitUntilExit()
        return (process.terminationStatus, read(errPath))
    }
}

enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let october = root.appendingPathComponent("october-2026")
    static let pricing = root.appendingPathComponent("pricing-october-2026")
    static let forecast = root.appendingPathComponent("forecast-october-2026")
}

/// The bmbill executable that `swift build` made (make test builds it before the tests).
enum BMBillBinary {
    static let path: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug/bmbill").path
    }()

    static func run(_ args: [String], env extra: [String: String]) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["BMBILL_LOG_LEVEL"] = "warning"
        for (k, v) in extra { env[k] = v }
        p.environment = env
        // Output goes to files: no pipe can fill up and block the child.
        let dir = tempDir()
        _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
        p.standardError = FileHandle(forWritingAtPath: dir + "/err")
        try p.run()
        p.waitUntilExit()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return CommandResult(status: p.terminationStatus, stdout: read(dir + "/out"), stderr: read(dir + "/err"))
    }
}

func tempDir() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bmbill-test-" + UUID().uuidString).path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// Runs the FinOps FOCUS validator (`BMBILL_FOCUS_VALIDATE`, set by `make test`) on a
/// focus.csv and expects it clean: exit 0 and no mandatory failure.
func expectFocusValid(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: ProcessInfo.processInfo.environment["BMBILL_FOCUS_VALIDATE"]!)
    p.arguments = [path]
    let log = tempDir() + "/validator.log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    p.standardOutput = FileHandle(forWritingAtPath: log)
    p.standardError = p.standardOutput
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "\(read(log))", sourceLocation: sourceLocation)
    #expect(read(log).contains("mandatory failures: 0, errors: 0"), sourceLocation: sourceLocation)
}
