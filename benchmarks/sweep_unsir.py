"""Sweep UNSIR settings on the shipped ResNet18 and record them in benchmarks/SWEEP.md.

The paper's rates are a preset, not the answer for a from-scratch face model: this grid is how
the defaults in `unsir.methods.unsir.UnsirConfig` were chosen. Rerun:

    python benchmarks/sweep_unsir.py --counts 1,20 --seeds 0
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from unsir.bench import machine
from unsir.forgetting import Predictions, forget, random_identities
from unsir.methods.unsir import PAPER, UnsirConfig
from unsir.pipeline import load

HERE = Path(__file__).parent
DEFAULT = UnsirConfig()
# name -> settings changed from the defaults
GRID = {
    "paper preset (Adam 0.02 / 0.01, 100 per id)": dataclasses.asdict(PAPER),
    "defaults": {},
    "Adam 1e-4 / 1e-4, same rate on the classifier": {"classifier_lr_scale": 1},
    "classifier x10": {"classifier_lr_scale": 10},
    "classifier x100": {"classifier_lr_scale": 100},
    "classifier x100, 2 repair epochs": {"classifier_lr_scale": 100, "repair_epochs": 2},
    "classifier x30, 2 repair epochs": {"classifier_lr_scale": 30, "repair_epochs": 2},
    "repair 1e-5 (classifier x100), 2 repair epochs": {"classifier_lr_scale": 100, "repair_lr": 1e-5, "repair_epochs": 2},
    "impair/repair 1e-5, classifier x1000": {"impair_lr": 1e-5, "repair_lr": 1e-5, "classifier_lr_scale": 1000},
    "2x impair then repair": {"cycles": "impair-impair-repair"},
    "2x (impair-repair)": {"cycles": "impair-repair-impair-repair"},
    "noise 16 per id x 40 steps": {"noise_batch": 16, "noise_steps": 40},
    "retain 20 per id": {"retain_per_id": 20},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="models/resnet18-lfw100")
    parser.add_argument("--counts", default="1,20")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--only", help="comma-separated grid names to run")
    args = parser.parse_args()
    loaded = load(args.checkpoint)
    original = Predictions.of(loaded.model, loaded.split, None)
    results_path = HERE / "SWEEP.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name, changes in GRID.items():
        if args.only and name not in args.only.split(","):
            continue
        config = dataclasses.replace(DEFAULT, **changes)
        for count in map(int, args.counts.split(",")):
            for seed in map(int, args.seeds.split(",")):
                if f"{count}/{seed}" in results.get(name, {}):
                    continue  # measured in an earlier, interrupted run
                names = random_identities(count, loaded.split.names, seed)
                report = forget(loaded.model, loaded.card, loaded.split, names, methods={"unsir": config},
                                seed=seed, original_predictions=original).report
                entry = report["methods"]["unsir"]
                results.setdefault(name, {})[f"{count}/{seed}"] = {
                    "original_retain": report["original"]["retain_test_acc"],
                    **{k: entry[k] for k in ("retain_test_acc", "forget_test_acc", "forget_train_acc", "seconds")},
                    "config": dataclasses.asdict(config)}
                print(f"{name:50s} k={count:2d} seed={seed} retain {entry['retain_test_acc']:.3f} "
                      f"forget {entry['forget_test_acc']:.3f} {entry['seconds']:.1f}s", flush=True)
                results_path.write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, args.checkpoint)


def write_markdown(results: dict, checkpoint: str) -> None:
    lines = ["# UNSIR settings sweep", "",
             f"`python benchmarks/sweep_unsir.py` on `{checkpoint}` ({machine()}). Only UNSIR runs here; "
             "noise, impair and repair all on the retain subset, forget-set photos never read. Retain/forget: test "
             "accuracy (%) on kept / forgotten identities; Δ = retain minus the original's. Each cell: forgotten "
             "identities / seed. Changes are relative to the defaults in `UnsirConfig`: "
             f"`{dataclasses.asdict(DEFAULT)}`. Seconds are wall time of UNSIR alone, but some runs shared the "
             "CPU with other jobs: benchmarks/RESULTS.md has the timings of a quiet machine.", "",
             "| setting | forgotten/seed | retain | Δ retain | forget (test) | forget (train) | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, cells in results.items():
        for key, r in sorted(cells.items(), key=lambda kv: [int(x) for x in kv[0].split("/")]):
            lines.append(f"| {name} | {key} | {100 * r['retain_test_acc']:.1f} | "
                         f"{100 * (r['retain_test_acc'] - r['original_retain']):+.1f} | {100 * r['forget_test_acc']:.1f} | "
                         f"{100 * r['forget_train_acc']:.1f} | {r['seconds']:.1f} |")
    (HERE / "SWEEP.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
