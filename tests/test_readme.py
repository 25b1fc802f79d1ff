"""README's scorecard states what the benchmarks measured: a rerun that changes a number fails here until the
README says the new one, so the front page can never claim more than benchmarks/ holds."""
import json
import re
from pathlib import Path

import pytest

from unsir.bench_markdown import markdown
from unsir.evaluation import CHANCE, moved_in_features
from unsir.metrics import retrain_closeness
from unsir.targets import ACCURACY_TARGETS, GAP_TARGET, pooled_measure

ROOT = Path(__file__).resolve().parent.parent
RECORDS = json.loads((ROOT / "benchmarks" / "RESULTS.json").read_text())
README = (ROOT / "README.md").read_text()
PROSE = " ".join(README.split())  # the README's words, however its lines are wrapped
SIZES = (1, 2, 5, 10, 20)
# The scorecard's rows of closeness to retrain, by the label they start with.
GAP_ROWS = {"feature_knn_forget_acc": "| closeness to retrain, kNN",
            "mia_auc_forget": "| … membership attack, loss AUC",
            "stranger_ks": "| … distance from strangers, KS"}


def unsir_runs(arch: str, count: int) -> list[dict]:
    return [r["report"] for r in RECORDS if r["arch"] == arch and r["count"] == count]


def kept_change(report: dict, method: str = "unsir") -> float:
    """A method's change of the kept people's held-out accuracy against the original, in points."""
    return 100 * (report["methods"][method]["retain_test_acc"] - report["original"]["retain_test_acc"])


def worst_kept(arch: str, count: int) -> float:
    return min(map(kept_change, unsir_runs(arch, count)))


def pooled_closeness(arch: str, count: int, key: str, method: str = "unsir") -> float:
    return pooled_measure(unsir_runs(arch, count), method, key).closeness()


def people(count: int) -> str:
    return f"{count} people" if count > 1 else "1 person"


def row(label: str) -> list[str]:
    """The cells of the scorecard row that starts with label, bold marks dropped."""
    [line] = [line for line in README.splitlines() if line.startswith(label)]
    return [cell.strip().strip("*") for cell in line.split("|")[1:-1]]


def minus(text: str) -> str:
    return text.replace("-", "−")  # the README writes a typographic minus


@pytest.mark.parametrize("name", ["RESULTS", "METHODS", "METHODS-vit"])
def test_the_benchmark_markdown_is_what_its_json_holds(name):
    """The tables README points at are the ones `unsir bench` writes from its records, not edited by hand."""
    records = json.loads((ROOT / "benchmarks" / f"{name}.json").read_text())
    assert markdown(records) == (ROOT / "benchmarks" / f"{name}.md").read_text()


def test_the_resnet18_scorecard_states_the_measured_worst_sets_and_pooled_closeness():
    kept_target = ACCURACY_TARGETS["resnet18"][1]
    cells = row("| kept people within 3 points")
    assert cells[1:6] == [minus(f"{worst_kept('resnet18', n):.1f}") for n in SIZES]
    sets_missed = sum(kept_change(r["report"]) < -kept_target for r in RECORDS if r["arch"] == "resnet18")
    assert cells[6].startswith(f"missed on {sets_missed} of 25" if sets_missed else "met")
    for key, label in GAP_ROWS.items():
        pooled = [pooled_measure(unsir_runs("resnet18", n), "unsir", key) for n in SIZES]
        cells = [cell.replace("*", "") for cell in row(label)]
        assert cells[1:6] == [f"{p.closeness():.2f} ({p.gap():.2f})" for p in pooled], key
        if all(p.closeness() < GAP_TARGET for p in pooled):
            assert "missed at every size" in cells[6], key
        else:  # the verdict names every size that missed, and only those
            for n, p in zip(SIZES, pooled):
                assert (f"at {people(n)}" in cells[6]) == (p.closeness() < GAP_TARGET), (key, n)


def test_the_resnet18_scorecard_sets_the_controls_closeness_beside_unsirs():
    labels = {"feature_knn_forget_acc": "| the controls' closeness on the kNN", "stranger_ks": "| … on the KS",
              "mia_auc_forget": "| … on the loss AUC"}
    for key, label in labels.items():
        closeness = [[pooled_closeness("resnet18", n, key, control) for control in ("logit-mask", "head-only")]
                     for n in SIZES]
        shown = [" / ".join(f"{value:.2f}" if round(value, 2) else "0" for value in controls)
                 for controls in closeness]
        assert row(label)[1:6] == shown, key
        unsir = [pooled_closeness("resnet18", n, key) for n in SIZES]
        beaten = [n for n, ours, controls in zip(SIZES, unsir, closeness) if max(controls) > ours]
        verdict = row(label)[6]
        assert ("UNSIR ahead at every size" in verdict) == (not beaten), key
        for n in beaten:
            assert "closer than UNSIR" in verdict and f"at {people(n)}" in verdict, (key, n)


