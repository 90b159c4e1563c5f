import ArgumentParser
import BillingCore
import Foundation

/// `--db`: where the database is. Empty means libpq's defaults (`PG*`, service file, `.pgpass`).
struct ConnectionOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "libpq connection string or postgresql:// URI (env BMBILL_DB).",
            discussion: "Without it, libpq's PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE and ~/.pgpass apply.",
            valueName: "conninfo"))
    var db: String?

    /// `--db`, else `BMBILL_DB` (how a sharded run hands its connection to its workers
    /// without putting a password on their command line), else nil: libpq's defaults.
    var conninfo: String? {
        db ?? ProcessInfo.processInfo.environment["BMBILL_DB"].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The settings that decide a bill. Each comes from its flag, else from the environment
/// (`BMBILL_TIMEZONE` …), else from the config file, else the default.
struct BillingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("IANA billing time zone (default Asia/Seoul; env BMBILL_TIMEZONE).", valueName: "zone"))
    var timezone: String?

    @Option(help: ArgumentHelp("Billing currency, ISO 4217 (default KRW; env BMBILL_CURRENCY).", valueName: "code"))
    var currency: String?

    @Option(name: .customLong("vat-rate"), help: ArgumentHelp("VAT as a decimal fraction (default 0.10; env BMBILL_VAT_RATE).", valueName: "rate"))
    var vatRate: String?

    @Option(help: ArgumentHelp("half-up (default), half-even or floor (env BMBILL_ROUNDING).", valueName: "mode"))
    var rounding: String?

    @Option(help: ArgumentHelp("second (default), minute or hour (env BMBILL_GRANULARITY).", valueName: "unit"))
    var granularity: String?

    @Option(
        help: ArgumentHelp(
            "Config file of 'key = value' lines (keys: timezone, currency, vat_rate, rounding, granularity, out; env BMBILL_CONFIG).",
            valueName: "path"))
    var config: String?

    /// Resolves the settings, or throws a usage error naming the bad value and its source.
    func resolve(environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> (BillingSettings, [String: String]) {
        let file = try ConfigFile.load(path: config ?? env["BMBILL_CONFIG"])
        func pick(_ flag: String?, _ key: String) -> (String, String)? {
            if let flag { return (flag, "--\(key.replacingOccurrences(of: "_", with: "-"))") }
            if let v = env["BMBILL_" + key.uppercased()], !v.isEmpty { return (v, "BMBILL_" + key.uppercased()) }
            if let v = file[key] { return (v, "\(key) in \(config ?? env["BMBILL_CONFIG"] ?? "the config file")") }
            return nil
        }
        /// The setting's value from its first source, or nil when no source sets it.
        func setting<T>(_ flag: String?, _ key: String, _ parse: (String) -> T?, _ fix: String) throws -> T? {
            guard let (value, source) = pick(flag, key) else { return nil }
            guard let parsed = parse(value) else { throw BMBillError.usage("\(source): '\(value)' \(fix)") }
            return parsed
        }
        var s = BillingSettings()
        s.timeZone = try setting(timezone, "timezone", BillingTimeZone.init(identifier:),
            "is not an IANA time zone name (for example Asia/Seoul, Europe/Berlin, UTC)") ?? s.timeZone
        s.currency = try setting(currency, "currency", Currency.init(code:),
            "is not a currency bmbill knows; use an ISO 4217 code such as KRW, USD, EUR, JPY") ?? s.currency
        s.vatRate = try setting(vatRate, "vat_rate", { v in
            ExactDecimal(parsing: v).flatMap { d in !d.isNegative && d.units <= pow10(d.scale) ? d : nil }
        }, "is not a VAT rate; give a decimal fraction from 0 to 1, such as 0.10") ?? s.vatRate
        s.rounding = try setting(rounding, "rounding", RoundingMode.init(rawValue:),
            "is not a rounding mode; use half-up, half-even or floor") ?? s.rounding
        s.granularity = try setting(granularity, "granularity", Granularity.init(rawValue:),
            "is not a granularity; use second, minute or hour") ?? s.granularity
        return (s, file)
    }
}

/// A config file: `key = value` lines; `#` starts a comment; values may be quoted.
enum ConfigFile {
    static let keys: Set<String> = ["timezone", "currency", "vat_rate", "rounding", "granularity", "out"]

    static func load(path: String?) throws -> [String: String] {
        guard let path, !path.isEmpty else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw BMBillError.usage("cannot read config file \(path); check the path (--config or BMBILL_CONFIG)")
        }
        return try parse(text, path: path)
    }

    static func parse(_ text: String, path: String) throws -> [String: String] {
        var values: [String: String] = [:]
        var lineOf: [String: Int] = [:]
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, keys.contains(parts[0]) else {
                throw BMBillError.usage("\(path):\(n + 1): expected 'key = value' with a key among \(keys.sorted().joined(separator: ", "))")
            }
            var value = parts[1]
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if let first = lineOf[parts[0]] {
                // Which one would win is a guess the file's author did not make: say so.
                throw BMBillError.usage("\(path):\(n + 1): \(parts[0]) is set again (first on line \(first)); keep one")
            }
            lineOf[parts[0]] = n + 1
            values[parts[0]] = value
        }
        return values
    }
}

/// Where files go and how the summary is printed.
struct OutputOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Output root; files go under <out>/<period>/ (default reports/out; env BMBILL_OUT).", valueName: "dir"))
    var out: String?

    @Flag(help: "Print a machine-readable JSON summary on stdout instead of the table.")
    var json = false

    @Option(name: .customLong("by"), help: ArgumentHelp("usage.csv rows per month, or per day as well.", valueName: "month|day"))
    var usageGrain: UsageGrain = .month

    @Option(
        name: .customLong("metrics-file"),
        help: ArgumentHelp("Write Prometheus textfile-collector metrics here (env BMBILL_METRICS_FILE).", valueName: "path"))
    var metricsFile: String?

    func metricsFile(config: [String: String], environment env: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        metricsFile ?? env["BMBILL_METRICS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func root(config: [String: String], environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        out ?? env["BMBILL_OUT"].flatMap { $0.isEmpty ? nil : $0 } ?? config["out"] ?? "reports/out"
    }
}

/// How finely usage.csv is broken down.
enum UsageGrain: String, ExpressibleByArgument, CaseIterable {
    case month, day
}

/// Parses `--as-of`; nil when it is not given (the run then bills as of the database's clock).
func parseAsOf(_ text: String?) throws -> Instant? {
    guard let text else { return nil }
    guard let i = Instant(iso8601: text) else {
        throw BMBillError.usage("--as-of '\(text)' is not an ISO 8601 instant with a zone, such as 2026-12-01T00:00:00Z")
    }
    return i
}

/// Parses `--period`: a month `YYYY-MM` within `YearMonth.billable`.
func parsePeriod(_ text: String) throws -> YearMonth {
    guard let m = YearMonth(parsing: text) else {
        throw BMBillError.usage("--period '\(text)' is not a month; write it YYYY-MM, for example 2026-10")
    }
    try checkBillable(m, what: "--period \(text)")
    return m
}

/// Refuses a month outside the periods bmbill bills (a usage error, exit 2).
func checkBillable(_ m: YearMonth, what: String) throws {
    guard YearMonth.billable.contains(m) else {
        throw BMBillError.usage(
            "\(what) is outside the periods bmbill bills (\(YearMonth.billable.lowerBound) to \(YearMonth.billable.upperBound))")
    }
}

extension Instant {
    /// The current time from the system clock, to the microsecond.
    static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Instant(microseconds: Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000)
    }
}
