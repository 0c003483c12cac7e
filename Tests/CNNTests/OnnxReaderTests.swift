import Foundation
import TestSupport
import Testing
@testable import CNN
@testable import Core

/// The ONNX reader against the `onnx` Python package (the reference implementation) and against
/// every model and tensor file shipped in Debian's libonnx-testdata.
@Suite struct OnnxReaderTests {
    /// A summary of a model as JSON-comparable values, built the same way on both sides.
    struct Summary: Codable, Equatable {
        var opset: Int
        var nodes: [[String]]            // op type, then inputs, then "->", then outputs
        var attributes: [String]         // "node#index.name=value" with values printed canonically
        var initializers: [String: [Double]]  // name -> shape ++ [sum, sum of squares]
    }

    static func canonical(_ value: AttributeValue) -> String {
        func f(_ x: Float) -> String { String(format: "%.6g", Double(x)) }
        switch value {
        case .int(let i): return "\(i)"
        case .float(let x): return f(x)
        case .string(let s): return s
        case .ints(let v): return v.map(String.init).joined(separator: ",")
        case .floats(let v): return v.map(f).joined(separator: ",")
        case .strings(let v): return v.joined(separator: ",")
        case .tensor(let t): return "tensor[" + t.shape.map(String.init).joined(separator: ",") + "]"
        }
    }

    static func moments(_ value: TensorValue) -> [Double] {
        switch value {
        case .float(let t):
            return t.shape.map(Double.init) + [t.data.reduce(0) { $0 + Double($1) }, t.data.reduce(0) { $0 + Double($1) * Double($1) }]
        case .int(let t):
            return t.shape.map(Double.init) + [t.data.reduce(0) { $0 + Double($1) }, t.data.reduce(0) { $0 + Double($1) * Double($1) }]
        }
    }

    static func summary(_ model: OnnxModel) -> Summary {
        var attributes = [String]()
        for (i, node) in model.graph.nodes.enumerated() {
            for (name, value) in node.attributes.sorted(by: { $0.key < $1.key }) {
                attributes.append("\(i).\(name)=\(canonical(value))")
            }
        }
        return Summary(
            opset: model.opsetVersion,
            nodes: model.graph.nodes.map { [$0.opType] + $0.inputs + ["->"] + $0.outputs },
            attributes: attributes,
            initializers: model.graph.initializers.mapValues(moments))
    }

    static let pythonSummary = """
    import json, sys, onnx, numpy as np
    from onnx import numpy_helper, helper
    def canon(a):
        v = helper.get_attribute_value(a)
        f = lambda x: '%.6g' % x
        if a.type == a.INT: return str(v)
        if a.type == a.FLOAT: return f(v)
        if a.type == a.STRING: return v.decode()
        if a.type == a.INTS: return ','.join(str(x) for x in v)
        if a.type == a.FLOATS: return ','.join(f(x) for x in v)
        if a.type == a.STRINGS: return ','.join(x.decode() for x in v)
        if a.type == a.TENSOR: return 'tensor' + str(list(v.dims)).replace(' ', '')
        return None
    out = []
    for path in sys.argv[1:]:
        m = onnx.load(path)
        opset = max([o.version for o in m.opset_import if o.domain in ('', 'ai.onnx')] or [0])
        attrs = []
        for i, n in enumerate(m.graph.node):
            for a in sorted(n.attribute, key=lambda a: a.name):
                c = canon(a)
                if c is not None: attrs.append('%d.%s=%s' % (i, a.name, c))
        inits = {}
        for t in m.graph.initializer:
            a = numpy_helper.to_array(t).astype(np.float64)
            inits[t.name] = list(map(float, a.shape)) + [float(a.sum()), float((a * a).sum())]
        out.append(dict(opset=opset, nodes=[[n.op_type] + list(n.input) + ['->'] + list(n.output) for n in m.graph.node],
                        attributes=attrs, initializers=inits))
    print(json.dumps(out))
    """

    /// Node-test model folders of a few kinds (attributes of every type, initializers, opsets).
    static let sampleCases = ["test_conv_with_strides_padding", "test_maxpool_2d_pads", "test_gemm_all_attributes",
                              "test_batchnorm_example", "test_reshape_negative_dim", "test_clip_default_min",
                              "test_constant", "test_averagepool_2d_ceil", "test_reduce_mean_keepdims_example",
                              "test_leakyrelu"]

    @Test func modelsMatchTheOnnxPackage() throws {
        let paths = Self.sampleCases.map { "\(TestPaths.onnxNodeTests)/\($0)/model.onnx" }
        let argv = paths.map { "'\($0)'" }.joined(separator: ",")
        let json = try runPython("import sys; sys.argv = ['x', \(argv)]\n" + Self.pythonSummary)
        let expected = try JSONDecoder().decode([Summary].self, from: Data(json.utf8))
        for (path, reference) in zip(paths, expected) {
            let ours = Self.summary(try OnnxReader.read(path: path))
            #expect(ours.opset == reference.opset, "\(path)")
            #expect(ours.nodes == reference.nodes, "\(path)")
            #expect(ours.attributes == reference.attributes, "\(path)")
            #expect(ours.initializers.keys.sorted() == reference.initializers.keys.sorted(), "\(path)")
            for (name, ref) in reference.initializers {
                let got = ours.initializers[name] ?? []
                #expect(got.count == ref.count && zip(got, ref).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(path) \(name)")
            }
        }
    }

