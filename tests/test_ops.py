"""CPU gemm backend: numpy's BLAS by default, blis on request, same function either way."""
import os
import subprocess
import sys

import numpy
from thinc.api import NumpyOps, Ops, get_current_ops, set_current_ops, use_ops

from archcli import registry, use_cpu_gemm
from archcli.ops import CPU_GEMM_ENV

from .spec_blocks import block_config, spec_blocks


def _current_backend_in_subprocess(value):
    env = dict(os.environ)
    if value is None:
        env.pop(CPU_GEMM_ENV, None)
    else:
        env[CPU_GEMM_ENV] = value
    code = "import archcli.language; archcli.language.Pipeline(); from thinc.api import get_current_ops as g; print(g().use_blis)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip(), result.stderr


def test_pipeline_selects_numpy_gemm_and_env_keeps_blis():
    assert _current_backend_in_subprocess(None) == ("False", "")
    assert _current_backend_in_subprocess("blis") == ("True", "")
    use_blis, warning = _current_backend_in_subprocess("mkl")
    assert use_blis == "False"
    assert "ARCHCLI_CPU_GEMM='mkl'" in warning and "numpy, blis" in warning


def test_numpy_and_blis_gemm_give_the_same_hash_embed_cnn(spec_text, sample_docs):
    block = block_config(spec_blocks(spec_text)["spacy.HashEmbedCNN.v2"])
    before = get_current_ops()
    try:
        use_cpu_gemm("blis")
        blis_model = registry.resolve(block)["model"]
        blis_model.initialize(X=sample_docs)
        assert blis_model.ops.use_blis
        use_cpu_gemm("numpy")
        numpy_model = registry.resolve(block)["model"]
        numpy_model.initialize(X=sample_docs)
        assert not numpy_model.ops.use_blis
    finally:
        set_current_ops(before)
    numpy_model.from_bytes(blis_model.to_bytes())
    for blis_out, numpy_out in zip(blis_model.predict(sample_docs), numpy_model.predict(sample_docs)):
        assert blis_out.shape == numpy_out.shape == (blis_out.shape[0], 96)
        numpy.testing.assert_allclose(blis_out, numpy_out, rtol=1e-4, atol=1e-5)
    assert sum(out.shape[0] for out in numpy_model.predict(sample_docs)) > 0


def test_other_ops_are_left_alone():
    class OtherOps(Ops):
        name = "other"

    with use_ops("numpy"):
        other = OtherOps()
        set_current_ops(other)
        use_cpu_gemm("numpy")
        assert get_current_ops() is other
    assert isinstance(get_current_ops(), NumpyOps)
