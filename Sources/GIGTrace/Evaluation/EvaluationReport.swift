import Core
import Foundation

/// What `gigtrace evaluate` reports (METHOD §8); `--json` writes it as it is (schemas/evaluation.schema.json).
public struct EvaluationReport: Sendable, Codable, Equatable {
    /// A mean over images with its 95 % Student-t interval.
    public struct Interval: Sendable, Codable, Equatable {
        public var mean: Double
        public var low: Double
        public var high: Double
        public var images: Int

        public init(_ values: [Double]) {
            let n = values.count
            let sum = values.reduce(0, +), squares = values.reduce(0) { $0 + $1 * $1 }
            let s = EdgeStatistics(sum: sum, sumOfSquares: squares, sumOfAbs: 0, activeCount: n, images: n)
            mean = s.mean
            low = s.ciLow
            high = s.ciHigh
            images = n
        }

        /// The interval lies entirely below (−1), above (+1) zero, or contains it (0).
        public var sign: Int { low > 0 ? 1 : (high < 0 ? -1 : 0) }
    }

    /// One order's results in a block.
    public struct Order: Sendable, Codable, Equatable {
        public var name: String
        public var deletionAUC: Interval
        public var insertionAUC: Interval
        /// Paired differences (this order − the image's mean random AUC); nil for "random" itself.
        public var deletionMinusRandom: Interval?
        public var insertionMinusRandom: Interval?
        /// Share of images where this order's deletion AUC is below (insertion AUC above) the
        /// median of the image's random orders.
        public var deletionBeatsRandomMedian: Double?
        public var insertionBeatsRandomMedian: Double?
        /// The mean normalised curves over images, k = 0…K.
        public var deletionCurve: [Double]
        public var insertionCurve: [Double]
    }

    /// Per predicted class (class targets only): GIG vs random deletion and insertion AUC means.
    public struct ClassRow: Sendable, Codable, Equatable {
        public var className: String
        public var images: Int
        public var gigDeletion: Double
        public var randomDeletion: Double
        public var gigInsertion: Double
        public var randomInsertion: Double
    }

    /// One layer and target kind ("stage1 → classes", "stage1 → stage2").
    public struct Block: Sendable, Codable, Equatable {
        public var name: String
        public var concepts: Int
        public var images: Int
        /// Images left out because the target was not positive at the full layer.
        public var skipped: Int
        public var orders: [Order]
        /// Lowest and highest image-mean curve among the random orders, per k (the random band).
        public var randomDeletionBand: [[Double]]
        public var randomInsertionBand: [[Double]]
        public var classes: [ClassRow]
    }

    public var trace: String
    public var images: Int
    public var randomOrders: Int
    public var seconds: Double
    public var errorNode: Bool
    public var blocks: [Block]
    /// Pathway ablation (METHOD §8); nil when it was not run.
    public var pathwayAblation: PathwayAblationReport?

