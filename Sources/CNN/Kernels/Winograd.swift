import COpenBLAS
import CWinograd
import Core

/// Winograd F(2×2, 3×3) convolution (Lavin & Gray 2016) for 3×3, stride-1, undilated, ungrouped
/// convs with pads ≤ 1, on NCHW Float32.
///
/// Every 2×2 output tile is `Y = Aᵀ [ Σ_c U_c ⊙ V_c ] A` with the filter transform `U = G g Gᵀ` and
/// the input tile transform `V = Bᵀ d B` of the 4×4 input tile `d` (tiles 2 apart). The sum over
/// input channels, for each of the 16 tile elements ξ, is one GEMM `[M, C] × [C, T]` over `T` tiles
/// (cblas_sgemm): 16·M·C multiplications per tile instead of 36·M·C, i.e. 2.25× fewer.
/// The transforms work on 8 tiles of one tile row at a time, in C (`CWinograd`: one build per x86-64
/// vector width, picked on each call from the CPU's features).
enum Winograd {
    /// Convs with fewer input or output channels stay on im2col: their GEMMs are too thin to pay
    /// for the transforms.
    static let minChannels = 16
    /// Bytes of transformed input and product (`16·(C + M)·T` floats) per block of tiles: sized
    /// so the blocks stay in the last-level cache between the transforms and the GEMMs.
    static let blockBytes = 2 << 20
    /// Fewest tiles per block (the GEMMs' N), where the images have that many: every GEMM packs
    /// its `[M, C]` slice of the filter transform afresh, and for wide layers that costs as much as
    /// the product at small N (512 channels, N = 32 as the byte budget alone gives: 76 GFLOPS,
    /// half of it packing; N = 512: 146–182 GFLOPS; OpenBLAS 0.3.21 single-threaded, Zen 5).
    static let minTilesPerBlock = 512

    /// Whether a conv's weights suit the algorithm (shape-only; pads are checked per input in `accepts(_:)`).
    static func accepts(weight: Tensor, window w: Window2D, groups: Int) -> Bool {
        weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3 && groups == 1
            && w.kernelH == 3 && w.kernelW == 3 && w.strideH == 1 && w.strideW == 1 && w.dilationH == 1 && w.dilationW == 1
            && weight.shape[0] >= minChannels && weight.shape[1] >= minChannels
    }

    /// Whether the resolved pads for one input size are within the zero border the tiles read (≤ 1 each side).
    static func accepts(_ g: Convolution.Geometry) -> Bool {
        let pb = g.oh + 2 - g.h - g.pt, pr = g.ow + 2 - g.w - g.pl
        return (0...1).contains(g.pt) && (0...1).contains(g.pl) && (0...1).contains(pb) && (0...1).contains(pr)
            && g.oh > 0 && g.ow > 0
    }

