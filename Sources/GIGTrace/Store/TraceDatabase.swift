import Concepts
import Core
import Foundation
import GRDB
import PFV

/// One trace database file (SQLite through GRDB): schema, version checks, and reading and writing
/// the header, the graph's aggregates and per-image rows. The schema is documented in README.md,
/// section "Trace database schema". Not for concurrent writers.
public struct TraceDatabase: Sendable {
    /// Schema version stored in `PRAGMA user_version`; this build reads versions 1…current.
    /// v2 adds the per-image, per-layer faithfulness rows (`image_layers`, METHOD §4 and §8).
    public static let schemaVersion = 2
    /// `PRAGMA application_id` of gigtrace files ("GIGT").
    public static let applicationID: Int32 = 0x4749_4754

    public let path: String
    let queue: DatabaseQueue

    // MARK: Opening

    /// Creates a new, empty database at `path` (which must not exist) with the current schema.
    public static func create(at path: String) throws -> TraceDatabase {
        guard !FileManager.default.fileExists(atPath: path) else {
            throw TraceError.invalidTrace("\(path) already exists")
        }
        return try wrapping(path) {
            let queue = try DatabaseQueue(path: path)
            try migrator.migrate(queue)
            try queue.write { db in
                try db.execute(sql: "PRAGMA application_id = \(applicationID)")
                try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
            }
            return TraceDatabase(path: path, queue: queue)
        }
    }

