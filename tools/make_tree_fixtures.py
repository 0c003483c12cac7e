#!/usr/bin/env python3
"""Tree-ensemble fixtures and a reference Generalized IG (Tests/Fixtures/trees/).

Trains small scikit-learn ensembles (GradientBoosting and RandomForest, classifier and regressor;
LightGBM through onnxmltools when it is installed) on tiny synthetic tabular data, exports them
with skl2onnx (zipmap off: plain tensors), and writes per model NAME:

  NAME.onnx                 the exported model (ai.onnx.ml TreeEnsembleClassifier/Regressor)
  NAME_inputs.npy           [M, F] float32 rows to evaluate
  NAME_ort_<output>.npy     onnxruntime's outputs on those rows (label as int64, scores float32)
  NAME_gig.json             the reference Generalized IG (below) for every row and target

The reference Generalized IG follows Merrill et al. (arXiv 1909.01869) as docs/METHOD.md §9 states
it, on the fitted library model itself (its own predict/predict_proba and its own split
thresholds, not the ONNX file): along γ(a) = x' + a(x − x') a tree ensemble is piecewise constant,
so all of f(x) − f(x') is jumps. Feature j crosses threshold θ at a = (θ − x'_j)/(x_j − x'_j). At
each crossing point a* the jump is f just after minus f just before (evaluated at the midpoints of
the neighbouring crossing-free segments); it goes to the feature that crosses there, or, when
several cross at the same a*, is split by the Shapley value with v(T) = f with the coordinates of
T taken from just after a*, the others from just before. The ONNX engine's implementation
(Swift) is checked against these numbers to 1e-6.

The CNN + tree head model (--cnn-head): the demo CNN (models/fashion-resnet) up to its pooled
features (`/head/Flatten_output_0`, 64 values), a GradientBoostingClassifier trained on those
features of 3,000 Fashion-MNIST training images, joined into one ONNX graph by hand; outputs the
head's probabilities and label, and onnxruntime's outputs on the first 8 test images.

Usage: python3 tools/make_tree_fixtures.py [--cnn-head]
Needs: numpy, scikit-learn, skl2onnx, onnxruntime, onnx (lightgbm + onnxmltools optional).
"""
import argparse
import gzip
import itertools
import json
import math
import os

import numpy as np
import onnx
import onnxruntime as ort
from skl2onnx import to_onnx
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "trees")
FEATURES = 4
ROWS = 10


# ---------------------------------------------------------------- data

def continuous_data(seed, classes):
    """300 rows of 4 standard-normal features; labels from a nonlinear rule (or a target)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, FEATURES)).astype(np.float32)
    score = x[:, 0] + 0.8 * x[:, 1] * x[:, 2] - 0.5 * x[:, 3] ** 2
    if classes == 0:
        return x, score + 0.1 * rng.normal(size=300)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return x, np.searchsorted(edges, score)


def quantized_data(seed):
    """Integer features 0..3: every feature has the thresholds 0.5, 1.5, 2.5, so from the zero
    baseline to a point with equal coordinates several features cross at the same a (ties)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 4, size=(300, FEATURES)).astype(np.float32)
    y = x[:, 0] * x[:, 1] - x[:, 2] + 0.5 * x[:, 3] + 0.1 * rng.normal(size=300)
    return x, y


# ---------------------------------------------------------------- split thresholds of the library models

def sklearn_thresholds(model):
    """feature -> sorted thresholds, from the fitted trees (tree_.feature / tree_.threshold)."""
    estimators = np.asarray(model.estimators_, dtype=object).ravel()
    out = {j: set() for j in range(FEATURES)}
    for est in estimators:
        t = est.tree_
        for f, th in zip(t.feature, t.threshold):
            if f >= 0:
                out[int(f)].add(float(th))
    return {j: sorted(v) for j, v in out.items()}


def lightgbm_thresholds(model):
    out = {j: set() for j in range(FEATURES)}

    def walk(node):
        if "split_feature" in node:
            assert node["decision_type"] == "<=", node["decision_type"]
            out[int(node["split_feature"])].add(float(node["threshold"]))
            walk(node["left_child"])
            walk(node["right_child"])

    for tree in model.booster_.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return {j: sorted(v) for j, v in out.items()}


# ---------------------------------------------------------------- the reference Generalized IG

def shapley(players, value):
    """Shapley values of `players` for the set function `value(frozenset)`."""
    n = len(players)
    phi = {}
    for i in players:
        others = [p for p in players if p != i]
        total = 0.0
        for k in range(len(others) + 1):
            w = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for t in itertools.combinations(others, k):
                t = frozenset(t)
                total += w * (value(t | {i}) - value(t))
        phi[i] = total
    return phi


