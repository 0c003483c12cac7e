import Core

/// What one graph node computes, with its attributes already parsed and its constant operands
/// resolved at load time. Public and readable so that analyses (e.g. SRD receptive-field
/// propagation) can walk the graph: `Model.nodes` in topological order, each holding one `Op`.
public enum Op: Sendable {
    /// 2-D convolution; BatchNormalization that followed it may already be folded in.
    case conv(Conv2D)
    /// Inference BatchNormalization not folded into a Conv: `y = x * scale[c] + shift[c]`.
    case batchNorm(ChannelAffine)
    case relu
    case leakyRelu(alpha: Float)
    /// `min(max(x, min), max)`; ReLU6 is `clip(0, 6)`.
    case clip(min: Float, max: Float)
    case sigmoid
    /// `max(0, min(1, alpha * x + beta))`.
    case hardSigmoid(alpha: Float, beta: Float)
    /// `x * max(0, min(1, x / 6 + 1 / 2))`.
    case hardSwish
    /// Elementwise arithmetic with NumPy broadcasting over the two inputs.
    case binary(BinaryKind)
    case maxPool(Pool2D)
    case averagePool(Pool2D, countIncludePad: Bool)
    case globalAveragePool
    /// Mean over `axes` (normalised to non-negative); `keepDims` keeps them as extent 1.
    case reduceMean(axes: [Int], keepDims: Bool)
    /// Flatten, Reshape, Squeeze, Unsqueeze: the elements stay, the shape changes.
    case reshape(ReshapeRule)
    case concat(axis: Int)
    /// `alpha * A' B' + beta * C` (the optional third input), `'` per `transA` / `transB`.
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    /// NumPy matmul with broadcasting over leading axes.
    case matMul
    /// Identity, and Dropout at inference.
    case identity
    /// `softmax` over `axis`; with `coerce2D` (opset < 13) over all axes from `axis` on.
    case softmax(axis: Int, coerce2D: Bool)
    /// Erf, Sqrt, Gelu: pointwise functions with a smooth derivative (`Pointwise.swift`).
    case pointwise(PointwiseKind)
    /// `x ^ exponent` with a constant exponent, broadcast like the binary ops.
    case power(exponent: Tensor)
    /// Transpose, Slice, Pad and one part of a Split: every output element is one input element
    /// (or the pad value), so forward, VJP and JVP are gathers and scatters (`Rearrangement.swift`).
    case rearrange(Rearrangement)
    /// LayerNormalization over the axes from `axis` on, or one of its statistics outputs.
    case layerNormalization(LayerNormalization)
    /// ONNX-ML tree ensemble: `[N, F]` features → `[N, W]` scores. Piecewise constant, so its
    /// gradient is zero (see `TreeEnsemble` and Generalized IG, docs/METHOD.md §9).
    case treeEnsemble(TreeEnsemble)
    /// A tree-ensemble classifier's label output `[N]` (integer labels as floats; zero gradient).
    case treeLabel(TreeEnsemble)
    /// Index of the largest element along `axis` (the first, or the last with `selectLastIndex`),
    /// as floats; zero gradient.
    case argMax(axis: Int, keepDims: Bool, selectLastIndex: Bool)
    /// Cast to an integer type (truncation toward zero) or to bool (`x ≠ 0`); zero gradient. Casts
    /// between float types are `identity`.
    case castToInteger(boolean: Bool)

    /// The ONNX operator name this op was built from (BatchNormalization for folded-free BN…).
    public var kind: String {
        switch self {
        case .conv: return "Conv"
        case .batchNorm: return "BatchNormalization"
        case .relu: return "Relu"
        case .leakyRelu: return "LeakyRelu"
        case .clip: return "Clip"
        case .sigmoid: return "Sigmoid"
        case .hardSigmoid: return "HardSigmoid"
        case .hardSwish: return "HardSwish"
        case .binary(let k): return k.rawValue
        case .maxPool: return "MaxPool"
        case .averagePool: return "AveragePool"
        case .globalAveragePool: return "GlobalAveragePool"
        case .reduceMean: return "ReduceMean"
        case .reshape(let r): return r.kind
        case .concat: return "Concat"
        case .gemm: return "Gemm"
        case .matMul: return "MatMul"
        case .identity: return "Identity"
        case .softmax: return "Softmax"
        case .pointwise(let k): return k.onnxName
        case .power: return "Pow"
        case .rearrange(let r): return r.onnxName
        case .layerNormalization: return "LayerNormalization"
        case .treeEnsemble(let t): return t.isClassifier ? "TreeEnsembleClassifier" : "TreeEnsembleRegressor"
        case .treeLabel: return "TreeEnsembleClassifier (label)"
        case .argMax: return "ArgMax"
        case .castToInteger: return "Cast"
        }
    }

