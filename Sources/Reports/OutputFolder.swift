import BillingCore
import CFileSwap
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a period's files under `<root>/<period>/` so that a reader, or a crash, only
/// ever sees the previous complete folder or the new complete folder.
///
/// All files are first written and flushed in a staging folder beside it; the staging
/// folder is then exchanged with the period's folder in one atomic `renameat2` and the old
/// contents removed. A crash leaves at most a stale staging folder, which the next write
/// removes.
public struct OutputFolder {
    public let root: String

    public init(root: String) { self.root = root }

    public func periodDirectory(_ period: String) -> String { root + "/" + period }

    /// Makes an empty staging folder for `period` (removing any a dead run left), where
    /// `usage.csv` is written first and the other files later by `write`.
    public func stage(period: String) throws -> String {
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw OutputError.cannotWrite(path: root, reason: "\(error.localizedDescription)")
        }
        try checkIsFolderOrAbsent(periodDirectory(period))
        removeStaleStaging(period: period)
        let staging = root + "/.\(period).staging-\(getpid())"
        try? fm.removeItem(atPath: staging)
        do {
            try fm.createDirectory(atPath: staging + "/invoices", withIntermediateDirectories: true)
        } catch {
            throw OutputError.cannotWrite(path: staging, reason: "\(error.localizedDescription)")
        }
        return staging
    }

    /// Removes a staging folder that will not be swapped in.
    public func discard(staging: String) { try? FileManager.default.removeItem(atPath: staging) }

    /// Makes the staged `files` the whole contents of the period's folder. `beforeSwap`
    /// runs once everything is on disk, just before the exchange (a test hook for crash
    /// tests).
    ///
    /// When the folder already holds exactly these files, nothing is changed, so exports
    /// made from it (focus.csv, HTML and PDF invoices) stay; when anything changed, the new
    /// folder replaces the old one whole and such exports, now stale, go with it.
    ///
    /// Returns warnings for what could not be cleaned up (the previous contents, left in a
    /// staging folder beside it): the new folder is in place, but someone must look.
    @discardableResult
    public func write(period: String, files: PeriodFiles, beforeSwap: () -> Void = {}) throws -> [String] {
        let fm = FileManager.default
        let target = periodDirectory(period)
        let staging = files.staging
        try checkIsFolderOrAbsent(target)
        if files.files.allSatisfy({ OutputFolder.sameBytes(staging + "/" + $0.path, target + "/" + $0.path) }) {
            discard(staging: staging)
            beforeSwap()
            return []
        }
        // One flush for the whole folder (a flush per file costs a journal commit each).
        guard bmbill_sync_filesystem(staging) == 0 else { throw OutputError.cannotWrite(path: staging, reason: String(cString: strerror(errno))) }
        syncDirectory(staging + "/invoices")
        syncDirectory(staging)
        beforeSwap()
        if fm.fileExists(atPath: target) {
            guard bmbill_exchange_paths(staging, target) == 0 else {
                throw OutputError.cannotWrite(path: target, reason: String(cString: strerror(errno)))
            }
            syncDirectory(root)
            // The staging folder now holds the previous contents.
            do {
                try fm.removeItem(atPath: staging)
            } catch {
                return ["the previous contents of \(target) could not be removed and are left in \(staging) (\(error.localizedDescription)); "
                    + "remove that folder by hand"]
            }
            return []
        }
        guard rename(staging, target) == 0 else { throw OutputError.cannotWrite(path: target, reason: String(cString: strerror(errno))) }
        syncDirectory(root)
        return []
    }

    /// `<out>/<period>` is replaced whole: refuse when it is something bmbill did not make
    /// (a file, a link), rather than delete it.
    private func checkIsFolderOrAbsent(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }  // absent
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw OutputError.cannotWrite(path: path, reason: "it exists and is not a folder; bmbill replaces the period's folder whole "
                + "and does not delete what it did not write: move it away")
        }
    }

    /// True when both files exist and hold the same bytes (compared in chunks).
    static func sameBytes(_ a: String, _ b: String) -> Bool {
        guard let fa = fopen(a, "rb") else { return false }
        defer { fclose(fa) }
        guard let fb = fopen(b, "rb") else { return false }
        defer { fclose(fb) }
        let size = 1 << 16
        var ba = [UInt8](repeating: 0, count: size), bb = [UInt8](repeating: 0, count: size)
        while true {
            let na = fread(&ba, 1, size, fa), nb = fread(&bb, 1, size, fb)
            guard na == nb, memcmp(ba, bb, na) == 0 else { return false }
            if na < size { return true }
        }
    }

    /// Staging folders of this period left by runs that died.
    private func removeStaleStaging(period: String) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".\(period).staging-") {
            try? fm.removeItem(atPath: root + "/" + name)
        }
    }

    /// The file `atomicWrite` writes before renaming it to `path`.
    public static func temporaryPath(for path: String) -> String { path + ".tmp-\(getpid())" }

    /// Writes one file by write-then-rename: readers see the old file or the new one.
    public static func atomicWrite(_ contents: String, to path: String) throws {
        let tmp = temporaryPath(for: path)
        try writeFile(contents, to: tmp)
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: reason)
        }
    }

    /// Writes and flushes one file.
    static func writeFile(_ contents: String, to path: String) throws {
        _ = try StagedFile.write(contents, to: path)
        let fd = open(path, O_RDONLY)
        defer { if fd >= 0 { close(fd) } }
        guard fd >= 0, fsync(fd) == 0 else { throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
    }

    private func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

/// A report file could not be written.
public enum OutputError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason); check that the --out folder is writable"
        }
    }
}
