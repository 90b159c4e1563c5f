import BillingCore
import Foundation

/// A one-line progress report on stderr while a long read runs (rows, rows per second,
/// time left), redrawn in place; silent when stderr is not a terminal (cron, pipes, logs).
final class ProgressLine: @unchecked Sendable {
    private let label: String
    private let total: Int?
    private let started: Instant
    private var lastDraw = Instant(microseconds: 0)
    private var rows = 0
    let enabled: Bool

    init(label: String, total: Int?, enabled: Bool = isatty(STDERR_FILENO) == 1, started: Instant = Instant.now()) {
        self.started = started
        self.label = label
        self.total = total
        self.enabled = enabled
    }

    private let lock = NSLock()

    /// Counts `n` more rows and redraws at most twice a second (from any thread).
    func advance(by n: Int) {
        lock.lock()
        defer { lock.unlock() }
        rows += n
        guard enabled else { return }
        let now = Instant.now()
        guard lastDraw.microseconds(until: now) >= 500_000 else { return }
        lastDraw = now
        FileHandle.standardError.write(Data(("\r" + text(now: now) + "\u{1B}[K").utf8))
    }

    /// Clears the line.
    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    /// `reading 2026-10: 1,234,567 / 10,000,000 changes (12%), 812,345 rows/s, 11 s left`
    func text(now: Instant) -> String {
        let elapsedMicros = max(started.microseconds(until: now), 1)
        let perSecond = Int64(rows) * 1_000_000 / elapsedMicros
        var s = "\(label): \(grouped(rows))"
        if let total, total > 0 {
            s += " / \(grouped(total)) changes (\(min(100, rows * 100 / total))%)"
        } else {
            s += " changes"
        }
        s += ", \(grouped(Int(perSecond))) rows/s"
        if let total, perSecond > 0, total > rows {
            s += ", \(Int64(total - rows) / perSecond) s left"
        }
        return s
    }

    private func grouped(_ n: Int) -> String { DisplayFormat.grouped(String(n)) }
}
