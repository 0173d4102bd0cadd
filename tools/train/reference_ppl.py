#!/usr/bin/env python3
"""Reference perplexity with transformers + tokenizers (float32), same windows as
`perfmamba eval --ppl FILE --ctx C --stride S --max-tokens N`, for checking perfmamba's number.

Usage: python3 tools/train/reference_ppl.py MODEL_DIR FILE --ctx 1025 --stride 1024 --max-tokens 65537
"""
import argparse
import json
import math
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("USE_HUB_KERNELS", "0")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402


def windows(n, ctx, stride):
    out, prev_end, begin = [], 0, 0
    while True:
        end = min(begin + ctx, n)
        targets = min(end - prev_end, end - begin - 1)
        if targets > 0:
            out.append((begin, end, targets))
        prev_end = end
        if end == n:
            return out
        begin += stride


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("file")
    ap.add_argument("--ctx", type=int, default=1024)
    ap.add_argument("--stride", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=0)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    with open(args.file, encoding="utf-8", newline="") as f:
        ids = tok.encode(f.read(), add_special_tokens=False).ids
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    ws = windows(len(ids), args.ctx, args.stride)
    nll, count = 0.0, 0
    with torch.no_grad():
        i = 0
        while i < len(ws):
            length = ws[i][1] - ws[i][0]
            group = [w for w in ws[i: i + args.batch] if w[1] - w[0] == length]
            x = torch.tensor([ids[b:e] for b, e, _ in group])
            logp = F.log_softmax(model(input_ids=x).logits.double(), -1)
            for row, (b, e, t) in enumerate(group):
                tgt = x[row, length - t:]
                nll -= logp[row, length - 1 - t: length - 1].gather(-1, tgt[:, None]).sum().item()
                count += t
            i += len(group)
    print(json.dumps({"ppl": math.exp(nll / count), "mean_nll": nll / count, "tokens": count,
                      "windows": len(ws), "ctx": args.ctx, "stride": args.stride}))


if __name__ == "__main__":
    main()
