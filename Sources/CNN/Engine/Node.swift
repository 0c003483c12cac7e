/// One executable graph node: an `Op` reading named tensors and writing one named tensor.
///
/// `inputs` are the tensors the op reads at run time, in ONNX order; each is either a graph
/// input, another node's output, or a name in `Model.constants`. Conv weights and BN parameters
/// live inside the `Op` instead. `output` keeps the ONNX name (for a Conv with folded BN: the
/// BN's output name, recorded in `foldedBatchNorm`).
public struct Node: Sendable {
    /// ONNX node name (or its first output when unnamed).
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var output: String
    /// For a Conv with a BatchNormalization folded in: the BN node's name.
    public var foldedBatchNorm: String?
    /// For a Conv: the ONNX names its weight and (when it has one) bias were read from — they
    /// live inside the `Op`, not in `inputs`. Several convs may read one initializer.
    public var parameterNames: [String]

    public init(name: String, op: Op, inputs: [String], output: String, foldedBatchNorm: String? = nil,
                parameterNames: [String] = []) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.output = output
        self.foldedBatchNorm = foldedBatchNorm
        self.parameterNames = parameterNames
    }
}
