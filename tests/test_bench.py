import json

import pytest

from unsir.cli import main


def test_bench_writes_a_table_and_resumes(olivetti_checkpoint, tmp_path):
    out = tmp_path / "RESULTS.md"
    args = ["bench", "--checkpoint", str(olivetti_checkpoint), "--forget-counts", "1", "--seeds", "0",
            "--methods", "unsir,neggrad", "--relearn-seeds", "0", "--out", str(out)]
    assert main(args) == 0
    records = json.loads(out.with_suffix(".json").read_text())
    assert len(records) == 1 and set(records[0]["report"]["methods"]) == {"unsir", "neggrad"}
    table = out.read_text()
    assert "| resnet18 | 1 | unsir | 1 |" in table and "| resnet18 | 1 | original | 1 |" in table
    assert main(args) == 0  # resumes: nothing left to run, same records
    assert json.loads(out.with_suffix(".json").read_text()) == records


def retrain_record(checkpoint, count, knn, method="retrain", photos=4):
    return {"checkpoint": checkpoint, "count": count, "report": {"methods": {method: {
        "feature_knn_forget_acc": knn, "forget_test_acc": 0.0, "stranger_ks": float("nan"), "n_forget_test": photos,
        "seconds": 600.0}}}}


def test_the_retrain_reference_spans_the_retrained_models_of_that_checkpoint_and_size():
    from unsir.bench import retrain_reference

    shipped = "models/resnet18-lfw100"
    records = [retrain_record(shipped, 2, 0.7), retrain_record(shipped, 2, 0.6, photos=7), retrain_record(shipped, 20, 0.5),
               retrain_record("models/vit-lfw100", 2, 0.1), retrain_record(shipped, 2, 0.9, method="unsir"),
               retrain_record("elsewhere/resnet18-olivetti", 2, 0.2)]
    two = retrain_reference(records, "resnet18-lfw100", 2)
    assert (two.sizes, two.sets, two.photos, two.people()) == ((2,), 2, 11, "2 people")
    # every measured number of the entry; not one that could not be measured (NaN), nor a count, nor the seconds
    # of a run other than the method's
    assert two.ranges == {"feature_knn_forget_acc": (0.6, 0.7), "forget_test_acc": (0.0, 0.0)}
    # a size the benchmark did not retrain: the nearest sizes it did, on either side
    five = retrain_reference(records, "resnet18-lfw100", 5)
    assert (five.sizes, five.sets, five.people(), five.ranges["feature_knn_forget_acc"]) == ((2, 20), 3, "2–20 people",
                                                                                             (0.5, 0.7))
    assert retrain_reference(records, "resnet18-lfw100", 40).sizes == (20,)
    assert retrain_reference(records, "resnet18-olivetti", 2).ranges["feature_knn_forget_acc"] == (0.2, 0.2)
    assert retrain_reference(records, "vit-b16", 2) is None  # another model borrows no reference


def synthetic_record(seed, unsir_forget, retain_change, control_knn=0.8):
    def entry(forget, retain, knn, control=False, reads=False):
        return {"forget_test_acc": forget, "retain_test_acc": retain, "n_forget_test": 5, "feature_knn_forget_acc": knn,
                "feature_probe_forget_acc": knn, "mia_auc_forget": 0.6, "mia_forget": 0.1, "stranger_ks": 0.2,
                "seconds": 1.0, "control": control, "zero_glance": not reads, "hyperparameters": {}}

    report = {"seed": seed, "original": entry(0.9, 0.8, 0.8), "mia_variant": "m", "stranger_variant": "s",
              "methods": {"unsir": entry(unsir_forget, 0.8 + retain_change, 0.6),
                          "logit-mask": entry(0.0, 0.8, control_knn, control=True),
                          "someday": entry(0.5, 0.8, 0.8, reads=True)}}
    return {"checkpoint": "c", "arch": "resnet18", "count": 2, "seed": seed, "machine": "m", "command": "unsir bench",
            "load_average": 0.5, "report": report}


