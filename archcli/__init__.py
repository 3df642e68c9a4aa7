"""archcli: spaCy v3's documented model architectures on thinc, as a lean CLI toolkit.

Importing archcli has no side effects: it imports nothing heavy (thinc comes with the first use
of `registry` or `load`), prints nothing and leaves thinc's current ops alone. The CPU gemm
backend (see `archcli.ops`) is chosen where archcli runs models: the CLI and `Pipeline`.
"""
__version__ = "0.1.0"


def load(path, **kwargs):
    """Load a model directory (see `archcli.language.load`)."""
    from .language import load as load_model

    return load_model(path, **kwargs)


def use_cpu_gemm(backend: str = "numpy") -> None:
    """Make CPU models built from now on multiply with `backend` (see `archcli.ops.use_cpu_gemm`)."""
    from .ops import use_cpu_gemm as use

    use(backend)


def __getattr__(name: str):
    # `registry` is imported on first use: it imports thinc.
    if name == "registry":
        from ._registry import registry

        return registry
    raise AttributeError(f"module 'archcli' has no attribute {name!r}")


__all__ = ["registry", "load", "use_cpu_gemm", "__version__"]
