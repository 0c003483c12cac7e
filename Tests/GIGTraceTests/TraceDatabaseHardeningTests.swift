import Foundation
import GRDB
import TestSupport
import Testing
@testable import Core
@testable import GIGTrace

/// Hostile trace databases (issue 12): values of the wrong type or range are one error naming the
/// table, row and column for every reader (open, query, merge) — GRDB's subscripts used to trap —
/// and a `.partial` with a hot rollback journal is rolled back and resumed.
@Suite("Trace database hardening")
struct TraceDatabaseHardeningTests {
    /// A finished 6-image trace, changed by `sql`, and the error each reader gives on it.
    func errors(after sql: String) throws -> [String] {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: Array(0..<6))
        try DatabaseQueue(path: path).write { try $0.execute(sql: sql) }
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "no error" } catch { return "\(error)" }
        }
        return [message { _ = try TraceReader.open(path) },
                message { _ = try TraceReader.open(path).images() },
                message { _ = try TraceMerger.merge(output: folder + "/m.sqlite", shards: [path]) }]
    }

    @Test("wrong types and ranges name table, row and column", arguments: [
        ("UPDATE concept_banks SET concept_count = -1 WHERE level = 0",
         "table concept_banks, row 1, column concept_count: -1 is outside 1…16777216"),
        ("UPDATE concept_banks SET concept_count = 1099511627776 WHERE level = 1",
         "table concept_banks, row 2, column concept_count: 1099511627776 is outside 1…16777216"),
        ("UPDATE concept_banks SET vectors = x'00010203' WHERE level = 0",
         "table concept_banks, row 1, column vectors: blob of 4 bytes, expected"),
        ("UPDATE concept_banks SET channels = 'many' WHERE level = 0",
         "table concept_banks, row 1, column channels: expected Int, found \"many\""),
        ("UPDATE images SET label = 'cat' WHERE idx = 3",
         "table images, row 3, column label: expected Int, found \"cat\""),
        ("UPDATE images SET prediction = 99 WHERE idx = 2",
         "table images, row 2, column prediction: 99 is outside 0…"),
        ("UPDATE run_settings SET exemplar_limit = -4",
         "table run_settings, row 1, column exemplar_limit: -4 is outside 0…16777216"),
        ("UPDATE nodes SET images_active = -1 WHERE level = 0 AND idx = 0",
         "table nodes, row 1, column images_active: -1 is outside 0…"),
        ("UPDATE model SET class_names = '[]'",
         "table model, row 1, column class_names: 0 classes"),
        ("UPDATE run_settings SET json = json_set(json, '$.extra.coding', 'ridge')",
         "table run_settings, row 1, column json: coding 'ridge' is not one this build knows (lasso, debiased)"),
    ])
    func hostileValues(sql: String, expected: String) throws {
        for (reader, text) in zip(["open", "images", "merge"], try errors(after: sql)) {
            #expect(text.contains(expected), "\(reader): \(text)")
            #expect(text.contains("t.sqlite: ") && !text.contains("\n"), "\(reader): \(text)")
        }
    }

    /// A writer killed inside a transaction leaves a hot rollback journal; opening read-only
    /// could not roll it back ("attempt to write a readonly database"). Now the header is read,
    /// the run resumes from the last checkpoint and ends equal to an uninterrupted trace.
    @Test("a .partial with a hot journal is rolled back and resumed")
    func hotJournalResumes() throws {
        let folder = try temporaryFolder()
        let whole = folder + "/whole.sqlite", resumed = folder + "/resumed.sqlite"
        try writeTrace(whole, images: Array(0..<12), every: 4)
        do {
            let writer = try TraceWriter.create(at: resumed, header: Synthetic.header())
            for n in 0..<8 {
                try writer.add(Synthetic.trace(n))
                if (n + 1) % 4 == 0 { try writer.checkpoint() }
            }
        }
        // A process that dies mid-transaction after SQLite has spilled changed pages to the file.
        _ = try runPython("""
            import os, sqlite3, sys
            con = sqlite3.connect(sys.argv[1], isolation_level=None)
            con.execute('PRAGMA cache_size = 1')
            con.execute('BEGIN IMMEDIATE')
            con.execute('DELETE FROM images')
            con.execute('DELETE FROM edges')
            for i in range(3000):
                con.execute('INSERT INTO checkpoints(images_done, written_at) VALUES (?, ?)', (i, 'x' * 200))
            os._exit(0)
            """, arguments: [resumed + ".partial"])
        let journal = resumed + ".partial-journal"
        let size = (try FileManager.default.attributesOfItem(atPath: journal)[.size] as? NSNumber)?.intValue ?? 0
        #expect(size > 0, "the helper left no hot journal")

        #expect(try TraceDatabase.open(TraceWriter.partialPath(for: resumed)).readHeader().header == Synthetic.header())
        let writer = try TraceWriter.resume(at: resumed, expecting: { _ in Synthetic.header() })
        #expect(writer.completedImages == Set(0..<8))
        for n in 8..<12 { try writer.add(Synthetic.trace(n)) }
        try writer.finish()
        let a = try TraceReader.open(whole), b = try TraceReader.open(resumed)
        #expect(graphsAgree(a.graph, b.graph).isEmpty)
        #expect(try b.images().map(\.index) == Array(0..<12))
    }
}
