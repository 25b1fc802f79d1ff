"""Time the same Forget click on two checkouts of the app, alternated (A B B A ...), so that the machine's
drift over the run falls on both: a change's effect on the click, measured apart from the day's speed.
Writes benchmarks/APP_VERSIONS.md.

    git worktree add /tmp/before <commit>
    python benchmarks/app_versions.py /tmp/before --rounds 3
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from gradio_client import Client

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))
from app_latency import timed_click  # noqa: E402
from app_server import SHIPPED_MODELS, served_app  # noqa: E402

from unsir.bench import QUIET_LOAD, machine, settled_load  # noqa: E402

PERSON = ["Colin_Powell"]


def commit_of(checkout: Path) -> str:
    described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=checkout, capture_output=True, text=True)
    return described.stdout.strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path, help="the other checkout (e.g. a git worktree of an earlier commit)")
    parser.add_argument("--rounds", type=int, default=3, help="A B B A rounds (each: two clicks per checkout)")
    args = parser.parse_args()
    checkouts = {"before": args.before.resolve(), "after": HERE.parent.resolve()}
    loads = [settled_load()]
    rows = []
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as apps:
        served_apps = {}
        for name, root in checkouts.items():
            app = apps.enter_context(served_app(SHIPPED_MODELS, Path(scratch) / f"{name}.log", checkout=root))
            served_apps[name] = Client(app.url, verbose=False, download_files=scratch), app.pid
        for client, pid in served_apps.values():
            timed_click(client, PERSON, pid)  # the first click of a fresh app pays for its first request
        loads.append(settled_load())
        for name in ["before", "after", "after", "before"] * args.rounds:
            client, pid = served_apps[name]
            click = timed_click(client, PERSON, pid)
            stages = click["entry"]["stages"]
            rows.append({"app": name, "first": click["first"], "every": click["every"],
                         "unsir": stages["noise"] + stages["impair"] + stages["repair"], "busiest": click["busiest"]})
            print(name, {k: round(v, 1) for k, v in rows[-1].items() if k not in ("app", "busiest")}, flush=True)
    write_markdown(checkouts, rows, loads)


def write_markdown(checkouts: dict[str, Path], rows: list[dict], loads: list[float]) -> None:
    quiet = max(loads) <= QUIET_LOAD
    lines = ["# The same click on two versions of the app", "",
             f"`python benchmarks/app_versions.py` on {machine()}, shipped ResNet18, UNSIR defaults, forgetting "
             f"{PERSON[0]} (warm apps). The two apps ran side by side and took turns (before, after, after, "
             "before, ...), so that the machine's drift falls on both; each click timed as in APP_LATENCY.md "
             "(first answer, every result, UNSIR alone), with the share of the click's time that the app's two "
             "busiest threads ran.", "",
             f"Machine: {'quiet' if quiet else 'NOT quiet'} before the run (1-minute load average "
             f"{', '.join(f'{load:.1f}' for load in loads)}); the clicks followed each other without a pause.", "",
             "| app | commit | clicks | first answer, s (median, range) | every result, s | UNSIR alone, s | "
             "busiest two threads, % (median) |", "|---|---|---|---|---|---|---|"]
    for name, root in checkouts.items():
        clicks = [row for row in rows if row["app"] == name]

        def spread(key: str) -> str:
            values = [row[key] for row in clicks]
            return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"

        busiest = " / ".join(f"{100 * statistics.median(row['busiest'][i] for row in clicks):.0f}" for i in (0, 1))
        lines.append(f"| {name} | {commit_of(root)} | {len(clicks)} | {spread('first')} | {spread('every')} | "
                     f"{spread('unsir')} | {busiest} |")
    (HERE / "APP_VERSIONS.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
