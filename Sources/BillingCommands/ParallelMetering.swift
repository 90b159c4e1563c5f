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

    /// Meters every instance, one shard per reader, into copies of `engine`, and returns
    /// `engine` with their metering absorbed.
    func meter(_ engine: BillingEngine, catalog: BillingCatalog, progress: ProgressLine) throws -> BillingEngine {
        // One more reader than asked for reads the orphans (changes of instances with no
        // instances row) of every shard: the others skip them, so the period's index is
        // scanned for them once.
        let shards: [InstanceShard?] = (0..<readers).map { InstanceShard(index: $0, count: readers) } + [nil]
        let exported = try ReadSnapshot.export(from: db)
        defer { exported.end() }
        let snapshot = exported.id
        let conninfo = db.conninfo, period = engine.period, name = self.name
        let known = catalog.instances
        let results = Results(count: shards.count)
        var threads: [Thread] = []
        let done = DispatchGroup()
        for (k, shard) in shards.enumerated() {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                do {
                    let reader = try PostgresConnection(conninfo: conninfo)
                    reader.setApplicationName(shard == nil ? "\(name) orphans" : "\(name) reader \(k + 1)")
                    try ReadSnapshot.join(reader, snapshot: snapshot)
                    var mine = engine
                    let each = { (id: String, changes: [StateChange]) throws in
                        if results.failed { throw CancellationError() }
                        mine.meter(instanceId: id, changes: changes)
                        progress.advance(by: changes.count)
                    }
                    if let shard {
                        try SourceReader(reader).forEachInstance(in: period, shard: shard, isKnown: { known[$0] != nil }, orphans: false, each)
                    } else {
                        try SourceReader(reader).forEachOrphan(in: period, isKnown: { known[$0] != nil }, each)
                    }
                    try ReadSnapshot.leave(reader)
                    results.set(k, .success(mine.partial))
                } catch {
                    results.set(k, .failure(error))
                }
            }
            thread.stackSize = 8 << 20
            threads.append(thread)
            thread.start()
        }
        done.wait()
        var merged = engine
        for r in try results.all() { merged.absorb(r) }
        return merged
    }

    /// What the reader threads hand back; the first real failure wins over the
    /// cancellations it causes.
    private final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var slots: [Result<MeteringPartial, Error>?]
        private var anyFailure = false

        init(count: Int) { slots = Array(repeating: nil, count: count) }

        var failed: Bool { lock.withLock { anyFailure } }

        func set(_ k: Int, _ r: Result<MeteringPartial, Error>) {
            lock.withLock {
                slots[k] = r
                if case .failure(let e) = r, !(e is CancellationError) { anyFailure = true }
            }
        }

        func all() throws -> [MeteringPartial] {
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
