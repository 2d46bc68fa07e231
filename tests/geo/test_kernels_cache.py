"""Where numba cannot keep its cache (a read-only install, no home folder), the kernels still compile and run."""

from __future__ import annotations

import logging

import numba

from geo import kernels


def test_no_writable_cache_folder_compiles_in_memory_and_says_how_to_fix_it(monkeypatch, caplog):
    def njit(**options):
        if options.get("cache"):  # what numba raises when neither the module's folder nor a user cache is writable
            raise RuntimeError("cannot cache function 'f': no locator available for file 'geo/kernels.py'")
        return numba.njit(**options)

    monkeypatch.setattr(kernels, "njit", njit)
    monkeypatch.setattr(kernels, "_CACHE_WARNED", False)

    def twice(x):
        return 2 * x

    with caplog.at_level(logging.WARNING, logger="geo.kernels"):
        compiled = kernels._jit(twice)
        again = kernels._jit(twice)
    assert compiled(21) == 42 and again(1) == 2
    warnings = [r for r in caplog.records if "NUMBA_CACHE_DIR" in r.getMessage()]
    assert len(warnings) == 1  # said once per process, not per kernel
