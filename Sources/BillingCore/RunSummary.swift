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

    /// Sums over all invoices, in minor units, as exact decimal strings: `list_subtotal`,
    /// `discount` and `credits_applied` only when pricing plays a part (`hasPricing`).
    public var totalsJSON: JSON {
        let c = settings.currency
        let totals: JSON = [
            "currency": .string(c.code),
            "list_subtotal": .string(c.plain(invoices.reduce(0) { $0 + $1.listSubtotal })),
            "discount": .string(c.plain(invoices.reduce(0) { $0 + $1.discount })),
            "subtotal": .string(c.plain(invoices.reduce(0) { $0 + $1.subtotal })),
            "credits_applied": .string(c.plain(invoices.reduce(0) { $0 + $1.creditsApplied })),
            "tax": .string(c.plain(invoices.reduce(0) { $0 + $1.tax })),
            "total": .string(c.plain(invoices.reduce(0) { $0 + $1.total })),
        ]
        return hasPricing ? totals : totals.removing(BillingResult.pricingTotalsKeys)
    }

    /// The keys of `totalsJSON` that pricing adds.
    public static let pricingTotalsKeys: Set<String> = ["list_subtotal", "discount", "credits_applied"]

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

    /// The pricing the run applied (pricing.md): the discounts that price some time of the
    /// window, the caps in force at the period start, the credits that play a part with
    /// their balances before and after the run, and a fingerprint of those rows (not of
    /// the balances), so that a later run can tell whether the pricing changed.
    public var pricingJSON: JSON {
        let c = settings.currency
        let discounts: [JSON] = discountsInForce.map { d in
            [
                "discount_id": .string(d.id), "project_id": .optional(d.projectId), "billing_account_id": .optional(d.billingAccountId),
                "type_name": .optional(d.typeName), "category": .optional(d.category), "percent": .string(d.percentText),
                "effective_from": .string(d.effectiveFrom.iso8601), "effective_to": .optional(d.effectiveTo?.iso8601),
            ]
        }
        let caps: [JSON] = capsInForce.map { cap in
            [
                "type_name": .string(cap.typeName), "cap_hours": .string(cap.capHours.description),
                "effective_from": .string(cap.effectiveFrom.iso8601), "effective_to": .optional(cap.effectiveTo?.iso8601),
            ]
        }
        let ledger = credits ?? CreditLedger(credits: creditRows, applied: [:], currency: c, period: period)
        let credits: [JSON] = ledger.credits.map { cr in
            var taken: Int128 = 0
            for e in ledger.entries where e.creditId == cr.id && e.kind == .taken { taken += e.amount }
            return [
                "credit_id": .string(cr.id), "billing_account_id": .string(cr.billingAccountId), "project_id": .optional(cr.projectId),
                "currency": .string(c.code), "amount": .string(c.plain(cr.minorUnits(c) ?? 0)), "valid_from": .string(cr.validFrom.iso8601),
                "expires_at": .optional(cr.expiresAt?.iso8601), "balance_before": .string(c.plain(ledger.opening[cr.id] ?? 0)),
                "taken": .string(c.plain(taken)), "balance_after": .string(c.plain(ledger.closing[cr.id] ?? 0)),
            ]
        }
        let rows: JSON = ["discounts": .array(discounts), "monthly_caps": .array(caps), "credits": .array(credits.map { row in
            // The fingerprint covers the credits rows, not what runs took from them.
            guard case .object(let fields) = row else { return row }
            return .object(fields.filter { !["balance_before", "taken", "balance_after"].contains($0.0) })
        })]
        return [
            "discounts": .array(discounts), "monthly_caps": .array(caps), "credits": .array(credits),
            "fingerprint": .string(SHA256.hex(of: Array(rows.compact.utf8))),
        ]
    }

    public var billableStatesJSON: JSON { .object(billableStates.entries.map { ($0.state, .bool($0.billable)) }) }
}
