/// A negotiated discount (pricing.md section 1): `percent` off the list price of billable
/// time, for one project or every project of one billing account, on one instance type,
/// one category or all, over `[effectiveFrom, effectiveTo)`.
///
/// A class, immutable: every invoice line it prices refers to the one instance (a line
/// holding the row by value would carry 150 bytes more, and a month has 100,000s of lines).
public final class Discount: Hashable, Sendable {
    public let id: String
    public let projectId: String?
    public let billingAccountId: String?
    public let typeName: String?
    public let category: String?
    /// Percent off, exactly as stored (`15.0000`): 0 < percent <= 100.
    public let percent: ExactDecimal
    public let effectiveFrom: Instant
    /// Exclusive end; nil while open.
    public let effectiveTo: Instant?
    public let description: String?

    public init(id: String, projectId: String?, billingAccountId: String?, typeName: String?, category: String?, percent: ExactDecimal,
                effectiveFrom: Instant, effectiveTo: Instant?, description: String? = nil) {
        self.id = id
        self.projectId = projectId
        self.billingAccountId = billingAccountId
        self.typeName = typeName
        self.category = category
        self.percent = percent
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
        self.description = description
    }

    public static func == (a: Discount, b: Discount) -> Bool {
        if a === b { return true }
        return a.id == b.id && a.projectId == b.projectId && a.billingAccountId == b.billingAccountId && a.typeName == b.typeName
            && a.category == b.category && a.percent == b.percent && a.effectiveFrom == b.effectiveFrom && a.effectiveTo == b.effectiveTo
            && a.description == b.description
    }

    public func hash(into h: inout Hasher) {
        h.combine(id)
        h.combine(percent)
        h.combine(effectiveFrom)
    }

    /// The percent in ten-thousandths (`15.0000` -> 150000), the scale of `numeric(7,4)`.
    public var percentUnits: Int128 { percent.rescaled(to: Discount.percentScale) ?? 0 }
    public static let percentScale = 4
    /// `percent` with exactly four decimals, as `numeric(7,4)` shows it.
    public var percentText: String { formatScaled(percentUnits, scale: Discount.percentScale) }

    /// Which discount wins when several are in force: 0 is the most specific. The holder
    /// comes first (a project's own before its account's), then the scope (a type before a
    /// category before all types).
    public var precedence: Int { (projectId != nil ? 0 : 3) + (typeName != nil ? 0 : category != nil ? 1 : 2) }

    /// Why the row cannot be used (`invalid discount`), or nil.
    public var problem: String? {
        if (projectId == nil) == (billingAccountId == nil) {
            return projectId == nil ? "has neither a project_id nor a billing_account_id; it needs exactly one"
                : "has both a project_id and a billing_account_id; it needs exactly one"
        }
        if typeName != nil && category != nil { return "has both type_name and category; it may have one, or neither for all types" }
        guard let units = percent.rescaled(to: Discount.percentScale), units > 0, units <= 100 * pow10(Discount.percentScale) else {
            return "percent \(percent) is not in (0, 100] with at most four decimals"
        }
        if let to = effectiveTo, to <= effectiveFrom { return "effective_to \(to) is not after effective_from \(effectiveFrom)" }
        return nil
    }

    /// True when the discount is for `instance`'s project or its billing account, and for
    /// its type, its category or all types.
    func matches(projectId p: String, billingAccountId a: String?, typeName t: String, category c: String?) -> Bool {
        let holder = projectId.map { $0 == p } ?? (a != nil && billingAccountId == a)
        let scope = typeName.map { $0 == t } ?? category.map { $0 == c } ?? true
        return holder && scope
    }

    func inForce(at t: Instant) -> Bool { effectiveFrom <= t && (effectiveTo.map { t < $0 } ?? true) }
    func touches(_ w: BillingWindow) -> Bool { effectiveFrom < w.end && (effectiveTo.map { $0 > w.start } ?? true) }
}

/// A monthly cap (pricing.md section 2): an instance of `typeName` pays for at most
/// `capHours` of billable time in one period.
public struct MonthlyCap: Hashable, Sendable {
    public let typeName: String
    /// Hours, exactly as stored (`600.0000`).
    public let capHours: ExactDecimal
    public let effectiveFrom: Instant
    /// Exclusive end; nil while open.
    public let effectiveTo: Instant?

    public init(typeName: String, capHours: ExactDecimal, effectiveFrom: Instant, effectiveTo: Instant?) {
        self.typeName = typeName
        self.capHours = capHours
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
    }

