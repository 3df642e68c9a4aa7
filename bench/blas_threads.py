"""One BLAS thread per benchmarked process, and a record of that setting for the JSON reports.

spaCy's matrix products run on thinc's single-threaded blis, archcli's on numpy's OpenBLAS
(archcli/ops.py), which would otherwise use every core: pinning both to one thread compares the
tools core for core. Variables already set by the caller are kept, so other settings can be measured.
"""
import os
from typing import Dict, Optional

THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_one_blas_thread() -> None:
    """Set the thread variables to 1 (unless set) so every child process inherits them."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, "1")


def blas_settings() -> Dict[str, Optional[str]]:
    return {var: os.environ.get(var) for var in ("OPENBLAS_NUM_THREADS", "ARCHCLI_CPU_GEMM")}
