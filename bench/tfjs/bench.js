// TF.js side of bench/side_by_side.py: loads tensorflowjs layers models with
// @tensorflow/tfjs and times model.predict on the wasm backend, in process.
//
//   node bench.js JOBS.json RESULTS.json
//
// JOBS.json (written by side_by_side.py):
//   {"threads": T, "cases": [{"case", "model_json", "input_bin", "input_shape",
//     "output_bin", "min_runs", "target_runs", "budget_s", "warmup_runs",
//     "warmup_s"}]}
// For every case the input is a raw little-endian float32 file; the first
// prediction's output is written to output_bin (raw float32) so that the
// Python side compares it with Keras. RESULTS.json gets, per case,
// {"case", "median_ms", "min_ms", "runs", "load_ms"} or {"case", "error"}.
// Node needs NODE_PATH pointing at the node_modules that package.json installs.
'use strict';

const fs = require('fs');
const path = require('path');
const { performance } = require('perf_hooks');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

function arrayBufferOf(buffer) {
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

// An IOHandler reading model.json and its shards from disk (the file://
// handler lives in tfjs-node, which is not the wasm setup users pick).
function fileHandler(modelJson) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
      const dir = path.dirname(modelJson);
      const specs = [];
      const shards = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) shards.push(fs.readFileSync(path.join(dir, p)));
      }
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        weightSpecs: specs,
        weightData: arrayBufferOf(Buffer.concat(shards)),
      };
    },
  };
}

function median(sorted) {
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

// Same policy as time_runs() in side_by_side.py: warm up for warmup_runs runs
// and at least warmup_s seconds, then time single runs until target_runs runs
// or budget_s seconds (at least min_runs runs).
function timeRuns(run, job) {
  let start = performance.now();
  for (let i = 0; i < job.warmup_runs || performance.now() - start < 1000 * job.warmup_s; ++i) run();
  const times = [];
  start = performance.now();
  while (times.length < job.min_runs ||
         (times.length < job.target_runs && performance.now() - start < 1000 * job.budget_s)) {
    const t0 = performance.now();
    run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median_ms: median(times), min_ms: times[0], runs: times.length };
}

async function benchCase(job) {
  const t0 = performance.now();
  const model = await tf.loadLayersModel(fileHandler(job.model_json));
  const loadMs = performance.now() - t0;
  const raw = fs.readFileSync(job.input_bin);
  const x = tf.tensor(new Float32Array(arrayBufferOf(raw)), job.input_shape, 'float32');
  // predict + dataSync: the output is read back to JS memory every run.
  const run = () => tf.tidy(() => model.predict(x).dataSync());
  fs.writeFileSync(job.output_bin, Buffer.from(run().buffer));
  const timing = timeRuns(run, job);
  x.dispose();
  model.dispose();
  return { case: job.case, load_ms: loadMs, ...timing };
}

async function main() {
  const [jobsPath, resultsPath] = process.argv.slice(2);
  const jobs = JSON.parse(fs.readFileSync(jobsPath, 'utf8'));
  wasm.setThreadsCount(jobs.threads);
  await tf.setBackend('wasm');
  await tf.ready();
  const info = {
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    threads_requested: jobs.threads,
    threads_used: wasm.getThreadsCount(),
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    multithread_support: await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    node_version: process.version,
  };
  const results = [];
  for (const job of jobs.cases) {
    try {
      results.push(await benchCase(job));
    } catch (e) {
      // first sentence: TF.js appends paragraphs of generic advice
      const message = String(e && e.message ? e.message : e).split('\n')[0];
      results.push({ case: job.case, error: message.split('. ')[0] });
    }
    fs.writeFileSync(resultsPath, JSON.stringify({ info, results }, null, 1));
  }
  fs.writeFileSync(resultsPath, JSON.stringify({ info, results }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
