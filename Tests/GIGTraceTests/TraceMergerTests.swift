import Foundation
import Testing
@testable import Core
@testable import GIGTrace

@Suite("Merging shards")
struct TraceMergerTests {
    @Test("4 shards with random image assignment merge into the single run")
    func fourShardsEqualOneRun() throws {
        let folder = try temporaryFolder()
        let images = Array(0..<40)
        try writeTrace(folder + "/single.sqlite", images: images, every: 7)
        var rng = SplitMix64(seed: 42)
        var shards: [[Int]] = [[], [], [], []]
        for n in images.shuffled(using: &rng) { shards[Int.random(in: 0..<4, using: &rng)].append(n) }
        var paths: [String] = []
        for (i, shard) in shards.enumerated() {
            let path = folder + "/shard\(i).sqlite"
            try writeTrace(path, header: Synthetic.header(shard: i, of: 4), images: shard, every: 3)
            paths.append(path)
        }
        let report = try TraceMerger.merge(output: folder + "/merged.sqlite", shards: paths.reversed())
        #expect(report.images == 40)
        let single = try TraceReader.open(folder + "/single.sqlite")
        let merged = try TraceReader.open(folder + "/merged.sqlite")
        #expect(graphsAgree(single.graph, merged.graph).isEmpty)
        #expect(try single.images() == merged.images())
        var expectedHeader = Synthetic.header(shard: 0, of: 4)
        expectedHeader.settings.shardCount = 1
        #expect(merged.header == expectedHeader)
    }

    @Test("mismatching shards are refused naming the shard and the difference")
    func mismatches() throws {
        let folder = try temporaryFolder()
        let a = folder + "/a.sqlite"
        try writeTrace(a, header: Synthetic.header(shard: 0, of: 2), images: [0, 1, 2])
        func refusal(_ header: TraceHeader, images: [Int] = [3, 4]) throws -> String {
            let b = folder + "/b-\(UUID().uuidString).sqlite"
            try writeTrace(b, header: header, images: images)
            do {
                try TraceMerger.merge(output: folder + "/out.sqlite", shards: [a, b])
                return "merged"
            } catch let error as TraceError {
                #expect(error.description.contains(b))
                return error.description
            }
        }
        #expect(try refusal(Synthetic.header(sha: "other", shard: 1, of: 2)).contains("model hash differs"))
        #expect(try refusal(Synthetic.header(shard: 1, of: 2, bankSeed: 5)).contains("concept bank of layer stage1 differs"))
        #expect(try refusal(Synthetic.header(seed: 8, shard: 1, of: 2)).contains("settings differ: seed"))
        #expect(try refusal(Synthetic.header(shard: 1, of: 2), images: [2, 3]).contains("both contain image 2"))
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.sqlite"))

        let unfinished = folder + "/u.sqlite"
        let writer = try TraceWriter.create(at: unfinished, header: Synthetic.header(shard: 1, of: 2))
        try writer.add(Synthetic.trace(9))
        try writer.checkpoint()
        #expect(throws: TraceError.self) {
            try TraceMerger.merge(output: folder + "/out.sqlite", shards: [a, unfinished + ".partial"])
        }
    }

    @Test("an existing merge output is refused without force")
    func existingOutput() throws {
        let folder = try temporaryFolder()
        let a = folder + "/a.sqlite", out = folder + "/out.sqlite"
        try writeTrace(a, images: [0, 1])
        try Data("x".utf8).write(to: URL(fileURLWithPath: out))
        let error = #expect(throws: InputError.self) { try TraceMerger.merge(output: out, shards: [a]) }
        #expect(error?.description.contains("already exists") == true)
        try TraceMerger.merge(output: out, shards: [a], force: true)
        #expect(try TraceReader.open(out).graph.imageCount == 2)
    }
}
