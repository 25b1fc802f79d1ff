"""How UNSIR's repair restores the kept people, epoch by epoch, and what it gives back: written to
benchmarks/REPAIR_TRACE.md.

One UNSIR run per tuning set and variant; its repair runs epoch after epoch, and after each (from the
second) the model is measured as the benchmark measures it: kept and forgotten test accuracy, kNN on
the features, loss AUC, stranger KS. Every repair epoch count up to --epochs is read from one run, so
epoch 3 of a trace is exactly a 3-epoch repair. Also recorded: what a stopping rule could read without
looking at a forgotten photo, the kept people's training photos outside the retain subset.

    python benchmarks/repair_trace.py --variant "repair 2e-4, body x20" --epochs 4

Tuning sets only (seeds 500+); measured cells are kept, so a rerun adds what is missing.
"""
from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

import unsir.methods.unsir as unsir_method
from unsir.bench import machine
from unsir.evaluation import Predictions, forgetting_metrics, frozen_start
from unsir.forgetting import build_request, random_identities
from unsir.pipeline import load, load_strangers_for

HERE = Path(__file__).parent
CHECKPOINT = "models/resnet18-lfw100"
CELLS = [f"{count}/{seed}" for seed in (500, 501, 502) for count in (1, 2, 5, 10, 20)]
# name -> settings on top of the ResNet18's default (those it sets are written out in full: the default moves)
VARIANTS = {
    "repair 1e-4, body x15 (the default until 2026-12-06)": {"repair_lr": 1e-4, "impair_body_scale": 15.0},
    "repair 2e-4, body x15": {"repair_lr": 2e-4, "impair_body_scale": 15.0},
    "repair 3e-4, body x15": {"repair_lr": 3e-4, "impair_body_scale": 15.0},
    "repair 2e-4, body x20": {"repair_lr": 2e-4, "impair_body_scale": 20.0},
}
BASELINE = next(iter(VARIANTS))  # what the others are compared with, on their own sets
KEYS = ("retain_test_acc", "forget_test_acc", "feature_knn_forget_acc", "feature_knn_retain_acc", "mia_auc_forget",
        "stranger_ks")


class Trace:
    """Wraps UNSIR's training loop so that its repair runs one epoch at a time, measured after each."""

    def __init__(self, measure, epochs: int):
        self.measure, self.epochs, self.model = measure, epochs, None
        self._fit, self._split_at = unsir_method.fit, unsir_method.split_at

    def __enter__(self):
        def split_at(model, block):
            if self.model is None:  # UNSIR splits its own copy first, then the original
                self.model = model
            return self._split_at(model, block)

        def fit(learner, batches, optimizer, *, epochs, stage, **options):
            if stage != "repair":
                return self._fit(learner, batches, optimizer, epochs=epochs, stage=stage, **options)
            for epoch in range(1, self.epochs + 1):  # the same optimiser and data order as one call
                self._fit(learner, batches, optimizer, epochs=1, stage=stage, **options)
                if epoch >= 2:
                    self.measure(self.model, epoch)  # `fit` puts the learner back in training mode

        unsir_method.fit, unsir_method.split_at = fit, split_at
        return self

    def __exit__(self, *exc):
        unsir_method.fit, unsir_method.split_at = self._fit, self._split_at


def trace_cell(loaded, strangers, start, original, config, cell: str, epochs: int) -> dict:
    split = loaded.split
    count, seed = map(int, cell.split("/"))
    classes = [split.names.index(name) for name in random_identities(count, split.names, seed)]
    request = build_request(split.train, classes, len(split.names), seed, start=start, train_logits=original.train)
    kept = (~torch.isin(split.train.labels, torch.tensor(classes))).nonzero().flatten()
    in_subset = set(kept[torch.tensor(request.retain_indices(config.retain_per_id))].tolist())
    aside = torch.tensor([i for i in kept.tolist() if i not in in_subset])
    rows = {}

    def measure(model, epoch):
        model.eval()
        predictions = Predictions.of(model, split, strangers, start=start)
        measured = forgetting_metrics(predictions, split, classes)
        logits, labels = predictions.train[aside], split.train.labels[aside]
        teacher = original.train[aside].clone()
        teacher[:, classes] = unsir_method.WITHOUT
        rows[str(epoch)] = {**{key: measured[key] for key in KEYS},
                            "aside_acc": (logits.argmax(1) == labels).float().mean().item(),
                            "aside_kl": F.kl_div(F.log_softmax(logits, 1), F.softmax(teacher, 1),
                                                 reduction="batchmean").item()}

    with Trace(measure, epochs):
        unsir_method.unsir(loaded.model, request, config)
    before = forgetting_metrics(original, split, classes)
    return {"original": {key: before[key] for key in KEYS}, "n_aside": len(aside), "epochs": rows}


