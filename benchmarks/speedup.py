"""UNSIR against retraining from scratch, timed in the same run: `unsir forget --methods unsir,retrain`
for one and for twenty people, one command each, on the shipped ResNet18, then UNSIR alone twice more on
the same set (its seconds drift by a fifth on this machine; the ratio uses their median). Writes
benchmarks/SPEEDUP.md.

The retrain of each set is also set beside the retrain that benchmarks/RESULTS.json recorded for the same
set: two retrains of the same kept people differ (training is not bit-for-bit reproducible here), and
how far they differ is how precisely a "share of the gap to retrain closed" can be read.

    python benchmarks/speedup.py

A count already measured is kept (each takes a retrain: 5-6 minutes alone on this 2-core CPU).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from unsir.bench import QUIET_LOAD, machine, settled_load
from unsir.forgetting import gaps_closed

HERE = Path(__file__).parent
CHECKPOINT = "models/resnet18-lfw100"
SEED = 1000  # a benchmark seed whose 1- and 20-person sets have a recorded retrain (RESULTS.json)
COUNTS = (1, 20)
TARGET = 50  # the speed issue: UNSIR at least 50x faster than retrain timed in the same run
COMPARED = {"retain_test_acc": "kept test accuracy", "feature_knn_forget_acc": "kNN on the forgotten",
            "mia_auc_forget": "loss AUC", "stranger_ks": "stranger KS"}
REPEATS = 2  # UNSIR-only commands after the one with the retrain


def run(count: int, methods: str) -> dict:
    """One `unsir forget` on the set, and the 1-minute load before and after."""
    with tempfile.TemporaryDirectory() as scratch:
        report_path = Path(scratch) / "report.json"
        before = settled_load()
        subprocess.run([sys.executable, "-m", "unsir", "forget", "--checkpoint", CHECKPOINT, "--forget-random",
                        str(count), "--seed", str(SEED), "--methods", methods, "--report", str(report_path)],
                       check=True, cwd=HERE.parent, capture_output=True)
        report = json.loads(report_path.read_text())
    return {"report": report, "load_before": before, "load_after": os.getloadavg()[0]}


def recorded_retrain(count: int) -> dict | None:
    """The benchmark's record of the same set (its report holds the original, retrain and UNSIR entries)."""
    for record in json.loads((HERE / "RESULTS.json").read_text()):
        if (record["checkpoint"], record["count"], record["seed"]) == (CHECKPOINT, count, SEED) \
                and "retrain" in record["report"]["methods"]:
            return record
    return None


def main() -> None:
    json_path = HERE / "SPEEDUP.json"
    saved = json.loads(json_path.read_text()) if json_path.exists() else {"runs": {}}
    for count in COUNTS:
        if str(count) not in saved["runs"]:
            saved["runs"][str(count)] = run(count, "unsir,retrain")
        repeats = saved["runs"][str(count)].setdefault("repeats", [])
        while len(repeats) < REPEATS:
            repeats.append(run(count, "unsir"))
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
    lines += ["", "## Two retrains of the same set", "",
              "This run's retrain beside the one benchmarks/RESULTS.json recorded for the same set (same recipe, "
              "same seed, same kept photos; only the order of floating-point operations can differ, e.g. with "
              "the number of threads), and UNSIR's share of the original→retrain gap closed (this run's UNSIR) "
              "measured against each. The spread between the two retrains is the precision of RESULTS.md's "
              "gap-closed figures.", "",
              "| people | measure | original | retrain, recorded | retrain, this run | UNSIR | gap closed vs recorded "
              "| gap closed vs this run |", "|---|---|---|---|---|---|---|---|"]
    machines = set()
    for count, run in runs.items():
        record = recorded_retrain(int(count))
        if record is None:
            continue
        recorded = record["report"]
        machines.add(record["machine"])
        report = run["report"]
        original, retrain, unsir = report["original"], report["methods"]["retrain"], report["methods"]["unsir"]
        against_recorded = gaps_closed(original, unsir, recorded["methods"]["retrain"])
        against_this = gaps_closed(original, unsir, retrain)
        for key, label in COMPARED.items():
            gap = " | ".join(_share(against[key]) if key in against else "–"
                             for against in (against_recorded, against_this))
            lines.append(f"| {count} | {label} | {original[key]:.3f} | {recorded['methods']['retrain'][key]:.3f} | "
                         f"{retrain[key]:.3f} | {unsir[key]:.3f} | {gap} |")
    if machines:
        lines += ["", f"The recorded retrains ran on {'; '.join(sorted(machines))}; this run's on {saved['machine']}."]
    (HERE / "SPEEDUP.md").write_text("\n".join(lines) + "\n")


def _share(closed: float) -> str:
    return "no gap (retrain = original)" if math.isnan(closed) else f"{closed + 0.0:.2f}"  # + 0.0: never "-0.00"


if __name__ == "__main__":
    main()
