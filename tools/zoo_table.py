#!/usr/bin/env python3
"""Parity table of every reference folder under a directory (python3 standard library only).

Usage:
    tools/zoo_table.py [DIR] [--krun PATH] [--bench N] [--threads N]

A reference folder is a folder with model.json and input_0.npy (every models/<fixture>/ is one;
tools/make_reference.py writes them). For each, `krun check MODEL REFDIR --json` compares krun
with the outputs (and layers/, when present) Keras computed, and `krun MODEL INPUTS --bench N`
times it with the fast kernels on --threads threads (default 1: stable
numbers on a shared machine, where OpenMP on every core gets descheduled). Prints a Markdown table: model, producer, max abs error of each
output (the worst one when there are more than 4), first divergence, median latency.

Exit status 1 when a folder diverges or is refused although its fixture.json does not say so
("expect_divergence": first diverging layer, "expect_error"), or does not although it says so.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

MAX_LISTED_OUTPUTS = 4


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def producer_of(folder):
    fixture = read_json(os.path.join(folder, "fixture.json"))
    if fixture.get("producer"):
        return fixture["producer"]
    meta = read_json(os.path.join(folder, "meta.json"))
    if isinstance(meta.get("producer"), dict) and meta["producer"].get("keras"):
        return meta["producer"]["keras"]
    model = read_json(os.path.join(folder, "model.json"))
    return model.get("generatedBy", "?")


def inputs_of(folder):
    paths = glob.glob(os.path.join(folder, "input_*.npy"))
    return sorted(paths, key=lambda p: int(re.search(r"input_(\d+)\.npy$", p).group(1)))


def median_ms(krun, folder, runs, threads):
    """Median latency of `krun MODEL INPUTS --bench runs --threads threads`, or None when it does not run."""
    proc = subprocess.run([krun, os.path.join(folder, "model.json")] + inputs_of(folder)
                          + ["--bench", str(runs), "--threads", str(threads)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = re.search(r"bench: \d+ runs, median ([0-9.]+) ms", proc.stdout)
    return float(m.group(1)) if m else None


def check(krun, folder):
    """(exit status, JSON report or None, stderr) of `krun check`."""
    with tempfile.TemporaryDirectory() as tmp:
        report_path = os.path.join(tmp, "report.json")
        proc = subprocess.run([krun, "check", os.path.join(folder, "model.json"), folder, "--json", report_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        report = read_json(report_path) if os.path.exists(report_path) else None
    return proc.returncode, report, proc.stderr.strip()


def error_cell(report):
    errors = ["%.3g" % o["max_abs"] if "max_abs" in o else "shape differs" for o in report["outputs"]]
    if not errors:
        return "no expected outputs"
    if len(errors) <= MAX_LISTED_OUTPUTS:
        return ", ".join(errors)
    worst = max(o.get("max_abs", float("inf")) for o in report["outputs"])
    return "%d outputs, worst %.3g" % (len(errors), worst)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default="models", help="folder holding the reference folders")
    ap.add_argument("--krun", default="build/krun", help="the krun binary (default build/krun)")
    ap.add_argument("--bench", type=int, default=3, help="timed runs per model (default 3)")
    ap.add_argument("--threads", type=int, default=1, help="threads for the timed runs (default 1)")
    args = ap.parse_args()

    folders = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(args.dir, "*", "model.json"))
                     if os.path.exists(os.path.join(os.path.dirname(p), "input_0.npy")))
    if not folders:
        sys.exit("zoo_table: no reference folder (model.json + input_0.npy) under %s" % args.dir)
    unexpected = []
    print("| model | producer | max abs error per output | first divergence | median latency (ms, %d thread%s) |"
          % (args.threads, "" if args.threads == 1 else "s"))
    print("|---|---|---|---|---|")
    for folder in folders:
        name = os.path.basename(folder)
        fixture = read_json(os.path.join(folder, "fixture.json"))
        status, report, err = check(args.krun, folder)
        if status == 2 or report is None:
            message = err.replace("krun: error: ", "").replace(os.path.join(folder, "model.json") + ": ", "")
            errors, first, latency = "-", "refused: " + message.replace("|", "\\|"), None
        else:
            errors = error_cell(report)
            first = report["first_divergence"] or ("outputs only" if status else "-")
            latency = median_ms(args.krun, folder, args.bench, args.threads)
        expected_first = fixture.get("expect_divergence")
        if "expect_error" in fixture:
            if status != 2:
                unexpected.append("%s: krun check exit %d, expected 2 (expect_error)" % (name, status))
        elif expected_first:
            if status != 1 or report is None or report["first_divergence"] != expected_first:
                unexpected.append("%s: expected first divergence %s, krun check exit %d (%s)"
                                  % (name, expected_first, status, first))
        elif status != 0:
            unexpected.append("%s: krun check exit %d (%s)" % (name, status, first))
        print("| %s | %s | %s | %s | %s |" % (name, producer_of(folder), errors, first,
                                              "-" if latency is None else "%.3f" % latency))
    for line in unexpected:
        print("zoo_table: UNEXPECTED: " + line, file=sys.stderr)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
