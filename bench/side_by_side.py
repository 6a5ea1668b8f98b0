#!/usr/bin/env python3
"""Side-by-side speed of krun and the runtimes a Keras user would otherwise
pick, measured in one run on one machine.

Usage (bench/side_by_side.sh creates the Python and Node environments):

    bench/side_by_side.sh [KRUN] [options]
    python bench/side_by_side.py --krun build/krun [--only krun ...] [--cases NAME ...]

Every model is built once with tf-keras from seeded random weights and saved
in the cache folder (default build/sbs/models/), then converted from that same
Keras model: tensorflowjs layers model (krun and TF.js), ONNX (tf2onnx) and
TFLite (tf.lite.TFLiteConverter, float32, one
file per batch size). A later run only re-times; delete
the cache folder's models/ to rebuild.

Runtimes, each in its own process per thread count (so that thread settings
are made before the runtime starts), all timed in process with the model
already loaded:
  krun         `krun MODEL.json INPUT.npy --bench N --threads T`
  TensorFlow   the tf-keras model called under tf.function; intra-op threads T,
               inter-op threads 1
  ONNX Runtime CPU execution provider, intra-op threads T, sequential
  LiteRT       ai-edge-litert Interpreter (XNNPACK), num_threads T
  TF.js        @tensorflow/tfjs with the wasm backend in Node (bench/tfjs)

Before timing, each runtime's output on the case's input is compared with what
Keras computed; a runtime off by more than MAX_ABS_ERROR is flagged in the
table and left out of the krun / best-other ratio.

Writes OUT/side_by_side.md (tables), OUT/side_by_side.png (chart) and
OUT/side_by_side.json (raw numbers); with --only, the other runtimes' numbers
are kept from the existing JSON.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOOLS = os.path.join(REPO, "tools")

MAX_ABS_ERROR = 1e-3
THREADS = (1, 2)

# name -> how it is built; "range" is the input's uniform range
MODELS = {
    "mobilenet_v2": dict(app="MobileNetV2", shape=(224, 224, 3), range=(-1, 1)),
    "mobilenet_v3_large": dict(app="MobileNetV3Large", shape=(224, 224, 3), range=(0, 255)),
    "mobilenet_v3_small": dict(app="MobileNetV3Small", shape=(224, 224, 3), range=(0, 255)),
    "mlp": dict(shape=(784,), range=(0, 1),
                desc="Dense 784-256-128-10, relu/relu/softmax"),
    "gru": dict(shape=(50, 32), range=(-1, 1),
                desc="GRU(64, reset_after=True) over 50 steps of 32 features"),
    "conv1d_gru": dict(shape=(100, 16), range=(-1, 1),
                       desc="Conv1D(32, 5, relu) on 100x16, then GRU(64)"),
}

# Timing policy: warm up for warmup_runs runs and at least warmup_s seconds,
# then time single runs until target_runs runs or budget_s seconds have passed
# (but at least MIN_RUNS runs).
MIN_RUNS = 3
BIG = dict(target_runs=50, budget_s=5.0, warmup_runs=3, warmup_s=1.0)
SMALL = dict(target_runs=1000, budget_s=2.0, warmup_runs=50, warmup_s=0.5)

# case -> (model, batch, timing policy)
CASES = {
    "mobilenet_v2": ("mobilenet_v2", 1, BIG),
    "mobilenet_v2_b8": ("mobilenet_v2", 8, BIG),
    "mobilenet_v2_b32": ("mobilenet_v2", 32, BIG),
    "mobilenet_v3_large": ("mobilenet_v3_large", 1, BIG),
    "mobilenet_v3_small": ("mobilenet_v3_small", 1, BIG),
    "mlp": ("mlp", 1, SMALL),
    "gru": ("gru", 1, SMALL),
    "conv1d_gru": ("conv1d_gru", 1, SMALL),
}

RUNTIMES = ["krun", "tensorflow", "onnxruntime", "litert", "tfjs"]
TURN_ORDER = ["krun", "litert", "onnxruntime", "tensorflow", "tfjs"]  # see the rounds in main()
RUNTIME_TITLES = {
    "krun": "krun",
    "tensorflow": "TensorFlow",
    "onnxruntime": "ONNX Runtime",
    "litert": "LiteRT",
    "tfjs": "TF.js wasm",
}

# bump when the models or their conversion change: the cache is rebuilt
PREPARED_STAMP = "sbs-models-1"


def model_dir(cache, model):
    return os.path.join(cache, "models", model)


def input_path(cache, case):
    model, batch, _ = CASES[case]
    return os.path.join(model_dir(cache, model), "input_b%d.npy" % batch)


def expected_path(cache, case):
    model, batch, _ = CASES[case]
    return os.path.join(model_dir(cache, model), "expected_b%d.npy" % batch)


def compare(output, expected):
    """(max abs error, ok) of one output against what Keras computed."""
    output = np.asarray(output, np.float32)
    if output.shape != expected.shape:
        return float("inf"), False
    err = float(np.max(np.abs(output.astype(np.float64) - expected)))
    return err, bool(err <= MAX_ABS_ERROR)


def time_runs(run, policy):
    """Median and min of single runs in ms (policy: see BIG / SMALL)."""
    start = time.perf_counter()
    done = 0
    while done < policy["warmup_runs"] or time.perf_counter() - start < policy["warmup_s"]:
        run()
        done += 1
    times = []
    start = time.perf_counter()
    while len(times) < MIN_RUNS or (len(times) < policy["target_runs"] and
                                    time.perf_counter() - start < policy["budget_s"]):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return dict(median_ms=1e3 * float(np.median(times)), min_ms=1e3 * min(times),
                runs=len(times))


# ----------------------------------------------------------------------------
# building and converting the models (one tf-keras process)
# ----------------------------------------------------------------------------

def build_keras_model(K, name):
    spec = MODELS[name]
    if "app" in spec:
        return getattr(K.applications, spec["app"])(
            input_shape=spec["shape"], weights=None, classes=1000)
    L = K.layers
    inp = K.Input(spec["shape"])
    if name == "mlp":
        h = L.Dense(256, activation="relu")(inp)
        h = L.Dense(128, activation="relu")(h)
        out = L.Dense(10, activation="softmax")(h)
    elif name == "gru":
        out = L.GRU(64, reset_after=True)(inp)
    elif name == "conv1d_gru":
        h = L.Conv1D(32, 5, activation="relu")(inp)
        out = L.GRU(64)(h)
    else:
        raise ValueError(name)
    return K.Model(inp, out, name=name)


def batches_of(model):
    return sorted(b for m, b, _ in CASES.values() if m == model)


def is_prepared(cache, model):
    stamp = os.path.join(model_dir(cache, model), "prepared.json")
    if not os.path.isfile(stamp):
        return False
    with open(stamp) as f:
        return json.load(f).get("stamp") == PREPARED_STAMP


def prepare_models(cache, models):
    """Build, randomise, save and convert every model not yet in the cache."""
    # make_fixtures sets up the tf-keras + tensorflowjs stack (with its
    # tensorflow_decision_forests placeholder), the seeded weight
    # initialisation and the converter patch tf-keras MobileNetV3 needs.
    sys.path.insert(0, TOOLS)
    import make_fixtures as mf
    mf._import_stack("tfk")
    K, tf = mf.K, mf.tf
    import tf2onnx
    from tensorflowjs.converters import converter

    for name in models:
        d = model_dir(cache, name)
        stamp = os.path.join(d, "prepared.json")
        t0 = time.time()
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        spec = MODELS[name]
        K.backend.clear_session()
        seed = mf.seed_of("side_by_side_" + name)
        tf.random.set_seed(seed)
        rng = np.random.default_rng(seed)
        model = build_keras_model(K, name)
        lo, hi = spec["range"]
        inputs = {b: np.random.default_rng(seed + b).uniform(lo, hi, (b,) + spec["shape"])
                  .astype(np.float32) for b in batches_of(name)}
        if "app" in spec:
            mf.randomize_weights(model, rng, "he")
            mf.calibrate_mobilenet(model, [inputs[1]], rng)
        else:
            mf.randomize_weights(model, rng, "uniform")

        h5 = os.path.join(d, "model.h5")
        model.save(h5, save_format="h5")
        patch = "layer_names_walk" if spec.get("app", "").startswith("MobileNetV3") else None
        with mf.converter_patch(patch):
            converter.convert(["--input_format", "keras", "--output_format",
                               "tfjs_layers_model", h5, os.path.join(d, "tfjs")])

        signature = [tf.TensorSpec((None,) + spec["shape"], tf.float32, name="input")]
        onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=signature,
                                                  output_path=os.path.join(d, "model.onnx"))
        opset = [o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx")][0]

        for b, x in inputs.items():
            # a static batch size: the GRU's tensor lists only lower to
            # TFLite builtins with static shapes
            call = tf.function(lambda t: model(t, training=False))
            fn = call.get_concrete_function(tf.TensorSpec(x.shape, tf.float32))
            tflite = tf.lite.TFLiteConverter.from_concrete_functions([fn], model).convert()
            with open(os.path.join(d, "model_b%d.tflite" % b), "wb") as f:
                f.write(tflite)
            np.save(os.path.join(d, "input_b%d.npy" % b), x)
            y = np.asarray(model(x, training=False), np.float32)
            np.save(os.path.join(d, "expected_b%d.npy" % b), y)
        with open(stamp, "w") as f:
            json.dump(dict(stamp=PREPARED_STAMP, keras=mf.PRODUCER_STR,
                           tensorflowjs=mf.CONVERTER_STR, tf2onnx=tf2onnx.__version__,
                           onnx_opset=opset, tensorflow=tf.__version__,
                           params=int(model.count_params()), seed=seed), f, indent=1)
        print("prepared %-20s %6.1f s  %d parameters" % (name, time.time() - t0,
                                                        model.count_params()), flush=True)


# ----------------------------------------------------------------------------
# Python runtimes (one process per runtime and thread count)
# ----------------------------------------------------------------------------

def tensorflow_runner(threads):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.get_logger().setLevel("ERROR")
    import tf_keras
    versions = {"tensorflow": tf.__version__, "tf_keras": tf_keras.__version__}

    def load(cache, model):
        keras_model = tf_keras.models.load_model(
            os.path.join(model_dir(cache, model), "model.h5"), compile=False)
        call = tf.function(lambda x: keras_model(x, training=False))

        def make_run(x):
            xt = tf.constant(x)
            return lambda: call(xt).numpy()
        return make_run
    return versions, load


def onnxruntime_runner(threads):
    import onnxruntime as ort
    versions = {"onnxruntime": ort.__version__}

    def load(cache, model):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(os.path.join(model_dir(cache, model), "model.onnx"),
                                       so, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def make_run(x):
            return lambda: session.run(None, {name: x})[0]
        return make_run
    return versions, load


def litert_runner(threads):
    from ai_edge_litert.interpreter import Interpreter
    from importlib.metadata import version
    versions = {"ai_edge_litert": version("ai-edge-litert")}

    def load(cache, model):
        def make_run(x):
            # one model per batch size, converted with that static batch;
            # XNNPACK is the interpreter's default delegate
            path = os.path.join(model_dir(cache, model), "model_b%d.tflite" % x.shape[0])
            interp = Interpreter(model_path=path, num_threads=threads)
            inp = interp.get_input_details()[0]
            interp.allocate_tensors()
            out = interp.get_output_details()[0]["index"]

            def run():
                interp.set_tensor(inp["index"], x)
                interp.invoke()
                return interp.get_tensor(out)
            return run
        return make_run
    return versions, load


PY_RUNNERS = {"tensorflow": tensorflow_runner, "onnxruntime": onnxruntime_runner,
              "litert": litert_runner}


def python_worker(runtime, threads, cache, cases, result_path):
    versions, load = PY_RUNNERS[runtime](threads)
    results = []
    loaded = {}
    for case in cases:
        model, _, policy = CASES[case]
        row = dict(case=case, runtime=runtime, threads=threads)
        try:
            t0 = time.perf_counter()
            if model not in loaded:
                loaded[model] = load(cache, model)
            x = np.load(input_path(cache, case))
            run = loaded[model](x)
            row["load_ms"] = 1e3 * (time.perf_counter() - t0)
            expected = np.load(expected_path(cache, case))
            row["max_abs_error"], row["agrees"] = compare(run(), expected)
            row.update(time_runs(run, policy))
        except Exception as e:  # pylint: disable=broad-except
            row["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:200])
        print("  %-12s %-20s %d thread(s): %s" % (runtime, case, threads, describe(row)),
              flush=True)
        results.append(row)
        with open(result_path, "w") as f:
            json.dump(dict(versions=versions, results=results), f, indent=1)


def describe(row):
    if "error" in row:
        return "ERROR " + row["error"]
    return "median %.3f ms, min %.3f ms, %d runs, max abs error %.2e%s" % (
        row["median_ms"], row["min_ms"], row["runs"], row["max_abs_error"],
        "" if row["agrees"] else "  DISAGREES WITH KERAS")


def run_python_runtime(runtime, threads, args, cases):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1")
    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        cmd = [sys.executable, os.path.abspath(__file__), "--cache", args.cache,
               "--_worker", runtime, "--threads", str(threads), "--cases"] + cases + [
               "--_result", result_path]
        proc = subprocess.run(cmd, env=env)
        if not os.path.isfile(result_path):
            return {}, [dict(case=c, runtime=runtime, threads=threads,
                             error="worker exited with %d" % proc.returncode) for c in cases]
        with open(result_path) as f:
            out = json.load(f)
    done = {r["case"] for r in out["results"]}
    out["results"] += [dict(case=c, runtime=runtime, threads=threads,
                            error="worker exited with %d" % proc.returncode)
                       for c in cases if c not in done]
    return out["versions"], out["results"]


# ----------------------------------------------------------------------------
# krun (its CLI) and TF.js (Node)
# ----------------------------------------------------------------------------

BENCH_LINE = re.compile(r"bench: (\d+) runs, median ([0-9.]+) ms, min ([0-9.]+) ms")
LOAD_LINE = re.compile(r"load: ([0-9.]+) ms")


def krun_bench(krun, model_json, x_path, out_path, runs, threads):
    cmd = [krun, model_json, x_path, "--bench", str(runs), "--threads", str(threads)]
    if out_path:
        cmd += ["-o", out_path]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("krun exited with %d: %s" % (
            proc.returncode, (proc.stderr or proc.stdout).strip().splitlines()[-1:]))
    m = BENCH_LINE.search(proc.stdout)
    if not m:
        raise RuntimeError("no 'bench:' line in krun output: %r" % proc.stdout[-300:])
    load = LOAD_LINE.search(proc.stdout)
    return dict(runs=int(m.group(1)), median_ms=float(m.group(2)), min_ms=float(m.group(3)),
                load_ms=float(load.group(1)) if load else None)


def run_krun(threads, args, cases):
    """krun --bench runs one warm-up (whose output -o writes, to be checked)
    and then N timed runs. N follows the timing policy from an estimate of one
    run: the same model's time per image in an earlier case, else a first
    `--bench 1` call."""
    results = []
    ms_per_image = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            model, batch, policy = CASES[case]
            row = dict(case=case, runtime="krun", threads=threads)
            try:
                model_json = os.path.join(model_dir(args.cache, model), "tfjs", "model.json")
                x_path = input_path(args.cache, case)
                out = os.path.join(tmp, "out.npy")
                if model not in ms_per_image:
                    first = krun_bench(args.krun, model_json, x_path, None, 1, threads)
                    ms_per_image[model] = first["median_ms"] / batch
                per_run_s = max(ms_per_image[model] * batch, 1e-3) / 1e3
                runs = int(min(policy["target_runs"],
                               max(MIN_RUNS, policy["budget_s"] / per_run_s)))
                row.update(krun_bench(args.krun, model_json, x_path, out, runs, threads))
                ms_per_image[model] = row["median_ms"] / batch
                row["max_abs_error"], row["agrees"] = compare(
                    np.load(out), np.load(expected_path(args.cache, case)))
            except Exception as e:  # pylint: disable=broad-except
                row["error"] = "%s: %s" % (type(e).__name__, e)
            print("  %-12s %-20s %d thread(s): %s" % ("krun", case, threads, describe(row)),
                  flush=True)
            results.append(row)
    return results


TFJS_THREADS_NOTE = (
    "1 thread only: tfjs-backend-wasm 4.22 turns multithreading off under Node "
    "(its WASM_HAS_MULTITHREAD_SUPPORT flag is false there, tfjs#3830), and forcing "
    "the flag fails because Node's worker_threads cannot start the blob: URL the "
    "backend gives its workers")


def run_tfjs(threads, args, cases):
    node_modules = os.path.join(args.cache, "tfjs", "node_modules")
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for i, case in enumerate(cases):
            model, _, policy = CASES[case]
            x = np.load(input_path(args.cache, case))
            x_bin = os.path.join(tmp, "input_%d.bin" % i)
            x.astype("<f4").tofile(x_bin)
            jobs.append(dict(policy, min_runs=MIN_RUNS, case=case, input_bin=x_bin,
                             input_shape=list(x.shape),
                             output_bin=os.path.join(tmp, "output_%d.bin" % i),
                             model_json=os.path.join(model_dir(args.cache, model), "tfjs",
                                                     "model.json")))
        jobs_path = os.path.join(tmp, "jobs.json")
        with open(jobs_path, "w") as f:
            json.dump(dict(threads=threads, cases=jobs), f)
        result_path = os.path.join(tmp, "result.json")
        env = dict(os.environ, NODE_PATH=node_modules)
        proc = subprocess.run([args.node, os.path.join(HERE, "tfjs", "bench.js"), jobs_path,
                               result_path], env=env)
        out = dict(info={}, results=[])
        if os.path.isfile(result_path):
            with open(result_path) as f:
                out = json.load(f)
        by_case = {r["case"]: r for r in out["results"]}
        results = []
        for job in jobs:
            got = by_case.get(job["case"], dict(error="node exited with %d" % proc.returncode))
            row = dict(got, runtime="tfjs", threads=threads)
            if "error" not in row:
                expected = np.load(expected_path(args.cache, job["case"]))
                y = np.fromfile(job["output_bin"], "<f4")
                y = y.reshape(expected.shape) if y.size == expected.size else y
                row["max_abs_error"], row["agrees"] = compare(y, expected)
            print("  %-12s %-20s %d thread(s): %s" % ("tfjs", job["case"], threads,
                                                       describe(row)), flush=True)
            results.append(row)
    info = out["info"]
    versions = {}
    if info:
        versions = {"tfjs": info["tfjs_version"], "node": info["node_version"],
                    "tfjs_wasm": "threads used %s (multithread support %s), SIMD %s" % (
                        info["threads_used"], info["multithread_support"], info["simd"])}
        if info["threads_used"] != threads:
            for row in results:
                row["threads_used"] = info["threads_used"]
    return versions, results


# ----------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------

def machine_info():
    name, cores = platform.processor() or "unknown CPU", os.cpu_count()
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        names = re.findall(r"^model name\s*:\s*(.+)$", text, re.M)
        if names:
            name = names[0].strip()
        family = re.search(r"^cpu family\s*:\s*(\d+)$", text, re.M)
        model = re.search(r"^model\s*:\s*(\d+)$", text, re.M)
        if family and model:
            name += " (family %s model %s)" % (family.group(1), model.group(1))
        cores = len(names) or cores
        flag_line = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
        if flag_line:
            have = flag_line.group(1).split()
            flags = ", ".join(f for f in ("avx2", "fma", "avx512f", "avx512_bf16",
                                          "avx512_vnni") if f in have)
            if "avx512f" not in have:
                flags += ", no AVX-512"
    except OSError:
        pass
    return dict(cpu=name, cores=cores, flags=flags, os=platform.platform(),
                python=platform.python_version())


def krun_version(krun):
    try:
        rev = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %cd",
                              "--date=short"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = ""
    path = os.path.abspath(krun)
    if path.startswith(REPO + os.sep):
        path = os.path.relpath(path, REPO)
    return "%s, source commit %s" % (path, rev or "unknown")


def fmt_ms(ms):
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    if ms >= 0.1:
        return "%.3f" % ms
    return "%.4f" % ms


def cell(row, batch):
    if row is None:
        return ""
    if "error" in row:
        return "error"
    text = fmt_ms(row["median_ms"])
    if batch > 1:
        text += " (%s/img)" % fmt_ms(row["median_ms"] / batch)
    if not row["agrees"]:
        text += " ✗"
    if row.get("threads_used") not in (None, row["threads"]):
        text += " †"
    return text


def ratios(data):
    """{(case, threads): (krun / best other, best other runtime)}. With rounds, the median over
    rounds of krun's round median over the fastest other runtime's in the same round (a model's
    runtimes take turns at one thread count within about a minute, so that a drifting machine
    weighs on both);
    the best other runtime named is the one with the lowest median."""
    out = {}
    for case in CASES:
        for t in THREADS:
            rows = {r["runtime"]: r for r in data["results"]
                    if r["case"] == case and r["threads"] == t and "error" not in r
                    and r["agrees"] and r.get("threads_used", t) == t}
            if "krun" not in rows:
                continue
            others = [(r["median_ms"], rt) for rt, r in rows.items() if rt != "krun"]
            if not others:
                continue
            best, rt = min(others)
            rounds = [r.get("round_medians_ms", [r["median_ms"]]) for r in rows.values()]
            if len({len(x) for x in rounds}) == 1:
                krun = rows["krun"].get("round_medians_ms", [rows["krun"]["median_ms"]])
                per_round = [krun[i] / min(x[i] for x, (name, _) in zip(rounds, rows.items())
                                           if name != "krun") for i in range(len(krun))]
                out[(case, t)] = (float(np.median(per_round)), rt)
            else:  # a runtime failed in some round
                out[(case, t)] = (rows["krun"]["median_ms"] / best, rt)
    return out


def measured_cases(data):
    have = {r["case"] for r in data["results"]}
    return {case: spec for case, spec in CASES.items() if case in have}


def rounds_text(data):
    rounds = data.get("rounds", 1)
    if rounds == 1:
        return "One round."
    return ("Every runtime was timed in %d rounds; in a round, the runtimes take turns model by "
            "model and thread count by thread count (krun first in odd rounds, last in even "
            "ones, next to LiteRT and ONNX Runtime). Each time is the median of the %d rounds' "
            "medians." % (rounds, rounds))


def load_text(data):
    load = data.get("load_average")
    if not load:
        return "Load average not recorded."
    return ("Load average (1 min) at the start / end of the run: %.1f / %.1f; other "
            "processes running meanwhile make the numbers noisy (the JSON also has "
            "each minimum)." % tuple(load))


def write_markdown(data, path):
    m = data["machine"]
    v = data["versions"]
    cases = measured_cases(data)
    find = {(r["case"], r["runtime"], r["threads"]): r for r in data["results"]}
    rat = ratios(data)
    lines = [
        "# krun side by side",
        "",
        "Made by `bench/side_by_side.sh` on %s. Machine: %s, %d cores (%s), %s. %s" % (
            data["date"], m["cpu"], m["cores"], m["flags"], m["os"], load_text(data)),
        "",
        "Median wall time of one call in ms (lower is better), in process with the "
        "model loaded and warmed up (model load and process start-up excluded); for "
        "batches also per image. %s All models are float32 with the same seeded random "
        "weights in every runtime." % rounds_text(data),
        "",
        "| model | batch | threads | " + " | ".join(RUNTIME_TITLES[r] for r in RUNTIMES)
        + " | krun / best other |",
        "|---|---|---|" + "---|" * len(RUNTIMES) + "---|",
    ]
    for case, (model, batch, _) in cases.items():
        for t in THREADS:
            cells = [cell(find.get((case, rt, t)), batch) or
                     ("1 thread only" if rt == "tfjs" and t != 1 else "") for rt in RUNTIMES]
            r = rat.get((case, t))
            ratio = "%.2f (vs %s)" % (r[0], RUNTIME_TITLES[r[1]]) if r else ""
            lines.append("| %s | %d | %d | %s | %s |" % (model, batch, t, " | ".join(cells),
                                                         ratio))
    lines += ["", "krun / best other: krun's time over the fastest other runtime whose "
              "output agrees with Keras (> 1: krun is slower); with rounds, the median of "
              "the rounds' ratios, each between times taken within about a minute. error: "
              "the runtime failed, see Errors below."]
    if any("error" not in r and not r["agrees"] for r in data["results"]):
        lines += ["✗ = output differs from Keras by more than %g (see Agreement); such a "
                  "time is not used in the ratio." % MAX_ABS_ERROR]
    if any(r.get("threads_used", r["threads"]) != r["threads"] for r in data["results"]):
        lines += ["† = the runtime ran with another thread count than asked; not used "
                  "in the ratio."]
    lines += [
        "",
        "## Runtimes",
        "",
        "| runtime | version | how it is run |",
        "|---|---|---|",
        "| krun | %s | `krun MODEL.json INPUT.npy --bench N --threads T` on the "
        "tensorflowjs layers model; N from an estimate of one run (a first `--bench 1` "
        "call, or the same model's time per image in the case before) so that the runs "
        "take about %g s for big models and %g s for small ones (at most %d / %d runs), "
        "after krun's single warm-up run |" % (v.get("krun", "?"), BIG["budget_s"], SMALL["budget_s"],
                          BIG["target_runs"], SMALL["target_runs"]),
        "| TensorFlow | %s (tf-keras %s) | tf-keras model from the .h5 called under "
        "`tf.function`, `intra_op_parallelism_threads` T, inter-op 1 |" % (
            v.get("tensorflow", "?"), v.get("tf_keras", "?")),
        "| ONNX Runtime | %s | CPU execution provider, `intra_op_num_threads` T, "
        "sequential, all graph optimisations; model from tf2onnx %s (opset %s) |" % (
            v.get("onnxruntime", "?"), v.get("tf2onnx", "?"), v.get("onnx_opset", "?")),
        "| LiteRT | ai-edge-litert %s | `Interpreter(num_threads=T)` (XNNPACK delegate by "
        "default) on the float32 `TFLiteConverter` output (from the model's "
        "`tf.function`, one file per batch size: static shapes) |" % v.get("ai_edge_litert", "?"),
        "| TF.js wasm | @tensorflow/tfjs %s + tfjs-backend-wasm, Node %s | "
        "`loadLayersModel` on the tensorflowjs layers model, `predict` + `dataSync`; "
        "%s; %s |" % (v.get("tfjs", "?"), v.get("node", "?"), v.get("tfjs_wasm", "?"),
                      TFJS_THREADS_NOTE),
        "",
        "Models converted with %s, %s and tf2onnx %s from %s (TensorFlow %s); Python %s. "
        "Python runtimes time with the same policy: warm-up of %d runs / %g s (big) or "
        "%d runs / %g s (small), then single runs until %d runs or %g s (big) and "
        "%d runs or %g s (small), at least %d." % (
            v.get("tensorflowjs", "?"), "tf.lite.TFLiteConverter", v.get("tf2onnx", "?"),
            v.get("keras", "?"), v.get("tensorflow", "?"), m["python"],
            BIG["warmup_runs"], BIG["warmup_s"], SMALL["warmup_runs"], SMALL["warmup_s"],
            BIG["target_runs"], BIG["budget_s"], SMALL["target_runs"], SMALL["budget_s"],
            MIN_RUNS),
    ]
    lines += [
        "",
        "## Models",
        "",
        "| model | what | parameters |",
        "|---|---|---|",
    ]
    for name, spec in MODELS.items():
        if name not in data["params"]:
            continue  # not measured yet
        what = spec.get("desc") or ("keras.applications.%s(input_shape=(224, 224, 3), "
                                    "weights=None, classes=1000), application defaults"
                                    % spec["app"])
        lines.append("| %s | %s, input %s in [%g, %g] | %s |" % (
            name, what, "x".join(map(str, spec["shape"])), spec["range"][0],
            spec["range"][1], "{:,}".format(data["params"].get(name, 0))))
    lines += [
        "",
        "MobileNet weights: seeded He-normal, BatchNormalization statistics calibrated on "
        "the input (`calibrate_mobilenet` in tools/make_fixtures.py) so that activations "
        "and the softmax stay non-trivial; small models: seeded uniform.",
        "",
        "## Agreement with Keras",
        "",
        "Max abs error of each runtime's output against Keras on the same input "
        "(1 thread / 2 threads; TF.js 1 thread); outputs are softmax probabilities (MobileNets, MLP) or "
        "GRU states in [-1, 1].",
        "",
        "| model | batch | " + " | ".join(RUNTIME_TITLES[r] for r in RUNTIMES) + " |",
        "|---|---|" + "---|" * len(RUNTIMES),
    ]
    for case, (model, batch, _) in cases.items():
        cells = []
        for rt in RUNTIMES:
            errs = []
            for t in THREADS:
                r = find.get((case, rt, t))
                if r is None:
                    continue
                if "error" in r:
                    errs.append("error")
                else:
                    errs.append("%.1e%s" % (r["max_abs_error"], "" if r["agrees"] else " ✗"))
            cells.append(" / ".join(errs))
        lines.append("| %s | %d | %s |" % (model, batch, " | ".join(cells)))
    errors = [r for r in data["results"] if "error" in r]
    if errors:
        lines += ["", "Errors:", ""]
        lines += ["- %s, %s, %d thread(s): %s" % (r["runtime"], r["case"], r["threads"],
                                                   r["error"]) for r in errors]
    lines += [
        "",
        "## Model load time (ms, 1 thread)",
        "",
        "krun: the `load:` line of `krun --bench` (empty when the krun binary does not "
        "print it). The others: reading the model and making it ready to run (TensorFlow: "
        "`load_model` of the .h5, without the `tf.function` tracing of the first call; "
        "ONNX Runtime: session creation; LiteRT: interpreter creation and tensor "
        "allocation; TF.js: `loadLayersModel`).",
        "",
        "| model | batch | " + " | ".join(RUNTIME_TITLES[r] for r in RUNTIMES) + " |",
        "|---|---|" + "---|" * len(RUNTIMES),
    ]
    for case, (model, batch, _) in cases.items():
        if batch != 1:
            continue
        cells = []
        for rt in RUNTIMES:
            r = find.get((case, rt, 1))
            cells.append(fmt_ms(r["load_ms"]) if r and r.get("load_ms") is not None else "")
        lines.append("| %s | %d | %s |" % (model, batch, " | ".join(cells)))
    lines += ["", "![side by side](side_by_side.png)", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(data, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    find = {(r["case"], r["runtime"], r["threads"]): r for r in data["results"]}
    cases = list(measured_cases(data))
    colors = {"krun": "#d62728", "tensorflow": "#ff7f0e", "onnxruntime": "#1f77b4",
              "litert": "#2ca02c", "tfjs": "#9467bd"}
    fig, axes = plt.subplots(len(THREADS), 1, figsize=(12, 4.2 * len(THREADS)))
    width = 0.8 / len(RUNTIMES)
    for ax, t in zip(axes, THREADS):
        for i, rt in enumerate(RUNTIMES):
            xs, ys, hatches = [], [], []
            for j, case in enumerate(cases):
                r = find.get((case, rt, t))
                if r and "error" not in r:
                    xs.append(j + (i - (len(RUNTIMES) - 1) / 2) * width)
                    ys.append(r["median_ms"])
                    off = not r["agrees"] or r.get("threads_used", t) != t
                    hatches.append("//" if off else "")
            bars = ax.bar(xs, ys, width, color=colors[rt], label=RUNTIME_TITLES[rt])
            for bar, h in zip(bars, hatches):
                bar.set_hatch(h)
        ax.set_yscale("log")
        ax.set_ylabel("ms per call (log)")
        ax.set_title("%d thread%s" % (t, "" if t == 1 else "s"))
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels([c.replace("mobilenet_", "mnet_") for c in cases], fontsize=9)
        ax.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=len(RUNTIMES), fontsize=9, loc="upper center",
               bbox_to_anchor=(0.5, 0.955))
    fig.suptitle("Median time per call (batch b: whole batch), %s, %d cores, %s; lower is "
                 "better; hatched: output mismatch or other thread count" % (
                     data["machine"]["cpu"], data["machine"]["cores"], data["date"][:10]),
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_ratios(data):
    print("\nkrun / best other (median of the rounds' ratios; < 1 means krun is faster):")
    for (case, t), (ratio, rt) in ratios(data).items():
        print("  %-20s %d thread(s): %6.2f  (best other: %s)" % (case, t, ratio,
                                                               RUNTIME_TITLES[rt]))


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--krun", default=os.path.join(REPO, "build", "krun"),
                    help="krun binary (default build/krun)")
    ap.add_argument("--cache", default=os.path.join(REPO, "build", "sbs"),
                    help="models, Node modules (default build/sbs)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"),
                    help="where the .md, .png and .json go (default bench/results)")
    ap.add_argument("--only", nargs="+", choices=RUNTIMES, default=RUNTIMES,
                    help="time only these runtimes; the others' numbers are kept from "
                         "the existing JSON")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--threads", nargs="+", type=int, default=list(THREADS),
                    choices=list(THREADS))
    ap.add_argument("--rounds", type=int, default=3,
                    help="time every runtime this many times, the runtimes taking turns; "
                         "each figure is the median of the rounds' medians (default 3)")
    ap.add_argument("--node", default="node")
    ap.add_argument("--render", action="store_true",
                    help="only rewrite the .md and .png from the existing JSON")
    ap.add_argument("--_worker", choices=list(PY_RUNNERS) + ["prepare"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--_result", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.cache = os.path.abspath(args.cache)

    if args._worker == "prepare":
        prepare_models(args.cache, [m for m in sorted({CASES[c][0] for c in args.cases})
                                    if not is_prepared(args.cache, m)])
        return 0
    if args._worker:
        python_worker(args._worker, args.threads[0], args.cache, args.cases, args._result)
        return 0

    json_path = os.path.join(args.out, "side_by_side.json")
    if args.render:
        with open(json_path) as f:
            data = json.load(f)
        write_markdown(data, os.path.join(args.out, "side_by_side.md"))
        write_chart(data, os.path.join(args.out, "side_by_side.png"))
        print_ratios(data)
        return 0

    t_start = time.time()
    load_start = os.getloadavg()[0]
    if "krun" in args.only and not os.access(args.krun, os.X_OK):
        ap.error("no krun binary at %s (build it, or pass --krun PATH)" % args.krun)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_USE_LEGACY_KERAS="1",
               PYTHONHASHSEED="0")
    if not all(is_prepared(args.cache, CASES[c][0]) for c in args.cases):
        subprocess.run([sys.executable, os.path.abspath(__file__), "--cache", args.cache,
                        "--_worker", "prepare", "--cases"] + args.cases, env=env, check=True)

    data = dict(results=[], versions={}, params={})
    if os.path.isfile(json_path):
        with open(json_path) as f:
            data = json.load(f)
    redo = {(c, rt, t) for c in args.cases for rt in args.only for t in args.threads}
    data["results"] = [r for r in data["results"]
                       if (r["case"], r["runtime"], r["threads"]) not in redo]
    versions = data["versions"]
    for model in {CASES[c][0] for c in args.cases}:
        with open(os.path.join(model_dir(args.cache, model), "prepared.json")) as f:
            prep = json.load(f)
        data["params"][model] = prep["params"]
        versions.update(keras=prep["keras"], tensorflowjs=prep["tensorflowjs"],
                        tf2onnx=prep["tf2onnx"], onnx_opset=prep["onnx_opset"])

    # The runtimes take turns model by model and thread count by thread count, round after
    # round: a machine whose speed drifts (other load, clock) then weighs on all of them alike,
    # and the times compared in a round's ratio (ratios()) are well under a minute apart, not the
    # length of a round. krun goes next to its closest rivals, first in one round and last in
    # the next, so that the place in the order favours no runtime.
    by_model = {}
    for case in args.cases:
        by_model.setdefault(CASES[case][0], []).append(case)
    turn_order = [rt for rt in TURN_ORDER if rt in args.only]
    rounds = {}
    for r in range(args.rounds):
        for model, cases in by_model.items():
            for t in args.threads:
                for rt in (turn_order if r % 2 == 0 else turn_order[::-1]):
                    if rt == "tfjs" and t != 1:
                        continue  # TFJS_THREADS_NOTE
                    print("round %d of %d: %s, %s, %d thread(s)" % (
                        r + 1, args.rounds, model, RUNTIME_TITLES[rt], t), flush=True)
                    if rt == "krun":
                        rows = run_krun(t, args, cases)
                        versions["krun"] = krun_version(args.krun)
                    elif rt == "tfjs":
                        v, rows = run_tfjs(t, args, cases)
                        versions.update(v)
                    else:
                        v, rows = run_python_runtime(rt, t, args, cases)
                        versions.update(v)
                    for row in rows:
                        rounds.setdefault((row["case"], row["runtime"], row["threads"]), []).append(row)
    for measured in rounds.values():
        row = dict(measured[0])
        if "median_ms" in row:
            row["round_medians_ms"] = [m["median_ms"] for m in measured]
            row["median_ms"] = float(np.median(row["round_medians_ms"]))
            row["min_ms"] = min(m["min_ms"] for m in measured)
            row["runs"] = sum(m["runs"] for m in measured)
        data["results"].append(row)
    data["rounds"] = args.rounds

    order = {c: i for i, c in enumerate(CASES)}
    data["results"].sort(key=lambda r: (order[r["case"]], RUNTIMES.index(r["runtime"]),
                                        r["threads"]))
    data["machine"] = machine_info()
    data["load_average"] = [load_start, os.getloadavg()[0]]
    data["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    os.makedirs(args.out, exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(data, f, indent=1)
    write_markdown(data, os.path.join(args.out, "side_by_side.md"))
    write_chart(data, os.path.join(args.out, "side_by_side.png"))
    print_ratios(data)
    print("\nwrote %s/side_by_side.{md,png,json} in %.0f s" % (args.out, time.time() - t_start))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
