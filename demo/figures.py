"""Figure builders: plain numbers and images in, a matplotlib Figure out.

Figures are built with `matplotlib.figure.Figure`, never pyplot, so concurrent sessions
never share drawing state. Each builder takes `narrow`: for a phone, panels go one under another
in a figure drawn about as wide as the phone shows it, so its text is not shrunk to a thumbnail's.
"""
from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

# One colour per model, the same in every figure.
ORIGINAL, UNLEARNED, RETRAINED = "#5c7cfa", "#f08c00", "#2f9e44"
FORGOTTEN, KEPT = "#e03131", "#adb5bd"
RIGHT_PERSON = "#2b8a3e"
NEUTRAL = "#495057"
MISSING_STRANGERS = "Strangers are not available for this dataset (it holds no people outside the model's)."
MAX_BARS = 30  # people listed in the per-identity chart; more would be unreadable
DPI = 110
# A 390 px phone shows a chart 326 px wide (tests/test_app_browser.py): drawn 330 px wide, its text keeps its size.
PHONE_INCHES = 3.0
PANELS_PER_ROW = 3


@dataclass
class Column:
    """One model's side of a before | after comparison."""

    title: str
    colour: str
    entry: dict  # its part of the report: retain_test_acc, forget_per_identity_test_acc, ...
    forgotten_confidence: list[float]  # max-softmax on every photo of the forgotten people
    stranger_confidence: list[float]  # max-softmax on one photo each of people never trained on


@dataclass
class CamPhoto:
    """One test photo with what the original and the unlearned model see in it."""

    photo: np.ndarray  # uint8 HxWx3
    person: str
    forgotten: bool
    original: tuple[np.ndarray, str, float]  # (CAM overlay, predicted name, confidence)
    unlearned: tuple[np.ndarray, str, float]


def readable(name: str) -> str:
    return name.replace("_", " ")


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _layout(count: int, narrow: bool) -> tuple[int, int]:
    """(rows, columns) of `count` panels, one per model: one under another on a phone, elsewhere up to
    PANELS_PER_ROW side by side: compare mode sets a panel per method, and in one row they were drawn so wide that
    the page, which shows a chart at most 1000 px wide, shrank their text to a third."""
    return (count, 1) if narrow else (math.ceil(count / PANELS_PER_ROW), min(count, PANELS_PER_ROW))


def _panel(figure: Figure, index: int, count: int, narrow: bool, **kwargs):
    """Axes `index` of `count`, laid out by `_layout`."""
    return figure.add_subplot(*_layout(count, narrow), index + 1, **kwargs)


def fitted(text: str, inches: float, fontsize: float) -> str:
    """`text` broken into lines that fit `inches` at `fontsize` (an average glyph is about 0.6 em wide,
    with a margin): matplotlib neither wraps a title nor makes its figure wider for one."""
    per_line = max(8, int(inches * 72 / (fontsize * 0.6)))
    return "\n".join(textwrap.fill(line, per_line) for line in text.split("\n"))


def _heading(figure: Figure, axes, title: str, fontsize: float, narrow: bool) -> None:
    """A one-axes chart's title: over its axes on a wide screen; on a phone across the whole figure,
    since the name labels on the left leave the axes about half of it."""
    if narrow:
        figure.suptitle(fitted(title, figure.get_figwidth(), fontsize), fontsize=fontsize, x=0.01, ha="left")
    else:
        axes.set_title(title, fontsize=fontsize, loc="left")


def message_figure(text: str, width: float = 7, height: float = 1.4, narrow: bool = False) -> Figure:
    """A figure holding only a sentence, where a chart does not apply."""
    figure = _figure(PHONE_INCHES, height + 0.4) if narrow else _figure(width, height)
    axes = figure.add_subplot()
    axes.axis("off")
    axes.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=11, color="#495057")
    return figure


def per_identity_accuracy(columns: list[Column], forgotten: list[str], narrow: bool = False) -> Figure:
    """Test accuracy on each forgotten identity: one row per person, one dot per model."""
    shown = forgotten[:MAX_BARS]
    width = PHONE_INCHES if narrow else 7
    figure = _figure(width, max(2.4, 1.3 + 0.3 * len(shown)) + (0.5 if narrow else 0))
    axes = figure.add_subplot()
    rows = np.arange(len(shown))
    values = [[column.entry["forget_per_identity_test_acc"][name] for name in shown] for column in columns]
    axes.hlines(rows, np.min(values, axis=0), np.max(values, axis=0), color=KEPT, linewidth=2, zorder=1)
    for column, accuracies in zip(columns, values):
        axes.scatter(accuracies, rows, s=70, color=column.colour, label=column.title, zorder=2)
    axes.set_yticks(rows, [readable(n) for n in shown])
    axes.set_ylim(len(shown) - 0.5, -0.5)
    axes.set_xlim(-0.03, 1.03)
    axes.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    axes.grid(axis="x", color="#e9ecef")
    more = f" (first {MAX_BARS} of {len(forgotten)})" if len(forgotten) > MAX_BARS else ""
    _heading(figure, axes, f"Forgotten people: test accuracy on their own photos{more}", 11, narrow)
    figure.legend(loc="outside lower center", ncol=1 if narrow else len(columns), fontsize=8, frameon=False)
    axes.spines[["top", "right", "left"]].set_visible(False)
    return figure


