#!/usr/bin/env python3
"""bench/gpu_vs_torch.py - gpulet's CUDA backend against PyTorch on the same GPU, same weights.

usage: bench/gpu_vs_torch.py OUT_DIR [--gpulet BIN] [--models a,b] [--batches 1,8,32]
                             [--iters N] [--budget SECONDS] [--no-compile]

For every zoo model (`gpulet zoo NAME -o .zoo/NAME.onnx`) and batch size it
  * loads the ONNX file with `onnx` and runs it in PyTorch through a small ONNX-graph
    interpreter written here (torch ops only, the zoo's initializers as the weights);
  * times PyTorch fp16 under torch.inference_mode(): eager, replayed as a CUDA graph, and
    torch.compile; plus fp32 eager as a reference. Each is timed two ways: "dev" (input already
    on the GPU) and "e2e" (pinned host input copied in, output copied back, synchronised: what
    `gpulet run` measures);
  * times `gpulet run MODEL --device cuda --batch B --precision P` for P in fp32, tf32, fp16 on
    the same input (written as TensorProto files and passed with --input);
  * checks the interpreter against onnxruntime (CPU) at batch 1 and gpulet's fp32 output sums
    against PyTorch fp32's;
  * prints gpulet/PyTorch latency ratios and writes everything (GPU name, driver, CUDA, cuDNN,
    torch version, commit, every number) to OUT_DIR/gpu_vs_torch.json and .csv.
Without torch, onnx or a GPU it says so, writes that into the JSON and exits 0.
"""
import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

