/// The figures of a billing result in the one shape every output uses: the run's row in
/// `billing_runs`, `manifest.json` and the `--json` summary all print these values.
extension BillingResult {
    public var settingsJSON: JSON {
        [
            "timezone": .string(settings.timeZone.identifier),
            "currency": .string(settings.currency.code),
            "vat_rate": .string(settings.vatRate.description),
            "rounding": .string(settings.rounding.rawValue),
            "granularity": .string(settings.granularity.rawValue),
        ]
    }

    public var countsJSON: JSON {
        [
            "changes_read": .int(Int64(counts.changesRead)),
            "instances_read": .int(Int64(counts.instancesRead)),
            "instances_billed": .int(Int64(counts.instancesBilled)),
            "usage_rows": .int(Int64(counts.usageRows)),
            "invoices": .int(Int64(counts.invoices)),
            "invoice_lines": .int(Int64(counts.invoiceLines)),
        ]
    }

    /// Sums over all invoices, in minor units, as exact decimal strings.
    public var totalsJSON: JSON {
        let c = settings.currency
        return [
            "currency": .string(c.code),
            "subtotal": .string(c.plain(invoices.reduce(0) { $0 + $1.subtotal })),
            "tax": .string(c.plain(invoices.reduce(0) { $0 + $1.tax })),
            "total": .string(c.plain(invoices.reduce(0) { $0 + $1.total })),
        ]
    }

    /// Anomaly counts by kind, errors and warnings apart.
    public var anomaliesJSON: JSON {
        [
            "errors": .int(Int64(anomalies.filter { $0.severity == .error }.count)),
            "warnings": .int(Int64(anomalies.filter { $0.severity == .warning }.count)),
            "by_kind": .object(anomalyCounts.map { ($0.kind.rawValue, .int(Int64($0.count))) }),
        ]
    }

    public var ratesJSON: JSON {
        .array(ratesInForce.map { r in
            [
                "type_name": .string(r.typeName), "currency": .string(r.currency), "hourly_rate": .string(r.hourlyRateText),
                "effective_from": .string(r.effectiveFrom.iso8601), "effective_to": .optional(r.effectiveTo?.iso8601),
            ]
        })
    }

    public var billableStatesJSON: JSON { .object(billableStates.entries.map { ($0.state, .bool($0.billable)) }) }
}
