#!/usr/bin/env node
// Re-saves a converted krun fixture with TensorFlow.js itself (model.save), giving a fixture of
// topology variant 3 (format-spec.md 1.2) with TF.js-saved weight names (2.5.5).
//
//   node resave.js <src fixture folder> <dst fixture folder>   re-save + TF.js parity check
//   node resave.js --check <model folder> [<npy folder>]        TF.js parity only (no writing)
//
// The weights are the same, so Keras's outputs (expected_*.npy of the source) stay the truth; the
// max |TF.js - Keras| printed here is "TF.js parity", for information only.
// Only for regenerating fixtures; krun itself never runs this.
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

// ---------- .npy (v1/v2/v3, little-endian, C order) ----------
const NPY_DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i4': ['int32', Int32Array],
  '<i8': ['int64', BigInt64Array], '|u1': ['uint8', Uint8Array], '|i1': ['int8', Int8Array],
  '|b1': ['bool', Uint8Array], '<u2': ['uint16', Uint16Array], '<i2': ['int16', Int16Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.readUInt32BE(0) !== 0x934e554d || buf.toString('latin1', 4, 6) !== 'PY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)[1] === 'True';
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  if (fortran) throw new Error(`${file}: fortran_order arrays are not supported`);
  const kind = NPY_DTYPES[descr];
  if (!kind) throw new Error(`${file}: unsupported dtype ${descr}`);
  const [dtype, Ctor] = kind;
  const offset = start + headerLen;
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = buf.subarray(offset, offset + count * Ctor.BYTES_PER_ELEMENT);
  const data = new Ctor(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  return { dtype, shape, data };
}

function npyToTensor(arr) {
  switch (arr.dtype) {
    case 'float32': return tf.tensor(arr.data, arr.shape, 'float32');
    case 'float64': return tf.tensor(Float32Array.from(arr.data), arr.shape, 'float32');
    case 'bool': return tf.tensor(arr.data, arr.shape, 'bool');
    case 'int64': return tf.tensor(Int32Array.from(arr.data, Number), arr.shape, 'int32');
    default: return tf.tensor(Int32Array.from(arr.data), arr.shape, 'int32');
  }
}

function listNpy(folder, prefix) {
  const re = new RegExp(`^${prefix}_(\\d+)\\.npy$`);
  return fs.readdirSync(folder).filter((f) => re.test(f))
    .sort((a, b) => Number(re.exec(a)[1]) - Number(re.exec(b)[1]));
}

// ---------- IO handler reading model.json + shards with fs ----------
function fileLoader(folder) {
  return {
    load: async () => {
      const modelJSON = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8'));
      return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
        const specs = [];
        const buffers = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const b = fs.readFileSync(path.join(folder, p));
            buffers.push(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

function toBuffer(weightData) {
  // WeightData is an ArrayBuffer or (tfjs >= 4.10) a list of ArrayBuffers.
  const parts = Array.isArray(weightData) ? weightData : [weightData];
  return Buffer.concat(parts.map((ab) => Buffer.from(ab)));
}

// Same as tfjs-core/src/io/io_utils.ts getModelJSONForModelArtifacts (not exported by the
// @tensorflow/tfjs bundle): key order and the optional keys as BrowserDownloads writes them.
function modelJSONForArtifacts(artifacts, manifest) {
  const result = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: manifest,
  };
  for (const k of ['signature', 'userDefinedMetadata', 'modelInitializer', 'initializerSignature', 'trainingConfig']) {
    if (artifacts[k] != null) result[k] = artifacts[k];
  }
  return result;
}

// ---------- parity ----------
async function parity(model, npyFolder) {
  const inputs = listNpy(npyFolder, 'input').map((f) => npyToTensor(readNpy(path.join(npyFolder, f))));
  const expected = listNpy(npyFolder, 'expected').map((f) => readNpy(path.join(npyFolder, f)));
  let out = model.predict(inputs.length === 1 ? inputs[0] : inputs);
  if (!Array.isArray(out)) out = [out];
  if (out.length !== expected.length) {
    throw new Error(`model gives ${out.length} outputs, ${expected.length} expected_*.npy files`);
  }
  let worst = 0;
  let scale = 0;
  const perOutput = [];
  for (let i = 0; i < out.length; i++) {
    const got = out[i].dataSync();
    const want = expected[i].data;
    if (got.length !== want.length || out[i].shape.join(',') !== expected[i].shape.join(',')) {
      throw new Error(`output ${i}: shape [${out[i].shape}] vs expected [${expected[i].shape}]`);
    }
    let m = 0;
    for (let k = 0; k < got.length; k++) {
      m = Math.max(m, Math.abs(got[k] - Number(want[k])));
      scale = Math.max(scale, Math.abs(Number(want[k])));
    }
    perOutput.push(m);
    worst = Math.max(worst, m);
  }
  tf.dispose([...inputs, ...out]);
  return { worst, perOutput, scale };
}

function classesOf(config, set = new Set()) {
  // Walk a (snake_case) model config collecting class names, nested models included.
  if (Array.isArray(config)) { config.forEach((c) => classesOf(c, set)); return set; }
  if (config && typeof config === 'object') {
    if (typeof config.class_name === 'string' && config.config && typeof config.config === 'object' &&
        ('name' in config.config || 'layers' in config.config || Array.isArray(config.config))) {
      set.add(config.class_name);
    }
    for (const k of ['layers', 'config', 'layer', 'cell', 'forward_layer', 'backward_layer']) {
      if (k in config) classesOf(config[k], set);
    }
  }
  return set;
}

async function main() {
  await tf.setBackend('cpu');
  const args = process.argv.slice(2);
  if (args[0] === '--check') {
    const folder = args[1];
    const npyFolder = args[2] || folder;
    const model = await tf.loadLayersModel(fileLoader(folder));
    const { worst, perOutput, scale } = await parity(model, npyFolder);
    console.log(`${folder}: TF.js parity max |TF.js - Keras| = ${worst.toExponential(3)}` +
                ` (max |Keras| = ${scale.toExponential(3)})` +
                (perOutput.length > 1 ? ` (per output: ${perOutput.map((v) => v.toExponential(2)).join(', ')})` : ''));
    return;
  }
  if (args.length !== 2) {
    console.error('usage: node resave.js <src fixture folder> <dst fixture folder>\n' +
                  '       node resave.js --check <model folder> [<npy folder>]');
    process.exit(2);
  }
  const [src, dst] = args.map((a) => path.resolve(a));
  const srcName = path.basename(src);
  const model = await tf.loadLayersModel(fileLoader(src));
  const { worst, perOutput } = await parity(model, src);
  console.log(`${srcName}: TF.js parity (loaded converter output) max |TF.js - Keras| = ${worst.toExponential(3)}`);

  // What model.save('downloads://model') writes (tfjs-core/src/io/browser_files.ts BrowserDownloads.save):
  // model.json = JSON.stringify(getModelJSONForModelArtifacts(artifacts, manifest)) with
  // manifest [{paths: ['./model.weights.bin'], weights: artifacts.weightSpecs}], and model.weights.bin.
  let saved = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const manifest = [{ paths: ['./model.weights.bin'], weights: saved.weightSpecs }];
  const modelJSON = modelJSONForArtifacts(saved, manifest);
  const weightBytes = toBuffer(saved.weightData);

  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(dst)) fs.rmSync(path.join(dst, f), { recursive: true });
  fs.writeFileSync(path.join(dst, 'model.json'), JSON.stringify(modelJSON));
  fs.writeFileSync(path.join(dst, 'model.weights.bin'), weightBytes);
  const copied = [...listNpy(src, 'input'), ...listNpy(src, 'expected')];
  for (const f of copied) fs.copyFileSync(path.join(src, f), path.join(dst, f));

  // Round trip: the re-saved folder must load in TF.js and give the same outputs.
  const again = await tf.loadLayersModel(fileLoader(dst));
  const rt = await parity(again, dst);
  console.log(`${path.basename(dst)}: TF.js parity (re-saved, reloaded) max |TF.js - Keras| = ${rt.worst.toExponential(3)}`);

  const srcFixture = JSON.parse(fs.readFileSync(path.join(src, 'fixture.json'), 'utf8'));
  const version = tf.version_layers || tf.version['tfjs-layers'];
  const fixture = {
    producer: `TensorFlow.js tfjs-layers ${version} (re-saved from ${srcName})`,
    converter: 'none (model.save)',
    path: 'tfjs_save',
    description: `${srcName} re-saved by TensorFlow.js ${version} model.save as 'downloads://model' writes it ` +
      "(bare model config as modelTopology, keras_version 'tfjs-layers', backend 'tensor_flow.js', weights " +
      "named by TF.js originalName, trainable first); inputs and Keras expected outputs of the source",
    classes: [...classesOf(modelJSON.modelTopology)].sort(),
    source_fixture: srcName,
    source_producer: srcFixture.producer,
    source_description: srcFixture.description,
    tfjs: `@tensorflow/tfjs ${tf.version.tfjs}`,
    tfjs_parity_max_abs: Number(rt.worst.toPrecision(3)),
    tfjs_parity_per_output: rt.perOutput.map((v) => Number(v.toPrecision(3))),
    inputs: srcFixture.inputs,
    outputs: srcFixture.outputs,
    shards: ['model.weights.bin'],
    weight_count: saved.weightSpecs.length,
    notes: [
      'generated by tools/tfjs_resave/resave.js; do not edit by hand',
      'tfjs_parity_* = max |TF.js output - Keras expected| for information (krun is compared with Keras)',
    ],
  };
  fs.writeFileSync(path.join(dst, 'fixture.json'), JSON.stringify(fixture, null, 1) + '\n');
  console.log(`wrote ${dst}: model.json, model.weights.bin (${weightBytes.length} bytes, ` +
              `${saved.weightSpecs.length} weights), ${copied.length} npy files, fixture.json`);
}

main().catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
