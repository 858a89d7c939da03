"""The benchmarks of the monitoring and authorization paths still run, in their smallest form:
a benchmark that fails only when someone measures is found too late. Their numbers are not
checked (speed is measured, not asserted), and their JSON goes to a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("module", "arguments", "results"), [
    ("bench.compliance", ["--subjects", "50", "--rounds", "1"], ["compliance_index", "compliance_operations"]),
    ("bench.authorization", ["--quick"], ["authorization"]),
])
def test_a_benchmark_runs_and_writes_its_results(module, arguments, results, stack_env, tmp_path):
    env = {**os.environ, "DATABASE_URL": stack_env["DATABASE_URL"], "BURSAR_BENCH_RESULTS": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", module, *arguments], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in results:
        written = json.loads((tmp_path / f"{name}.json").read_text())
        assert written["results"] and written["benchmark"] == name