def test_the_worst_set_leads_and_no_method_is_dropped():
    from unsir.bench_markdown import markdown

    table = markdown([synthetic_record(1000, 0.0, -0.01), synthetic_record(1001, 0.2, -0.05)])
    assert table.index("## Worst forget set first") < table.index("## Every metric")
    # worst 20.0 % (seed 1001) and mean 10.0 % over 10 photos; kept change worst -5.0, mean -3.0 points
    assert "| resnet18 | 2 | unsir | 2 | 20.0 / 10.0 [10] | -5.0 / -3.0 | 60.0 [10] |" in table
    assert "| resnet18 | 2 | logit-mask (control) | 2 |" in table
    assert "| resnet18 | 2 | someday (reads forgotten photos) | 2 |" in table  # unknown to the registry, still reported
    assert "quiet" in table


def test_the_load_is_judged_against_the_cores_of_the_machine_that_ran_the_set():
    from unsir.bench_markdown import quietness

    assert "; quiet." in quietness([{**synthetic_record(1000, 0.0, 0.0), "load_average": 3.0, "cores": 4}])
    assert "shared with other work for 1 of 1 sets" in quietness([{**synthetic_record(1000, 0.0, 0.0),
                                                                    "load_average": 3.0, "cores": 2}])


def test_the_worst_set_table_counts_the_sets_where_the_features_did_not_move():
    """A pooled kNN can hide the sets where a method left the forgotten people where they were."""
    from unsir.bench_markdown import markdown

    barely = synthetic_record(1001, 0.0, -0.01)
    barely["report"]["methods"]["unsir"]["feature_knn_forget_acc"] = 0.76  # 4 points under the original's 80 %
    table = markdown([synthetic_record(1000, 0.0, -0.01), barely])
    assert "| unsir | 2 | 0.0 / 0.0 [10] | -1.0 / -1.0 | 68.0 [10] | 1 of 2 |" in table
    assert "| logit-mask (control) | 2 | 0.0 / 0.0 [10] | +0.0 / +0.0 | 80.0 [10] | 2 of 2 |" in table
    assert "| resnet18 | 2 | original | 2 | 90.0 / 90.0 [10] | – | 80.0 [10] | – |" in table


def test_which_method_when_says_who_cleared_the_bar_on_every_set_from_the_records_alone():
    from unsir.bench_markdown import markdown

    with_retrain = synthetic_record(1000, 0.0, -0.01)
    with_retrain["report"]["methods"]["retrain"] = {**with_retrain["report"]["original"], "forget_test_acc": 0.0,
                                                    "feature_knn_forget_acc": 0.5, "seconds": 300.0}
    table = markdown([with_retrain, synthetic_record(1001, 0.04, -0.049)])
    section = table[table.index("## Which method when"):table.index("## Every metric")]
    # 4 % named and 4.9 points lost clear the bar (5 %, 5 points); the kNN found 80 % (original), 60 % (unsir),
    # 50 % (retrain) of the same photos: two thirds of the way to retrain.
    assert "| resnet18 | unsir | no | met (2 sets) | 2: 0.67 | 2: 1.0 |" in section
    assert "| resnet18 | someday | yes | MISSED on 2 of 2: 2@1000 (50.0 % named), 2@1001 (50.0 % named) | 2: 0.00 |" in section
    assert ("- resnet18: without reading the forgotten photos, unsir met the bar on every set; reading them, no method; "
            "someday missed it on at least one set; of those that met it, at 2 people unsir came closest to retrain on "
            "the kNN (0.67); the fastest at 2 people was unsir (1.0 s).") in section
    # The control clears the same bar with the features untouched: its row stands beside the methods', the kNN
    # column tells them apart, and it is no contender in the plain answer (nor is the reference, retrain).
    assert "| resnet18 | logit-mask (control) | no | met (2 sets) | 2: 0.00 | 2: 1.0 |" in section
    assert "logit-mask" not in section.splitlines()[-2] and "| retrain" not in section
    alone = markdown([{**r, "report": {**r["report"], "methods": {"unsir": r["report"]["methods"]["unsir"]}}}
                      for r in (synthetic_record(1000, 0.0, -0.01),)])
    assert "## Which method when" not in alone  # one method measured: nothing to choose between


