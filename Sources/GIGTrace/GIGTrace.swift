// GIGTrace: Generalized Integrated Gradients between concepts, the dataset-wide concept graph,
// queries and export. See docs/METHOD.md §4–6.
