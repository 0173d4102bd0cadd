"""On the GPU machine: the PyTorch baseline for `perfmamba bench` — the same preset shapes in
transformers (random weights, bf16, its own kernels: whatever transformers runs when the
mamba-ssm / causal-conv1d packages are absent, as on this machine), timed with CUDA events,
warm-up, median. Prints one JSON line per point.
Usage: python3 tools/device/torch_baseline.py PRESET SEQLENS BATCHES DECODE_BATCHES [MAX_SECONDS]"""
import json, sys, time

import torch
from transformers import Mamba2Config, Mamba2ForCausalLM, MambaConfig, MambaForCausalLM

SHAPES = {"mamba-130m": (768, 24), "mamba-370m": (1024, 48), "mamba-790m": (1536, 48), "mamba-1.4b": (2048, 48),
          "mamba-2.8b": (2560, 64), "mamba2-130m": (768, 24), "mamba2-370m": (1024, 48),
          "mamba2-780m": (1536, 48), "mamba2-1.3b": (2048, 48), "mamba2-2.7b": (2560, 64)}

preset, seqlens, batches, decode_batches = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
budget = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
d, n = SHAPES[preset]
if preset.startswith("mamba2"):
    cfg = Mamba2Config(hidden_size=d, num_hidden_layers=n, vocab_size=50288, state_size=128, head_dim=64,
                       num_heads=2 * d // 64, n_groups=1, chunk_size=256, expand=2)
    model = Mamba2ForCausalLM(cfg)
else:
    cfg = MambaConfig(hidden_size=d, num_hidden_layers=n, vocab_size=50280, state_size=16, expand=2)
    model = MambaForCausalLM(cfg)
model = model.to("cuda", torch.bfloat16).eval()


def timed(fn, reps):
    fn()  # warm-up
    torch.cuda.synchronize()
    out = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b) / 1e3)
    return sorted(out)[len(out) // 2]


start = time.time()
with torch.no_grad():
    for batch in map(int, batches.split(",")):
        for L in map(int, seqlens.split(",")):
            if time.time() - start > budget:
                print(json.dumps({"preset": preset, "mode": "prefill", "batch": batch, "len": L, "skipped": "time budget"}))
                continue
            ids = torch.randint(0, 50000, (batch, L), device="cuda")
            try:
                sec = timed(lambda: model(ids, use_cache=False, logits_to_keep=1), 3)
                print(json.dumps({"preset": preset, "mode": "prefill", "batch": batch, "len": L, "seconds": sec,
                                  "tokens_per_s": batch * L / sec}), flush=True)
            except torch.OutOfMemoryError:
                print(json.dumps({"preset": preset, "mode": "prefill", "batch": batch, "len": L, "skipped": "out of memory"}))
                torch.cuda.empty_cache()
    for batch in map(int, decode_batches.split(",")):
        ids = torch.randint(0, 50000, (batch, 16), device="cuda")
        out = model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False, return_dict_in_generate=True,
                             use_cache=True)
        steps = 32
        # generate() of `steps` new tokens minus generate() of 1: the cost of steps-1 decode steps
        t1 = timed(lambda: model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False), 3)
        tn = timed(lambda: model.generate(ids, max_new_tokens=steps, min_new_tokens=steps, do_sample=False), 3)
        per = (tn - t1) / (steps - 1)
        print(json.dumps({"preset": preset, "mode": "decode", "batch": batch, "seconds_per_step": per,
                          "tokens_per_s": batch / per}), flush=True)