    /// The table on stdout: per block and order, mean AUC [95 % interval] and the paired difference to random.
    public func table() -> String {
        func iv(_ i: Interval?) -> String {
            guard let i else { return "" }
            return TextTable.number(i.mean, digits: 3) + " [" + TextTable.number(i.low, digits: 3) + ", " + TextTable.number(i.high, digits: 3) + "]"
        }
        func share(_ x: Double?) -> String { x.map { TextTable.number(100 * $0, digits: 0) + " %" } ?? "" }
        var out = "evaluated \(images) images of \(trace) in \(String(format: "%.1f", seconds)) s (\(randomOrders) random orders per image and target; error node \(errorNode ? "on" : "off"))\n"
        out += "deletion: lower AUC = the order finds the concepts the target needs first; insertion: higher is better (METHOD §8)\n"
        for b in blocks {
            out += "\n\(b.name) (K = \(b.concepts), \(b.images) images" + (b.skipped > 0 ? ", \(b.skipped) skipped: target ≤ 0" : "") + ")\n"
            var t = TextTable(["order", "deletion AUC [95% CI]", "− random", "beats median", "insertion AUC [95% CI]", "− random", "beats median"])
            for o in b.orders {
                t.add([o.name, iv(o.deletionAUC), iv(o.deletionMinusRandom), share(o.deletionBeatsRandomMedian),
                       iv(o.insertionAUC), iv(o.insertionMinusRandom), share(o.insertionBeatsRandomMedian)])
            }
            out += t.render()
            if !b.classes.isEmpty {
                var c = TextTable(["class", "images", "GIG deletion", "random deletion", "GIG insertion", "random insertion"])
                for r in b.classes {
                    c.add([r.className, "\(r.images)", TextTable.number(r.gigDeletion, digits: 3), TextTable.number(r.randomDeletion, digits: 3),
                           TextTable.number(r.gigInsertion, digits: 3), TextTable.number(r.randomInsertion, digits: 3)])
                }
                out += "\n" + c.render()
            }
        }
        if let p = pathwayAblation { out += "\n" + p.table() }
        return out
    }
}

/// Pathway ablation results (METHOD §8): per predicted class, its top pathway's concepts removed
/// in every traced layer at once, against `randomPathways` random pathways per image (one random
/// concept per traced layer). Logit drop: the class logit of the unablated pass minus the ablated
/// one (positive: the pathway supported the class); kept: 1 when the ablated pass still predicts
/// the class, else 0.
public struct PathwayAblationReport: Sendable, Codable, Equatable {
    public struct Row: Sendable, Codable, Equatable {
        /// The class, or "all classes" for the pooled row.
        public var className: String
        /// The top pathway's concepts, first traced layer first (empty for the pooled row).
        public var pathway: [String]
        public var images: Int
        public var logitDrop: EvaluationReport.Interval
        /// Per image the mean over its random pathways.
        public var randomLogitDrop: EvaluationReport.Interval
        /// Paired: the pathway's drop − the image's mean random drop.
        public var dropMinusRandom: EvaluationReport.Interval
        /// Share of images whose pathway drop exceeds the median of its random drops.
        public var dropBeatsRandomMedian: Double
        /// Prediction rate after the ablation (share of images still predicted as the class).
        public var predictionKept: EvaluationReport.Interval
        public var randomPredictionKept: EvaluationReport.Interval
    }

    public var randomPathways: Int
    /// Images whose class has no pathway made of concepts only (every path runs through an error
    /// or mean node, or no edge into the class is positive).
    public var skipped: Int
    public var classes: [Row]
    public var all: Row

    /// The table printed by `gigtrace evaluate`.
    public func table() -> String {
        func iv(_ i: EvaluationReport.Interval) -> String {
            TextTable.number(i.mean, digits: 3) + " [" + TextTable.number(i.low, digits: 3) + ", " + TextTable.number(i.high, digits: 3) + "]"
        }
        let out = "pathway ablation: each image's class loses its top pathway's concepts in every traced layer at once; "
            + "\(randomPathways) random pathways per image (one random concept per layer)"
            + (skipped > 0 ? "; \(skipped) images skipped (their class has no pathway of concepts only)" : "") + "\n"
        var t = TextTable(["class", "images", "logit drop [95% CI]", "random drop", "− random", "beats median",
                           "still predicted", "random: still predicted", "pathway"])
        for r in classes + [all] {
            t.add([r.className, "\(r.images)", iv(r.logitDrop), iv(r.randomLogitDrop), iv(r.dropMinusRandom),
                   TextTable.number(100 * r.dropBeatsRandomMedian, digits: 0) + " %",
                   iv(r.predictionKept), iv(r.randomPredictionKept), r.pathway.joined(separator: " → ")])
        }
        return out + t.render()
    }
}