def test_the_resnet18_scorecard_counts_the_sets_where_a_control_comes_as_close_as_unsir():
    """Pooled, UNSIR is ahead of the controls; set by set it may not be, and the verdict counts those sets."""
    def per_set(key: str) -> list[tuple[str, float, float]]:
        """(set, UNSIR's closeness, the closer control's) on each set whose retrain scores otherwise than its
        original."""
        sets = []
        for run in (run for run in RECORDS if run["arch"] == "resnet18"):
            report = run["report"]
            closeness = {m: retrain_closeness(report["original"][key], report["methods"][m][key],
                                              report["methods"]["retrain"][key], CHANCE.get(key))
                         for m in ("unsir", "logit-mask", "head-only")}
            if closeness["unsir"] == closeness["unsir"]:
                sets.append((f"{run['count']}/{run['seed']}", closeness["unsir"],
                             max(closeness["logit-mask"], closeness["head-only"])))
        return sets

    knn = per_set("feature_knn_forget_acc")
    not_ahead = [(name, ours, theirs) for name, ours, theirs in knn if ours <= theirs]
    ties = sum(ours == theirs == 0 for _, ours, theirs in not_ahead)
    behind = " and ".join(sorted(name for name, ours, theirs in not_ahead if ours < theirs))
    assert (f"no closer than a control on {len(not_ahead)} of the {len(knn)} sets whose retrain moved "
            f"(tied at 0 on {ties}, behind on {behind}:") in row("| the controls' closeness on the kNN")[6]
    ks = per_set("stranger_ks")
    assert len(ks) == 25 and all(ours > theirs for _, ours, theirs in ks)
    assert "UNSIR ahead at every size, and on each of the 25 sets" in row("| … on the KS")[6]


def test_the_resnet18_scorecard_sets_the_retrains_unmoved_sets_beside_unsirs():
    def unmoved(count: int, method: str) -> str:
        moved = [moved_in_features(r["original"], r["methods"][method]) for r in unsir_runs("resnet18", count)]
        return f"{moved.count(False)} of {len(moved)}" if moved.count(False) else "0"

    cells = row("| sets where the features did not move")
    assert cells[1:6] == [unmoved(n, "unsir") for n in SIZES]
    assert f"the retrains did not move on {' / '.join(unmoved(n, 'retrain') for n in SIZES)}:" in cells[6]


def test_the_resnet18_scorecard_says_no_forgotten_photo_is_named_only_where_none_was():
    worst = [max(r["methods"]["unsir"]["forget_test_acc"] for r in unsir_runs("resnet18", n)) for n in SIZES]
    assert row("| forgotten people's held-out photos named")[1:6] == [f"{100 * w:.0f} %" for w in worst]
    assert max(worst) <= ACCURACY_TARGETS["resnet18"][0]  # the row's verdict says met on all 25


@pytest.mark.parametrize("key, words", [("feature_knn_forget_acc", "on the kNN"), ("mia_auc_forget", "on the loss AUC"),
                                        ("stranger_ks", "on the KS")])
def test_the_vit_paragraph_states_the_measured_pooled_closeness(key, words):
    shares = " / ".join(minus(f"{pooled_closeness('vit', n, key):.2f}") for n in SIZES)
    assert f"{shares} {words}" in PROSE


def test_the_vit_paragraph_states_the_measured_worst_kept_sets():
    worst = " / ".join(f"{-worst_kept('vit', n):.1f}" for n in SIZES)
    assert f"the kept people lose at worst {worst} points" in PROSE


def measured(text: str, pattern: str) -> str:
    """The one number `pattern` (a regular expression with one group) finds in a benchmark file's text."""
    [number] = re.findall(pattern, text)
    return number


def test_the_speed_scorecard_states_the_measured_seconds():
    latency = (ROOT / "benchmarks" / "APP_LATENCY.md").read_text()
    speedup = (ROOT / "benchmarks" / "SPEEDUP.md").read_text()
    one, twenty = (f"- {who}: first answer ([\\d.]+) s .*?; every result ([\\d.]+) s .*?; UNSIR alone ([\\d.]+) s"
                   for who in ("1 person, second click", "20 people"))
    one, twenty = re.search(one, latency).groups(), re.search(twenty, latency).groups()
    for label, column in (("| first answer", 0), ("| every result", 1), ("| UNSIR alone", 2)):
        assert row(label)[1] == f"{one[column]} s, {twenty[column]} s", label
    fold = [measured(speedup, rf"\| {people} \|.*\*\*(\d+)x\*\*") for people in (1, 20)]
    assert row("| ≥ 50x faster than retraining")[1] == f"{fold[0]}x (1 person), {fold[1]}x (20)"
    command = measured(latency, r"whole command: ([\d.]+) s \(met")
    assert row("| `unsir forget`, whole command")[1].startswith(f"{command} s")
    cold, memory = measured(latency, r"cold start: ([\d.]+) s"), measured(latency, r"over the clicks: ([\d.]+) GB")
    assert row("| cold start")[1] == f"{cold} s; {memory} GB"
    repair = measured(latency, r"UNSIR's stages, 1 person, second click: .*?repair ([\d.]+) s")
    assert f"of UNSIR's {one[2]} s, the repair takes {repair} s" in PROSE  # where the one-person time goes
    shown = [measured(latency, rf"\| {who} \| ([\d.]+) \|") for who in ("1 person, second click", "20 people")]
    assert f"its learned noise {shown[0]} s after the click ({shown[1]} s for 20 people)" in PROSE


