"""How far UNSIR's benchmark numbers move when nothing but the machine changes: UNSIR run once more on every
forget set of one model in benchmarks/RESULTS.json, with the same settings, and set beside the recorded run,
each scored against the same recorded retrain. Per size: the worst kept set, the pooled closeness to retrain and its
verdicts, recorded and again; then every set. Writes benchmarks/UNSIR_SPREAD.md and .json (the ViT:
UNSIR_SPREAD-vit.md and .json).

    unsir bench --checkpoint models/resnet18-lfw100 --methods unsir --retrain-seeds 0 --relearn-seeds 0 \\
        --out runs/repro/A/RESULTS.md --forget-counts 1,2,5,10,20 --seeds 1000,1001,1002   # and 1003,1004
    python benchmarks/unsir_spread.py runs/repro/A/RESULTS.json runs/repro/B/RESULTS.json
    python benchmarks/unsir_spread.py --checkpoint models/vit-lfw100 runs/repro/vitA/RESULTS.json ...

UNSIR is seeded: on one machine a run repeats itself bit for bit. Another CPU rounds its bf16 and float32
kernels differently (RESULTS.md's runs and these are the same training up to the order of floating-point
operations), and a few hundred steps amplify that: each run is an equally valid draw of the method.
benchmarks/RETRAIN_SPREAD.md does the same for the retrained models.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from unsir.bench import with_method_rerun
from unsir.bench_markdown import quietness, verdict
from unsir.evaluation import CHANCE, moved_in_features
from unsir.metrics import retrain_closeness
from unsir.targets import GAP_TARGET, POOLED_MEASURES, pooled_measure
from unsir.reports import to_json

HERE = Path(__file__).parent
CHECKPOINTS = {"models/resnet18-lfw100": "UNSIR_SPREAD", "models/vit-lfw100": "UNSIR_SPREAD-vit"}
METHOD = "unsir"


def recorded(checkpoint: str) -> list[dict]:
    return [r for r in json.loads((HERE / "RESULTS.json").read_text()) if r["checkpoint"] == checkpoint]


def check_same_recipe(records: list[dict], again: list[dict]) -> None:
    """Refuse a rerun with other settings: it would measure another recipe, not the machine's spread."""
    settings = {(r["count"], r["seed"]): r["report"]["methods"][METHOD]["hyperparameters"] for r in records}
    for run in again:
        if run["report"]["methods"][METHOD]["hyperparameters"] != settings.get((run["count"], run["seed"])):
            raise SystemExit(f"{run['count']}@{run['seed']}: not RESULTS.json's settings; rerun with today's defaults "
                             "only after RESULTS.json was measured with them")


def size_summary(reports: list[dict]) -> dict:
    """The numbers RESULTS.md judges UNSIR by, for one size: kept change worst / mean, pooled closeness to retrain,
    unmoved sets."""
    kept = [100 * (r["methods"][METHOD]["retain_test_acc"] - r["original"]["retain_test_acc"]) for r in reports]
    gaps = {}
    for key in POOLED_MEASURES:
        pooled = pooled_measure(reports, METHOD, key)
        gaps[key] = None if pooled is None else pooled.closeness()
    unmoved = sum(moved_in_features(r["original"], r["methods"][METHOD]) is False for r in reports)
    return {"kept_worst": min(kept), "kept_mean": statistics.fmean(kept), "gaps": gaps, "unmoved": unmoved,
            "sets": len(reports)}


def called(line: str) -> list[tuple[str, str]]:
    """(what was judged, the call) for each target and each control in one of RESULTS.md's verdict lines."""
    targets = re.findall(r"([^:;]+): (met|MISSED)", line)
    controls = [(f"against {control}", call)
                for control, call in re.findall(r"against ([^:;]+):[^;]*?→ (NOT told apart|told apart)", line)]
    return targets + controls


def verdicts_compared(arch: str, by_size: dict[int, dict[str, list[dict]]]) -> str:
    """Whether each target RESULTS.md calls met or MISSED, and each control it calls told apart from UNSIR or not,
    is called the same on the run again, in one sentence."""
    changed = []
    for count, runs in sorted(by_size.items()):
        said = {which: called(verdict(arch, count, runs[which], METHOD)) for which in ("recorded", "again")}
        changed += [f"{count} {'person' if count == 1 else 'people'}, {target.strip()}: {before} → {after}"
                    for (target, before), (_, after) in zip(said["recorded"], said["again"]) if before != after]
    if not changed:
        return ("Every target RESULTS.md calls met or MISSED, and every control it tells apart from UNSIR or not, at "
                "every size, is called the same on this run: the misses are the method's, not one run's.")
    return "Called otherwise on this run: " + "; ".join(changed) + "."


def _gap(value) -> str:
    return "–" if value is None or value != value else f"{value:.2f}".replace("-0.00", "0.00")


def _closeness(original: dict, method: dict, retrain: dict | None, key: str) -> str:
    return "–" if retrain is None else _gap(retrain_closeness(original[key], method[key], retrain[key], CHANCE.get(key)))


def _found(entry: dict) -> str:
    return f"{round(entry['feature_knn_forget_acc'] * entry['n_forget_test'])}/{entry['n_forget_test']}"


