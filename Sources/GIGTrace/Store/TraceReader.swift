import Core

/// A finished (or partial) trace opened for queries: header and graph in memory, image rows on demand.
public struct TraceReader: Sendable {
    public let database: TraceDatabase
    public let header: TraceHeader
    public let graph: ConceptGraph
    /// False for a `.partial` file of a run that has not finished.
    public let complete: Bool

    /// Opens a trace database read-only; errors name the file.
    public static func open(_ path: String) throws -> TraceReader {
        let database = try TraceDatabase.open(path)
        let stored = try database.readHeader()
        let graph = try database.readGraph(layout: stored.header.layout, exemplarLimit: stored.exemplarLimit)
        return TraceReader(database: database, header: stored.header, graph: graph, complete: stored.complete)
    }

    public var layout: TraceLayout { graph.layout }

    /// The row of image `index`; throws when that image was not traced.
    public func image(_ index: Int) throws -> ImageRecord {
        guard let record = try database.readImages(index: index).first else {
            throw TraceError.invalidRequest("image \(index) is not in \(database.path) (\(graph.imageCount) images traced)")
        }
        return record
    }

    /// All image rows, by index.
    public func images() throws -> [ImageRecord] { try database.readImages() }
}
