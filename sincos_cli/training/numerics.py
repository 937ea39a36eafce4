"""Reproducible matrix products: MKL's strict CNR mode (standard library only).

MKL, torch's BLAS on x86, may round a matrix product by where its operands and its output
sit in memory: measured on an AVX-512 AMD EPYC, a (22, 80) by (80, 9) product gave other
bits at 20 of 40 places in a batch, and a one-row (1, 22) by (22, 51) at 30 of 40. A batched
member's place moves with the size of its group, so its numbers did too. MKL's Conditional
Numerical Reproducibility in strict mode (MKL_CBWR=AUTO,STRICT: the best code path for the
CPU, results independent of alignment) makes every place give the same bits; it must be in
force before MKL's first call in the process.
"""

from __future__ import annotations

import ctypes
import os

AUTO, STRICT = 2, 0x10000  # MKL_CBWR_AUTO, MKL_CBWR_STRICT
ALL = -1  # MKL_CBWR_ALL: every setting


def strict_env() -> None:
    """Ask for strict mode in this process and every process it starts: before torch loads
    (the CLI's entry, a test session). A setting of the user's keeps its branch."""
    now = os.environ.get("MKL_CBWR", "")
    if "STRICT" not in now.upper():
        os.environ["MKL_CBWR"] = f"{now},STRICT" if now else "AUTO,STRICT"


def strict_mkl() -> str | None:
    """With torch loaded: strict mode on (asked for now if MKL has not started yet). None
    when it is on, or nothing can tell (a torch without MKL); else why it is not."""
    import torch

    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        lib = ctypes.CDLL(path)
        get, put = lib.mkl_serv_cbwr_get, lib.mkl_serv_cbwr_set
    except (OSError, AttributeError):
        return None  # no MKL in this torch: its BLAS is not the one measured
    get.restype = put.restype = ctypes.c_int
    get.argtypes = put.argtypes = [ctypes.c_int]
    if get(ALL) & STRICT:
        return None
    put(AUTO | STRICT)
    if get(ALL) & STRICT:
        return None
    return ("MKL started in this process before sincos could make its matrix products "
            "reproducible; start it with MKL_CBWR=AUTO,STRICT")
