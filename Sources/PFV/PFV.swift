// PFV: pointwise feature vectors, their contributions, and effective receptive fields (iERF).
// See METHOD.md §1–2. Built on the CNN engine, which this module re-exports.
