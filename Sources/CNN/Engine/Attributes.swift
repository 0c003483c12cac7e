import Core

/// Typed access to an ONNX node's attributes, with errors naming the node.
struct Attributes {
    let node: OnnxNode

    func int(_ key: String, _ fallback: Int) throws -> Int {
        switch node.attributes[key] {
        case nil: return fallback
        case .int(let v): return v
        default: throw bad(key, "an int")
        }
    }

    func float(_ key: String, _ fallback: Float) throws -> Float {
        switch node.attributes[key] {
        case nil: return fallback
        case .float(let v): return v
        case .int(let v): return Float(v)
        default: throw bad(key, "a float")
        }
    }

    func ints(_ key: String) throws -> [Int]? {
        switch node.attributes[key] {
        case nil: return nil
        case .ints(let v): return v
        case .int(let v): return [v]
        default: throw bad(key, "a list of ints")
        }
    }

    func string(_ key: String, _ fallback: String) throws -> String {
        switch node.attributes[key] {
        case nil: return fallback
        case .string(let v): return v
        default: throw bad(key, "a string")
        }
    }

    private func bad(_ key: String, _ what: String) -> ModelError {
        .invalidModel("node '\(node.displayName)' (\(node.opType)): attribute '\(key)' is not \(what)")
    }
}
