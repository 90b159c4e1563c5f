/// A project: the customer an invoice is addressed to.
public struct Project: Hashable, Sendable {
    public let id: String
    public let name: String
    /// Several projects may be billed to one account; nil when the project stands alone.
    public let billingAccountId: String?

    public init(id: String, name: String, billingAccountId: String?) {
        self.id = id
        self.name = name
        self.billingAccountId = billingAccountId
    }
}

/// An instance type (`r2a.baremetal`) and the category invoices group it under.
public struct InstanceType: Hashable, Sendable {
    public let name: String
    /// `memory_optimized`, `gpu` or `general_purpose`.
    public let category: String

    public init(name: String, category: String) {
        self.name = name
        self.category = category
    }

    /// Categories in invoice order; an unlisted one sorts after these, by name.
    public static let categoryOrder = ["memory_optimized", "gpu", "general_purpose"]

    public static func categoryRank(_ category: String) -> Int {
        categoryOrder.firstIndex(of: category) ?? categoryOrder.count
    }
}

/// One bare-metal server, as the control plane's `instances` table describes it.
public struct Instance: Hashable, Sendable {
    public let id: String
    public let projectId: String
    public let typeName: String
    public let image: String
    public let name: String?
    /// Nil when `created_at` is `-infinity` (no limit) or cannot be placed in time (the
    /// reader reports it): no change is then "before created_at".
    public let createdAt: Instant?
    /// Why `created_at` could not be placed in time, when it could not (reported, as a
    /// warning, in the periods the instance is metered in).
    public let createdAtProblem: String?

    public init(id: String, projectId: String, typeName: String, image: String, name: String?, createdAt: Instant?,
                createdAtProblem: String? = nil) {
        self.createdAtProblem = createdAtProblem
        self.id = id
        self.projectId = projectId
        self.typeName = typeName
        self.image = image
        self.name = name
        self.createdAt = createdAt
    }

    /// True for the Windows Server images (`Windows 2019`, `Windows 2022`).
    public var hasWindowsImage: Bool { image.lowercased().hasPrefix("windows") }
}

/// One row of `instance_state_changes`: from `changedAt` on, the instance is in `state`.
/// Whose it is, the reader and the engine carry beside a whole instance's changes.
public struct StateChange: Hashable, Sendable {
    public let eventId: Int64
    /// The state name as recorded (case and spacing as the control plane wrote it).
    public let state: String
    public let changedAt: Instant
    /// When the row reached the database; the run's input watermark is the latest one read.
    public let recordedAt: Instant

    public init(eventId: Int64, state: String, changedAt: Instant, recordedAt: Instant) {
        self.eventId = eventId
        self.state = state
        self.changedAt = changedAt
        self.recordedAt = recordedAt
    }

    /// Orders changes as the rules do: by instant, then by event id.
    public static func inEffectOrder(_ a: StateChange, _ b: StateChange) -> Bool {
        (a.changedAt, a.eventId) < (b.changedAt, b.eventId)
    }
}

/// Which states are charged, keyed by canonical name (`billable_states`, editable data).
public struct BillableStateTable: Sendable {
    private let billable: [String: Bool]

    /// Names that differ only in case or spacing but disagree on billing (`Active` billed,
    /// `active` not). They are left out of the table, so their time is reported as unknown.
    public let conflicts: [String]

    /// `rows` maps state names, in any case, to whether they are billed.
    public init(_ rows: [String: Bool]) {
        var map: [String: Bool] = [:]
        var conflicts: Set<String> = []
        for (name, value) in rows {
            let key = BillableStateTable.canonical(name)
            if let other = map[key], other != value { conflicts.insert(key) }
            map[key] = value
        }
        for key in conflicts { map[key] = nil }
        billable = map
        self.conflicts = conflicts.sorted()
    }

    /// The canonical spelling of a state name (billing-rules.md section 1: names match
    /// case-insensitively): every Unicode white-space character (`whiteSpace`) trimmed from
    /// both ends, and the ASCII letters A-Z lowered; nothing else changes. The SQL function
    /// `bmbill_canonical_state` (migration 010) is the same rule, character for character,
    /// so that a state compared in PostgreSQL (the `deleted` an instance carries into a
    /// period) and in Swift is the same state. Lowering only ASCII keeps the rule the same
    /// under every database collation; the states of the seed are ASCII.
    public static func canonical(_ name: String) -> String {
        // Most names are already canonical (lower-case ASCII letters, digits, '-', '_'):
        // keep them as they are without making new strings.
        if name.utf8.allSatisfy({ (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2D || $0 == 0x5F }) { return name }
        let scalars = name.unicodeScalars
        guard let first = scalars.firstIndex(where: { !whiteSpace.contains($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !whiteSpace.contains($0) })!
        var out = String.UnicodeScalarView()
        for scalar in scalars[first...last] {
            out.append((0x41...0x5A).contains(scalar.value) ? Unicode.Scalar(scalar.value + 0x20)! : scalar)
        }
        return String(out)
    }

    /// The characters `canonical` trims: Unicode's White_Space property, all 25 of them
    /// (a test checks the list against the property). Migration 010 lists the same ones.
    public static let whiteSpace: Set<Unicode.Scalar> = Set(
        ([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680] + Array(0x2000...0x200A) + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000])
            .map { Unicode.Scalar(UInt32($0))! })

    /// Every state and whether it is billed, by name.
    public var entries: [(state: String, billable: Bool)] { billable.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// True or false for a known state; nil for a name the table does not hold.
    public func isBillable(_ canonicalState: String) -> Bool? { billable[canonicalState] }

    /// The seed's table (`../shared/seed/bare-metal-server.txt`), as `sql/` installs it.
    public static let seed = BillableStateTable([
        "spawning": false, "active": true, "stopped": true, "rebuild_spawning": true,
        "rebooting_hard": true, "rebooting_started_hard": true, "powering-off": true,
        "powering-on": true, "error": false, "deleting": false, "shelved_offloaded": false,
        "deleted": false,
    ])

    /// The terminal state: nothing after it is applied.
    public static let deleted = "deleted"
}