    /// Opens an existing trace database, checking that it is an intact SQLite file made by gigtrace
    /// with a schema this build reads. Every failure is one error naming the file.
    public static func open(_ path: String, readOnly: Bool = true) throws -> TraceDatabase {
        guard FileManager.default.fileExists(atPath: path) else { throw InputError.fileNotFound(path) }
        let header = try AtomicFile.read(path).prefix(16)
        guard header == Data("SQLite format 3\0".utf8) else {
            throw InputError.corruptFile(path: path, reason: "not an SQLite database, so not a gigtrace trace")
        }
        return try wrapping(path) {
            var configuration = Configuration()
            // A rollback journal left by a killed writer is "hot": SQLite must roll it back before
            // reading, which a read-only connection cannot do ("attempt to write a readonly
            // database"). Open such a file read-write so the first read restores the last commit.
            let journal = path + "-journal"
            let hotJournal = ((try? FileManager.default.attributesOfItem(atPath: journal)[.size] as? NSNumber)?.intValue ?? 0) > 0
            configuration.readonly = readOnly && !(hotJournal && FileManager.default.isWritableFile(atPath: path))
            configuration.busyMode = .timeout(10)  // wait out a writer's checkpoint transaction
            let queue = try DatabaseQueue(path: path, configuration: configuration)
            let (check, application, version) = try queue.read { db in
                (try String.fetchOne(db, sql: "PRAGMA quick_check") ?? "no answer",
                 try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                 try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0)
            }
            guard check == "ok" else {
                throw InputError.corruptFile(path: path, reason: "damaged or truncated SQLite database (\(check))")
            }
            guard application == applicationID else {
                throw InputError.corruptFile(path: path, reason: "an SQLite database, but not a gigtrace trace")
            }
            if version > schemaVersion {
                throw TraceError.invalidTrace("\(path): made by a newer gigtrace (schema v\(version)), "
                    + "this one reads up to v\(schemaVersion)")
            }
            if version < 1 {
                throw TraceError.invalidTrace("\(path): schema v\(version) predates the first released "
                    + "gigtrace trace schema (v1) and cannot be migrated")
            }
            if version < schemaVersion && !readOnly {
                // Writing (resuming) an older trace: bring it to the current schema first. Read-only
                // opens leave old files alone; readers treat the missing tables as empty.
                try migrator.migrate(queue)
                try queue.write { db in try db.execute(sql: "PRAGMA user_version = \(schemaVersion)") }
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
                throw TraceError.invalidTrace("\(path) is locked by another process (a trace still writing it?): \(detail)")
            case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
                throw TraceError.invalidTrace("\(path) cannot be opened or written: \(detail)")
            case .SQLITE_FULL:
                throw TraceError.invalidTrace("\(path): disk full (\(detail)); the last checkpoint is intact")
            case .SQLITE_IOERR:
                throw InputError.corruptFile(path: path, reason: "I/O error: truncated file or failing disk (\(detail))")
            default:
                throw InputError.corruptFile(path: path, reason: "damaged or truncated SQLite database (\(detail))")
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
                                   arguments: [level, bank.layer, bank.k, bank.mean != nil])
                    try db.execute(sql: """
                        INSERT INTO concept_banks(level, method, concept_count, channels, lambda, vectors, mean, quality)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [level, bank.method.rawValue, bank.k, bank.channels, Double(bank.lambda),
                                         Self.blob(bank.concepts.data), bank.mean.map(Self.blob),
                                         try Self.json(StoredBankQuality(r2: bank.quality.r2, meanNonzeros: bank.quality.meanNonzeros,
                                                                         activeShare: bank.quality.activeShare))])
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
                    throw InputError.corruptFile(path: path, reason: "trace header is missing (the trace was never started)")
                }
                let m = ColumnReader(path: path, table: "model", row: 1), r = ColumnReader(path: path, table: "run_settings", row: 1)
                let inputShape = try decode([Int].self, m.value(model, "input_shape"), m, "input_shape")
                guard inputShape.allSatisfy({ $0 >= 0 }), SizeLimits.checkedProduct(inputShape) != nil else {
                    throw m.invalid("input_shape", "\(inputShape) is not a shape")
                }
                let classNames = try decode([String].self, m.value(model, "class_names"), m, "class_names")
                guard !classNames.isEmpty, classNames.count <= Self.maxCount else {
                    throw m.invalid("class_names", "\(classNames.count) classes")
                }
                let identity = ModelIdentity(sha256: try m.value(model, "sha256"), path: try m.value(model, "path"),
                                             inputShape: inputShape, classNames: classNames)
                let settings = try decode(RunSettings.self, r.value(run, "json"), r, "json")
                guard let coding = settings.coding else {
                    throw r.invalid("json", "coding '\(settings.extra["coding"] ?? "")' is not one this build knows ("
                        + ConceptBank.Coding.allCases.map(\.rawValue).joined(separator: ", ") + ")")
                }
                var banks: [ConceptBank] = []
                var b = ColumnReader(path: path, table: "concept_banks", row: 0)
                for row in try Row.fetchAll(db, sql: """
                    SELECT b.*, l.name FROM concept_banks b JOIN layers l USING(level) ORDER BY level
                    """) {
                    b.row += 1
                    let k: Int = try b.value(row, "concept_count", in: 1...Self.maxCount)
                    let channels: Int = try b.value(row, "channels", in: 1...Self.maxCount)
                    let vectors = try b.floats(row, "vectors", count: k * channels)
                    let meanData: Data? = try b.value(row, "mean")
                    let mean = try meanData.map { _ in try b.floats(row, "mean", count: channels) }
                    let lambda: Double = try b.value(row, "lambda")
                    guard lambda.isFinite, lambda >= 0 else { throw b.invalid("lambda", "\(lambda) is not a finite number ≥ 0") }
                    let methodName: String = try b.value(row, "method")
                    guard let method = ConceptMethod(rawValue: methodName) else {
                        throw b.invalid("method", "unknown concept method '\(methodName)'")
                    }
                    let quality = try decode(StoredBankQuality.self, b.value(row, "quality"), b, "quality")
                    let options = ConceptOptions()
                    do {
                        banks.append(try ConceptBank.restored(
                            layer: try b.value(row, "name"), method: method,
                            concepts: try Matrix(rows: k, cols: channels, data: vectors), mean: mean, lambda: Float(lambda),
                            codingMaxSweeps: options.codingMaxSweeps, codingTolerance: options.codingTolerance,
                            sample: ConceptSample(seed: settings.seed, count: 0), r2: quality.r2,
                            meanNonzeros: quality.meanNonzeros, activeShare: quality.activeShare, coding: coding))
                    } catch let error as ConceptError {
                        throw b.invalid("vectors", "\(error)")
                    }
                }
                guard !banks.isEmpty else { throw InputError.corruptFile(path: path, reason: "table concept_banks has no rows") }
                let header = TraceHeader(model: identity, preprocessingJSON: pre, settings: settings, banks: banks)
                let state: String = try r.value(run, "state")
                return (header, try r.value(run, "exemplar_limit", in: 0...Self.maxCount),
                        try r.value(run, "image_edge_limit", in: 0...Self.maxCount), state == "complete")
            }
        }
    }

    // MARK: Checkpoints

    /// In ONE transaction: replaces the aggregates with `graph`, appends `newImages` (whose indices
    /// become "done") and records the checkpoint; optionally marks the trace complete.
    public func writeCheckpoint(graph: ConceptGraph, newImages: [ImageRecord], newImageLayers: [ImageLayerRecord] = [],
                                complete: Bool = false) throws {
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
                let layerRow = try db.makeStatement(sql: """
                    INSERT INTO image_layers(idx, level, end_to_end_error, logit_gap, error_share, class_relevance, next_edges)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
                for r in newImageLayers {
                    try layerRow.execute(arguments: [r.image, r.level, r.endToEndError, r.logitGap, r.errorShare,
                                                     Self.blob(r.classRelevance), r.nextEdges.isEmpty ? nil : Self.blob(r.nextEdges)])
                }
                try db.execute(sql: "INSERT INTO checkpoints(images_done, written_at) VALUES ((SELECT COUNT(*) FROM images), ?)",
                               arguments: [ISO8601DateFormatter().string(from: Date())])
                if complete { try db.execute(sql: "UPDATE run_settings SET state = 'complete' WHERE id = 1") }
            }
        }
    }