def test_an_unmeasured_value_in_memory_is_left_out_of_the_mean():
    from unsir.bench_markdown import _mean_std

    assert _mean_std([0.5, float("nan"), 0.7, None]) == "0.6 ± 0.141"
    assert _mean_std([float("nan")]) == "–"


def test_the_verdicts_name_each_target_met_or_missed_and_unsir_against_the_control():
    from unsir.bench_markdown import markdown

    table = markdown([synthetic_record(1000, 0.0, -0.01), synthetic_record(1001, 0.2, -0.05)])
    line = next(line for line in table.splitlines() if line.startswith("- resnet18, 2 forgotten, unsir, 2 sets:"))
    assert "forgotten ≤ 1 % on every set: MISSED (worst 20.0 %)" in line
    assert "kept within 3 points: MISSED (worst -5.0)" in line
    assert "kNN gap: no retrain on these sets" in line
    # UNSIR's kNN (60 %) is 20 points under the control's (80 %), but its KS is the same: not told apart on both.
    assert "against logit-mask: no retrain to judge closeness: kNN -20.0 points, KS +0.00 → NOT told apart on both" in line
    # Every method but retrain and the controls gets its own verdict; one that read the forgotten photos says so.
    verdicts = [line for line in table.splitlines() if line.startswith("- resnet18, 2 forgotten")]
    assert [v.split(",")[2].strip() for v in verdicts] == ["unsir", "someday (reads forgotten photos)"]


def with_retrain(record, retrain_knn, photos, unsir_knn, unsir_gap):
    methods = record["report"]["methods"]
    methods["retrain"] = {**methods["unsir"], "feature_knn_forget_acc": retrain_knn}
    methods["unsir"].update(feature_knn_forget_acc=unsir_knn, gap_closed={"feature_knn_forget_acc": unsir_gap})
    for entry in methods.values():
        entry["n_forget_test"] = photos
    return record


def verdict_line(records):
    from unsir.bench_markdown import markdown

    return next(line for line in markdown(records).splitlines() if line.startswith("- resnet18, 2 forgotten, unsir"))


def test_the_knn_target_is_judged_on_the_photos_pooled_over_the_sets_with_a_retrain():
    # Original 80 % on both. A set of 3 photos closes the whole gap (retrain 0 %, UNSIR 0 %); a set of 30 closes a
    # half of it (retrain 40 %, UNSIR 60 %). Pooled over 33 photos: UNSIR 6/33 from the retrains, the original 14.4/33:
    # 0.58 of the way (the signed share, from original 80 %, UNSIR 54.5 %, retrain 36.4 %, says the same).
    records = [with_retrain(synthetic_record(1000, 0.0, 0.0), 0.0, 3, 0.0, 1.0),
               with_retrain(synthetic_record(1001, 0.0, 0.0), 0.4, 30, 0.6, 0.5)]
    line = verdict_line(records)
    assert ("kNN closeness to retrain ≥ 0.8, photos pooled: MISSED (0.58; signed share 0.58: original 80.0 %, unsir "
            "54.5 %, retrain 36.4 %; 2 sets with a retrain, 33 photos; per set 1.00, 0.50: 1 of 2 below 0.8)") in line


