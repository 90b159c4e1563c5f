import BillingCore

#if canImport(Glibc)
    import Glibc
#endif

/// A file written to a staging folder, with its SHA-256 (hex) and size.
public struct StagedFile: Sendable, Equatable {
    public let path: String
    public let digest: String
    public let bytes: Int

    /// Writes what `render` emits, chunk by chunk, to `path` (not flushed to disk:
    /// `OutputFolder.write` flushes the whole folder before swapping it in), hashing as it goes.
    public static func write(to path: String, _ render: (_ emit: (UnsafeBufferPointer<UInt8>) throws -> Void) throws -> Void) throws -> StagedFile {
        guard let f = fopen(path, "wb") else { throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { fclose(f) }
        var sha = SHA256()
        var bytes = 0
        try render { chunk in
            sha.update(chunk)
            bytes += chunk.count
            guard fwrite(chunk.baseAddress, 1, chunk.count, f) == chunk.count else {
                throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
        }
        guard fflush(f) == 0 else { throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        return StagedFile(path: path, digest: sha.hexDigest(), bytes: bytes)
    }

    /// Writes `contents` to `path` the same way.
    public static func write(_ contents: String, to path: String) throws -> StagedFile {
        var contents = contents
        return try write(to: path) { emit in try contents.withUTF8 { try emit($0) } }
    }

    /// Writes `bytes` to `path` the same way.
    public static func write(_ bytes: [UInt8], to path: String) throws -> StagedFile {
        try write(to: path) { emit in try bytes.withUnsafeBufferPointer { try emit($0) } }
    }
}

/// `usage.csv`: one row per project, instance, state, rate version, discount and capped or
/// not (and day, with `--by day`). When pricing plays a part in the period
/// (`BillingResult.hasPricing`), `discount_id` and `capped` come last, after the columns
/// the data contract fixes; otherwise the file is the one bmbill wrote before pricing
/// existed. `amount` is informative: the row's time at the list rate, before its discount,
/// capped time included; the invoice lines hold what is charged.
/// It is the one file that grows with the fleet, so it is rendered in chunks straight to
/// disk, never whole in memory.
public enum UsageCSV {
    public static let columns = [
        "period", "project_id", "project_name", "instance_id", "instance_name", "instance_type", "category", "image", "state",
        "billable", "rate_effective_from", "hourly_rate", "currency", "seconds", "amount", "invoice_line", "usage_date",
    ]
    /// pricing.md's columns, after `columns`, only when pricing plays a part in the period.
    public static let pricingColumns = ["discount_id", "capped"]

    /// Renders the rows, handing over text in chunks of about `chunk` bytes.
    public static func render(_ r: BillingResult, chunk: Int = 1 << 20, _ sink: (String) throws -> Void) rethrows {
        try renderBytes(r, chunk: chunk) { try sink(String(decoding: $0, as: UTF8.self)) }
    }

    /// Renders the rows as UTF-8, handing over chunks of about `chunk` bytes.
    public static func renderBytes(_ r: BillingResult, chunk: Int = 1 << 20, _ sink: ([UInt8]) throws -> Void) rethrows {
        let pricing = r.hasPricing
        var csv = CSVWriter(header: columns + (pricing ? pricingColumns : []))
        let period = r.period.month.description, currency = r.settings.currency.code
        // Each rate version's columns, formatted once.
        let rates = r.usageTable.rates.map { (from: $0.effectiveFrom.iso8601, rate: $0.hourlyRateText) }
        // The columns up to `image` are the instance's: written once for all its rows.
        var instance = CSVWriter(), instanceId: String?
        try r.usageTable.forEach { row in
            if row.instanceId != instanceId {
                instance.clear()
                for f: CSVWriter.Field in [.plain(period), .text(row.projectId), .text(row.projectName), .text(row.instanceId), .text(row.instanceName ?? ""),
                                           .text(row.typeName), .text(row.category), .text(row.image)] { instance.append(f) }
                instanceId = row.instanceId
            }
            let amount: String
            if row.billable, let rate = row.rate {
                amount = formatScaled(Pricing.meteredAmountMicros(microseconds: row.microseconds, rate: rate), scale: 6)
            } else {
                amount = "0"
            }
            let rate = row.rateIndex >= 0 ? rates[row.rateIndex] : (from: "", rate: "")
            csv.append(written: instance.bytes, fields: 8)
            csv.append(.text(row.state))
            csv.append(.plain(row.billable ? "true" : "false"))
            csv.append(.plain(rate.from))
            csv.append(.plain(rate.rate))
            csv.append(.plain(currency))
            csv.append(.plain(formatSeconds(row.microseconds)))
            csv.append(.plain(amount))
            csv.append(.plain(row.lineNumber.map(String.init) ?? ""))
            csv.append(.plain(row.day?.isoDate ?? ""))
            if pricing {
                csv.append(.text(row.discount?.id ?? ""))
                csv.append(.plain(row.capped ? "true" : "false"))
            }
            csv.endRecord()
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

    /// Writes the file to `path` and returns its checksum.
    public static func write(_ r: BillingResult, to path: String) throws -> StagedFile {
        try StagedFile.write(to: path) { emit in
            try renderBytes(r) { chunk in try chunk.withUnsafeBufferPointer { try emit($0) } }
        }
    }
}
