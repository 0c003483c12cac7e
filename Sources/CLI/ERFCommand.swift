import ArgumentParser
import CNN
import CommandLineSupport
import Core
import Datasets
import Foundation
import GIGTrace
import PFV

/// `gigtrace erf`: the receptive field of one PFV (image, layer, position) at input resolution —
/// the iERF by SRD sharing ratios or the gradient ERF — with optional PNGs of the map and of the
/// exemplar patch cropped from the un-normalised image.
struct ERFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erf",
        abstract: "Receptive field of one PFV (iERF by SRD, or gradient ERF) as a .npy map, with optional map and patch PNGs."
    )

    @Option(help: "The ONNX model file.")
    var model: String

    @OptionGroup var dataset: DatasetOptions

    @Option(help: "C×H×W tensor holding the PFV (`gigtrace inspect` lists them).")
    var layer: String

    @Option(parsing: .unconditional, help: "Index of the image in the dataset (after --classes, --shuffle-seed and --limit).")
    var image: Int

    @Option(help: "PFV position on the layer's grid as H,W (row, column; 0-based).")
    var position: String

    @Option(help: "srd (iERF by sharing ratios, signed, mass 1) or gradient (Σ_ch |∂⟨x_p, x_p⟩/∂input|).")
    var method: ERFMethod = .srd

    @Option(help: "Output .npy: the map, float32 [H_in, W_in] (written to a temporary file, then renamed).")
    var out: String

    @Option(help: "Also write the map as a PNG (red positive, blue negative, white 0).")
    var png: String?

    @Option(help: "Also write the exemplar patch as a PNG: the box covering --mass of |map|, from the un-normalised image.")
    var patch: String?

    @Option(parsing: .unconditional, help: "Share of the map's |mass| the patch box covers, in (0, 1].")
    var mass: Double = 0.9

    @Flag(help: "Replace the outputs if they exist.")
    var force = false

    @Flag(help: "Tint the patch with the map (red positive, blue negative).")
    var overlay = false

    @OptionGroup var execution: ExecutionOptions


    func run() throws {
        try reportingErrors { try compute() }
    }

    /// The command's work; throws the one-line `UserError` that `run()` prints.
    func compute() throws {
        let erfMethod = method
        let inputs = dataset.inputPaths + [("--model", model)]
        for (option, path) in [("--out", out), ("--png", png), ("--patch", patch)] {
            guard let path else { continue }
            try OutputPaths.check(path, option: option, inputs: inputs)
            try OutputPath.check(path, force: force)
        }
        let pfv = try Self.parsePosition(position)
        let m = try Model.load(path: model, threads: execution.threads)
        // Layer and position first: they are cheap to check and need no image.
        let geometry = try LayerGeometry(model: m, layer: layer)
        try geometry.check(pfv)
        let spec = try dataset.spec()
        let loader = try spec.makeLoader(batchSize: 1)
        guard image >= 0 else { throw InputError.invalidInput("--image must be ≥ 0, got \(image)") }
        guard (0..<loader.indices.count).contains(image) else {
            throw InputError.invalidInput("--image \(image) is beyond the dataset \(spec.data): valid 0..<\(loader.indices.count)")
        }
        let images = try loader.batch(image).images
        var request = ERFRequest(layer: layer, imageIndex: 0, position: pfv)
        request.method = erfMethod
        request.mass = mass
        request.normalization = try Self.normalization(spec.preprocessing)
        request.patchPath = patch
        request.overlay = overlay
        let report = try ERFReport.run(model: m, images: images, request: request)
        try Npy.write(report.map, to: out)
        if let png { try ERFHeatmap.writePNG(report.map, to: png) }
        for warning in report.warnings { ProgressReporter.writeStderr("warning: \(warning)\n") }
        if !execution.quiet {
            let size = report.map.shape.map(String.init).joined(separator: "x")
            ProgressReporter.writeStderr("wrote \(out): \(size) \(report.method.rawValue) map of \(layer) \(pfv), image \(image); patch box \(report.patch.box)\n")
        }
    }

    /// "H,W" → position; throws naming the expected form.
    static func parsePosition(_ text: String) throws -> PFVPosition {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let h = parts[0], let w = parts[1] else {
            throw InputError.invalidInput("--position: expected H,W (two integers), got '\(text)'")
        }
        return PFVPosition(h: h, w: w)
    }

    /// The dataset's Normalize step as an `ImageNormalization` (identity when there is none).
    static func normalization(_ p: Preprocessing) throws -> ImageNormalization {
        guard !p.mean.isEmpty || !p.std.isEmpty else { return .identity }
        let mean = p.mean.isEmpty ? [Float](repeating: 0, count: p.std.count) : p.mean
        let std = p.std.isEmpty ? [Float](repeating: 1, count: p.mean.count) : p.std
        if mean.count != std.count, mean.count == 1 || std.count == 1 {
            let n = max(mean.count, std.count)
            return try ImageNormalization(mean: mean.count == 1 ? Array(repeating: mean[0], count: n) : mean,
                                          std: std.count == 1 ? Array(repeating: std[0], count: n) : std)
        }
        return try ImageNormalization(mean: mean, std: std)
    }
}
