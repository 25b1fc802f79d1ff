"""`unsir`: train, evaluate, prepare data, forget identities, benchmark.

Argument parsing only: every subcommand calls one library function.
"""
from __future__ import annotations

import argparse
import atexit
import json
import math
import shlex
import sys
import time
from pathlib import Path

from tqdm import tqdm

from . import distributed
from .checkpoints import IMAGE_SIZES
from .data import MIN_PHOTOS, DataError
from .nets import ARCHITECTURES, ModelError
from .reports import to_json

USAGE_ERROR = 2


class UsageError(ValueError):
    """Bad input from the command line: printed without a traceback, exit code 2."""


class StageBars:
    """The core's progress(stage, fraction) as one tqdm bar per stage on stderr, from rank 0 only.

    On a terminal a bar redraws in place and stays, with its seconds, when its stage ends. In a
    log (stderr not a terminal) nothing is redrawn: a stage writes whole lines, one every
    LOG_EVERY seconds while it runs and one when it ends."""

    LOG_EVERY = 60.0
    FORMAT = "{desc:>18s} {percentage:5.1f}%|{bar:24}| {elapsed}"

    def __init__(self):
        self.bar: tqdm | None = None
        self.logged = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        if not distributed.is_main():  # under torchrun one rank speaks for all
            return
        if self.bar is None or self.bar.desc != stage:
            self.close()
            terminal = sys.stderr.isatty()
            # Off a terminal the bar never draws itself (delay=inf): `_log` writes it, in ASCII.
            self.bar = tqdm(total=100, initial=100 * fraction, desc=stage, bar_format=self.FORMAT, file=sys.stderr,
                            delay=0 if terminal else math.inf, ascii=not terminal)
            self.logged = time.monotonic()
        self.bar.update(100 * fraction - self.bar.n)
        if time.monotonic() - self.logged >= self.LOG_EVERY:
            self._log()
        if fraction >= 1:
            self.close()

    def close(self) -> None:
        """End the current stage's bar (its line stays)."""
        if self.bar is None:
            return
        self._log()
        self.bar.close()
        self.bar = None

    def _log(self) -> None:
        """The bar's state as one line, where stderr is not a terminal (tqdm.write would redraw the bar)."""
        if not sys.stderr.isatty():
            print(self.bar, file=sys.stderr, flush=True)
        self.logged = time.monotonic()


_print_progress = StageBars()
atexit.register(_print_progress.close)  # the last stage of a command that never reports 100 %


def _write_json(path, payload: dict) -> None:
    if not distributed.is_main():  # the ranks computed the same report: rank 0 writes it
        return
    text = to_json(payload)
    if path in (None, "-"):
        print(text, end="")
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text)
        print(f"wrote {path}", file=sys.stderr)


def cmd_train(args) -> None:
    from .pipeline import train_checkpoint
    from .training import recipe_for

    if (Path(args.out) / "model.safetensors").exists():
        raise UsageError(f"{args.out} already holds a model: give another --out (or remove that folder first).")
    if args.identities is not None and args.dataset != "lfw100":
        # Olivetti and an identity folder keep every person: a number given here would be ignored.
        raise UsageError(f"--identities picks LFW's most photographed people; {args.dataset} keeps every person it has.")
    recipe = recipe_for(args.arch, epochs=args.epochs, batch_size=args.batch_size, max_lr=args.lr, seed=args.seed)
    card = train_checkpoint(
        args.arch, args.out, dataset=args.dataset, data_home=args.data_home, image_size=args.image_size,
        split_seed=args.split_seed, max_per_identity=args.max_per_identity,
        identities=100 if args.identities is None else args.identities,
        recipe=recipe, init=args.init, teacher_dir=args.teacher, command="unsir " + shlex.join(args.argv),
        progress=_print_progress,
    )
    if not distributed.is_main():
        return
    print(f"{args.out}: test accuracy {card['test_acc']:.3f}, balanced {card['balanced_test_acc']:.3f}, "
          f"{card['seconds']:.0f} s on {card['device']}")