def test_the_loss_auc_and_ks_targets_are_judged_pooled_with_the_sets_that_fall_short_named():
    # A set of 2 photos whose retrain barely moved the loss AUC (0.80 → 0.70) where UNSIR went to chance (0.50):
    # 3.0 of the gap, signed, but twice as far from its retrain as the original was (closeness -1); a set of 20
    # photos closes half of a real gap (0.80 → 0.50, UNSIR 0.65). By distance from chance, photos pooled: UNSIR
    # 3.4/22 from the retrains, the original 6.2/22: 0.45, missed on both sets. The signed share (original 0.30,
    # UNSIR 0.136, retrain 0.018) lets the overshoot count as progress: 0.58.
    small, large = (with_retrain(synthetic_record(seed, 0.0, 0.0), 0.5, photos, 0.6, 0.5)
                    for seed, photos in ((1000, 2), (1001, 20)))
    for record, retrain_auc, unsir_auc, share in ((small, 0.7, 0.5, 3.0), (large, 0.5, 0.65, 0.5)):
        methods = record["report"]["methods"]
        record["report"]["original"]["mia_auc_forget"] = 0.8
        methods["retrain"]["mia_auc_forget"], methods["unsir"]["mia_auc_forget"] = retrain_auc, unsir_auc
        methods["unsir"]["gap_closed"]["mia_auc_forget"] = share
    line = verdict_line([small, large])
    assert ("loss AUC closeness to retrain ≥ 0.8, photos pooled: MISSED (0.45; signed share 0.58: distance from "
            "chance: original 0.300, unsir 0.136, retrain 0.018; 2 sets with a retrain, 22 photos; per set -1.00, "
            "0.50: 2 of 2 below 0.8)") in line
    # the same KS everywhere (0.2): the retrain moved nothing, so no gap is claimed either way
    assert "KS gap: none to close (2 sets with a retrain, 22 photos" in line


def test_overshooting_one_set_does_not_make_up_for_falling_short_on_another():
    # Original 80 % on both sets of 10 photos, each retrain 40 %. UNSIR goes to 0 % on one (twice past its retrain)
    # and stays at 80 % on the other: pooled, 40 %, the retrains' pooled accuracy, so the signed share is 1.00; but
    # it is 40 points from its retrain on each set, as far as the original: closeness 0.
    records = [with_retrain(synthetic_record(seed, 0.0, 0.0), 0.4, 10, unsir_knn, float("nan"))
               for seed, unsir_knn in ((1000, 0.0), (1001, 0.8))]
    line = verdict_line(records)
    assert ("kNN closeness to retrain ≥ 0.8, photos pooled: MISSED (0.00; signed share 1.00: original 80.0 %, unsir "
            "40.0 %, retrain 40.0 %; 2 sets with a retrain, 20 photos; per set 0.00, 0.00: 2 of 2 below 0.8)") in line


def test_a_method_where_the_retrains_are_meets_the_gap_targets_and_is_told_apart_from_the_control():
    # Original kNN 80 %, KS 0.9 on both sets; the retrains and UNSIR 40 %, 0.1; the control stays at the original.
    records = [with_retrain(synthetic_record(seed, 0.0, 0.0), 0.4, 10, 0.4, float("nan")) for seed in (1000, 1001)]
    for record in records:
        record["report"]["original"]["stranger_ks"] = record["report"]["methods"]["logit-mask"]["stranger_ks"] = 0.9
        record["report"]["methods"]["retrain"]["stranger_ks"] = record["report"]["methods"]["unsir"]["stranger_ks"] = 0.1
    line = verdict_line(records)
    assert "kNN closeness to retrain ≥ 0.8, photos pooled: met (1.00; signed share 1.00:" in line
    assert "KS closeness to retrain ≥ 0.8, photos pooled: met (1.00; signed share 1.00:" in line
    assert "against logit-mask: closer to retrain by +1.00 on the kNN and +1.00 on the KS → told apart" in line


def test_a_method_past_the_retrains_overall_is_said_to_be():
    records = [with_retrain(synthetic_record(1000, 0.0, 0.0), 0.4, 10, 0.2, float("nan"))]
    assert "MISSED (0.50; signed share 1.50, past the retrains overall:" in verdict_line(records)


