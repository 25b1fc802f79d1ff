"""benchmarks/gpu_check.py, the timings a lent GPU runs (benchmarks/gpu_check.sh), run here on the CPU with the tiny
checkpoint: a lent device's few minutes are no place to find the script's own bugs. Slow (about three minutes:
two commands, an app with three clicks, a torchrun training), so run with -m slow before a device is used."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from app_server import ROOT


@pytest.mark.slow
def test_the_gpu_check_runs_end_to_end_and_writes_every_section(olivetti_checkpoint, tmp_path):
    tests_log, report = tmp_path / "tests.log", tmp_path / "GPU.md"
    tests_log.write_text("320 passed in 100s\n")
    subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--models-dir", str(olivetti_checkpoint.parent),
                    "--checkpoint", olivetti_checkpoint.name, "--tests-exit", "0", "--tests-seconds", "100",
                    "--tests-log", str(tests_log), "--train-dataset", "olivetti", "--train-epochs", "1",
                    "--out", str(report)], cwd=ROOT, check=True, capture_output=True, text=True)
    text = report.read_text()
    assert "`python -m pytest`: exit code 0 in 100 s." in text and "320 passed in 100s" in text
    # one and twenty people through the command line, three clicks through the app, each with its seconds
    assert [int(people) for people in re.findall(r"^\| (\d+) \| [\d.]+ \|", text, re.MULTILINE)] == [1, 20]
    clicks = re.findall(r"^\| (1 person, first click|1 person, second click|20 people) \| [\d.]+ \| [\d.]+ \|", text,
                        re.MULTILINE)
    assert clicks == ["1 person, first click", "1 person, second click", "20 people"]
    assert re.search(r"280 training photos x 1 epochs in [\d.]+ s of training on CPU", text)
    verdicts = re.findall(r"^- (.+): [\d.]+ s \((met|missed): ≤ [\d.]+ s\)$", text, re.MULTILINE)
    assert [what for what, _ in verdicts] == ["UNSIR for one person, `unsir forget`", "UNSIR for one person, the app",
                                              "click → every result, one person, warm app"]
