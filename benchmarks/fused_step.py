"""UNSIR with the fused Adam step (today's) against the default step (with which benchmarks/RESULTS.json's
ViT rows were measured), on reported forget sets: the same people, the same seed, one thread. Writes
benchmarks/FUSED_STEP.{json,md}: what the change of step does to the numbers RESULTS.md reports.

    python benchmarks/fused_step.py
"""
from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import torch

import unsir.methods.unsir as unsir_method
from unsir.bench import machine
from unsir.forgetting import forget, random_identities
from unsir.pipeline import load

HERE = Path(__file__).parent
SETS = {"models/resnet18-lfw100": [(1, 1000), (20, 1000)], "models/vit-lfw100": [(1, 1000), (20, 1000)]}
KEYS = {"forget_test_acc": "forgotten %", "retain_test_acc": "kept %", "feature_knn_forget_acc": "kNN on the forgotten %",
        "mia_auc_forget": "loss AUC", "seconds": "seconds"}


def measure() -> list[dict]:
    torch.set_num_threads(1)
    fused_step = unsir_method.fused_step
    rows = []
    try:
        for checkpoint, sets in SETS.items():
            loaded = load(checkpoint)
            for count, seed in sets:
                names = random_identities(count, loaded.split.names, seed)
                for fused in (True, False):
                    unsir_method.fused_step = fused_step if fused else (lambda model: False)
                    load_before = os.getloadavg()[0]
                    entry = forget(loaded.model, loaded.card, loaded.split, names, methods={"unsir": None},
                                   seed=seed).report["methods"]["unsir"]
                    rows.append({"arch": loaded.card["arch"], "count": count, "seed": seed, "fused": fused,
                                 "machine": machine(), "day": date.today().isoformat(),
                                 **{key: entry[key] for key in KEYS}, "load_before": round(load_before, 2),
                                 "load_after": round(os.getloadavg()[0], 2)})
                    print(rows[-1], flush=True)
    finally:
        unsir_method.fused_step = fused_step
    return rows


def write_markdown(rows: list[dict], path: Path) -> None:
    lines = ["# UNSIR: the fused Adam step against the default one", "",
             f"`python benchmarks/fused_step.py` on {'; '.join(sorted({row['machine'] for row in rows}))}. UNSIR's optimiser takes the fused "
             "step since 2026-11-29 (one kernel for every weight: in a short timing beside other jobs, 8 ms a step of "
             "the ResNet18's layer3 onwards here, not 46); RESULTS.md's ViT UNSIR rows were measured with the default step, "
             "its ResNet18 UNSIR rows were measured again, with the fused one, on 2026-12-06. Both are Adam: only the order of floating-point operations "
             "differs. Same people, same seed, per reported set, with UNSIR's defaults of the day it ran "
             f"({', '.join(sorted({row['day'] for row in rows}))}; they may have moved since: "
             "unsir/methods/unsir.py's ARCH_DEFAULTS says when):", "",
             "| model | set | step | " + " | ".join(KEYS.values()) + " | load before/after |",
             "|---|---|---|" + "---|" * len(KEYS) + "---|"]
    for row in rows:
        cells = [f"{100 * row[k]:.1f}" if k.endswith("acc") else f"{row[k]:.3f}" if k == "mia_auc_forget"
                 else f"{row[k]:.1f}" for k in KEYS]
        lines.append(f"| {row['arch']} | {row['count']}@{row['seed']} | {'fused' if row['fused'] else 'default'} | "
                     + " | ".join(cells) + f" | {row['load_before']:.1f}/{row['load_after']:.1f} |")
    loads = [row[k] for row in rows for k in ("load_before", "load_after")]
    lines += ["", "This compares two steps of one method, not forgetting: RESULTS.md sets the same forget sets "
              "beside their retrained models and the controls."]
    lines += ["", f"1-minute load {min(loads):.1f}–{max(loads):.1f} around the runs (this job alone keeps one of the "
              "2 cores busy). The seconds include nothing but UNSIR; APP_LATENCY.md and THROUGHPUT.md time the step "
              "on the quiet machine with both cores."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    rows = measure()
    (HERE / "FUSED_STEP.json").write_text(json.dumps(rows, indent=1) + "\n")
    write_markdown(rows, HERE / "FUSED_STEP.md")


if __name__ == "__main__":
    main()