def test_the_speed_scorecard_states_the_loops_measured_share_of_the_bare_step():
    ratios = json.loads((ROOT / "benchmarks" / "THROUGHPUT.json").read_text())["ratios"]
    impair, repair = (min(ratios[f"{stage} / {bare}, same configuration"])
                      for stage, bare in (("impair", "bare step"), ("repair", "bare distillation step")))
    assert row("| training loop ≥ 90 %")[1] == f"{impair:.0%} impair, {repair:.0%} repair".replace("%", " %")
    assert f"at {repair:.0%} of the speed of the bare training step".replace("%", " %") in PROSE


def numbers(cell: str) -> list[tuple[float, float]]:
    """Each number a cell shows, with half a unit of its last digit: what rounding may have taken off."""
    found = re.findall(r"([+-]?\d+(?:\.(\d+))?)", cell.replace("−", "-"))
    return [(float(value), 0.5 * 10 ** -len(decimals) + 1e-9) for value, decimals in found]


def test_the_methods_table_states_what_methods_json_measured_on_the_20_person_sets():
    records = json.loads((ROOT / "benchmarks" / "METHODS.json").read_text())
    runs = [r["report"] for r in records if r["arch"] == "resnet18" and r["count"] == 20]
    for name, label in (("unsir", "**UNSIR**"), ("bad-teacher", "Bad Teacher"), ("scrub", "SCRUB"),
                        ("random-labels", "Random Labels"), ("salun", "SalUn"), ("ssd", "SSD"), ("neggrad", "NegGrad"),
                        ("finetune", "Fine-tune"), ("head-only", "head-only (control)"),
                        ("logit-mask", "logit-mask (control)")):
        entries = [r["methods"][name] for r in runs]
        photos = sum(e["n_forget_test"] for e in entries)
        knn = "feature_knn_forget_acc"
        measured_cells = [
            [100 * max(e["forget_test_acc"] for e in entries)],
            [min(kept_change(r, name) for r in runs)],
            [100 * sum(e[knn] * e["n_forget_test"] for e in entries) / photos],
            [pooled_measure(runs, name, key).closeness() for key in GAP_ROWS],
            [min(retrain_closeness(r["original"][knn], r["methods"][name][knn], r["methods"]["retrain"][knn])
                 for r in runs)],
            [sum(e["seconds"] for e in entries) / len(entries)]]
        shown_cells = row(f"| {label}")[2:8]
        for shown, measured_values in zip(shown_cells, measured_cells):
            for (value, rounding), measured_value in zip(numbers(shown), measured_values, strict=True):
                assert abs(value - measured_value) <= rounding, (label, shown, measured_value)


@pytest.mark.parametrize("page", ["README.md", "docs/FINDINGS.md", "docs/APP.md", "docs/RELIABILITY.md",
                                  "docs/SCALE.md", "models/README.md"])
def test_every_link_to_a_file_of_the_repository_leads_to_one(page):
    path = ROOT / page
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text())
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert [link for link in local if not (path.parent / link).exists()] == []


def test_the_resnet18_scorecard_states_each_measures_worst_single_set():
    """Pooled closeness hides the set furthest from its retrain: the scorecard states that set too."""
    def worst(count: int, key: str) -> float:
        per_set = [retrain_closeness(r["original"][key], r["methods"]["unsir"][key], r["methods"]["retrain"][key],
                                     CHANCE.get(key))
                   for r in unsir_runs("resnet18", count) if "retrain" in r["methods"]]
        return min(value for value in per_set if value == value)  # NaN: that set's retrain scores as its original

    shown = [" / ".join(minus(f"{worst(n, key):.2f}") for key in GAP_ROWS) for n in SIZES]
    assert row("| … the worst single set, kNN / loss AUC / KS")[1:6] == shown


