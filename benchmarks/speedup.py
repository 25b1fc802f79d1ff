"""UNSIR against retraining from scratch, timed in the same run: `unsir forget --methods unsir,retrain`
for one and for twenty people, one command each, on the shipped ResNet18, then UNSIR alone twice more on
the same set (its seconds drift by a fifth on this machine; the ratio uses their median). Writes
benchmarks/SPEEDUP.md. Its retrains are also second draws of the gold standard for
benchmarks/retrain_spread.py.

    python benchmarks/speedup.py

A count already measured is kept (each takes a retrain: 5-6 minutes alone on this 2-core CPU).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from unsir.bench import QUIET_LOAD, machine, settled_load

HERE = Path(__file__).parent
CHECKPOINT = "models/resnet18-lfw100"
SEED = 1000  # a benchmark seed whose 1- and 20-person sets have a recorded retrain (RESULTS.json)
COUNTS = (1, 20)
TARGET = 50  # the speed issue: UNSIR at least 50x faster than retrain timed in the same run
REPEATS = 2  # UNSIR-only commands after the one with the retrain


def forget_command(count: int, seed: int, methods: str, *options: str) -> dict:
    """One `unsir forget` on `count` people drawn with `seed`: its report, and the 1-minute load before
    (once the previous command's own load has died down) and after."""
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        before = settled_load()
        subprocess.run([sys.executable, "-m", "unsir", "forget", "--checkpoint", CHECKPOINT, "--forget-random",
                        str(count), "--seed", str(seed), "--methods", methods, "--report", str(report_path), *options],
                       check=True, cwd=HERE.parent, capture_output=True)
        report = json.loads(report_path.read_text())
    return {"report": report, "load_before": before, "load_after": os.getloadavg()[0]}


def main() -> None:
    json_path = HERE / "SPEEDUP.json"
    saved = json.loads(json_path.read_text()) if json_path.exists() else {"runs": {}}
    for count in COUNTS:
        if str(count) not in saved["runs"]:
            saved["runs"][str(count)] = forget_command(count, SEED, "unsir,retrain")
        repeats = saved["runs"][str(count)].setdefault("repeats", [])
        while len(repeats) < REPEATS:
            repeats.append(forget_command(count, SEED, "unsir"))
        saved["machine"] = machine()
        json_path.write_text(json.dumps(saved, indent=1))
        print(count, "done", flush=True)
    write_markdown(saved)


def write_markdown(saved: dict) -> None:
    runs = saved["runs"]
    commands = [command for run in runs.values() for command in (run, *run.get("repeats", []))]
    before = [command["load_before"] for command in commands]
    after = [command["load_after"] for command in commands]
    quiet = max(before) <= QUIET_LOAD  # after a command, the load is its own
    lines = ["# UNSIR against retraining, timed in the same run", "",
             f"`python benchmarks/speedup.py` on {saved['machine']}: `unsir forget --checkpoint {CHECKPOINT} "
             f"--forget-random K --seed {SEED} --methods unsir,retrain` for K = {', '.join(runs)}, then the same "
             f"command with `--methods unsir` {REPEATS} times, one after another. Seconds are each method's own "
             "(the report's `seconds`: UNSIR's stages without the evaluation), not the command's.", "",
             f"Machine: {'quiet' if quiet else 'NOT quiet'} — 1-minute load average before each command "
             f"{', '.join(f'{load:.1f}' for load in before)} (quiet: at most {QUIET_LOAD}) and at its end "
             f"{', '.join(f'{load:.1f}' for load in after)} (its own two threads).",
             "", f"## Time (target: UNSIR at least {TARGET}x faster)", "",
             "| people | UNSIR, each command (s) | median | its stages (s) | retrain (s) | retrain / UNSIR (median) |",
             "|---|---|---|---|---|---|"]
    for count, run in runs.items():
        entries = [command["report"]["methods"]["unsir"] for command in (run, *run.get("repeats", []))]
        median = statistics.median(entry["seconds"] for entry in entries)
        middle = min(entries, key=lambda entry: abs(entry["seconds"] - median))
        stages = ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in middle["stages"].items()
                           if stage != "evaluate")
        retrain = run["report"]["methods"]["retrain"]["seconds"]
        ratio = retrain / median
        each = ", ".join(f"{entry['seconds']:.1f}" for entry in entries)
        lines.append(f"| {count} | {each} | {median:.1f} | "
                     f"{stages} | {retrain:.0f} | **{ratio:.0f}x** ({'met' if ratio >= TARGET else 'missed'}) |")
    lines += ["", "Each retrain is also set beside the retrain RESULTS.md recorded for its set in RETRAIN_SPREAD.md."]
    (HERE / "SPEEDUP.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
