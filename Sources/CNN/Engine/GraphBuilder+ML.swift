import Core
/// ONNX-ML nodes (domain `ai.onnx.ml`) that tree-model exports use: the tree ensembles and ZipMap.
extension GraphBuilder {
    mutating func addML(_ node: OnnxNode) throws {
        let name = node.displayName
        guard let x = node.inputs.first, !x.isEmpty else {
            throw ModelError.invalidModel("node '\(name)' (\(node.opType)) has no input")
        }
        func output(_ i: Int) -> String? {
            i < node.outputs.count && !node.outputs[i].isEmpty ? node.outputs[i] : nil
        }
        switch node.opType {
        case "TreeEnsembleClassifier":
            // Outputs: label [N], scores [N, classes]. Each becomes its own node.
            let trees = try TreeEnsemble(node: node)
            if let scores = output(1) {
                try append(Node(name: name, op: .treeEnsemble(trees), inputs: [x], output: scores), from: node)
            }
            if let label = output(0), readers[label, default: 0] > 0 {
                guard !trees.hasStringLabels else {
                    throw ModelError.unsupportedOp(op: "TreeEnsembleClassifier label output with string labels (classlabels_strings)", node: name)
                }
                try append(Node(name: name + " (label)", op: .treeLabel(trees), inputs: [x], output: label), from: node)
            }
        case "TreeEnsembleRegressor":
            let trees = try TreeEnsemble(node: node)
            guard let out = output(0) else { return }
            try append(Node(name: name, op: .treeEnsemble(trees), inputs: [x], output: out), from: node)
        case "ZipMap":
            // ONNX makes a sequence of {label: probability} maps; this engine keeps the tensor.
            guard let out = output(0) else { return }
            try append(Node(name: name, op: .identity, inputs: [x], output: out), from: node)
        default:
            throw ModelError.unsupportedOp(op: "ai.onnx.ml.\(node.opType)", node: name)
        }
    }
}
