"""`unsir bench`: the paper's Table IV on LFW-100, regenerated from measurements.

Every (checkpoint, forget count, seed) runs the chosen methods through `forgetting.forget`
(the same path as `unsir forget` and the app); results go to a JSON file as they arrive, and
the Markdown table is rebuilt from it, so an interrupted run keeps what it measured.
"""
from __future__ import annotations

import json
import platform
import statistics
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import torch

from .forgetting import Predictions, forget, random_identities
from .methods import default_config
from .methods.unsir import defaults_for
from .pipeline import load, load_strangers_for
from .reports import to_json
from .training import Progress, device_name

COLUMNS = [("retain_test_acc", "A_Dr test"), ("retain_change", "Δ A_Dr"), ("forget_test_acc", "A_Df test"),
           ("mia_forget", "MIA"),
           ("stranger_ks", "stranger KS"), ("relearn_epochs", "relearn"), ("seconds", "seconds")]


def machine() -> str:
    return f"{device_name()} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads), torch {torch.__version__}"


def run_benchmark(checkpoints, counts, seeds, methods, *, retrain_seeds: int = 1, relearn_seeds: int = 1,
                  results_path, data_home=None, configs: dict | None = None, command: str = "",
                  progress: Progress | None = None) -> list[dict]:
    """Run the grid; append one record per (checkpoint, count, seed) to `results_path` (JSON list).

    The slow parts run for the first seeds only: retraining for `retrain_seeds`, relearn time for
    `relearn_seeds`."""
    results_path = Path(results_path)
    records = json.loads(results_path.read_text()) if results_path.exists() else []
    done = {(r["checkpoint"], r["count"], r["seed"]) for r in records}
    for checkpoint in checkpoints:
        loaded = load(checkpoint, data_home)
        strangers = load_strangers_for(loaded, data_home)
        original = Predictions.of(loaded.model, loaded.split, strangers)
        for count in counts:
            for seed_index, seed in enumerate(seeds):
                if (str(checkpoint), count, seed) in done:
                    continue
                chosen = {m: (configs or {}).get(m) or default_config(m, loaded.card) for m in methods
                          if m != "retrain" or seed_index < retrain_seeds}
                names = random_identities(count, loaded.split.names, seed)
                run = forget(loaded.model, loaded.card, loaded.split, names, methods=chosen, seed=seed,
                             strangers=strangers, original_predictions=original, relearn=seed_index < relearn_seeds,
                             progress=progress)
                records.append({"checkpoint": str(checkpoint), "arch": loaded.card["arch"], "count": count,
                                "seed": seed, "machine": machine(), "command": command,
                                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                "report": run.report})
                results_path.parent.mkdir(parents=True, exist_ok=True)
                results_path.write_text(to_json(records))
    return records


def _which_rows(records: list[dict], label) -> str:
    """'label for arch counts; ...': which rows share each value of label(record)."""
    rows: dict[str, dict[str, set]] = {}
    for record in records:
        rows.setdefault(label(record), {}).setdefault(record["arch"], set()).add(record["count"])
    return "; ".join(
        f"{value} for " + ", ".join(f"{arch} {'/'.join(map(str, sorted(counts)))}" for arch, counts in runs.items())
        for value, runs in rows.items())


def _unsir_changes(record: dict) -> str:
    """The UNSIR settings of a record that differ from today's defaults for its architecture."""
    defaults = asdict(defaults_for(record["arch"]))
    used = record["report"]["methods"].get("unsir", {}).get("hyperparameters", {})
    # A setting missing from an older record reads as None (noise_budget: no limit then).
    return ", ".join(f"{k}={used.get(k)}" for k in defaults if used.get(k) != defaults[k]) or "today's defaults"


def _mean_std(values) -> str:
    """mean ± std of the measured values ('–' when none was measured)."""
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    mean = statistics.fmean(values)
    spread = f" ± {statistics.stdev(values):.3g}" if len(values) > 1 else ""
    return f"{mean:.3g}{spread}"


def _cell(values, key) -> str:
    if key in {"retain_test_acc", "retain_change", "forget_test_acc", "mia_forget"}:
        values = [None if v is None else 100 * v for v in values]
        return _mean_std(values)
    if key == "relearn_epochs":
        capped = sum(v is None for v in values)
        if capped == len(values) and values:
            return "> 10"  # not relearned within the cap (metrics.relearn_epochs' max_epochs)
        return _mean_std(values) + (f" ({capped} runs > 10)" if capped else "")
    return _mean_std(values)


def markdown(records: list[dict]) -> str:
    """Table IV-shaped summary: rows = (arch, forget count, method); mean ± std over seeds."""
    commands = sorted({r["command"] for r in records if r.get("command")})
    lines = ["# Benchmark: forgetting identities from LFW-100 face models", "",
             "Measured by " + " and ".join(f"`{c}`" for c in commands) + " (results accumulate in "
             "RESULTS.json; a rerun skips what is there).", "",
             "A_Dr / A_Df: test accuracy (%) on retained / forgotten identities' held-out photos; Δ A_Dr: "
             "points gained or lost against the original on the same forget set. "
             "MIA (%): share of the forgotten identities' training photos that a membership-inference attack "
             "calls members. Stranger KS: distance between the model's confidence on forgotten people and on "
             "people it never saw (0 = treated like strangers). Relearn: epochs of training on 500-photo draws "
             "until forget accuracy is back to the original's (cap 10). Seconds: the method's own wall time "
             "(UNSIR: noise + impair + repair; evaluation excluded). Mean ± std over seeds (retrain: fewer seeds, "
             "see n).", ""]
    if records:
        lines += [f"Machine: {_which_rows(records, lambda r: r['machine'])}.", "",
                  f"UNSIR settings: {_which_rows(records, _unsir_changes)}.", ""]
        variants = records[-1]["report"]
        lines += [f"MIA variant: {variants['mia_variant']}.", "", f"Stranger variant: {variants['stranger_variant']}.", ""]
    header = "| model | forgotten | method | n | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines += [header, "|" + "---|" * (4 + len(COLUMNS))]
    speed = []
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((record["arch"], record["count"]), []).append(record["report"])
    for (arch, count), reports in sorted(groups.items()):
        rows = [("original", [r["original"] for r in reports])]
        for method in ["retrain", "unsir", "finetune", "neggrad"]:
            # Δ A_Dr: retained accuracy minus the original's on the same forget set.
            entries = [{**r["methods"][method],
                        "retain_change": r["methods"][method]["retain_test_acc"] - r["original"]["retain_test_acc"]}
                       for r in reports if method in r["methods"]]
            if entries:
                rows.append((method, entries))
        for method, entries in rows:
            cells = [_cell([e[key] for e in entries if key in e], key) for key, _ in COLUMNS]
            lines.append(f"| {arch} | {count} | {method} | {len(entries)} | " + " | ".join(cells) + " |")
        paired = [(r["methods"]["retrain"]["seconds"], r["methods"]["unsir"]["seconds"]) for r in reports
                  if "retrain" in r["methods"] and "unsir" in r["methods"]]
        speed += [(arch, count, retrain / unsir) for retrain, unsir in paired]
    if speed:
        lines += ["", "Speed: retrain seconds / UNSIR seconds, timed in the same run:", ""]
        lines += [f"- {arch}, {count} forgotten: {ratio:.0f}x" for arch, count, ratio in speed]
    return "\n".join(lines) + "\n"
