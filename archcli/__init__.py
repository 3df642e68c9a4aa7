"""archcli: spaCy v3's documented model architectures on thinc, as a lean CLI toolkit."""
__version__ = "0.1.0"

from .registry import registry  # noqa: E402
from .ops import cpu_gemm_backend, use_cpu_gemm  # noqa: E402

use_cpu_gemm(cpu_gemm_backend())


def load(path):
    """Load a model directory (see `archcli.language.load`)."""
    from .language import load as load_model

    return load_model(path)


__all__ = ["registry", "load", "use_cpu_gemm", "__version__"]
