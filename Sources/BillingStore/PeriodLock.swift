import BillingCore
import PostgresClient

/// The advisory lock that keeps two runs of one period apart (billing-rules.md section 7).
public struct PeriodLock {
    let db: PostgresConnection
    let period: YearMonth

    public init(db: PostgresConnection, period: YearMonth) {
        self.db = db
        self.period = period
    }

    /// A stable 63-bit key from the period: "bmbi" in the high bits, YYYYMM in the low.
    public var key: Int64 { 0x626D_6269_0000_0000 | (period.year * 100 + period.month) }

    /// Takes the lock without waiting. Nil when taken; else who holds it, in words
    /// (application name, backend pid, client address, since when), for the message.
    public func acquire() throws -> String? {
        guard try !db.tryAdvisoryLock(key) else { return nil }
        let holder = try? db.execute(
            """
            SELECT a.application_name, a.pid, coalesce(a.client_addr::text, 'local socket'), a.backend_start
            FROM pg_locks l JOIN pg_stat_activity a USING (pid)
            WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::int8 << 32) | l.objid::int8) = $1::int8
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """, [String(key)]
        ).rows.first
        return holder.map { h in
            "\(h[0].map { $0.isEmpty ? "a session" : $0 } ?? "a session") (backend pid \(h[1] ?? "?") from \(h[2] ?? "?"), connected since \(h[3] ?? "?"))"
        } ?? "another session"
    }

    public func release() { try? db.advisoryUnlock(key) }
}

/// The advisory lock that keeps credit taking of two runs apart, whatever their periods
/// (pricing.md section 3: a credit is never spent twice). Taken after the period lock by
/// every run that writes invoices, around reading the balances, planning and the
/// transaction that stores what was taken; it waits (that part of a run takes seconds).
/// A session that dies releases it.
public struct CreditLock {
    let db: PostgresConnection

    public init(db: PostgresConnection) { self.db = db }

    /// "bmbc" in the high bits: apart from every period's key.
    public static let key: Int64 = 0x626D_6263_0000_0000

    public func acquire() throws {
        try db.execute("SELECT pg_advisory_lock($1::int8)", [String(CreditLock.key)], context: "waiting for the credit lock")
    }

    public func release() { _ = try? db.execute("SELECT pg_advisory_unlock($1::int8)", [String(CreditLock.key)]) }
}
