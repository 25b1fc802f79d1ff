"""`unsir bench`: the paper's Table IV on LFW-100, regenerated from measurements.

Every (checkpoint, forget count, seed) runs the chosen methods through `forgetting.forget`
(the same path as `unsir forget` and the app); results go to a JSON file as they arrive, and
the Markdown (`bench_markdown`) is rebuilt from it, so an interrupted run keeps what it measured.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch

from . import distributed
from .checkpoints import weights_sha256
from .evaluation import Predictions, frozen_start, gaps_closed
from .forgetting import forget, random_identities
from .methods import configure
from .pipeline import load, load_strangers_for
from .reports import to_json
from .training import Progress, bf16_helps, default_device, device_name


def machine() -> str:
    """The device, its threads, and whether it computes in bf16 or float32: two CPUs of the same name may differ
    there (bf16 only with AMX or AVX512-BF16), and models trained in each differ too."""
    precision = "bf16" if bf16_helps(default_device()) else "float32"
    return (f"{device_name()} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"{precision}), torch {torch.__version__}")


QUIET_LOAD = 1.0  # the 1-minute load before a timing once the benchmark's own previous work has died down
SETTLE_SECONDS = 120  # the longest wait for that: the 1-minute load halves in about 42 s


def settled_load() -> float:
    """The 1-minute load once the previous timing's own load has died down (or after SETTLE_SECONDS): a
    load still above QUIET_LOAD then is other work's, and the next timing is not a quiet one."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)
    return os.getloadavg()[0]


