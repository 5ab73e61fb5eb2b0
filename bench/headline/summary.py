#!/usr/bin/env python3
# bench/headline/summary.py - the headline's summary (Markdown) from OUT/headline.csv (simulated),
# OUT/real.csv and OUT/simreal.csv (measured on this machine's CPU, when present).
# Usage: bench/headline/summary.py OUT_DIR > OUT_DIR/summary.md
import csv
import math
import os
import sys

OUT = sys.argv[1]
POL = ["gpulet", "gpulet-int", "sbp", "triton", "static", "fine"]
OURS = ["gpulet", "gpulet-int", "fine"]


def rows(name):
    p = os.path.join(OUT, name)
    return list(csv.DictReader(open(p))) if os.path.exists(p) else []


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def gmean(xs):
    xs = [x for x in xs if x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def fmt(x, nd=2):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{nd}f}"


def rate(x):
    x = float(x)
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e4:
        return f"{x / 1e3:.1f}k"
    return f"{x:.1f}"


def limit(r):
    """what stopped this policy just above its max (the 'above' probe)"""
    if r["above_plan"] == "planner":
        return "plan"
    if r["above_plan"] == "INFEASIBLE":
        return "plan"
    if r["above_worst_model"] in ("", "-"):
        return "?"
    return f"{r['above_worst_model']} {float(r['above_worst_attain']):.1f}%"


sim = rows("headline.csv")
print("# gpulet headline\n")
readme = os.path.join(OUT, "README.txt")
if os.path.exists(readme):
    print("```")
    print(open(readme).read().rstrip())
    print("```\n")

print("## Simulated throughput under SLO (req/s; every model >= 99% of requests within its SLO)\n")
print("Ratios are per scenario, to `sbp` (Nexus squishy bin packing, whole devices) and to `triton`")
print("(every model on every device, time-shared); `mean` is the arithmetic mean over the scenarios")
print("where the denominator is > 0 (a ratio of 0 counts), `gmean` the geometric mean over ratios > 0.")
print("`limit` says what failed just above the policy's max: `plan` = the planner found no feasible")
print("plan, otherwise the model with the lowest SLO attainment there.\n")
groups = []
for r in sim:
    g = (r["profile"], int(r["devices"]))
    if g not in groups:
        groups.append(g)
goals = []
for prof, n in groups:
    rs = [r for r in sim if r["profile"] == prof and int(r["devices"]) == n]
    scens = []
    for r in rs:
        if r["scenario"] not in scens:
            scens.append(r["scenario"])
    t = {(r["scenario"], r["policy"]): float(r["throughput_rps"]) for r in rs}
    lim = {(r["scenario"], r["policy"]): limit(r) for r in rs}
    meth = rs[0]["method"]
    print(f"### {prof} x{n} ({meth}, {rs[0]['duration_s']} s per probe)\n")
    print("| scenario | " + " | ".join(POL) + " | gpulet/sbp | gpulet-int/sbp | fine/sbp | triton/sbp | gpulet/triton | fine/triton | fine/gpulet |")
    print("|---" * (len(POL) + 8) + "|")
    ratios = {k: [] for k in ["g/s", "gi/s", "f/s", "t/s", "g/t", "f/t", "f/g"]}
    for s in scens:
        v = {p: t.get((s, p), float("nan")) for p in POL}
        def rat(a, b, key):
            if not (v[b] > 0):
                return "n/a"
            x = v[a] / v[b]
            ratios[key].append(x)
            return fmt(x)
        cells = [rate(v[p]) if not math.isnan(v[p]) else "-" for p in POL]
        print(f"| {s} | " + " | ".join(cells) + f" | {rat('gpulet', 'sbp', 'g/s')} | {rat('gpulet-int', 'sbp', 'gi/s')} | "
              f"{rat('fine', 'sbp', 'f/s')} | {rat('triton', 'sbp', 't/s')} | {rat('gpulet', 'triton', 'g/t')} | "
              f"{rat('fine', 'triton', 'f/t')} | {rat('fine', 'gpulet', 'f/g')} |")
    print("| **mean** | " + " | ".join([""] * len(POL)) + " | " +
          " | ".join(f"**{fmt(mean(ratios[k]))}**" for k in ["g/s", "gi/s", "f/s", "t/s", "g/t", "f/t", "f/g"]) + " |")
    print("| gmean | " + " | ".join([""] * len(POL)) + " | " +
          " | ".join(fmt(gmean(ratios[k])) for k in ["g/s", "gi/s", "f/s", "t/s", "g/t", "f/t", "f/g"]) + " |")
    print()
    print("limits (just above each policy's max):\n")
    print("| scenario | " + " | ".join(POL) + " |")
    print("|---" * (len(POL) + 1) + "|")
    for s in scens:
        print(f"| {s} | " + " | ".join(lim.get((s, p), "-") for p in POL) + " |")
    print()
    goals.append((prof, n, mean(ratios["g/s"]), mean(ratios["gi/s"]), mean(ratios["g/t"]), mean(ratios["f/s"]),
                  mean(ratios["f/t"]), mean(ratios["f/g"])))