def prediction_histograms(columns: list[Column], forgotten: list[str], top: int = 8, narrow: bool = False
                          ) -> Figure:
    """Where the forgotten people's test photos are sent: the most predicted names, per model."""
    rows, per_row = _layout(len(columns), narrow)
    width = PHONE_INCHES if narrow else 4.0 * per_row
    figure = _figure(width, 2.6 * len(columns) + 0.6) if narrow else _figure(width, 3.2 * rows)
    forgotten_set = set(forgotten)
    for index, column in enumerate(columns):
        axes = _panel(figure, index, len(columns), narrow)
        histogram = column.entry["forget_prediction_histogram"]
        total = sum(histogram.values())
        ranked = sorted(histogram.items(), key=lambda item: (-item[1], item[0]))[:top]
        names = [name for name, _ in ranked]
        axes.barh(range(len(ranked)), [count / total for _, count in ranked],
                  color=[FORGOTTEN if name in forgotten_set else KEPT for name in names])
        axes.set_yticks(range(len(ranked)), [readable(n) for n in names], fontsize=8)
        axes.invert_yaxis()
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        still_theirs = sum(n for name, n in histogram.items() if name in forgotten_set) / total
        axes.set_title(fitted(f"{column.title}\n{still_theirs:.0%} named as a forgotten person", width / 2, 9),
                       fontsize=9, color=column.colour, loc="left")
        axes.spines[["top", "right"]].set_visible(False)
    figure.suptitle(fitted("Who the forgotten people's test photos are taken for "
                           "(red: a forgotten person, grey: someone kept)", width, 10),
                    fontsize=10, x=0.01, ha="left")
    return figure


SPIKE_SHARE = 0.2  # explain the histogram's spike when this share of strangers gets >= 95 % confidence
CONFIDENT = 0.95


def confident_share(confidence: list[float]) -> float:
    return float(np.mean(np.asarray(confidence) >= CONFIDENT)) if len(confidence) else 0.0


def stranger_spike_note(spikes: list[str]) -> str:
    return ("Share of never-seen people given ≥ 95 % confidence: " + "; ".join(spikes) + ". A spike at 1.0 means "
            "the model is sure of a name for people it never saw: softmax must name someone, so confidence alone "
            "does not mean recognition; section 3's 'not recognised' threshold is set on these never-seen people.")


def stranger_confidence(columns: list[Column], narrow: bool = False) -> Figure:
    """Confidence on forgotten people against people never seen: forgetting should make them look alike."""
    rows, per_row = _layout(len(columns), narrow)
    width = PHONE_INCHES if narrow else 3.2 * per_row
    figure = _figure(width, 2.3 * len(columns) + 1.6) if narrow else _figure(width, 2.9 * rows)
    bins = np.linspace(0, 1, 21)
    has_strangers = any(column.stranger_confidence for column in columns)
    for index, column in enumerate(columns):
        axes = _panel(figure, index, len(columns), narrow, sharey=figure.axes[0] if index else None)
        axes.hist(column.forgotten_confidence, bins, density=True, color=column.colour, alpha=0.75,
                  label="forgotten people")
        if column.stranger_confidence:
            axes.hist(column.stranger_confidence, bins, density=True, histtype="step", linewidth=2,
                      color="#212529", label="never-seen people")
        distance = column.entry.get("stranger_ks")
        subtitle = f"\nKS distance {distance:.2f}" if distance is not None and not math.isnan(distance) else ""
        axes.set_title(f"{column.title}{subtitle}", fontsize=9, color=column.colour, loc="left")
        axes.set_xlabel("confidence (max softmax)", fontsize=8)
        axes.set_yticks([])
        axes.spines[["top", "right", "left"]].set_visible(False)
    figure.axes[0].legend(fontsize=7, frameon=False, loc="upper left")
    spikes = [f"{column.title}: {share:.0%}" for column in columns
              if (share := confident_share(column.stranger_confidence)) >= SPIKE_SHARE]
    if spikes:
        figure.supxlabel(stranger_spike_note(spikes), fontsize=7, x=0.01, ha="left", color="#495057", wrap=True)
    title = "Like a stranger? Confidence on forgotten people vs people never seen (0 KS = indistinguishable)"
    title = title if has_strangers else f"Confidence on forgotten people. {MISSING_STRANGERS}"
    figure.suptitle(fitted(title, width, 9), fontsize=9, x=0.01, ha="left")
    return figure


