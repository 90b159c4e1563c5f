import ArgumentParser
import Foundation
import Logging
import PostgresClient

/// The `bmbill` command: billing and metering for bare-metal servers.
public struct BMBill: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bmbill",
        abstract: "Bills bare-metal server usage from PostgreSQL into invoices and CSV reports.",
        discussion: """
            Reads instance state changes, applies the billable-state table and the hourly rates, and \
            writes invoices to the database and to files under <out>/<period>/.

            Examples:
              bmbill migrate                  # create or upgrade the schema
              bmbill run                      # last ended month + month to date
              bmbill run --period 2026-10     # one month (issued once it has ended)
              bmbill run --period 2026-10 --as-of 2026-10-20T00:00:00Z --json
              bmbill run --period 2026-10 --shards 16 --workers 4
              bmbill demo-data --replace      # synthetic data (demo databases only)

            Exit codes: 0 done; 1 failure; 2 usage error; 65 data errors (an ended month's invoices \
            stay drafts; the month to date's drafts carry them; no correction is issued); 75 another \
            run holds the period's lock (try later).
            """,
        version: "0.1.0",
        subcommands: [MigrateCommand.self, RunCommand.self, RecomputeCommand.self, WorkCommand.self, ExportCommand.self, DemoDataCommand.self]
    )

    public init() {}

    /// Parses `arguments`, runs the command and returns the exit code (never calls exit).
    public static func main(arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.success
        } catch {
            let status = exitStatus(for: error)
            if status == ExitStatus.success {
                print(fullMessage(for: error))
            } else {
                let message = error is BMBillError || exitCode(for: error) != .validationFailure ? "bmbill: \(error)" : fullMessage(for: error)
                FileHandle.standardError.write(Data((redacted(message, arguments: arguments) + "\n").utf8))
            }
            return status
        }
    }

    /// `message` with every password the command line, `BMBILL_DB` or `PGPASSWORD` holds
    /// masked: whatever failed, no error message carries one (stderr goes to cron's mail).
    static func redacted(_ message: String, arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var secrets = Redaction.secrets(conninfo: environment["BMBILL_DB"] ?? "", environment: environment)
        for (i, a) in arguments.enumerated() {
            if a == "--db", i + 1 < arguments.count { secrets += Redaction.secrets(conninfo: arguments[i + 1]) }
            if a.hasPrefix("--db=") { secrets += Redaction.secrets(conninfo: String(a.dropFirst(5))) }
        }
        return Redaction.redact(message, secrets: secrets.sorted { $0.count > $1.count })
    }

    /// The contract's exit code for an error: ours carry theirs; the parser's usage errors
    /// are 2 (not its default 64); help and version requests 0; anything else 1.
    public static func exitStatus(for error: Error) -> Int32 {
        if let e = error as? BMBillError { return e.exitCode }
        if let e = error as? ExitCode { return e.rawValue }
        let code = exitCode(for: error)
        if code == .success { return ExitStatus.success }
        if code == .validationFailure { return ExitStatus.usage }
        return ExitStatus.failure
    }

    /// Parses `arguments` and validates every value (period, instant, settings) without
    /// running anything; returns the exit code a run would start with (0 when valid).
    public static func validate(arguments: [String]) -> Int32 {
        do {
            let command = try parseAsRoot(arguments)
            if let run = command as? RunCommand {
                _ = try run.billing.resolve(environment: [:])
                if let p = run.period { _ = try parsePeriod(p) }
                _ = try parseAsOf(run.asOf ?? "2026-01-01T00:00:00Z")
            } else if let recompute = command as? RecomputeCommand {
                _ = try recompute.billing.resolve(environment: [:])
                _ = try parsePeriod(recompute.period)
                _ = try parseAsOf(recompute.asOf ?? "2026-01-01T00:00:00Z")
            }
            return ExitStatus.success
        } catch {
            return exitStatus(for: error)
        }
    }

    /// Logs go to stderr; `BMBILL_LOG_LEVEL` sets the level (default info). Returns the
    /// exit code to stop with when the level is not one swift-log knows (a usage error:
    /// a typo must not silently leave the logs at another level), else nil.
    public static func bootstrapLogging(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int32? {
        var level = Logger.Level.info
        if let text = environment["BMBILL_LOG_LEVEL"], !text.isEmpty {
            guard let parsed = Logger.Level(rawValue: text.lowercased()) else {
                let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
                FileHandle.standardError.write(Data("bmbill: BMBILL_LOG_LEVEL '\(text)' is not a log level; use one of \(levels)\n".utf8))
                return ExitStatus.usage
            }
            level = parsed
        }
        let chosen = level
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = chosen
            return handler
        }
        return nil
    }
}
