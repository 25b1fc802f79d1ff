"""The benchmark's Markdown, rebuilt from its JSON records: the worst forget set first, verdicts against the
deep-forgetting issue's targets, which method when, then every metric (the paper's Table IV)."""
from __future__ import annotations

import os
import statistics
from dataclasses import asdict

from .evaluation import CHANCE, KNN_MOVED_AT_LEAST, moved_in_features
from .methods import METHODS, configure
from .methods.unsir import UnsirConfig
from .metrics import RELEARN_CAP, retrain_closeness
from .targets import (ACCURACY_TARGETS, CLEARLY_MORE, COMPARED_TARGET, GAP_TARGET, POOLED_MEASURES, Pooled,
                      pooled_measure)


COLUMNS = [("retain_test_acc", "A_Dr test"), ("retain_change", "Δ A_Dr"), ("forget_test_acc", "A_Df test"),
           ("mia_forget", "MIA (entropy)"), ("mia_auc_forget", "loss AUC"), ("feature_knn_retain_acc", "kept kNN"),
           ("stranger_ks", "stranger KS"), ("relearn_epochs", "relearn"), ("seconds", "seconds")]


def _which_rows(records: list[dict], label) -> str:
    """'label for arch counts; ...': which rows share each value of label(record)."""
    rows: dict[str, dict[str, set]] = {}
    for record in records:
        rows.setdefault(label(record), {}).setdefault(record["arch"], set()).add(record["count"])
    return "; ".join(
        f"{value} for " + ", ".join(f"{arch} {'/'.join(map(str, sorted(counts)))}" for arch, counts in runs.items())
        for value, runs in rows.items())


def quietness(records: list[dict]) -> str:
    """Whether the machine was quiet: the 1-minute load average recorded after each set, against its cores."""
    measured = [r for r in records if "load_average" in r]
    if not measured:
        return "Machine load: not recorded for these runs."
    loads = [r["load_average"] for r in measured]
    # against the cores of the machine that ran each set (older records lack them: this machine's)
    cores = [r.get("cores") or os.cpu_count() or 1 for r in measured]
    busy = sum(load > count + 0.5 for load, count in zip(loads, cores))
    verdict = "quiet" if not busy else f"shared with other work for {busy} of {len(loads)} sets (timings are slower there)"
    return (f"Machine load ({max(cores)} cores): 1-minute load average {min(loads):.1f}–{max(loads):.1f} after each set; "
            f"{verdict}.")


def _unsir_changes(record: dict) -> str:
    """The UNSIR settings of a record that differ from today's defaults for its architecture and size."""
    defaults = asdict(configure("unsir", {"arch": record["arch"]}, forget_count=record["count"]))
    used = record["report"]["methods"].get("unsir", {}).get("hyperparameters", {})
    # A setting missing from an older record had not been added yet: the run did what the setting's
    # field default does (all blocks learn, hard labels, ...), except noise_budget, which was no limit.
    before = {**asdict(UnsirConfig()), "noise_budget": None}
    values = {k: used.get(k, before[k]) for k in defaults}
    return ", ".join(f"{k}={values[k]!r}" if isinstance(values[k], str) else f"{k}={values[k]}"
                     for k in defaults if values[k] != defaults[k]) or "today's defaults"


def _mean_std(values) -> str:
    """mean ± std of the measured values ('–' when none was measured)."""
    values = [v for v in values if v is not None and v == v]  # unmeasured: None in JSON, NaN in memory
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
            return f"> {RELEARN_CAP}"  # not relearned within the cap
        return _mean_std(values) + (f" ({capped} run{'s' * (capped > 1)} > {RELEARN_CAP})" if capped else "")
    return _mean_std(values)


def method_order(reports: list[dict]) -> list[str]:
    """Every method measured, in the registry's order; one the registry no longer has goes last, not missing."""
    measured = {name for report in reports for name in report["methods"]}
    return [m for m in dict.fromkeys(["retrain", *METHODS]) if m in measured] + sorted(measured - set(METHODS))