    /// True for ops whose output is elementwise-monotone in one input and passes gradients by a
    /// 0/1 mask (ReLU-like); useful for analyses.
    public var isActivation: Bool {
        switch self {
        case .relu, .leakyRelu, .clip, .sigmoid, .hardSigmoid, .hardSwish: return true
        default: return false
        }
    }
}

/// The four broadcasting arithmetic operators.
public enum BinaryKind: String, Sendable {
    case add = "Add", sub = "Sub", mul = "Mul", div = "Div"
}

/// A per-channel affine map on NCHW (channel = axis 1): `y = x * scale[c] + shift[c]`.
public struct ChannelAffine: Sendable {
    public var scale: [Float]
    public var shift: [Float]
}

/// How a shape-only op computes its output shape from the runtime input shape.
public enum ReshapeRule: Sendable {
    /// ONNX Flatten: `[prod(d[..<axis]), prod(d[axis...])]`.
    case flatten(axis: Int)
    /// ONNX Reshape target: `0` copies the input extent (unless `allowZero`), `-1` is inferred,
    /// `Model.batchMarker` stands for the runtime batch size (from a folded `Shape`).
    case reshape(target: [Int], allowZero: Bool)
    /// Remove the listed axes (all extent-1 axes when empty); axes may be negative.
    case squeeze(axes: [Int])
    /// Insert extent-1 axes at the listed output positions; axes may be negative.
    case unsqueeze(axes: [Int])

    public var kind: String {
        switch self {
        case .flatten: return "Flatten"
        case .reshape: return "Reshape"
        case .squeeze: return "Squeeze"
        case .unsqueeze: return "Unsqueeze"
        }
    }
}

/// ONNX `auto_pad`.
public enum AutoPad: String, Sendable {
    case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID"
}

/// Geometry shared by 2-D convolution and pooling windows.
public struct Window2D: Sendable, Equatable {
    public var kernelH: Int, kernelW: Int
    public var strideH: Int, strideW: Int
    public var dilationH: Int, dilationW: Int
    /// Explicit pads (top, left, bottom, right), used when `autoPad` is `.notSet`.
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var autoPad: AutoPad
    /// Pooling only: output extent rounds up.
    public var ceilMode: Bool

    /// Pads and output extent for an `h × w` input: (top, left, bottom, right, outH, outW).
    public func resolve(h: Int, w: Int) -> ResolvedWindow {
        func axis(_ n: Int, _ k: Int, _ s: Int, _ d: Int, _ p0: Int, _ p1: Int) -> (Int, Int, Int) {
            let ek = (k - 1) * d + 1
            switch autoPad {
            case .valid:
                return (0, 0, max(0, (n - ek) / s + 1))
            case .sameUpper, .sameLower:
                let out = (n + s - 1) / s
                let total = max(0, (out - 1) * s + ek - n)
                let small = total / 2
                return autoPad == .sameUpper ? (small, total - small, out) : (total - small, small, out)
            case .notSet:
                let span = n + p0 + p1 - ek
                if span < 0 { return (p0, p1, 0) }
                var out = (ceilMode ? (span + s - 1) / s : span / s) + 1
                // A window must start inside the input or the leading pad.
                if ceilMode && (out - 1) * s >= n + p0 { out -= 1 }
                return (p0, p1, out)
            }
        }
        let (t, b, oh) = axis(h, kernelH, strideH, dilationH, padTop, padBottom)
        let (l, r, ow) = axis(w, kernelW, strideW, dilationW, padLeft, padRight)
        return ResolvedWindow(padTop: t, padLeft: l, padBottom: b, padRight: r, outH: oh, outW: ow)
    }
}

/// A `Window2D` applied to one input size.
public struct ResolvedWindow: Sendable {
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    public var outH: Int, outW: Int
}

