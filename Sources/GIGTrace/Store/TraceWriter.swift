import Concepts
import Core
import Foundation

/// Writes a trace database while tracing: the trace loop calls `create` (or `resume`), then
/// `add` per image, `checkpoint` every N images and `finish` at the end.
///
/// The file being written is `path + ".partial"`; each checkpoint commits the aggregates and the
/// new image rows in one transaction, so a killed run leaves a consistent partial file that
/// `resume` continues from. `finish` renames it to `path`. Single-threaded use only.
public final class TraceWriter {
    /// The final output path and the partial file being written.
    public let path: String
    public let partialPath: String
    public let header: TraceHeader
    /// Images recorded so far (checkpointed or pending), each with its completeness error; `add`
    /// refuses these indices.
    public private(set) var completeness: [Int: Double]
    /// Image indices recorded so far.
    public var completedImages: Set<Int> { Set(completeness.keys) }
    /// The graph over all images added so far, checkpointed or not.
    public private(set) var graph: ConceptGraph
    public let imageEdgeLimit: Int
    private let database: TraceDatabase
    private var pending: [ImageRecord] = []
    private var pendingLayers: [ImageLayerRecord] = []
    private var finished = false

    private init(path: String, header: TraceHeader, database: TraceDatabase, graph: ConceptGraph,
                 completed: [Int: Double], imageEdgeLimit: Int) {
        self.path = path
        partialPath = Self.partialPath(for: path)
        self.header = header
        self.database = database
        self.graph = graph
        completeness = completed
        self.imageEdgeLimit = imageEdgeLimit
    }

    public static func partialPath(for path: String) -> String { path + ".partial" }

    /// The one way a trace run opens its output: resumes the interrupted trace of `path` from its
    /// partial file when there is one (unless `force`), else starts a new one.
    ///
    /// `header(storedBanks)` gives the header this run writes. On resume it receives the banks the
    /// partial file stores, so that the run codes with exactly the banks it started with, and the
    /// stored header must equal what it returns, else the error names every difference. On a new
    /// start it receives nil and is called only after the output was checked, so a long pass 1
    /// inside it never runs for an output that cannot be written.
    ///
    ///     let writer = try TraceWriter.open(at: "t.sqlite", force: false) { stored in
    ///         try makeHeader(banks: stored ?? learnBanks())
    ///     }
    public static func open(at path: String, force: Bool, exemplarLimit: Int = 8, imageEdgeLimit: Int = 32,
                            header: ([ConceptBank]?) throws -> TraceHeader) throws -> TraceWriter {
        let partial = partialPath(for: path)
        if !force, FileManager.default.fileExists(atPath: partial) {
            return try resume(at: path, expecting: header)
        }
        try checkNewOutput(path, force: force)
        return try create(at: path, header: try header(nil), force: force,
                          exemplarLimit: exemplarLimit, imageEdgeLimit: imageEdgeLimit)
    }

    /// Starts a new trace. Refuses an existing `path` (or a leftover partial file) unless `force`.
    /// `exemplarLimit`: exemplars kept per node; `imageEdgeLimit`: edges and concepts kept per image row.
    public static func create(at path: String, header: TraceHeader, force: Bool = false,
                              exemplarLimit: Int = 8, imageEdgeLimit: Int = 32) throws -> TraceWriter {
        try checkNewOutput(path, force: force)
        try validate(header)
        let partial = partialPath(for: path)
        if FileManager.default.fileExists(atPath: partial) { try? FileManager.default.removeItem(atPath: partial) }
        let database = try TraceDatabase.create(at: partial)
        try database.writeHeader(header, exemplarLimit: exemplarLimit, imageEdgeLimit: imageEdgeLimit)
        return TraceWriter(path: path, header: header, database: database,
                           graph: ConceptGraph(layout: header.layout, exemplarLimit: exemplarLimit),
                           completed: [:], imageEdgeLimit: imageEdgeLimit)
    }

