"""The perfmamba / authors ratio table from the files vs_authors.sh writes in one folder:
<preset>-pm-b1.json, <preset>-pm-b8.json (perfmamba bench --json) and <preset>-authors.jsonl
(authors_bench.py models). Prints markdown and writes table.json beside them. Ratio > 1: perfmamba
faster (tokens per second, perfmamba over authors)."""
import glob, json, os, sys


def main(folder):
    rows = []
    for pm1 in sorted(glob.glob(os.path.join(folder, "*-pm-b1.json"))):
        model = os.path.basename(pm1)[: -len("-pm-b1.json")]
        ours = {}
        for f in (pm1, os.path.join(folder, model + "-pm-b8.json")):
            try:
                j = json.load(open(f))
            except (OSError, ValueError):
                continue
            for p in j.get("prefill", []):
                ours[("prefill", p["batch"], p["len"])] = p["tokens_per_s"]
            if f == pm1:
                for d in j.get("decode", []):
                    ours[("decode", d["batch"], 0)] = d["tokens_per_s"]
        theirs = {}
        try:
            for line in open(os.path.join(folder, model + "-authors.jsonl")):
                p = json.loads(line)
                key = (p["kind"], p["batch"], p.get("L", 0))
                theirs[key] = p["tok_s"]
        except OSError:
            pass
        for key in sorted(set(ours) | set(theirs), key=lambda k: (k[0] != "prefill", k[1], k[2])):
            a, b = ours.get(key), theirs.get(key)
            rows.append({"model": model, "phase": key[0], "batch": key[1], "len": key[2],
                         "perfmamba_tok_s": a, "authors_tok_s": b,
                         "ratio": a / b if a and b else None})
    card = open(os.path.join(folder, "card.txt")).read().strip() if os.path.exists(os.path.join(folder, "card.txt")) else "?"
    commit = open(os.path.join(folder, "commit.txt")).read().strip() if os.path.exists(os.path.join(folder, "commit.txt")) else "?"
    json.dump({"card": card, "commit": commit, "rows": rows}, open(os.path.join(folder, "table.json"), "w"), indent=1)
    print(f"card: {card}; perfmamba commit {commit}; bf16, random weights; tokens/s (ratio > 1: perfmamba faster)\n")
    print("| model | phase | batch | L | perfmamba tok/s | authors tok/s | ratio |")
    print("|---|---|---|---|---|---|---|")
    fmt = lambda v: "—" if v is None else f"{v:,.0f}"
    for r in rows:
        ratio = "—" if r["ratio"] is None else f"{r['ratio']:.2f}×"
        print(f"| {r['model']} | {r['phase']} | {r['batch']} | {r['len'] or ''} | {fmt(r['perfmamba_tok_s'])} "
              f"| {fmt(r['authors_tok_s'])} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1])