if goals:
    print("## Goals (issue 8): gpu-lets >= 2.0x sbp and >= 1.3x triton averaged over the scenarios; ours ahead of both\n")
    print("| profile | devices | gpulet/sbp | gpulet-int/sbp | gpulet/triton | fine/sbp | fine/triton | fine/gpulet | gpulet >= 2x sbp | gpulet >= 1.3x triton | fine ahead |")
    print("|---" * 11 + "|")
    for prof, n, gs, gis, gt, fs, ft, fg in goals:
        yes = lambda c: "yes" if c else "**no**"
        print(f"| {prof} | {n} | {fmt(gs)} | {fmt(gis)} | {fmt(gt)} | {fmt(fs)} | {fmt(ft)} | {fmt(fg)} | {yes(gs >= 2.0)} | "
              f"{yes(gt >= 1.3)} | {yes(fg > 1 and fs > 1)} |")
    print()

real = rows("real.csv")
if real:
    print("## Real, this machine's CPU (gpulet serve --policy P restarted per probe with its rates; gpulet loadgen --binary; bench/headline/real.sh)\n")
    print("| scenario | policy | throughput under SLO req/s | scale | worst model at the max | its attainment | ratio to sbp | ratio to triton | simulated (same profile) req/s | real / simulated |")
    print("|---" * 10 + "|")
    by = {(r["scenario"], r["policy"]): r for r in real}
    for r in real:
        def rr(b):
            o = by.get((r["scenario"], b))
            if not o or not float(o["throughput_rps"]) > 0:
                return "n/a"
            return fmt(float(r["throughput_rps"]) / float(o["throughput_rps"]))
        st = float(r.get("sim_throughput_rps") or 0)
        rs = fmt(float(r["throughput_rps"]) / st) if st > 0 else "n/a"
        print(f"| {r['scenario']} | {r['policy']} | {float(r['throughput_rps']):.1f} | {r['scale']} | {r.get('worst_model', '')} | "
              f"{r.get('worst_attain', '')} | {rr('sbp')} | {rr('triton')} | {st:.1f} | {rs} |")
    print()

sr = rows("simreal.csv")
if sr:
    print("## Simulator vs real on this CPU (same scenario, profile, policy and rates)\n")
    runs = [r for r in sr if r["model"] != "find-max"]
    # per policy and model over the repeated runs: median and worst difference
    import statistics
    keys = []
    for r in runs:
        k = (r["policy"], r["model"])
        if k not in keys:
            keys.append(k)
    print("Per policy and model over the repeated runs (real minus simulated): attainment in percentage")
    print("points, served rate (goodput for ALL) in %, median and worst; p99 medians.\n")
    print("| policy | model | runs | attain diff pp median | worst | served diff % median | worst | sim p99 ms | real p99 ms median |")
    print("|---" * 9 + "|")
    for pol, m in keys:
        rs = [r for r in runs if r["policy"] == pol and r["model"] == m]
        da = [-float(r["attain_diff_pp"]) for r in rs if r["attain_diff_pp"]]
        ds = [float(r["served_diff_pct"]) for r in rs]
        rp = [float(r["real_p99_ms"]) for r in rs if r["real_p99_ms"]]
        med = lambda xs: f"{statistics.median(xs):+.2f}" if xs else ""
        worst = lambda xs: f"{min(xs, key=lambda x: -abs(x)):+.2f}" if xs else ""
        print(f"| {pol} | {m} | {len(rs)} | {med(da)} | {worst(da)} | {med(ds)} | {worst(ds)} | "
              f"{rs[0]['sim_p99_ms']} | {statistics.median(rp) if rp else 0:.2f} |")
    print()
    print("Every run:\n")
    print("| policy | model | rate req/s | sim attain % | real attain % | diff pp | sim served req/s | real served req/s | diff % | sim p99 ms | real p99 ms | load avg |")
    print("|---" * 12 + "|")
    for r in runs:
        print(f"| {r['policy']} | {r['model']} | {r['rate']} | {r['sim_attain']} | {r['real_attain']} | {r['attain_diff_pp']} | {r['sim_served_rps']} | "
              f"{r['real_served_rps']} | {r['served_diff_pct']} | {r['sim_p99_ms']} | {r['real_p99_ms']} | {r.get('loadavg', '')} |")
    print()
    for r in sr:
        if r["model"] == "find-max":
            print(f"loadgen --find-max against a server planned once for scale {r['scale']} (its plan is not redone per probe, "
                  f"so this is not the same search as the simulator's): real {r['real_served_rps']} vs simulated "
                  f"{r['sim_served_rps']} req/s; real.csv has the like-for-like search.\n")
