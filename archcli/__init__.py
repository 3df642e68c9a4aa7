"""archcli: spaCy v3's documented model architectures on thinc, as a lean CLI toolkit.

Importing archcli has no side effects: it imports nothing heavy (thinc comes with the first use
of `registry` or `load`), prints nothing and leaves thinc's current ops alone. The CPU gemm
backend (see `archcli.ops`) is chosen where archcli runs models: the CLI and `Pipeline`.
"""
import sys
import types

__version__ = "0.1.0"


def load(path, **kwargs):
    """Load a model directory (see `archcli.language.load`)."""
    from .language import load as load_model

    return load_model(path, **kwargs)


def use_cpu_gemm(backend: str = "numpy") -> None:
    """Make CPU models built from now on multiply with `backend` (see `archcli.ops.use_cpu_gemm`)."""
    from .ops import use_cpu_gemm as use

    use(backend)


class _Package(types.ModuleType):
    """`archcli.registry` is the registry class, imported on first use (it imports thinc)."""

    @property
    def registry(self):
        from .registry import registry

        return registry

    @registry.setter
    def registry(self, value) -> None:
        # Importing the submodule archcli.registry binds it here; the name keeps meaning the class.
        pass


sys.modules[__name__].__class__ = _Package

__all__ = ["registry", "load", "use_cpu_gemm", "__version__"]
