"""Sweep UNSIR settings on a shipped checkpoint and record them in benchmarks/SWEEP.md.

The paper's rates are a preset, not the answer for a from-scratch face model: this grid is how
the defaults in `unsir.methods.unsir.UnsirConfig` were chosen. Rerun (measured cells are kept):

    python benchmarks/sweep_unsir.py --counts 1,20 --seeds 0
    python benchmarks/sweep_unsir.py --counts 1 --seeds 0,1,2,3,4,5 --only defaults

Another checkpoint's sweep goes to SWEEP-<name>.md, e.g. `--checkpoint models/vit-lfw100`.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from unsir.bench import machine
from unsir.forgetting import Predictions, forget, random_identities
from unsir.methods.unsir import PAPER, UnsirConfig
from unsir.pipeline import load

HERE = Path(__file__).parent
DEFAULT = UnsirConfig()
DEFAULT_CHECKPOINT = "models/resnet18-lfw100"
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
    "noise 16 per id x 40 steps": {"noise_batch": 16, "noise_steps": 40, "noise_budget": None},
    "retain 20 per id": {"retain_per_id": 20},
    "4 noise images per id (the previous default)": {"noise_batch": 4},
    "4 noise images per id, copies 8": {"noise_batch": 4, "noise_copies": 8},
    "noise copies 2": {"noise_copies": 2},
    "noise copies 4": {"noise_copies": 4},
    "impair 3e-4": {"impair_lr": 3e-4},
    "impair 1e-3": {"impair_lr": 1e-3},
    "classifier x200": {"classifier_lr_scale": 200},
    "retain 8 per id": {"retain_per_id": 8},
    "noise 8 per id x 20 steps, retain 8 per id": {"noise_steps": 20, "retain_per_id": 8},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    parser.add_argument("--counts", default="1,20")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--only", action="append", help="a grid name to run (repeat for several)")
    args = parser.parse_args()
    loaded = load(args.checkpoint)
    original = Predictions.of(loaded.model, loaded.split, None)
    results_path = HERE / f"{output_stem(args.checkpoint)}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    for name, overrides in GRID.items():
        if args.only and name not in args.only:
            continue
        config = dataclasses.replace(DEFAULT, **overrides)
        for count in map(int, args.counts.split(",")):
            for seed in map(int, args.seeds.split(",")):
                if f"{count}/{seed}" in results.get(name, {}):
                    continue  # measured in an earlier, interrupted run
                names = random_identities(count, loaded.split.names, seed)
                run = forget(loaded.model, loaded.card, loaded.split, names, methods={"unsir": config},
                             seed=seed, original_predictions=original)
                report = run.report
                entry = report["methods"]["unsir"]
                results.setdefault(name, {})[f"{count}/{seed}"] = {
                    "original_retain": report["original"]["retain_test_acc"],
                    **{k: entry[k] for k in ("retain_test_acc", "forget_test_acc", "forget_train_acc", "seconds")},
                    "worst_forget_margin": worst_margin(run.predictions["unsir"].test, loaded.split.test.labels,
                                                       report["forget_classes"]),
                    "config": dataclasses.asdict(config), "machine": machine()}
                print(f"{name:50s} k={count:2d} seed={seed} retain {entry['retain_test_acc']:.3f} "
                      f"forget {entry['forget_test_acc']:.3f} {entry['seconds']:.1f}s", flush=True)
                results_path.write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, args.checkpoint)


def output_stem(checkpoint: str) -> str:
    return "SWEEP" if Path(checkpoint) == Path(DEFAULT_CHECKPOINT) else f"SWEEP-{Path(checkpoint).name}"


def worst_margin(logits: torch.Tensor, labels: torch.Tensor, forget_classes) -> float:
    """Largest (own logit - best other logit) over the forgotten people's test photos.

    Below 0 every photo is forgotten, and the further below, the safer: a steadier signal than an
    accuracy over a handful of photos."""
    forgotten = torch.isin(labels, torch.tensor(forget_classes))
    logits, labels = logits[forgotten], labels[forgotten]
    own = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], float("-inf")).amax(1)
    return (own - others).max().item()


def machines(results: dict) -> list[str]:
    """The machines the cells ran on (a cell from before this was recorded counts as unrecorded)."""
    return sorted({cell.get("machine", "machine not recorded") for cells in results.values() for cell in cells.values()})


def changes(config: dict) -> str:
    """The settings of a run that differ from today's defaults."""
    default = dataclasses.asdict(DEFAULT)
    return ", ".join(f"{k}={v}" for k, v in config.items() if default.get(k, "absent") != v) or "–"


def write_markdown(results: dict, checkpoint: str) -> None:
    lines = ["# UNSIR settings sweep", "",
             f"`python benchmarks/sweep_unsir.py` on `{checkpoint}` ({'; '.join(machines(results))}). Only UNSIR runs here; "
             "noise, impair and repair all on the retain subset, forget-set photos never read. Retain/forget: test "
             "accuracy (%) on kept / forgotten identities; Δ = retain minus the original's. Each cell: forgotten "
             "identities / seed. Worst margin: the largest (own logit − best other logit) over the forgotten "
             "people's test photos; below 0 all are forgotten (runs before it was recorded show –). "
             "The changes column lists each run's settings that differ from today's defaults in `UnsirConfig`: "
             f"`{dataclasses.asdict(DEFAULT)}`. Seconds are wall time of UNSIR alone, but many runs shared the "
             "CPU with other jobs: benchmarks/RESULTS.md has the benchmark's timings.", "",
             "| setting | changes from the defaults | forgotten/seed | retain | Δ retain | forget (test) | "
             "forget (train) | worst margin | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, cells in results.items():
        for key, r in sorted(cells.items(), key=lambda kv: [int(x) for x in kv[0].split("/")]):
            margin = r.get("worst_forget_margin")
            lines.append(f"| {name} | {changes(r['config'])} | {key} | {100 * r['retain_test_acc']:.1f} | "
                         f"{100 * (r['retain_test_acc'] - r['original_retain']):+.1f} | {100 * r['forget_test_acc']:.1f} | "
                         f"{100 * r['forget_train_acc']:.1f} | {'–' if margin is None else f'{margin:+.2f}'} | "
                         f"{r['seconds']:.1f} |")
    (HERE / f"{output_stem(checkpoint)}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
