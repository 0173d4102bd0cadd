"""On the GPU machine: the PyTorch baseline for `perfmamba bench` — the same preset shapes in
transformers (random weights, bf16, its own kernels: whatever transformers runs when the
mamba-ssm / causal-conv1d packages are absent, as on this machine), timed with CUDA events,
warm-up, median. Prints one JSON line per point: decode first, then prefill from short to long
while the time budget lasts.
Usage: python3 tools/device/torch_baseline.py PRESET SEQLENS BATCHES DECODE_BATCHES [MAX_SECONDS]"""
import json, os, sys, time

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
    make = Mamba2ForCausalLM
else:
    cfg = MambaConfig(hidden_size=d, num_hidden_layers=n, vocab_size=50280, state_size=16, expand=2)
    make = MambaForCausalLM
device = os.environ.get("TORCH_DEVICE", "cuda")  # cpu only to try the script where there is no GPU
# The random weights made on the device: made on the host, the 1.4b and 2.8b models took over 40 s
# before the first point (session 11), and a run's time limit counts that too.
try:
    with torch.device(device):
        model = make(cfg)
except Exception as e:  # an older torch without device contexts: made on the host
    print(f"weights made on the host ({e})", file=sys.stderr)
    model = make(cfg)
model = model.to(device, torch.bfloat16).eval()


def timed(fn, reps):
    fn()  # warm-up
    if device != "cuda":
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return sorted(out)[len(out) // 2]
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


def left():
    return budget - (time.time() - start)


def emit(**row):
    print(json.dumps({"preset": preset, **row}), flush=True)


with torch.no_grad():
    # Decode first: it is cheap, and a run cut short by its time limit still reports it.
    for batch in map(int, decode_batches.split(",")):
        ids = torch.randint(0, 50000, (batch, 16), device=device)
        steps = 32
        try:
            # generate() of `steps` new tokens minus generate() of 1: the cost of steps-1 decode steps
            t1 = timed(lambda: model.generate(ids, max_new_tokens=1, min_new_tokens=1, do_sample=False), 3)
            tn = timed(lambda: model.generate(ids, max_new_tokens=steps, min_new_tokens=steps, do_sample=False), 3)
        except torch.OutOfMemoryError:
            emit(mode="decode", batch=batch, skipped="out of memory")
            torch.cuda.empty_cache()
            continue
        per = (tn - t1) / (steps - 1)
        emit(mode="decode", batch=batch, seconds_per_step=per, tokens_per_s=batch / per)
    # Prefill from short to long; a point is skipped when its predicted time (warm-up + 3 runs at
    # the last measured rate of this batch size) does not fit the budget left.
    for batch in map(int, batches.split(",")):
        rate = None
        for L in map(int, seqlens.split(",")):
            if left() <= 0 or (rate and 4 * batch * L / rate > left()):
                emit(mode="prefill", batch=batch, len=L, skipped="time budget")
                continue
            ids = torch.randint(0, 50000, (batch, L), device=device)
            try:
                sec = timed(lambda: model(ids, use_cache=False, logits_to_keep=1), 3)
            except torch.OutOfMemoryError:
                emit(mode="prefill", batch=batch, len=L, skipped="out of memory")
                torch.cuda.empty_cache()
                continue
            rate = batch * L / sec
            emit(mode="prefill", batch=batch, len=L, seconds=sec, tokens_per_s=rate)
