"""The timings of benchmarks/gpu_check.sh: one and twenty people through `unsir forget --report` (a
whole command, imports included) and through the app's `/forget` (gradio_client, as the Forget
button calls it), and a short training under torchrun on every GPU (photos per second per GPU),
written with the outcome of the test run to benchmarks/GPU.md. It runs on any
device: on a CPU it checks itself (with --models-dir pointing at a small checkpoint).

    python benchmarks/gpu_check.py --tests-exit 0 --tests-seconds 120 --tests-log tests.log
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from app_server import SHIPPED_MODELS, served_app  # noqa: E402  (the launcher the app tests use)

from unsir.bench import machine  # noqa: E402

PEOPLE = (1, 20)
PER_GPU_BATCH = 256  # photos a GPU in the torchrun training
APP_CLICKS = (("1 person, first click", 1), ("1 person, second click", 1), ("20 people", 20))
# Issue 10's targets on one GPU.
UNSIR_ONE_PERSON = 1.0
CLICK_EVERY_RESULT = 3.0


def cli_forget(checkpoint: Path, people: int, scratch: Path) -> dict:
    """`unsir forget --forget-random PEOPLE --report`, timed from outside (the whole command)."""
    report_path = scratch / f"forget-{people}.json"
    command = [sys.executable, "-m", "unsir", "forget", "--checkpoint", str(checkpoint), "--forget-random", str(people),
               "--seed", "0", "--report", str(report_path)]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return {"people": people, "seconds": time.perf_counter() - started, "report": json.loads(report_path.read_text())}


def torchrun_training(dataset: str, epochs: int, scratch: Path) -> dict:
    """`torchrun --nproc-per-node <every GPU> -m unsir train` (one process on a machine without one): the card's
    training seconds give the photos per second, per GPU."""
    import torch

    processes = max(1, torch.cuda.device_count())
    out = scratch / "torchrun-train"
    # 256 photos a GPU, as docs/SCALE.md's estimate assumes: the recipe's 64 would leave a GPU mostly idle.
    command = ["torchrun", "--standalone", "--nproc-per-node", str(processes), "-m", "unsir", "train",
               "--arch", "resnet18", "--dataset", dataset, "--epochs", str(epochs),
               "--batch-size", str(PER_GPU_BATCH * processes), "--out", str(out)]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "torch.distributed.run", *command[1:]], cwd=ROOT, check=True,
                   capture_output=True, text=True)
    card = json.loads((out / "card.json").read_text())
    photos_per_s = card["dataset"]["n_train"] * card["epochs"] / card["seconds"]
    return {"command": " ".join(command), "whole_seconds": time.perf_counter() - started, "card": card,
            "photos_per_s": photos_per_s, "per_process": photos_per_s / processes}


def app_forget(models_dir: Path, scratch: Path) -> tuple[float, list[dict]]:
    """Seconds from launching app.py to a served page, then each click's seconds to every result."""
    from gradio_client import Client

    launched = time.perf_counter()
    with served_app(models_dir, scratch / "app.log") as app:
        cold_start = time.perf_counter() - launched
        client = Client(app.url, verbose=False, download_files=str(scratch))
        clicks = []
        for label, count in APP_CLICKS:
            names = client.predict(count, api_name="/random_identities")
            clicked = time.perf_counter()
            *_, report = client.predict(names, api_name="/forget")
            clicks.append({"click": label, "seconds": time.perf_counter() - clicked, "report": report})
            print(f"app, {label}: {clicks[-1]['seconds']:.1f} s", flush=True)
    return cold_start, clicks


def verdict(value: float, target: float) -> str:
    return f"{value:.2f} s ({'met' if value <= target else 'missed'}: ≤ {target:g} s)"