    /// Continues an interrupted trace of `path` from its partial file (opened once, read-write);
    /// `completedImages` tells what to skip. The stored header (with its concept banks) is used;
    /// `expecting(storedBanks)` must give the same header (same model, settings and banks), else
    /// the error lists the differences.
    public static func resume(at path: String,
                              expecting expected: ([ConceptBank]) throws -> TraceHeader? = { _ in nil }) throws -> TraceWriter {
        let partial = partialPath(for: path)
        guard FileManager.default.fileExists(atPath: partial) else {
            throw InputError.fileNotFound("\(partial) (nothing to resume)")
        }
        let database = try TraceDatabase.open(partial, readOnly: false)
        let stored = try database.readHeader()
        if let expected = try expected(stored.header.banks) {
            let differences = TraceMerger.differences(stored.header, expected)
            guard differences.isEmpty else {
                throw InputError.invalidParameter(.force, "cannot resume \(partial): \(differences.joined(separator: "; ")); "
                    + "rerun with the settings it was started with, or start over")
            }
        }
        let graph = try database.readGraph(layout: stored.header.layout, exemplarLimit: stored.exemplarLimit)
        return TraceWriter(path: path, header: stored.header, database: database, graph: graph,
                           completed: try database.completedImages(), imageEdgeLimit: stored.imageEdgeLimit)
    }

    /// Accumulates one image in memory (written at the next checkpoint). Refuses an image index
    /// already recorded and traces whose shapes do not fit the banks.
    public func add(_ trace: ImageTrace) throws {
        guard !finished else { throw TraceError.invalidTrace("\(path): trace already finished") }
        guard completeness[trace.index] == nil else {
            throw TraceError.invalidTrace("image \(trace.index) is already in \(partialPath)")
        }
        try graph.add(trace)
        completeness[trace.index] = trace.completenessError
        pending.append(ImageRecord(trace, limit: imageEdgeLimit))
        pendingLayers += ImageLayerRecord.rows(trace)
    }

    /// Number of images added since the last checkpoint.
    public var pendingCount: Int { pending.count }

    /// Commits aggregates and the pending images in one transaction.
    public func checkpoint() throws {
        try database.writeCheckpoint(graph: graph, newImages: pending, newImageLayers: pendingLayers)
        pending.removeAll()
        pendingLayers.removeAll()
    }

    /// Final checkpoint, marks the trace complete and renames the partial file to `path`
    /// (replacing an existing file only if `create` was told `force`).
    public func finish() throws {
        try database.writeCheckpoint(graph: graph, newImages: pending, newImageLayers: pendingLayers, complete: true)
        pending.removeAll()
        pendingLayers.removeAll()
        finished = true
        try database.close()
        try Self.install(partialPath, at: path)
    }

    /// Renames a finished temporary database over `path`.
    static func install(_ temp: String, at path: String) throws {
        guard rename(temp, path) == 0 else {
            throw TraceError.invalidTrace("cannot move \(temp) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Refuses an output that exists (or has a leftover partial file) unless `force`, and one whose
    /// folder is missing.
    static func checkNewOutput(_ path: String, force: Bool) throws {
        try OutputPath.check(path, force: force)
        if !force, FileManager.default.fileExists(atPath: partialPath(for: path)) {
            throw InputError.invalidParameter(.force, "\(partialPath(for: path)) exists from an interrupted trace "
                + "(resume it, or start over)")
        }
    }

    static func validate(_ header: TraceHeader) throws {
        guard !header.banks.isEmpty else { throw TraceError.invalidTrace("a trace needs at least one traced layer") }
        guard !header.model.classNames.isEmpty else { throw TraceError.invalidTrace("a trace needs the class names") }
        for bank in header.banks {
            if let problem = bank.validationProblem() {
                throw TraceError.shapeMismatch("concept bank of layer \(bank.layer): \(problem)")
            }
        }
    }
}