    /// `U = G g Gᵀ` of weight `[M, C, 3, 3]` as `[16, M, C]` (row ξ = 4i + j of the 4×4 transform).
    /// Works on runs of 64 filters: their 16 transform elements go to a small `[16, 64]` buffer,
    /// whose rows are then copied out whole (a store to each of 16 rows `M·C` apart per filter was
    /// 12 % of a one-image `attribute --method gradient` run, mostly model load).
    static func filterTransform(_ weight: Tensor) -> [Float] {
        let m = weight.shape[0], c = weight.shape[1], mc = m * c, run = 64
        return Buffers.make(16 * mc) { u in
            weight.data.withUnsafeBufferPointer { w in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 16 * run) { block in
                    let b = block.baseAddress!
                    var first = 0
                    while first < mc {
                        let count = min(run, mc - first)
                        for k in 0..<count {
                            let g = w.baseAddress! + (first + k) * 9
                            // G g: 4×3 with rows (g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2); lane i of t_j is (G g)[i][j].
                            @inline(__always) func column(_ j: Int) -> SIMD4<Float> {
                                let a = g[j], b = g[3 + j], d = g[6 + j]
                                return SIMD4(a, 0.5 * (a + b + d), 0.5 * (a - b + d), d)
                            }
                            let t0 = column(0), t1 = column(1), t2 = column(2)
                            // (G g) Gᵀ: the same combination over the kernel columns; lane i of r_j is U[i][j].
                            let r = (t0, 0.5 * (t0 + t1 + t2), 0.5 * (t0 - t1 + t2), t2)
                            for i in 0..<4 {
                                b[(i * 4) * run + k] = r.0[i]
                                b[(i * 4 + 1) * run + k] = r.1[i]
                                b[(i * 4 + 2) * run + k] = r.2[i]
                                b[(i * 4 + 3) * run + k] = r.3[i]
                            }
                        }
                        for xi in 0..<16 {
                            (u.baseAddress! + xi * mc + first).initialize(from: b + xi * run, count: count)
                        }
                        first += count
                    }
                }
            }
        }
    }

    /// Tile grid and blocking of one convolution.
    struct Plan {
        let g: Convolution.Geometry
        /// Tile rows and columns per image (ragged last ones for odd output sizes).
        let th: Int, tw: Int
        /// Width of the zero-padded line buffers: the 8-tile groups of a row read `2·⌈tw/8⌉·8 + 2` columns.
        let lineWidth: Int
        /// Tile rows per block and the row stride (`T` of the block plus 7 spare columns) of the V and product matrices.
        let rowsPerBlock: Int, ld: Int

        /// Blocks of about `blockBytes`, but at least `minTiles` tiles, and at most the `rows`
        /// tile rows one worker has.
        init(_ g: Convolution.Geometry, blockBytes: Int, minTiles: Int = Winograd.minTilesPerBlock, rows: Int = .max) {
            self.g = g
            th = (g.oh + 1) / 2
            tw = (g.ow + 1) / 2
            lineWidth = 2 * ((tw + 7) / 8 * 8) + 2
            let tiles = max(tw, blockBytes / (16 * (g.c + g.m) * 4), minTiles)
            rowsPerBlock = max(1, min(tiles / tw, rows))
            ld = rowsPerBlock * tw + 7
        }

        /// Floats of one worker's V `[16, C, ld]` and product `[16, M, ld]`.
        var matrices: Int { 16 * (g.c + g.m) * ld }
        /// Floats of one worker's workspace: the matrices, then four line buffers.
        var workspace: Int { matrices + 4 * lineWidth }
    }

    /// `[N, M, oH, oW]` from `[N, C, H, W]` with the precomputed filter transform `u` (`[16, M, C]`)
    /// and `bias` `[M]` (or none); `fuseRelu` clamps at 0 after the bias. Images are split over `threads` workers (OpenBLAS
    /// single-threaded inside each) and processed in blocks of tile rows of about `blockBytes`.
    static func forward(filter u: [Float], bias: [Float]?, _ x: Tensor, _ g: Convolution.Geometry,
                        threads: Int, fuseRelu: Bool, blockBytes: Int = Winograd.blockBytes,
                        minTiles: Int = Winograd.minTilesPerBlock) -> Tensor {
        let n = x.shape[0]
        let outCount = n * g.m * g.p
        let workers = max(1, min(threads, n))
        let plan = Plan(g, blockBytes: blockBytes, minTiles: minTiles, rows: (n + workers - 1) / workers * ((g.oh + 1) / 2))
        let per = plan.workspace
        // Line buffers rely on their zero border (zeroed here); V/product columns past the block
        // are read but discarded, and each block's V is written by its input transform and its
        // product by beta-0 GEMMs before they are read.
        var workspace = [Float](unsafeUninitializedCapacity: per * workers) { buf, k in
            for w in 0..<workers {
                (buf.baseAddress! + w * per + plan.matrices).initialize(repeating: 0, count: per - plan.matrices)
            }
            k = per * workers
        }
        // Every output element is written by the output transform of its tile.
        var out = [Float](unsafeUninitializedCapacity: outCount) { _, k in k = outCount }
        let bias = bias ?? [Float](repeating: 0, count: g.m)
        x.data.withUnsafeBufferPointer { xs in
            u.withUnsafeBufferPointer { us in
                bias.withUnsafeBufferPointer { bs in
                    out.withUnsafeMutableBufferPointer { os in
                        workspace.withUnsafeMutableBufferPointer { ws in
                            let xp = SharedConstPointer(xs.baseAddress!), up = SharedConstPointer(us.baseAddress!)
                            let bp = SharedConstPointer(bs.baseAddress!)
                            let op = SharedPointer(os.baseAddress!), wp = SharedPointer(ws.baseAddress!)
                            if workers > 1 { BLASThreads.use(1) }
                            Parallel.chunks(n, threads: workers) { range, worker in
                                let rows = range.count * plan.th, first = range.lowerBound * plan.th
                                var lo = 0
                                while lo < rows {
                                    let hi = min(rows, lo + plan.rowsPerBlock)
                                    block((first + lo)..<(first + hi), plan, xp.base, up.base, bp.base, fuseRelu,
                                          wp.base + worker * per, op.base)
                                    lo = hi
                                }
                            }
                            if workers > 1 { BLASThreads.use(threads) }
                        }
                    }
                }
            }
        }
        return Tensor(uncheckedShape: [n, g.m, g.oh, g.ow], data: out)
    }

    /// One block of tile rows (global row `r` is image `r / th`, tile row `r % th`): input
    /// transform, 16 GEMMs, output transform into `out`.
    static func block(_ rows: Range<Int>, _ plan: Plan, _ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>,
                      _ bias: UnsafePointer<Float>, _ relu: Bool, _ work: UnsafeMutablePointer<Float>,
                      _ out: UnsafeMutablePointer<Float>) {
        let g = plan.g, ld = plan.ld, t = rows.count * plan.tw
        let v = work, prod = work + 16 * g.c * ld, lines = prod + 16 * g.m * ld
        for (k, r) in rows.enumerated() {
            inputTransform(image: x + (r / plan.th) * g.c * g.h * g.w, tileRow: r % plan.th, plan,
                           lines, v + k * plan.tw)
        }
        for xi in 0..<16 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(g.m), Int32(t), Int32(g.c), 1,
                        u + xi * g.m * g.c, Int32(g.c), v + xi * g.c * ld, Int32(ld),
                        0, prod + xi * g.m * ld, Int32(ld))
        }
        for (k, r) in rows.enumerated() {
            outputTransform(prod + k * plan.tw, tileRow: r % plan.th, plan, bias, relu,
                            out + (r / plan.th) * g.m * g.p)
        }
    }

    /// Writes `V = Bᵀ d B` of the tiles of one tile row of one image into `v` (`[16, C, ld]`,
    /// this row's first tile at column 0). Works on groups of 8 tiles; a ragged last group also
    /// writes up to 7 columns past the row, which belong to later rows (written afterwards) or
    /// to the spare columns of `ld`.
    @inline(__always)
    static func inputTransform(image: UnsafePointer<Float>, tileRow ty: Int, _ plan: Plan,
                               _ lines: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>) {
        let g = plan.g, ld = plan.ld, lw = plan.lineWidth, cs = g.c * ld
        for c in 0..<g.c {
            // The four input rows of this tile row, zero-padded: column pl + j holds input column j.
            for i in 0..<4 {
                let line = lines + i * lw + g.pl, r = 2 * ty + i - g.pt
                if r >= 0 && r < g.h {
                    line.update(from: image + (c * g.h + r) * g.w, count: g.w)
                } else {
                    line.update(repeating: 0, count: g.w)
                }
            }
            gig_winograd_input_channel(lines, lines + lw, lines + 2 * lw, lines + 3 * lw, v + c * ld, plan.tw, cs)
        }
    }

    /// Writes `Y = Aᵀ m A` (+ bias, ReLU) of one tile row from the products `prod` (`[16, M, ld]`,
    /// this row's first tile at column 0) into the image's output planes `out` (`[M, oH, oW]`),
    /// dropping the outputs of ragged tiles that fall outside.
    @inline(__always)
    static func outputTransform(_ prod: UnsafeMutablePointer<Float>, tileRow ty: Int, _ plan: Plan,
                                _ bias: UnsafePointer<Float>, _ relu: Bool, _ out: UnsafeMutablePointer<Float>) {
        let g = plan.g, ld = plan.ld
        gig_winograd_output_row(prod, ld, g.m * ld, g.m, plan.tw, bias, relu ? 1 : 0, out, g.oh, g.ow, 2 * ty)
    }
}
