"""What a request achieved, in words: a verdict per forgotten person (never more than their held-out
photos show), what ran and what it read, and the kept people who paid for it."""
from __future__ import annotations

import torch

from unsir.evaluation import knn_moved
from unsir.reports import FORGOTTEN_AT_MOST, not_measured, not_zero_glance

from .. import figures
from .session import METHOD_LABELS, Request, open_workspace

COLLATERAL_SHOWN = 5  # kept people listed under "collateral damage"


def test_photos(checkpoint: str) -> dict[str, int]:
    ws = open_workspace(checkpoint)
    return dict(zip(ws.names, torch.bincount(ws.split.test.labels, minlength=len(ws.names)).tolist()))


def verdicts(entry: dict, photos: dict[str, int], original: dict | None = None, retrained: dict | None = None
             ) -> tuple[list[str], list[str], list[str]]:
    """(one verdict per forgotten person, the people still recognised on more than 1 % of their photos, those
    whose features did not move). A person with no held-out photo is neither: nothing shows either way. Not
    being named is what the output shows; where the features were measured, each line adds how many of the
    person's held-out photos a nearest-neighbour search there still finds, found before, and finds in a model
    retrained without them (`retrained`, where one ran)."""
    lines, still = [], []
    unmoved = [name for name in entry["forget_per_identity_test_acc"]
               if knn_moved(*person_knn(name, entry, original or {})) is False]
    for name, accuracy in entry["forget_per_identity_test_acc"].items():
        if accuracy is None or accuracy != accuracy:  # no held-out photo: nothing shows they are gone
            lines.append(f"- **{figures.readable(name)}: not measured** (no held-out photos)")
            continue
        named = round(accuracy * photos[name])
        before = (original or {}).get("forget_per_identity_test_acc", {}).get(name)
        named_before = None if before is None or before != before else round(before * photos[name])
        counted = (f"{named} of {photos[name]} held-out photos named as them"
                   + ("" if named_before is None else f"; {named_before} before"))
        if accuracy > FORGOTTEN_AT_MOST:
            still.append(name)
            line = f"- **{figures.readable(name)}: still recognised** on {accuracy:.0%} ({counted})"
        elif named:  # within the line, yet not none: the page says how many, never "no longer"
            line = f"- {figures.readable(name)}: named on at most {FORGOTTEN_AT_MOST:.0%} of their photos ({counted})"
        elif named_before == 0:  # nothing to take credit for: the original did not name them either
            line = f"- {figures.readable(name)}: not named, nor was before ({counted})"
        else:
            line = f"- {figures.readable(name)}: no longer named ({counted})"
        lines.append(line + in_the_features(name, entry, original or {}, photos[name], retrained))
    return lines, still, unmoved


def person_knn(name: str, entry: dict, original: dict) -> tuple[float | None, float | None]:
    """The kNN's share of one forgotten person's held-out photos (before, after); None where not measured."""
    key = "feature_knn_forget_per_identity_acc"
    return (original.get(key) or {}).get(name), (entry.get(key) or {}).get(name)


def in_the_features(name: str, entry: dict, original: dict, photos: int, retrained: dict | None = None) -> str:
    """'; in the features, nearest neighbours find 16 of 24 (20 before)', '... 21 of 24 (20 before: not moved)'
    where they found no fewer than before (the features panel's rule, per person), '... (20 before; a model
    retrained without them: 15)' where a retrain ran (faces look alike: it finds some too), or '' where not
    measured."""
    before, after = person_knn(name, entry, original)
    if after is None or after != after:
        return ""
    notes = []
    if before is not None and before == before:
        notes.append(f"{round(before * photos)} before{'' if knn_moved(before, after) else ': not moved'}")
    _, gold = person_knn(name, retrained or {}, {})
    if gold is not None and gold == gold:
        notes.append(f"a model retrained without them: {round(gold * photos)}")
    was = f" ({'; '.join(notes)})" if notes else ""
    return f"; in the features, nearest neighbours find {round(after * photos)} of {photos}{was}"


def status_line(request: Request, forgotten: list[str], photos: dict[str, int], inside: str = "",
                retrained: dict | None = None) -> str:
    """What the request ran, a verdict per person asked for so far, and `inside`, the features panel's verdict in
    a few words (a person no longer named may still be found in the features); `retrained`: the entry of a model
    retrained without them, where one ran."""
    return verdict_lines(request.method, request.names, request.report["methods"][request.method],
                         request.report["device"], forgotten, photos, original=request.report["original"],
                         inside=inside, earlier=request.report["requests"][:-1], retrained=retrained)


