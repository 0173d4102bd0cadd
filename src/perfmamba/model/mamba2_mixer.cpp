// Mamba-2 mixer (Dao & Gu 2024): in_proj -> [z | xBC | dt]; causal conv + SiLU over xBC;
// SSD (chunked for prefill, recurrent for decode) with D skip; gated group RMSNorm with z;
// out_proj.
#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

void mamba2_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  ActIn u, int batch, int len, LayerState& state, float* out, bool step,
                  int layer) {
  const int T = batch * len, D = c.d_model, E = l.d_inner, N = l.d_state, G = c.n_groups;
  const int proj_dim = c.in_proj_dim(l), conv_dim = c.conv_dim(l);
  auto bias = [](const Tensor& t) { return t.defined() ? t.f32() : nullptr; };
  const Device dev = be.device();

  Tensor zxbcdt = Tensor::empty({T, proj_dim}, DType::F32, dev);
  be.set_component(Component::InProj, layer);
  be.gemm(
      {T, proj_dim, D, u, D, w.in_proj.f32(), bias(w.in_proj_bias), zxbcdt.f32(), proj_dim, false});

  Tensor xbc = Tensor::empty({T, conv_dim}, DType::F32, dev);
  be.set_component(Component::Conv1d, layer);
  be.conv1d({batch, len, conv_dim, c.d_conv, zxbcdt.f32() + E, proj_dim, w.conv_weight.f32(),
             bias(w.conv_bias), state.conv_state.f32(), true, xbc.f32(), conv_dim});

  Tensor y = Tensor::empty({T, E}, DType::F32, dev);
  SsdParams sp;
  sp.batch = batch;
  sp.len = len;
  sp.n_heads = l.n_heads;
  sp.head_dim = l.head_dim;
  sp.d_state = N;
  sp.n_groups = G;
  sp.chunk_size = c.chunk_size;
  sp.x = xbc.f32();
  sp.ldx = conv_dim;
  sp.B = xbc.f32() + E;
  sp.C = xbc.f32() + E + G * N;
  sp.ldbc = conv_dim;
  sp.dt = zxbcdt.f32() + E + conv_dim;
  sp.lddt = proj_dim;
  sp.dt_bias = w.dt_bias.f32();
  if (c.dt_clamped()) {
    sp.dt_min = float(c.dt_limit_min);
    sp.dt_max = float(c.dt_limit_max);
  }
  sp.A = w.A.f32();
  sp.D = w.D.f32();
  sp.ssm_state = state.ssm_state.f32();
  sp.y = y.f32();
  sp.ldy = E;
  be.set_component(Component::Ssd, layer);
  if (step)
    be.ssd_step(sp);
  else
    be.ssd_chunked(sp);

  Tensor g = Tensor::empty({T, E}, be.gemm_input_dtype(), dev);  // out_proj's input alone
  be.set_component(Component::GatedNorm, layer);
  be.gated_rmsnorm({T, E, E / G, y.f32(), E, zxbcdt.f32(), proj_dim, w.gated_norm.f32(),
                    float(c.norm_eps), act(g), E});

  be.set_component(Component::OutProj, layer);
  be.gemm({T, D, E, act(g), E, w.out_proj.f32(), bias(w.out_proj_bias), out, D, false});
}

Mamba2StepParams mamba2_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out) {
  auto opt = [](const Tensor& t) { return t.defined() ? t.f32() : nullptr; };
  Mamba2StepParams p;
  p.d_model = c.d_model, p.d_inner = l.d_inner, p.d_state = l.d_state, p.n_heads = l.n_heads,
  p.head_dim = l.head_dim, p.n_groups = c.n_groups, p.d_conv = c.d_conv;
  p.residual = residual, p.delta = delta, p.norm = w.norm.f32(), p.eps = float(c.norm_eps);
  p.in_proj = w.in_proj.f32(), p.in_proj_bias = opt(w.in_proj_bias);
  p.conv_weight = w.conv_weight.f32(), p.conv_bias = opt(w.conv_bias),
  p.conv_state = state.conv_state.f32();
  p.dt_bias = w.dt_bias.f32();
  if (c.dt_clamped()) p.dt_min = float(c.dt_limit_min), p.dt_max = float(c.dt_limit_max);
  p.A = w.A.f32(), p.D = w.D.f32(), p.ssm_state = state.ssm_state.f32();
  p.gated_norm = w.gated_norm.f32();
  p.out_proj = w.out_proj.f32(), p.out_proj_bias = opt(w.out_proj_bias), p.out = out;
  return p;
}

}  // namespace perfmamba