def test_loss_aucs_on_either_side_of_chance_do_not_pool_to_chance():
    # UNSIR drives one set's AUC to 0.2 and another's to 0.8, where both retrains sit at 0.5: averaged, the
    # AUCs would read as chance, like the retrains; an attacker reads each set as well as the original's 0.8.
    records = [with_retrain(synthetic_record(seed, 0.0, 0.0), 0.5, 10, 0.6, 0.5) for seed in (1000, 1001)]
    for record, unsir_auc in zip(records, (0.2, 0.8)):
        methods = record["report"]["methods"]
        record["report"]["original"]["mia_auc_forget"] = 0.8
        methods["retrain"]["mia_auc_forget"], methods["unsir"]["mia_auc_forget"] = 0.5, unsir_auc
    line = verdict_line(records)
    assert ("loss AUC closeness to retrain ≥ 0.8, photos pooled: MISSED (0.00; signed share 0.00: distance from "
            "chance: original 0.300, unsir 0.300, retrain 0.000;") in line


def test_where_the_retrained_model_finds_the_forgotten_as_often_no_knn_gap_is_claimed():
    line = verdict_line([with_retrain(synthetic_record(1000, 0.0, 0.0), 0.8, 4, 0.6, float("nan"))])
    assert "kNN gap: none to close (1 set with a retrain, 4 photos" in line and "retrain 80.0 %" in line
    assert "MISSED" not in line and "met" not in line.split("kNN gap")[1].split(";")[0]


def test_the_vit_is_held_to_its_own_accuracy_targets():
    from unsir.bench_markdown import markdown

    records = [{**synthetic_record(1000, 0.015, -0.045), "arch": "vit"}]  # 1.5 % left, 4.5 points lost
    line = next(line for line in markdown(records).splitlines() if line.startswith("- vit, 2 forgotten, unsir"))
    assert "forgotten ≤ 2 % on every set: met (worst 1.5 %)" in line and "kept within 5 points: met (worst -4.5)" in line


def test_each_method_is_one_row_retrain_first():
    from unsir.bench_markdown import method_order

    reports = [{"methods": {"unsir": {}, "retrain": {}, "head-only": {}}}]
    assert method_order(reports) == ["retrain", "unsir", "head-only"]


def test_a_record_names_the_unsir_settings_that_differ_from_todays_defaults():
    from dataclasses import asdict

    from unsir.bench_markdown import _unsir_changes
    from unsir.methods import configure

    today = asdict(configure("unsir", {"arch": "resnet18"}))
    record = synthetic_record(1000, 0.0, -0.01)
    record["report"]["methods"]["unsir"]["hyperparameters"] = {**today, "retain_per_id": 10}
    assert _unsir_changes(record) == "retain_per_id=10"
    # Older records lack the settings added since: they did what the setting's field default does (every
    # block learned, no frozen BatchNorm), except noise_budget, which was no limit.
    for added in ("impair_frozen_norm", "noise_budget", "learn_from"):
        del record["report"]["methods"]["unsir"]["hyperparameters"][added]
    assert _unsir_changes(record) == "retain_per_id=10, noise_budget=None, learn_from=''"
    # A twenty-person set is held to the defaults for twenty people.
    large = {**record, "count": 20}
    large["report"]["methods"]["unsir"]["hyperparameters"] = asdict(configure("unsir", {"arch": "resnet18"},
                                                                              forget_count=20))
    assert _unsir_changes(large) == "today's defaults"


def test_a_retrain_read_from_the_cache_is_not_called_timed_in_the_same_run():
    from unsir.bench_markdown import markdown

    fresh, cached = synthetic_record(1000, 0.0, -0.01), synthetic_record(1001, 0.0, -0.01)
    for record, hyperparameters in ((fresh, {}), (cached, {"cached": "runs/retrain/abc"})):
        record["report"]["methods"]["retrain"] = {**record["report"]["methods"]["unsir"], "seconds": 30.0,
                                                  "hyperparameters": hyperparameters}
    speed = markdown([fresh, cached]).split("Speed:")[1]
    assert "- resnet18, 2 forgotten: 30x\n" in speed  # trained in this run
    assert "- resnet18, 2 forgotten: 30x (retrain from the cache)" in speed