/// A 2-D convolution: weight `[M, C/groups, kH, kW]`, optional bias `[M]` (BN folded in).
///
/// Immutable once built, so that what is derived from the weights at construction (the
/// input-VJP convolution) cannot go stale; `folded(_:)` returns a new value.
public struct Conv2D: Sendable {
    public let weight: Tensor
    public let bias: [Float]?
    public let window: Window2D
    public let groups: Int
    /// For stride-1 convolutions: the convolution whose forward pass is this one's input-VJP
    /// (see `InputVJPConvolution`); `nil` where that does not apply (strides, large pads).
    let inputVJP: InputVJPConvolution?
    /// Winograd F(2×2, 3×3) filter transform `[16, M, C]` of `weight`, built once for convs that
    /// `Winograd.accepts` (the input-VJP convolution's too); nil for the others (im2col + GEMM).
    let winogradFilter: [Float]?
    /// Output channels M.
    public var outChannels: Int { weight.shape[0] }
    /// Input channels per group.
    public var inChannelsPerGroup: Int { weight.shape[1] }

    public init(weight: Tensor, bias: [Float]?, window: Window2D, groups: Int) {
        self.init(weight: weight, bias: bias, window: window, groups: groups, withInputVJP: true)
    }

    init(weight: Tensor, bias: [Float]?, window: Window2D, groups: Int, withInputVJP: Bool) {
        self.weight = weight
        self.bias = bias
        self.window = window
        self.groups = groups
        inputVJP = withInputVJP ? InputVJPConvolution(weight: weight, window: window, groups: groups) : nil
        winogradFilter = Winograd.accepts(weight: weight, window: window, groups: groups) ? Winograd.filterTransform(weight) : nil
    }

    /// `y = conv(x) * scale[m] + shift[m]` as one convolution: W' = scale·W (per output channel),
    /// b' = scale·b + shift (exact up to rounding).
    public func folded(_ bn: ChannelAffine) -> Conv2D {
        let m = outChannels, per = weight.count / max(1, m)
        var w = weight
        var b = bias ?? [Float](repeating: 0, count: m)
        for o in 0..<m {
            for i in (o * per)..<((o + 1) * per) { w.data[i] *= bn.scale[o] }
            b[o] = b[o] * bn.scale[o] + bn.shift[o]
        }
        return Conv2D(weight: w, bias: b, window: window, groups: groups)
    }
}

/// The input-VJP of a stride-1 convolution is itself a stride-1 convolution of the cotangent:
/// filter flipped in both spatial axes, input and output channels swapped within each group,
/// pads d·(k − 1) − p on each side. Running it through `Convolution.forward` replaces the
/// scatter-add of col2im by a gather, and every element of the result is written once.
///
/// A reference type only so that a `Conv2D` can hold another `Conv2D`.
final class InputVJPConvolution: Sendable {
    /// Weight `[C, M/groups, kH, kW]`, no bias.
    let conv: Conv2D

    /// `nil` unless every stride is 1 and every resolved pad is at most d·(k − 1).
    init?(weight: Tensor, window w: Window2D, groups: Int) {
        guard w.strideH == 1, w.strideW == 1, weight.rank == 4, groups >= 1, weight.shape[0] % groups == 0 else { return nil }
        // With stride 1 the resolved pads do not depend on the input size (SAME pads d·(k − 1) in all).
        let r = w.resolve(h: 1 << 20, w: 1 << 20)
        let spanH = w.dilationH * (w.kernelH - 1), spanW = w.dilationW * (w.kernelW - 1)
        let pads = (top: spanH - r.padTop, left: spanW - r.padLeft, bottom: spanH - r.padBottom, right: spanW - r.padRight)
        guard pads.top >= 0, pads.left >= 0, pads.bottom >= 0, pads.right >= 0 else { return nil }
        let m = weight.shape[0], cg = weight.shape[1], kh = weight.shape[2], kw = weight.shape[3]
        let mg = m / groups, taps = kh * kw
        var flipped = [Float](repeating: 0, count: weight.count)
        weight.data.withUnsafeBufferPointer { src in
            for g in 0..<groups {
                for o in 0..<mg {
                    for c in 0..<cg {
                        let from = ((g * mg + o) * cg + c) * taps, to = ((g * cg + c) * mg + o) * taps
                        for t in 0..<taps { flipped[to + taps - 1 - t] = src[from + t] }
                    }
                }
            }
        }
        let window = Window2D(kernelH: kh, kernelW: kw, strideH: 1, strideW: 1,
                              dilationH: w.dilationH, dilationW: w.dilationW,
                              padTop: pads.top, padLeft: pads.left, padBottom: pads.bottom, padRight: pads.right,
                              autoPad: .notSet, ceilMode: false)
        conv = Conv2D(weight: Tensor(uncheckedShape: [groups * cg, mg, kh, kw], data: flipped), bias: nil,
                      window: window, groups: groups, withInputVJP: false)
    }
}

/// A pooling window (MaxPool, AveragePool).
public struct Pool2D: Sendable {
    public var window: Window2D
}
