"""`unsir`: train, evaluate, prepare data, forget identities, benchmark.

Argument parsing only: every subcommand calls one library function.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from . import distributed
from .data import DataError
from .nets import ARCHITECTURES, ModelError
from .reports import to_json

USAGE_ERROR = 2


class UsageError(ValueError):
    """Bad input from the command line: printed without a traceback, exit code 2."""


def _print_progress(stage: str, fraction: float) -> None:
    if not distributed.is_main():  # under torchrun one rank speaks for all
        return
    print(f"\r{stage:>10s} {100 * fraction:5.1f}%", end="\n" if fraction >= 1 else "", file=sys.stderr, flush=True)


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

    recipe = recipe_for(args.arch, epochs=args.epochs, batch_size=args.batch_size, max_lr=args.lr, seed=args.seed)
    card = train_checkpoint(
        args.arch, args.out, dataset=args.dataset, data_home=args.data_home, image_size=args.image_size,
        split_seed=args.split_seed, max_per_identity=args.max_per_identity, identities=args.identities,
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
    print(f"test accuracy {report['test_acc']:.3f}, balanced {report['balanced_test_acc']:.3f} "
          f"on {report['n_test']} photos", file=sys.stderr)


def cmd_prepare(args) -> None:
    from .prepare import prepare_faces

    summary = prepare_faces(args.src, args.out, identities=args.identities, min_images=args.min_images,
                            image_size=args.image_size, progress=_print_progress)
    print(json.dumps(summary, indent=2))


def _method_configs(args, card: dict) -> dict:
    from dataclasses import asdict, replace

    from .methods import METHODS, check_settings, default_config
    from .methods.unsir import preset

    names = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise UsageError(f"--methods takes a comma-separated list of {', '.join(METHODS)}; got {args.methods!r}.")
    configs = {name: default_config(name, card) for name in names}
    if "retrain" in configs and args.retrain_cache:
        configs["retrain"] = replace(configs["retrain"], cache_dir=args.retrain_cache)
    if "unsir" in configs:
        configs["unsir"] = preset(
            args.preset, card["arch"], retain_per_id=args.retain_per_id, cycles=args.cycles, noise_steps=args.noise_steps,
            noise_batch=args.noise_batch, noise_budget=args.noise_budget, noise_lambda=args.noise_lambda,
            impair_lr=args.impair_lr, repair_lr=args.repair_lr, notebook_faithful=args.notebook_faithful or None)
        try:
            check_settings(asdict(configs["unsir"]))
            configs["unsir"].validate()
        except ValueError as error:
            raise UsageError(str(error)) from error
    return configs


def cmd_forget(args) -> None:
    from .forgetting import ForgetError, forget, random_identities
    from .pipeline import load, load_strangers_for, save_unlearned

    if (args.forget is None) == (args.forget_random is None):
        raise UsageError("Give exactly one of --forget \"Name_A,Name_B\" or --forget-random K.")
    loaded = load(args.checkpoint, args.data_home)
    configs = _method_configs(args, loaded.card)
    try:
        names = (args.forget.split(",") if args.forget is not None
                 else random_identities(args.forget_random, loaded.split.names, args.seed))
        run = forget(loaded.model, loaded.card, loaded.split, names, methods=configs, seed=args.seed,
                     strangers=load_strangers_for(loaded, args.data_home), relearn=args.relearn,
                     progress=_print_progress)
    except ForgetError as error:
        raise UsageError(str(error)) from error
    run.report["checkpoint"] = str(args.checkpoint)
    if args.save_model and distributed.is_main():
        for name, outcome in run.outcomes.items():
            out = Path(args.save_model) if len(run.outcomes) == 1 else Path(args.save_model) / name
            save_unlearned(outcome, loaded.card, run.report, name, out)
    _write_json(args.report, run.report)
    original = run.report["original"]
    print(f"{'original':>10s}: retain {original['retain_test_acc']:.3f} (n={original['n_retain_test']}), "
          f"forget {original['forget_test_acc']:.3f} (n={original['n_forget_test']}), "
          f"kNN on features {original.get('feature_knn_forget_acc', float('nan')):.3f}, "
          f"loss AUC {original['mia_auc_forget']:.3f}", file=sys.stderr)
    for name, entry in run.report["methods"].items():
        label = f"{name} (control)" if entry["control"] else name
        print(f"{label:>10s}: retain {entry['retain_test_acc']:.3f}, forget {entry['forget_test_acc']:.3f}, "
              f"kNN on features {entry.get('feature_knn_forget_acc', float('nan')):.3f}, "
              f"loss AUC {entry['mia_auc_forget']:.3f}, {entry['seconds']:.1f} s", file=sys.stderr)


def cmd_verify(args) -> int:
    from .audit import AuditError, verify

    try:
        matches, lines = verify(args.audit, args.weights)
    except AuditError as error:
        raise UsageError(str(error)) from error
    print("\n".join(lines))
    return 0 if matches else 1


def cmd_bench(args) -> None:
    from .bench import markdown, run_benchmark

    counts = [int(c) for c in args.forget_counts.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m.strip() for m in args.methods.split(",")]
    results = Path(args.out).with_suffix(".json")
    records = run_benchmark(args.checkpoint, counts, seeds, methods, retrain_seeds=args.retrain_seeds,
                            relearn_seeds=args.relearn_seeds, results_path=results, data_home=args.data_home,
                            retrain_cache=args.retrain_cache,
                            command="unsir " + shlex.join(args.argv), progress=_print_progress)
    if not distributed.is_main():  # under torchrun every rank returns the merged records; rank 0 writes
        return
    Path(args.out).write_text(markdown(records))
    print(f"wrote {args.out} and {results}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unsir", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data_home = argparse.ArgumentParser(add_help=False)
    data_home.add_argument("--data-home", help="scikit-learn data home (default: $SCIKIT_LEARN_DATA or ~/scikit_learn_data)")

    train = sub.add_parser("train", parents=[data_home], help="train a face-recognition model and save it with a card")
    train.add_argument("--arch", choices=ARCHITECTURES, default="resnet18")
    train.add_argument("--dataset", default="lfw100", help="lfw100, olivetti, or a folder of identity sub-folders")
    train.add_argument("--out", required=True, help="checkpoint folder, e.g. models/resnet18-lfw100")
    train.add_argument("--image-size", type=int, default=64)
    train.add_argument("--identities", type=int, default=100, help="LFW: how many of the most photographed people")
    train.add_argument("--max-per-identity", type=int, help="cap of photos per identity (seeded sample)")
    train.add_argument("--split-seed", type=int, default=0)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="peak learning rate of the one-cycle schedule")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--init", choices=["imagenet"], help="start from torchvision's ImageNet weights (internet)")
    train.add_argument("--teacher", help="checkpoint to distil from (DeiT-style soft labels)")
    train.set_defaults(run=cmd_train)

    evaluate = sub.add_parser("eval", parents=[data_home], help="test accuracy of a checkpoint")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--report", help="JSON output path (default: stdout)")
    evaluate.set_defaults(run=cmd_eval)

    prepare = sub.add_parser("prepare", help="detect, align and crop faces with MTCNN into an identity folder")
    prepare.add_argument("--src", required=True, help="raw photos laid out as SRC/<identity>/*.jpg")
    prepare.add_argument("--out", required=True)
    prepare.add_argument("--identities", type=int, help="keep the N identities with the most faces")
    prepare.add_argument("--min-images", type=int, default=1, help="drop identities with fewer faces")
    prepare.add_argument("--image-size", type=int, default=160, help="side of the saved face crops")
    prepare.set_defaults(run=cmd_prepare)

    forget = sub.add_parser("forget", parents=[data_home], help="forget identities with UNSIR and baselines")
    forget.add_argument("--checkpoint", required=True)
    who = forget.add_mutually_exclusive_group()
    who.add_argument("--forget", help='comma-separated identity names, e.g. "Tony_Blair,Colin_Powell"')
    who.add_argument("--forget-random", type=int, metavar="K", help="forget K identities drawn with --seed")
    forget.add_argument("--methods", default="unsir",
                        help="comma-separated: unsir, retrain, finetune, neggrad; controls: logit-mask, head-only")
    forget.add_argument("--seed", type=int, default=0)
    forget.add_argument("--preset", default="default",
                        help="UNSIR preset: default, fast (classifier only: forgets the output, not the features) or paper")
    forget.add_argument("--retain-per-id", type=int, help="retain subset: training photos per kept identity")
    forget.add_argument("--cycles", help='UNSIR stages, e.g. "impair-repair" or "impair-impair-repair"')
    forget.add_argument("--noise-steps", type=int)
    forget.add_argument("--noise-batch", type=int, help="noise images per forgotten identity (default 8)")
    forget.add_argument("--noise-budget", type=int,
                        help="total noise images above which the batch shrinks, down to 4 (default 80; paper: none)")
    forget.add_argument("--noise-lambda", type=float)
    forget.add_argument("--impair-lr", type=float)
    forget.add_argument("--repair-lr", type=float)
    forget.add_argument("--notebook-faithful", action="store_true", help="reproduce the official notebook's bugs")
    forget.add_argument("--retrain-cache", help="folder keeping retrained models for reuse (runs/retrain)")
    forget.add_argument("--relearn", action="store_true", help="also measure relearn time (slow)")
    forget.add_argument("--report", help="JSON output path (default: stdout)")
    forget.add_argument("--save-model", help="folder for the unlearned weights + card")
    forget.set_defaults(run=cmd_forget)

    bench = sub.add_parser("bench", parents=[data_home], help="regenerate benchmarks/RESULTS.md (slow)")
    bench.add_argument("--checkpoint", action="append", required=True, help="repeat for several models")
    bench.add_argument("--forget-counts", default="1,2,5,10,20")
    # Chosen before any tuning; the sweep tunes on seeds 500+ (benchmarks/sweep_unsir.py).
    bench.add_argument("--seeds", default="1000,1001,1002,1003,1004")
    bench.add_argument("--methods", default="unsir,logit-mask,head-only,retrain")
    bench.add_argument("--retrain-cache", help="folder keeping retrained models for a rerun (runs/retrain)")
    bench.add_argument("--retrain-seeds", type=int, default=1, help="retrain only for the first N seeds (it is slow)")
    bench.add_argument("--relearn-seeds", type=int, default=1, help="relearn time only for the first N seeds")
    bench.add_argument("--out", default="benchmarks/RESULTS.md")
    bench.set_defaults(run=cmd_bench)

    verify = sub.add_parser("verify", help="check a weights file against the app's audit.json (exit 1: no match)")
    verify.add_argument("--audit", required=True, help="audit.json from the app's Export")
    verify.add_argument("--weights", required=True, help="the model.safetensors to check")
    verify.set_defaults(run=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    torch.set_num_threads(max(1, torch.get_num_threads()))
    try:
        with distributed.process_group():  # joined only when torchrun started several processes
            code = args.run(args)
    except (UsageError, DataError, ModelError) as error:
        print(f"unsir {args.command}: {error}", file=sys.stderr)
        return USAGE_ERROR
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
