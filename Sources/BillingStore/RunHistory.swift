import BillingCore
import PostgresClient

/// Changes recorded after the last run of a period that touch it.
public struct LateChanges: Sendable {
    public let sinceRunId: Int64
    public let watermark: Instant
    public let changes: Int
    public let instances: Int
    public let projects: [String]
}

/// What an earlier run read, as far as explaining a correction needs it.
public struct IssuingRun: Sendable {
    /// The latest `recorded_at` it read.
    public let watermark: Instant?
    /// The billable-state table it applied, by canonical name.
    public let billableStates: [String: Bool]?
    /// Its `vat_rate`, `rounding` and `granularity` settings as recorded.
    public let settings: [String: String]
    /// The discounts and monthly caps it applied (`billing_runs.pricing`); empty for a run
    /// recorded before pricing existed (`pricing` NULL), which applied none.
    public let pricing: RunPricing
}

/// The discounts and monthly caps a run applied, as its `billing_runs.pricing` recorded
/// them (`BillingResult.pricingJSON`): the fields as text, in the form that JSON gives
/// them, so that a run's pricing and today's compare field by field.
public struct RunPricing: Hashable, Sendable {
    /// One discount row as a run recorded it.
    public struct DiscountTerms: Hashable, Sendable {
        public let id: String
        public let projectId: String?
        public let billingAccountId: String?
        public let typeName: String?
        public let category: String?
        /// Four decimals (`3.5000`).
        public let percent: String
        public let effectiveFrom: String
        public let effectiveTo: String?

        public init(_ d: Discount) {
            id = d.id
            projectId = d.projectId
            billingAccountId = d.billingAccountId
            typeName = d.typeName
            category = d.category
            percent = d.percentText
            effectiveFrom = d.effectiveFrom.iso8601
            effectiveTo = d.effectiveTo?.iso8601
        }

        init?(json d: JSON) {
            func text(_ key: String) -> String? { d[key]?.stringValue }
            guard let id = text("discount_id"), let percent = text("percent"), let from = text("effective_from") else { return nil }
            self.id = id
            projectId = text("project_id")
            billingAccountId = text("billing_account_id")
            typeName = text("type_name")
            category = text("category")
            self.percent = percent
            effectiveFrom = from
            effectiveTo = text("effective_to")
        }

        /// True when it is `projectId`'s own discount or its billing account's.
        public func holds(projectId p: String, billingAccountId a: String?) -> Bool {
            projectId.map { $0 == p } ?? (a != nil && billingAccountId == a)
        }

        /// What it covers, in words: `prj-beta, all types`.
        public var scope: String {
            (projectId ?? billingAccountId ?? "?") + ", " + (typeName ?? category.map { "category \($0)" } ?? "all types")
        }
    }

    /// One monthly cap as a run recorded it.
    public struct CapTerms: Hashable, Sendable {
        public let typeName: String
        /// As stored (`600.0000`).
        public let capHours: String
        public let effectiveFrom: String
        public let effectiveTo: String?

        public init(_ c: MonthlyCap) {
            typeName = c.typeName
            capHours = c.capHours.description
            effectiveFrom = c.effectiveFrom.iso8601
            effectiveTo = c.effectiveTo?.iso8601
        }

        init?(json c: JSON) {
            guard let type = c["type_name"]?.stringValue, let hours = c["cap_hours"]?.stringValue, let from = c["effective_from"]?.stringValue
            else { return nil }
            typeName = type
            capHours = hours
            effectiveFrom = from
            effectiveTo = c["effective_to"]?.stringValue
        }

        /// The hours without trailing zeros (`600`, `650.5`).
        public var hoursText: String {
            guard let d = ExactDecimal(parsing: capHours) else { return capHours }
            return formatScaledTrimmed(d.units, scale: d.scale)
        }

        /// True when both bound the same number of hours (`600` and `600.0000` do).
        public func sameHours(as other: CapTerms) -> Bool {
            guard let a = ExactDecimal(parsing: capHours)?.rescaled(to: 18), let b = ExactDecimal(parsing: other.capHours)?.rescaled(to: 18)
            else { return capHours == other.capHours }
            return a == b
        }
    }

    /// The discounts that priced some time of its window.
    public let discounts: [DiscountTerms]
    /// The cap of each type in force at its period start.
    public let caps: [CapTerms]

    public init(discounts: [DiscountTerms], caps: [CapTerms]) {
        self.discounts = discounts
        self.caps = caps
    }

    /// What a billing result applied (`discountsInForce`, `capsInForce`).
    public init(discounts: [Discount], caps: [MonthlyCap]) {
        self.init(discounts: discounts.map(DiscountTerms.init), caps: caps.map(CapTerms.init))
    }

    /// No discounts and no caps: a run recorded before pricing existed.
    public static let none = RunPricing(discounts: [DiscountTerms](), caps: [CapTerms]())

