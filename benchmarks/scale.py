"""Training throughput of `fit`: 2 processes (torchrun, gloo) against 1, one thread each, on this
machine. Writes benchmarks/SCALE.md.

    python benchmarks/scale.py [--epochs 3] [--rounds 2]

Each round times 1 process, then 2 under torchrun, then 2 independent processes at once (no
communication: what the two cores give two trainings, the ceiling for any data parallelism here), on
the same work (ResNet18, Olivetti at 64 px, flips and crops, after one warm-up epoch), in two
scalings: the same global batch of 64 split over the processes (strong: each step's all-reduce is
paid for 32 photos a process), and 64 photos per process (weak, as multi-GPU training is usually
sized and reported: global batch 128 for 2). The machine's load is recorded around every timing,
since a shared machine slows whichever run meets the other work.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from unsir.bench import QUIET_LOAD, SETTLE_SECONDS, settled_load

HERE = Path(__file__).parent
BATCH = 64
SCALINGS = {"strong": "global batch 64, split over the processes", "weak": "64 photos per process"}


def time_training(epochs: int, image_size: int, scaling: str) -> None:
    """One worker (alone or one of torchrun's ranks): print the photos per second the group trained."""
    from unsir import distributed
    from unsir.data import FaceTensors, load_olivetti
    from unsir.nets import build_model
    from unsir.training import fit, fused_step, loader, seed_everything

    torch.set_num_threads(1)
    with distributed.process_group():
        split = load_olivetti(image_size=image_size)
        generator = seed_everything(0)
        model = build_model("resnet18", len(split.names), image_size)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=fused_step(model))  # as `train`
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        batch = BATCH * world_size if scaling == "weak" else BATCH  # `loader` takes the global batch
        batches = loader(FaceTensors(split.train, augment=True), batch, generator)
        fit(model, batches, optimizer, epochs=1)  # warm-up: allocator, gloo's first buffers
        distributed.barrier()
        started = time.perf_counter()
        fit(model, batches, optimizer, epochs=epochs)
        distributed.barrier()
        seconds = time.perf_counter() - started
        if distributed.is_main():
            print(json.dumps({"photos_per_s": epochs * len(split.train) / seconds, "seconds": seconds}))


def load_average() -> float:
    return os.getloadavg()[0]


def worker_command(epochs: int, image_size: int, scaling: str) -> list[str]:
    return [str(Path(__file__).resolve()), "--worker", "--epochs", str(epochs), "--image-size", str(image_size),
            "--scaling", scaling]


def timing(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def measure(processes: int, epochs: int, image_size: int, scaling: str) -> dict:
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
                if processes > 1 else [sys.executable])
    before = settled_load()
    result = subprocess.run(launcher + worker_command(epochs, image_size, scaling), capture_output=True, text=True,
                            check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return {"processes": processes, "how": "torchrun" if processes > 1 else "alone", "scaling": scaling,
            **timing(result.stdout), "load_before": before, "load_after": load_average()}


def measure_independent(epochs: int, image_size: int, scaling: str) -> dict:
    """Two single-process trainings at once: the photos/s the cores give two workers that never wait for
    each other. DDP's 2 processes can at best match it; the gap is the cost of all-reducing gradients."""
    before = settled_load()
    workers = [subprocess.Popen([sys.executable, *worker_command(epochs, image_size, scaling)], stdout=subprocess.PIPE,
                                text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}) for _ in range(2)]
    timings = [timing(worker.communicate()[0]) for worker in workers]
    if any(worker.returncode for worker in workers):
        raise RuntimeError("an independent worker failed")
    return {"processes": 2, "how": "independent", "scaling": scaling,
            "photos_per_s": sum(t["photos_per_s"] for t in timings),
            "seconds": max(t["seconds"] for t in timings), "load_before": before, "load_after": load_average()}


def speed_up(runs: list[dict], scaling: str) -> tuple[list[float], list[float]]:
    """Per round: 2 processes under torchrun / 1 alone, and 2 independent / 1 alone (the ceiling)."""
    mine = [r for r in runs if r["scaling"] == scaling]
    alone, pair, free = ([r["photos_per_s"] for r in mine if r["how"] == how] for how in ("alone", "torchrun", "independent"))
    return [two / one for one, two in zip(alone, pair)], [both / one for one, both in zip(alone, free)]


