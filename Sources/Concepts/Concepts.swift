// Concepts: concept vectors per layer (bisecting k-means, NMF, PCA) and sparse coding of PFVs.
// See ../shared/METHOD.md §3. Every heavy loop is a BLAS or LAPACK call.
@_exported import PFV