    /// Image indices already traced (the progress record).
    /// The images already traced, each with its completeness error.
    public func completedImages() throws -> [Int: Double] {
        try Self.wrapping(path) {
            try queue.read { db in
                var c = ColumnReader(path: path, table: "images", row: 0)
                var done: [Int: Double] = [:]
                for row in try Row.fetchAll(db, sql: "SELECT idx, completeness_error FROM images") {
                    c.row += 1
                    let index: Int = try c.value(row, "idx", in: 0...Int.max)
                    done[index] = try c.value(row, "completeness_error")
                }
                return done
            }
        }
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
                        throw InputError.corruptFile(path: path, reason: "row for node \(l):\(q) outside the traced layers")
                    }
                }
                var im = ColumnReader(path: path, table: "images", row: 0)
                for row in try Row.fetchAll(db, sql: "SELECT idx, label, prediction FROM images") {
                    im.row = try im.value(row, "idx", in: 0...Int.max)
                    let label: Int = try im.value(row, "label", in: 0...(classes - 1))
                    let prediction: Int = try im.value(row, "prediction", in: 0...(classes - 1))
                    graph.imageCount += 1
                    graph.labelCounts[label] += 1
                    graph.predictionCounts[prediction] += 1
                }
                let nodes = try Row.fetchCursor(db, sql: "SELECT * FROM nodes")
                var n = ColumnReader(path: path, table: "nodes", row: 0)
                while let row = try nodes.next() {
                    n.row += 1
                    let l: Int = try n.value(row, "level"), q: Int = try n.value(row, "idx")
                    try checkLevel(l, q, graph.nodes.indices.contains(l) ? graph.nodes[l].count : 0)
                    graph.nodes[l][q] = NodeSums(imagesActive: try n.value(row, "images_active", in: 0...Int.max),
                                                 positionsActive: try n.value(row, "positions_active", in: 0...Int.max),
                                                 positionsSeen: try n.value(row, "positions_seen", in: 0...Int.max),
                                                 codeSum: try n.value(row, "code_sum"))
                }
                let exemplars = try Row.fetchCursor(db, sql: "SELECT * FROM exemplars ORDER BY level, idx, rank")
                var e = ColumnReader(path: path, table: "exemplars", row: 0)
                while let row = try exemplars.next() {
                    e.row += 1
                    let l: Int = try e.value(row, "level"), q: Int = try e.value(row, "idx")
                    try checkLevel(l, q, graph.nodes.indices.contains(l) ? graph.nodes[l].count : 0)
                    let code: Double = try e.value(row, "code")
                    let (x0, y0): (Int, Int) = (try e.value(row, "x0", in: 0...Int(Int32.max)), try e.value(row, "y0", in: 0...Int(Int32.max)))
                    let x1: Int = try e.value(row, "x1", in: x0...Int(Int32.max)), y1: Int = try e.value(row, "y1", in: y0...Int(Int32.max))
                    graph.exemplars[l][q].append(ConceptExemplar(
                        image: try e.value(row, "image", in: 0...Int.max), h: try e.value(row, "h", in: 0...Int(Int32.max)),
                        w: try e.value(row, "w", in: 0...Int(Int32.max)), code: Float(code),
                        box: PatchBox(x0: x0, y0: y0, x1: x1, y1: y1)))
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
        var c = ColumnReader(path: path, table: table, row: 0)
        while let row = try rows.next() {
            c.row += 1
            let l: Int = try c.value(row, "src_level"), s: Int = try c.value(row, "src"), t: Int = try c.value(row, target)
            let group = ImageGroup(kind: try c.value(row, "grouping"), groupClass: try c.value(row, "group_class"))
            let shape = group.flatMap { groups.indices.contains(l) ? groups[l].storedShape($0) : nil }
            guard let group, let shape, s >= 0, s < groups[l].rows,
                  t >= shape.firstColumn, t < shape.firstColumn + shape.columns else {
                throw InputError.corruptFile(path: path, reason: "\(table) row \(l):\(s)→\(t) outside the graph")
            }
            let rows = groups[l].rows
            // Mutated in place: taking the block out of the dictionary would copy it for every row.
            blocks[l][group, default: EdgeBlock(rows: rows, columns: shape.columns)].set(
                source: s, target: t - shape.firstColumn, activeCount: try c.value(row, "n_active", in: 0...Int.max),
                sum: try c.value(row, "sum"), sumOfSquares: try c.value(row, "sum_sq"), sumOfAbs: try c.value(row, "sum_abs"))
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
                var c = ColumnReader(path: path, table: "images", row: 0)
                return try Row.fetchAll(db, sql: sql, arguments: index.map { [$0] } ?? []).map { row in
                    c.row = try c.value(row, "idx", in: 0...Int.max)
                    return ImageRecord(index: c.row, label: try c.value(row, "label"), prediction: try c.value(row, "prediction"),
                                       completenessError: try c.value(row, "completeness_error"),
                                       reconstructionGap: try c.value(row, "reconstruction_gap"),
                                       concepts: try decode([ImageConcept].self, c.value(row, "concepts"), c, "concepts"),
                                       topEdges: try decode([ImageEdge].self, c.value(row, "top_edges"), c, "top_edges"))
                }
            }
        }
    }

    /// The per-image, per-layer rows ordered by image and layer (`images`: only those); empty for a
    /// trace made before schema v2.
    public func readImageLayers(images: Set<Int>? = nil) throws -> [ImageLayerRecord] {
        try Self.wrapping(path) {
            try queue.read { db in
                guard try db.tableExists("image_layers") else { return [] }
                var out = [ImageLayerRecord]()
                let rows = try Row.fetchCursor(db, sql: "SELECT * FROM image_layers ORDER BY idx, level")
                while let row = try rows.next() {
                    let image: Int = row["idx"]
                    if let images, !images.contains(image) { continue }
                    let next: Data? = row["next_edges"]
                    out.append(ImageLayerRecord(image: image, level: row["level"], endToEndError: row["end_to_end_error"],
                                                logitGap: row["logit_gap"], errorShare: row["error_share"],
                                                classRelevance: Self.floats(row["class_relevance"]),
                                                nextEdges: Self.floats(next)))
                }
                return out
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

    private func decode<T: Decodable>(_ type: T.Type, _ text: String?, _ reader: ColumnReader, _ column: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data((text ?? "").utf8))
        } catch {
            throw reader.invalid(column, "unreadable JSON")
        }
    }

    /// Largest count (classes, concepts, channels, limits) a trace may state: far above any real
    /// trace, low enough that arrays sized by it cannot exhaust memory through overflow.
    static let maxCount = 1 << 24

    /// Reads the columns of one row with their types and ranges checked: a value SQLite holds with
    /// another type (text in an integer column), out of range, or NULL where none is allowed is an
    /// error naming the file, table, row and column (GRDB's subscripts would trap on it).
    struct ColumnReader {
        let path: String
        let table: String
        /// The row's number in the query (or its key, where the table has one), for messages.
        var row: Int

        func invalid(_ column: String, _ problem: String) -> InputError {
            .corruptFile(path: path, reason: "table \(table), row \(row), column \(column): \(problem)")
        }

        func value<T: DatabaseValueConvertible>(_ r: Row, _ column: String) throws -> T {
            do {
                return try r.decode(T.self, forColumn: column)
            } catch {
                let stored: DatabaseValue = r[column] ?? .null
                throw invalid(column, "expected \(T.self), found \(stored.isNull ? "NULL" : stored.description.prefix(40))")
            }
        }

        func value<T: DatabaseValueConvertible & Comparable>(_ r: Row, _ column: String, in range: ClosedRange<T>) throws -> T {
            let v: T = try value(r, column)
            guard range.contains(v) else { throw invalid(column, "\(v) is outside \(range.lowerBound)…\(range.upperBound)") }
            return v
        }

        /// A float32 blob of exactly `count` values.
        func floats(_ r: Row, _ column: String, count: Int) throws -> [Float] {
            let data: Data = try value(r, column)
            guard data.count == count * 4 else {
                throw invalid(column, "blob of \(data.count) bytes, expected \(count) float32 values (\(count * 4) bytes)")
            }
            return TraceDatabase.floats(data)
        }
    }

    /// Float32 little-endian bytes.
    static func blob(_ values: [Float]) -> Data { values.withUnsafeBytes { Data($0) } }

    static func floats(_ data: Data?) -> [Float] {
        guard let data else { return [] }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    /// The schema's GRDB migrations. "v1" is the first released schema (a no-op on files made
    /// before the migrator existed, which already hold it); later versions only add.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            if try !db.tableExists("images") { try db.execute(sql: schemaSQL) }
        }
        migrator.registerMigration("v2-image-layers") { db in
            try db.execute(sql: imageLayersSQL)
        }
        return migrator
    }

    /// Per image and traced layer: end-to-end completeness error and logit gap (METHOD §4, §8), the
    /// error node's share, the relevance of every source into the predicted class, and the image's
    /// edges into the next traced layer (sources × K_{l+1}, none for the last layer), float32 blobs.
    static let imageLayersSQL = """
        CREATE TABLE image_layers(idx INTEGER NOT NULL, level INTEGER NOT NULL, end_to_end_error REAL NOT NULL,
            logit_gap REAL NOT NULL, error_share REAL NOT NULL, class_relevance BLOB NOT NULL, next_edges BLOB,
            PRIMARY KEY (idx, level)) WITHOUT ROWID;
        """

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
