"""CPU matrix products through numpy's BLAS instead of thinc's bundled blis.

thinc's `NumpyOps` multiplies with the blis it bundles; the OpenBLAS that numpy's wheels ship
measured 2-4x faster (single-threaded) for the products these models spend their time in (tok2vec
maxout layers, the parser's precomputed lower layer, output layers). `NumpyOps(use_blis=False)`
sends `gemm` to `numpy.dot` and leaves every other op as it was, so models compute the same function.

`ARCHCLI_CPU_GEMM=blis` keeps thinc's default (e.g. to compare timings with spaCy op for op);
OpenBLAS's own `OPENBLAS_NUM_THREADS` sets how many cores a product may use.

The backend is chosen where archcli runs models (the CLI commands, `Pipeline` construction and
`load`), never on `import archcli`: a program that uses archcli beside spaCy keeps its own ops
until it builds an archcli pipeline.
"""
import os
import sys

from thinc.api import NumpyOps, get_current_ops, set_current_ops

from .errors import ArchcliError

CPU_GEMM_ENV = "ARCHCLI_CPU_GEMM"
CPU_GEMM_CHOICES = ("numpy", "blis")
_warned: set = set()


def use_cpu_gemm(backend: str = "numpy") -> None:
    """Make CPU models built from now on multiply with `backend` ("numpy" or "blis").

    Only thinc's default CPU ops are replaced: GPU ops chosen with `--gpu-id`, or any other ops a
    caller set, are left alone.
    """
    if backend not in CPU_GEMM_CHOICES:
        raise ArchcliError(f"{CPU_GEMM_ENV}={backend!r}: choose one of {', '.join(CPU_GEMM_CHOICES)}")
    current = get_current_ops()
    if type(current) is not NumpyOps:
        return
    use_blis = backend == "blis"
    if current.use_blis != use_blis:
        set_current_ops(NumpyOps(use_blis=use_blis))


def cpu_gemm_backend() -> str:
    """The backend named by ARCHCLI_CPU_GEMM (default "numpy"; an unknown name warns and gives "numpy")."""
    backend = os.environ.get(CPU_GEMM_ENV, "numpy").strip().lower() or "numpy"
    if backend not in CPU_GEMM_CHOICES:
        if backend in _warned:
            return "numpy"
        _warned.add(backend)
        print(
            f"archcli: ignoring {CPU_GEMM_ENV}={backend!r} (choose one of {', '.join(CPU_GEMM_CHOICES)}); using numpy",
            file=sys.stderr,
        )
        backend = "numpy"
    return backend


def select_cpu_gemm() -> None:
    """Use the backend ARCHCLI_CPU_GEMM names: called where archcli starts running models."""
    use_cpu_gemm(cpu_gemm_backend())