def markdown(args, tests_tail: str, cli: list[dict], cold_start: float, clicks: list[dict], trained: dict) -> str:
    lines = ["# The GPU path", "",
             f"`bash benchmarks/gpu_check.sh` on {machine()}; checkpoints from `{args.models_dir}`. "
             f"1-minute load average {os.getloadavg()[0]:.1f} at the end.", "",
             "## Default tests on this device", "",
             f"`{args.tests_command}`: exit code {args.tests_exit} in {args.tests_seconds:.0f} s"
             f"{' (stopped at its time limit)' if args.tests_exit == 124 else ''}.", "", "```", tests_tail, "```", "",
             "## `unsir forget --report`, the whole command", "",
             "| people | whole command s | startup | load | original: evaluate | UNSIR (noise + impair + repair) | "
             "UNSIR: evaluate | forget test acc | retain test acc |", "|---|---|---|---|---|---|---|---|---|"]
    for run in cli:
        report, entry = run["report"], run["report"]["methods"]["unsir"]
        stages = entry["stages"]
        training = " + ".join(f"{stages[s]:.2f}" for s in stages if s != "evaluate")
        lines.append(f"| {run['people']} | {run['seconds']:.1f} | {report['command_seconds']['startup']:.1f} | "
                     f"{report['command_seconds']['load']:.1f} | {report['original']['stages']['evaluate']:.1f} | "
                     f"{entry['seconds']:.2f} ({training}) | {stages['evaluate']:.1f} | {entry['forget_test_acc']:.3f} | "
                     f"{entry['retain_test_acc']:.3f} |")
    lines += ["", "## The app's `/forget` (gradio_client; click → every result)", "",
              f"Cold start to a served page: {cold_start:.1f} s.", "",
              "| click | seconds | UNSIR seconds | forget test acc | retain test acc |", "|---|---|---|---|---|"]
    for click in clicks:
        entry = click["report"]["methods"]["unsir"]
        lines.append(f"| {click['click']} | {click['seconds']:.1f} | {entry['seconds']:.2f} | "
                     f"{entry['forget_test_acc']:.3f} | {entry['retain_test_acc']:.3f} |")
    card, processes = trained["card"], trained["card"]["processes"]
    lines += ["", "## torchrun on every GPU (`unsir train`, data-parallel)", "",
              f"`{trained['command']}`: {processes['world_size']} process{'es' if processes['world_size'] > 1 else ''} "
              f"({processes['backend'] or 'one process, no process group'}), global batch {processes['global_batch']} "
              f"({PER_GPU_BATCH} a process, the recipe's learning rate unscaled: the accuracy is not the point), "
              f"{card['dataset']['n_train']} training photos x {card['epochs']} epochs in {card['seconds']:.1f} s of "
              f"training on {card['device']} ({trained['whole_seconds']:.0f} s for the whole command): "
              f"**{trained['photos_per_s']:.0f} photos/s, {trained['per_process']:.0f} per GPU**; test accuracy "
              f"{card['test_acc']:.3f} after these {card['epochs']} epochs (the first epoch's start-up included)."]
    cli_unsir = next(run for run in cli if run["people"] == 1)["report"]["methods"]["unsir"]["seconds"]
    warm_click = next(c for c in clicks if c["click"] == "1 person, second click")
    app_unsir = warm_click["report"]["methods"]["unsir"]["seconds"]
    lines += ["", "## Targets (issue 10, one GPU)", "",
              f"- UNSIR for one person, `unsir forget`: {verdict(cli_unsir, UNSIR_ONE_PERSON)}",
              f"- UNSIR for one person, the app: {verdict(app_unsir, UNSIR_ONE_PERSON)}",
              f"- click → every result, one person, warm app: {verdict(warm_click['seconds'], CLICK_EVERY_RESULT)}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=SHIPPED_MODELS)
    parser.add_argument("--checkpoint", default="resnet18-lfw100", help="folder in --models-dir that the CLI forgets from")
    parser.add_argument("--tests-command", default="python -m pytest")
    parser.add_argument("--tests-exit", type=int, required=True)
    parser.add_argument("--tests-seconds", type=float, required=True)
    parser.add_argument("--tests-log", type=Path, required=True)
    parser.add_argument("--train-dataset", default="lfw100", help="what the torchrun training reads")
    parser.add_argument("--train-epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "GPU.md")
    args = parser.parse_args()
    tests_tail = "\n".join(args.tests_log.read_text().strip().splitlines()[-5:])
    with tempfile.TemporaryDirectory() as scratch:
        cli = []
        for people in PEOPLE:
            cli.append(cli_forget(args.models_dir / args.checkpoint, people, Path(scratch)))
            print(f"unsir forget --forget-random {people}: {cli[-1]['seconds']:.1f} s", flush=True)
        cold_start, clicks = app_forget(args.models_dir, Path(scratch))
        training = torchrun_training(args.train_dataset, args.train_epochs, Path(scratch))
        print(f"torchrun training: {training['per_process']:.0f} photos/s per GPU", flush=True)
    args.out.write_text(markdown(args, tests_tail, cli, cold_start, clicks, training))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
