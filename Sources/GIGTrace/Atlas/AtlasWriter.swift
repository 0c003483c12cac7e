import Core
import Foundation
import ImageIO
import PFV

/// Choices for `gigtrace atlas`.
public struct AtlasOptions: Sendable {
    /// Exemplars shown per concept (at most the trace's exemplar limit).
    public var exemplars = 8
    /// Pathways drawn per class page.
    public var pathways = 5
    /// Rows per page of the class, concept and image lists.
    public var pageSize = 100
    /// Traced images that get a page (the first ones by index).
    public var imagePages = 1000
    /// Incoming edges per node on the graph page, strongest |mean| first.
    public var graphTopK = 3
    /// Classes drawn on the graph page (those with the most images).
    public var graphClasses = 30
    /// Graphviz `dot` to lay the graph out with; nil: the built-in layered layout.
    public var dotExecutable: String?

    public init() {}
}

/// An extra section of the index page (evaluation and sanity-check results slot in here).
public struct AtlasSection: Sendable {
    public var title: String
    /// HTML of the section body; text from user files must already be escaped (`HTML.escape`).
    public var html: String

    public init(title: String, html: String) {
        self.title = title
        self.html = html
    }
}

/// What an atlas run wrote.
public struct AtlasSummary: Sendable {
    public var pages: Int
    public var pictures: Int
    public var bytes: Int
    /// "dot" or "built-in".
    public var graphLayout: String
    /// Things the atlas could not show, one sentence each (e.g. no iERF without the model).
    public var notes: [String]
}

/// Writes the HTML atlas of a trace (`gigtrace atlas`): a static site of linked pages — index,
/// classes with their pathways, concepts with exemplars, the graph, images — that works offline
/// from `file://`. The site is built in a temporary folder beside `folder` and renamed into place.
///
///     let summary = try AtlasWriter(reader: reader, images: images).write(to: "atlas", force: false) { _, _ in }
public struct AtlasWriter {
    let reader: TraceReader
    let images: AtlasImages?
    let options: AtlasOptions
    let sections: [AtlasSection]
    let aliases: LayerAliases

    public init(reader: TraceReader, images: AtlasImages?, options: AtlasOptions = AtlasOptions(),
                sections: [AtlasSection] = []) {
        self.reader = reader
        self.images = images
        self.options = options
        self.sections = sections
        aliases = LayerAliases(layout: reader.layout)
    }

    /// Checks that `folder` can be written (parent exists, not a file, absent unless `force`).
    public static func validateOutput(_ folder: String, force: Bool) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw InputError.invalidParameter(.outputFolder, "\(folder) is a file, not a folder") }
            guard force else { throw InputError.outputExists(folder) }
        }
        let parent = URL(fileURLWithPath: folder).deletingLastPathComponent().path
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw InputError.invalidParameter(.outputFolder, "\(folder): the folder \(parent) does not exist")
        }
        guard FileManager.default.isWritableFile(atPath: parent) else {
            throw InputError.invalidParameter(.outputFolder, "\(folder): cannot write into \(parent)")
        }
    }

    /// Builds the site and moves it to `folder`; `progress(done, total)` is called after each
    /// picture image (a traced image with its exemplar patches) and each page.
    public func write(to folder: String, force: Bool, progress: (Int, Int) -> Void) throws -> AtlasSummary {
        try Self.validateOutput(folder, force: force)
        let url = URL(fileURLWithPath: folder).standardizedFileURL
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(atPath: temporary + "/img", withIntermediateDirectories: true)
        } catch {
            throw TraceError.invalidSettings("cannot create \(temporary): \(error.localizedDescription)")
        }
        do {
            var site = AtlasSite(writer: self, root: temporary)
            let summary = try site.build(progress: progress)
            try Self.replace(folder: url.path, with: temporary)
            return summary
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
    }

    /// Renames `temporary` to `folder`, moving an existing folder aside first and deleting it after.
    static func replace(folder: String, with temporary: String) throws {
        let fm = FileManager.default
        var old: String?
        if fm.fileExists(atPath: folder) {
            let aside = temporary + ".old"
            try fm.moveItem(atPath: folder, toPath: aside)
            old = aside
        }
        do {
            try fm.moveItem(atPath: temporary, toPath: folder)
        } catch {
            if let old { try? fm.moveItem(atPath: old, toPath: folder) }
            throw TraceError.invalidSettings("cannot move the atlas into \(folder): \(error.localizedDescription)")
        }
        if let old { try? fm.removeItem(atPath: old) }
    }
}

