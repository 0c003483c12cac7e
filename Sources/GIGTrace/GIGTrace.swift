// GIGTrace: Generalized Integrated Gradients between concepts, the dataset-wide concept graph,
// queries and export. See ../shared/METHOD.md §4–6.
