#if canImport(Glibc)
    import Glibc
#endif
import Foundation

/// Writes a period's files under `<root>/<period>/`, each to a temporary name first and
/// renamed into place, so no reader ever sees half a file. `manifest.json` is written
/// last and lists every other file's checksum.
public struct OutputFolder {
    public let root: String

    public init(root: String) { self.root = root }

    public func periodDirectory(_ period: String) -> String { root + "/" + period }

    /// Writes `files` and removes invoice files of projects no longer billed.
    public func write(period: String, files: PeriodFiles) throws {
        let dir = periodDirectory(period)
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/invoices", withIntermediateDirectories: true)
        for (path, contents) in files.files {
            try OutputFolder.atomicWrite(contents, to: dir + "/" + path)
        }
        let wanted = Set(files.files.map(\.path))
        for name in (try? fm.contentsOfDirectory(atPath: dir + "/invoices")) ?? [] where name.hasSuffix(".json") {
            if !wanted.contains("invoices/" + name) { try fm.removeItem(atPath: dir + "/invoices/" + name) }
        }
    }

    /// Writes to `<path>.tmp-<pid>`, flushes it to disk, then renames it over `path`.
    public static func atomicWrite(_ contents: String, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard let f = fopen(tmp, "wb") else { throw OutputError.cannotWrite(path: tmp, reason: String(cString: strerror(errno))) }
        let bytes = Array(contents.utf8)
        let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
        let flushed = fflush(f) == 0 && fsync(fileno(f)) == 0
        fclose(f)
        guard written == bytes.count, flushed else {
            unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw OutputError.cannotWrite(path: path, reason: reason)
        }
    }
}

/// A report file could not be written.
public enum OutputError: Error, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason); check the --out folder exists and is writable"
        }
    }
}