def is_control(name: str, reports: list[dict]) -> bool:
    return any(r["methods"].get(name, {}).get("control") for r in reports)


def label(name: str, reports: list[dict]) -> str:
    """The method's name, marked when it is a control or when it read the forgotten people's photos."""
    if is_control(name, reports):
        return f"{name} (control)"
    return f"{name} (reads forgotten photos)" if reads_forgotten(name, reports) else name


def reads_forgotten(name: str, reports: list[dict]) -> bool:
    return any(r["methods"][name].get("zero_glance") is False for r in reports if name in r["methods"])


def pooled(entries: list[dict], key: str, count_key: str) -> str:
    """An accuracy pooled over every photo of several sets, with the photo count: small sets hold few photos."""
    measured = [(e[key], e[count_key]) for e in entries if e.get(key) is not None and e.get(count_key)]
    photos = sum(n for _, n in measured)
    if not photos:
        return "–"
    return f"{100 * sum(acc * n for acc, n in measured) / photos:.1f} [{photos}]"


def worst_sets(groups: dict[tuple, list[dict]]) -> list[str]:
    """Per model and size: the worst set and the mean, for every method; feature accuracies pooled."""
    lines = ["## Worst forget set first", "",
             "Per model and number of people forgotten, over every forget set measured: forgotten test accuracy "
             "(worst set / mean) with the photos it counts, kept test accuracy's change against the original "
             "(worst / mean, points), and the feature evidence pooled over the photos of all sets of that size. "
             "Closeness to retrain, on the sets with a retrain, photos pooled: 1 − the method's distance to each "
             "set's retrained model over the original's (1 = where retrain is, 0 = as far as the original); going "
             "past a retrain counts as distance, as falling short does. In brackets the signed share of the "
             "original→retrain gap closed, pooled (above 1: past the retrains overall), where a set that overshoots "
             "cancels one that falls short. A retrain is one draw of the gold standard: two retrains of one person can "
             "disagree by more than the whole gap, and a second retrain of a set comes this close to the first only "
             "so far (benchmarks/RETRAIN_SPREAD.md). Loss AUC: the mean over sets, and in brackets its distance from "
             "chance (0.5) pooled over photos, as the verdicts judge it (sets at 0.3 and 0.7 do not average to "
             "chance). Features not moved: "
             f"the sets where the kNN found the forgotten people's held-out photos less than {100 * KNN_MOVED_AT_LEAST:.0f} "
             "points less often than the original did (on a set of one or two people, a photo or two). Each row pools "
             "the sets it ran on (its sets column): where the retrain ran on fewer, its row is not the other rows' "
             "sets, and the verdicts below, which pair each method with the retrains' own sets, are the comparison. "
             "Controls only hide the output; they are not unlearning.", "",
             "| model | forgotten | method | sets | forgotten acc, worst / mean [photos] | Δ kept, worst / mean | "
             "kNN on features [photos] | features not moved (sets) | probe [photos] | loss AUC (mean; from chance) | "
             "closeness to retrain (signed share): kNN / loss AUC / KS | seconds (mean) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (arch, count), reports in sorted(groups.items()):
        for name in ["original", *method_order(reports)]:
            entries = [r["original"] if name == "original" else r["methods"][name] for r in reports
                       if name == "original" or name in r["methods"]]
            forget = [e["forget_test_acc"] for e in entries]
            photos = sum(e.get("n_forget_test", 0) for e in entries)
            if name == "original":
                change = not_moved = "–"
            else:
                moved = [moved_in_features(r["original"], r["methods"][name]) for r in reports if name in r["methods"]]
                measured = [m for m in moved if m is not None]
                not_moved = f"{measured.count(False)} of {len(measured)}" if measured else "–"
                changes = [100 * (r["methods"][name]["retain_test_acc"] - r["original"]["retain_test_acc"])
                           for r in reports if name in r["methods"]]
                change = f"{min(changes):+.1f} / {statistics.fmean(changes):+.1f}"
            gap = "–" if name in ("original", "retrain") else " / ".join(
                closeness_text(pooled_measure(reports, name, key)) for key in POOLED_MEASURES)
            auc = _mean_std([e.get("mia_auc_forget") for e in entries]) + auc_from_chance(entries)
            seconds = "–" if name == "original" else f"{statistics.fmean(e['seconds'] for e in entries):.1f}"
            lines.append(f"| {arch} | {count} | {label(name, reports)} | {len(entries)} | "
                         f"{100 * max(forget):.1f} / {100 * statistics.fmean(forget):.1f} [{photos}] | {change} | "
                         f"{pooled(entries, 'feature_knn_forget_acc', 'n_forget_test')} | {not_moved} | "
                         f"{pooled(entries, 'feature_probe_forget_acc', 'n_forget_test')} | {auc} | {gap} | {seconds} |")
    return lines + [""]


def closeness_text(pooled: Pooled | None) -> str:
    """'closeness (signed share)', pooled; '–' without a retrain, 'no gap' where the original sits at them."""
    if pooled is None:
        return "–"
    closeness, share = pooled.closeness(), pooled.gap()
    return "no gap" if closeness is None else f"{closeness:.2f} ({'–' if share is None else f'{share:.2f}'})"


def auc_from_chance(entries: list[dict]) -> str:
    """The loss AUC's distance from chance, pooled over the held-out photos: ' (0.141)'."""
    measured = [(abs(e["mia_auc_forget"] - CHANCE["mia_auc_forget"]), e["n_forget_test"]) for e in entries
                if e.get("mia_auc_forget") is not None and e["mia_auc_forget"] == e["mia_auc_forget"]
                and e.get("n_forget_test")]
    photos = sum(n for _, n in measured)
    return f" ({sum(d * n for d, n in measured) / photos:.3f})" if photos else ""


def verdicts(groups: dict[tuple, list[dict]]) -> list[str]:
    """Plain-words verdicts per model, size and method (retrain and the controls aside) against the targets, each
    method against the controls."""
    every_report = [r for reports in groups.values() for r in reports]
    methods = [m for m in method_order(every_report) if m != "retrain" and not is_control(m, every_report)]
    accuracy = "; ".join(f"{arch}: forgotten test accuracy ≤ {100 * forget:.0f} % and kept within {kept:.0f} points"
                         for arch, (forget, kept) in ACCURACY_TARGETS.items())
    lines = [f"Targets, per model, number forgotten and method ({accuracy}, on every set; the gap to retrain closed "
             f"≥ {GAP_TARGET} on kNN, loss AUC and KS where a retrain ran, judged as closeness to retrain on the photos "
             "pooled over each size's sets, each set's closeness beside it, the signed share after it; the method "
             f"coming at least {CLEARLY_MORE} closer to retrain than each control on both the kNN and the KS):", ""]
    for (arch, count), reports in sorted(groups.items()):
        lines += [verdict(arch, count, reports, method) for method in methods
                  if any(method in r["methods"] for r in reports)]
    return lines


def verdict(arch: str, count: int, reports: list[dict], method: str) -> str:
    """One method's verdict line on the forget sets of one model and size."""
    runs = [r for r in reports if method in r["methods"]]
    worst_forget = max(r["methods"][method]["forget_test_acc"] for r in runs)
    worst_kept = min(100 * (r["methods"][method]["retain_test_acc"] - r["original"]["retain_test_acc"]) for r in runs)
    forget_target, kept_target = ACCURACY_TARGETS.get(arch, ACCURACY_TARGETS["resnet18"])
    said = [f"forgotten ≤ {100 * forget_target:.0f} % on every set: {'met' if worst_forget <= forget_target else 'MISSED'} "
            f"(worst {100 * worst_forget:.1f} %)",
            f"kept within {kept_target:.0f} points: {'met' if worst_kept >= -kept_target else 'MISSED'} "
            f"(worst {worst_kept:+.1f})"]
    said += [gap_verdict(runs, method, key) for key in POOLED_MEASURES]
    for control in sorted({m for r in runs for m, e in r["methods"].items() if e.get("control")}):
        said.append(against_control(runs, method, control))
    sets = f"{len(runs)} set{'s' if len(runs) > 1 else ''}"
    return f"- {arch}, {count} forgotten, {label(method, reports)}, {sets}: " + "; ".join(said) + "."


def against_control(runs: list[dict], method: str, control: str) -> str:
    """Whether the method came clearly closer to retrain than the control on both the kNN and the KS, on the sets
    where both ran beside a retrain, photos pooled; without a retrain, whether it moved clearly further from the
    original on both (the mean over sets)."""
    paired = [r for r in runs if control in r["methods"]]
    keys = ("feature_knn_forget_acc", "stranger_ks")
    ours, theirs = ([pooled_measure(paired, who, key) for key in keys] for who in (method, control))
    if all(p is not None and p.closeness() is not None for p in ours + theirs):
        closer = [a.closeness() - b.closeness() for a, b in zip(ours, theirs)]
        said = f"closer to retrain by {closer[0]:+.2f} on the kNN and {closer[1]:+.2f} on the KS"
    else:
        moved = [statistics.fmean(r["methods"][method][key] - r["methods"][control][key] for r in paired
                                  if r["methods"][method].get(key) is not None
                                  and r["methods"][control].get(key) is not None) for key in keys]
        closer = [-value for value in moved]  # lower than the control's: further from the original
        said = f"no retrain to judge closeness: kNN {100 * moved[0]:+.1f} points, KS {moved[1]:+.2f}"
    return f"against {control}: {said} → {'told apart' if min(closer) >= CLEARLY_MORE else 'NOT told apart on both'}"


def gap_verdict(runs: list[dict], method: str, key: str) -> str:
    """A gap target judged as closeness to retrain on the photos pooled over the sets with a retrain (the
    deep-forgetting issue's rule for small sets), with each set's closeness beside it and how many of them fall
    short (the worst set stays in sight), and the signed share, which lets overshoots cancel shortfalls."""
    name, shown = POOLED_MEASURES[key]
    pooled = pooled_measure(runs, method, key)
    if pooled is None:
        retrained = any("retrain" in r["methods"] for r in runs)
        return f"{name} gap: " + ("not measured on these sets" if retrained else "no retrain on these sets")
    sets = f"{len(pooled.paired)} set{'s' if len(pooled.paired) > 1 else ''} with a retrain, {pooled.photos} photos"
    found = (("distance from chance: " if key in CHANCE else "") +
             f"original {shown(pooled.original)}, {method} {shown(pooled.method)}, retrain {shown(pooled.retrain)}")
    closeness, share = pooled.closeness(), pooled.gap()
    if closeness is None:
        return (f"{name} gap: none to close ({sets}: the retrained model, which never saw these people, scores as "
                f"the original does: {found})")
    per_set = [retrain_closeness(r["original"][key], r["methods"][method][key], r["methods"]["retrain"][key],
                                 CHANCE.get(key)) for r in pooled.paired]
    defined = [v for v in per_set if v == v]
    short = sum(v < GAP_TARGET for v in defined)
    per_set_text = ", ".join("–" if v != v else f"{v:.2f}" for v in per_set) + (
        " (–: that set's retrain scores as its original)" if len(defined) < len(per_set) else "")
    signed = "–" if share is None else f"{share:.2f}" + (", past the retrains overall" if share > 1 else "")
    return (f"{name} closeness to retrain ≥ {GAP_TARGET}, photos pooled: "
            f"{'met' if closeness >= GAP_TARGET else 'MISSED'} ({closeness:.2f}; signed share {signed}: "
            f"{found}; {sets}; per set {per_set_text}: {short} of {len(defined)} below {GAP_TARGET})")


def which_method_when(groups: dict[tuple, list[dict]]) -> list[str]:
    """Per model, each unlearning method against the compared methods' bar on every set, the features it moved
    and its time, with the controls' rows beside them; then who met the bar without reading the forgotten photos,
    who moved the features furthest and who was fastest. Drawn only from the records: nothing here where one
    method was measured alone."""
    every_report = [r for reports in groups.values() for r in reports]
    measured = [m for m in method_order(every_report) if m != "retrain"]
    methods = [m for m in measured if not is_control(m, every_report)]
    if len(methods) < 2:
        return []
    controls = [m for m in measured if m not in methods]
    forget_most, kept_most = COMPARED_TARGET
    lines = ["## Which method when", "",
             f"Each method's defaults against the bar a compared method must clear on every forget set above "
             f"(forgotten test accuracy ≤ {100 * forget_most:.0f} %, kept within {kept_most:.0f} points of the "
             "original), with how close it came to the retrained model on the kNN (photos pooled over the sets with a "
             "retrain; 1 = where retrain is, 0 = as far as the original, past it counts as distance) and its mean seconds (on the machine this file describes). "
             "Sets are named people@seed. The controls only hide the output: where they clear the bar too, the bar "
             "alone does not show that a person left the model, and the kNN column does.", "",
             "| model | method | reads the forgotten photos | the bar on every set | kNN closeness to retrain, per size | "
             "seconds, per size |", "|---|---|---|---|---|---|"]
    summaries = []
    for arch in sorted({arch for arch, _ in groups}):
        sizes = sorted(count for a, count in groups if a == arch)
        met, knn_at, seconds_at = [], {}, {}
        for method in methods + controls:
            misses, knn_cells, seconds_cells, sets = [], [], [], 0
            for count in sizes:
                runs = [r for r in groups[(arch, count)] if method in r["methods"]]
                if not runs:
                    continue
                sets += len(runs)
                for r in runs:
                    entry = r["methods"][method]
                    kept = 100 * (entry["retain_test_acc"] - r["original"]["retain_test_acc"])
                    if entry["forget_test_acc"] > forget_most or kept < -kept_most:
                        misses.append((f"{count}@{r['seed']}", entry["forget_test_acc"], kept))
                knn = pooled_measure(runs, method)
                share = knn.closeness() if knn else None
                knn_at[method, count] = share
                knn_cells.append(f"{count}: " + ("–" if knn is None else "none to close" if share is None
                                                 else f"{share:.2f}"))
                seconds_at[method, count] = statistics.fmean(r["methods"][method]["seconds"] for r in runs)
                seconds_cells.append(f"{count}: {seconds_text(seconds_at[method, count])}")
            if not sets:
                continue
            if not misses and method in methods:
                met.append(method)
            bar = f"met ({sets} sets)" if not misses else f"MISSED on {len(misses)} of {sets}: " + missed_sets(misses)
            lines.append(f"| {arch} | {label(method, every_report) if method in controls else method} | "
                         f"{'yes' if reads_forgotten(method, every_report) else 'no'} | {bar} | "
                         f"{'; '.join(knn_cells)} | {'; '.join(seconds_cells)} |")
        summaries.append(when_line(arch, sizes, methods, met, knn_at, seconds_at, every_report))
    return lines + ["", *summaries, ""]


def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def missed_sets(misses: list[tuple[str, float, float]]) -> str:
    """The sets a method missed the bar on, each with what it missed; past three, only the worst of each."""
    forget_most, kept_most = COMPARED_TARGET
    if len(misses) > 3:
        most_named, least_kept = max(named for _, named, _ in misses), min(kept for _, _, kept in misses)
        return ", ".join(([f"up to {100 * most_named:.1f} % named"] if most_named > forget_most else [])
                         + ([f"kept down to {least_kept:+.1f} points"] if least_kept < -kept_most else []))
    return ", ".join(f"{name} (" + ", ".join(([f"{100 * named:.1f} % named"] if named > forget_most else [])
                                               + ([f"kept {kept:+.1f} points"] if kept < -kept_most else [])) + ")"
                     for name, named, kept in misses)


def when_line(arch: str, sizes: list[int], methods: list[str], met: list[str], knn_at: dict, seconds_at: dict,
              reports: list[dict]) -> str:
    """One model's plain answer: who met the bar with and without the forgotten photos, who moved the features
    furthest and who was fastest among them, at the largest size where it was measured."""
    blind = [m for m in met if not reads_forgotten(m, reports)]
    reading = [m for m in met if reads_forgotten(m, reports)]
    missed = [m for m in methods if m not in met]
    said = [f"without reading the forgotten photos, {' and '.join(blind) or 'no method'} met the bar on every set",
            f"reading them, {', '.join(reading) or 'no method'}",
            f"{', '.join(missed) or 'no method'} missed it on at least one set"]
    with_gap = [count for count in sizes if any(knn_at.get((m, count)) is not None for m in met)]
    if with_gap:
        count = with_gap[-1]
        deepest = max((m for m in met if knn_at.get((m, count)) is not None), key=lambda m: knn_at[m, count])
        said.append(f"of those that met it, at {count} people {deepest} came closest to retrain on the kNN "
                    f"({knn_at[deepest, count]:.2f})")
    if met:
        count = max(count for count in sizes if any((m, count) in seconds_at for m in met))
        fastest = min((m for m in met if (m, count) in seconds_at), key=lambda m: seconds_at[m, count])
        said.append(f"the fastest at {count} people was {fastest} ({seconds_text(seconds_at[fastest, count])} s)")
    return f"- {arch}: " + "; ".join(said) + "."


def added_retrains(records: list[dict]) -> str:
    """Which sets' retrained models were measured after their other methods, by which commands, and how busy the
    machine was."""
    by_command: dict[str, list[tuple[str, float | None]]] = {}
    for r in records:
        added = r["report"]["methods"].get("retrain", {}).get("added_by")
        if added:
            by_command.setdefault(added["command"], []).append((f"{r['arch']} {r['count']}@{r['seed']}",
                                                                added["load_average"]))
    sentences = []
    for command, sets in by_command.items():
        loads = [load for _, load in sets if load is not None]
        span = f"{min(loads):.1f}" + (f"–{max(loads):.1f}" if max(loads) > min(loads) else "") if loads else ""
        busy = f" (1-minute load {span} after each)" if loads else ""
        sentences.append(f" The retrained models of {', '.join(name for name, _ in sets)} were measured afterwards, by "
                         f"`{command}`{busy}, and the other methods of those sets scored against them (their time is "
                         "not set against UNSIR's: another run).")
    return "".join(sentences)


def added_relearns(records: list[dict]) -> str:
    """Which sets' relearn times were measured after the rest of their record, and by which commands."""
    by_command: dict[str, list[str]] = {}
    for r in records:
        for name, entry in r["report"]["methods"].items():
            command = entry.get("relearn_added_by")
            if command:
                by_command.setdefault(command, []).append(f"{r['arch']} {r['count']}@{r['seed']} {name}")
    return "".join(f" The relearn times of {', '.join(sets)} were measured afterwards, on the same models (the same "
                   f"weights), by `{command}`." for command, sets in by_command.items())


def markdown(records: list[dict]) -> str:
    """Table IV-shaped summary: rows = (arch, forget count, method); mean ± std over seeds."""
    commands = sorted({r["command"] for r in records if r.get("command")})
    # A method's column measured again on the same sets (its default changed), the rest kept.
    reruns: dict[tuple[str, str], set[str]] = {}
    for r in records:
        for method, command in r.get("rerun", {}).items():
            reruns.setdefault((r["arch"], method), set()).add(command)
    # Columns measured again by the same commands are named together.
    rerun_by: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for (arch, method), again in sorted(reruns.items()):
        rerun_by.setdefault((arch, tuple(sorted(again))), []).append(method)
    lines = ["# Benchmark: forgetting identities from LFW-100 face models", "",
             "Measured by " + " and ".join(f"`{c}`" for c in commands) + " (results accumulate in "
             "the .json file of the same name; a rerun skips what is there)." + "".join(
                 f" The {arch} {', '.join(methods)} column{'s were' if len(methods) > 1 else ' was'} measured again, "
                 "on the same sets, by " + " and ".join(f"`{c}`" for c in again) + "."
                 for (arch, again), methods in rerun_by.items()) + added_retrains(records) + added_relearns(records),
             "",
             "A_Dr / A_Df: test accuracy (%) on retained / forgotten identities' held-out photos; Δ A_Dr: "
             "points gained or lost against the original on the same forget set. "
             "MIA (entropy, %): share of the forgotten identities' training photos that an entropy-threshold "
             "attack calls members. Loss AUC: a per-photo membership attack telling the forgotten identities' "
             "training photos from their held-out ones by their loss (0.5 = cannot tell). kNN / probe: "
             "5-nearest-neighbours and a logistic-regression probe on the penultimate features, fit on the training "
             "photos of all identities, naming held-out photos (forgotten people in the first table, kept people "
             "as 'kept kNN'). Stranger KS: distance between the model's confidence on forgotten people and on "
             "people it never saw (0 = treated like strangers). Relearn: epochs of training on 500-photo draws "
             f"until forget accuracy is back to the original's (cap {RELEARN_CAP}; logit-mask's forgotten rows, with a "
             "bias of −10⁴, stay below every other output through these few steps: its relearn time measures the "
             "mask, not what the body holds). Seconds: the method's own wall time "
             "(UNSIR: noise + impair + repair, and the frozen blocks' outputs where only some blocks learn; evaluation "
             "excluded). Mean ± std over seeds (retrain: fewer seeds, "
             "see n).", ""]
    if records:
        seeds = ", ".join(str(seed) for seed in sorted({r["seed"] for r in records}))
        lines += [f"Forget sets: seeds {seeds} for each size, drawn by `unsir.forgetting.random_identities`. The "
                  "benchmark's seeds (1000–1004) were fixed before any tuning; the sweeps tune on seeds 500+ "
                  "(benchmarks/SWEEP.md).", ""]
        lines += [f"Machine: {_which_rows(records, lambda r: r['machine'])}.", "", quietness(records), "",
                  f"UNSIR settings: {_which_rows(records, _unsir_changes)}.", ""]
        variants = records[-1]["report"]
        lines += [f"MIA variant: {variants['mia_variant']}.", "", f"Stranger variant: {variants['stranger_variant']}.", ""]
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((record["arch"], record["count"]), []).append(record["report"])
    lines += worst_sets(groups) + verdicts(groups) + [""]
    lines += which_method_when(groups)
    header = "| model | forgotten | method | n | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines += ["## Every metric, mean ± std over the sets", "", header, "|" + "---|" * (4 + len(COLUMNS))]
    speed = []
    for (arch, count), reports in sorted(groups.items()):
        rows = [("original", [r["original"] for r in reports])]
        for method in method_order(reports):
            # Δ A_Dr: retained accuracy minus the original's on the same forget set.
            entries = [{**r["methods"][method],
                        "retain_change": r["methods"][method]["retain_test_acc"] - r["original"]["retain_test_acc"]}
                       for r in reports if method in r["methods"]]
            if entries:
                rows.append((method, entries))
        for method, entries in rows:
            cells = [_cell([e[key] for e in entries if key in e], key) for key, _ in COLUMNS]
            lines.append(f"| {arch} | {count} | {label(method, reports) if method != 'original' else method} | "
                         f"{len(entries)} | " + " | ".join(cells) + " |")
        speed += [(arch, count, r["methods"]["retrain"]["seconds"] / r["methods"]["unsir"]["seconds"],
                   "cached" in r["methods"]["retrain"].get("hyperparameters", {}))
                  for r in reports if "retrain" in r["methods"] and "unsir" in r["methods"]
                  and "added_by" not in r["methods"]["retrain"]]  # timed in another run, maybe another load
    if speed:
        lines += ["", "Speed: retrain seconds / UNSIR seconds, both timed in the same run, except where the retrain "
                      "was read from the cache: it then carries the seconds of the run that trained it, on a machine "
                      "that may have been busier or quieter.", ""]
        lines += [f"- {arch}, {count} forgotten: {ratio:.0f}x" + (" (retrain from the cache)" if cached else "")
                  for arch, count, ratio, cached in speed]
    return "\n".join(lines) + "\n"

