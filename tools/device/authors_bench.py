"""On the GPU machine: the Mamba authors' stack (mamba_ssm + causal_conv1d, from the copy of
../shared/baselines/mamba-authors that tools/device/vs_authors.sh carries) timed at the points of
perfmamba's side-by-side table. One JSON line per point on stdout.

  models PRESETS      prefill b=1 at --lengths, b=8 at --b8-lengths, decode at --decode-batches
                      (MambaLMHeadModel, bf16, random weights; decode through their generate()
                      with CUDA graphs and greedy sampling on the GPU, as their own benchmark does)
  kernels             one layer's scan / SSD / conv1d / state update at the preset shapes;
                      Triton ops also replayed from a CUDA graph (ms_graph: no launch cost)
  trace PRESETS       where their time goes: GPU time per kernel name (torch.profiler) of one
                      decode step at --decode-batches and one prefill at --lengths

Times: CUDA events (kernels, prefill) or the host clock around a synchronised generate()
(decode: the difference of 136 and 8 new tokens over 128), warm-up first, median.
"""
import argparse, json, sys, time
from collections import defaultdict

import torch

PRESETS = {
    "mamba-130m": (768, 24, "Mamba1"), "mamba-370m": (1024, 48, "Mamba1"),
    "mamba-1.4b": (2048, 48, "Mamba1"), "mamba-2.8b": (2560, 64, "Mamba1"),
    "mamba2-130m": (768, 24, "Mamba2"), "mamba2-370m": (1024, 48, "Mamba2"),
    "mamba2-1.3b": (2048, 48, "Mamba2"), "mamba2-2.7b": (2560, 64, "Mamba2"),
}
dev = "cuda"


def ints(s):
    return [int(x) for x in s.split(",") if x]


