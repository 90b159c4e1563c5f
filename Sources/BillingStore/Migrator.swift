import BillingCore
import PostgresClient

/// One numbered schema migration from `sql/`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }

    /// SHA-256 of the text, recorded when applied, so an edited migration is noticed.
    public var checksum: String { SHA256.hex(of: Array(sql.utf8)) }
}

/// Applies migrations in order, each once, recording them in `bmbill_schema_migrations`.
public struct Migrator {
    public let migrations: [Migration]

    public init(migrations: [Migration] = Migration.embedded) {
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is missing and returns the names applied (empty when up to date).
    ///
    /// All of them run in one transaction, under a transaction-level advisory lock taken
    /// before anything else (the bookkeeping table included): concurrent migrators wait for
    /// each other, and the later ones find the work done. When one fails, none is applied
    /// and the schema stays as it was.
    @discardableResult
    public func migrate(_ db: PostgresConnection) throws -> [String] {
        var applied: [String] = []
        try db.transaction {
            try db.execute("SELECT pg_advisory_xact_lock(\(Migrator.lockKey))", context: "waiting for other migrators")
            try db.execute(
                """
                CREATE TABLE IF NOT EXISTS bmbill_schema_migrations (
                    version    int PRIMARY KEY,
                    name       text NOT NULL,
                    checksum   text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """, context: "creating bmbill_schema_migrations")
            let done = try db.execute("SELECT version, name, checksum FROM bmbill_schema_migrations", context: "reading applied migrations")
            var checksums: [Int: String] = [:]
            for row in done.rows {
                guard let text = row[0], let version = Int(text), let checksum = row[2] else {
                    throw StoreError.badSourceRow(table: "bmbill_schema_migrations", key: row[0] ?? "NULL", problem: "version or checksum is unreadable")
                }
                checksums[version] = checksum
            }
            for m in migrations {
                if let recorded = checksums[m.version] {
                    guard recorded == m.checksum else {
                        throw StoreError.migrationChanged(name: m.name)
                    }
                    continue
                }
                try db.executeScript(m.sql, context: "applying migration \(m.name)")
                try db.execute("INSERT INTO bmbill_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                               [String(m.version), m.name, m.checksum], context: "recording migration \(m.name)")
                applied.append(m.name)
            }
        }
        return applied
    }

    /// The advisory lock key migrators share: "bmbimigr" as a 64-bit integer, fixed (not
    /// a hash whose function could change between server versions).
    static let lockKey: Int64 = 0x626D_6269_6D69_6772

    /// Throws `StoreError.schemaNotReady` unless every migration is applied: what each
    /// command that reads or writes billing tables checks first.
    public func requireCurrent(_ db: PostgresConnection) throws {
        let pending = try pending(db)
        if !pending.isEmpty { throw StoreError.schemaNotReady(pending: pending.map(\.name)) }
    }

    /// The versions not yet applied (all of them when the table does not exist).
    public func pending(_ db: PostgresConnection) throws -> [Migration] {
        let exists = try db.execute("SELECT to_regclass('bmbill_schema_migrations') IS NOT NULL").scalar == "t"
        guard exists else { return migrations }
        let done = Set(try db.execute("SELECT version FROM bmbill_schema_migrations").rows.compactMap { $0[0].flatMap { Int($0) } })
        return migrations.filter { !done.contains($0.version) }
    }
}
