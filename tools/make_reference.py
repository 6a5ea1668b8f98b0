#!/usr/bin/env python3
"""Write a krun reference folder for a Keras model (what `krun check` reads).

Usage:
    python tools/make_reference.py MODEL OUTDIR [--input X.npy ...] [--seed N]
        [--batch N] [--convert TFJS_OUTDIR] [--keras2]

MODEL is a `.keras` file, a legacy `.h5` file or a SavedModel folder. The
producer is read from the file (`keras_version` in the h5 root attributes or in
the `.keras` metadata.json): 2.x is loaded with tf-keras (tf_keras), 3.x with
Keras 3; a SavedModel folder always with tf-keras; --keras2 forces tf-keras.

OUTDIR receives
  input_<i>.npy, expected_<i>.npy   model inputs / outputs in model order
  layers/<name>[@<k>][#<j>].npy     output j (> 0) of call k (> 0) of every
                                    layer, op node and nested-model layer
  weights/<name>.npy                every weight under its Keras name
  meta.json                         producer, names, layers in execution order
A `/` in a name is written as `__`. With --convert the tensorflowjs converter
also writes model.json + shards to TFJS_OUTDIR. Environment: tools/requirements.txt.
"""

import argparse
import json
import os
import sys
import types
import zipfile

import numpy as np

UNKNOWN_DIM = 8      # size used for unknown non-batch dimensions of random inputs


def keras_major(path):
    """2 or 3: the Keras version that wrote MODEL (before importing anything)."""
    if os.path.isdir(path):
        return 2                      # SavedModel: only tf-keras can load it as a model
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            version = json.loads(z.read("metadata.json")).get("keras_version", "3")
    else:
        import h5py
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version", "2")
            version = version.decode() if isinstance(version, bytes) else str(version)
    return 3 if version.startswith("3") else 2


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help=".keras file, .h5 file or SavedModel folder")
    ap.add_argument("outdir")
    ap.add_argument("--input", nargs="+", default=None, metavar="X.npy",
                    help="one .npy per model input, in model input order")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    ap.add_argument("--batch", type=int, default=1, help="batch size of the random inputs")
    ap.add_argument("--convert", metavar="TFJS_OUTDIR",
                    help="also run tensorflowjs_converter on MODEL into this folder")
    ap.add_argument("--keras2", action="store_true", help="load with tf-keras (Keras 2)")
    return ap.parse_args(argv)


ARGS = parse_args(sys.argv[1:])
KERAS2 = ARGS.keras2 or keras_major(ARGS.model) == 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if KERAS2:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
import tensorflow as tf  # noqa: E402
if KERAS2:
    import tf_keras as K  # noqa: E402
    PRODUCER = "tf-keras " + K.__version__
else:
    import keras as K  # noqa: E402
    PRODUCER = "keras " + K.__version__


def file_name(name):
    return name.replace("/", "__")


def graph_of(layer):
    """The functional graph (has _nodes_by_depth) of a model layer, else None."""
    if not isinstance(layer, K.Model):
        return None
    if KERAS2:
        return layer if layer._is_graph_network else None
    graph = getattr(layer, "_functional", None) or layer    # Keras 3 Sequential
    return graph if hasattr(graph, "_nodes_by_depth") else None


def nodes_in_order(graph):
    """(layer or operation, node) in the order Keras' functional executor runs them."""
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            yield (node.layer if KERAS2 else node.operation), node


def single(xs):
    return xs[0] if len(xs) == 1 else xs


def collect(model, where):
    """[(layer, containing model path, [output tensors])] of every call in
    `model`'s graph, in execution order; the layers of a nested model are
    computed by calling a probe of its inner graph on the outer call's inputs,
    so they appear once per call of the nested model."""
    items = []
    for layer, node in nodes_in_order(graph_of(model)):
        if not node.is_input and graph_of(layer) is not None:
            sub = collect(layer, where + [layer.name])
            probe = K.Model(single(list(layer.inputs)), [t for _, _, ts in sub for t in ts])
            args = node.call_args[0] if KERAS2 else node.arguments.args[0]
            got = iter(tf.nest.flatten(probe(single(tf.nest.flatten(args)))))
            items += [(sl, sw, [next(got) for _ in ts]) for sl, sw, ts in sub]
        items.append((layer, where, tf.nest.flatten(node.outputs)))
    return items


def input_tensors(node):
    return [] if node.is_input else tf.nest.flatten(node.input_tensors)


def random_inputs(model, rng):
    """Seeded inputs of the model's shapes and dtypes (ints feeding an Embedding
    in [0, input_dim), other ints in [0, 10), floats uniform in [-1, 1])."""
    xs = []
    for t in model.inputs:
        shape = [ARGS.batch if i == 0 and d is None else (UNKNOWN_DIM if d is None else int(d))
                 for i, d in enumerate(tuple(t.shape))]
        dtype = np.dtype(tf.as_dtype(t.dtype).as_numpy_dtype)
        if np.issubdtype(dtype, np.floating):
            xs.append(rng.uniform(-1.0, 1.0, shape).astype(dtype))
            continue
        dims = [layer.input_dim for layer, node in nodes_in_order(graph_of(model))
                if type(layer).__name__ == "Embedding"
                and any(u is t for u in input_tensors(node))]
        xs.append(rng.integers(0, min(dims) if dims else 10, shape).astype(dtype))
    return xs