def report(runs: list[dict], args, uptime_before: str, uptime_after: str) -> str:
    from unsir.training import device_name

    machine = f"{device_name()} ({platform.processor() or platform.machine()}), torch {torch.__version__}"
    cores = os.cpu_count() or 1
    loads = [r[key] for r in runs for key in ("load_before", "load_after")]
    # Each timing waits for the load of the one before to die down: quiet means that it did.
    quiet = max(r["load_before"] for r in runs) <= QUIET_LOAD
    lines = ["# Scale: 2 processes against 1 on this CPU", "",
             f"`python benchmarks/scale.py --epochs {args.epochs} --rounds {args.rounds}` on {machine}, "
             f"{cores} cores: ResNet18 trained by `fit` on Olivetti (280 training photos) at {args.image_size} px "
             "with flips and crops, one thread per process (OMP_NUM_THREADS=1); 2 processes "
             "are `torchrun --standalone --nproc-per-node 2` (gloo, DistributedDataParallel, gradients all-reduced in "
             f"float32). Photos per second over {args.epochs} epochs after a warm-up epoch; each round runs 1 process, "
             "then 2 under torchrun, then 2 independent single-process trainings at once (their photos/s summed): "
             "the most two workers get from these cores when they never wait for each other. Two scalings: "
             "**strong**, the same global batch of 64 split over the processes (each all-reduce is paid for 32 photos a "
             "process; the 1-vs-2-process loss test uses this); **weak**, 64 photos per process (global batch 128 "
             "for 2), as multi-GPU training is usually sized and its throughput reported.", "",
             "| round | scaling | processes | photos/s | seconds | 1-min load before → after |",
             "|---|---|---|---|---|---|"]
    for index, run in enumerate(runs):
        lines.append(f"| {index // (3 * len(SCALINGS)) + 1} | {run['scaling']} | {run['processes']} ({run['how']}) | "
                     f"{run['photos_per_s']:.1f} | {run['seconds']:.1f} | {run['load_before']:.1f} → {run['load_after']:.1f} |")
    lines.append("")
    for scaling, meaning in SCALINGS.items():
        ratios, ceiling = speed_up(runs, scaling)
        target = "met" if statistics.median(ratios) >= 1.6 else "missed"
        lines += [f"- **{scaling.capitalize()}** ({meaning}): 2 processes / 1 per round "
                  f"{', '.join(f'{r:.2f}x' for r in ratios)} (median {statistics.median(ratios):.2f}x; target ≥ 1.6x: "
                  f"{target}); the cores' ceiling, 2 independent trainings / 1, {', '.join(f'{r:.2f}x' for r in ceiling)} "
                  f"(median {statistics.median(ceiling):.2f}x): DDP reaches "
                  f"{statistics.median(ratios) / statistics.median(ceiling):.0%} of it."]
    lines += ["", f"Machine: {'quiet' if quiet else 'NOT quiet'} (quiet: before every timing the 1-minute load fell to at "
              f"most {QUIET_LOAD} within {SETTLE_SECONDS} s of the previous one). `uptime` before: `{uptime_before}`; "
              f"after: `{uptime_after}`."]
    if not quiet:
        lines += ["", f"The 1-minute load stayed between {min(loads):.1f} and {max(loads):.1f} on {cores} cores: other "
                  "work shared the cores, so the 2-process runs competed with it, and these ratios understate what "
                  "2 free cores give. Rerun on a quiet machine before quoting a speed-up."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scaling", choices=SCALINGS, default="strong", help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(HERE / "SCALE.md"))
    args = parser.parse_args()
    if args.worker:
        time_training(args.epochs, args.image_size, args.scaling)
        return
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    runs = []
    for _ in range(args.rounds):
        for scaling in SCALINGS:
            runs += [measure(1, args.epochs, args.image_size, scaling), measure(2, args.epochs, args.image_size, scaling),
                     measure_independent(args.epochs, args.image_size, scaling)]
            print(runs[-3:], flush=True)
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    Path(args.out).write_text(report(runs, args, uptime_before, uptime_after))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
