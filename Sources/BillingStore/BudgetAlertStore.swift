import BillingCore
import PostgresClient

/// Reads and adds `budget_alerts` (migration 013). Alerts are kept: added once per budget,
/// period, threshold and kind, never changed. Runs of one period hold its lock, so what a run
/// reads here before it writes is what it adds to.
public struct BudgetAlertStore {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// Every alert on record for `period`, in report order.
    public func alerts(period: YearMonth) throws -> [BudgetAlert] {
        try db.execute(
            """
            SELECT budget_id, kind, threshold::text, project_id, billing_account_id, btrim(currency), monthly_amount::text, amount::text,
                   run_id, \(SourceReader.micros("as_of"))
            FROM budget_alerts WHERE period = $1
            """, [period.description], context: "reading budget alerts"
        ).checkedRows(table: "budget_alerts").map { row in
            func decimal(_ i: Int, _ column: String) throws -> ExactDecimal {
                let text = try row.text(i, column)
                guard let d = ExactDecimal(parsing: text) else { throw row.error(column, "'\(text)' is not a decimal number") }
                return d
            }
            let kindText = try row.text(1, "kind")
            guard let kind = BudgetStanding.Kind(rawValue: kindText) else { throw row.error("kind", "'\(kindText)' is not actual or forecast") }
            return BudgetAlert(budgetId: try row.text(0, "budget_id"), period: period, kind: kind, threshold: try decimal(2, "threshold"),
                               projectId: row.optional(3), billingAccountId: row.optional(4), currency: try row.text(5, "currency"),
                               monthlyAmount: try decimal(6, "monthly_amount"), amount: try decimal(7, "amount"), runId: try row.int64(8, "run_id"),
                               asOf: Instant(microseconds: try row.int64(9, "as_of")))
        }.sorted(by: BudgetAlert.reportOrder)
    }

    /// Adds the alerts a run raised (each once: one already on record is left as it is).
    public func add(_ alerts: [BudgetAlert]) throws {
        let rows: [JSON] = alerts.compactMap { a in
            guard let runId = a.runId else { return nil }
            return [
                "budget_id": .string(a.budgetId), "period": .string(a.period.description), "kind": .string(a.kind.rawValue),
                "threshold": .string(a.threshold.description), "project_id": .optional(a.projectId), "billing_account_id": .optional(a.billingAccountId),
                "currency": .string(a.currency), "monthly_amount": .string(a.monthlyAmount.description), "amount": .string(a.amount.description),
                "run_id": .int(runId), "as_of": .string(a.asOf.postgresText),
            ]
        }
        guard !rows.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO budget_alerts (budget_id, period, kind, threshold, project_id, billing_account_id, currency, monthly_amount, amount,
                                       run_id, as_of)
            SELECT x->>'budget_id', x->>'period', x->>'kind', (x->>'threshold')::numeric, x->>'project_id', x->>'billing_account_id',
                   x->>'currency', (x->>'monthly_amount')::numeric, (x->>'amount')::numeric, (x->>'run_id')::int8, (x->>'as_of')::timestamptz
            FROM jsonb_array_elements($1::jsonb) AS e(x)
            ON CONFLICT (budget_id, period, threshold, kind) DO NOTHING
            """, [JSON.array(rows).compact], context: "storing budget alerts")
    }
}
