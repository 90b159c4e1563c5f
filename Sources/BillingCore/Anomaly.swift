/// Something wrong with the source data, reported with the records it concerns.
///
/// Errors keep a period's invoices from being issued; warnings are reported and billed
/// around (billing-rules.md section 6).
public struct Anomaly: Hashable, Sendable, Codable {
    public enum Severity: String, Sendable, Comparable, Codable {
        case error, warning
        public static func < (a: Severity, b: Severity) -> Bool { a == .error && b == .warning }
    }

    /// What is wrong. The raw values are the `kind` column of `anomalies.csv`.
    public enum Kind: String, Sendable, CaseIterable, Comparable, Codable {
        // Errors.
        case unknownState = "unknown state"
        case missingRate = "no rate"
        case orphanChange = "no instance row"
        case unknownInstanceType = "unknown instance type"
        case unknownProject = "unknown project"
        case overlappingRates = "overlapping rates"
        case invalidRate = "invalid rate"
        case unknownCategory = "unknown category"
        case conflictingStates = "conflicting billable states"
        case invalidTimestamp = "invalid timestamp"
        case overlappingDiscounts = "overlapping discounts"
        case invalidDiscount = "invalid discount"
        case invalidCap = "invalid cap"
        case invalidCredit = "invalid credit"
        // Warnings.
        case duplicateInstant = "duplicate instant"
        case changeAfterDeleted = "change after deleted"
        case changeAfterAsOf = "change after as_of"
        case changeBeforeCreated = "change before created_at"
        case windowsImageOnType = "windows image on type"
        case invalidCreatedAt = "invalid created_at"
        case creditExpiredUnused = "credit expired unused"
        case forecastUnpriced = "forecast without rate"
        case invalidBudget = "invalid budget"

        public var severity: Severity {
            switch self {
            case .unknownState, .missingRate, .orphanChange, .unknownInstanceType, .unknownProject, .overlappingRates,
                .invalidRate, .unknownCategory, .conflictingStates, .invalidTimestamp, .overlappingDiscounts, .invalidDiscount, .invalidCap,
                .invalidCredit:
                return .error
            case .duplicateInstant, .changeAfterDeleted, .changeAfterAsOf, .changeBeforeCreated, .windowsImageOnType, .invalidCreatedAt,
                .creditExpiredUnused, .forecastUnpriced, .invalidBudget:
                return .warning
            }
        }

        /// What an operator does about it.
        public var remedy: String {
            switch self {
            case .unknownState: return "add the state to billable_states (billable or not) or correct the change"
            case .missingRate: return "add a rate for the type and currency covering that time"
            case .orphanChange: return "load the instance's row into instances (replication may be behind)"
            case .unknownInstanceType: return "add the type to instance_types"
            case .unknownProject: return "add the project to projects"
            case .overlappingRates: return "make the effective ranges of the type's rates not overlap"
            case .invalidRate: return "correct the rate row"
            case .unknownCategory: return "set the type's category to memory_optimized, gpu or general_purpose"
            case .conflictingStates: return "keep one row per state in billable_states (names match case-insensitively)"
            case .invalidTimestamp: return "correct the change's changed_at or recorded_at (an infinity or a year past 294246 cannot be billed)"
            case .duplicateInstant: return "none needed: the change with the highest event id holds, unless an earlier one is deleted (final)"
            case .changeAfterDeleted: return "none needed: deleted is final and later changes are not billed"
            case .changeAfterAsOf: return "none needed: time after as_of is billed by a later run"
            case .changeBeforeCreated: return "check the control plane's clock; the change is billed as recorded"
            case .windowsImageOnType: return "check the instance: Windows images are offered on r2a.baremetal only"
            case .invalidCreatedAt: return "correct the instance's created_at; until then its changes are billed as recorded"
            case .overlappingDiscounts: return "end one of the two discounts where the other starts (the same holder and scope may hold one discount at a time)"
            case .invalidDiscount: return "correct the discounts row: percent in (0, 100], exactly one of project_id and billing_account_id, at most one of type_name and category, effective_to after effective_from"
            case .invalidCap: return "correct monthly_caps: cap_hours above 0, and one cap per type in force at any instant"
            case .invalidCredit: return "correct the credits row: an amount above 0 in whole minor units of its currency, expires_at after valid_from"
            case .creditExpiredUnused: return "none needed: finance may extend the credit (a later expires_at) or let it lapse"
            case .forecastUnpriced: return "add a rate for the type and currency covering the rest of the month (until then the forecast is low)"
            case .invalidBudget: return "correct the budgets row: exactly one of project_id and billing_account_id, monthly_amount above 0, thresholds in (0, 1000], the run's currency, one version in force at a time"
            }
        }

        public static func < (a: Kind, b: Kind) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    public let kind: Kind
    public var severity: Severity { kind.severity }
    public let projectId: String?
    public let instanceId: String?
    /// The `instance_state_changes` rows concerned, in order.
    public let eventIds: [Int64]
    /// Metered microseconds concerned (unpriced or unbilled time), when it applies.
    public let microseconds: Int64?
    /// One sentence: what is wrong, with the records and instants.
    public let detail: String

    public init(
        _ severity: Severity, _ kind: Kind, projectId: String? = nil, instanceId: String? = nil, eventIds: [Int64] = [],
        microseconds: Int64? = nil, detail: String
    ) {
        precondition(severity == kind.severity, "\(kind) is a \(kind.severity)")
        self.kind = kind
        self.projectId = projectId
        self.instanceId = instanceId
        self.eventIds = eventIds
        self.microseconds = microseconds
        self.detail = detail
    }

    /// Report order: errors first, then by kind, instance and first event.
    public static func reportOrder(_ a: Anomaly, _ b: Anomaly) -> Bool {
        if a.severity != b.severity { return a.severity < b.severity }
        if a.kind != b.kind { return a.kind < b.kind }
        if (a.instanceId ?? "") != (b.instanceId ?? "") { return (a.instanceId ?? "") < (b.instanceId ?? "") }
        if (a.eventIds.first ?? 0) != (b.eventIds.first ?? 0) { return (a.eventIds.first ?? 0) < (b.eventIds.first ?? 0) }
        if a.detail != b.detail { return a.detail < b.detail }
        if (a.projectId ?? "") != (b.projectId ?? "") { return (a.projectId ?? "") < (b.projectId ?? "") }
        return (a.microseconds ?? -1) < (b.microseconds ?? -1)
    }
}
