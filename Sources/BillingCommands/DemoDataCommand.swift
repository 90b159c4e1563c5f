import ArgumentParser
import BillingCore
import BillingStore
import PostgresClient

struct DemoDataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-data",
        abstract: "Load realistic synthetic source data (deterministic per --seed and --until).",
        usage: "bmbill demo-data [<options>]",
        discussion: """
            Projects (some sharing a billing account), the r2a/p2a/p1i bare-metal types with demo \
            rates (p2a's changes inside the last ended month), images (Windows only on r2a) and \
            lifecycles over --months months through every state of the billable-state table.

            Also customers' prices: a 5% discount for prj-1002, 10% off GPU servers for \
            prj-1001's account from the 16th of the last ended month, a 600-hour monthly cap on \
            r2a, and credits (a welcome credit, an SLA credit for prj-1001, a promotional credit \
            valid in the last ended month only). --no-pricing leaves them out: every invoice is \
            then at list price.

            And two budgets: 25,000,000 KRW a month for prj-1001 (alerts at 50, 80 and 100%), \
            60,000,000 KRW for prj-1002's billing account (75, 90, 100, 120%). --no-budgets \
            leaves them out.

            Loads only into empty source tables, unless --replace empties them first together with \
            every bmbill output table: use --replace on demo databases only.

            Examples:
              bmbill demo-data
              bmbill demo-data --replace --projects 12 --instances 200 --months 6
              bmbill demo-data --replace --no-pricing
            """)

    @Option(help: "Number of projects.") var projects = 6
    @Option(help: "Number of instances.") var instances = 40
    @Option(help: "Months of history up to --until.") var months = 4
    @Option(help: "Random seed: the same seed and --until give the same rows.") var seed: UInt64 = 42
    @Option(help: ArgumentHelp("Last instant of the data (ISO 8601); default now, to the hour.", valueName: "instant"))
    var until: String?
    @Flag(help: "Empty the source and output tables first (demo databases only).") var replace = false
    @Flag(help: "Load no discounts, monthly caps or credits (invoices at list price).") var noPricing = false
    @Flag(help: "Load no budgets (no budget alerts).") var noBudgets = false
    @Option(help: ArgumentHelp("IANA zone the months are counted in.", valueName: "zone"))
    var timezone: String = "Asia/Seoul"
    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard (1...100_000).contains(projects) else { throw ValidationError("--projects must be from 1 to 100000") }
        guard (1...10_000_000).contains(instances) else { throw ValidationError("--instances must be from 1 to 10000000") }
        guard (1...120).contains(months) else { throw ValidationError("--months must be from 1 to 120") }
    }

    func run() throws {
        guard let zone = BillingTimeZone(identifier: timezone) else {
            throw BMBillError.usage("--timezone '\(timezone)' is not an IANA time zone name")
        }
        let end: Instant
        if let until {
            guard let u = Instant(iso8601: until) else { throw BMBillError.usage("--until '\(until)' is not an ISO 8601 instant") }
            end = u
        } else {
            let now = Instant.now()
            end = Instant(seconds: now.flooredSeconds / 3600 * 3600)
        }
        var demo = DemoData(until: end)
        demo.projects = projects
        demo.instances = instances
        demo.months = months
        demo.seed = seed
        demo.pricing = !noPricing
        demo.budgets = !noBudgets
        let db = try PostgresConnection(conninfo: connection.conninfo ?? "")
        let counts = try demo.load(into: db, zone: zone, replace: replace)
        print("loaded demo data into \(db.displayName) (seed \(seed), until \(end.iso8601)): "
            + DemoData.tables.map { "\(counts[$0] ?? 0) \($0)" }.joined(separator: ", "))
    }
}
