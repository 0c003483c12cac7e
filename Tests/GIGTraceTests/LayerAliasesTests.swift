import Testing
@testable import GIGTrace

/// The atlas's short node labels name the PCA mean and the error node as the CLI's full names do
/// (`TraceLayout.nodeName`: `layer:mean`, `layer:error`), not by their source index.
struct LayerAliasesTests {
    @Test func meanAndErrorNodesAreNamedNotNumbered() {
        let layout = TraceLayout(layers: [.init(name: "/stage1/relu/Relu_output_0", conceptCount: 4, hasMeanNode: false, hasErrorNode: true),
                                          .init(name: "/stage2/relu/Relu_output_0", conceptCount: 3, hasMeanNode: true, hasErrorNode: true)],
                                 classNames: ["a", "b"])
        let aliases = LayerAliases(layout: layout)
        #expect((0..<5).map { aliases.node(layer: 0, index: $0) } == ["stage1:0", "stage1:1", "stage1:2", "stage1:3", "stage1:error"])
        #expect((0..<5).map { aliases.node(layer: 1, index: $0) } == ["stage2:0", "stage2:1", "stage2:2", "stage2:mean", "stage2:error"])
        #expect(layout.nodeName(layer: 1, index: 4) == "/stage2/relu/Relu_output_0:error")
    }
}