def med(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def emit(**kw):
    print(json.dumps(kw), flush=True)


def time_events(fn, reps=20, warm=3):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        ts.append(a.elapsed_time(b))
    return med(ts)


def time_graph(fn, reps=20):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return time_events(g.replay, reps)


def make_model(name):
    from mamba_ssm.models.config_mamba import MambaConfig
    from mamba_ssm.models.mixer_seq_simple import MambaLMHeadModel
    d, n, layer = PRESETS[name]
    cfg = MambaConfig(d_model=d, n_layer=n, vocab_size=50277, ssm_cfg={"layer": layer}, rms_norm=True,
                      residual_in_fp32=True, fused_add_norm=True, pad_vocab_size_multiple=8)
    return MambaLMHeadModel(cfg, device=dev, dtype=torch.bfloat16).eval()


def decode_step_ms(m, batch):
    ids = torch.randint(0, 50277, (batch, 16), device=dev)
    res = {}
    for gen in (8, 136):
        fn = lambda: m.generate(ids, max_length=16 + gen, cg=True, temperature=1.0, top_k=1,
                                return_dict_in_generate=False)
        fn(); torch.cuda.synchronize()
        ts = []
        for _ in range(3):
            t0 = time.perf_counter(); fn(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t0)
        res[gen] = med(ts)
    return (res[136] - res[8]) / 128 * 1e3


def models(a):
    for name in a.presets.split(","):
        m = make_model(name)
        with torch.inference_mode():
            for b, lengths in ((1, ints(a.lengths)), (8, ints(a.b8_lengths))):
                for L in lengths:
                    ids = torch.randint(0, 50277, (b, L), device=dev)
                    ms = time_events(lambda: m(ids, num_last_tokens=1), reps=a.reps, warm=2)
                    emit(kind="prefill", impl="authors", model=name, batch=b, L=L, ms=ms, tok_s=b * L / ms * 1e3)
            for b in ints(a.decode_batches):
                ms = decode_step_ms(m, b)
                emit(kind="decode", impl="authors", model=name, batch=b, ms_per_step=ms, tok_s=b / ms * 1e3)
        del m
        torch.cuda.empty_cache()


def kernels(a):
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined
    from mamba_ssm.ops.triton.selective_state_update import selective_state_update
    from causal_conv1d import causal_conv1d_fn, causal_conv1d_update
    bf = torch.bfloat16
    for name in a.presets.split(","):
        d, _, layer = PRESETS[name]
        E = 2 * d
        if layer == "Mamba1":
            N = 16
            for L in ints(a.lengths):
                u = torch.randn(1, E, L, device=dev, dtype=bf); delta = torch.rand(1, E, L, device=dev, dtype=bf) * 0.1
                A = -torch.rand(E, N, device=dev) - 0.5
                B = torch.randn(1, N, L, device=dev, dtype=bf); C = torch.randn(1, N, L, device=dev, dtype=bf)
                Dv = torch.randn(E, device=dev); z = torch.randn(1, E, L, device=dev, dtype=bf); db = torch.randn(E, device=dev) * 0.1
                f = lambda: selective_scan_fn(u, delta, A, B, C, Dv, z, db, True)
                emit(kind="scan", impl="authors", model=name, L=L, ms=time_events(f))
            conv_ch = E
        else:
            H, P, N, G, cs = E // 64, 64, 128, 1, 256
            for L in ints(a.lengths):
                x = torch.randn(1, L, H, P, device=dev, dtype=bf); dt = torch.randn(1, L, H, device=dev, dtype=bf)
                A = -torch.rand(H, device=dev) - 0.5
                B = torch.randn(1, L, G, N, device=dev, dtype=bf); C = torch.randn(1, L, G, N, device=dev, dtype=bf)
                Dv = torch.randn(H, device=dev); dtb = torch.randn(H, device=dev)
                f = lambda: mamba_chunk_scan_combined(x, dt, A, B, C, cs, D=Dv, z=None, dt_bias=dtb, dt_softplus=True)
                emit(kind="ssd", impl="authors", model=name, L=L, ms=time_events(f), ms_graph=time_graph(f))
            for Bt in ints(a.decode_batches):
                st = torch.randn(Bt, H, P, N, device=dev, dtype=bf)
                x = torch.randn(Bt, H, P, device=dev, dtype=bf); dt = torch.randn(Bt, H, P, device=dev, dtype=bf)
                A = -torch.rand(H, P, N, device=dev)
                B = torch.randn(Bt, G, N, device=dev, dtype=bf); C = torch.randn(Bt, G, N, device=dev, dtype=bf)
                Dv = torch.randn(H, P, device=dev); dtb = torch.randn(H, P, device=dev)
                f = lambda: selective_state_update(st, x, dt, A, B, C, Dv, z=None, dt_bias=dtb, dt_softplus=True)
                emit(kind="state_update", impl="authors", model=name, batch=Bt, ms=time_events(f, 50),
                     ms_graph=time_graph(f, 50))
            conv_ch = E + 2 * G * N
        for L in ints(a.lengths):
            x = torch.randn(1, conv_ch, L, device=dev, dtype=bf)
            w = torch.randn(conv_ch, 4, device=dev, dtype=bf); bb = torch.randn(conv_ch, device=dev, dtype=bf)
            f = lambda: causal_conv1d_fn(x, w, bb, activation="silu")
            emit(kind="conv1d", impl="authors", model=name, L=L, ms=time_events(f), ms_graph=time_graph(f))


def trace(a):
    from torch.profiler import ProfilerActivity, profile
    from mamba_ssm.utils.generation import InferenceParams

    def kernel_table(prof, divide):
        per = defaultdict(lambda: [0.0, 0])
        for e in prof.events():
            if e.device_type == torch.autograd.DeviceType.CUDA:
                per[e.name][0] += e.device_time_total / 1e3
                per[e.name][1] += 1
        return sorted(((k[:90], v[0] / divide, v[1] / divide) for k, v in per.items()), key=lambda r: -r[1])

    for name in a.presets.split(","):
        m = make_model(name)
        with torch.inference_mode():
            for b in ints(a.decode_batches):
                ids = torch.randint(0, 50277, (b, 16), device=dev)
                gen = lambda: m.generate(ids, max_length=16 + 32, cg=True, temperature=1.0, top_k=1,
                                         return_dict_in_generate=False)
                gen(); torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    gen(); torch.cuda.synchronize()
                rows = kernel_table(prof, 32)
                emit(kind="trace_decode", model=name, batch=b, total_ms=sum(r[1] for r in rows),
                     kernels=[{"name": r[0], "ms": round(r[1], 5), "calls": r[2]} for r in rows[:25]])
            for L in ints(a.lengths):
                ids = torch.randint(0, 50277, (1, L), device=dev)
                m(ids, num_last_tokens=1); torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    m(ids, num_last_tokens=1); torch.cuda.synchronize()
                rows = kernel_table(prof, 1)
                emit(kind="trace_prefill", model=name, L=L, total_ms=sum(r[1] for r in rows),
                     kernels=[{"name": r[0], "ms": round(r[1], 4), "calls": r[2]} for r in rows[:25]])
        del m
        torch.cuda.empty_cache()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["models", "kernels", "trace"])
    p.add_argument("presets", nargs="?", default="mamba-2.8b,mamba2-2.7b")
    p.add_argument("--lengths", default="512,2048,8192,16384")
    p.add_argument("--b8-lengths", default="2048")
    p.add_argument("--decode-batches", default="1,8,64")
    p.add_argument("--reps", type=int, default=5)
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    {"models": models, "kernels": kernels, "trace": trace}[a.mode](a)
