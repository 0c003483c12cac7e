"""A small PyTorch evaluator for the ONNX CNNs GIGTrace ships (Conv, Relu, Add, MaxPool,
GlobalAveragePool, Flatten, Gemm): run the graph, or the part of it that computes tensor `to`
from tensor `start`, with autograd. Used by the GIG fixture and peer-benchmark scripts so that the
PyTorch side evaluates exactly the weights of the ONNX file gigtrace reads.

    net = OnnxTorch("models/fashion-resnet/model.onnx")
    logits = net.run({"input": x}, "logits")
    f = net.subnetwork("/stage2/relu/Relu_output_0", "logits")   # callable: tensor -> tensor
"""
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


class OnnxTorch:
    def __init__(self, path):
        model = onnx.load(path)
        self.weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
        self.nodes = list(model.graph.node)
        self.input_name = model.graph.input[0].name
        self.output_name = model.graph.output[0].name

    def _node(self, node, args):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        if op == "Conv":
            pads = attrs.get("pads", [0, 0, 0, 0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                raise ValueError(f"asymmetric pads in {node.name}")
            return F.conv2d(args[0], args[1], args[2] if len(args) > 2 else None, stride=tuple(attrs.get("strides", [1, 1])),
                            padding=(pads[0], pads[1]), dilation=tuple(attrs.get("dilations", [1, 1])),
                            groups=attrs.get("group", 1))
        if op == "Relu":
            return F.relu(args[0])
        if op == "Add":
            return args[0] + args[1]
        if op == "MaxPool":
            pads = attrs.get("pads", [0, 0, 0, 0])
            return F.max_pool2d(args[0], tuple(attrs["kernel_shape"]), stride=tuple(attrs.get("strides", [1, 1])),
                                padding=(pads[0], pads[1]))
        if op == "GlobalAveragePool":
            return args[0].mean(dim=(2, 3), keepdim=True)
        if op == "Flatten":
            return torch.flatten(args[0], attrs.get("axis", 1))
        if op == "Gemm":
            a, b = args[0], args[1]
            if attrs.get("transA", 0):
                a = a.t()
            b = b.t() if attrs.get("transB", 0) else b
            y = attrs.get("alpha", 1.0) * (a @ b)
            if len(args) > 2:
                y = y + attrs.get("beta", 1.0) * args[2]
            return y
        raise ValueError(f"op {op} not supported by onnx_torch")

    def run(self, feeds, to):
        """Evaluates every node whose inputs are known from `feeds` (name -> tensor) until `to`."""
        env = dict(feeds)
        for node in self.nodes:
            if to in env:
                break
            if any(node.output[0] == k for k in feeds):
                continue
            inputs = [env.get(n, self.weights.get(n)) for n in node.input]
            if any(v is None for v in inputs):
                continue
            env[node.output[0]] = self._node(node, inputs)
        if to not in env:
            raise ValueError(f"'{to}' cannot be computed from {list(feeds)}")
        return env[to]

    def subnetwork(self, start, to):
        """F_ab: the map from tensor `start` to tensor `to` (every path must pass through `start`)."""
        return lambda x: self.run({start: x}, to)

    def activations(self, x, names):
        """The named tensors of a full forward pass of input `x` (no gradient)."""
        with torch.no_grad():
            env = {self.input_name: x}
            for name in names:
                env[name] = self.run(env, name)
            return [env[n] for n in names]