def cmd_eval(args) -> None:
    from .pipeline import evaluate, load

    loaded = load(args.checkpoint, args.data_home)
    report = {"checkpoint": str(args.checkpoint), "dataset": loaded.card["dataset"]["name"], **evaluate(loaded.model, loaded.split)}
    _write_json(args.report, report)
    if not distributed.is_main():
        return
    print(f"test accuracy {report['test_acc']:.3f}, balanced {report['balanced_test_acc']:.3f} "
          f"on {report['n_test']} photos", file=sys.stderr)


def cmd_prepare(args) -> None:
    from .prepare import prepare_faces

    if distributed.launched_by_torchrun():  # every rank would crop every photo into the same files
        raise distributed.LaunchError("unsir prepare runs in one process: start it without torchrun.")
    summary = prepare_faces(args.src, args.out, identities=args.identities, min_images=args.min_images,
                            image_size=args.image_size, progress=_print_progress)
    print(json.dumps(summary, indent=2))


def _setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting declared by the methods (unsir/methods/*.py), with its range and owners."""
    from .methods import setting_fields

    group = parser.add_argument_group("method settings (each applies to the chosen methods that have it)")
    for name, declared in sorted(setting_fields().items()):
        flag = "--" + name.replace("_", "-")
        bounds = declared["range"]
        span = f"; {bounds[0]:g} to {bounds[1]:g}" if bounds else ""
        per_model = "".join(f", {arch} {value!r}" for arch, value in declared["per_arch"].items()) + "".join(
            f", {arch} from {count} people {value!r}" for arch, tiers in declared["per_size"].items()
            for count, value in tiers)
        help_text = f"{declared['help']}{span} (default {declared['default']!r}{per_model}; {', '.join(declared['methods'])})"
        if isinstance(declared["default"], bool):
            group.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            group.add_argument(flag, type=declared["type"], help=help_text.replace("%", "%%"))


def _given_settings(args) -> dict:
    from .methods import setting_fields

    return {name: getattr(args, name) for name in setting_fields() if getattr(args, name) is not None}


def _check_method_flags(args) -> None:
    """Refuse, before anything is read, a preset or a setting that no chosen method has (each value is checked
    against its range with the model's defaults, by `_method_configs`)."""
    from .methods import METHODS, settings

    chosen = [METHODS[name] for name in args.methods]
    if args.preset != "default" and not any(args.preset in m.presets for m in chosen):
        known = sorted({p for m in METHODS.values() for p in m.presets})
        raise UsageError(f"--preset {args.preset!r} is unknown for {', '.join(args.methods)}: "
                         f"choose default or one of {', '.join(known)} (UNSIR).")
    given = _given_settings(args)
    unused = [name for name in given if not any(name in settings(m.config) for m in chosen)]
    if unused:
        raise UsageError(f"--{unused[0].replace('_', '-')} is not a setting of {', '.join(args.methods)}.")


def _method_configs(args, card: dict, forget_count: int) -> dict:
    from dataclasses import replace

    from .methods import METHODS, configure, settings

    given = _given_settings(args)
    configs = {}
    for name in args.methods:
        declared = METHODS[name]
        own = {k: v for k, v in given.items() if k in settings(declared.config)}
        preset = args.preset if args.preset in declared.presets else None
        try:
            configs[name] = configure(name, card, own, preset=preset, forget_count=forget_count)
        except ValueError as error:
            raise UsageError(str(error)) from error
    if "retrain" in configs and args.retrain_cache:
        configs["retrain"] = replace(configs["retrain"], cache_dir=args.retrain_cache)
    return configs


def cmd_forget(args) -> None:
    from . import STARTED
    from .evaluation import moved_in_features
    from .checkpoints import read_card
    from .forgetting import ForgetError, forget, random_identities, resolve_identities
    from .methods import METHODS
    from .pipeline import load, load_strangers_for, save_unlearned

    if (args.forget is None) == (args.forget_random is None):
        raise UsageError("Give exactly one of --forget \"Name_A,Name_B\" or --forget-random K.")
    _check_method_flags(args)
    if args.save_model and Path(args.save_model).resolve() == Path(args.checkpoint).resolve():
        raise UsageError("--save-model is the checkpoint's own folder: the original would be replaced. Give another "
                         "folder.")
    card = read_card(args.checkpoint)  # the names and settings are checked before any data is read
    try:
        if args.forget is not None:
            names = [name.strip() for name in args.forget.split(",") if name.strip()]
            resolve_identities(names or [""], card["identities"])
        else:
            names = random_identities(args.forget_random, card["identities"], args.seed)
    except ForgetError as error:
        raise UsageError(str(error)) from error
    configs = _method_configs(args, card, len(names))
    loading = time.perf_counter()
    loaded = load(args.checkpoint, args.data_home)
    strangers = load_strangers_for(loaded, args.data_home)
    loaded_at = time.perf_counter()
    for name in configs:
        if (caution := METHODS[name].caution(loaded.card["arch"])) and distributed.is_main():
            print(f"note: {caution}", file=sys.stderr)
    try:
        run = forget(loaded.model, loaded.card, loaded.split, names, methods=configs, seed=args.seed,
                     strangers=strangers, relearn=args.relearn, progress=_print_progress)
    except ForgetError as error:
        raise UsageError(str(error)) from error
    _print_progress.close()  # the last stage's bar ends before the lines below, not after them in a log
    run.report["checkpoint"] = str(args.checkpoint)
    if args.save_model and distributed.is_main():
        for name, outcome in run.outcomes.items():
            out = Path(args.save_model) if len(run.outcomes) == 1 else Path(args.save_model) / name
            save_unlearned(outcome, loaded.card, run.report, name, out)
    # The rest of the command's time; each method's and the original's stages are in their entries.
    run.report["command_seconds"] = {"startup": round(loading - STARTED, 3), "load": round(loaded_at - loading, 3),
                                     "whole": round(time.perf_counter() - STARTED, 3)}
    _write_json(args.report, run.report)
    if not distributed.is_main():
        return
    original = run.report["original"]
    print(f"{'original':>10s}: retain {original['retain_test_acc']:.3f} (n={original['n_retain_test']}), "
          f"forget {original['forget_test_acc']:.3f} (n={original['n_forget_test']}), "
          f"kNN on features {original.get('feature_knn_forget_acc', float('nan')):.3f}, "
          f"loss AUC {original['mia_auc_forget']:.3f}", file=sys.stderr)
    for name, entry in run.report["methods"].items():
        label = f"{name} (control)" if entry["control"] else name
        unmoved = " (not moved)" if moved_in_features(original, entry) is False else ""
        print(f"{label:>10s}: retain {entry['retain_test_acc']:.3f}, forget {entry['forget_test_acc']:.3f}, "
              f"kNN on features {entry.get('feature_knn_forget_acc', float('nan')):.3f}{unmoved}, "
              f"loss AUC {entry['mia_auc_forget']:.3f}, {entry['seconds']:.1f} s", file=sys.stderr)
    print(_seconds_line(run.report, time.perf_counter() - STARTED), file=sys.stderr)


def _seconds_line(report: dict, whole: float) -> str:
    """Where the command's time went: startup (imports), loading, each model's stages, the whole."""
    command = report["command_seconds"]
    parts = [f"startup (imports) {command['startup']:.1f}", f"load (checkpoint, photos) {command['load']:.1f}",
             f"original: evaluate {report['original']['stages']['evaluate']:.1f}"]
    for name, entry in report["methods"].items():
        parts.append(f"{name}: " + " + ".join(f"{stage} {s:.1f}" for stage, s in entry["stages"].items()))
    return f"{'seconds':>10s}: " + "; ".join(parts) + f"; whole command {whole:.1f}"


def cmd_verify(args) -> int:
    from .audit import AuditError, measure_again, verify

    try:
        matches, lines = verify(args.audit, args.weights)
        print("\n".join(lines))
        if matches and args.measure:
            matches, lines = measure_again(args.audit, args.weights, args.data_home, args.card)
            print("\n".join(lines))
    except AuditError as error:
        raise UsageError(str(error)) from error
    return 0 if matches else 1


def cmd_bench(args) -> None:
    from .bench import run_benchmark
    from .bench_markdown import markdown

    if Path(args.out).suffix == ".json":
        raise UsageError(f"--out {args.out}: the Markdown file; its records go beside it as .json (e.g. --out "
                         f"{Path(args.out).with_suffix('.md')}).")
    results = Path(args.out).with_suffix(".json")
    records = run_benchmark(args.checkpoint, args.forget_counts, args.seeds, args.methods, retrain_seeds=args.retrain_seeds,
                            relearn_seeds=args.relearn_seeds, results_path=results, data_home=args.data_home,
                            retrain_cache=args.retrain_cache,
                            command="unsir " + shlex.join(args.argv), progress=_print_progress)
    if not distributed.is_main():  # under torchrun every rank returns the merged records; rank 0 writes
        return
    Path(args.out).write_text(markdown(records))
    print(f"wrote {args.out} and {results}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse, with a bad flag answered in one line (exit 2) instead of the usage block."""

    def error(self, message: str):
        self.exit(USAGE_ERROR, f"{self.prog}: {message}\n")


def number_in(low: float, high: float, kind: type = int):
    """An argparse type: a `kind` from `low` to `high`, or a one-line refusal saying so."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number from {low:g} to "
                                             f"{high:g}, got {text!r}")
        return value
    return parse


def whole_numbers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, e.g. 1,2,5; got {text!r}") from None
    return values


def method_list(text: str) -> list[str]:
    from .methods import METHODS

    names = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown method {', '.join(unknown) or '(none given)'}; "
                                         f"choose from {', '.join(METHODS)}")
    return names


def _methods_help() -> str:
    from .methods import GROUPS, METHODS

    return "comma-separated; " + "; ".join(
        f"{group}: {', '.join(m.name for m in METHODS.values() if m.group == group)}" for group in GROUPS
        if any(m.group == group for m in METHODS.values()))


CHECKPOINT_HELP = "checkpoint folder (model.safetensors + card.json), e.g. models/resnet18-lfw100"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="unsir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data_home = argparse.ArgumentParser(add_help=False)
    data_home.add_argument("--data-home", help="scikit-learn data home (default: $SCIKIT_LEARN_DATA or ~/scikit_learn_data)")

    train = sub.add_parser("train", parents=[data_home], help="train a face-recognition model and save it with a card")
    train.add_argument("--arch", choices=ARCHITECTURES, default="resnet18")
    train.add_argument("--dataset", default="lfw100", help="lfw100, olivetti, or a folder of identity sub-folders")
    train.add_argument("--out", required=True, help="checkpoint folder, e.g. models/resnet18-lfw100")
    train.add_argument("--image-size", type=number_in(*IMAGE_SIZES), default=64)
    train.add_argument("--identities", type=number_in(2, 10_000),
                       help="LFW: how many of the most photographed people (default 100)")
    train.add_argument("--max-per-identity", type=number_in(MIN_PHOTOS, 100_000),
                       help=f"cap of photos per identity (seeded sample; at least {MIN_PHOTOS})")
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--epochs", type=number_in(1, 10_000))
    train.add_argument("--batch-size", type=number_in(1, 65_536))
    train.add_argument("--lr", type=number_in(1e-8, 10, float), help="peak learning rate of the one-cycle schedule")
    train.add_argument("--seed", type=int, default=0, help="seeds the weights' start and the batches' order")
    train.add_argument("--init", choices=["imagenet"], help="start from torchvision's ImageNet weights (internet)")
    train.add_argument("--teacher", help="checkpoint to distil from (DeiT-style soft labels)")
    train.set_defaults(run=cmd_train)

    evaluate = sub.add_parser("eval", parents=[data_home], help="test accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    evaluate.add_argument("--report", help="JSON output path (default: stdout)")
    evaluate.set_defaults(run=cmd_eval)

    prepare = sub.add_parser("prepare", help="detect, align and crop faces with MTCNN into an identity folder")
    prepare.add_argument("--src", required=True, help="raw photos laid out as SRC/<identity>/*.jpg")
    prepare.add_argument("--out", required=True)
    prepare.add_argument("--identities", type=number_in(1, 1_000_000), help="keep the N identities with the most faces")
    prepare.add_argument("--min-images", type=number_in(1, 100_000), default=1, help="drop identities with fewer faces")
    prepare.add_argument("--image-size", type=number_in(*IMAGE_SIZES), default=160, help="side of the saved face crops")
    prepare.set_defaults(run=cmd_prepare)

    forget = sub.add_parser("forget", parents=[data_home], help="forget identities with UNSIR and baselines")
    forget.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    who = forget.add_mutually_exclusive_group()
    who.add_argument("--forget", help='comma-separated identity names, e.g. "Tony_Blair,Colin_Powell"')
    who.add_argument("--forget-random", type=int, metavar="K", help="forget K identities drawn with --seed")
    forget.add_argument("--methods", default="unsir", type=method_list, help=_methods_help())
    forget.add_argument("--seed", type=int, default=0,
                        help="seeds the --forget-random draw, the retain subset and every method (default 0)")
    forget.add_argument("--preset", default="default",
                        help="UNSIR preset: default, fast (classifier only: forgets the output, not the features) or paper")
    _setting_flags(forget)
    forget.add_argument("--retrain-cache", help="folder keeping retrained models for reuse (runs/retrain)")
    forget.add_argument("--relearn", action="store_true", help="also measure relearn time (slow)")
    forget.add_argument("--report", help="JSON output path (default: stdout)")
    forget.add_argument("--save-model", help="folder for the unlearned weights + card")
    forget.set_defaults(run=cmd_forget)

    bench = sub.add_parser("bench", parents=[data_home], help="regenerate benchmarks/RESULTS.md (slow)")
    bench.add_argument("--checkpoint", action="append", required=True, help="repeat for several models")
    bench.add_argument("--forget-counts", default="1,2,5,10,20", type=whole_numbers)
    # Chosen before any tuning; the sweep tunes on seeds 500+ (benchmarks/sweep_unsir.py).
    bench.add_argument("--seeds", default="1000,1001,1002,1003,1004", type=whole_numbers)
    bench.add_argument("--methods", default="unsir,logit-mask,head-only,retrain", type=method_list, help=_methods_help())
    bench.add_argument("--retrain-cache", help="folder keeping retrained models for a rerun (runs/retrain)")
    bench.add_argument("--retrain-seeds", type=number_in(0, 1000), default=1,
                       help="retrain only for the first N seeds (it is slow)")
    bench.add_argument("--relearn-seeds", type=number_in(0, 1000), default=1, help="relearn time only for the first N seeds")
    bench.add_argument("--out", default="benchmarks/RESULTS.md")
    bench.set_defaults(run=cmd_bench)

    verify = sub.add_parser("verify", parents=[data_home],
                            help="check a weights file against the app's audit.json, and with --measure its numbers "
                                 "(exit 1: no match)")
    verify.add_argument("--audit", required=True, help="audit.json from the app's Export")
    verify.add_argument("--weights", required=True, help="the model.safetensors to check (a download renamed is fine)")
    verify.add_argument("--measure", action="store_true",
                        help="also measure the model again on the data (the card.json exported with it says "
                             "which photos) and set the unlearned model's numbers beside the audit's")
    verify.add_argument("--card", help="with --measure: the exported card.json (default: card.json beside --weights)")
    verify.set_defaults(run=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # --help (0), or a bad flag already answered in one line (2)
        return exit.code
    args.argv = argv
    try:
        with distributed.process_group():  # joined only when torchrun started several processes
            code = args.run(args)
    except (UsageError, DataError, ModelError, distributed.LaunchError) as error:
        print(f"unsir {args.command}: {error}", file=sys.stderr)
        return USAGE_ERROR
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
