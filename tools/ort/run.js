#!/usr/bin/env node
// tools/ort/run.js - ONNX Runtime (CPU) as gpulet's reference: runs a model on inputs read from
// TensorProto files or drawn from the seed exactly as `gpulet run --seed S` draws them, writes the
// inputs and outputs as TensorProto files (input_<i>.pb, output_<i>.pb) and a JSON summary.
'use strict';
const fs = require('fs');
const path = require('path');

function usage(code) {
  (code ? process.stderr : process.stdout).write(
    'usage: node tools/ort/run.js MODEL.onnx [--batch N] [--seed S] [--input FILE.pb]...\n' +
    '                             [--threads T] [--iters K] [--warmup W] [--out DIR] [--json FILE]\n' +
    '  Seeded inputs use gpulet run\'s generator (input i from seed S+i); a symbolic dim is the\n' +
    '  batch N (default 1). Writes DIR/input_<i>.pb and DIR/output_<i>.pb when --out is given,\n' +
    '  and the timings and output checksums as JSON (to --json FILE or stdout).\n');
  process.exit(code);
}

// ---- TensorProto, the few fields a tensor needs ----
const DT = { 1: 'float32', 2: 'uint8', 3: 'int8', 5: 'int16', 6: 'int32', 7: 'int64', 9: 'bool', 11: 'float64' };
const DT_CODE = { float32: 1, uint8: 2, int8: 3, int16: 5, int32: 6, int64: 7, bool: 9, float64: 11 };
const ARR = { float32: Float32Array, uint8: Uint8Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
              int64: BigInt64Array, bool: Uint8Array, float64: Float64Array };

