import Concepts
import Core
import Foundation

/// Merges trace databases of disjoint shards of one dataset (same model, settings except the
/// shard index, identical concept banks) into exactly the trace one run over the union gives.
public enum TraceMerger {
    /// What a merge produced.
    public struct Report: Sendable, Equatable {
        public var shards: Int
        public var images: Int
        /// The dataset size recorded in the settings (images not covered by any shard = datasetCount − images).
        public var datasetCount: Int
    }

    /// Merges `shards` into `output` (written to a temporary file, then renamed). Refuses an
    /// existing output unless `force`, unfinished shards, header mismatches and overlapping images,
    /// each with one error naming the shard and the difference.
    @discardableResult
    public static func merge(output: String, shards: [String], force: Bool = false) throws -> Report {
        guard !shards.isEmpty else { throw TraceError.invalidTrace("merge needs at least one shard") }
        try OutputPath.check(output, force: force)
        if let duplicate = firstDuplicate(shards) {
            throw TraceError.invalidTrace("shard \(duplicate) is given twice")
        }
        var reference: (path: String, header: TraceHeader, exemplarLimit: Int, imageEdgeLimit: Int)?
        var graph: ConceptGraph?
        var images: [ImageRecord] = []
        var imageLayers: [ImageLayerRecord] = []
        var owner: [Int: String] = [:]
        for shard in shards {
            let database = try TraceDatabase.open(shard)
            let stored = try database.readHeader()
            guard stored.complete else {
                throw TraceError.invalidTrace("shard \(shard): the trace is unfinished (resume it first)")
            }
            if let reference {
                var problems = differences(reference.header, stored.header)
                if stored.exemplarLimit != reference.exemplarLimit { problems.append("exemplar limit differs") }
                if stored.imageEdgeLimit != reference.imageEdgeLimit { problems.append("per-image edge limit differs") }
                guard problems.isEmpty else {
                    throw TraceError.invalidTrace("shard \(shard) does not match \(reference.path): "
                        + problems.joined(separator: "; "))
                }
            } else {
                reference = (shard, stored.header, stored.exemplarLimit, stored.imageEdgeLimit)
            }
            let shardImages = try database.readImages()
            for record in shardImages {
                if let other = owner[record.index] {
                    throw TraceError.invalidTrace("shard \(shard) overlaps \(other): both contain image \(record.index)")
                }
                owner[record.index] = shard
            }
            images += shardImages
            imageLayers += try database.readImageLayers()
            let shardGraph = try database.readGraph(layout: stored.header.layout, exemplarLimit: stored.exemplarLimit)
            if graph == nil { graph = shardGraph } else { graph?.merge(shardGraph) }
        }
        guard let reference, let graph else { throw TraceError.invalidTrace("merge needs at least one shard") }
        var header = reference.header
        header.settings.shardIndex = 0
        header.settings.shardCount = 1
        images.sort { $0.index < $1.index }
        let temp = URL(fileURLWithPath: output).deletingLastPathComponent()
            .appendingPathComponent(".\(URL(fileURLWithPath: output).lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).merge").path
        try? FileManager.default.removeItem(atPath: temp)
        do {
            let database = try TraceDatabase.create(at: temp)
            try database.writeHeader(header, exemplarLimit: reference.exemplarLimit, imageEdgeLimit: reference.imageEdgeLimit)
            try database.writeCheckpoint(graph: graph, newImages: images, newImageLayers: imageLayers, complete: true)
            try database.close()
            try TraceWriter.install(temp, at: output)
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw error
        }
        return Report(shards: shards.count, images: images.count, datasetCount: header.settings.datasetCount)
    }

    /// Human descriptions of how two headers differ, ignoring the shard index (empty if they agree).
    public static func differences(_ a: TraceHeader, _ b: TraceHeader) -> [String] {
        var problems: [String] = []
        if a.model.sha256 != b.model.sha256 { problems.append("model hash differs") }
        if a.model.inputShape != b.model.inputShape { problems.append("model input shape differs") }
        if a.model.classNames != b.model.classNames { problems.append("class names differ") }
        if a.preprocessingJSON != b.preprocessingJSON { problems.append("preprocessing differs") }
        let settings = a.settings.differences(from: b.settings)
        if !settings.isEmpty { problems.append("settings differ: " + settings.joined(separator: ", ")) }
        if a.banks.map(\.layer) != b.banks.map(\.layer) {
            problems.append("traced layers differ")
        } else {
            for (x, y) in zip(a.banks, b.banks) where !x.sameStoredForm(as: y) {
                problems.append("concept bank of layer \(x.layer) differs")
            }
        }
        return problems
    }

    private static func firstDuplicate(_ paths: [String]) -> String? {
        var seen: Set<String> = []
        for path in paths {
            let key = URL(fileURLWithPath: path).standardizedFileURL.path
            if !seen.insert(key).inserted { return path }
        }
        return nil
    }
}

extension ConceptBank {
    /// Whether two banks agree in everything a trace stores of them (method, concepts, mean, λ, the
    /// coding and the quality figures), which is what decides whether they code alike.
    func sameStoredForm(as other: ConceptBank) -> Bool {
        layer == other.layer && method == other.method && concepts == other.concepts && mean == other.mean
            && lambda == other.lambda && coding == other.coding && quality.r2 == other.quality.r2
            && quality.meanNonzeros == other.quality.meanNonzeros && quality.activeShare == other.quality.activeShare
    }
}