/// Relative file names inside the atlas folder (never built from user text).
enum AtlasPaths {
    static func concept(_ layer: Int, _ index: Int) -> String { "concept-L\(layer)-\(index).html" }
    static func classPage(_ c: Int) -> String { "class-\(c).html" }
    static func image(_ n: Int) -> String { "image-\(n).html" }
    static func layer(_ l: Int, page: Int) -> String { "layer-L\(l)-\(page).html" }
    static func picture(_ n: Int) -> String { "img/image-\(n).png" }
    static func patch(_ layer: Int, _ index: Int, _ rank: Int) -> String { "img/patch-L\(layer)-\(index)-\(rank).png" }
}

/// One atlas build: the pictures written so far and the pages.
struct AtlasSite {
    let writer: AtlasWriter
    let root: String
    var graph: ConceptGraph { writer.reader.graph }
    var layout: TraceLayout { writer.reader.layout }
    var aliases: LayerAliases { writer.aliases }
    var options: AtlasOptions { writer.options }

    /// Pictures written (relative paths), so pages only reference files that exist.
    var pictures = Set<String>()
    /// Image size (H, W) per written whole image, for the patch boxes.
    var imageSizes: [Int: (Int, Int)] = [:]
    var notes: [String] = []
    var pagesWritten = 0
    var bytes = 0
    /// Traced image rows, and the images that get pages.
    var records: [ImageRecord] = []
    var imagePages = Set<Int>()

    init(writer: AtlasWriter, root: String) {
        self.writer = writer
        self.root = root
    }

    mutating func build(progress: (Int, Int) -> Void) throws -> AtlasSummary {
        records = try writer.reader.images()
        imagePages = Set(records.prefix(options.imagePages).map(\.index))
        if writer.images == nil {
            notes.append("no pictures: the traced dataset could not be re-opened")
        } else if let why = writer.images?.ierfUnavailable {
            notes.append("exemplar patches without iERF overlay: \(why)")
        }
        let conceptCount = layout.layers.reduce(0) { $0 + $1.sourceCount }
        let classPageCount = pageCount(layout.classCount)
        let imageListCount = pageCount(records.count)
        let layerPageCounts = layout.layers.map { pageCount($0.sourceCount) }
        let needed = picturedImages()
        let total = (writer.images == nil ? 0 : needed.count) + 2 + classPageCount + layout.classCount + conceptCount
            + layerPageCounts.reduce(0, +) + imageListCount + imagePages.count
        var done = 0
        func step() { done += 1; progress(done, total) }

        try writePictures(needed, step: step)
        try save("style.css", HTML.styleSheet + "\n")
        let pathways = (0..<layout.classCount).map {
            PathwayFinder.best(in: graph, classIndex: $0, top: options.pathways, group: .label($0), exemplars: 3)
        }
        try save("index.html", indexPage(pathways: pathways)); step()
        for p in 1...max(classPageCount, 1) { try save("classes-\(p).html", classListPage(p, count: classPageCount, pathways: pathways)); step() }
        for c in 0..<layout.classCount { try save(AtlasPaths.classPage(c), classPage(c, pathways: pathways[c])); step() }
        let codes = codeSumsPerConcept()
        for (l, layer) in layout.layers.enumerated() {
            for p in 1...max(layerPageCounts[l], 1) { try save(AtlasPaths.layer(l, page: p), layerPage(l, page: p, count: layerPageCounts[l])); step() }
            for q in 0..<layer.sourceCount { try save(AtlasPaths.concept(l, q), conceptPage(l, q, codeSums: codes[l][q])); step() }
        }
        try save("graph.html", try graphPage()); step()
        for p in 1...max(imageListCount, 1) { try save("images-\(p).html", imageListPage(p, count: imageListCount)); step() }
        for record in records where imagePages.contains(record.index) { try save(AtlasPaths.image(record.index), try imagePage(record)); step() }
        return AtlasSummary(pages: pagesWritten, pictures: pictures.count, bytes: bytes,
                            graphLayout: options.dotExecutable == nil ? "built-in" : "dot", notes: notes)
    }

