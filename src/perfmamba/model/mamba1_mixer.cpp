// Mamba-1 mixer (Gu & Dao 2023): in_proj -> causal conv + SiLU -> x_proj (dt, B, C) ->
// dt_proj -> selective scan with fused softplus, D skip and SiLU(z) gate -> out_proj.
#include "perfmamba/model/mamba_lm.hpp"

namespace perfmamba {

void mamba1_mixer(const MambaConfig& c, const LayerDims& l, const LayerWeights& w, Backend& be,
                  ActIn u, int batch, int len, LayerState& state, float* out, bool, int layer) {
  const int T = batch * len, D = c.d_model, E = l.d_inner, N = l.d_state, R = c.dt_rank;
  const int xz_dim = 2 * E, dbc_dim = R + 2 * N;
  auto bias = [](const Tensor& t) { return t.defined() ? t.f32() : nullptr; };
  const Device dev = be.device();
  const DType gemm_in = be.gemm_input_dtype();

  Tensor xz = Tensor::empty({T, xz_dim}, DType::F32, dev);
  be.set_component(Component::InProj, layer);
  be.gemm({T, xz_dim, D, u, D, w.in_proj.f32(), bias(w.in_proj_bias), xz.f32(), xz_dim, false});

  // The scan reads the conv output in f32; x_proj reads it in its own input type, written beside.
  Tensor x = Tensor::empty({T, E}, DType::F32, dev);
  Tensor x_gemm = gemm_in == DType::F32 ? Tensor() : Tensor::empty({T, E}, gemm_in, dev);
  be.set_component(Component::Conv1d, layer);
  be.conv1d({batch, len, E, c.d_conv, xz.f32(), xz_dim, w.conv_weight.f32(), bias(w.conv_bias),
             state.conv_state.f32(), true, x.f32(), E, x_gemm.defined() ? x_gemm.raw() : nullptr});

  Tensor dbc = Tensor::empty({T, dbc_dim}, DType::F32, dev);
  be.set_component(Component::XProj, layer);
  be.gemm({T, dbc_dim, E, x_gemm.defined() ? act(x_gemm) : act(x), E, w.x_proj.f32(), nullptr,
           dbc.f32(), dbc_dim, false});

  // dt_proj without its bias: the scan adds it inside softplus.
  Tensor dt = Tensor::empty({T, E}, DType::F32, dev);
  be.set_component(Component::DtProj, layer);
  be.gemm({T, E, R, dbc.f32(), dbc_dim, w.dt_proj.f32(), nullptr, dt.f32(), E, false});

  Tensor y = Tensor::empty({T, E}, gemm_in, dev);  // out_proj's input alone
  SelectiveScanParams sp;
  sp.batch = batch;
  sp.len = len;
  sp.d_inner = E;
  sp.d_state = N;
  sp.x = x.f32();
  sp.ldx = E;
  sp.dt = dt.f32();
  sp.lddt = E;
  sp.dt_bias = w.dt_bias.f32();
  sp.A = w.A.f32();
  sp.B = dbc.f32() + R;
  sp.C = dbc.f32() + R + N;
  sp.ldbc = dbc_dim;
  sp.D = w.D.f32();
  sp.z = xz.f32() + E;
  sp.ldz = xz_dim;
  sp.ssm_state = state.ssm_state.f32();
  sp.y = act(y);
  sp.ldy = E;
  be.set_component(Component::Scan, layer);
  be.selective_scan(sp);

  be.set_component(Component::OutProj, layer);
  be.gemm({T, D, E, act(y), E, w.out_proj.f32(), bias(w.out_proj_bias), out, D, false});
}

Mamba1StepParams mamba1_step_params(const MambaConfig& c, const LayerDims& l, const LayerWeights& w,
                                    float* residual, const float* delta, LayerState& state,
                                    float* out) {
  auto opt = [](const Tensor& t) { return t.defined() ? t.f32() : nullptr; };
  Mamba1StepParams p;
  p.d_model = c.d_model, p.d_inner = l.d_inner, p.d_state = l.d_state, p.dt_rank = c.dt_rank,
  p.d_conv = c.d_conv;
  p.residual = residual, p.delta = delta, p.norm = w.norm.f32(), p.eps = float(c.norm_eps);
  p.in_proj = w.in_proj.f32(), p.in_proj_bias = opt(w.in_proj_bias);
  p.conv_weight = w.conv_weight.f32(), p.conv_bias = opt(w.conv_bias),
  p.conv_state = state.conv_state.f32();
  p.x_proj = w.x_proj.f32(), p.dt_proj = w.dt_proj.f32(), p.dt_bias = w.dt_bias.f32();
  p.A = w.A.f32(), p.D = w.D.f32(), p.ssm_state = state.ssm_state.f32();
  p.out_proj = w.out_proj.f32(), p.out_proj_bias = opt(w.out_proj_bias), p.out = out;
  return p;
}

}  // namespace perfmamba
