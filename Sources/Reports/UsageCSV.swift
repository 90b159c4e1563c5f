import BillingCore

#if canImport(Glibc)
    import Glibc
#endif

/// A file written to a staging folder, with its SHA-256 (hex) and size.
public struct StagedFile: Sendable, Equatable {
    public let path: String
    public let digest: String
    public let bytes: Int
}

/// `usage.csv`: one row per project, instance, state and rate version (and day, with
/// `--by day`). It is the one file that grows with the fleet, so it is rendered in chunks
/// straight to disk, never whole in memory.
public enum UsageCSV {
    public static let columns = [
        "period", "project_id", "project_name", "instance_id", "instance_name", "instance_type", "category", "image", "state",
        "billable", "rate_effective_from", "hourly_rate", "currency", "seconds", "amount", "invoice_line", "usage_date",
    ]

    /// Renders the rows, handing over text in chunks of about `chunk` bytes.
    public static func render(_ r: BillingResult, chunk: Int = 1 << 20, _ sink: (String) throws -> Void) rethrows {
        try renderBytes(r, chunk: chunk) { try sink(String(decoding: $0, as: UTF8.self)) }
    }

    /// Renders the rows as UTF-8, handing over chunks of about `chunk` bytes.
    public static func renderBytes(_ r: BillingResult, chunk: Int = 1 << 20, _ sink: ([UInt8]) throws -> Void) rethrows {
        var csv = CSVWriter(header: columns)
        let period = r.period.month.description, currency = r.settings.currency.code
        try r.usageTable.forEach { row in
            let amount: String
            if row.billable, let rate = row.rate {
                amount = formatScaled(Pricing.meteredAmountMicros(microseconds: row.microseconds, rate: rate), scale: 6)
            } else {
                amount = "0"
            }
            csv.appendRecord([
                .plain(period), .text(row.projectId), .text(row.projectName),
                .text(row.instanceId), .text(row.instanceName ?? ""), .text(row.typeName), .text(row.category), .text(row.image),
                .text(row.state),
                .plain(row.billable ? "true" : "false"), .plain(row.rate?.effectiveFrom.iso8601 ?? ""),
                .plain(row.rate?.hourlyRateText ?? ""), .plain(currency), .plain(formatSeconds(row.microseconds)),
                .plain(amount), .plain(row.lineNumber.map(String.init) ?? ""), .plain(row.day?.isoDate ?? ""),
            ])
            if csv.bytes.count >= chunk {
                try sink(csv.bytes)
                csv.clear()
            }
        }
        try sink(csv.bytes)
    }

    /// The whole file as text (tests and small periods).
    public static func text(_ r: BillingResult) -> String {
        var text = ""
        render(r) { text += $0 }
        return text
    }

    /// Writes the file to `path` (not flushed to disk: `OutputFolder.write` does that
    /// before the folder is swapped in) and returns its checksum.
    public static func write(_ r: BillingResult, to path: String) throws -> StagedFile {
        guard let f = fopen(path, "wb") else { throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { fclose(f) }
        var sha = SHA256()
        var bytes = 0
        try renderBytes(r) { chunk in
            try chunk.withUnsafeBufferPointer { buffer in
                sha.update(buffer)
                bytes += buffer.count
                guard fwrite(buffer.baseAddress, 1, buffer.count, f) == buffer.count else {
                    throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
                }
            }
        }
        guard fflush(f) == 0 else { throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        return StagedFile(path: path, digest: sha.hexDigest(), bytes: bytes)
    }
}