ZOO = ["lenet", "mobilenetv2", "mnasnet", "googlenet", "resnet50", "ssd-mobilenet", "densenet161", "vgg16",
       "bert-base"]
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def sh(cmd, timeout=600):
    """Runs cmd; returns (rc, stdout+stderr)."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, text=True)
        return p.returncode, p.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, str(e)


def environment(gpulet):
    env = {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": sys.version.split()[0]}
    rc, out = sh(["git", "-C", ROOT, "rev-parse", "HEAD"])
    env["commit"] = out.strip() if rc == 0 else "unknown"
    rc, out = sh(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                  "--format=csv,noheader"])
    env["nvidia_smi"] = out.strip() if rc == 0 else "unavailable"
    rc, out = sh(["nvcc", "--version"])
    env["nvcc"] = out.strip().splitlines()[-1] if rc == 0 and out.strip() else "unavailable"
    env["gpulet"] = gpulet
    return env


# ---------------------------------------------------------------- the ONNX interpreter in torch
def make_interpreter(torch, onnx, numpy_helper, model, dtype, device):
    """A torch.nn.Module running model's graph node by node with torch ops. Float initializers are
    converted to dtype once; integer ones stay int64 (and, when small, are also kept as Python
    lists for shape arguments, so torch.compile sees constants)."""
    F = torch.nn.functional
    g = model.graph
    opset = 13
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            opset = o.version

    def attrs(node):
        d = {}
        for a in node.attribute:
            d[a.name] = onnx.helper.get_attribute_value(a)
            if isinstance(d[a.name], bytes):
                d[a.name] = d[a.name].decode()
        return d

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.consts = {}  # name -> python list (small int tensors)
            self.fconsts = {}  # name -> python float (float scalars: Clip's bounds)
            self.names = {}
            for i, init in enumerate(g.initializer):
                arr = numpy_helper.to_array(init)
                t = torch.from_numpy(arr.copy())
                if t.is_floating_point():
                    t = t.to(dtype)
                key = "w%d" % i
                self.register_buffer(key, t.to(device), persistent=False)
                self.names[init.name] = key
                if not t.is_floating_point() and t.numel() <= 64:
                    self.consts[init.name] = [int(v) for v in arr.reshape(-1).tolist()]
                if t.is_floating_point() and t.numel() == 1:
                    self.fconsts[init.name] = float(arr.reshape(-1)[0])
            for node in g.node:  # Constant nodes become constants too
                if node.op_type == "Constant":
                    arr = numpy_helper.to_array(attrs(node)["value"])
                    t = torch.from_numpy(arr.copy())
                    if t.is_floating_point():
                        t = t.to(dtype)
                    key = "c%d" % len(self.names)
                    self.register_buffer(key, t.to(device), persistent=False)
                    self.names[node.output[0]] = key
                    if not t.is_floating_point() and t.numel() <= 64:
                        self.consts[node.output[0]] = [int(v) for v in arr.reshape(-1).tolist()]
            self.nodes = [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in g.node
                          if n.op_type != "Constant"]
            self.inputs = [i.name for i in g.input if i.name not in self.names]
            self.outputs = [o.name for o in g.output]

        def scalar(self, env, name):
            if name in self.fconsts:
                return self.fconsts[name]
            return float(env[name].reshape(-1)[0].item())

        def ints(self, env, name):
            if name in self.consts:
                return self.consts[name]
            return [int(v) for v in env[name].reshape(-1).tolist()]

        def forward(self, *xs):
            env = {k: getattr(self, v) for k, v in self.names.items()}
            for name, x in zip(self.inputs, xs):
                env[name] = x
            for op, ins, outs, a in self.nodes:
                x = [env[i] if i else None for i in ins]
                y = self.run(op, ins, x, a, env)
                if not isinstance(y, (list, tuple)):
                    y = [y]
                for o, v in zip(outs, y):
                    if o:
                        env[o] = v
            res = [env[o] for o in self.outputs]
            return res[0] if len(res) == 1 else tuple(res)

        def run(self, op, ins, x, a, env):
            if op == "Conv":
                w = x[1]
                nsp = w.dim() - 2
                pads = a.get("pads", [0] * 2 * nsp)
                inp = x[0]
                if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
                    raise NotImplementedError("Conv auto_pad")
                if list(pads[:nsp]) != list(pads[nsp:]):
                    pp = []
                    for d in reversed(range(nsp)):
                        pp += [pads[d], pads[nsp + d]]
                    inp, pads = F.pad(inp, pp), [0] * 2 * nsp
                conv = F.conv1d if nsp == 1 else (F.conv2d if nsp == 2 else F.conv3d)
                return conv(inp, w, x[2] if len(x) > 2 else None, stride=a.get("strides", [1] * nsp),
                            padding=list(pads[:nsp]), dilation=a.get("dilations", [1] * nsp),
                            groups=a.get("group", 1))
            if op == "BatchNormalization":
                return F.batch_norm(x[0], x[3], x[4], x[1], x[2], False, 0.0, a.get("epsilon", 1e-5))
            if op == "Relu":
                return F.relu(x[0])
            if op == "LeakyRelu":
                return F.leaky_relu(x[0], a.get("alpha", 0.01))
            if op == "Sigmoid":
                return torch.sigmoid(x[0])
            if op == "Tanh":
                return torch.tanh(x[0])
            if op == "Erf":
                return torch.erf(x[0])
            if op == "Sqrt":
                return torch.sqrt(x[0])
            if op == "HardSwish":
                return F.hardswish(x[0])
            if op == "HardSigmoid":
                return torch.clamp(a.get("alpha", 0.2) * x[0] + a.get("beta", 0.5), 0, 1)
            if op == "Gelu":
                return F.gelu(x[0], approximate=a.get("approximate", "none"))
            if op == "Clip":
                if opset < 11:
                    lo, hi = a.get("min", None), a.get("max", None)
                else:
                    lo = self.scalar(env, ins[1]) if len(ins) > 1 and ins[1] else None
                    hi = self.scalar(env, ins[2]) if len(ins) > 2 and ins[2] else None
                return torch.clamp(x[0], lo, hi)
            if op in ("MaxPool", "AveragePool"):
                k = a["kernel_shape"]
                nsp = len(k)
                pads = a.get("pads", [0] * 2 * nsp)
                inp = x[0]
                if list(pads[:nsp]) != list(pads[nsp:]):
                    pp = []
                    for d in reversed(range(nsp)):
                        pp += [pads[d], pads[nsp + d]]
                    fill = float("-inf") if op == "MaxPool" else 0.0
                    inp, pads = F.pad(inp, pp, value=fill), [0] * 2 * nsp
                kw = dict(kernel_size=k, stride=a.get("strides", [1] * nsp), padding=list(pads[:nsp]),
                          ceil_mode=bool(a.get("ceil_mode", 0)))
                if op == "MaxPool":
                    f = F.max_pool1d if nsp == 1 else F.max_pool2d
                    return f(inp, dilation=a.get("dilations", [1] * nsp), **kw)
                f = F.avg_pool1d if nsp == 1 else F.avg_pool2d
                return f(inp, count_include_pad=bool(a.get("count_include_pad", 0)), **kw)
            if op == "GlobalAveragePool":
                return x[0].mean(dim=tuple(range(2, x[0].dim())), keepdim=True)
            if op == "GlobalMaxPool":
                return x[0].amax(dim=tuple(range(2, x[0].dim())), keepdim=True)
            if op == "LRN":
                return F.local_response_norm(x[0], a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75),
                                             a.get("bias", 1.0))
            if op == "Concat":
                return torch.cat(x, dim=a["axis"])
            if op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum"):
                f = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div, "Pow": torch.pow,
                     "Max": torch.maximum, "Min": torch.minimum, "Sum": torch.add}[op]
                return f(x[0], x[1])
            if op == "Gemm":
                A = x[0].t() if a.get("transA", 0) else x[0]
                B = x[1].t() if a.get("transB", 0) else x[1]
                y = a.get("alpha", 1.0) * (A @ B)
                if len(x) > 2 and x[2] is not None:
                    y = y + a.get("beta", 1.0) * x[2]
                return y
            if op == "MatMul":
                return torch.matmul(x[0], x[1])
            if op == "Flatten":
                ax = a.get("axis", 1)
                if ax < 0:
                    ax += x[0].dim()
                return x[0].reshape(math.prod(x[0].shape[:ax]), -1)
            if op == "Reshape":
                shape = self.ints(env, ins[1])
                if not a.get("allowzero", 0):
                    shape = [x[0].shape[i] if s == 0 else s for i, s in enumerate(shape)]
                return x[0].reshape(shape)
            if op == "Transpose":
                perm = a.get("perm", list(reversed(range(x[0].dim()))))
                return x[0].permute(perm)
            if op in ("Softmax", "LogSoftmax"):
                ax = a.get("axis", -1 if opset >= 13 else 1)
                f = torch.softmax if op == "Softmax" else torch.log_softmax
                if opset >= 13:
                    return f(x[0], dim=ax)
                shp = x[0].shape
                ax = ax % x[0].dim()
                return f(x[0].reshape(math.prod(shp[:ax]), -1), dim=1).reshape(shp)
            if op == "LayerNormalization":
                ax = a.get("axis", -1) % x[0].dim()
                return F.layer_norm(x[0], x[0].shape[ax:], x[1], x[2] if len(x) > 2 else None, a.get("epsilon", 1e-5))
            if op == "Gather":
                ax = a.get("axis", 0) % x[0].dim()
                idx = x[1].long()
                idx = torch.where(idx < 0, idx + x[0].shape[ax], idx)
                return x[0].index_select(ax, idx.reshape(-1)).reshape(
                    tuple(x[0].shape[:ax]) + tuple(idx.shape) + tuple(x[0].shape[ax + 1:]))
            if op in ("Identity", "Dropout"):
                return x[0]
            if op == "Unsqueeze":
                axes = a["axes"] if opset < 13 else self.ints(env, ins[1])
                y = x[0]
                for ax in sorted(v % (x[0].dim() + len(axes)) for v in axes):
                    y = y.unsqueeze(ax)
                return y
            if op == "Squeeze":
                axes = a.get("axes") if opset < 13 else (self.ints(env, ins[1]) if len(ins) > 1 and ins[1] else None)
                if axes is None:
                    return x[0].squeeze()
                y = x[0]
                for ax in sorted((v % x[0].dim() for v in axes), reverse=True):
                    y = y.squeeze(ax)
                return y
            if op == "Shape":
                return torch.tensor(list(x[0].shape), dtype=torch.int64, device=x[0].device)
            if op == "Cast":
                to = {1: dtype, 6: torch.int32, 7: torch.int64, 9: torch.bool, 10: torch.float16, 11: torch.float64}
                return x[0].to(to[a["to"]])
            if op == "ReduceMean" or op == "ReduceSum":
                axes_in_attr = opset < (18 if op == "ReduceMean" else 13)
                if axes_in_attr:
                    axes = a.get("axes")
                else:
                    axes = self.ints(env, ins[1]) if len(ins) > 1 and ins[1] else None
                keep = bool(a.get("keepdims", 1))
                dims = tuple(axes) if axes else tuple(range(x[0].dim()))
                return x[0].mean(dim=dims, keepdim=keep) if op == "ReduceMean" else x[0].sum(dim=dims, keepdim=keep)
            if op == "Slice":
                starts, ends = self.ints(env, ins[1]), self.ints(env, ins[2])
                axes = self.ints(env, ins[3]) if len(ins) > 3 and ins[3] else list(range(len(starts)))
                steps = self.ints(env, ins[4]) if len(ins) > 4 and ins[4] else [1] * len(starts)
                idx = [slice(None)] * x[0].dim()
                for s0, e0, ax, st in zip(starts, ends, axes, steps):
                    if st != 1:
                        raise NotImplementedError("Slice with steps")
                    idx[ax % x[0].dim()] = slice(s0, e0)
                return x[0][tuple(idx)]
            if op == "Where":
                return torch.where(x[0], x[1], x[2])
            if op == "Expand":
                return x[0] * torch.ones(self.ints(env, ins[1]), dtype=x[0].dtype, device=x[0].device)
            raise NotImplementedError("op %s" % op)

    return Net()


# ---------------------------------------------------------------- timing
SYNC = [lambda: None]


def time_cuda(torch, fn, iters, warmup):
    """p50 and mean milliseconds of fn() (synchronised per iteration, wall clock)."""
    for _ in range(warmup):
        fn()
    SYNC[0]()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        SYNC[0]()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    return {"p50_ms": ts[len(ts) // 2], "min_ms": ts[0], "mean_ms": sum(ts) / len(ts)}


def make_inputs(np, model, batch):
    """Seeded inputs for model's graph inputs with the batch bound (BERT: token ids < 1000,
    token types 0, masks 1)."""
    rng = np.random.default_rng(1234 + batch)
    inits = {i.name for i in model.graph.initializer}
    arrs = []
    for inp in model.graph.input:
        if inp.name in inits:
            continue
        tt = inp.type.tensor_type
        dims = []
        for i, d in enumerate(tt.shape.dim):
            dims.append(d.dim_value if d.dim_value > 0 else (batch if i == 0 else 128))
        if tt.elem_type == 7:
            if "type" in inp.name:
                arrs.append((inp.name, np.zeros(dims, dtype=np.int64)))
            elif "mask" in inp.name:
                arrs.append((inp.name, np.ones(dims, dtype=np.int64)))
            else:
                arrs.append((inp.name, rng.integers(0, 1000, size=dims, dtype=np.int64)))
        else:
            arrs.append((inp.name, rng.standard_normal(dims).astype(np.float32)))
    return arrs


def run_gpulet(gpulet, path, batch, precision, pb_files, iters, device="cuda"):
    cmd = [gpulet, "run", path, "--device", device, "--batch", str(batch), "--iters", str(iters), "--warmup", "5",
           "--precision", precision]
    for f in pb_files:
        cmd += ["--input", f]
    t0 = time.time()
    rc, out = sh(cmd, timeout=900)
    res = {"rc": rc, "wall_s": round(time.time() - t0, 2), "cmd": " ".join(cmd)}
    m = re.search(r"latency ms over \d+ runs: min ([\d.]+) p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+)", out)
    if m:
        res.update(min_ms=float(m.group(1)), p50_ms=float(m.group(2)), p90_ms=float(m.group(3)),
                   p99_ms=float(m.group(4)))
    m = re.search(r"compile ([\d.]+) ms", out)
    if m:
        res["compile_ms"] = float(m.group(1))
    res["outputs"] = [{"name": a, "sum": float(b), "abs_sum": float(c)} for a, b, c in
                      re.findall(r"output (\S+): \S+ \S+ sum (\S+) abs-sum (\S+)", out)]
    if rc != 0:
        res["error"] = out.strip().splitlines()[-5:] if out.strip() else []
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--gpulet", default=os.path.join(ROOT, "build-gpu", "gpulet"))
    ap.add_argument("--models", default=",".join(ZOO))
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--budget", type=float, default=3000.0, help="seconds; later torch.compile runs are skipped")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--smoke-cpu", action="store_true",
                    help="self-test without a GPU: torch and gpulet on the CPU, no CUDA graphs (timings meaningless)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if not os.path.exists(args.gpulet):
        alt = os.path.join(ROOT, "build", "gpulet")
        args.gpulet = alt if os.path.exists(alt) else args.gpulet
    report = {"env": environment(args.gpulet), "results": [], "notes": []}
    jpath = os.path.join(args.out, "gpu_vs_torch.json")

    def save():
        with open(jpath, "w") as f:
            json.dump(report, f, indent=1)

    try:
        import numpy as np
        import onnx
        from onnx import numpy_helper
        import torch
    except ImportError as e:
        report["notes"].append("skipped: %s (needs torch, onnx and numpy)" % e)
        save()
        print("gpu_vs_torch: %s; nothing measured" % report["notes"][-1])
        return 0
    env = report["env"]
    env["torch"] = torch.__version__
    env["torch_cuda"] = torch.version.cuda
    env["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    if not torch.cuda.is_available() and not args.smoke_cpu:
        report["notes"].append("skipped: torch sees no CUDA device")
        save()
        print("gpu_vs_torch: torch sees no CUDA device; nothing measured")
        return 0
    env["gpu"] = "cpu (smoke test)" if args.smoke_cpu else torch.cuda.get_device_name(0)
    if not args.smoke_cpu:
        SYNC[0] = torch.cuda.synchronize
    pin = (lambda t: t) if args.smoke_cpu else (lambda t: t.pin_memory())
    gdev = "cpu" if args.smoke_cpu else "cuda"
    try:
        import onnxruntime as ort
        env["onnxruntime"] = ort.__version__
    except ImportError:
        ort = None
    dev = torch.device("cpu" if args.smoke_cpu else "cuda")
    t_start = time.time()
    zoo_dir = os.path.join(ROOT, ".zoo")
    os.makedirs(zoo_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="gpu_vs_torch_")
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        path = os.path.join(zoo_dir, name + ".onnx")
        if not os.path.exists(path):
            rc, out = sh([args.gpulet, "zoo", name, "-o", path])
            if rc != 0:
                report["notes"].append("%s: gpulet zoo failed: %s" % (name, out.strip()[-300:]))
                continue
        model = onnx.load(path)
        nets = {}
        for tag, dt in ((("fp16", torch.float16),) if not args.smoke_cpu else ()) + (("fp32", torch.float32),):
            try:
                nets[tag] = make_interpreter(torch, onnx, numpy_helper, model, dt, dev).eval()
            except Exception as e:  # noqa: BLE001 - record and go on
                report["notes"].append("%s: interpreter (%s) failed: %r" % (name, tag, e))
        for batch in [int(b) for b in args.batches.split(",") if b]:
            r = {"model": name, "batch": batch, "torch": {}, "gpulet": {}}
            arrs = make_inputs(np, model, batch)
            pbs = []
            for i, (iname, arr) in enumerate(arrs):
                pb = os.path.join(tmp, "%s_b%d_in%d.pb" % (name, batch, i))
                with open(pb, "wb") as f:
                    f.write(numpy_helper.from_array(arr, iname).SerializeToString())
                pbs.append(pb)
            if not args.smoke_cpu:
                torch.cuda.empty_cache()
            with torch.inference_mode():
                for tag, net in nets.items():
                    fdt = torch.float16 if tag == "fp16" else torch.float32
                    host = [pin(torch.from_numpy(a)) if a.dtype == np.int64 else
                            pin(torch.from_numpy(a).to(fdt)) for _, a in arrs]
                    dev_in = [h.to(dev) for h in host]
                    try:
                        y = net(*dev_in)
                        ys = y if isinstance(y, tuple) else (y,)
                        r["torch"][tag + "_outputs"] = [{"sum": float(t.float().sum()), "abs_sum": float(t.float().abs().sum())}
                                                        for t in ys]
                        r["torch"][tag + "_eager_dev"] = time_cuda(torch, lambda: net(*dev_in), args.iters, 5)

                        def e2e(fn=net):
                            o = fn(*[h.to(dev, non_blocking=True) for h in host])
                            for t in (o if isinstance(o, tuple) else (o,)):
                                t.to("cpu")
                        r["torch"][tag + "_eager_e2e"] = time_cuda(torch, e2e, args.iters, 5)
                    except Exception as e:  # noqa: BLE001
                        r["torch"][tag + "_eager_error"] = repr(e)[:300]
                        continue
                    if tag != "fp16":
                        continue
                    # CUDA graph of the fp16 eager model
                    try:
                        static_in = [t.clone() for t in dev_in]
                        s = torch.cuda.Stream()
                        s.wait_stream(torch.cuda.current_stream())
                        with torch.cuda.stream(s):
                            for _ in range(3):
                                net(*static_in)
                        torch.cuda.current_stream().wait_stream(s)
                        cg = torch.cuda.CUDAGraph()
                        with torch.cuda.graph(cg):
                            static_out = net(*static_in)
                        outs_g = static_out if isinstance(static_out, tuple) else (static_out,)
                        r["torch"]["fp16_graph_dev"] = time_cuda(torch, cg.replay, args.iters, 5)

                        def g_e2e():
                            for si, h in zip(static_in, host):
                                si.copy_(h, non_blocking=True)
                            cg.replay()
                            for t in outs_g:
                                t.to("cpu")
                        r["torch"]["fp16_graph_e2e"] = time_cuda(torch, g_e2e, args.iters, 5)
                        del cg
                    except Exception as e:  # noqa: BLE001
                        r["torch"]["fp16_graph_error"] = repr(e)[:300]
                    # torch.compile
                    if args.no_compile or time.time() - t_start > args.budget:
                        r["torch"]["fp16_compile_skipped"] = "no-compile" if args.no_compile else "budget"
                        continue
                    try:
                        t0 = time.time()
                        cnet = torch.compile(net, dynamic=False)
                        cnet(*dev_in)
                        torch.cuda.synchronize()
                        r["torch"]["fp16_compile_s"] = round(time.time() - t0, 1)
                        r["torch"]["fp16_compile_dev"] = time_cuda(torch, lambda: cnet(*dev_in), args.iters, 5)
                        r["torch"]["fp16_compile_e2e"] = time_cuda(torch, lambda: [t.to("cpu") for t in (
                            lambda o: o if isinstance(o, tuple) else (o,))(cnet(*[h.to(dev, non_blocking=True)
                                                                                 for h in host]))],
                                                                   args.iters, 5)
                    except Exception as e:  # noqa: BLE001
                        r["torch"]["fp16_compile_error"] = repr(e)[:300]
            # the interpreter against onnxruntime, batch 1
            if ort is not None and batch == 1 and "fp32" in nets:
                try:
                    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                    want = sess.run(None, {n: a for n, a in arrs})
                    with torch.inference_mode():
                        got = nets["fp32"](*[torch.from_numpy(a).to(dev) for _, a in arrs])
                    got = got if isinstance(got, tuple) else (got,)
                    r["interpreter_vs_ort_max_abs"] = max(float(np.max(np.abs(g_.float().cpu().numpy() - w)))
                                                          for g_, w in zip(got, want))
                except Exception as e:  # noqa: BLE001
                    r["interpreter_vs_ort_error"] = repr(e)[:300]
            for prec in ("fp32", "tf32", "fp16"):
                r["gpulet"][prec] = run_gpulet(args.gpulet, path, batch, prec, pbs, args.iters, gdev)
            # gpulet fp32 sums against torch fp32's
            go, to = r["gpulet"]["fp32"].get("outputs", []), r["torch"].get("fp32_outputs", [])
            if go and to and len(go) == len(to):
                r["fp32_abs_sum_rel_diff"] = max(abs(a["abs_sum"] - b["abs_sum"]) / max(abs(b["abs_sum"]), 1e-30)
                                                 for a, b in zip(go, to))
            # gpulet fp16 sums against torch fp16's and gpulet fp32's (elementwise fp16 checks: ctest -L gpu)
            g16 = r["gpulet"]["fp16"].get("outputs", [])
            for ref_name, ref in (("torch_fp16", r["torch"].get("fp16_outputs", [])), ("gpulet_fp32", go)):
                if g16 and ref and len(g16) == len(ref):
                    r["fp16_abs_sum_rel_diff_vs_" + ref_name] = max(
                        abs(a["abs_sum"] - b["abs_sum"]) / max(abs(b["abs_sum"]), 1e-30) for a, b in zip(g16, ref))
            # ratios: gpulet p50 / torch p50 (e2e, the like-for-like measurement); > 1 = gpulet slower
            for prec in ("fp32", "tf32", "fp16"):
                gp = r["gpulet"][prec].get("p50_ms")
                for tk in ("fp16_eager_e2e", "fp16_graph_e2e", "fp16_compile_e2e", "fp32_eager_e2e"):
                    tv = r["torch"].get(tk, {}).get("p50_ms") if isinstance(r["torch"].get(tk), dict) else None
                    if gp and tv:
                        r.setdefault("ratio", {})["gpulet_%s/torch_%s" % (prec, tk)] = round(gp / tv, 3)
            report["results"].append(r)
            save()

            def p50(d, k):
                v = d.get(k)
                return "%.3f" % v["p50_ms"] if isinstance(v, dict) and "p50_ms" in v else "-"
            row = [name, batch, p50(r["torch"], "fp16_eager_e2e"), p50(r["torch"], "fp16_graph_e2e"),
                   p50(r["torch"], "fp16_compile_e2e"), p50(r["torch"], "fp32_eager_e2e")]
            for prec in ("fp32", "tf32", "fp16"):
                v = r["gpulet"][prec].get("p50_ms")
                row.append("%.3f" % v if v else "err")
            best_t = [r["torch"].get(k, {}).get("p50_ms") for k in ("fp16_eager_e2e", "fp16_graph_e2e", "fp16_compile_e2e")
                      if isinstance(r["torch"].get(k), dict)]
            best_g = [r["gpulet"][p].get("p50_ms") for p in ("fp32", "tf32", "fp16") if r["gpulet"][p].get("p50_ms")]
            row.append("%.2f" % (min(best_g) / min(best_t)) if best_t and best_g else "-")
            rows.append(row)
            print("%-14s b%-3d torch fp16 eager %s graph %s compile %s fp32 %s | gpulet fp32 %s tf32 %s fp16 %s | "
                  "best gpulet / best torch %s" % tuple(row), flush=True)
    hdr = ["model", "batch", "torch_fp16_eager_ms", "torch_fp16_graph_ms", "torch_fp16_compile_ms",
           "torch_fp32_eager_ms", "gpulet_fp32_ms", "gpulet_tf32_ms", "gpulet_fp16_ms", "best_ratio"]
    with open(os.path.join(args.out, "gpu_vs_torch.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(hdr)
        w.writerows(rows)
    report["notes"].append("latencies are p50 over %d runs, end to end (pinned host input in, output out, "
                           "synchronised), as gpulet run measures; *_dev numbers keep the input on the GPU" % args.iters)
    save()
    print("gpu_vs_torch: wrote %s and gpu_vs_torch.csv" % jpath)
    return 0


if __name__ == "__main__":
    sys.exit(main())
