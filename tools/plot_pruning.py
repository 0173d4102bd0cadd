"""Draws docs/pruning-sweep.svg from docs/pruning-sweep.tsv: perplexity vs pruning ratio, one
panel per model and axis, one line per method/bridge. Standard library only.
Usage: python3 tools/plot_pruning.py docs/pruning-sweep.tsv docs/pruning-sweep.svg"""
import csv
import math
import sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
base = {r["model"]: float(r["ppl"]) for r in rows if r["method"] == "none"}
panels = [(m, a) for m in ("mamba1-victorian", "mamba2-victorian") for a in ("state", "channel")]
series = [("delta-state/delta-channel", "none", "#1f77b4", ""), ("delta-state/delta-channel", "lsq", "#2ca02c", ""),
          ("delta-state/delta-channel", "fold", "#9467bd", "4,3"), ("magnitude", "none", "#d62728", "2,3"),
          ("random", "none", "#7f7f7f", "6,3")]
W, H, PW, PH, ML, MT = 1060, 760, 420, 280, 70, 50
out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
       f'<text x="{W/2}" y="22" text-anchor="middle" font-size="15">Perplexity vs pruning ratio (held-out valid.txt, '
       'log scale; dotted line: unpruned)</text>']
for idx, (model, axis) in enumerate(panels):
    ox, oy = ML + (idx % 2) * (PW + 90), MT + (idx // 2) * (PH + 90)
    pts = [r for r in rows if r["model"] == model and r["axis"] == axis]
    ratios = sorted({float(r["ratio"]) for r in pts} | {0.0})
    lo, hi = math.log(base[model] * 0.97), math.log(max(float(r["ppl"]) for r in pts if float(r["ppl"]) < 1e4) * 1.05)
    X = lambda r: ox + PW * r / max(ratios)
    Y = lambda p: oy + PH - PH * (math.log(min(p, math.exp(hi))) - lo) / (hi - lo)
    out.append(f'<rect x="{ox}" y="{oy}" width="{PW}" height="{PH}" fill="none" stroke="#999"/>')
    out.append(f'<text x="{ox + PW/2}" y="{oy - 8}" text-anchor="middle">{model}, {axis}s removed</text>')
    for r in ratios:
        out.append(f'<text x="{X(r)}" y="{oy + PH + 16}" text-anchor="middle">{r:.3g}</text>')
    for k in range(5):
        p = math.exp(lo + (hi - lo) * k / 4)
        out.append(f'<text x="{ox - 6}" y="{Y(p) + 4}" text-anchor="end">{p:.0f}</text>')
    out.append(f'<line x1="{ox}" x2="{ox + PW}" y1="{Y(base[model])}" y2="{Y(base[model])}" stroke="#000" stroke-dasharray="1,3"/>')
    for method, bridge, color, dash in series:
        ms = [x for x in pts if (x["method"].startswith("delta") if method.startswith("delta") else x["method"] == method)
              and x["bridge"] == bridge]
        line = [(0.0, base[model])] + sorted((float(x["ratio"]), float(x["ppl"])) for x in ms)
        path = " ".join(f"{X(r):.1f},{Y(p):.1f}" for r, p in line)
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
for i, (method, bridge, color, dash) in enumerate(series):
    x, y = ML + i * 185, H - 18
    label = ("delta" if method.startswith("delta") else method) + ("" if bridge == "none" else " + " + bridge)
    out.append(f'<line x1="{x}" x2="{x + 28}" y1="{y - 4}" y2="{y - 4}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>')
    out.append(f'<text x="{x + 34}" y="{y}">{label}</text>')
out.append("</svg>")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
