import Foundation

/// Upper bounds on sizes that a file states about itself (tensor shapes, image headers, counts,
/// decompressed lengths), checked before anything is allocated so that a hostile or damaged file
/// gives a one-line error instead of exhausting memory.
///
/// The defaults suit ImageNet-scale work on one machine; each can be raised through an environment
/// variable (README, "Limits"):
///
///     GIGTRACE_MAX_TENSOR_ELEMENTS=4000000000 gigtrace trace --model huge.onnx …
///
/// `SizeLimits.current` reads them once per call site; tests pass explicit values.
public struct SizeLimits: Sendable, Equatable {
    /// Most elements one tensor (ONNX initializer, input, `.npy` array, IDX file) may declare.
    /// Default 2³¹ (8 GiB of float32); `GIGTRACE_MAX_TENSOR_ELEMENTS`.
    public var maxTensorElements: Int
    /// Most pixels (width × height) one image may declare in its header. Default 2²⁸ (≈ 268 Mpx,
    /// 16384 × 16384); `GIGTRACE_MAX_IMAGE_PIXELS`.
    public var maxImagePixels: Int
    /// Most bytes a gzip file may inflate to. Default 4 GiB; `GIGTRACE_MAX_INFLATED_BYTES`.
    public var maxInflatedBytes: Int
    /// Largest class label a label file may hold (labels index class-name lists). Default 1,000,000;
    /// `GIGTRACE_MAX_CLASSES`.
    public var maxClasses: Int

    public static let defaults = SizeLimits(maxTensorElements: 1 << 31, maxImagePixels: 1 << 28,
                                            maxInflatedBytes: 1 << 32, maxClasses: 1_000_000)

    public init(maxTensorElements: Int, maxImagePixels: Int, maxInflatedBytes: Int, maxClasses: Int) {
        self.maxTensorElements = maxTensorElements
        self.maxImagePixels = maxImagePixels
        self.maxInflatedBytes = maxInflatedBytes
        self.maxClasses = maxClasses
    }

    /// The defaults, overridden by the environment variables named on each property (positive
    /// integers; anything else is ignored).
    public static var current: SizeLimits {
        let env = ProcessInfo.processInfo.environment
        func value(_ name: String, _ fallback: Int) -> Int {
            guard let text = env[name], let v = Int(text.replacingOccurrences(of: "_", with: "")), v > 0 else { return fallback }
            return min(v, 1 << 56)  // products with element widths stay far from Int overflow
        }
        let d = defaults
        return SizeLimits(maxTensorElements: value("GIGTRACE_MAX_TENSOR_ELEMENTS", d.maxTensorElements),
                          maxImagePixels: value("GIGTRACE_MAX_IMAGE_PIXELS", d.maxImagePixels),
                          maxInflatedBytes: value("GIGTRACE_MAX_INFLATED_BYTES", d.maxInflatedBytes),
                          maxClasses: value("GIGTRACE_MAX_CLASSES", d.maxClasses))
    }

    /// The product of `extents`, or nil when one is negative or the product overflows `Int`.
    ///
    ///     SizeLimits.checkedProduct([1 << 32, 1 << 32])  // nil
    public static func checkedProduct(_ extents: [Int]) -> Int? {
        guard extents.allSatisfy({ $0 >= 0 }) else { return nil }
        if extents.contains(0) { return 0 }
        var n = 1
        for e in extents {
            guard e >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: e)
            guard !overflow else { return nil }
            n = p
        }
        return n
    }

    /// The element count of `shape` after checking every extent is non-negative, the product does
    /// not overflow and stays within `maxTensorElements`; the error is `what` followed by the
    /// problem ("tensor 'w' of shape […]: …"), so callers wrap it with their file.
    public func checkedElementCount(_ shape: [Int], what: String) throws -> Int {
        if let negative = shape.first(where: { $0 < 0 }) {
            throw InputError.invalidInput("\(what) has a negative dimension \(negative) in shape \(shape)")
        }
        guard let n = SizeLimits.checkedProduct(shape) else {
            throw InputError.invalidInput("\(what) of shape \(shape) has more elements than this machine can count")
        }
        guard n <= maxTensorElements else {
            throw InputError.invalidInput("\(what) of shape \(shape) has \(n) elements, above the limit of \(maxTensorElements) (raise it with GIGTRACE_MAX_TENSOR_ELEMENTS)")
        }
        return n
    }

    /// Checks an image's declared `width × height` before decoding it.
    public func checkImage(width: Int, height: Int, what: String) throws {
        guard width > 0, height > 0 else { throw InputError.invalidInput("\(what) declares an empty size \(width)×\(height)") }
        guard let n = SizeLimits.checkedProduct([width, height]), n <= maxImagePixels else {
            throw InputError.invalidInput("\(what) declares \(width)×\(height) pixels, above the limit of \(maxImagePixels) (raise it with GIGTRACE_MAX_IMAGE_PIXELS)")
        }
    }
}
