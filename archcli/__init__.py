"""archcli: spaCy v3's documented model architectures on thinc, as a lean CLI toolkit."""
__version__ = "0.1.0"

from .registry import registry  # noqa: E402

__all__ = ["registry", "__version__"]
