#!/usr/bin/env python3
"""Trains one embedded model (Mamba-1 or Mamba-2) on the tokenized corpus and saves it in the
Hugging Face layout; then reloads it with transformers and checks its validation loss.

Usage: python3 tools/train/train.py --arch mamba1 --data DATA_DIR --out OUT_DIR --minutes 8
DATA_DIR is what prepare_data.py wrote (tokenizer.json, train.bin, valid.bin). OUT_DIR gets
config.json, model.safetensors (bf16) and train_log.json; copy DATA_DIR/tokenizer.json beside them.
`--check` instead compares this model with transformers' on random weights (no training).
"""
import argparse
import json
import math
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("USE_HUB_KERNELS", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from mamba_torch import Mamba1Mixer, MambaLM  # noqa: E402

CONFIGS = {
    "mamba1": dict(hidden_size=384, num_hidden_layers=8, state_size=16, expand=2, intermediate_size=768,
                   conv_kernel=4, time_step_rank=24, layer_norm_epsilon=1e-5),
    "mamba2": dict(hidden_size=384, num_hidden_layers=8, state_size=64, expand=2, num_heads=12, head_dim=64,
                   n_groups=1, chunk_size=64, conv_kernel=4, layer_norm_epsilon=1e-5),
}


def hf_config(arch, cfg, vocab):
    base = dict(vocab_size=vocab, hidden_size=cfg["hidden_size"], num_hidden_layers=cfg["num_hidden_layers"],
                state_size=cfg["state_size"], expand=cfg["expand"], conv_kernel=cfg["conv_kernel"],
                layer_norm_epsilon=cfg["layer_norm_epsilon"], use_bias=False, use_conv_bias=True,
                residual_in_fp32=True, tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0)
    if arch == "mamba1":
        from transformers import MambaConfig
        return MambaConfig(time_step_rank=cfg["time_step_rank"], **base)
    from transformers import Mamba2Config
    return Mamba2Config(num_heads=cfg["num_heads"], head_dim=cfg["head_dim"], n_groups=cfg["n_groups"],
                        chunk_size=cfg["chunk_size"], **base)


def hf_model(arch, config):
    from transformers import Mamba2ForCausalLM, MambaForCausalLM
    return (MambaForCausalLM if arch == "mamba1" else Mamba2ForCausalLM)(config)


def load_bin(path):
    return torch.from_numpy(np.fromfile(path, dtype=np.uint16).astype(np.int64))


@torch.no_grad()
def eval_loss(forward, tokens, ctx, max_windows, batch, device):
    """Mean next-token NLL over non-overlapping windows of ctx+1 tokens (the perfmamba eval
    protocol with --ctx C --stride C: every window is scored from its first position)."""
    n = min(max_windows, (tokens.numel() - 1) // ctx)
    total, count = 0.0, 0
    for i in range(0, n, batch):
        rows = [tokens[j * ctx: j * ctx + ctx + 1] for j in range(i, min(n, i + batch))]
        x = torch.stack(rows).to(device)
        logits = forward(x[:, :-1]).float()
        total += F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="sum").item()
        count += x[:, 1:].numel()
    return total / count, count


def check(arch, device):
    cfg = dict(CONFIGS[arch], hidden_size=48, num_hidden_layers=2, intermediate_size=96, time_step_rank=4,
               num_heads=6, head_dim=16, state_size=8, chunk_size=8, vocab_size=97)
    ours = MambaLM(cfg, arch).to(device).float()
    ref = hf_model(arch, hf_config(arch, cfg, 97)).to(device).float().eval()
    missing = ref.load_state_dict(ours.state_dict(), strict=False)
    assert not missing.unexpected_keys and all("lm_head" in k for k in missing.missing_keys), missing
    ids = torch.randint(0, 97, (2, 37), device=device)
    with torch.no_grad():
        a, b = ours(ids), ref(input_ids=ids).logits
    err = ((a - b).norm() / b.norm()).item()
    print(f"{arch}: our training model vs transformers, relative error {err:.2e}")
    assert err < 1e-4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["mamba1", "mamba2"], required=True)
    ap.add_argument("--data")
    ap.add_argument("--out")
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--compile-scan", action="store_true", help="torch.compile the Mamba-1 scan (falls back to eager)")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    if args.check:
        return check(args.arch, device)

    torch.manual_seed(0)
    train, valid = load_bin(os.path.join(args.data, "train.bin")), load_bin(os.path.join(args.data, "valid.bin"))
    with open(os.path.join(args.data, "tokenizer.json")) as f:
        vocab = len(json.load(f)["model"]["vocab"])
    cfg = dict(CONFIGS[args.arch], vocab_size=vocab)
    model = MambaLM(cfg, args.arch).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    forward = torch.compile(model) if args.compile else model
    if args.compile_scan and args.arch == "mamba1":
        Mamba1Mixer.scan_impl = torch.compile(Mamba1Mixer.scan)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.dim() < 2 or "A_log" in name or name.endswith(".D") else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), fused=device == "cuda")
    budget, warmup = args.minutes * 60.0, 200
    gen = torch.Generator().manual_seed(1)
    t0, step, tokens_seen, log = time.time(), 0, 0, []
    est_steps = None
    while time.time() - t0 < budget:
        elapsed = time.time() - t0
        # cosine schedule over the wall-clock budget, linear warm-up in steps
        frac = min(1.0, elapsed / budget)
        lr = args.lr * min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, train.numel() - args.ctx - 1, (args.batch,), generator=gen)
        x = torch.stack([train[s: s + args.ctx + 1] for s in starts]).to(device, non_blocking=True)
        def loss_and_backward():
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = forward(x[:, :-1])
            loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            return loss

        try:
            loss = loss_and_backward()
        except Exception as e:  # a failed compile must not cost the run
            if step > 0 or Mamba1Mixer.scan_impl is Mamba1Mixer.scan:
                raise
            print(f"compiled scan failed ({type(e).__name__}: {e}); falling back to eager", flush=True)
            Mamba1Mixer.scan_impl = Mamba1Mixer.scan
            loss = loss_and_backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += args.batch * args.ctx
        if step % 100 == 0:
            rate = tokens_seen / (time.time() - t0)
            print(f"{args.arch} step {step} loss {loss.item():.3f} lr {lr:.2e} {rate / 1e3:.1f}k tok/s "
                  f"{time.time() - t0:.0f}s", flush=True)
            log.append({"step": step, "loss": loss.item(), "seconds": time.time() - t0})
    train_seconds = time.time() - t0
    model.eval()
    ours_loss, n_eval = eval_loss(model, valid, 1024, 64, 16, device)
    print(f"{args.arch}: trained {step} steps, {tokens_seen / 1e6:.1f}M tokens in {train_seconds:.0f}s; "
          f"held-out loss (ours, f32) {ours_loss:.4f} on {n_eval} tokens", flush=True)

    # Save in the Hugging Face layout, bf16, tied lm_head left out as transformers does.
    os.makedirs(args.out, exist_ok=True)
    config = hf_config(args.arch, cfg, vocab)
    config.architectures = ["MambaForCausalLM" if args.arch == "mamba1" else "Mamba2ForCausalLM"]
    config.save_pretrained(args.out)
    sd = {k: v.detach().to(torch.bfloat16).contiguous().cpu() for k, v in model.state_dict().items()
          if k != "lm_head.weight"}
    save_file(sd, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    summary = {"arch": args.arch, "params": n_params, "steps": step, "tokens_seen": tokens_seen,
               "train_seconds": train_seconds, "ctx": args.ctx, "batch": args.batch, "lr": args.lr,
               "heldout_loss_f32": ours_loss, "heldout_tokens": n_eval,
               "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
               "torch": torch.__version__, "log": log}
    with open(os.path.join(args.out, "train_log.json"), "w") as f:  # in case the checks below die
        json.dump(summary, f, indent=1)

    # Reload with transformers and score the same windows with the bf16-rounded weights.
    from transformers import AutoModelForCausalLM
    ref = AutoModelForCausalLM.from_pretrained(args.out, dtype=torch.float32).to(device).eval()
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=False)
    ours_bf16, _ = eval_loss(model, valid, 1024, 64, 16, device)
    hf_loss, _ = eval_loss(lambda ids: ref(input_ids=ids).logits, valid, 1024, 64, 16, device)
    print(f"{args.arch}: held-out loss with bf16 weights: ours {ours_bf16:.5f}, transformers {hf_loss:.5f} "
          f"(ppl {math.exp(hf_loss):.3f})", flush=True)
    with torch.no_grad():
        prompt = torch.tensor([[0]], device=device)
        sample = ref.generate(prompt, max_new_tokens=60, do_sample=True, top_k=40, temperature=0.8)
    import transformers
    summary.update({"heldout_loss_bf16_ours": ours_bf16, "heldout_loss_bf16_transformers": hf_loss,
                    "transformers": transformers.__version__, "sample_ids": sample[0].tolist()})
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