def _numbered(part: str) -> bool:
    return part.isdigit() or re.search(r"_\d+$", part) is not None


def layer_blocks(distances: dict[str, float]) -> dict[str, float]:
    """Layer distances summed into blocks (ResNet's `layer1.0`, the ViT's `encoder_layer_0`, and each
    unnumbered layer on its own), as one L2 distance per block, in the network's order."""
    squared: dict[str, float] = {}
    for layer, distance in distances.items():
        parts = layer.split(".")
        end = next((i + 1 for i, part in enumerate(parts) if _numbered(part)), len(parts))
        block = ".".join(parts[:end])
        squared[block] = squared.get(block, 0.0) + distance**2
    return {block: value**0.5 for block, value in squared.items()}


def block_label(block: str) -> str:
    """A short label: the block's last part (with its parent when the last part is a bare number)."""
    parts = block.split(".")
    short = ".".join(parts[-2:]) if parts[-1].isdigit() and len(parts) > 1 else parts[-1]
    return short.replace("_", " ")


def layer_distances(distances: dict[str, float], title: str, narrow: bool = False) -> Figure:
    """L2 distance between each block's weights before and after, one bar per block."""
    blocks = layer_blocks(distances)
    width = PHONE_INCHES if narrow else 7
    figure = _figure(width, 1.1 + 0.24 * len(blocks) + (0.4 if narrow else 0))
    axes = figure.add_subplot()
    rows = np.arange(len(blocks))
    values = list(blocks.values())
    bars = axes.barh(rows, values, color=UNLEARNED)
    axes.set_yticks(rows, [block_label(b) for b in blocks], fontsize=8)
    axes.invert_yaxis()  # input at the top, classifier at the bottom
    moved = [v for v in values if v > 0]
    if moved:
        axes.set_xscale("log")  # the classifier can move far more than the rest: a linear axis hides the others
        axes.set_xlim(min(moved) / 2, max(moved) * 3)  # room for each bar's number
    axes.tick_params(axis="x", which="both", bottom=False, labelbottom=False)  # the bars say their numbers
    # A log axis has no bar length to read off: each bar says its distance, and a block left as it was says so
    # (UNSIR's frozen blocks would otherwise be empty rows that look like a chart drawn wrong).
    axes.bar_label(bars, [f"{v:.2g}" if v > 0 else "" for v in values], padding=3, fontsize=8)
    for row, value in zip(rows, values):
        if value == 0:
            axes.annotate("unchanged", (0, row), xycoords=("axes fraction", "data"), xytext=(3, 0),
                          textcoords="offset points", va="center", fontsize=8, color=NEUTRAL)
    axes.set_xlabel(fitted("L2 distance of the block's weights" + (" (bars on a log scale)" if moved else ""),
                           width - 1.2, 8), fontsize=8)  # 1.2 in: the block names
    _heading(figure, axes, title, 10, narrow)
    axes.spines[["top", "right"]].set_visible(False)
    return figure


def named_colour(photo: CamPhoto, name: str) -> str:
    """Green when the model does what it should, red when not: a kept person should be named, a
    forgotten person should not (for them, being named is the failure)."""
    named = name == photo.person
    return RIGHT_PERSON if named != photo.forgotten else FORGOTTEN


