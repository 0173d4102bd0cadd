"""Compact PyTorch Mamba-1 and Mamba-2 language models for training, with parameter names and
shapes identical to Hugging Face transformers' MambaForCausalLM / Mamba2ForCausalLM, so that the
state dict saves straight into the HF layout. The scans are parallel over the sequence:
Mamba-1 through a chunked log-space scan, Mamba-2 through the chunked SSD algorithm.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return self.weight * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


class GatedRMSNorm(nn.Module):
    """norm(y * silu(z)), RMS over groups of group_size channels (norm after the gate)."""

    def __init__(self, d, group_size, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.group_size, self.eps = group_size, eps

    def forward(self, y, z):
        v = y.float() * F.silu(z.float())
        g = v.unflatten(-1, (-1, self.group_size))
        g = g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * g.flatten(-2).to(y.dtype)


def causal_conv(x, conv):
    """x (b, l, c) -> depthwise causal conv over l, returned as (b, l, c)."""
    k = conv.weight.shape[-1]
    return conv(F.pad(x.transpose(1, 2), (k - 1, 0))).transpose(1, 2)


def linear_scan(log_a, u, chunk=16):
    """h_t = exp(log_a_t) * h_{t-1} + u_t along dim 1, h_0 = 0; log_a <= 0, any trailing dims.

    Within a chunk: h_t = e^{L_t} * cumsum_s(e^{-L_s} u_s) with L the running sum of log_a,
    exact in exact arithmetic and safe in fp32 while -L stays below ~80: log_a is clamped at -5
    (a decay of e^-5 per step already forgets), so 16 steps reach at most 80. Across chunks the
    carried state is passed sequentially (l / chunk small steps).
    """
    b, l = u.shape[:2]
    pad = (-l) % chunk
    if pad:
        log_a = F.pad(log_a, (0,) * (2 * (log_a.dim() - 2)) + (0, pad))
        u = F.pad(u, (0,) * (2 * (u.dim() - 2)) + (0, pad))
    n = (l + pad) // chunk
    log_a = log_a.clamp(min=-5.0).unflatten(1, (n, chunk))
    u = u.unflatten(1, (n, chunk))
    cum = torch.cumsum(log_a, dim=2)
    decay = torch.exp(cum)  # from the chunk start to each step
    local = decay * torch.cumsum(torch.exp(-cum) * u, dim=2)
    # Carries between chunks on the small (b, n, ...) tensors of chunk ends only: slicing the
    # full tensors chunk by chunk would make autograd zero-fill a full-size gradient per slice.
    last_local, last_decay = local[:, :, -1], decay[:, :, -1]
    carry = torch.zeros_like(last_local[:, 0])
    carries = []
    for c in range(n):
        carries.append(carry)
        carry = last_local[:, c] + last_decay[:, c] * carry
    h = local + decay * torch.stack(carries, 1).unsqueeze(2)
    return h.flatten(1, 2)[:, :l]


class Mamba1Mixer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, e, n, r, k = cfg["hidden_size"], cfg["intermediate_size"], cfg["state_size"], cfg["time_step_rank"], cfg["conv_kernel"]
        self.e, self.n, self.r = e, n, r
        self.in_proj = nn.Linear(d, 2 * e, bias=False)
        self.conv1d = nn.Conv1d(e, e, k, groups=e, bias=True)
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(e, 1))
        self.D = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d, bias=False)
        # dt in [1e-3, 1e-1] log-uniformly, stored as softplus^-1
        dt = torch.exp(torch.rand(e) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
            nn.init.uniform_(self.dt_proj.weight, -r ** -0.5, r ** -0.5)

    def forward(self, h):
        x, z = self.in_proj(h).chunk(2, dim=-1)
        x = F.silu(causal_conv(x, self.conv1d))
        dt, B, C = torch.split(self.x_proj(x), [self.r, self.n, self.n], dim=-1)
        delta = F.softplus(self.dt_proj(dt)).float()  # (b, l, e)
        A = -torch.exp(self.A_log.float())  # (e, n)
        xf = x.float()
        # The (b, l, e, n) intermediates are recomputed in backward instead of stored: kept, they
        # would need ~8 GB per layer at batch 32 x 512.
        if torch.is_grad_enabled():
            y = checkpoint(Mamba1Mixer.scan_impl, delta, A, xf, B.float(), C.float(), use_reentrant=False)
        else:
            y = self.scan(delta, A, xf, B.float(), C.float())
        y = y + self.D * xf
        return self.out_proj((y * F.silu(z.float())).to(h.dtype))

    # Training may swap in torch.compile(scan): fused, it avoids ~15 passes over (b, l, e, n).
    scan_impl = None

    @staticmethod
    def scan(delta, A, x, B, C):
        log_a = delta.unsqueeze(-1) * A  # (b, l, e, n)
        u = (delta * x).unsqueeze(-1) * B.unsqueeze(2)
        return (linear_scan(log_a, u) * C.unsqueeze(2)).sum(-1)


def segsum(x):
    """x (..., q) -> (..., q, q) with [t, s] = sum_{s < r <= t} x_r for s <= t, -inf above."""
    q = x.shape[-1]
    cs = torch.cumsum(x, -1)
    out = cs[..., :, None] - cs[..., None, :]
    mask = torch.tril(torch.ones(q, q, dtype=torch.bool, device=x.device))
    return out.masked_fill(~mask, -torch.inf)


def ssd_chunked(x, dt, A, B, C, chunk):
    """Mamba-2 SSD by chunks. x (b,l,h,p), dt (b,l,h) after softplus, A (h), B/C (b,l,h,n)."""
    b, l, h, p = x.shape
    pad = (-l) % chunk
    if pad:
        x, dt, B, C = (F.pad(t, (0, 0) * (t.dim() - 2) + (0, pad)) for t in (x, dt, B, C))
    c = (l + pad) // chunk
    x, dt, B, C = (t.unflatten(1, (c, chunk)) for t in (x, dt, B, C))  # (b, c, q, ...)
    X = x * dt.unsqueeze(-1)
    dA = (dt * A).permute(0, 3, 1, 2)  # (b, h, c, q)
    cs = torch.cumsum(dA, -1)
    Lmat = torch.exp(segsum(dA))  # (b, h, c, q, q)
    y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, Lmat, X)
    decay_states = torch.exp(cs[..., -1:] - cs)  # (b, h, c, q)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], 1)
    decay_chunk = torch.exp(segsum(F.pad(cs[..., -1], (1, 0))))  # (b, h, c+1, c+1)
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, torch.exp(cs))
    return (y_diag + y_off).flatten(1, 2)[:, :l]


class Mamba2Mixer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, n, k = cfg["hidden_size"], cfg["state_size"], cfg["conv_kernel"]
        self.h, self.p, self.g, self.n = cfg["num_heads"], cfg["head_dim"], cfg["n_groups"], n
        self.e = self.h * self.p
        self.chunk = cfg["chunk_size"]
        conv_dim = self.e + 2 * self.g * n
        self.in_proj = nn.Linear(d, self.e + conv_dim + self.h, bias=False)
        self.conv1d = nn.Conv1d(conv_dim, conv_dim, k, groups=conv_dim, bias=True)
        dt = torch.exp(torch.rand(self.h) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.empty(self.h).uniform_(1, 16)))
        self.D = nn.Parameter(torch.ones(self.h))
        self.norm = GatedRMSNorm(self.e, self.e // self.g, cfg["layer_norm_epsilon"])
        self.out_proj = nn.Linear(self.e, d, bias=False)

    def forward(self, hid):
        b, l, _ = hid.shape
        z, xbc, dt = torch.split(self.in_proj(hid), [self.e, self.e + 2 * self.g * self.n, self.h], dim=-1)
        xbc = F.silu(causal_conv(xbc, self.conv1d))
        x, B, C = torch.split(xbc, [self.e, self.g * self.n, self.g * self.n], dim=-1)
        dt = F.softplus(dt.float() + self.dt_bias)
        A = -torch.exp(self.A_log.float())
        rep = self.h // self.g
        B = B.float().view(b, l, self.g, self.n).repeat_interleave(rep, dim=2)
        C = C.float().view(b, l, self.g, self.n).repeat_interleave(rep, dim=2)
        xh = x.float().view(b, l, self.h, self.p)
        y = ssd_chunked(xh, dt, A, B, C, self.chunk) + self.D.view(1, 1, -1, 1) * xh
        return self.out_proj(self.norm(y.flatten(2), z).to(hid.dtype))


Mamba1Mixer.scan_impl = Mamba1Mixer.scan


class Block(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        self.norm = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])
        self.mixer = Mamba1Mixer(cfg) if arch == "mamba1" else Mamba2Mixer(cfg)

    def forward(self, h):
        return h + self.mixer(self.norm(h))


class Backbone(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        self.embeddings = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(Block(cfg, arch) for _ in range(cfg["num_hidden_layers"]))
        self.norm_f = RMSNorm(cfg["hidden_size"], cfg["layer_norm_epsilon"])


class MambaLM(nn.Module):
    def __init__(self, cfg, arch):
        super().__init__()
        self.cfg, self.arch = cfg, arch
        self.backbone = Backbone(cfg, arch)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.backbone.embeddings.weight  # tied
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") and "dt_proj" not in name:
                nn.init.normal_(p, std=0.02)
            if name.endswith("out_proj.weight"):
                with torch.no_grad():
                    p /= math.sqrt(cfg["num_hidden_layers"])
        nn.init.normal_(self.backbone.embeddings.weight, std=0.02)

    def forward(self, ids):
        h = self.backbone.embeddings(ids)
        for layer in self.backbone.layers:
            h = layer(h)
        return self.lm_head(self.backbone.norm_f(h))