function varint(n) { // n: BigInt >= 0 (two's complement for negatives)
  let v = BigInt.asUintN(64, BigInt(n));
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

function encodeTensor(name, type, dims, data) {
  const parts = [];
  for (const d of dims) parts.push(Buffer.from([0x08]), varint(d));
  parts.push(Buffer.from([0x10]), varint(DT_CODE[type]));
  const nb = Buffer.from(name, 'utf8');
  parts.push(Buffer.from([0x42]), varint(nb.length), nb);
  const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  parts.push(Buffer.from([0x4a]), varint(raw.length), raw);
  return Buffer.concat(parts);
}

function decodeTensor(buf) {
  let p = 0;
  const rv = () => {
    let r = 0n, s = 0n;
    for (;;) {
      const b = buf[p++];
      r |= BigInt(b & 0x7f) << s;
      s += 7n;
      if (!(b & 0x80)) return r;
    }
  };
  const t = { dims: [], type: 0, name: '', raw: null, floats: [], ints: [], i32: [] };
  while (p < buf.length) {
    const key = Number(rv()), field = key >> 3, wire = key & 7;
    if (wire === 0) {
      const v = rv();
      if (field === 1) t.dims.push(Number(BigInt.asIntN(64, v)));
      else if (field === 2) t.type = Number(v);
      else if (field === 7) t.ints.push(BigInt.asIntN(64, v));
      else if (field === 5) t.i32.push(Number(BigInt.asIntN(32, v)));
    } else if (wire === 2) {
      const len = Number(rv()), body = buf.subarray(p, p + len);
      p += len;
      if (field === 8) t.name = body.toString('utf8');
      else if (field === 9) t.raw = Buffer.from(body);
      else if (field === 4) for (let i = 0; i + 4 <= len; i += 4) t.floats.push(body.readFloatLE(i));
      else if (field === 1 || field === 7 || field === 5) {
        const save = [buf, p];
        buf = body; p = 0;
        while (p < body.length) {
          const v = rv();
          if (field === 1) t.dims.push(Number(BigInt.asIntN(64, v)));
          else if (field === 7) t.ints.push(BigInt.asIntN(64, v));
          else t.i32.push(Number(BigInt.asIntN(32, v)));
        }
        [buf, p] = save;
      }
    } else if (wire === 5) {
      if (field === 4) t.floats.push(buf.readFloatLE(p));
      p += 4;
    } else if (wire === 1) {
      p += 8;
    } else {
      throw new Error('unsupported protobuf wire type ' + wire);
    }
  }
  const type = DT[t.type];
  if (!type) throw new Error('unsupported tensor data type ' + t.type);
  const n = t.dims.reduce((a, b) => a * b, 1);
  let data;
  if (t.raw) {
    const copy = new Uint8Array(t.raw); // aligned copy
    data = new ARR[type](copy.buffer, 0, n);
  } else if (type === 'float32') data = Float32Array.from(t.floats);
  else if (type === 'int64') data = BigInt64Array.from(t.ints);
  else data = ARR[type].from(t.i32);
  if (data.length !== n) throw new Error(`tensor '${t.name}' holds ${data.length} elements, its dims say ${n}`);
  return { name: t.name, type, dims: t.dims, data };
}

// ---- gpulet run's seeded inputs (cmd_run.c fill_random) ----
const M64 = (1n << 64n) - 1n;
function seededTensor(type, dims, seed) {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new ARR[type](n);
  let s = (BigInt(seed) * 0x9E3779B97F4A7C15n + 1n) & M64;
  for (let i = 0; i < n; i++) {
    s ^= (s << 13n) & M64;
    s ^= s >> 7n;
    s ^= (s << 17n) & M64;
    if (type === 'float32' || type === 'float64') data[i] = (Number(s >> 11n) / 2 ** 53) * 2 - 1;
    else if (type === 'int64') data[i] = s % 100n;
    else if (type === 'int32') data[i] = Number(s % 100n);
    else if (type === 'bool' || type === 'uint8') data[i] = Number(s & 1n);
  }
  return data;
}

function parseArgs(argv) {
  const a = { model: null, batch: 1, seed: 1, inputs: [], threads: 1, iters: 5, warmup: 1, out: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = () => { if (i + 1 >= argv.length) usage(2); return argv[++i]; };
    if (k === '--batch') a.batch = parseInt(v(), 10);
    else if (k === '--seed') a.seed = parseInt(v(), 10);
    else if (k === '--input') a.inputs.push(v());
    else if (k === '--threads') a.threads = parseInt(v(), 10);
    else if (k === '--iters') a.iters = parseInt(v(), 10);
    else if (k === '--warmup') a.warmup = parseInt(v(), 10);
    else if (k === '--out') a.out = v();
    else if (k === '--json') a.json = v();
    else if (k === '--help' || k === '-h') usage(0);
    else if (k.startsWith('--') || a.model) usage(2);
    else a.model = k;
  }
  if (!a.model || !(a.batch >= 1) || !(a.threads >= 1) || !(a.iters >= 1) || !(a.warmup >= 0)) usage(2);
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (e) {
    console.error('run.js: onnxruntime-node is not installed (scripts/install-deps.sh installs it): ' + e.message);
    process.exit(3);
  }
  const t0 = process.hrtime.bigint();
  const sess = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const feeds = {}, inputs = [];
  if (a.inputs.length && a.inputs.length !== sess.inputNames.length)
    throw new Error(`the model has ${sess.inputNames.length} inputs, ${a.inputs.length} --input files given`);
  sess.inputNames.forEach((name, i) => {
    let t;
    if (a.inputs.length) {
      t = decodeTensor(fs.readFileSync(a.inputs[i]));
    } else {
      const md = sess.inputMetadata[i];
      const dims = md.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : a.batch));
      t = { type: md.type, dims, data: seededTensor(md.type, dims, a.seed + i) };
    }
    feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    inputs.push({ name, type: t.type, dims: t.dims });
    if (a.out) {
      fs.mkdirSync(a.out, { recursive: true });
      fs.writeFileSync(path.join(a.out, `input_${i}.pb`), encodeTensor(name, t.type, t.dims, t.data));
    }
  });
  let res = null;
  for (let w = 0; w < a.warmup; w++) res = await sess.run(feeds);
  const lat = [];
  for (let k = 0; k < a.iters; k++) {
    const s = process.hrtime.bigint();
    res = await sess.run(feeds);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const outputs = sess.outputNames.map((name, i) => {
    const t = res[name];
    let sum = 0, asum = 0;
    for (const x of t.data) { const v = Number(x); sum += v; asum += Math.abs(v); }
    if (a.out) fs.writeFileSync(path.join(a.out, `output_${i}.pb`), encodeTensor(name, t.type, t.dims, t.data));
    return { name, type: t.type, dims: t.dims, sum, abs_sum: asum };
  });
  lat.sort((x, y) => x - y);
  const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
  const summary = {
    model: a.model, runtime: 'onnxruntime-node ' + ort.env.versions.common, threads: a.threads, batch: a.batch,
    seed: a.seed, load_ms: loadMs, iters: a.iters, warmup: a.warmup,
    latency_ms: { min: lat[0], p50: pct(50), p90: pct(90), max: lat[lat.length - 1],
                  mean: lat.reduce((x, y) => x + y, 0) / lat.length },
    inputs, outputs,
  };
  const text = JSON.stringify(summary, null, 2) + '\n';
  if (a.json) fs.writeFileSync(a.json, text);
  else process.stdout.write(text);
}

main().catch((e) => {
  console.error('run.js: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