def test_a_methods_column_rerun_replaces_only_that_method_and_is_named():
    from unsir.bench import with_method_rerun
    from unsir.bench_markdown import markdown

    def measured(seed, unsir_forget, retrain_hash="r"):
        record = synthetic_record(seed, unsir_forget, -0.01)
        record["report"]["sha256"] = {"unsir": f"u{unsir_forget}", "retrain": retrain_hash}
        return record

    records = [measured(1000, 0.2), measured(1001, 0.2)]
    reruns = [{**measured(s, 0.0), "command": "unsir bench --methods unsir,retrain"} for s in (1000, 1001)]
    merged = with_method_rerun(records, reruns, "unsir")
    for before, after in zip(records, merged):
        assert after["report"]["methods"]["unsir"]["forget_test_acc"] == 0.0 and after["report"]["sha256"]["unsir"] == "u0.0"
        assert after["report"]["methods"]["logit-mask"] == before["report"]["methods"]["logit-mask"]
        assert after["command"] == "unsir bench"
    assert "The resnet18 unsir column was measured again, on the same sets, by `unsir bench --methods unsir,retrain`." in markdown(merged)
    # Two columns measured again by the same commands are named together.
    for record in reruns:
        record["report"]["sha256"]["someday"] = "s"
    both = with_method_rerun(merged, reruns, "someday")
    assert ("The resnet18 someday, unsir columns were measured again, on the same sets, by "
            "`unsir bench --methods unsir,retrain`.") in markdown(both)
    with pytest.raises(ValueError, match="not the same retrained model"):
        with_method_rerun(records, [{**measured(s, 0.0, "other"), "command": "c"} for s in (1000, 1001)], "unsir")
    with pytest.raises(ValueError, match="no rerun of resnet18 2@1001"):
        with_method_rerun(records, reruns[:1], "unsir")


def test_a_rerun_without_a_retrain_is_scored_against_the_recorded_retrain():
    from unsir.bench import with_method_rerun

    record = synthetic_record(1000, 0.2, -0.01)
    record["report"]["methods"]["retrain"] = {**record["report"]["original"], "forget_test_acc": 0.0,
                                              "feature_knn_forget_acc": 0.4}
    record["report"]["methods"]["unsir"]["layer_distance_to_retrain"] = {"fc": 1.0}
    record["report"]["sha256"] = {"original": "o", "unsir": "u", "retrain": "r"}
    rerun = synthetic_record(1000, 0.0, -0.01)
    rerun["report"]["methods"]["unsir"].update(feature_knn_forget_acc=0.5, layer_distance_to_retrain={"fc": 2.0})
    rerun["report"]["sha256"] = {"original": "o", "unsir": "u2"}
    merged = with_method_rerun([record], [{**rerun, "command": "unsir bench --methods unsir"}], "unsir")[0]
    unsir = merged["report"]["methods"]["unsir"]
    # The original's kNN found 80 %, the recorded retrain's 40 %, the rerun's 50 %: three quarters of the gap.
    assert unsir["gap_closed"]["feature_knn_forget_acc"] == pytest.approx(0.75)
    assert unsir["gap_closed"]["forget_test_acc"] == pytest.approx(1.0)
    assert "layer_distance_to_retrain" not in unsir  # it would need the retrained weights
    assert merged["report"]["methods"]["retrain"] == record["report"]["methods"]["retrain"]
    other_model = {**rerun, "report": {**rerun["report"], "sha256": {"original": "o2", "unsir": "u2"}}}
    with pytest.raises(ValueError, match="not the same original model"):
        with_method_rerun([record], [{**other_model, "command": "c"}], "unsir")


