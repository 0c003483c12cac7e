import Core
import Foundation
import GRDB
import PFV

/// One trace database file (SQLite through GRDB): schema, version checks, and reading and writing
/// the header, the graph's aggregates and per-image rows. The schema is documented in README.md,
/// section "Trace database schema". Not for concurrent writers.
public struct TraceDatabase: Sendable {
    /// Schema version stored in `PRAGMA user_version`; this build reads versions 1…current.
    public static let schemaVersion = 1
    /// `PRAGMA application_id` of gigtrace files ("GIGT").
    public static let applicationID: Int32 = 0x4749_4754

    public let path: String
    let queue: DatabaseQueue

    // MARK: Opening

    /// Creates a new, empty database at `path` (which must not exist) with the current schema.
    public static func create(at path: String) throws -> TraceDatabase {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw CNNError.invalidInput("\(path) already exists")
        }
        return try wrapping(path) {
            let queue = try DatabaseQueue(path: path)
            try queue.write { db in
                try db.execute(sql: schemaSQL)
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
            }
            return TraceDatabase(path: path, queue: queue)
        }
    }

    /// Opens an existing trace database, checking that it is an intact SQLite file made by gigtrace
    /// with a schema this build reads. Every failure is one error naming the file.
    public static func open(_ path: String, readOnly: Bool = true) throws -> TraceDatabase {
        guard FileManager.default.fileExists(atPath: path) else { throw CNNError.fileNotFound(path) }
        let header = try AtomicFile.read(path).prefix(16)
        guard header == Data("SQLite format 3\0".utf8) else {
            throw CNNError.corruptFile(path: path, reason: "not an SQLite database, so not a gigtrace trace")
        }
        return try wrapping(path) {
            var configuration = Configuration()
            configuration.readonly = readOnly
            configuration.busyMode = .timeout(10)  // wait out a writer's checkpoint transaction
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let (check, application, version) = try queue.read { db in
                (try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer",
                 try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                 try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0)
            }
            guard check == "ok" else {
                throw CNNError.corruptFile(path: path, reason: "damaged or truncated SQLite database (\(check))")
            }
            guard application == applicationID else {
                throw CNNError.corruptFile(path: path, reason: "an SQLite database, but not a gigtrace trace")
            }
            if version > schemaVersion {
                throw CNNError.invalidInput("\(path): made by a newer gigtrace (schema v\(version)), "
                    + "this one reads up to v\(schemaVersion)")
            }
            if version < schemaVersion {
                // No older schema was ever released: v1 is the first. Later versions add migrations here.
                throw CNNError.invalidInput("\(path): schema v\(version) predates the first released "
                    + "gigtrace trace schema (v1) and cannot be migrated")
            }
            return TraceDatabase(path: path, queue: queue)
        }
    }

    /// Runs `body`, turning SQLite errors into one line naming the file.
    static func wrapping<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DatabaseError {
            let detail = error.message ?? "SQLite error \(error.resultCode.rawValue)"
            switch error.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                throw CNNError.invalidInput("\(path) is locked by another process (a trace still writing it?): \(detail)")
            case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
                throw CNNError.invalidInput("\(path) cannot be opened or written: \(detail)")
            case .SQLITE_FULL:
                throw CNNError.invalidInput("\(path): disk full (\(detail)); the last checkpoint is intact")
            case .SQLITE_IOERR:
                throw CNNError.corruptFile(path: path, reason: "I/O error: truncated file or failing disk (\(detail))")
            default:
                throw CNNError.corruptFile(path: path, reason: "damaged or truncated SQLite database (\(detail))")
            }
        }
    }

    /// Closes the connection (before the file is renamed).
    public func close() throws {
        try Self.wrapping(path) { try queue.close() }
    }

    // MARK: Header

    /// Writes model, preprocessing, settings, layers and banks (once, right after `create`).
    public func writeHeader(_ header: TraceHeader, exemplarLimit: Int, imageEdgeLimit: Int) throws {
        try Self.wrapping(path) {
            try queue.write { db in
                try db.execute(sql: "INSERT INTO model(id, sha256, path, input_shape, class_names) VALUES (1, ?, ?, ?, ?)",
                               arguments: [header.model.sha256, header.model.path,
                                           try Self.json(header.model.inputShape), try Self.json(header.model.classNames)])
                try db.execute(sql: "INSERT INTO preprocessing(id, json) VALUES (1, ?)", arguments: [header.preprocessingJSON])
                try db.execute(sql: "INSERT INTO run_settings(id, json, exemplar_limit, image_edge_limit, state) VALUES (1, ?, ?, ?, 'partial')",
                               arguments: [try Self.json(header.settings), exemplarLimit, imageEdgeLimit])
                for (level, bank) in header.banks.enumerated() {
                    try db.execute(sql: "INSERT INTO layers(level, name, concept_count, has_mean) VALUES (?, ?, ?, ?)",
                                   arguments: [level, bank.layer, bank.conceptCount, bank.mean != nil])
                    try db.execute(sql: """
                        INSERT INTO concept_banks(level, method, concept_count, channels, lambda, vectors, mean, quality)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [level, bank.method, bank.conceptCount, bank.channels, bank.lambda,
                                         Self.blob(bank.vectors), bank.mean.map(Self.blob), try Self.json(bank.quality)])
                }
            }
        }
    }

    /// Reads the header back, with the stored limits.
    public func readHeader() throws -> (header: TraceHeader, exemplarLimit: Int, imageEdgeLimit: Int, complete: Bool) {
        try Self.wrapping(path) {
            try queue.read { db in
                guard let model = try Row.fetchOne(db, sql: "SELECT * FROM model WHERE id = 1"),
                      let pre = try String.fetchOne(db, sql: "SELECT json FROM preprocessing WHERE id = 1"),
                      let run = try Row.fetchOne(db, sql: "SELECT * FROM run_settings WHERE id = 1") else {
                    throw CNNError.corruptFile(path: path, reason: "trace header is missing (the trace was never started)")
                }
                let identity = ModelIdentity(
                    sha256: model["sha256"], path: model["path"],
                    inputShape: try decode([Int].self, model["input_shape"]),
                    classNames: try decode([String].self, model["class_names"]))
                let settings = try decode(RunSettings.self, run["json"])
                var banks: [ConceptBankRecord] = []
                for row in try Row.fetchAll(db, sql: """
                    SELECT b.*, l.name FROM concept_banks b JOIN layers l USING(level) ORDER BY level
                    """) {
                    let meanData: Data? = row["mean"]
                    banks.append(ConceptBankRecord(
                        layer: row["name"], method: row["method"], conceptCount: row["concept_count"],
                        channels: row["channels"], lambda: row["lambda"], vectors: Self.floats(row["vectors"]),
                        mean: meanData.map(Self.floats), quality: try decode(BankQuality.self, row["quality"])))
                }
                let header = TraceHeader(model: identity, preprocessingJSON: pre, settings: settings, banks: banks)
                let state: String = run["state"]
                return (header, run["exemplar_limit"], run["image_edge_limit"], state == "complete")
            }
        }
    }

    // MARK: Checkpoints

    /// In ONE transaction: replaces the aggregates with `graph`, appends `newImages` (whose indices
    /// become "done") and records the checkpoint; optionally marks the trace complete.
    public func writeCheckpoint(graph: ConceptGraph, newImages: [ImageRecord], complete: Bool = false) throws {
        try Self.wrapping(path) {
            try queue.write { db in
                for table in ["nodes", "exemplars", "edges", "class_edges"] {
                    try db.execute(sql: "DELETE FROM \(table)")
                }
                let node = try db.makeStatement(sql: """
                    INSERT INTO nodes(level, idx, images_active, positions_active, positions_seen, code_sum)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
                let exemplar = try db.makeStatement(sql: """
                    INSERT INTO exemplars(level, idx, rank, image, h, w, code, x0, y0, x1, y1)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for (l, layerNodes) in graph.nodes.enumerated() {
                    for (q, sums) in layerNodes.enumerated() {
                        try node.execute(arguments: [l, q, sums.imagesActive, sums.positionsActive, sums.positionsSeen, sums.codeSum])
                        for (rank, e) in graph.exemplars[l][q].enumerated() {
                            try exemplar.execute(arguments: [l, q, rank, e.image, e.h, e.w, Double(e.code),
                                                             e.box.x0, e.box.y0, e.box.x1, e.box.y1])
                        }
                    }
                }
                let edge = try db.makeStatement(sql: """
                    INSERT INTO edges(src_level, src, dst, grouping, group_class, n_active, sum, sum_sq, sum_abs)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                let classEdge = try db.makeStatement(sql: """
                    INSERT INTO class_edges(src_level, src, class, grouping, group_class, n_active, sum, sum_sq, sum_abs)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for (statement, levels) in [(edge, graph.layerEdges), (classEdge, graph.classEdges)] {
                    for (l, groups) in levels.enumerated() {
                        for (group, block, firstColumn) in groups.blocks {
                            for i in 0..<block.sum.count where block.activeCount[i] > 0 {
                                try statement.execute(arguments: [
                                    l, i / block.columns, firstColumn + i % block.columns, group.kind, group.groupClass,
                                    block.activeCount[i], block.sum[i], block.sumOfSquares[i], block.sumOfAbs[i]])
                            }
                        }
                    }
                }
                let image = try db.makeStatement(sql: """
                    INSERT INTO images(idx, label, prediction, completeness_error, reconstruction_gap, concepts, top_edges)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                for r in newImages {
                    try image.execute(arguments: [r.index, r.label, r.prediction, r.completenessError,
                                                  r.reconstructionGap, try Self.json(r.concepts), try Self.json(r.topEdges)])
                }
                try db.execute(sql: "INSERT INTO checkpoints(images_done, written_at) VALUES ((SELECT COUNT(*) FROM images), ?)",
                               arguments: [ISO8601DateFormatter().string(from: Date())])
                if complete { try db.execute(sql: "UPDATE run_settings SET state = 'complete' WHERE id = 1") }
            }
        }
    }

    /// Image indices already traced (the progress record).
    public func completedImages() throws -> Set<Int> {
        try Self.wrapping(path) { Set(try queue.read { db in try Int.fetchAll(db, sql: "SELECT idx FROM images") }) }
    }

    // MARK: Reading

    /// Loads the aggregates into a graph of `layout` (counts per class come from the image rows).
    public func readGraph(layout: TraceLayout, exemplarLimit: Int) throws -> ConceptGraph {
        try Self.wrapping(path) {
            try queue.read { db in
                var graph = ConceptGraph(layout: layout, exemplarLimit: exemplarLimit)
                let levels = layout.layers.count, classes = layout.classCount
                func checkLevel(_ l: Int, _ q: Int, _ max: Int) throws {
                    guard l >= 0, l < levels, q >= 0, q < max else {
                        throw CNNError.corruptFile(path: path, reason: "row for node \(l):\(q) outside the traced layers")
                    }
                }
                for row in try Row.fetchAll(db, sql: "SELECT label, prediction FROM images") {
                    let label: Int = row[0], prediction: Int = row[1]
                    guard label >= 0, label < classes, prediction >= 0, prediction < classes else {
                        throw CNNError.corruptFile(path: path, reason: "image row with class outside 0..<\(classes)")
                    }
                    graph.imageCount += 1
                    graph.labelCounts[label] += 1
                    graph.predictionCounts[prediction] += 1
                }
                let nodes = try Row.fetchCursor(db, sql: "SELECT * FROM nodes")
                while let row = try nodes.next() {
                    let l: Int = row["level"], q: Int = row["idx"]
                    try checkLevel(l, q, graph.nodes.indices.contains(l) ? graph.nodes[l].count : 0)
                    graph.nodes[l][q] = NodeSums(imagesActive: row["images_active"], positionsActive: row["positions_active"],
                                                 positionsSeen: row["positions_seen"], codeSum: row["code_sum"])
                }
                let exemplars = try Row.fetchCursor(db, sql: "SELECT * FROM exemplars ORDER BY level, idx, rank")
                while let row = try exemplars.next() {
                    let l: Int = row["level"], q: Int = row["idx"]
                    try checkLevel(l, q, graph.nodes.indices.contains(l) ? graph.nodes[l].count : 0)
                    let code: Double = row["code"]
                    graph.exemplars[l][q].append(ConceptExemplar(
                        image: row["image"], h: row["h"], w: row["w"], code: Float(code),
                        box: PatchBox(x0: row["x0"], y0: row["y0"], x1: row["x1"], y1: row["y1"])))
                }
                graph.layerEdges = try readEdges(db, table: "edges", target: "dst", into: graph.layerEdges)
                graph.classEdges = try readEdges(db, table: "class_edges", target: "class", into: graph.classEdges)
                // In memory a class's block exists once an image of it was added, even if all zero.
                for c in 0..<classes {
                    for l in graph.layerEdges.indices { graph.layerEdges[l].ensureBlocks(label: graph.labelCounts[c] > 0 ? c : nil, prediction: graph.predictionCounts[c] > 0 ? c : nil) }
                    for l in graph.classEdges.indices { graph.classEdges[l].ensureBlocks(label: graph.labelCounts[c] > 0 ? c : nil, prediction: graph.predictionCounts[c] > 0 ? c : nil) }
                }
                return graph
            }
        }
    }

    private func readEdges(_ db: Database, table: String, target: String, into groups: [EdgeGroups]) throws -> [EdgeGroups] {
        var blocks: [[ImageGroup: EdgeBlock]] = groups.map { _ in [:] }
        let rows = try Row.fetchCursor(db, sql: "SELECT * FROM \(table)")
        while let row = try rows.next() {
            let l: Int = row["src_level"], s: Int = row["src"], t: Int = row[target]
            let group = ImageGroup(kind: row["grouping"], groupClass: row["group_class"])
            let shape = group.flatMap { groups.indices.contains(l) ? groups[l].storedShape($0) : nil }
            guard let group, let shape, s >= 0, s < groups[l].rows,
                  t >= shape.firstColumn, t < shape.firstColumn + shape.columns else {
                throw CNNError.corruptFile(path: path, reason: "\(table) row \(l):\(s)→\(t) outside the graph")
            }
            let rows = groups[l].rows
            // Mutated in place: taking the block out of the dictionary would copy it for every row.
            blocks[l][group, default: EdgeBlock(rows: rows, columns: shape.columns)].set(
                source: s, target: t - shape.firstColumn, activeCount: row["n_active"], sum: row["sum"], sumOfSquares: row["sum_sq"],
                sumOfAbs: row["sum_abs"])
        }
        var result = groups.map { EdgeGroups(rows: $0.rows, columns: $0.columns, ownClassOnly: $0.ownClassOnly) }
        for l in result.indices {
            for (group, block) in blocks[l] { result[l].set(block, for: group) }
        }
        return result
    }

    /// Per-image rows, ordered by image index (all when `index` is nil).
    public func readImages(index: Int? = nil) throws -> [ImageRecord] {
        try Self.wrapping(path) {
            try queue.read { db in
                let sql = "SELECT * FROM images" + (index == nil ? "" : " WHERE idx = ?") + " ORDER BY idx"
                return try Row.fetchAll(db, sql: sql, arguments: index.map { [$0] } ?? []).map { row in
                    ImageRecord(index: row["idx"], label: row["label"], prediction: row["prediction"],
                                completenessError: row["completeness_error"], reconstructionGap: row["reconstruction_gap"],
                                concepts: try decode([ImageConcept].self, row["concepts"]),
                                topEdges: try decode([ImageEdge].self, row["top_edges"]))
                }
            }
        }
    }

    /// Number of checkpoints written so far.
    public func checkpointCount() throws -> Int {
        try Self.wrapping(path) { try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM checkpoints") ?? 0 } }
    }

    // MARK: Encoding helpers

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ text: String?) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data((text ?? "").utf8))
        } catch {
            throw CNNError.corruptFile(path: path, reason: "unreadable JSON column (\(error))")
        }
    }

    /// Float32 little-endian bytes.
    static func blob(_ values: [Float]) -> Data { values.withUnsafeBytes { Data($0) } }

    static func floats(_ data: Data?) -> [Float] {
        guard let data else { return [] }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static let schemaSQL = """
        CREATE TABLE model(id INTEGER PRIMARY KEY CHECK (id = 1), sha256 TEXT NOT NULL, path TEXT NOT NULL,
            input_shape TEXT NOT NULL, class_names TEXT NOT NULL);
        CREATE TABLE preprocessing(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
        CREATE TABLE run_settings(id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL,
            exemplar_limit INTEGER NOT NULL, image_edge_limit INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('partial', 'complete')));
        CREATE TABLE layers(level INTEGER PRIMARY KEY, name TEXT NOT NULL, concept_count INTEGER NOT NULL,
            has_mean INTEGER NOT NULL);
        CREATE TABLE concept_banks(level INTEGER PRIMARY KEY REFERENCES layers(level), method TEXT NOT NULL,
            concept_count INTEGER NOT NULL, channels INTEGER NOT NULL, lambda REAL NOT NULL,
            vectors BLOB NOT NULL, mean BLOB, quality TEXT NOT NULL);
        CREATE TABLE nodes(level INTEGER NOT NULL, idx INTEGER NOT NULL, images_active INTEGER NOT NULL,
            positions_active INTEGER NOT NULL, positions_seen INTEGER NOT NULL, code_sum REAL NOT NULL,
            PRIMARY KEY (level, idx)) WITHOUT ROWID;
        CREATE TABLE exemplars(level INTEGER NOT NULL, idx INTEGER NOT NULL, rank INTEGER NOT NULL,
            image INTEGER NOT NULL, h INTEGER NOT NULL, w INTEGER NOT NULL, code REAL NOT NULL,
            x0 INTEGER NOT NULL, y0 INTEGER NOT NULL, x1 INTEGER NOT NULL, y1 INTEGER NOT NULL,
            PRIMARY KEY (level, idx, rank)) WITHOUT ROWID;
        CREATE TABLE edges(src_level INTEGER NOT NULL, src INTEGER NOT NULL, dst INTEGER NOT NULL,
            grouping TEXT NOT NULL CHECK (grouping IN ('all', 'label', 'prediction')), group_class INTEGER NOT NULL,
            n_active INTEGER NOT NULL, sum REAL NOT NULL, sum_sq REAL NOT NULL, sum_abs REAL NOT NULL,
            PRIMARY KEY (src_level, src, dst, grouping, group_class)) WITHOUT ROWID;
        CREATE TABLE class_edges(src_level INTEGER NOT NULL, src INTEGER NOT NULL, class INTEGER NOT NULL,
            grouping TEXT NOT NULL CHECK (grouping IN ('all', 'label', 'prediction')), group_class INTEGER NOT NULL,
            n_active INTEGER NOT NULL, sum REAL NOT NULL, sum_sq REAL NOT NULL, sum_abs REAL NOT NULL,
            PRIMARY KEY (src_level, src, class, grouping, group_class)) WITHOUT ROWID;
        CREATE TABLE images(idx INTEGER PRIMARY KEY, label INTEGER NOT NULL, prediction INTEGER NOT NULL,
            completeness_error REAL NOT NULL, reconstruction_gap REAL NOT NULL,
            concepts TEXT NOT NULL, top_edges TEXT NOT NULL);
        CREATE TABLE checkpoints(id INTEGER PRIMARY KEY AUTOINCREMENT, images_done INTEGER NOT NULL,
            written_at TEXT NOT NULL);
        """
}