def generalized_ig(f, thresholds, x, baseline):
    """Attributions [F] of f(x) − f(baseline) for a piecewise-constant f (METHOD §9).

    f maps [k, F] float64 points to [k] outputs; thresholds maps feature -> its split thresholds.
    Returns (attributions, number of crossing points).
    """
    x = x.astype(np.float64)
    b = baseline.astype(np.float64)
    d = x - b
    crossings = {}  # a -> features crossing there
    for j in range(len(x)):
        if d[j] == 0:
            continue
        for th in thresholds[j]:
            a = (th - b[j]) / d[j]
            if 0 <= a <= 1:
                key = round(a, 12)
                crossings.setdefault(key, set()).add(j)
    points = sorted(crossings)

    def gamma(a):
        return b + a * d

    attributions = np.zeros(len(x))
    for k, a in enumerate(points):
        lo = points[k - 1] if k > 0 else 0.0
        hi = points[k + 1] if k + 1 < len(points) else 1.0
        before = b if a == 0 else gamma((lo + a) / 2)
        after = x if a == 1 else gamma((a + hi) / 2)
        group = sorted(crossings[a])

        def value(t, before=before, after=after):
            z = before.copy()
            for j in t:
                z[j] = after[j]
            return f(z[None, :])[0]

        if len(group) == 1:
            attributions[group[0]] += f(after[None, :])[0] - f(before[None, :])[0]
        else:
            for j, v in shapley(group, value).items():
                attributions[j] += v
    return attributions, len(points)


# ---------------------------------------------------------------- models

def export(model, x, name, zipmap_off):
    options = {id(model): {"zipmap": False}} if zipmap_off else None
    onx = to_onnx(model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(onx, path)
    return path


def export_lightgbm(model, name):
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType
    onx = convert_lightgbm(model, initial_types=[("X", FloatTensorType([None, FEATURES]))],
                           zipmap=False, target_opset=15)
    path = os.path.join(OUT, name + ".onnx")
    onnx.save(onx, path)
    return path


def run_ort(path, rows):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {sess.get_inputs()[0].name: rows})))


def write_model(name, path, rows, baseline, f_targets, thresholds, manifest, extra=None):
    np.save(os.path.join(OUT, name + "_inputs.npy"), rows)
    outputs = run_ort(path, rows)
    for out_name, v in outputs.items():
        np.save(os.path.join(OUT, f"{name}_ort_{out_name}.npy"), v)
    targets = []
    for target in f_targets:
        attributions, counts, deltas = [], [], []
        for r in rows:
            a, n = generalized_ig(target["f"], thresholds, r, baseline)
            attributions.append(a.tolist())
            counts.append(n)
            deltas.append(float(target["f"](r[None, :].astype(np.float64))[0]
                                - target["f"](baseline[None, :].astype(np.float64))[0]))
        targets.append({"output": target["output"], "index": target["index"],
                        "attributions": attributions, "crossings": counts, "delta": deltas})
    gig = {"baseline": baseline.tolist(), "targets": targets}
    with open(os.path.join(OUT, name + "_gig.json"), "w") as fh:
        json.dump(gig, fh)
    entry = {"model": name + ".onnx", "outputs": sorted(outputs), "rows": len(rows)}
    entry.update(extra or {})
    manifest[name] = entry
    worst = max(abs(sum(a) - d) for t in targets for a, d in zip(t["attributions"], t["delta"]))
    print(f"{name}: {len(rows)} rows, ort outputs {sorted(outputs)}, "
          f"reference completeness error max {worst:.2e}, crossings max "
          f"{max(max(t['crossings']) for t in targets)}")


def tabular_models(manifest):
    as32 = lambda z: np.asarray(z, dtype=np.float32)  # noqa: E731  (the libraries predict in float32)

    specs = [
        ("gb_binary", GradientBoostingClassifier(n_estimators=8, max_depth=3, random_state=0), continuous_data(1, 2)),
        ("gb_multi", GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0), continuous_data(2, 3)),
        ("rf_binary", RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0), continuous_data(3, 2)),
        ("rf_multi", RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0), continuous_data(4, 3)),
        ("gb_reg", GradientBoostingRegressor(n_estimators=8, max_depth=3, random_state=0), continuous_data(5, 0)),
        ("rf_reg", RandomForestRegressor(n_estimators=4, max_depth=3, random_state=0), continuous_data(6, 0)),
        ("gb_quantized", GradientBoostingRegressor(n_estimators=6, max_depth=3, random_state=0), quantized_data(7)),
    ]
    for name, model, (x, y) in specs:
        model.fit(x, y)
        classifier = hasattr(model, "predict_proba")
        path = export(model, x, name, zipmap_off=classifier)
        if name == "gb_quantized":
            rows = np.array([[3, 3, 3, 3], [2, 2, 0, 3], [1, 3, 3, 1], [3, 0, 3, 3]], dtype=np.float32)
            baseline = np.zeros(FEATURES, dtype=np.float32)
        else:
            rows = x[-ROWS:]
            baseline = x[:-ROWS].mean(axis=0).astype(np.float32)
        if classifier:
            classes = len(model.classes_)
            targets = [{"output": "probabilities", "index": c,
                        "f": (lambda z, c=c: model.predict_proba(as32(z))[:, c].astype(np.float64))}
                       for c in range(classes)]
        else:
            targets = [{"output": "variable", "index": 0,
                        "f": (lambda z: model.predict(as32(z)).astype(np.float64))}]
        write_model(name, path, rows, baseline, targets, sklearn_thresholds(model), manifest,
                    {"library": "scikit-learn", "estimator": type(model).__name__})

    try:
        import lightgbm
        import onnxmltools  # noqa: F401
    except ImportError:
        print("lightgbm/onnxmltools not installed: LightGBM fixture skipped")
        return
    x, y = continuous_data(8, 2)
    model = lightgbm.LGBMClassifier(n_estimators=6, num_leaves=4, min_child_samples=5, verbose=-1, random_state=0)
    model.fit(x, y)
    path = export_lightgbm(model, "lgbm_binary")
    rows = x[-ROWS:]
    baseline = x[:-ROWS].mean(axis=0).astype(np.float32)
    targets = [{"output": "probabilities", "index": c,
                "f": (lambda z, c=c: model.predict_proba(as32(z))[:, c].astype(np.float64))} for c in range(2)]
    write_model("lgbm_binary", path, rows, baseline, targets, lightgbm_thresholds(model), manifest,
                {"library": "lightgbm", "estimator": "LGBMClassifier"})


