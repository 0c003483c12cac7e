import Foundation
import GRDB
import Testing
@testable import Core
@testable import GIGTrace

@Suite("Trace database")
struct TraceDatabaseTests {
    @Test("a written trace reads back the same header, graph and image rows")
    func roundTrip() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: Array(0..<13))
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
        let reader = try TraceReader.open(path)
        #expect(reader.complete)
        #expect(reader.header == Synthetic.header())
        var direct = ConceptGraph(layout: Synthetic.layout)
        for n in 0..<13 { try direct.add(Synthetic.trace(n)) }
        #expect(reader.graph == direct)
        let image = try reader.image(5)
        #expect(image == ImageRecord(Synthetic.trace(5), limit: 32))
        #expect(throws: TraceError.self) { try reader.image(99) }
    }

    @Test("resume after a kill between checkpoints gives the uninterrupted trace")
    func resumeAfterKill() throws {
        let folder = try temporaryFolder()
        let whole = folder + "/whole.sqlite", resumed = folder + "/resumed.sqlite"
        try writeTrace(whole, images: Array(0..<20), every: 4)

        do {  // the run that gets killed: 10 images added, only 8 checkpointed
            let writer = try TraceWriter.create(at: resumed, header: Synthetic.header())
            for n in 0..<10 {
                try writer.add(Synthetic.trace(n))
                if (n + 1) % 4 == 0 { try writer.checkpoint() }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: resumed))
        let partial = try TraceReader.open(resumed + ".partial")
        #expect(!partial.complete)
        #expect(partial.graph.imageCount == 8)

        #expect(try TraceDatabase.open(TraceWriter.partialPath(for: resumed)).readHeader().header == Synthetic.header())
        let writer = try TraceWriter.resume(at: resumed, expecting: { _ in Synthetic.header() })
        #expect(writer.completedImages == Set(0..<8))
        for n in 0..<20 where !writer.completedImages.contains(n) {
            try writer.add(Synthetic.trace(n))
        }
        try writer.finish()
        let a = try TraceReader.open(whole), b = try TraceReader.open(resumed)
        #expect(graphsAgree(a.graph, b.graph).isEmpty)
        #expect(try a.images() == b.images())
    }

    @Test("resume refuses a different header and an image already recorded")
    func resumeRefusals() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        let writer = try TraceWriter.create(at: path, header: Synthetic.header())
        try writer.add(Synthetic.trace(0))
        try writer.checkpoint()
        #expect(throws: TraceError.self) { try writer.add(Synthetic.trace(0)) }
        let e = #expect(throws: InputError.self) { try TraceWriter.resume(at: path, expecting: { _ in Synthetic.header(seed: 99) }) }
        #expect(e?.description.contains("settings differ: seed") == true)
        #expect(throws: InputError.self) { try TraceWriter.resume(at: folder + "/none.sqlite") }
        let resumed = try TraceWriter.resume(at: path)
        #expect(resumed.completedImages == [0])
        #expect(throws: TraceError.self) { try resumed.add(Synthetic.trace(0)) }
    }

    @Test("an existing output is refused without force and replaced with it")
    func existingOutput() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: [0, 1])
        let error = #expect(throws: InputError.self) { try TraceWriter.create(at: path, header: Synthetic.header()) }
        #expect(error == .outputExists(path))
        #expect(try TraceReader.open(path).graph.imageCount == 2)
    }

    @Test("force overwrites an existing trace")
    func forceOverwrites() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: [0, 1])
        let writer = try TraceWriter.create(at: path, header: Synthetic.header(), force: true)
        for n in 0..<3 { try writer.add(Synthetic.trace(n)) }
        try writer.finish()
        #expect(try TraceReader.open(path).graph.imageCount == 3)
    }

    @Test("a newer schema version is refused with both versions named")
    func newerSchema() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: [0])
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 7") }
        try queue.close()
        let error = #expect(throws: TraceError.self) { try TraceReader.open(path) }
        #expect(error?.description == "\(path): made by a newer gigtrace (schema v7), this one reads up to v\(TraceDatabase.schemaVersion)")
    }

    @Test("an older (unreleased) schema version is refused with a reason")
    func olderSchema() throws {
        let folder = try temporaryFolder()
        let path = folder + "/t.sqlite"
        try writeTrace(path, images: [0])
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 0") }
        try queue.close()
        let error = #expect(throws: TraceError.self) { try TraceReader.open(path) }
        #expect(error?.description.contains("schema v0") == true)
    }

    @Test("non-SQLite, foreign SQLite, truncated and missing files give one error naming the file")
    func badFiles() throws {
        let folder = try temporaryFolder()
        let text = folder + "/notes.sqlite"
        try Data("hello, this is not a database".utf8).write(to: URL(fileURLWithPath: text))
        let e1 = #expect(throws: InputError.self) { try TraceReader.open(text) }
        #expect(e1?.description.hasPrefix(text) == true)
        #expect(e1?.description.contains("not an SQLite database") == true)

        let foreign = folder + "/foreign.sqlite"
        let queue = try DatabaseQueue(path: foreign)
        try queue.write { db in try db.execute(sql: "CREATE TABLE t(x); INSERT INTO t VALUES (1)") }
        try queue.close()
        let e2 = #expect(throws: InputError.self) { try TraceReader.open(foreign) }
        #expect(e2?.description.contains("not a gigtrace trace") == true)

        let good = folder + "/good.sqlite"
        try writeTrace(good, images: Array(0..<10))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        let truncated = folder + "/truncated.sqlite"
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        let e3 = #expect(throws: InputError.self) { try TraceReader.open(truncated) }
        #expect(e3?.description.hasPrefix(truncated) == true)

        let e4 = #expect(throws: InputError.self) { try TraceReader.open(folder + "/missing.sqlite") }
        #expect(e4 == .fileNotFound(folder + "/missing.sqlite"))
    }
}