    @Test func tensorFilesMatchNumpyHelper() throws {
        // float32, int64, bool and float16 tensors from the backend tests.
        let files = ["test_conv_with_strides_padding/test_data_set_0/input_0.pb",
                     "test_reshape_negative_dim/test_data_set_0/input_1.pb",
                     "test_and2d/test_data_set_0/input_0.pb",
                     "test_cast_FLOAT16_to_FLOAT/test_data_set_0/input_0.pb",
                     "test_cast_DOUBLE_to_FLOAT/test_data_set_0/input_0.pb"].map { "\(TestPaths.onnxNodeTests)/\($0)" }
        let json = try runPython("""
        import json, onnx, numpy as np
        from onnx import numpy_helper
        out = []
        for p in \(files):
            t = onnx.TensorProto(); t.ParseFromString(open(p, 'rb').read())
            a = numpy_helper.to_array(t)
            out.append([list(a.shape), a.astype(np.float64).ravel().tolist()])
        print(json.dumps(out))
        """)
        let expected = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[Any]] ?? []
        #expect(expected.count == files.count)
        for (file, ref) in zip(files, expected) {
            let shape = ref[0] as? [Int] ?? []
            let values = ref[1] as? [Double] ?? []
            let got = try OnnxReader.readTensor(path: file)
            #expect(got.shape == shape, "\(file)")
            let ours: [Double]
            switch got {
            case .float(let t): ours = t.data.map(Double.init)
            case .int(let t): ours = t.data.map(Double.init)
            }
            #expect(ours.count == values.count && zip(ours, values).allSatisfy { $0 == Float($1).asDouble || $0 == $1 }, "\(file)")
        }
    }

    @Test func everyBackendTestFileParsesOrFailsClearly() throws {
        let cases = try FileManager.default.contentsOfDirectory(atPath: TestPaths.onnxNodeTests).filter { $0.hasPrefix("test_") }
        #expect(cases.count > 500)
        var models = 0, failures = [String]()
        for name in cases {
            do {
                _ = try OnnxReader.read(path: "\(TestPaths.onnxNodeTests)/\(name)/model.onnx")
                models += 1
            } catch let error as any UserError {
                // Only deliberate refusals are allowed: unsupported element types or sparse data.
                let text = error.description
                if !(text.contains("unsupported element type") || text.contains("sparse") || text.contains("holds strings")) {
                    failures.append("\(name): \(text)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
        #expect(models > cases.count * 9 / 10)
    }

    @Test func readsExternalData() throws {
        let dir = try makeTemporaryFolder("onnx-external")
        _ = try runPython("""
        import onnx, numpy as np
        from onnx import helper, numpy_helper, TensorProto
        w = numpy_helper.from_array(np.arange(2048, dtype=np.float32).reshape(32, 64) / 3, 'W')
        b = numpy_helper.from_array(np.linspace(-1, 1, 64).astype(np.float32), 'B')
        g = helper.make_graph([helper.make_node('MatMul', ['X', 'W'], ['Y0']), helper.make_node('Add', ['Y0', 'B'], ['Y'])], 'g',
            [helper.make_tensor_value_info('X', TensorProto.FLOAT, [1, 32])],
            [helper.make_tensor_value_info('Y', TensorProto.FLOAT, [1, 64])], [w, b])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)])
        onnx.save_model(m, '\(dir)/m.onnx', save_as_external_data=True, all_tensors_to_one_file=True,
                        location='m.onnx.data', size_threshold=0)
        """)
        let model = try OnnxReader.read(path: "\(dir)/m.onnx")
        guard case .float(let w) = model.graph.initializers["W"], case .float(let b) = model.graph.initializers["B"] else {
            Issue.record("initializers missing")
            return
        }
        #expect(w.shape == [32, 64])
        #expect(w.data == (0..<2048).map { Float($0) / 3 })
        #expect(b.data.first == -1 && b.data.last == 1)
        #expect(model.graph.inputs.first?.shape == [.fixed(1), .fixed(32)])

        try FileManager.default.removeItem(atPath: "\(dir)/m.onnx.data")
        #expect(throws: InputError.fileNotFound("\(dir)/m.onnx.data")) { try OnnxReader.read(path: "\(dir)/m.onnx") }
    }

    @Test func corruptFilesGiveOneClearError() throws {
        let dir = try makeTemporaryFolder("onnx-corrupt")
        let good = try Data(contentsOf: URL(fileURLWithPath: "\(TestPaths.onnxNodeTests)/test_conv_with_strides_padding/model.onnx"))
        let cases: [(String, Data)] = [
            ("truncated.onnx", good.prefix(good.count / 2)),
            ("text.onnx", Data("this is not a model\n".utf8)),
            ("empty.onnx", Data()),
            ("random.onnx", Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })),
        ]
        for (name, bytes) in cases {
            let path = "\(dir)/\(name)"
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect(performing: { try OnnxReader.read(path: path) }, throws: { error in
                guard let e = error as? InputError, case .corruptFile(let p, _) = e else { return false }
                return p == path && !e.description.contains("\n")
            })
        }
        #expect(throws: InputError.fileNotFound("\(dir)/none.onnx")) { try OnnxReader.read(path: "\(dir)/none.onnx") }
    }
}

private extension Float {
    var asDouble: Double { Double(self) }
}