def run_benchmark(checkpoints, counts, seeds, methods, *, retrain_seeds: int = 1, relearn_seeds: int = 1,
                  results_path, data_home=None, configs: dict | None = None, command: str = "",
                  retrain_cache: str | None = None,
                  progress: Progress | None = None) -> list[dict]:
    """Run the grid; append one record per (checkpoint, count, seed) to `results_path` (JSON list).

    The slow parts run for the first seeds only: retraining for `retrain_seeds`, relearn time for
    `relearn_seeds`; retrained models are kept in `retrain_cache` for a rerun."""
    results_path = Path(results_path)
    records = gather_rank_files(results_path)  # an interrupted torchrun's cells count as done
    done = {(r["checkpoint"], r["count"], r["seed"]) for r in records}
    # Under torchrun the cells not yet done are dealt out in grid order, cell i to rank i % world size,
    # and each rank appends to its own file; alone, every cell is ours and goes to results_path.
    group = distributed.ranks()
    own, own_path = (records, results_path) if group is None else ([], rank_file(results_path, group.rank))
    pending = 0
    for checkpoint in checkpoints:
        loaded = load(checkpoint, data_home)
        strangers = load_strangers_for(loaded, data_home)
        original = Predictions.of(loaded.model, loaded.split, strangers, weights_hash=weights_sha256(loaded.model))
        start = frozen_start(loaded.model, loaded.card, loaded.split, strangers)
        for count in counts:
            for seed_index, seed in enumerate(seeds):
                if (str(checkpoint), count, seed) in done:
                    continue
                pending += 1
                if group is not None and (pending - 1) % group.world_size != group.rank:
                    continue
                chosen = {m: (configs or {}).get(m) or configure(m, loaded.card, forget_count=count) for m in methods
                          if m != "retrain" or seed_index < retrain_seeds}
                if "retrain" in chosen and retrain_cache:
                    chosen["retrain"] = replace(chosen["retrain"], cache_dir=retrain_cache)
                names = random_identities(count, loaded.split.names, seed)
                with distributed.independent():  # this rank's own cell: no gradients shared
                    run = forget(loaded.model, loaded.card, loaded.split, names, methods=chosen, seed=seed,
                                 strangers=strangers, original_predictions=original, start=start,
                                 relearn=seed_index < relearn_seeds, progress=progress)
                own.append({"checkpoint": str(checkpoint), "arch": loaded.card["arch"], "count": count,
                                "seed": seed, "machine": machine(), "load_average": round(os.getloadavg()[0], 2),
                                "cores": os.cpu_count(),
                                "command": command,
                                "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                "report": run.report})
                own_path.parent.mkdir(parents=True, exist_ok=True)
                own_path.write_text(to_json(own))
    return records if group is None else gather_rank_files(results_path)


def rank_file(results_path: Path, rank: int | str) -> Path:
    return results_path.with_name(f"{results_path.stem}.rank{rank}.json")


def gather_rank_files(results_path: Path) -> list[dict]:
    """The records of `results_path` with those of the ranks' own files (RESULTS.rank<N>.json) merged in, by
    finishing time, and those files removed; rank 0 merges while the others wait."""
    distributed.barrier()  # every rank has written its last cell
    parts = sorted(results_path.parent.glob(rank_file(results_path, "*").name))
    if parts and distributed.is_main():
        records = json.loads(results_path.read_text()) if results_path.exists() else []
        added = sorted((r for part in parts for r in json.loads(part.read_text())), key=lambda r: r["finished"])
        results_path.write_text(to_json(records + added))
        for part in parts:
            part.unlink()
    distributed.barrier()  # every rank reads the merged file
    return json.loads(results_path.read_text()) if results_path.exists() else []


def with_method_rerun(records: list[dict], reruns: list[dict], method: str) -> list[dict]:
    """`records` with `method`'s entries taken from `reruns` of the same sets (its default changed);
    every other method stays as measured. The gap closed is measured against the record's retrained
    model: a rerun that retrained must hold the same model; a rerun without a retrain is scored
    against the numbers that model had when it was measured (a retrain is not bit-for-bit
    reproducible across runs, and takes minutes). Its layer distance to that model needs the weights
    and is left out."""
    again = {(r["arch"], r["count"], r["seed"]): r for r in reruns}
    updated = []
    for record in records:
        where = f"{record['arch']} {record['count']}@{record['seed']}"
        rerun = again.pop((record["arch"], record["count"], record["seed"]), None)
        if rerun is None:
            raise ValueError(f"no rerun of {where}")
        report, new = record["report"], rerun["report"]
        if report["sha256"].get("original") != new["sha256"].get("original"):
            raise ValueError(f"{where}: not the same original model")
        entry = new["methods"][method]
        if "retrain" in new["sha256"]:
            if report["sha256"].get("retrain") != new["sha256"]["retrain"]:
                raise ValueError(f"{where}: not the same retrained model")
        elif "retrain" in report["methods"]:
            entry = {**{k: v for k, v in entry.items() if k != "layer_distance_to_retrain"},
                     "gap_closed": gaps_closed(report["original"], entry, report["methods"]["retrain"])}
        report = {**report, "methods": {**report["methods"], method: entry},
                  "sha256": {**report["sha256"], method: new["sha256"][method]}}
        updated.append({**record, "report": report, "rerun": {**record.get("rerun", {}), method: rerun["command"]}})
    if again:
        raise ValueError(f"reruns of sets not in the records: {sorted(again)}")
    return updated


def with_retrains_added(records: list[dict], retrains: list[dict]) -> list[dict]:
    """`records` with a retrained model measured afterwards (`unsir bench --methods retrain`) on sets that had
    none: each method of the set is then scored against it (`gap_closed`). The retrain must have been measured
    from the same original; its layer distance to the other methods' models needs their weights and stays out.
    The retrain's entry names its command and the machine's load after it (`added_by`), so its time is not
    set against a UNSIR timed in another run."""
    def add(record: dict, later: dict, where: str) -> dict:
        report, retrained = record["report"], later["report"]["methods"]["retrain"]
        if "retrain" in report["methods"]:
            raise ValueError(f"{where} already has a retrained model")
        if report["sha256"].get("original") != later["report"]["sha256"].get("original"):
            raise ValueError(f"{where}: not the same original model")
        methods = {name: {**entry, "gap_closed": gaps_closed(report["original"], entry, retrained)}
                   for name, entry in report["methods"].items()}
        retrained = {**{k: v for k, v in retrained.items() if k != "layer_distance_to_retrain"},
                     "added_by": {"command": later["command"], "load_average": later.get("load_average")}}
        report = {**report, "methods": {"retrain": retrained, **methods},
                  "sha256": {**report["sha256"], "retrain": later["report"]["sha256"]["retrain"]}}
        return {**record, "report": report}

    return merged_by_set(records, retrains, add, "retrains")


def with_relearn_added(records: list[dict], later: list[dict]) -> list[dict]:
    """`records` with relearn epochs measured afterwards (`unsir bench --relearn-seeds`) for methods whose models
    were recorded without them. The later run must hold the very same models (their weights' sha256: UNSIR is seeded
    and a retrain comes from its cache), so only the relearn time is new; each entry names the command
    (`relearn_added_by`)."""
    def add(record: dict, run: dict, where: str) -> dict:
        methods = dict(record["report"]["methods"])
        for name, entry in run["report"]["methods"].items():
            if "relearn_epochs" not in entry:
                continue
            if name not in methods or methods[name].get("sha256") != entry.get("sha256"):
                raise ValueError(f"{where}: {name} is not the recorded model")
            if "relearn_epochs" in methods[name]:
                raise ValueError(f"{where}: {name} already has its relearn time")
            methods[name] = {**methods[name], "relearn_epochs": entry["relearn_epochs"],
                             "relearn_added_by": run["command"]}
        return {**record, "report": {**record["report"], "methods": methods}}

    return merged_by_set(records, later, add, "relearn times")


def merged_by_set(records: list[dict], later: list[dict], merge, what: str) -> list[dict]:
    """Each record, merged by `merge(record, later_run, "arch count@seed")` with the later run of the same set
    where there is one; a later run of a set the records do not hold is refused."""
    added = {(r["arch"], r["count"], r["seed"]): r for r in later}
    merged = []
    for record in records:
        run = added.pop((record["arch"], record["count"], record["seed"]), None)
        merged.append(record if run is None else
                      merge(record, run, f"{record['arch']} {record['count']}@{record['seed']}"))
    if added:
        raise ValueError(f"{what} of sets not in the records: {sorted(added)}")
    return merged


def model_name(record: dict) -> str:
    """The checkpoint a benchmark record measured, by its folder name (as the app names its models)."""
    return Path(record["checkpoint"]).name


@dataclass(frozen=True)
class RetrainReference:
    """What the benchmark's retrained models of one checkpoint reached on forget sets of a request's size (or the
    nearest sizes retrained): the range of each measure, and the sets and held-out photos the ranges rest on."""
    sizes: tuple[int, ...]
    sets: int
    photos: int
    ranges: dict[str, tuple[float, float]]

    def people(self) -> str:
        """'1 person', '2 people', '2–5 people'."""
        if len(self.sizes) == 1:
            return "1 person" if self.sizes[0] == 1 else f"{self.sizes[0]} people"
        return f"{self.sizes[0]}–{self.sizes[-1]} people"


def retrain_reference(records: list[dict], checkpoint: str, count: int) -> RetrainReference | None:
    """The reference to show beside a method when no retrain was run for its forget set: the benchmark's retrained
    models of `checkpoint` (a folder name, as `model_name`) on sets of `count` people, or, where it retrained none
    of that size, on the nearest smaller and larger sizes it did (forgetting more people moves every measure).
    None where it retrained none for this checkpoint: another model, even of the same architecture, is another
    reference."""
    retrained = [r for r in records if model_name(r) == checkpoint and r["report"]["methods"].get("retrain")]
    sizes = sorted({r["count"] for r in retrained})
    if not sizes:
        return None
    smaller, larger = [s for s in sizes if s < count], [s for s in sizes if s > count]
    chosen = (count,) if count in sizes else tuple(side for side in (max(smaller, default=None),
                                                                     min(larger, default=None)) if side is not None)
    entries = [r["report"]["methods"]["retrain"] for r in retrained if r["count"] in chosen]
    values: dict[str, list[float]] = {}
    for entry in entries:
        for key, value in entry.items():
            # measured (NaN: could not be); a retrain's seconds are no yardstick for a method timed in another run
            # (the benchmark's retrains often ran on one thread beside other work)
            if isinstance(value, float) and value == value and key != "seconds":
                values.setdefault(key, []).append(value)
    return RetrainReference(chosen, len(entries), sum(e.get("n_forget_test") or 0 for e in entries),
                            {key: (min(v), max(v)) for key, v in values.items()})
