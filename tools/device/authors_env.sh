# Sourced by the GPU-machine scripts that time the Mamba authors' stack: points Python at the copy
# of ../shared/baselines/mamba-authors under .baselines/ (git-ignored, carried) and builds its two
# CUDA extensions there on first use (about 80 s; kept while the machine stays warm).
authors=$PWD/.baselines/mamba-authors
[ -d "$authors/src" ] || { echo "no $authors: run `bash tools/device/vs_authors.sh --prepare` here first" >&2; return 1; }
export PYTHONPATH="$authors/src:$authors/src/causal_conv1d_pkg:$authors/build-ext/ss:$authors/build-ext/cc:${PYTHONPATH:-}"
python3 -c "import torch, selective_scan_cuda, causal_conv1d_cuda" 2>/dev/null || python3 "$authors/build_ext.py" >&2