# ---------------------------------------------------------------- CNN + tree head

def read_idx(path):
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def cnn_head(manifest):
    folder = "/usr/share/datasets/fashion-mnist"
    cnn_path = os.path.join(ROOT, "models", "fashion-resnet", "model.onnx")
    feature_name = "/head/Flatten_output_0"

    def normalise(images):
        return ((images.astype(np.float32) / 255 - 0.286) / 0.353)[:, None, :, :]

    cnn = onnx.load(cnn_path)
    # The CNN with its pooled features as an extra output, to compute the head's training data.
    probe = onnx.load(cnn_path)
    probe.graph.output.append(onnx.helper.make_tensor_value_info(feature_name, onnx.TensorProto.FLOAT, ["batch", 64]))
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    train = normalise(read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"))[:3000])
    labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"))[:3000]
    features = np.concatenate([sess.run([feature_name], {"input": train[i:i + 500]})[0]
                               for i in range(0, len(train), 500)])
    head = GradientBoostingClassifier(n_estimators=6, max_depth=2, learning_rate=0.3, random_state=0)
    head.fit(features, labels)
    print(f"cnn_head: head training accuracy {head.score(features, labels):.3f}")
    head_onnx = to_onnx(head, features[:1], options={id(head): {"zipmap": False}},
                        target_opset={"": 17, "ai.onnx.ml": 3})

    # Join by hand: the CNN's nodes up to the pooled features (the Gemm head dropped), then the
    # tree head reading them; outputs: the head's probabilities, its label, and the CNN's logits.
    head_input = head_onnx.graph.input[0].name
    graph = cnn.graph
    nodes = list(graph.node)
    for n in head_onnx.graph.node:
        n = onnx.NodeProto.FromString(n.SerializeToString())
        n.input[:] = [feature_name if i == head_input else i for i in n.input]
        n.name = "head_" + (n.name or n.op_type)
        nodes.append(n)
    initializers = list(graph.initializer) + list(head_onnx.graph.initializer)
    # The class scores first: GIGTrace traces (and attributes) the first graph output.
    head_outputs = sorted(head_onnx.graph.output, key=lambda o: o.name != "probabilities")
    outputs = head_outputs + list(graph.output)
    joined = onnx.helper.make_graph(nodes, "fashion_resnet_tree_head", list(graph.input), outputs, initializers)
    model = onnx.helper.make_model(joined, opset_imports=[onnx.helper.make_opsetid("", 17),
                                                          onnx.helper.make_opsetid("ai.onnx.ml", 1)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(OUT, "cnn_tree_head.onnx")
    onnx.save(model, path)
    test = normalise(read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"))[:8])
    np.save(os.path.join(OUT, "cnn_tree_head_inputs.npy"), test)
    outs = run_ort(path, test)
    for k, v in outs.items():
        np.save(os.path.join(OUT, f"cnn_tree_head_ort_{k}.npy"), v)
    manifest["cnn_tree_head"] = {"model": "cnn_tree_head.onnx", "outputs": sorted(outs), "rows": 8,
                                 "library": "scikit-learn", "estimator": "GradientBoostingClassifier",
                                 "head_input": feature_name}
    print(f"cnn_tree_head: outputs {sorted(outs)}, labels {outs['label'].tolist()}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cnn-head", action="store_true", help="also build the CNN + tree head model")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    manifest_path = os.path.join(OUT, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    tabular_models(manifest)
    if args.cnn_head:
        cnn_head(manifest)
    import sklearn
    import skl2onnx
    manifest["_versions"] = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                             "onnxruntime": ort.__version__, "onnx": onnx.__version__}
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
