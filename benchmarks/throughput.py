"""Training throughput against the hardware, in one run: the bare training step of the shipped
ResNet18 (64 px, batch 64, forward + backward + Adam) in each precision, layout and way of computing
the convolutions on tiny maps, and UNSIR's impair and repair loops as they run inside
`unsir.training.fit`. Writes benchmarks/THROUGHPUT.md and THROUGHPUT.json.

    python benchmarks/throughput.py [--rounds 2] [--steps 10] [--no-compile]

The bare step uses UNSIR's own optimiser and losses (cross-entropy for impair; for repair the
distillation from the original's outputs, computed once as the repair computes them) on random inputs already
in memory: no data loading, no progress, no host reads. The loop's images per second are the
photos it trains on divided by its stage's seconds (`Outcome.stages`). Each round measures every
configuration, then the loop; the best round counts (the least disturbed by other work).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent))

from unsir.convolutions import pays, tiny_maps_as_matmul  # noqa: E402
from unsir.data import FaceTensors  # noqa: E402
from unsir.bench import machine  # noqa: E402
from unsir.forgetting import build_request, random_identities  # noqa: E402
from unsir.methods import configure  # noqa: E402
from unsir.methods.unsir import WithoutClasses, impair_set, optimiser, unsir  # noqa: E402
from unsir.pipeline import load  # noqa: E402
from unsir.nets import split_at  # noqa: E402
from unsir.training import (bf16_helps, cross_entropy, default_device, distillation_from_outputs,  # noqa: E402
                            predict_outputs)

CHECKPOINT = HERE.parent / "models" / "resnet18-lfw100"
BATCH = 64
WARM_UP_STEPS = 2
MATMUL = "tiny maps as matmul"
TARGET = 0.90  # the loop's share of the bare step's throughput (issue 10)


@dataclass(frozen=True)
class Step:
    """One bare configuration of the training step."""

    label: str
    autocast: bool
    channels_last: bool
    compiled: bool = False
    matmul: bool = False  # convolutions on tiny maps as matrix products (unsir/convolutions.py)
    loss: str = "impair"  # "impair": cross-entropy; "repair": distillation from the original


def configurations(device: torch.device, compile_too: bool, learn_from: str) -> list[Step]:
    bf16 = bf16_helps(device)
    steps = [Step("float32", False, False)]
    if bf16:
        steps += [Step("bf16 autocast", True, False), Step("bf16 + channels_last", True, True)]
        if pays(device, bf16):
            steps.append(Step(f"bf16 + {MATMUL}", True, False, matmul=True))
        if compile_too:
            steps.append(Step("bf16 + channels_last + torch.compile", True, True, compiled=True))
    # The configuration UNSIR's fit trains in, with repair's loss.
    used = fit_configuration(device, learn_from)
    if used.label not in {step.label for step in steps}:
        steps.append(used)
    steps.append(Step(f"{used.label}, repair's distillation step", used.autocast, used.channels_last, matmul=used.matmul,
                      loss="repair"))
    return steps


def fit_configuration(device: torch.device, learn_from: str) -> Step:
    """As fit trains UNSIR: autocast where bf16 helps, channels-last on photos only (`channels_last_pays`:
    the ResNet18's blocks after learn_from see 8x8 maps), tiny maps as matrix products on a CPU in bf16."""
    bf16 = bf16_helps(device)
    if not bf16:
        return Step("float32", False, False)
    matmul = pays(device, bf16)
    label = "bf16 autocast" if learn_from else "bf16 + channels_last"
    if matmul:
        label = f"{label.replace(' autocast', '')} + {MATMUL}"
    return Step(label, True, not learn_from, matmul=matmul)


def load_average() -> float:
    return os.getloadavg()[0]


def synchronised_clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class Bench:
    """The shipped model, its data and one forget request: what both the bare step and the loop train on."""

    def __init__(self, device: torch.device):
        self.device = device
        self.loaded = load(CHECKPOINT, device=device)
        names = random_identities(1, self.loaded.split.names, seed=0)
        self.forget_classes = [self.loaded.split.names.index(n) for n in names]
        self.config = configure("unsir", self.loaded.card)
        self.request = build_request(self.loaded.split.train, self.forget_classes, len(self.loaded.split.names), seed=0)
        generator = torch.Generator().manual_seed(0)
        size = self.loaded.card["image_size"]
        self.inputs = torch.randn(BATCH, 3, size, size, generator=generator).to(device)
        self.labels = torch.randint(0, len(self.loaded.split.names), (BATCH,), generator=generator).to(device)
        self.compiled_first_steps: dict[str, float] = {}

    def bare(self, step: Step, steps: int) -> float:
        """Images per second of `steps` training steps after the warm-up (compilation included there)."""
        model = copy.deepcopy(self.loaded.model).train()
        learner, teacher, inputs = model, self.loaded.model, self.inputs
        if self.config.learn_from:
            # As UNSIR trains: the blocks that learn, on the frozen blocks' outputs (computed once).
            frozen, learner = split_at(model, self.config.learn_from)
            teacher = split_at(self.loaded.model, self.config.learn_from)[1]
            inputs = predict_outputs(frozen, inputs.cpu()).to(self.device)
        if step.channels_last:
            learner, inputs = learner.to(memory_format=torch.channels_last), inputs.contiguous(memory_format=torch.channels_last)
        optimizer = optimiser(model, self.config.impair_lr, self.config.classifier_lr_scale, self.config.impair_body_scale)
        loss_fn, targets = cross_entropy, ()
        if step.loss == "repair":
            teacher_outputs = predict_outputs(WithoutClasses(teacher, self.forget_classes), inputs.cpu())
            loss_fn = distillation_from_outputs(self.config.repair_distill, self.config.distill_temperature, 0.0)
            targets = (teacher_outputs.to(self.device),)
        trained = torch.compile(learner) if step.compiled else learner

        def train_step(batch: torch.Tensor, labels: torch.Tensor) -> None:
            with (torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=step.autocast),
                  tiny_maps_as_matmul(learner, enabled=step.matmul)):
                loss = loss_fn(trained, batch, labels, *targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        if step.compiled and not self.compiled_first_steps:
            # What compiling costs before the first step, and again for the smaller last batch of an epoch.
            started = synchronised_clock(self.device)
            train_step(inputs, self.labels)
            full = synchronised_clock(self.device) - started
            last = len(self.request.retain_subset(self.config.retain_per_id)) % BATCH or BATCH
            train_step(inputs[:last], self.labels[:last])
            smaller = synchronised_clock(self.device) - started - full
            self.compiled_first_steps = {"first step (compiles)": full,
                                         f"first step on a batch of {last} (recompiles)": smaller}
        return self.images_per_second(lambda: train_step(inputs, self.labels), BATCH, steps)

    def images_per_second(self, step, images: int, steps: int) -> float:
        """`step` (a training step on `images` images) timed over `steps` steps after the warm-up."""
        for _ in range(WARM_UP_STEPS):
            step()
        started = synchronised_clock(self.device)
        for _ in range(steps):
            step()
        return steps * images / (synchronised_clock(self.device) - started)

    def elsewhere(self, steps: int) -> dict[str, float]:
        """Images per second of the whole model's training step at full size (what retraining runs; fit's layout)
        and of the noise's step (the frozen model's gradient for its input, 80 images: the noise of 10 or more
        people), each with oneDNN's convolutions alone and with tiny maps as matrix products."""
        bf16 = bf16_helps(self.device)
        model = copy.deepcopy(self.loaded.model).to(memory_format=torch.channels_last)
        photos = self.inputs.contiguous(memory_format=torch.channels_last)
        sgd = torch.optim.SGD(model.parameters(), lr=1e-9, momentum=0.9, nesterov=True)
        noise = torch.randn(80, *photos.shape[1:], device=self.device).contiguous(memory_format=torch.channels_last)
        noise_labels = torch.randint(0, len(self.loaded.split.names), (len(noise),), device=self.device)

        def whole_step() -> None:
            model.train()
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = cross_entropy(model, photos, self.labels)
            sgd.zero_grad(set_to_none=True)
            loss.backward()
            sgd.step()

        def noise_step() -> None:
            model.eval()
            inputs = noise.clone().requires_grad_(True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = cross_entropy(model, inputs, noise_labels)
            torch.autograd.grad(loss, inputs)

        measured = {}
        for label, step, images in (("whole model", whole_step, len(photos)), ("noise", noise_step, len(noise))):
            for matmul in (False, True):
                with tiny_maps_as_matmul(model, enabled=matmul):
                    measured[f"{label}{', ' + MATMUL if matmul else ''}"] = self.images_per_second(step, images, steps)
        return measured

    def loop(self) -> dict[str, float]:
        """Images per second of UNSIR's impair and repair as `fit` runs them (one person, defaults)."""
        outcome = unsir(self.loaded.model, self.request, self.config)
        retain = self.request.retain_subset(self.config.retain_per_id)
        noise = self.config.noise_per_identity(len(self.forget_classes))
        impaired = len(impair_set(torch.zeros(noise, 1), torch.zeros(noise, dtype=torch.long), FaceTensors(retain),
                                  self.config))
        photos = {"impair": impaired, "repair": len(retain) * self.config.repair_epochs}
        return {stage: photos[stage] / outcome.stages[stage] for stage in photos} | {
            f"{stage} seconds": seconds for stage, seconds in outcome.stages.items()}


def summary(bench: Bench, rounds: list[dict], steps: list[Step]) -> dict:
    best = {s.label: max(r["bare"][s.label] for r in rounds) for s in steps}
    loop = {stage: max(r["loop"][stage] for r in rounds) for stage in ("impair", "repair")}
    used = fit_configuration(bench.device, bench.config.learn_from).label
    repair_bare = next(s.label for s in steps if s.loss == "repair")
    fastest = max((s for s in steps if s.loss == "impair"), key=lambda s: best[s.label]).label
    pairs = {"impair / bare step, same configuration": ("impair", used),
             "repair / bare distillation step, same configuration": ("repair", repair_bare),
             f"impair / fastest bare step ({fastest})": ("impair", fastest)}
    # Loop and bare step of the same round: the load a round meets weighs on both.
    ratios = {label: [r["loop"][stage] / r["bare"][bare] for r in rounds] for label, (stage, bare) in pairs.items()}
    loads = [r["load_average"] for r in rounds]
    return {"machine": machine(), "device": str(bench.device), "checkpoint": str(CHECKPOINT.relative_to(HERE.parent)),
            "batch": BATCH, "image_size": bench.loaded.card["image_size"], "forget": bench.request.forget_classes,
            "fit_configuration": used, "learn_from": bench.config.learn_from, "bare_best": best, "loop_best": loop, "ratios": ratios, "target": TARGET,
            "compile": bench.compiled_first_steps, "rounds": rounds, "load_average": loads,
            "quiet": max(loads) <= (os.cpu_count() or 1) + 0.5}


def learning(result: dict) -> str:
    """What the step trains: the whole model, or as UNSIR's learn_from has it, the blocks from there on."""
    block = result.get("learn_from")
    if not block:
        return ""
    return (f" As UNSIR trains with learn_from={block!r}, the step trains the blocks from {block} on, from the "
            "frozen blocks' outputs (computed once, as UNSIR's 'frozen blocks' stage does), and the repair step's "
            "teacher runs the same blocks of the original.")


def markdown(result: dict, args, uptime_before: str, uptime_after: str) -> str:
    cores = os.cpu_count() or 1
    options = (f" --threads {args.threads}" if args.threads else "") + (" --no-compile" if args.no_compile else "")
    lines = ["# Training throughput: the loop against the bare step", "",
             f"`python benchmarks/throughput.py --rounds {args.rounds} --steps {args.steps}{options}` on "
             f"{result['machine']}: the shipped ResNet18 "
             f"({result['checkpoint']}), {result['image_size']} px, batch {result['batch']}, forward + backward + Adam "
             "(UNSIR's optimiser). Images per second, best of the rounds." + learning(result), "",
             "## Bare training step", "", "| configuration | images/s (best) | per round |", "|---|---|---|"]
    for label, value in result["bare_best"].items():
        per_round = ", ".join(f"{r['bare'][label]:.0f}" for r in result["rounds"])
        lines.append(f"| {label} | {value:.0f} | {per_round} |")
    lines += ["", f"## UNSIR's loop inside `fit` ({result['fit_configuration']})", "",
              "| stage | images/s (best) | seconds per round |", "|---|---|---|"]
    for stage, value in result["loop_best"].items():
        seconds = ", ".join(f"{r['loop'][stage + ' seconds']:.1f}" for r in result["rounds"])
        lines.append(f"| {stage} | {value:.0f} | {seconds} |")
    stages = [key.removesuffix(" seconds") for key in result["rounds"][0]["loop"] if key.endswith(" seconds")]
    lines += ["", "UNSIR's stages in the last round: " + ", ".join(
        f"{stage} {result['rounds'][-1]['loop'][stage + ' seconds']:.1f} s" for stage in stages) + "."]
    if "elsewhere" in result["rounds"][0]:
        best = {label: max(r["elsewhere"][label] for r in result["rounds"]) for label in result["rounds"][0]["elsewhere"]}
        lines += ["", "## Tiny maps as matrix products elsewhere", "",
                  "The same convolutions computed as matrix products (unsir/convolutions.py) in the whole model's "
                  "training step at full size, batch 64, channels-last, SGD with Nesterov momentum (what retraining runs), and in the "
                  "noise's step (the frozen model's gradient for 80 noise images). Images per second, best of the rounds.",
                  "", "| step | oneDNN alone | tiny maps as matmul | speed-up |", "|---|---|---|---|"]
        for label in ("whole model", "noise"):
            plain, matmul = best[label], best[f"{label}, {MATMUL}"]
            lines.append(f"| {label} | {plain:.0f} | {matmul:.0f} | {matmul / plain:.2f}x |")
    lines += ["", f"## Loop / bare (target ≥ {result['target']:.0%})", "",
              "Each round's loop against the same round's bare step; the lowest round decides. Above 100 %, the "
              "machine's load changed between the two measurements.", ""]
    for label, per_round in result["ratios"].items():
        lowest = min(per_round)
        lines.append(f"- {label}: **{lowest:.0%}** (rounds: {', '.join(f'{r:.0%}' for r in per_round)}; "
                     f"{'met' if lowest >= result['target'] else 'missed'})")
    if result["compile"]:
        compiled = next(label for label in result["bare_best"] if "compile" in label)
        eager = result["fit_configuration"]
        gain = result["bare_best"][compiled] / result["bare_best"][eager] - 1
        payoff = f"for {gain:+.0%} on the step" if gain > 0 else "for no gain here"
        loop_seconds = max(r["loop"]["impair seconds"] + r["loop"]["repair seconds"] for r in result["rounds"])
        lines += ["", "## torch.compile: measured, not used by `fit`", "",
                  f"Compiled, the step runs {gain:+.0%} against {eager} ({result['bare_best'][compiled]:.0f} against "
                  f"{result['bare_best'][eager]:.0f} images/s). Before it runs, from an empty compile cache "
                  f"({os.environ.get('TORCHINDUCTOR_COMPILE_THREADS', 'default')} compile threads): " + "; ".join(
                      f"{label} {seconds:.0f} s" for label, seconds in result["compile"].items()) +
                  f". UNSIR's whole impair + repair takes {loop_seconds:.0f} s here, and each new batch shape, the "
                  "teacher's forward pass and the noise's steps would compile again: it would have to be warmed at "
                  f"startup, outside a visitor's click, {payoff}. `fit` stays eager."]
    loads = result["load_average"]
    if args.threads:
        lines += ["", f"torch ran {args.threads} thread(s) on {cores} cores (`--threads`): on a shared machine the "
                  "threads of one step wait for each other behind other work, and a single thread measures the "
                  "hardware more steadily; rerun without `--threads` on a quiet machine for the default."]
    lines += ["", f"Machine: {'quiet' if result['quiet'] else 'NOT quiet'} ({cores} cores; 1-minute load average "
              f"{min(loads):.1f}–{max(loads):.1f} after each round; quiet: at most {cores + 0.5}). "
              f"`uptime` before: `{uptime_before}`; after: `{uptime_after}`."]
    if not result["quiet"]:
        lines += ["", "Other work shared the cores during this run: every figure above is lower than the hardware "
                  "gives, and the ratios compare measurements disturbed at different moments. Rerun on a quiet "
                  "machine before quoting them."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per bare configuration and round")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (it compiles for a minute or more)")
    parser.add_argument("--threads", type=int, help="torch's threads (default: one per core); on a shared machine 1 "
                        "keeps other work from stalling every parallel step")
    parser.add_argument("--out", default=str(HERE / "THROUGHPUT.md"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Compile cold, as a fresh machine would at startup: an empty cache, not the kernels of earlier runs.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    device = default_device()
    bench = Bench(device)
    steps = configurations(device, not args.no_compile, bench.config.learn_from)
    rounds = []
    for index in range(args.rounds):
        bare = {}
        for step in steps:
            bare[step.label] = bench.bare(step, args.steps)
            print(f"round {index + 1}: {step.label}: {bare[step.label]:.0f} images/s", flush=True)
        loop = bench.loop()
        if pays(device, bf16_helps(device)):
            elsewhere = bench.elsewhere(args.steps)
            print(f"round {index + 1}: elsewhere {elsewhere}", flush=True)
        print(f"round {index + 1}: loop {loop}", flush=True)
        rounds.append({"bare": bare, "loop": loop, "load_average": round(load_average(), 2)}
                      | ({"elsewhere": elsewhere} if pays(device, bf16_helps(device)) else {}))
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    result = summary(bench, rounds, steps)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.write_text(markdown(result, args, uptime_before, uptime_after))
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
