#!/usr/bin/env bash
# bench/headline/plots.sh OUT_DIR - gnuplot SVGs from OUT_DIR/sweep.csv: per (profile, scenario)
# the worst model's SLO attainment against offered load, one line per policy, and the worst
# model's p99 latency as a fraction of its SLO against offered load (1 = at the SLO).
# Also OUT_DIR/real-sweep.csv (measured on the CPU) when present. Needs gnuplot (gnuplot-nox).
set -eu
OUT=$1
command -v gnuplot >/dev/null || { echo "plots: no gnuplot (apt-get install gnuplot-nox); skipped"; exit 0; }
mkdir -p "$OUT/plots"
for sweep in sweep real-sweep; do
  [ -f "$OUT/$sweep.csv" ] || continue
  python3 - "$OUT/$sweep.csv" "$OUT/plots" "$sweep" <<'PY'
import csv, sys, collections
src, dst, tag = sys.argv[1:]
pts = collections.defaultdict(lambda: collections.defaultdict(lambda: [101.0, 0.0]))
for r in csv.DictReader(open(src)):
    key = (r["profile"], r["devices"], r["scenario"])
    p = pts[key][(r["policy"], float(r["offered_rps"]))]
    p[0] = min(p[0], float(r["attain_pct"]))
    slo = float(r["slo_ms"])
    p[1] = max(p[1], float(r["p99_ms"]) / slo if slo > 0 else 0)
lst = open(f"{dst}/{tag}.list", "w")
for (prof, n, s), d in pts.items():
    pols = []
    for (pol, _) in d:
        if pol not in pols:
            pols.append(pol)
    base = f"{tag}-{prof}-{n}-{s}"
    for pol in pols:
        with open(f"{dst}/{base}-{pol}.dat", "w") as f:
            for (pp, x), (a, q) in sorted(d.items(), key=lambda kv: kv[0][1]):
                if pp == pol:
                    f.write(f"{x} {a} {q}\n")
    lst.write(f"{base} {prof} {n} {s} {' '.join(pols)}\n")
PY
  while read -r base prof n s pols; do
    plot_a=""; plot_p=""
    for pol in $pols; do
      plot_a="$plot_a '$OUT/plots/$base-$pol.dat' using (\$1/1000):2 with linespoints title '$pol',"
      plot_p="$plot_p '$OUT/plots/$base-$pol.dat' using (\$1/1000):3 with linespoints title '$pol',"
    done
    gnuplot <<EOF
set terminal svg size 720,440 dynamic font "sans,11"
set key outside right
set grid
set xlabel "offered load (k req/s, all models)"
set output "$OUT/plots/$base-attain.svg"
set title "$s, $n x $prof ($sweep): worst model's SLO attainment"
set ylabel "SLO attainment, worst model (%)"
set yrange [0:101]
plot ${plot_a%,}, 99 with lines dt 2 lc rgb "gray" title "99%"
set output "$OUT/plots/$base-p99.svg"
set title "$s, $n x $prof ($sweep): worst model's p99 (served requests) / SLO"
set ylabel "p99 latency / SLO, worst model"
set yrange [0:1.5]
plot ${plot_p%,}, 1 with lines dt 2 lc rgb "gray" title "SLO"
EOF
  done < "$OUT/plots/$sweep.list"
  rm -f "$OUT/plots/$sweep.list"
done
ls "$OUT/plots"/*.svg 2>/dev/null | wc -l | sed 's/$/ plot(s) written/'
