// Concepts: concept vectors per layer (bisecting k-means, NMF, PCA) and sparse coding of PFVs.
// See docs/METHOD.md §3. Every heavy loop is a BLAS or LAPACK call.
import Core

/// A dense Float32 matrix in row-major order: `rows` PFVs (or concepts) of `cols` channels.
///
/// A value type (copy-on-write `[Float]`); `data.count == rows * cols` always holds.
public struct Matrix: Sendable, Equatable, Codable {
    /// Number of rows (samples, concepts).
    public var rows: Int
    /// Number of columns (channels).
    public var cols: Int
    /// The elements, row after row.
    public var data: [Float]

    /// Wraps `data` as `rows × cols`; throws when the element count does not match.
    public init(rows: Int, cols: Int, data: [Float]) throws {
        guard rows >= 0, cols >= 0, rows * cols == data.count else {
            throw ConceptError.shapeMismatch("matrix \(rows)×\(cols) needs \(max(0, rows * cols)) elements, got \(data.count)")
        }
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// A `rows × cols` matrix filled with `value`.
    public init(rows: Int, cols: Int, repeating value: Float = 0) {
        self.rows = rows
        self.cols = cols
        self.data = [Float](repeating: value, count: rows * cols)
    }

    /// Wraps `data` without checking; the caller has just computed a buffer of `rows * cols`.
    init(uncheckedRows rows: Int, cols: Int, data: [Float]) {
        assert(rows * cols == data.count)
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// The rank-2 tensor `[N, C]` as a matrix; throws for any other rank.
    public init(_ tensor: Tensor) throws {
        guard tensor.rank == 2 else {
            throw ConceptError.shapeMismatch("expected PFVs of shape [N, C], got \(tensor.shape)")
        }
        self.init(uncheckedRows: tensor.shape[0], cols: tensor.shape[1], data: tensor.data)
    }

    /// The same elements as a `[rows, cols]` tensor.
    public var tensor: Tensor { Tensor(uncheckedShape: [rows, cols], data: data) }

    /// The `rows × rows` identity.
    public static func identity(_ n: Int) -> Matrix {
        var m = Matrix(rows: n, cols: n)
        for i in 0..<n { m.data[i * n + i] = 1 }
        return m
    }

    /// Element at row `r`, column `c`.
    public subscript(r: Int, c: Int) -> Float {
        get { data[r * cols + c] }
        set { data[r * cols + c] = newValue }
    }

    /// Row `r` as an array.
    public func row(_ r: Int) -> [Float] { Array(data[(r * cols)..<((r + 1) * cols)]) }

    /// The transpose (`cols × rows`).
    public var transposed: Matrix {
        var t = Matrix(rows: cols, cols: rows)
        for r in 0..<rows { for c in 0..<cols { t.data[c * rows + r] = data[r * cols + c] } }
        return t
    }
}