    /// Reads `pricing` as `pricingJSON` writes it; nil when it is not of that form.
    public init?(json: JSON) {
        guard let discountRows = json["discounts"]?.arrayValue, let capRows = json["monthly_caps"]?.arrayValue else { return nil }
        var discounts: [DiscountTerms] = []
        for row in discountRows {
            guard let d = DiscountTerms(json: row) else { return nil }
            discounts.append(d)
        }
        var caps: [CapTerms] = []
        for row in capRows {
            guard let c = CapTerms(json: row) else { return nil }
            caps.append(c)
        }
        self.init(discounts: discounts, caps: caps)
    }
}

/// Reads `billing_runs` and the source changes recorded since: late data, and what the run
/// that issued an invoice saw.
public struct RunHistory {
    let db: PostgresConnection

    public init(_ db: PostgresConnection) { self.db = db }

    /// The changes recorded after the last run of `period` (by its input watermark) that
    /// could touch it: every change dated before the period's end.
    public func lateChanges(_ period: BillingPeriod) throws -> LateChanges? {
        guard let last = try db.execute(
            """
            SELECT run_id, \(SourceReader.micros("input_watermark")) FROM billing_runs
            WHERE period = $1 AND input_watermark IS NOT NULL ORDER BY run_id DESC LIMIT 1
            """, [period.month.description], context: "reading the last run").firstChecked(table: "billing_runs")
        else { return nil }
        let watermark = Instant(microseconds: try last.int64(1, "input_watermark"))
        guard let row = try db.execute(
            """
            SELECT count(*), count(DISTINCT c.instance_id), coalesce(string_agg(DISTINCT i.project_id, ',' ORDER BY i.project_id), '')
            FROM instance_state_changes c LEFT JOIN instances i USING (instance_id)
            WHERE c.recorded_at > $1::timestamptz AND c.changed_at < $2::timestamptz
            """, [watermark.postgresText, period.end.postgresText], context: "looking for late changes"
        ).firstChecked(table: "instance_state_changes") else { return nil }
        let count = Int(try row.int64(0, "count"))
        guard count > 0 else { return nil }
        return LateChanges(sinceRunId: try last.int64(0, "run_id"), watermark: watermark, changes: count, instances: Int(try row.int64(1, "instances")),
                           projects: try row.text(2, "projects").split(separator: ",").map(String.init))
    }

    /// The run that issued `runId`'s invoice, or (nil) the period's last issuing run.
    public func issuingRun(runId: Int64?, period: YearMonth) throws -> IssuingRun? {
        let id: Int64
        if let runId {
            id = runId
        } else {
            guard let last = try db.execute(
                "SELECT max(run_id) FROM invoices WHERE period = $1 AND status IN ('issued', 'superseded')", [period.description],
                context: "finding the period's issuing run"
            ).firstChecked(table: "invoices"), let max = try last.optionalInt64(0, "run_id") else { return nil }
            id = max
        }
        guard let row = try db.execute(
            """
            SELECT run_id, \(SourceReader.micros("input_watermark")), billable_states::text, settings->>'vat_rate', settings->>'rounding',
                   settings->>'granularity', pricing::text
            FROM billing_runs WHERE run_id = $1
            """, [String(id)], context: "reading the issuing run"
        ).firstChecked(table: "billing_runs") else { return nil }
        let states = row.optional(2).flatMap(JSON.parseObjectOfBools)
        var settings: [String: String] = [:]
        for (i, name) in [(3, "vat_rate"), (4, "rounding"), (5, "granularity")] { settings[name] = row.optional(i) }
        var pricing = RunPricing.none
        if let text = row.optional(6) {
            guard let parsed = JSON.parse(text).flatMap(RunPricing.init(json:)) else {
                throw StoreError.badSourceRow(table: "billing_runs", key: String(id),
                                              problem: "its pricing is not what bmbill records (discounts and monthly_caps): it was changed outside bmbill")
            }
            pricing = parsed
        }
        return IssuingRun(watermark: try row.optionalInt64(1, "input_watermark").map(Instant.init(microseconds:)), billableStates: states,
                          settings: settings, pricing: pricing)
    }

    /// Per project, the changes of its instances recorded after `watermark` and dated before
    /// `end`: one query for every project (a recompute that changes a thousand invoices asks
    /// for each of them).
    public func lateChangeCounts(after watermark: Instant, before end: Instant) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try db.execute(
            """
            SELECT i.project_id, count(*) FROM instance_state_changes c JOIN instances i USING (instance_id)
            WHERE c.recorded_at > $1::timestamptz AND c.changed_at < $2::timestamptz GROUP BY i.project_id
            """, [watermark.postgresText, end.postgresText], context: "counting late changes"
        ).checkedRows(table: "instance_state_changes") {
            counts[try row.text(0, "project_id")] = Int(try row.int64(1, "count"))
        }
        return counts
    }
}