def test_the_vit_paragraph_states_where_the_controls_come_closer_and_the_sets_that_did_not_move():
    for control in ("head-only", "logit-mask"):
        closeness = " / ".join(minus(f"{pooled_closeness('vit', n, 'mia_auc_forget', control):.2f}") for n in SIZES)
        assert f"{control} {closeness}" in PROSE
    unmoved = [sum(moved_in_features(r["original"], r["methods"]["unsir"]) is False for r in unsir_runs("vit", n))
               for n in SIZES]
    assert f"did not move on {sum(unmoved)} of the 25 sets ({' / '.join(map(str, unmoved))})" in PROSE


SPREAD_MEASURES = ("kNN on the forgotten", "loss AUC", "stranger KS")


def spread_rows(section: str, width: int) -> list[list[str]]:
    """The table rows of `width` cells in RETRAIN_SPREAD.md's section opening with `section`."""
    spread = (ROOT / "benchmarks" / "RETRAIN_SPREAD.md").read_text()
    text = spread[spread.index(section):]
    text = text[:text.find("\n## ", 1)] if "\n## " in text[1:] else text
    return [cells for cells in ([c.strip() for c in line.split("|")[1:-1]] for line in text.splitlines())
            if len(cells) == width]


def closeness_by_size(section: str) -> dict[tuple[str, str], list[str]]:
    """RETRAIN_SPREAD.md's table 'by the number of people forgotten' in the section opening with `section`:
    (people, measure) -> [sets [photos], the other retrain, UNSIR vs recorded, UNSIR vs the other retrain]."""
    return {(cells[0], cells[2]): [cells[1], *cells[3:]] for cells in spread_rows(section, 6) if cells[0].isdigit()}


def test_the_scorecard_quotes_how_close_a_second_retrain_comes_at_each_size():
    table = closeness_by_size("## How close to a retrain one can come")
    one_person = " / ".join(minus(table["1", m][1]) for m in SPREAD_MEASURES)
    assert f"the second retrain comes only {one_person} close to the first" in PROSE
    unsir_one_person = " / ".join(minus(table["1", m][2]) for m in SPREAD_MEASURES)
    assert f"where UNSIR comes {unsir_one_person}" in PROSE
    larger = [float(table[n, m][1]) for n in ("2", "5", "20") for m in SPREAD_MEASURES]
    assert f"the second retrain comes {min(larger):.2f}–{max(larger):.2f} close" in PROSE
    unsir_knn = " / ".join(minus(table[n, "kNN on the forgotten"][2]) for n in ("2", "5", "20"))
    assert f"UNSIR's shortfall there (kNN {unsir_knn})" in PROSE


def test_the_scorecard_sets_a_retrain_from_another_seed_beside_the_targets():
    """What the reference itself varies by, per size: a retrain of the same set from another seed, as close to the
    recorded retrain as RETRAIN_SPREAD.md measured it, with the number of sets retrained so."""
    table = closeness_by_size("## A retrain from another seed")

    def cell(n: int) -> str:
        if (str(n), SPREAD_MEASURES[0]) not in table:
            return "–"
        sets = table[str(n), SPREAD_MEASURES[0]][0].split()[0]
        return " / ".join(minus(table[str(n), m][1]) for m in SPREAD_MEASURES) + f" ({sets})"

    assert row("| … a retrain from another seed")[1:6] == [cell(n) for n in SIZES]
    # The verdict's reading: on the kNN a retrain from another seed comes no closer than UNSIR at 1, 5 and 10 people,
    # closer at 2 and 20; on the KS closer at every size.
    knn = {n: [float(v) for v in table[str(n), "kNN on the forgotten"][1:3]] for n in SIZES}
    assert [n for n in SIZES if knn[n][0] <= knn[n][1]] == [1, 5, 10]
    # On the loss AUC, of the sizes where UNSIR misses 0.8, a retrain from another seed does no better at 1 person.
    auc = {n: [float(v) for v in table[str(n), "loss AUC"][1:3]] for n in SIZES}
    missed = [n for n in SIZES if auc[n][1] < GAP_TARGET]
    assert [n for n in missed if auc[n][0] <= auc[n][1]] == [1] and missed == [1, 2]
    assert all(float(table[str(n), "stranger KS"][1]) > float(table[str(n), "stranger KS"][2]) for n in SIZES)
    sets = sum(int(table[str(n), SPREAD_MEASURES[0]][0].split()[0]) for n in SIZES)
    assert f"({sets} of the 25 sets retrained from another seed" in row("| … a retrain from another seed")[6]
    pooled = {cells[0]: cells[1:3] for cells in spread_rows("## A retrain from another seed", 4)}
    retrains, unsir = (" / ".join(pooled[m][i] for m in SPREAD_MEASURES) for i in (0, 1))
    assert (f"{sets} of these sets' retrains come {retrains} close to the\nrecorded ones on the kNN / loss AUC / KS, "
            f"where UNSIR comes {unsir} on the same sets") in README
