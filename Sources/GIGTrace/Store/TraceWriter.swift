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
    /// Image indices recorded so far (checkpointed or pending); `add` refuses these.
    public private(set) var completedImages: Set<Int>
    /// The graph over all images added so far, checkpointed or not.
    public private(set) var graph: ConceptGraph
    public let imageEdgeLimit: Int
    private let database: TraceDatabase
    private var pending: [ImageRecord] = []
    private var finished = false

    private init(path: String, header: TraceHeader, database: TraceDatabase, graph: ConceptGraph,
                 completed: Set<Int>, imageEdgeLimit: Int) {
        self.path = path
        partialPath = Self.partialPath(for: path)
        self.header = header
        self.database = database
        self.graph = graph
        completedImages = completed
        self.imageEdgeLimit = imageEdgeLimit
    }

    public static func partialPath(for path: String) -> String { path + ".partial" }

    /// Starts a new trace. Refuses an existing `path` (or a leftover partial file) unless `force`.
    /// `exemplarLimit`: exemplars kept per node; `imageEdgeLimit`: edges and concepts kept per image row.
    public static func create(at path: String, header: TraceHeader, force: Bool = false,
                              exemplarLimit: Int = 8, imageEdgeLimit: Int = 32) throws -> TraceWriter {
        let partial = partialPath(for: path)
        let fm = FileManager.default
        if fm.fileExists(atPath: path), !force {
            throw CNNError.invalidInput("\(path) already exists (pass --force to overwrite it)")
        }
        if fm.fileExists(atPath: partial) {
            guard force else {
                throw CNNError.invalidInput("\(partial) exists from an interrupted trace "
                    + "(resume it, or pass --force to start over)")
            }
            try? fm.removeItem(atPath: partial)
        }
        try validate(header)
        try checkFolder(of: path)
        let database = try TraceDatabase.create(at: partial)
        try database.writeHeader(header, exemplarLimit: exemplarLimit, imageEdgeLimit: imageEdgeLimit)
        return TraceWriter(path: path, header: header, database: database,
                           graph: ConceptGraph(layout: header.layout, exemplarLimit: exemplarLimit),
                           completed: [], imageEdgeLimit: imageEdgeLimit)
    }

    /// Continues an interrupted trace of `path` from its partial file; `completedImages` tells what
    /// to skip. The stored header (with its concept banks) is used; when `expecting` is given it must
    /// equal the stored one (same model, settings and banks), else the error lists the differences.
    public static func resume(at path: String, expecting expected: TraceHeader? = nil) throws -> TraceWriter {
        let partial = partialPath(for: path)
        guard FileManager.default.fileExists(atPath: partial) else {
            throw CNNError.fileNotFound("\(partial) (nothing to resume)")
        }
        let database = try TraceDatabase.open(partial, readOnly: false)
        let stored = try database.readHeader()
        if let expected {
            let differences = TraceMerger.differences(stored.header, expected)
            guard differences.isEmpty else {
                throw CNNError.invalidInput("cannot resume \(partial): \(differences.joined(separator: "; "))")
            }
        }
        let graph = try database.readGraph(layout: stored.header.layout, exemplarLimit: stored.exemplarLimit)
        return TraceWriter(path: path, header: stored.header, database: database, graph: graph,
                           completed: try database.completedImages(), imageEdgeLimit: stored.imageEdgeLimit)
    }

    /// The header stored in an interrupted trace's partial file (e.g. to reuse its concept banks).
    public static func storedHeader(at path: String) throws -> TraceHeader {
        try TraceDatabase.open(partialPath(for: path)).readHeader().header
    }

    /// Accumulates one image in memory (written at the next checkpoint). Refuses an image index
    /// already recorded and traces whose shapes do not fit the banks.
    public func add(_ trace: ImageTrace) throws {
        guard !finished else { throw CNNError.invalidInput("\(path): trace already finished") }
        guard !completedImages.contains(trace.index) else {
            throw CNNError.invalidInput("image \(trace.index) is already in \(partialPath)")
        }
        try graph.add(trace)
        completedImages.insert(trace.index)
        pending.append(ImageRecord(trace, limit: imageEdgeLimit))
    }

    /// Number of images added since the last checkpoint.
    public var pendingCount: Int { pending.count }

    /// Commits aggregates and the pending images in one transaction.
    public func checkpoint() throws {
        try database.writeCheckpoint(graph: graph, newImages: pending)
        pending.removeAll()
    }

    /// Final checkpoint, marks the trace complete and renames the partial file to `path`
    /// (replacing an existing file only if `create` was told `force`).
    public func finish() throws {
        try database.writeCheckpoint(graph: graph, newImages: pending, complete: true)
        pending.removeAll()
        finished = true
        try database.close()
        try Self.install(partialPath, at: path)
    }

    /// Renames a finished temporary database over `path`.
    static func install(_ temp: String, at path: String) throws {
        guard rename(temp, path) == 0 else {
            throw CNNError.invalidInput("cannot move \(temp) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func checkFolder(of path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CNNError.invalidInput("cannot write \(path): folder \(folder) does not exist")
        }
    }

    static func validate(_ header: TraceHeader) throws {
        guard !header.banks.isEmpty else { throw CNNError.invalidInput("a trace needs at least one traced layer") }
        guard !header.model.classNames.isEmpty else { throw CNNError.invalidInput("a trace needs the class names") }
        for bank in header.banks {
            guard bank.vectors.count == bank.conceptCount * bank.channels,
                  bank.mean.map({ $0.count == bank.channels }) ?? true else {
                throw CNNError.shapeMismatch("concept bank of layer \(bank.layer): vectors should be "
                    + "\(bank.conceptCount)×\(bank.channels) and the mean \(bank.channels) long")
            }
        }
    }
}