def summary(results: dict) -> list[str]:
    """Per variant and repair epochs: kept change (mean / worst), the kNN's drop on the forgotten, loss AUC and
    stranger KS (means). Variants measured on the same sets share a table, with today's default before them
    on those sets."""
    lines, groups = [], {}
    for name, cells in results.items():
        groups.setdefault(tuple(sorted(cells, key=_order)), []).append(name)
    for cells, names in sorted(groups.items(), key=lambda group: -len(group[0])):
        lines += [f"Over {len(cells)} tuning sets ({', '.join(cells)}):", "",
                  "| variant | repair epochs | kept change, mean / worst (points) | kNN on the forgotten: drop from the "
                  "original (points) | kept people's kNN drop | loss AUC | stranger KS |", "|---|---|---|---|---|---|---|"]
        for name in [BASELINE, *(n for n in names if n != BASELINE)]:
            for epoch in sorted({int(e) for cell in cells for e in results[name].get(cell, {}).get("epochs", {})}):
                rows = [(results[name][c]["original"], results[name][c]["epochs"].get(str(epoch))) for c in cells]
                if any(row is None for _, row in rows):
                    continue
                kept = [100 * (row["retain_test_acc"] - before["retain_test_acc"]) for before, row in rows]
                knn = [100 * (before["feature_knn_forget_acc"] - row["feature_knn_forget_acc"]) for before, row in rows]
                kept_knn = [100 * (before["feature_knn_retain_acc"] - row["feature_knn_retain_acc"]) for before, row in rows]
                lines.append(f"| {name} | {epoch} | {statistics.mean(kept):+.2f} / {min(kept):+.2f} | "
                             f"{statistics.mean(knn):.1f} | {statistics.mean(kept_knn):.1f} | "
                             f"{statistics.mean(r['mia_auc_forget'] for _, r in rows):.3f} | "
                             f"{statistics.mean(r['stranger_ks'] for _, r in rows):.3f} |")
        lines.append("")
    return lines


def per_set(results: dict) -> list[str]:
    lines = ["| set | variant | repair epochs | kept change | forgotten % | kNN on the forgotten % (original) | loss AUC | KS | kept training photos outside the subset: accuracy % / KL to the original |",
             "|---|---|---|---|---|---|---|---|---|"]
    for cell in sorted({c for cells in results.values() for c in cells}, key=_order):
        for name, cells in results.items():
            if cell not in cells:
                continue
            before = cells[cell]["original"]
            for epoch, row in cells[cell]["epochs"].items():
                lines.append(f"| {cell} | {name} | {epoch} | {100 * (row['retain_test_acc'] - before['retain_test_acc']):+.1f} | "
                             f"{100 * row['forget_test_acc']:.1f} | {100 * row['feature_knn_forget_acc']:.1f} "
                             f"({100 * before['feature_knn_forget_acc']:.1f}) | {row['mia_auc_forget']:.3f} | "
                             f"{row['stranger_ks']:.3f} | {100 * row['aside_acc']:.1f} / {row['aside_kl']:.3f} |")
    return lines


def _order(cell: str):
    count, seed = map(int, cell.split("/"))
    return count, seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", action="append", choices=list(VARIANTS), help="repeat; default: every variant")
    parser.add_argument("--epochs", type=int, default=4, help="repair epochs traced (from 2)")
    parser.add_argument("--cells", default=",".join(CELLS), help="count/seed, comma-separated (tuning seeds 500+)")
    parser.add_argument("--load-note", default="", help="how busy the machine was, for the record")
    args = parser.parse_args()
    json_path = HERE / "REPAIR_TRACE.json"
    saved = json.loads(json_path.read_text()) if json_path.exists() else {"results": {}, "notes": []}
    loaded = load(CHECKPOINT)
    strangers = load_strangers_for(loaded)
    start = frozen_start(loaded.model, loaded.card, loaded.split, strangers)
    original = Predictions.of(loaded.model, loaded.split, strangers, start=start)
    for name in args.variant or list(VARIANTS):
        config = replace(unsir_method.defaults_for("resnet18"), **VARIANTS[name])
        measured = saved["results"].setdefault(name, {})
        for cell in args.cells.split(","):
            if int(cell.split("/")[1]) < 500:
                raise SystemExit(f"{cell}: trace tuning sets only (seeds 500+); the benchmark's sets are not tuned on")
            if cell in measured and len(measured[cell]["epochs"]) >= args.epochs - 1:
                continue
            measured[cell] = trace_cell(loaded, strangers, start, original, config, cell, args.epochs)
            json_path.write_text(json.dumps(saved, indent=1))
            print(name, cell, "done", flush=True)
    if args.load_note:
        saved["notes"].append(args.load_note)
    saved["machine"] = machine()
    json_path.write_text(json.dumps(saved, indent=1))
    write_markdown(saved)


def write_markdown(saved: dict) -> None:
    lines = ["# UNSIR's repair, epoch by epoch (ResNet18, tuning sets)", "",
             f"`python benchmarks/repair_trace.py` on {saved.get('machine', 'this machine')}, `{CHECKPOINT}`. "
             "One UNSIR run per set and variant; its repair measured after each epoch from the second, so each "
             "row is exactly that many repair epochs. Variants (on top of today's other ResNet18 defaults): "
             + "; ".join(f"{name}: {settings}" for name, settings in VARIANTS.items()) + ".", "",
             *(f"Machine: {note}" for note in saved.get("notes", [])), "",
             "## Summary", "", *summary(saved["results"]), "## Every set", "", *per_set(saved["results"]), ""]
    (HERE / "REPAIR_TRACE.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
