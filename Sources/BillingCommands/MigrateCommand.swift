import ArgumentParser
import BillingStore
import PostgresClient

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create or upgrade the schema (safe to run again).",
        discussion: """
            Applies the numbered migrations of sql/ that the database has not seen, all in one \
            transaction (when one fails, none is applied), and records them in \
            bmbill_schema_migrations. Source tables are created only where missing; \
            billable_states gets the seed's rows where absent.

            Examples:
              bmbill migrate
              PGHOST=db.internal PGDATABASE=billing PGUSER=owner bmbill migrate
            """)

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let db = try openConnection(connection, command: "migrate")
        let applied = try Migrator().migrate(db)
        if applied.isEmpty {
            print("schema is up to date (\(Migrator().migrations.count) migrations) on \(db.displayName)")
        } else {
            print("applied \(applied.count) migration(s) on \(db.displayName): \(applied.joined(separator: ", "))")
        }
    }
}
