import BillingCore
import BillingStore
import Foundation
import PostgresClient

/// Meters a period with several connections at once, each reading one hash shard of the
/// instances (`InstanceShard`) on its own thread, all in the same snapshot of the database
/// (`pg_export_snapshot`), so the result is the one a single reader would get. This is how
/// a run uses more than one core: each reader parses and meters while its server process
/// produces rows.
struct ParallelMetering {
    /// The job's connection: it exports the snapshot and holds it while the readers work.
    let db: PostgresConnection
    let readers: Int
    let name: String
    /// How the readers read (`SourceReader.ReadPlan`).
    let plan: SourceReader.ReadPlan

    /// Meters every instance, one shard per reader, into copies of `engine`, and returns
    /// `engine` with their metering absorbed.
    ///
    /// The readers walk `instances`, so they cannot see changes of instances with no
    /// `instances` row (orphans). While they read, this connection counts the period's
    /// changes (an index-only scan, a fraction of looking for orphans in every row); only
    /// when the readers read fewer does a reader look for the orphans (`forEachOrphan`),
    /// in the same snapshot, once every other reader is done. Readers of the period's scan
    /// see the orphans' rows themselves: then there is no count, they say whether any.
    func meter(_ engine: BillingEngine, catalog: BillingCatalog, progress: ProgressLine) throws -> BillingEngine {
        let exported = try ReadSnapshot.export(from: db)
        defer { exported.end() }
        let snapshot = exported.id
        let conninfo = db.conninfo, period = engine.period, name = self.name, readers = self.readers, plan = self.plan
        /// Reads in the run's snapshot on a connection of its own, into a copy of `engine`.
        @Sendable func reading(_ label: String, _ work: (SourceReader, inout BillingEngine) throws -> SourceReader.PeriodRead)
            throws -> (MeteringPartial, SourceReader.PeriodRead)
        {
            let reader = try PostgresConnection(conninfo: conninfo)
            reader.setApplicationName("\(name) \(label)")
            try ReadSnapshot.join(reader, snapshot: snapshot)
            var mine = engine
            let read = try work(SourceReader(reader), &mine)
            try ReadSnapshot.leave(reader)
            return (mine.partial, read)
        }
        let results = Results(count: readers)
        let done = DispatchGroup()
        for k in 0..<readers {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                results.set(k, Result {
                    try reading("reader \(k + 1)") { source, mine in
                        try source.forEachInstance(in: period, shard: InstanceShard(index: k, count: readers), plan: plan) { id, changes in
                            if results.failed { throw CancellationError() }
                            mine.meter(instanceId: id, changes: changes)
                            progress.advance(by: changes.count)
                        }
                    }
                })
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        let inPeriod = plan == .byInstance ? Result { try SourceReader(db).changesInPeriod(period) } : nil
        done.wait()
        var merged = engine
        var reads: [SourceReader.PeriodRead] = []
        for (partial, read) in try results.all() {
            merged.absorb(partial)
            reads.append(read)
        }
        // Orphans: as the readers saw them, or else by the count (made now if it was not made beside them).
        let left = reads.compactMap(\.orphanChanges)
        let anyOrphans = left.count == reads.count
            ? left.reduce(0, +) > 0
            : try (inPeriod ?? Result { try SourceReader(db).changesInPeriod(period) }).get() != reads.reduce(0) { $0 + $1.changes }
        if anyOrphans {
            let (partial, _) = try reading("orphans") { source, mine in
                try source.forEachOrphan(in: period) { id, changes in
                    mine.meter(instanceId: id, changes: changes)
                    progress.advance(by: changes.count)
                }
                return SourceReader.PeriodRead(changes: 0, orphanChanges: nil)
            }
            merged.absorb(partial)
        }
        return merged
    }

    /// What the reader threads hand back; the first real failure wins over the
    /// cancellations it causes.
    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [Result<(MeteringPartial, SourceReader.PeriodRead), Error>?]
        private var anyFailure = false

        init(count: Int) { slots = Array(repeating: nil, count: count) }

        var failed: Bool { lock.withLock { anyFailure } }

        func set(_ k: Int, _ r: Result<(MeteringPartial, SourceReader.PeriodRead), Error>) {
            lock.withLock {
                slots[k] = r
                if case .failure(let e) = r, !(e is CancellationError) { anyFailure = true }
            }
        }

        func all() throws -> [(MeteringPartial, SourceReader.PeriodRead)] {
            let slots = lock.withLock { self.slots }
            for case .failure(let e)? in slots where !(e is CancellationError) { throw e }
            return try slots.map { try $0!.get() }
        }
    }
}

/// Work on another thread whose result is awaited later.
final class Background<T>: @unchecked Sendable {
    private var result: Result<T, Error>?
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () throws -> T) {
        let thread = Thread {
            self.result = Result { try work() }
            self.done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Waits for the work and returns its result (or throws its error); may be called again.
    func wait() throws -> T {
        done.wait()
        done.signal()
        return try result!.get()
    }
}