    /// The cap in microseconds (a ten-thousandth of an hour is 360,000 µs, so exact), or
    /// nil when it is not above 0 or has more than four decimals.
    public var microseconds: Int64? {
        guard let units = capHours.rescaled(to: 4), units > 0, units <= Int128(Int64.max / 360_000) else { return nil }
        return Int64(units) * 360_000
    }

    func inForce(at t: Instant) -> Bool { effectiveFrom <= t && (effectiveTo.map { t < $0 } ?? true) }
}

/// A credit (pricing.md section 3): prepaid, promotional or goodwill money that pays
/// invoices of one billing account (of one project, when `projectId` is set) in its
/// currency, before tax.
public struct Credit: Hashable, Sendable {
    public let id: String
    public let billingAccountId: String
    public let projectId: String?
    /// ISO 4217 code as stored (upper-cased when compared).
    public let currency: String
    /// Major units, exactly as stored (`26000000.000000`).
    public let amount: ExactDecimal
    public let validFrom: Instant
    /// Exclusive; nil: never expires.
    public let expiresAt: Instant?
    public let reason: String?

    public init(id: String, billingAccountId: String, projectId: String?, currency: String, amount: ExactDecimal, validFrom: Instant,
                expiresAt: Instant?, reason: String? = nil) {
        self.id = id
        self.billingAccountId = billingAccountId
        self.projectId = projectId
        self.currency = currency
        self.amount = amount
        self.validFrom = validFrom
        self.expiresAt = expiresAt
        self.reason = reason
    }

    /// True when the credit is in `currency` (other currencies play no part in a run).
    public func isIn(_ currency: Currency) -> Bool { self.currency.uppercased() == currency.code }

    /// True when it can pay an invoice of `period`: valid at some instant of it.
    public func isUsable(in period: BillingPeriod) -> Bool { validFrom < period.end && (expiresAt.map { $0 > period.start } ?? true) }

    /// The amount in minor units of `currency`, or nil when it is finer than the minor unit.
    public func minorUnits(_ currency: Currency) -> Int128? { amount.rescaled(to: currency.minorUnitDigits) }

    /// Why the credit cannot be used in a run of `currency` (`invalid credit`), or nil.
    public func problem(_ currency: Currency) -> String? {
        guard let minor = minorUnits(currency) else { return "amount \(amount) \(currency) is finer than the currency's minor unit" }
        if minor <= 0 { return "amount \(amount) \(currency) is not above 0" }
        if let e = expiresAt, e <= validFrom { return "expires_at \(e) is not after valid_from \(validFrom)" }
        return nil
    }

    /// True when it may pay `project`'s invoices.
    public func pays(_ project: Project) -> Bool {
        project.billingAccountId == billingAccountId && (projectId.map { $0 == project.id } ?? true)
    }

    /// The order credits are taken in: soonest to expire first (never last), then the
    /// earliest valid, then by id (byte order).
    public static func takeOrder(_ a: Credit, _ b: Credit) -> Bool {
        switch (a.expiresAt, b.expiresAt) {
        case let (x?, y?) where x != y: return x < y
        case (.some, nil): return true
        case (nil, .some): return false
        default: break
        }
        if a.validFrom != b.validFrom { return a.validFrom < b.validFrom }
        return a.id.utf8.lexicographicallyPrecedes(b.id.utf8)
    }
}

/// The pricing rules of one run: which discount prices each instant of an instance's
/// time, and the cap of each type. Built once per engine from the catalog's rows; the
/// rows' problems that concern the window are errors of the run.
struct PriceAgreements: Sendable {
    /// Usable discounts touching the window; `DiscountPiece.discount` indexes into it.
    let discounts: [Discount]
    /// Cap per type, in microseconds, in force at the period start.
    let caps: [String: Int64]
    private(set) var problems: [Anomaly] = []
    private var byProject: [String: [Int]] = [:]
    private var byAccount: [String: [Int]] = [:]
    private let window: BillingWindow

    /// A stretch of time priced by one discount (-1: none).
    struct Piece: Sendable {
        let from: Instant
        let to: Instant
        let discount: Int32
    }