def write_markdown(records: list[dict], again: list[dict]) -> str:
    arch = records[0]["arch"]
    rerun = with_method_rerun(records, again, METHOD)
    by_size = {}
    for which, runs in (("recorded", records), ("again", rerun)):
        for record in runs:
            by_size.setdefault(record["count"], {}).setdefault(which, []).append(record["report"])
    machines = sorted({run["machine"] for run in again})
    commands = sorted({run["command"] for run in again})
    lines = ["# UNSIR run again: how far its benchmark numbers move with the machine", "",
             "`python benchmarks/unsir_spread.py` over " + " and ".join(f"`{c}`" for c in commands) + f", on "
             f"{'; '.join(machines)}: UNSIR once more on each of the {len(records)} forget sets of {records[0]['checkpoint']} in "
             "benchmarks/RESULTS.json, with the settings RESULTS.json recorded, beside that recorded run. Both are "
             "scored against the same recorded retrain (the gold standard's own spread is in RETRAIN_SPREAD.md). "
             "UNSIR is seeded and repeats itself on one machine; another CPU rounds differently, and the training "
             "amplifies it, so each run is an equally valid draw of the method.", "",
             quietness(again), "",
             "## Per size: what RESULTS.md judges, recorded → again", "",
             f"Kept: change of the kept people's test accuracy against the original, points (target: within 3 on "
             f"every set; the ViT: within 5). Closeness to retrain: 1 − the distance to each set's retrain over the "
             f"original's, photos pooled over the sets (1 = where retrain is; past it counts as distance; target ≥ "
             f"{GAP_TARGET}). Unmoved: sets where the kNN on the features found the forgotten as often as "
             "the original did (within 5 points).", "",
             "| people | sets | kept, worst | kept, mean | kNN closeness | loss AUC closeness | KS closeness | unmoved |",
             "|---|---|---|---|---|---|---|---|"]
    for count, runs in sorted(by_size.items()):
        first, second = size_summary(runs["recorded"]), size_summary(runs["again"])
        gaps = [f"{_gap(first['gaps'][key])} → {_gap(second['gaps'][key])}" for key in POOLED_MEASURES]
        lines.append(f"| {count} | {first['sets']} | {first['kept_worst']:+.1f} → {second['kept_worst']:+.1f} | "
                     f"{first['kept_mean']:+.1f} → {second['kept_mean']:+.1f} | " + " | ".join(gaps) +
                     f" | {first['unmoved']} → {second['unmoved']} |")
    lines += ["", "## The verdicts, run again", "", verdicts_compared(arch, by_size), "",
              "RESULTS.md's verdict lines computed on this run (the controls as recorded):", ""]
    lines += [verdict(arch, count, runs["again"], METHOD) for count, runs in sorted(by_size.items())]
    lines += ["", "## Every set, recorded → again", "",
              "kNN: the forgotten people's held-out photos the features' nearest neighbours still name (retrain's "
              "count beside it).", "",
              "| set | kept | kNN found (retrain) | loss AUC (retrain) | KS (retrain) | closeness to retrain: kNN / AUC / KS |",
              "|---|---|---|---|---|---|"]
    again_by_set = {(r["count"], r["seed"]): r["report"] for r in rerun}
    for record in sorted(records, key=lambda r: (r["count"], r["seed"])):
        report, later = record["report"], again_by_set[(record["count"], record["seed"])]
        original, retrain = report["original"], report["methods"].get("retrain")
        first, second = report["methods"][METHOD], later["methods"][METHOD]
        kept = [100 * (e["retain_test_acc"] - original["retain_test_acc"]) for e in (first, second)]
        of_retrain = {key: f" ({retrain[key]:.3f})" if retrain else "" for key in ("mia_auc_forget", "stranger_ks")}
        gaps = " / ".join(f"{_closeness(original, first, retrain, k)} → {_closeness(original, second, retrain, k)}"
                          for k in POOLED_MEASURES)
        lines.append(f"| {record['count']}@{record['seed']} | {kept[0]:+.1f} → {kept[1]:+.1f} | "
                     f"{_found(first)} → {_found(second)}{f' ({_found(retrain)})' if retrain else ''} | "
                     f"{first['mia_auc_forget']:.3f} → {second['mia_auc_forget']:.3f}{of_retrain['mia_auc_forget']} | "
                     f"{first['stranger_ks']:.3f} → {second['stranger_ks']:.3f}{of_retrain['stranger_ks']} | {gaps} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", choices=sorted(CHECKPOINTS), default="models/resnet18-lfw100")
    parser.add_argument("runs", nargs="*", help="RESULTS.json files of `unsir bench --methods unsir` on the sets; "
                        "without them, UNSIR_SPREAD.json's are used")
    args = parser.parse_args()
    saved, written = (HERE / f"{CHECKPOINTS[args.checkpoint]}{suffix}" for suffix in (".json", ".md"))
    again = ([run for path in args.runs for run in json.loads(Path(path).read_text())] if args.runs
             else json.loads(saved.read_text()))
    records = recorded(args.checkpoint)
    check_same_recipe(records, again)
    written.write_text(write_markdown(records, again))
    saved.write_text(to_json(again))
    print(f"wrote {written} and {saved}")


if __name__ == "__main__":
    main()