/// Per-image pathway ablation results while the evaluation runs.
struct PathwayAccumulator: Sendable {
    struct Values: Sendable {
        var drop: [Double] = [], randomDrop: [Double] = [], beats: [Double] = []
        var kept: [Double] = [], randomKept: [Double] = []

        mutating func add(_ v: Values) {
            drop += v.drop; randomDrop += v.randomDrop; beats += v.beats; kept += v.kept; randomKept += v.randomKept
        }

        func row(className: String, pathway: [String]) -> PathwayAblationReport.Row {
            .init(className: className, pathway: pathway, images: drop.count, logitDrop: .init(drop),
                  randomLogitDrop: .init(randomDrop), dropMinusRandom: .init(zip(drop, randomDrop).map { $0 - $1 }),
                  dropBeatsRandomMedian: beats.isEmpty ? 0 : beats.reduce(0, +) / Double(beats.count),
                  predictionKept: .init(kept), randomPredictionKept: .init(randomKept))
        }
    }

    var perClass: [Int: Values] = [:]
    var skipped = 0

    /// One image of class c: the class logit unablated, with its pathway removed, with each random
    /// pathway removed, and whether each ablated pass still predicts c.
    mutating func add(classIndex c: Int, real: Double, pathway: Double, random: [Double], keptPathway: Bool, keptRandom: [Bool]) {
        var v = perClass[c] ?? Values()
        let drops = random.map { real - $0 }
        v.drop.append(real - pathway)
        v.randomDrop.append(drops.reduce(0, +) / Double(max(drops.count, 1)))
        v.beats.append(real - pathway > Statistics.median(drops) ? 1 : 0)
        v.kept.append(keptPathway ? 1 : 0)
        v.randomKept.append(Double(keptRandom.filter { $0 }.count) / Double(max(keptRandom.count, 1)))
        perClass[c] = v
    }

    func report(randomPathways: Int, classNames: [String], pathways: [Int: [String]]) -> PathwayAblationReport {
        var pooled = Values()
        let rows = perClass.keys.sorted().map { c -> PathwayAblationReport.Row in
            let v = perClass[c] ?? Values()
            pooled.add(v)
            return v.row(className: classNames.indices.contains(c) ? classNames[c] : "\(c)", pathway: pathways[c] ?? [])
        }
        return PathwayAblationReport(randomPathways: randomPathways, skipped: skipped, classes: rows,
                                     all: pooled.row(className: "all classes", pathway: []))
    }
}

/// Per-image AUCs and summed curves of one block while the evaluation runs.
struct BlockAccumulator: Sendable {
    let k: Int
    var skipped = 0
    /// [order][image] for the named orders; random: the image's mean over its random orders.
    var deletion: [[Double]] = Array(repeating: [], count: 5)
    var insertion: [[Double]] = Array(repeating: [], count: 5)
    var randomDeletionMedian: [Double] = []
    var randomInsertionMedian: [Double] = []
    var deletionCurves: [[Double]] = []
    var insertionCurves: [[Double]] = []
    /// Per random order r: Σ over images of its curve.
    var randomDeletionCurves: [[Double]] = []
    var randomInsertionCurves: [[Double]] = []
    var perClass: [Int: (images: Int, gigD: Double, randD: Double, gigI: Double, randI: Double)] = [:]

    init(k: Int) {
        self.k = k
        deletionCurves = Array(repeating: Array(repeating: 0, count: k + 1), count: 5)
        insertionCurves = deletionCurves
    }