def test_a_retrain_measured_afterwards_scores_every_method_of_its_set_and_is_named():
    from unsir.bench import with_retrains_added
    from unsir.bench_markdown import markdown

    record = synthetic_record(1000, 0.0, -0.01)
    record["report"]["sha256"] = {"original": "o", "unsir": "u"}
    other = synthetic_record(1001, 0.0, -0.01)
    later = synthetic_record(1000, 0.0, -0.01)
    later["report"]["methods"] = {"retrain": {**later["report"]["original"], "forget_test_acc": 0.0, "seconds": 300.0,
                                              "feature_knn_forget_acc": 0.4, "layer_distance_to_retrain": {"fc": 0.0}}}
    later["report"]["sha256"] = {"original": "o", "retrain": "r"}
    later["command"], later["load_average"] = "unsir bench --methods retrain", 2.5
    merged = with_retrains_added([record, other], [later])
    assert merged[1] == other  # a set without a later retrain is left as it was
    report = merged[0]["report"]
    # The original's kNN found 80 %, the retrain's 40 %, UNSIR's 60 %: half the gap; the control's 80 %: none.
    assert report["methods"]["unsir"]["gap_closed"]["feature_knn_forget_acc"] == pytest.approx(0.5)
    assert report["methods"]["logit-mask"]["gap_closed"]["feature_knn_forget_acc"] == pytest.approx(0.0)
    assert report["methods"]["retrain"]["added_by"] == {"command": "unsir bench --methods retrain", "load_average": 2.5}
    assert "layer_distance_to_retrain" not in report["methods"]["retrain"]
    assert report["sha256"]["retrain"] == "r" and report["methods"]["unsir"]["forget_test_acc"] == 0.0
    table = markdown(merged)
    assert ("The retrained models of resnet18 2@1000 were measured afterwards, by `unsir bench --methods retrain` "
            "(1-minute load 2.5 after each)" in table)
    assert "Speed:" not in table  # 300 s of another run are not set against this run's UNSIR
    with pytest.raises(ValueError, match="resnet18 2@1000 already has a retrained model"):
        with_retrains_added(merged, [later])
    with pytest.raises(ValueError, match="not the same original model"):
        with_retrains_added([record], [{**later, "report": {**later["report"], "sha256": {"original": "x", "retrain": "r"}}}])
    with pytest.raises(ValueError, match="retrains of sets not in the records"):
        with_retrains_added([other], [later])


def test_a_relearn_that_hit_the_cap_is_shown_as_more_than_the_cap_not_averaged_away():
    from unsir.bench_markdown import _cell
    from unsir.metrics import RELEARN_CAP

    assert _cell([None, None], "relearn_epochs") == f"> {RELEARN_CAP}"
    assert _cell([4, None, 6], "relearn_epochs") == f"5 ± 1.41 (1 run > {RELEARN_CAP})"
    assert _cell([4, None, None], "relearn_epochs") == f"4 (2 runs > {RELEARN_CAP})"


def test_relearn_times_measured_afterwards_join_the_same_models_only():
    from unsir.bench import with_relearn_added
    from unsir.bench_markdown import markdown

    record = synthetic_record(1000, 0.0, -0.01)
    for name, entry in record["report"]["methods"].items():
        entry["sha256"] = name
    later = synthetic_record(1000, 0.0, -0.01)
    later["report"]["methods"] = {"unsir": {"sha256": "unsir", "relearn_epochs": 9},
                                  "logit-mask": {"sha256": "logit-mask"}}  # no relearn measured: left as it was
    later["command"] = "unsir bench --relearn-seeds 1"
    merged = with_relearn_added([record], [later])[0]["report"]["methods"]
    assert merged["unsir"]["relearn_epochs"] == 9 and merged["unsir"]["relearn_added_by"] == later["command"]
    assert merged["logit-mask"] == record["report"]["methods"]["logit-mask"]
    assert ("The relearn times of resnet18 2@1000 unsir were measured afterwards, on the same models (the same "
            "weights), by `unsir bench --relearn-seeds 1`.") in markdown(with_relearn_added([record], [later]))
    with pytest.raises(ValueError, match="already has its relearn time"):
        with_relearn_added(with_relearn_added([record], [later]), [later])
    retrained = {**later, "report": {**later["report"], "methods": {"unsir": {"sha256": "other", "relearn_epochs": 3}}}}
    with pytest.raises(ValueError, match="unsir is not the recorded model"):
        with_relearn_added([record], [retrained])
