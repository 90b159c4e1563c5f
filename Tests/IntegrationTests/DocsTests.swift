import Foundation
import Testing

/// The repository's references to its own documents: a page named in code, SQL, scripts
/// or another page exists, and a relative Markdown link reaches its file and heading.
@Suite("Documents")
struct DocsTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The repository's text files, relative to it (hidden folders, builds and generated
    /// reports left out).
    static func textFiles() -> [String] {
        let root = repo.path
        guard let walk = FileManager.default.enumerator(atPath: root) else { return [] }
        var files: [String] = []
        while let path = walk.nextObject() as? String {
            let name = (path as NSString).lastPathComponent
            var isDir: ObjCBool = false
            FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDir)
            if isDir.boolValue {
                if name.hasPrefix(".") || path == "reports/out" { walk.skipDescendants() }
                continue
            }
            let ext = (name as NSString).pathExtension
            if ["swift", "md", "sql", "py", "html", "c", "h"].contains(ext) || path.hasPrefix("scripts/") || name == "Makefile" {
                files.append(path)
            }
        }
        return files.sorted()
    }

    /// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens.
    static func anchor(_ heading: String) -> String {
        String(heading.lowercased().unicodeScalars.compactMap { c -> Character? in
            if c == " " { return "-" }
            if c == "-" || c == "_" || CharacterSet.alphanumerics.contains(c) { return Character(c) }
            return nil
        })
    }

    @Test("Every docs/….md page named in the code, SQL, scripts and documents exists")
    func namedPagesExist() throws {
        let files = Self.textFiles()
        #expect(files.contains("README.md") && files.contains("Sources/BillingCore/BillingEngine.swift"))
        for file in files {
            let text = read(Self.repo.appendingPathComponent(file).path)
            for match in text.matches(of: #/docs/[A-Za-z0-9_/-]+\.md/#) {
                let page = String(text[match.range])
                #expect(FileManager.default.fileExists(atPath: Self.repo.appendingPathComponent(page).path), "\(file) names \(page), which does not exist")
            }
        }
    }

    @Test("Every relative Markdown link reaches its file, and its #anchor a heading there")
    func markdownLinksResolve() throws {
        for file in Self.textFiles() where file.hasSuffix(".md") {
            let text = read(Self.repo.appendingPathComponent(file).path)
            for match in text.matches(of: #/\]\(([^)\s]+)\)/#) {
                let target = String(match.output.1)
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let dir = Self.repo.appendingPathComponent(file).deletingLastPathComponent()
                let url = parts[0].isEmpty ? Self.repo.appendingPathComponent(file) : dir.appendingPathComponent(parts[0]).standardizedFileURL
                guard FileManager.default.fileExists(atPath: url.path) else {
                    Issue.record("\(file): link to \(target): no such file")
                    continue
                }
                guard parts.count == 2 else { continue }
                let headings = read(url.path).split(separator: "\n").filter { $0.hasPrefix("#") }
                    .map { Self.anchor(String($0.drop { $0 == "#" }.drop { $0 == " " })) }
                #expect(headings.contains(parts[1]), "\(file): link to \(target): no such heading")
            }
        }
    }
}
