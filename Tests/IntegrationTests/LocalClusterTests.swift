import Foundation
import Testing

/// `scripts/pg`, which `make demo` and `make test` start their PostgreSQL with: a clone in a
/// folder the postgres user cannot enter (a `mktemp -d` folder, /root) gets its cluster in
/// a folder of the postgres user's own, found again by `env`, `down` and `rm`.
///
/// Only root hands clusters to the postgres user, so only root runs these (as make test
/// does); without the PostgreSQL server binaries they are skipped, unless
/// BMBILL_TEST_REQUIRE_DB=1, where they fail.
@Suite("Local PostgreSQL clusters", .enabled(if: ClusterScript.canRun))
struct LocalClusterTests {
    /// Runs a program (looked up in PATH) and returns its exit status and output.
    func sh(_ args: [String], env extra: [String: String] = [:]) throws -> CommandResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: dir + "/out")
        p.standardError = FileHandle(forWritingAtPath: dir + "/err")
        try p.run()
        p.waitUntilExit()
        return CommandResult(status: p.terminationStatus, stdout: read(dir + "/out"), stderr: read(dir + "/err"))
    }

    /// The PG* variables `scripts/pg env` prints, as a dictionary.
    func pgEnv(_ dir: String, port: String) throws -> [String: String] {
        let r = try sh([ClusterScript.script, "env", dir, port])
        #expect(r.status == 0, "\(r.stderr)")
        var env: [String: String] = [:]
        for assignment in r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).dropFirst("export ".count).split(separator: " ") {
            let kv = assignment.split(separator: "=", maxSplits: 1)
            env[String(kv[0])] = String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        return env
    }

    @Test("scripts/pg up, env, down and rm in a clone the postgres user can (0755) and cannot (0700) enter; psql reaches the cluster",
          arguments: [0o755, 0o700])
    func clusterFolder(mode: Int) throws {
        let parent = tempDir()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: parent)
        let clone = parent + "/bmbill"
        try FileManager.default.createDirectory(atPath: clone, withIntermediateDirectories: false)
        let dir = clone + "/.pg-check"
        let port = mode == 0o700 ? "55497" : "55498"
        defer { _ = try? sh([ClusterScript.script, "rm", dir]) }

        let up = try sh([ClusterScript.script, "up", dir, port])
        #expect(up.status == 0, "scripts/pg up: \(up.stdout)\(up.stderr)")
        let home = try sh([ClusterScript.script, "where", dir]).stdout.trimmingCharacters(in: .newlines)
        if mode == 0o700 {
            #expect(home.hasPrefix(ClusterScript.clusters + "pg-check-"), "\(home)")
            #expect(home.count == (ClusterScript.clusters + "pg-check-").count + 12)
            #expect(up.stdout.contains("lives in \(home)"), "up does not say where the cluster is: \(up.stdout)")
            #expect(!FileManager.default.fileExists(atPath: dir), "nothing is made inside the clone")
            #expect(read(home + "/origin") == dir + "\n")
        } else {
            #expect(home == dir)
            #expect(!up.stdout.contains("lives in"))
        }

        let env = try pgEnv(dir, port: port)
        #expect(env["PGHOST"] == home + "/sock")
        let psql = try sh(["psql", "-X", "-d", "postgres", "-tAc", "SHOW data_directory"], env: env)
        #expect(psql.status == 0, "\(psql.stderr)")
        #expect(psql.stdout == home + "/data\n")

        // Idempotent, and it says where only when it creates the cluster.
        let again = try sh([ClusterScript.script, "up", dir, port])
        #expect(again.status == 0 && !again.stdout.contains("lives in"), "\(again.stdout)\(again.stderr)")

        #expect(try sh([ClusterScript.script, "down", dir]).status == 0)
        #expect(try sh(["psql", "-X", "-d", "postgres", "-tAc", "SELECT 1"], env: env).status != 0, "the server still answers after down")
        #expect(FileManager.default.fileExists(atPath: home + "/data/PG_VERSION"), "down keeps the data")

        #expect(try sh([ClusterScript.script, "rm", dir]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: home))
    }
}

/// The script under test and where it keeps clusters the postgres user could not reach in place.
enum ClusterScript {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = repo.appendingPathComponent("scripts/pg").path
    /// Where clusters go that the postgres user could not reach in place: its home's
    /// `bmbill-clusters` unless BMBILL_PG_CLUSTERS says otherwise.
    static let clusters = (ProcessInfo.processInfo.environment["BMBILL_PG_CLUSTERS"]
        ?? (getpwnam("postgres").map { String(cString: $0.pointee.pw_dir) } ?? "/var/lib/postgresql") + "/bmbill-clusters") + "/"

    static var canRun: Bool {
        guard getuid() == 0 else { return false }
        let server = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql"))?.contains {
            FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb")
        } ?? false
        return server || ProcessInfo.processInfo.environment["BMBILL_TEST_REQUIRE_DB"] == "1"
    }
}
