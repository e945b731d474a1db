"""The benchmarks still import: they run outside the test suite, so a rename elsewhere would break them unseen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.mark.parametrize("name", sorted(p.stem for p in BENCH.glob("*.py")))
def test_a_benchmark_imports(name: str) -> None:
    # In a process of its own, as `python bench/<name>.py` runs it (bench/ first on the path).
    code = f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {name}; assert callable({name}.main)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