    /// Adds one image: `curves[0..<randomFrom]` are the named orders, the rest random ones.
    mutating func add(curves: [ConceptDeletion.Curves], randomFrom: Int, classIndex: Int?) {
        let random = Array(curves[randomFrom...])
        let median = Statistics.median
        let rd = random.map(\.deletionAUC), ri = random.map(\.insertionAUC)
        for o in 0..<randomFrom {
            deletion[o].append(curves[o].deletionAUC)
            insertion[o].append(curves[o].insertionAUC)
            for j in 0...k {
                deletionCurves[o][j] += curves[o].deletion[j]
                insertionCurves[o][j] += curves[o].insertion[j]
            }
        }
        deletion[4].append(rd.reduce(0, +) / Double(rd.count))
        insertion[4].append(ri.reduce(0, +) / Double(ri.count))
        randomDeletionMedian.append(median(rd))
        randomInsertionMedian.append(median(ri))
        if randomDeletionCurves.isEmpty {
            randomDeletionCurves = Array(repeating: Array(repeating: 0, count: k + 1), count: random.count)
            randomInsertionCurves = randomDeletionCurves
        }
        for (r, c) in random.enumerated() {
            for j in 0...k {
                randomDeletionCurves[r][j] += c.deletion[j]
                randomInsertionCurves[r][j] += c.insertion[j]
                deletionCurves[4][j] += c.deletion[j] / Double(random.count)
                insertionCurves[4][j] += c.insertion[j] / Double(random.count)
            }
        }
        if let c = classIndex {
            var row = perClass[c] ?? (0, 0, 0, 0, 0)
            row.images += 1
            row.gigD += curves[0].deletionAUC
            row.randD += deletion[4].last ?? 0
            row.gigI += curves[0].insertionAUC
            row.randI += insertion[4].last ?? 0
            perClass[c] = row
        }
    }

    func block(name: String, classNames: [String]) -> EvaluationReport.Block {
        let n = deletion[0].count, scale = 1 / Double(max(n, 1))
        var orders = [EvaluationReport.Order]()
        for (o, orderName) in TraceEvaluation.orderNames.enumerated() {
            let isRandom = o == 4
            func paired(_ a: [Double], _ b: [Double]) -> EvaluationReport.Interval { .init(zip(a, b).map { $0 - $1 }) }
            func beats(_ a: [Double], _ medians: [Double], lower: Bool) -> Double {
                guard !a.isEmpty else { return 0 }
                return Double(zip(a, medians).filter { lower ? $0 < $1 : $0 > $1 }.count) / Double(a.count)
            }
            orders.append(EvaluationReport.Order(
                name: orderName, deletionAUC: .init(deletion[o]), insertionAUC: .init(insertion[o]),
                deletionMinusRandom: isRandom ? nil : paired(deletion[o], deletion[4]),
                insertionMinusRandom: isRandom ? nil : paired(insertion[o], insertion[4]),
                deletionBeatsRandomMedian: isRandom ? nil : beats(deletion[o], randomDeletionMedian, lower: true),
                insertionBeatsRandomMedian: isRandom ? nil : beats(insertion[o], randomInsertionMedian, lower: false),
                deletionCurve: deletionCurves[o].map { $0 * scale }, insertionCurve: insertionCurves[o].map { $0 * scale }))
        }
        func band(_ curves: [[Double]]) -> [[Double]] {
            guard !curves.isEmpty else { return [] }
            return [(0...k).map { j in curves.map { $0[j] * scale }.min() ?? 0 }, (0...k).map { j in curves.map { $0[j] * scale }.max() ?? 0 }]
        }
        let classes = perClass.keys.sorted().map { c -> EvaluationReport.ClassRow in
            let r = perClass[c] ?? (0, 0, 0, 0, 0), m = 1 / Double(max(r.images, 1))
            return EvaluationReport.ClassRow(className: classNames.indices.contains(c) ? classNames[c] : "\(c)", images: r.images,
                                             gigDeletion: r.gigD * m, randomDeletion: r.randD * m,
                                             gigInsertion: r.gigI * m, randomInsertion: r.randI * m)
        }
        return EvaluationReport.Block(name: name, concepts: k, images: n, skipped: skipped, orders: orders,
                                      randomDeletionBand: band(randomDeletionCurves), randomInsertionBand: band(randomInsertionCurves),
                                      classes: classes)
    }
}
