import CNN
import Core

/// The per-image C×H×W shape of a tensor PFVs can be read from, checked against the model.
public struct LayerGeometry: Sendable, Equatable {
    public let name: String
    public let channels: Int
    public let height: Int
    public let width: Int

    /// Number of positions H·W.
    public var positions: Int { height * width }

    /// Looks `layer` up in `model.tensorShapes`. Throws `unknownTensor` for a name the model does
    /// not compute and `invalidInput` listing the C×H×W tensors when `layer` is not C×H×W (logits…).
    public init(model: Model, layer: String) throws {
        try model.checkTensor(layer)
        guard let shape = model.tensorShapes[layer] else {
            throw PFVError.invalidRequest("the shape of '\(layer)' is unknown: the ONNX file declares no fixed input shape")
        }
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            let usable = LayerGeometry.pfvLayers(of: model)
            let shown = usable.prefix(40).joined(separator: ", ")
            throw PFVError.invalidRequest("layer '\(layer)' has per-image shape \(shape), not C×H×W; PFV layers: \(shown)\(usable.count > 40 ? ", …" : "")")
        }
        name = layer
        channels = shape[0]
        height = shape[1]
        width = shape[2]
    }

    /// The tensors of `model` with a per-image C×H×W shape, in graph order.
    public static func pfvLayers(of model: Model) -> [String] {
        model.tensorNames.filter { (model.tensorShapes[$0]?.count ?? 0) == 3 }
    }

    /// Throws `invalidInput` naming the grid unless `p` lies on it.
    public func check(_ p: PFVPosition) throws {
        guard (0..<height).contains(p.h), (0..<width).contains(p.w) else {
            throw PFVError.invalidRequest("position \(p) is outside layer '\(name)': h must be in 0..<\(height), w in 0..<\(width)")
        }
    }
}
