"""Unlearning methods side by side, each a small module over the shared training loop.

Every method takes (original model, ForgetRequest, config, progress) and returns an Outcome
holding a new model (UNSIR first yields what it shows part-way: `Method.steps`); the original is
never modified. A module declares its method once, as `METHOD = Method(...)`; adding a method is
adding its file here (and its tests).
"""
from __future__ import annotations

import importlib
import pkgutil
import typing
from collections.abc import Mapping
from dataclasses import replace
from .base import ForgetRequest, Method, Outcome, check_settings, settings

GROUPS = ["never looks at the forgotten photos", "reads the forgotten photos",
          "controls (hide the output; not unlearning)"]


def _discover() -> dict[str, Method]:
    declared = [module.METHOD for info in pkgutil.iter_modules(__path__)
                for module in [importlib.import_module(f"{__name__}.{info.name}")] if hasattr(module, "METHOD")]
    declared.sort(key=lambda m: (GROUPS.index(m.group), m.order, m.name))
    return {m.name: m for m in declared}


METHODS: dict[str, Method] = _discover()


def method(name: str) -> Method:
    if name not in METHODS:
        raise ValueError(f"Unknown method {name!r}: choose one of {', '.join(METHODS)}.")
    return METHODS[name]


def setting_fields() -> dict[str, dict]:
    """Every setting name across the methods -> {"range", "help", "default", "type", "per_arch", "per_size",
    "methods"} (for the CLI's flags and the app's fields); type: the value's (int for `int | None`);
    per_size: arch -> [(from how many people forgotten, the value)]."""
    merged: dict[str, dict] = {}
    for m in METHODS.values():
        hints = typing.get_type_hints(m.config)
        for name, f in settings(m.config).items():
            kind = next(t for t in typing.get_args(hints[name]) or (hints[name],) if t is not type(None))
            entry = merged.setdefault(name, {"range": f.metadata["range"], "help": f.metadata["help"],
                                             "default": f.default, "type": kind, "per_arch": {}, "per_size": {},
                                             "methods": []})
            entry["methods"].append(m.name)
            entry["per_arch"].update({arch: values[name] for arch, values in m.arch_defaults.items() if name in values})
            for arch, tiers in m.size_defaults.items():
                listed = entry["per_size"].setdefault(arch, [])
                for count, values in tiers:
                    if name in values and (not listed or listed[-1][1] != values[name]):  # a tier that changes it
                        listed.append((count, values[name]))
    return merged


def _coerced(value, default):
    """A value from a form or a flag in the setting's own type (10.0 -> 10 where the default is an int)."""
    if isinstance(default, bool) or value is None or default is None:
        return value
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def configure(name: str, card: dict, overrides: Mapping[str, object] | None = None, preset: str | None = None,
              forget_count: int | None = None):
    """The method's config for this model: its defaults for that many people forgotten (or a named preset), the
    overrides applied, every value checked. Shared by the CLI, the benchmark and the app; raises ValueError in
    words."""
    chosen = method(name)
    if preset not in (None, "default"):
        if preset not in chosen.presets:
            known = ", ".join(["default", *chosen.presets]) if chosen.presets else "none"
            raise ValueError(f"Unknown preset {preset!r} for {name}: choose one of {known}.")
        config = chosen.presets[preset](card["arch"])
    else:
        config = chosen.defaults(card, forget_count)
    known = settings(type(config))
    unknown = sorted(set(overrides or {}) - set(known))
    if unknown:
        raise ValueError(f"{name} has no setting {', '.join(unknown)}; its settings: {', '.join(known) or 'none'}.")
    config = replace(config, **{k: _coerced(v, known[k].default) for k, v in (overrides or {}).items()})
    check_settings(config, card["arch"])
    return config


__all__ = ["GROUPS", "METHODS", "ForgetRequest", "Method", "Outcome", "check_settings", "configure", "method",
           "setting_fields", "settings"]
