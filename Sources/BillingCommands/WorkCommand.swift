import ArgumentParser
import BillingCore
import BillingStore
import Foundation
import Logging
import PostgresClient

struct WorkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "work",
        abstract: "Meter shards of a sharded run; start as many as you like, on any machines.",
        discussion: """
            'bmbill run --period P --shards N' records a plan and N shards of the instances in \
            PostgreSQL (tables bmbill_shard_plans and bmbill_shards). Each 'bmbill work --period P' \
            claims a pending shard (FOR UPDATE SKIP LOCKED), meters it with the plan's settings and \
            stores the result in the same transaction, then claims the next, until none is left.

            A worker that dies mid-shard loses its transaction: the shard is pending again and another \
            worker (or the run) takes it over. The run assembles the invoices once every shard is \
            done. Without a plan for the period there is nothing to do (exit 0).

            Examples:
              bmbill run --period 2026-10 --shards 64 --workers 0   # on one machine
              bmbill work --period 2026-10                          # on each other one
            """)

    @Option(help: ArgumentHelp("The month whose shards to meter, YYYY-MM.", valueName: "YYYY-MM"))
    var period: String

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let month = try parsePeriod(period)
        let logger = Logger(label: "bmbill.work")
        let db = try openConnection(connection, command: "work")
        try Migrator().requireCurrent(db)
        guard let shards = try ShardStore(db).plannedShards(month) else {
            print("no sharded run of \(month) is waiting for workers")
            return
        }
        var worker = ShardWorker(db: db, name: "bmbill work pid \(getpid()) on \(hostName())", logger: logger)
        worker.onStarted = { _ in testPause("shard") }
        var catalog: BillingCatalog?
        let done = try worker.drain(period: month) {
            if let catalog { return catalog }
            let loaded = try SourceReader(db).loadCatalog()
            catalog = loaded
            return loaded
        }
        let changes = done.reduce(0) { $0 + $1.changes }, instances = done.reduce(0) { $0 + $1.instances }
        let list = done.map { String($0.shard + 1) }.joined(separator: ", ")
        print(done.isEmpty ? "no pending shard of \(month) was free (\(shards) in all)"
                : "metered \(done.count) of \(shards) shard(s) of \(month) (\(list)): \(changes) changes, \(instances) instances; no pending shard left")
    }
}