    init(discounts rows: [Discount], caps capRows: [MonthlyCap], period: BillingPeriod, window: BillingWindow) {
        self.window = window
        var kept: [Discount] = []
        for d in rows.sorted(by: { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }) {
            guard window.isReached(from: d.effectiveFrom, to: d.effectiveTo) else { continue }
            if let p = d.problem {
                problems.append(Anomaly(.error, .invalidDiscount, projectId: d.projectId, detail: "discount \(d.id) \(p); it is not used"))
                continue
            }
            guard d.touches(window) else { continue }
            kept.append(d)
        }
        discounts = kept
        for (i, d) in kept.enumerated() {
            if let p = d.projectId { byProject[p, default: []].append(i) } else if let a = d.billingAccountId { byAccount[a, default: []].append(i) }
        }
        var caps: [String: Int64] = [:]
        var inForce: [String: [MonthlyCap]] = [:]
        for c in capRows {
            guard window.isReached(from: c.effectiveFrom, to: c.effectiveTo) else { continue }
            if let to = c.effectiveTo, to <= c.effectiveFrom {
                problems.append(Anomaly(.error, .invalidCap, detail: "cap of \(c.typeName) from \(c.effectiveFrom) ends at \(to), before it starts; it is not used"))
            } else if c.microseconds == nil {
                problems.append(Anomaly(.error, .invalidCap, detail: "cap of \(c.typeName) from \(c.effectiveFrom) is \(c.capHours) h: it must be above 0 with at most four decimals; it is not used"))
            } else if c.inForce(at: period.start) {
                inForce[c.typeName, default: []].append(c)
            }
        }
        for type in inForce.keys.sorted() {
            let list = inForce[type]!
            if list.count > 1 {
                let froms = list.map { "\($0.capHours) h from \($0.effectiveFrom)" }.joined(separator: ", ")
                problems.append(Anomaly(.error, .invalidCap, detail: "\(list.count) caps of \(type) are in force at the period start \(period.start) (\(froms)); none is applied"))
                continue
            }
            caps[type] = list[0].microseconds
        }
        self.caps = caps
    }

    /// True when no discount touches the window (every instance pays list price).
    var hasNoDiscounts: Bool { discounts.isEmpty }

    /// The discounts that price one instance's time, as pieces covering the window in time
    /// order (empty when none applies anywhere), and the overlaps found (`overlapping
    /// discounts`, each naming both ids).
    func timeline(projectId: String, billingAccountId: String?, typeName: String, category: String?) -> (pieces: [Piece], overlaps: [Anomaly]) {
        var candidates: [Int] = (byProject[projectId] ?? []) + (billingAccountId.flatMap { byAccount[$0] } ?? [])
        candidates = candidates.filter { discounts[$0].matches(projectId: projectId, billingAccountId: billingAccountId, typeName: typeName, category: category) }
        guard !candidates.isEmpty else { return ([], []) }
        var points: [Instant] = [window.start, window.end]
        for i in candidates {
            let d = discounts[i]
            if d.effectiveFrom > window.start && d.effectiveFrom < window.end { points.append(d.effectiveFrom) }
            if let to = d.effectiveTo, to > window.start && to < window.end { points.append(to) }
        }
        points = Array(Set(points)).sorted()
        var pieces: [Piece] = []
        var overlaps: [Anomaly] = []
        var seenPairs: Set<[Int]> = []
        for k in 0..<(points.count - 1) {
            let a = points[k], b = points[k + 1]
            let live = candidates.filter { discounts[$0].inForce(at: a) }
            var byLevel: [Int: [Int]] = [:]
            for i in live { byLevel[discounts[i].precedence, default: []].append(i) }
            for (_, same) in byLevel where same.count > 1 {
                for x in 0..<same.count {
                    for y in (x + 1)..<same.count {
                        let pair = [same[x], same[y]].sorted()
                        guard seenPairs.insert(pair).inserted else { continue }
                        let d1 = discounts[pair[0]], d2 = discounts[pair[1]]
                        overlaps.append(Anomaly(.error, .overlappingDiscounts, projectId: d1.projectId ?? d2.projectId,
                                                detail: "discounts \(d1.id) and \(d2.id) (both \(Self.level(d1))) are in force together from \(a); no discount is applied where they overlap"))
                    }
                }
            }
            var chosen: Int32 = -1
            if let best = byLevel.keys.min(), let winners = byLevel[best], winners.count == 1 { chosen = Int32(winners[0]) }
            if let last = pieces.last, last.discount == chosen {
                pieces[pieces.count - 1] = Piece(from: last.from, to: b, discount: chosen)
            } else {
                pieces.append(Piece(from: a, to: b, discount: chosen))
            }
        }
        if pieces.count == 1 && pieces[0].discount < 0 { return ([], overlaps) }
        return (pieces, overlaps)
    }

    private static func level(_ d: Discount) -> String {
        (d.projectId != nil ? "project \(d.projectId!)" : "account \(d.billingAccountId ?? "")") + ", "
            + (d.typeName.map { "type \($0)" } ?? d.category.map { "category \($0)" } ?? "all types")
    }
}
