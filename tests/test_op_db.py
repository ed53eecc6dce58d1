"""PyTorch's OpInfo database (``op_db``) through ``st.ops.aten``: the quick subset.

``tests/op_db_runner.py --quick`` runs a fixed, representative subset of OpInfos in worker
subprocesses (so a crash is caught and counted, and no handle outlives a test here) and writes a
JSON report, which the tests below read. The full run, ``python tests/op_db_runner.py --all``,
is documented in the README.

``--grad2 --quick`` does the same for gradients: st.autograd.grad against torch.autograd.grad
on the gradient subset's float64 samples, and second derivatives for a few of them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("expecttest", reason="op_db needs the expecttest package (in .ci/requirements.txt)")

RUNNER = Path(__file__).with_name("op_db_runner.py")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The runner's report on the quick subset, and its printed summary."""
    path = tmp_path_factory.mktemp("op_db") / "quick.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--quick", "--json", str(path)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(path.read_text()), done.stdout


def test_no_op_crashes_or_hangs(quick):
    report, printed = quick
    summary = report["summary"]
    assert not summary["crashes"] and not summary["timeouts"], printed


def test_every_op_ran(quick):
    """No OpInfo of the subset is missing from op_db or broke the runner."""
    report, printed = quick
    assert not report["summary"]["runner_errors"], printed


def test_pass_rate_is_at_least_95_percent(quick):
    report, printed = quick
    summary = report["summary"]
    assert summary["with_single_aten_samples"] >= 0.8 * summary["opinfos"], printed
    assert summary["pass_rate"] >= 95.0, printed


def test_error_inputs_that_reach_aten_raise(quick):
    report, printed = quick
    summary = report["summary"]
    assert summary["error_inputs_reaching_aten"] > 0, printed
    assert summary["error_inputs_raised"] == summary["error_inputs_reaching_aten"], printed


def test_a_crash_counts_against_its_op_and_the_batch_goes_on(tmp_path):
    """The runner's own safety net: a worker that dies in one op's st call (made to, here)."""
    path = tmp_path / "crash.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--ops", "add,mul,sum", "--jobs", "1", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OP_DB_RUNNER_CRASH_IN": "mul"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(path.read_text())
    assert {key: entry["status"] for key, entry in report["results"].items()} == {"add": "pass", "mul": "crash", "sum": "pass"}
    assert "SIGSEGV" in report["results"]["mul"]["result"]["notes"][0]
    assert report["summary"]["crashes"] == ["mul"]


@pytest.fixture(scope="module")
def quick_grad(tmp_path_factory):
    """The runner's report on the gradient subset (second derivatives for QUICK_GRAD2)."""
    path = tmp_path_factory.mktemp("op_db") / "quick_grad.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--grad2", "--quick", "--json", str(path)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(path.read_text()), done.stdout


def test_gradients_no_op_crashes_hangs_or_breaks_the_runner(quick_grad):
    report, printed = quick_grad
    summary = report["summary"]
    assert not summary["crashes"] and not summary["timeouts"] and not summary["runner_errors"], printed


def test_first_derivatives_agree_with_torch_for_every_op_of_the_subset(quick_grad):
    """Each OpInfo of the subset is differentiable in float64, so each must be checked (none
    skipped) and pass: every sample's gradients equal torch's."""
    report, printed = quick_grad
    statuses = {key: entry["result"]["grad"]["status"] for key, entry in report["results"].items()}
    assert len(statuses) >= 60, printed
    assert {key: status for key, status in statuses.items() if status != "pass"} == {}, printed
    assert report["summary"]["grad"]["samples_passed"] >= 5 * len(statuses), printed


def test_second_derivatives_agree_with_torch_for_the_second_order_subset(quick_grad):
    report, printed = quick_grad
    statuses = {key: entry["result"]["grad2"]["status"] for key, entry in report["results"].items()}
    checked = {key: status for key, status in statuses.items() if status != "not_run"}
    assert len(checked) >= 10, printed
    assert {key: status for key, status in checked.items() if status != "pass"} == {}, printed


def test_a_wrong_gradient_fails_its_op(tmp_path):
    """The gradient check's own test: st's cotangent for mul made 0.1% too large (made to, here)
    must fail mul, and only mul."""
    path = tmp_path / "wrong.json"
    done = subprocess.run(
        [sys.executable, str(RUNNER), "--grad", "--ops", "add,mul", "--jobs", "1", "--json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OP_DB_RUNNER_WRONG_GRAD_IN": "mul"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(path.read_text())
    assert {key: entry["result"]["grad"]["status"] for key, entry in report["results"].items()} == {"add": "pass", "mul": "fail"}
    assert "gradient wrt input" in report["results"]["mul"]["result"]["grad"]["failures"][0]["error"]