def load_inputs(model):
    if ARGS.input is None:
        return random_inputs(model, np.random.default_rng(ARGS.seed))
    if len(ARGS.input) != len(model.inputs):
        sys.exit("make_reference: the model has %d inputs, %d --input files given"
                 % (len(model.inputs), len(ARGS.input)))
    return [np.load(p) for p in ARGS.input]


def weight_name(v):
    if KERAS2:
        return v.name[:-2] if v.name.endswith(":0") else v.name
    return v.path


def save(path, array):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, np.ascontiguousarray(array))


def convert(model_path, out_dir):
    """Run the tensorflowjs converter with the input format that keeps the weights."""
    try:
        import tensorflow_decision_forests  # noqa: F401
    except Exception:  # pylint: disable=broad-except
        # tensorflowjs imports it at import time; the Keras paths never use it
        sys.modules["tensorflow_decision_forests"] = types.ModuleType(
            "tensorflow_decision_forests")
    from tensorflowjs.converters import converter
    if os.path.isdir(model_path):
        fmt = "keras_saved_model"
    elif zipfile.is_zipfile(model_path):
        fmt = "keras_keras"   # not keras_saved_model: that path loses the weights (tfjs #8266)
    else:
        fmt = "keras"
    converter.convert(["--input_format", fmt, "--output_format", "tfjs_layers_model",
                       model_path, out_dir])
    return fmt


def main():
    model = K.models.load_model(ARGS.model, compile=False)
    if graph_of(model) is None:
        sys.exit("make_reference: %s is not a Functional or Sequential model" % ARGS.model)
    out = ARGS.outdir
    xs = load_inputs(model)
    expected = [np.asarray(y) for y in tf.nest.flatten(model(single(xs), training=False))]
    for i, x in enumerate(xs):
        save(os.path.join(out, "input_%d.npy" % i), x)
    for i, y in enumerate(expected):
        save(os.path.join(out, "expected_%d.npy" % i), y)

    # every call's outputs, computed by one probe model over all of them
    items = collect(model, [model.name])
    probe = K.Model(single(list(model.inputs)), [t for _, _, ts in items for t in ts])
    values = iter(tf.nest.flatten(probe(single(xs), training=False)))
    calls, layers, execution, by_tensor = {}, [], [], {}
    for layer, where, tensors in items:
        k = calls.get(layer.name, 0)
        calls[layer.name] = k + 1
        if k == 0:
            own = [] if graph_of(layer) else getattr(layer, "weights", [])
            layers.append({"name": layer.name, "class": type(layer).__name__,
                           "model": "/".join(where),
                           "weights": [weight_name(v) for v in own]})
        stem = file_name(layer.name) + ("@%d" % k if k else "")
        execution.append(stem)
        for j, t in enumerate(tensors):
            fname = stem + ("#%d" % j if j else "")
            save(os.path.join(out, "layers", fname + ".npy"), np.asarray(next(values)))
            by_tensor[id(t)] = fname
    for entry in layers:
        entry["calls"] = calls[entry["name"]]

    # self-check: expected_<i> must be the output of the layer call that produces it
    outputs = []
    for i, (t, y) in enumerate(zip(model.outputs, expected)):
        fname = by_tensor[id(t)]
        ref = np.load(os.path.join(out, "layers", fname + ".npy"))
        if ref.shape != y.shape or not np.allclose(ref, y, rtol=1e-5, atol=1e-6):
            sys.exit("make_reference: expected_%d differs from layers/%s.npy" % (i, fname))
        outputs.append({"name": fname, "shape": list(y.shape), "dtype": str(y.dtype)})

    seen, weights = set(), []
    for v in model.weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        name = weight_name(v)
        if name in weights:
            sys.exit("make_reference: two weights are named %s" % name)
        weights.append(name)
        save(os.path.join(out, "weights", file_name(name) + ".npy"), np.asarray(v.numpy()))

    meta = {
        "producer": {"keras": PRODUCER, "tensorflow": tf.__version__},
        "source": os.path.basename(os.path.normpath(ARGS.model)),
        "model": model.name,
        "seed": None if ARGS.input else ARGS.seed,
        "inputs": [{"name": t._keras_history[0].name, "shape": list(x.shape),
                    "dtype": str(x.dtype)} for t, x in zip(model.inputs, xs)],
        "outputs": outputs,
        "layers": layers,
        "execution": execution,
        "weights": weights,
    }
    if ARGS.convert:
        meta["converted"] = {"input_format": convert(ARGS.model, ARGS.convert)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print("make_reference: %s (%s): %d inputs, %d outputs, %d layer calls, %d weights -> %s"
          % (model.name, PRODUCER, len(xs), len(outputs), len(execution), len(weights), out))


if __name__ == "__main__":
    main()
