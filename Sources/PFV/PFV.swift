// PFV: pointwise feature vectors, their contributions, and effective receptive fields (iERF).
// See ../shared/METHOD.md §1–2. Built on the CNN engine.
@_exported import CNN
