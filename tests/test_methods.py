"""The method registry: each method declared once, in its own file, and everything else derived from it."""
from __future__ import annotations

import dataclasses
import json
import pkgutil

import pytest

import unsir.methods as methods
from unsir.bench_markdown import method_order
from unsir.cli import build_parser
from unsir.methods import GROUPS, METHODS, Method, configure, settings


def test_every_module_of_the_methods_package_declares_a_method():
    modules = {info.name for info in pkgutil.iter_modules(methods.__path__)} - {"base"}
    declared = {METHODS[name].run.__module__.rsplit(".", 1)[1] for name in METHODS}
    assert modules == declared


@pytest.mark.parametrize("name", list(METHODS))
def test_a_registered_method_has_everything_the_cli_app_and_bench_need(name, olivetti_checkpoint):
    method = METHODS[name]
    assert isinstance(method, Method) and method.name == name
    assert method.label and method.summary and callable(method.run)
    assert isinstance(method.zero_glance, bool) and isinstance(method.control, bool)
    assert method.group in GROUPS
    assert dataclasses.is_dataclass(method.config) and method.config.__dataclass_params__.frozen
    card = json.loads((olivetti_checkpoint / "card.json").read_text())
    for arch in ("resnet18", "vit"):
        config = configure(name, {**card, "arch": arch})  # defaults exist for every model and pass their own checks
        assert isinstance(config, method.config)
    for setting, field in settings(method.config).items():
        assert field.metadata["help"], f"{name}.{setting} has no help"
        if isinstance(field.default, (int, float)) and not isinstance(field.default, bool):
            assert field.metadata["range"], f"{name}.{setting} is a number without a range"
    assert name in method_order([{"methods": {m: {} for m in METHODS}}])  # a column in RESULTS.md


def test_the_registry_lists_methods_by_group_and_the_cli_offers_each_with_its_settings():
    order = [GROUPS.index(m.group) for m in METHODS.values()]
    assert order == sorted(order) and next(iter(METHODS)) == "unsir"
    forget = build_parser()._subparsers._group_actions[0].choices["forget"]
    flags = {option for action in forget._actions for option in action.option_strings}
    every_setting = {s for m in METHODS.values() for s in settings(m.config)}
    assert {"--" + s.replace("_", "-") for s in every_setting} <= flags
    assert "--classifier-lr-scale" in flags  # the one that differs per architecture is reachable
    assert all(name in forget.format_help() for name in METHODS)


def test_unsir_changes_its_recipe_for_large_requests_on_the_resnet18_only():
    from unsir.methods.unsir import SIZE_DEFAULTS, defaults_for

    (ten, second_impair), (twenty, paid_for) = SIZE_DEFAULTS["resnet18"]
    resnet18 = {"arch": "resnet18"}
    below = configure("unsir", resnet18, forget_count=ten - 1)
    assert below == configure("unsir", resnet18) == defaults_for("resnet18")  # no count: the recipe for any request
    # each tier applies from its size on, the last one reached on its own (not added to the one before)
    for count, changes in ((ten, second_impair), (twenty - 1, second_impair), (twenty, paid_for), (100, paid_for)):
        assert configure("unsir", resnet18, forget_count=count) == dataclasses.replace(below, **changes) != below
    # what a person sets still wins over the size's default
    assert configure("unsir", resnet18, {"retain_per_id": 8}, forget_count=twenty).retain_per_id == 8
    assert configure("unsir", {"arch": "vit"}, forget_count=twenty) == configure("unsir", {"arch": "vit"})
    assert configure("unsir", resnet18, preset="paper", forget_count=twenty) == configure("unsir", resnet18,
                                                                                           preset="paper")


def test_zero_glance_is_stated_once_by_the_method_not_by_its_outcome(olivetti):
    from unsir.forgetting import forget

    run = forget(olivetti.model, olivetti.card, olivetti.split, ["person_01"],
                 methods={"logit-mask": None, "neggrad": configure("neggrad", olivetti.card, {"epochs": 1})})
    for name, entry in run.report["methods"].items():
        assert entry["zero_glance"] == METHODS[name].zero_glance
        assert entry["control"] == METHODS[name].control


def test_a_method_not_tuned_for_a_model_says_so_before_it_runs(olivetti_checkpoint, capsys, monkeypatch):
    """Three compared methods have no settings tested safe for the ViT (SSD's tuned setting failed on the
    benchmark's sets, benchmarks/METHODS-vit.md): each says so before it runs on one; UNSIR, Random Labels
    and SalUn (tuned for it), and every method on the ResNet18, say nothing."""
    from unsir.cli import main

    assert {name for name, m in METHODS.items() if m.caution("vit")} == {"ssd", "bad-teacher", "scrub"}
    assert "SWEEP-methods-vit.md" in METHODS["scrub"].caution("vit")
    assert not any(m.caution("resnet18") for m in METHODS.values())
    monkeypatch.setitem(METHODS, "neggrad", dataclasses.replace(METHODS["neggrad"], untuned={"resnet18": "a test"}))
    assert main(["forget", "--checkpoint", str(olivetti_checkpoint), "--forget", "person_01",
                 "--methods", "neggrad"]) == 0
    assert "note: NegGrad has no settings tested safe for the resnet18: a test" in capsys.readouterr().err