def gradcam_grid(photos: list[CamPhoto], rows: list[tuple[str, list]] | None = None, narrow: bool = False
                 ) -> Figure:
    """Photos in columns (two per line on a phone); rows: the photo, the original model's GradCAM, then
    each unlearned model's (`rows`: (label, one (overlay, name, confidence) per photo); default: the
    photos' own unlearned row)."""
    rows = rows or [("Unlearned", [photo.unlearned for photo in photos])]
    per_line = min(2, len(photos)) if narrow else len(photos)
    lines, depth = math.ceil(len(photos) / per_line), 2 + len(rows)
    panel = (PHONE_INCHES - 0.9) / per_line if narrow else 1.75  # 0.9 in: the row labels
    figure = _figure(panel * per_line + 0.9, (1.9 if narrow else 2.1) * depth * lines)
    grid = figure.subplots(depth * lines, per_line, squeeze=False)
    for index, photo in enumerate(photos):
        line, column = divmod(index, per_line)
        status, colour = ("FORGOTTEN", FORGOTTEN) if photo.forgotten else ("kept", "#495057")
        panels = [(photo.photo, f"{status}\n{readable(photo.person)}", colour)]
        overlay, name, confidence = photo.original  # before forgetting: naming everyone is right
        panels.append((overlay, f"→ {readable(name)}\n{confidence:.0%}",
                       NEUTRAL if photo.forgotten else named_colour(photo, name)))
        for _, explained in rows:
            overlay, name, confidence = explained[index]
            still = " (still named)" if photo.forgotten and name == photo.person else ""
            panels.append((overlay, f"→ {readable(name)}{still}\n{confidence:.0%}", named_colour(photo, name)))
        for row, (image, caption, colour) in enumerate(panels):
            axes = grid[line * depth + row][column]
            axes.imshow(image)
            axes.set_xticks([])
            axes.set_yticks([])
            axes.set_xlabel(fitted(caption, panel, 8), fontsize=8, color=colour)
    for axes in grid.flat:  # the last line's empty places, when the photos do not fill it
        if not axes.images:
            axes.axis("off")
    for line in range(lines):
        for row, label in enumerate(["Photo", "Original", *(label for label, _ in rows)]):
            grid[line * depth + row][0].set_ylabel(fitted(label, 1.6, 10), fontsize=10, fontweight="bold")
    title = ("GradCAM: where each model looks, and whom it names\n(unlearned row: green as it should be, a kept "
             "person named or a forgotten one not; red: a forgotten person still named, or a kept one misnamed)")
    figure.suptitle(fitted(title, panel * per_line + 0.9, 9), fontsize=9, x=0.01, ha="left")
    return figure


def noise_grid(noise: np.ndarray, names: list[str], people: int | None = None, per_person: int | None = None,
               narrow: bool = False) -> Figure:
    """UNSIR's learned error-maximising inputs: uint8 [identities, images, H, W, 3], one row per identity
    (of `people` forgotten, `per_person` images each: the title says when only some are shown; a phone
    shows three images per person)."""
    people, per_person = people or noise.shape[0], per_person or noise.shape[1]
    noise = noise[:, :3] if narrow else noise
    rows, columns = noise.shape[:2]
    cell = (PHONE_INCHES - 1.6) / columns if narrow else 1.0  # 1.6 in: the names
    figure = _figure(cell * columns + 1.6, (cell + 0.1) * rows + (1.2 if narrow else 0.6))
    grid = figure.subplots(rows, columns, squeeze=False)
    for row in range(rows):
        for column in range(columns):
            axes = grid[row][column]
            axes.imshow(noise[row, column])
            axes.set_xticks([])
            axes.set_yticks([])
        grid[row][0].set_ylabel(readable(names[row]), fontsize=8, rotation=0, ha="right", va="center")
    shown = []
    if rows < people:
        shown.append(f"the last {rows} of {people} forgotten people")
    if columns < per_person:
        shown.append(f"{columns} of {per_person} images each")
    title = ("The noise UNSIR learned: inputs that maximise the model's error on each forgotten person"
             + (f"\n(showing {' and '.join(shown)})" if shown else ""))
    figure.suptitle(fitted(title, cell * columns + 1.6, 10), fontsize=10, x=0.01, ha="left")
    return figure


def feature_maps(maps: dict[str, np.ndarray], titles: dict[str, str], forgotten: np.ndarray, narrow: bool = False
                 ) -> Figure:
    """One 2-D map of the features per model: the forgotten people's held-out photos in red over a
    sample of the kept people's in grey. Tight red clusters = still told apart inside the model."""
    width = PHONE_INCHES if narrow else 4.2 * len(maps)
    figure = _figure(width, 3.3 * len(maps) + 0.8) if narrow else _figure(width, 4.4)
    for index, (model, points) in enumerate(maps.items()):
        axes = _panel(figure, index, len(maps), narrow)
        axes.scatter(points[~forgotten, 0], points[~forgotten, 1], s=7, color=KEPT, alpha=0.6, label="kept people")
        axes.scatter(points[forgotten, 0], points[forgotten, 1], s=22, color=FORGOTTEN, edgecolor="white",
                     linewidth=0.5, label="forgotten people")
        axes.set_title(titles.get(model, model), fontsize=10)
        axes.set_xticks([])
        axes.set_yticks([])
    figure.axes[0].legend(loc="lower left", fontsize=8, frameon=True)
    figure.suptitle(fitted("The model's features of held-out photos, mapped to 2-D (t-SNE)", width, 11),
                    fontsize=11)
    return figure
