"""The benchmark scripts run and write what the README says (a smoke run: no timing is checked)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHES = Path(__file__).parent.parent / "benches"


def test_the_python_benchmark_writes_its_table_and_json(tmp_path):
    done = subprocess.run(
        [sys.executable, str(BENCHES / "python_vs_torch.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "python_vs_torch.json").read_text())
    names = {(row["group"], row["name"]) for row in results["rows"]}
    for group, name in [("small", "zeros [4]"), ("generic", "ops.aten.add.Tensor [4]"), ("generic", "st.add(x, y) [4]"), ("small", "x.matmul(w).add(b).relu() 8x8"), ("large", "add 16M"),
                        ("large", "matmul 1024x1024"), ("startup", "import + one op (fresh process)"),
                        ("floor", "raw frame call aten::add.Tensor + finalize [4] vs add"), ("floor", "raw ctypes zeros + finalize [4] vs torch.zeros(4)")]:
        assert (group, name) in names
    for row in results["rows"]:
        assert row["ours_s"] > 0 and row["torch_s"] > 0 and row["ratio"] == pytest.approx(row["ours_s"] / row["torch_s"])
        assert row["goal"] in ("met", "missed", "")
    assert "| group | operation | simple_torch | torch | ours/torch | goal |" in done.stdout
    assert results["machine"] in done.stdout


def test_the_distributed_benchmark_compares_with_torch_distributed(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHES / "distributed.py"), "--rounds", "1", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "distributed.json").read_text())
    assert [row["measure"] for row in results["rows"]] == ["all_reduce 1 MiB GB/s", "all_reduce 64 MiB GB/s", "DDP step ms"]
    for row in results["rows"]:
        assert row["torch"] > 0 and row["st"] > 0 and row["st_checked"] > 0
        assert row["st_over_torch"] == pytest.approx(row["st"] / row["torch"])
    assert "at least 0.95 of torch's bandwidth" in done.stdout


def test_the_criterion_summary_reports_overhead_per_call(tmp_path):
    def result(group, function, median_ns):
        folder = tmp_path / group.replace(" ", "_") / function / "new"
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps({"group_id": group, "function_id": function}))
        (folder / "estimates.json").write_text(json.dumps({"median": {"point_estimate": median_ns}}))

    result("add [4] + free: 2 calls", "tch", 700.0)
    result("add [4] + free: 2 calls", "rt_torch", 740.0)
    result("ndim, the handle check: 1 call", "tch", 6.0)
    result("ndim, the handle check: 1 call", "rt_torch", 40.0)
    done = subprocess.run([sys.executable, str(BENCHES / "criterion_summary.py"), str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "| add [4] + free: 2 calls | 700.0 ns | 740.0 ns | +40.0 ns | +20.0 ns | met |" in done.stdout
    assert "| ndim, the handle check: 1 call | 6.0 ns | 40.0 ns | +34.0 ns | +34.0 ns | missed |" in done.stdout
