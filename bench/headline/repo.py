#!/usr/bin/env python3
# bench/headline/repo.py - a model repository for a scenario: one folder per scenario instance
# (lenet1..lenetN each a copy of the zoo's lenet) with model.onnx and config.json (slo_ms,
# slo_percentile, rate = the scenario's rate x SCALE, max_batch_size). Never committed.
# Usage: repo.py GPULET SCENARIO.json OUT_DIR [--scale K] [--max-batch N] [--no-rate]
import json
import os
import shutil
import subprocess
import sys

# profile model (docs/profile.md names) -> zoo model (gpulet zoo --list)
ZOO = {"lenet": "lenet", "googlenet": "googlenet", "resnet50": "resnet50", "vgg16": "vgg16",
       "mobilenet_v2": "mobilenetv2", "mnasnet1_0": "mnasnet", "densenet161": "densenet161",
       "ssd-mobilenetv1": "ssd-mobilenet", "bert": "bert-base"}


def main(argv):
    if len(argv) < 4:
        print(__doc__ or "usage: repo.py GPULET SCENARIO OUT [--scale K] [--max-batch N] [--no-rate]", file=sys.stderr)
        return 2
    g, scen_path, out = argv[1:4]
    scale, max_batch, with_rate = 1.0, 8, True
    i = 4
    while i < len(argv):
        if argv[i] == "--scale":
            scale = float(argv[i + 1]); i += 2
        elif argv[i] == "--max-batch":
            max_batch = int(argv[i + 1]); i += 2
        elif argv[i] == "--no-rate":
            with_rate = False; i += 1
        else:
            print(f"repo.py: unknown option {argv[i]}", file=sys.stderr)
            return 2
    scen = json.load(open(scen_path))
    os.makedirs(out, exist_ok=True)
    cache = os.path.join(out, ".zoo")
    os.makedirs(cache, exist_ok=True)
    for m in scen["models"]:
        prof = m.get("profile", m["name"])
        zoo = ZOO.get(prof)
        if not zoo:
            print(f"repo.py: no zoo model for profile model '{prof}'", file=sys.stderr)
            return 1
        src = os.path.join(cache, zoo + ".onnx")
        if not os.path.exists(src):
            cmd = [g, "zoo", zoo, "-o", src]
            if zoo == "bert-base":
                cmd += ["--seq", "14"]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        d = os.path.join(out, m["name"])
        os.makedirs(d, exist_ok=True)
        dst = os.path.join(d, "model.onnx")
        if os.path.exists(dst):
            os.remove(dst)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
        cfg = {"max_batch_size": max_batch, "slo_ms": m["slo_ms"], "slo_percentile": m.get("percentile", 99)}
        if with_rate:
            cfg["rate"] = m["rate"] * scale
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