def verdict_lines(method: str, names: list[str], entry: dict, device: str, forgotten: list[str],
                  photos: dict[str, int], measuring: bool = False, original: dict | None = None,
                  inside: str = "", earlier: list[dict] = (), retrained: dict | None = None) -> str:
    """What ran, and a verdict per person asked for so far: never more than the held-out photos show. `earlier`:
    the session's requests before this one, each with what it read."""
    asked = ", ".join(figures.readable(n) for n in names)
    label = METHOD_LABELS.get(method, method)
    if entry.get("control"):  # no badge for a control: it hides people, whatever it read
        read = f"It read {entry['data_read']}."
    elif entry["zero_glance"]:
        read = f"Zero-glance: it read only {entry['data_read']}."
    else:
        read = f"NOT zero-glance: it read {entry['data_read']}."
    looked = [METHOD_LABELS.get(earlier[i]["method"], earlier[i]["method"]) for i in not_zero_glance(earlier)]
    if looked and entry["zero_glance"]:
        read += (f" An earlier request on this model ({', '.join(dict.fromkeys(looked))}) read the forgotten "
                 "people's photos: the model as a whole is **not** zero-glance.")
    lines, still, unmoved = verdicts(entry, photos, original, retrained)
    warning = []
    if still:
        warning = [f"⚠️ **Still named:** {', '.join(figures.readable(n) for n in still)} "
                   f"{'is' if len(still) == 1 else 'are'} still named on more than {FORGOTTEN_AT_MOST:.0%} of "
                   "their held-out photos.", ""]
    unchecked = not_measured(entry["forget_per_identity_test_acc"])
    if unchecked:
        warning += [f"⚠️ **Cannot be checked:** {', '.join(figures.readable(n) for n in unchecked)} "
                    f"{'has' if len(unchecked) == 1 else 'have'} no held-out photo, so nothing here shows whether "
                    f"{'they are' if len(unchecked) > 1 else 'this person is'} still named.", ""]
    follows = ["", "*Still measuring: the membership attack, strangers, the features, GradCAM and the charts "
                   "follow below.*"] if measuring else []
    if inside:
        # The panel pools every forgotten photo: a set that moved may hold a person who did not.
        if unmoved and inside.startswith("Moved"):
            inside += f", though not for {', '.join(figures.readable(n) for n in unmoved)}"
        follows = ["", f"Inside the model: **{inside}** (the evidence below, under *Can the forgotten people still be "
                       "found inside the model?*)."]
    if entry.get("control"):
        warning = [f"⚠️ **Control, not unlearning:** {label} only hides these people at the output; the model still "
                   "holds them.", "", *warning]
    return "\n".join([
        *warning,
        f"**{label} ran on {asked}** in {entry['seconds']:.1f} s on {device}. {read}",
        "",
        f"Asked to forget so far: {', '.join(figures.readable(n) for n in forgotten)}. Per person, on photos "
        "no model trained on:",
        "",
        *lines,
        *follows,
    ])


def collateral_damage(kept: dict[str, tuple[float, float, int]], shown: int = COLLATERAL_SHOWN) -> str:
    """The kept people who lost the most held-out accuracy: the unlearning's cost to everyone else."""
    changes = sorted(((before - after, name, before, after, photos) for name, (before, after, photos) in kept.items()
                      if before == before and after == after), key=lambda c: (-c[0], c[1]))
    lost = [c for c in changes if c[0] > 1e-9]
    gained = sum(1 for c in changes if c[0] < -1e-9)
    if not lost:
        return (f"**Collateral damage:** none of the {len(kept)} kept people lost accuracy on their held-out photos"
                f" ({gained} gained).")
    lines = [f"**Collateral damage:** {len(lost)} of {len(kept)} kept people lost accuracy on their held-out photos"
             f" ({gained} gained). The most:", "",
             "| Kept person | Original | Unlearned | Held-out photos |", "|---|---:|---:|---:|"]
    lines += [f"| {figures.readable(name)} | {before:.0%} | {after:.0%} | {photos} |"
              for _, name, before, after, photos in lost[:shown]]
    return "\n".join(lines)
