"""Many visitors through the app's public API (gradio_client), with a tiny Olivetti ResNet18 (the same
45 MB of weights per visitor as the shipped one); each visitor forgets, exports and leaves.

1. The page served from this process, to look inside: eight visitors at once, then 100 one after
   another. What each got, how many unlearnings ran at once, the shared model's hash after every
   run, the checkpoint files' hashes, what is left once they have gone.
2. `python app.py` in its own process, as deployed: 60 visitors one after another, and its memory.

Writes benchmarks/RELIABILITY.md.

    python benchmarks/reliability.py          # about 15 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from app_server import served_app, served_here, visit  # noqa: E402  (what the app tests use)

from demo import handlers  # noqa: E402
from unsir.bench import machine  # noqa: E402
from unsir.checkpoints import load_checkpoint, read_card, weights_sha256  # noqa: E402
from unsir.cli import main as unsir  # noqa: E402

QUICK = {"retain_per_id": 2, "noise_steps": 3}  # as the app tests: what is measured is the app, not UNSIR
WARM_UP = 10  # visitors before the memory baseline: first imports, caches, the allocator's pools
MEASURED = 50  # visitors after the baseline
SESSION_END_SECONDS = 60


def file_hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def timed_visit(url: str, names: list[str], downloads: Path) -> tuple[float, bool]:
    """(seconds, whether the visitor got their own results) of one visitor who then leaves."""
    started = time.perf_counter()
    client, report, audit = visit(url, names, downloads, **QUICK)
    seconds = time.perf_counter() - started
    client.close()
    return seconds, report["forget"] == names and audit["forget"] == names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="visitors one after another (part 1)")
    parser.add_argument("--at-once", type=int, default=8, help="visitors at the same time (part 1)")
    args = parser.parse_args()
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        checkpoint = scratch / "models" / "resnet18-olivetti"
        assert unsir(["train", "--dataset", "olivetti", "--image-size", "32", "--epochs", "15",
                      "--out", str(checkpoint)]) == 0
        identities = read_card(checkpoint)["identities"]
        files_before = file_hashes(checkpoint)
        base = weights_sha256(load_checkpoint(checkpoint)[0])
        with served_here(checkpoint.parent) as (demo, runs):
            wanted = [identities[2 * i: 2 * i + 2] for i in range(args.at_once)]
            started = time.perf_counter()
            with ThreadPoolExecutor(args.at_once) as pool:
                together = list(pool.map(lambda i: timed_visit(demo.local_url, wanted[i], scratch / f"t{i}"),
                                         range(args.at_once)))
            together_wall = time.perf_counter() - started

            alone = []
            for run in range(args.runs):
                names = rng.sample(identities, rng.randint(1, 3))
                alone.append(timed_visit(demo.local_url, names, scratch / f"a{run}"))
                print(f"visitor {run + 1}: {alone[-1][0]:.1f} s", flush=True)

            deadline = time.monotonic() + SESSION_END_SECONDS
            while any(s.state_data for s in demo.state_holder.session_data.values()) and time.monotonic() < deadline:
                time.sleep(1)
            holding = sum(bool(s.state_data) for s in demo.state_holder.session_data.values())
            gc.collect()
            kept_weights = sum(type(o) is handlers.Session and o.weights is not None for o in gc.get_objects())
        files_after = file_hashes(checkpoint)

        memory = []
        with served_app(checkpoint.parent, scratch / "app.log") as app:
            for run in range(WARM_UP + MEASURED):
                timed_visit(app.url, rng.sample(identities, rng.randint(1, 3)), scratch / f"m{run}")
                memory.append(app.rss_mb())
                print(f"app.py, visitor {run + 1}: {memory[-1]:.0f} MB", flush=True)
            time.sleep(SESSION_END_SECONDS)
            memory_after_leaving = app.rss_mb()

    measured = memory[WARM_UP - 1:]
    rows = [
        (f"{args.at_once} visitors at once, each forgetting 2 other people",
         f"{sum(ok for _, ok in together)} of {args.at_once} got their own results; "
         f"at most {runs.most_at_once} unlearning ran at a time; {together_wall:.1f} s for all, "
         f"{max(s for s, _ in together):.1f} s for the last"),
        (f"{args.runs} visitors one after another (1-3 people each)",
         f"{sum(ok for _, ok in alone)} of {args.runs} got their own results; "
         f"median {statistics.median(s for s, _ in alone):.1f} s per visitor"),
        ("shared base model after every run (sha256 of its weights)",
         f"{runs.base_hashes.count(base)} of {len(runs.base_hashes)} runs left it as loaded ({base[:16]}…)"),
        ("checkpoint files (model.safetensors, card.json) after all runs",
         "unchanged" if files_after == files_before else f"CHANGED: {files_before} -> {files_after}"),
        ("sessions still holding state once all had left",
         f"{holding} (of {len(demo.state_holder.session_data)}); unlearned weights still in memory: {kept_weights}"),
        (f"`python app.py`: memory (RSS) over {MEASURED} visitors one after another, after {WARM_UP} to warm up",
         f"{measured[0]:.0f} MB -> {measured[-1]:.0f} MB ({100 * (measured[-1] / measured[0] - 1):+.1f} %), "
         f"peak {max(measured):.0f} MB, first visitor {memory[0]:.0f} MB; "
         f"{memory_after_leaving:.0f} MB a minute after the last had left"),
    ]
    lines = ["# Reliability", "",
             f"`python benchmarks/reliability.py` on {machine()}, a ResNet18 trained on Olivetti at 32 px, UNSIR with "
             f"{QUICK} so that the app, not UNSIR, is what is measured. Every visitor is a gradio_client session that "
             "forgets 1-3 people (2 when at once), exports, and closes. Rows 1-5: the page served from the "
             "benchmark's own process, to look inside; the last row: `python app.py` in its own process.", "",
             "| what | measured |", "|---|---|", *[f"| {what} | {result} |" for what, result in rows]]
    (HERE / "RELIABILITY.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