    func pageCount(_ items: Int) -> Int { max(1, (items + options.pageSize - 1) / options.pageSize) }

    mutating func save(_ name: String, _ text: String) throws {
        let data = Data(text.utf8)
        try AtomicFile.write(data, to: root + "/" + name)
        if name.hasSuffix(".html") { pagesWritten += 1 }
        bytes += data.count
    }

    mutating func savePNG(_ name: String, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        let data = try PNGEncoder.encode(width: width, height: height, channels: channels, pixels: pixels)
        try AtomicFile.write(data, to: root + "/" + name)
        bytes += data.count
        pictures.insert(name)
    }

    /// The images shown whole: exemplar images and images with pages.
    func picturedImages() -> Set<Int> {
        var needed = imagePages
        for l in layout.layers.indices {
            for q in 0..<layout.layers[l].sourceCount {
                for e in graph.exemplars[l][q].prefix(options.exemplars) { needed.insert(e.image) }
            }
        }
        return needed
    }

    /// Whole images and every shown exemplar's patch, tinted by its iERF when the model is there.
    mutating func writePictures(_ needed: Set<Int>, step: () -> Void) throws {
        guard let images = writer.images else { return }
        // Exemplars grouped by image, so each image is decoded once and its iERFs traced together.
        var byImage: [Int: [(layer: Int, index: Int, rank: Int, exemplar: ConceptExemplar)]] = [:]
        for l in layout.layers.indices {
            for q in 0..<layout.layers[l].sourceCount {
                for (r, e) in graph.exemplars[l][q].prefix(options.exemplars).enumerated() {
                    byImage[e.image, default: []].append((l, q, r, e))
                }
            }
        }
        for n in needed.sorted() {
            let raw = try images.raw(n)
            let (c, h, w) = (raw.shape[0], raw.shape[1], raw.shape[2])
            var pixels = [UInt8](repeating: 0, count: h * w * c)
            for k in 0..<(h * w) { for ch in 0..<c { pixels[k * c + ch] = UInt8((min(max(raw.data[ch * h * w + k], 0), 1) * 255).rounded()) } }
            try savePNG(AtlasPaths.picture(n), width: w, height: h, channels: c, pixels: pixels)
            imageSizes[n] = (h, w)
            let shown = byImage[n] ?? []
            for l in Set(shown.map(\.layer)).sorted() {
                let items = shown.filter { $0.layer == l }
                let maps = try images.ierf(layer: l, raw: raw, positions: items.map { PFVPosition(h: $0.exemplar.h, w: $0.exemplar.w) })
                for (i, item) in items.enumerated() {
                    let patch = try ExemplarPatch(image: raw, box: item.exemplar.box, tint: maps?[i], opacity: 0.55)
                    try savePNG(AtlasPaths.patch(item.layer, item.index, item.rank), width: patch.width, height: patch.height,
                                channels: patch.channels, pixels: patch.pixels)
                }
            }
            step()
        }
    }

    /// Per concept, its code sum in each image whose record lists it.
    func codeSumsPerConcept() -> [[[Double]]] {
        var sums = layout.layers.map { Array(repeating: [Double](), count: $0.sourceCount) }
        for r in records {
            for c in r.concepts where sums.indices.contains(c.layer) && sums[c.layer].indices.contains(c.index) {
                sums[c.layer][c.index].append(c.codeSum)
            }
        }
        return sums
    }
}
