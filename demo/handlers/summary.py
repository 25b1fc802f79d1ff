"""The Before | after table: one column per model (the original, the unlearned, a retrained one) and the
yardsticks beside them (the control that only hides the output, the range the benchmark's retrained models
reached), one row per measure, and a line on what each measure and yardstick means. Forget, Compare and the
retrain column all show it."""
from __future__ import annotations

from typing import NamedTuple

from .. import figures
from .features import CONTROL, benchmark_reference, reference_title, span
from .session import METHOD_LABELS, Request


class Row(NamedTuple):
    """One row of the summary table: a report key, how to show it, and one line on what it means."""

    label: str
    key: str
    template: str
    meaning: str


SUMMARY_ROWS = [
    Row("Kept people · test accuracy", "retain_test_acc", "{:.1%}",
        "the kept people's held-out photos named correctly; it should stay as before"),
    Row("Forgotten people · test accuracy", "forget_test_acc", "{:.1%}",
        "the forgotten people's held-out photos still named as them; it should fall to 0"),
    Row("Kept people · train accuracy", "retain_train_acc", "{:.1%}", "the same on the photos the model trained on"),
    Row("Forgotten people · train accuracy", "forget_train_acc", "{:.1%}",
        "the forgotten people's training photos still named as them"),
    Row("Membership attack: forgotten photos called 'trained on'", "mia_forget", "{:.1%}",
        "an attacker who sees only the model's outputs guesses whether a photo was trained on; here, the share of "
        "the forgotten people's training photos it calls 'trained on'. Hiding the output alone brings it as low "
        "(compare the control's column); the loss AUC under *Can the forgotten people still be found inside the "
        "model?* tells more"),
    Row("Distance from strangers (KS; 0 = like a stranger)", "stranger_ks", "{:.2f}",
        "Kolmogorov-Smirnov distance between the model's confidence on the forgotten people and on people it "
        "never saw: 0 means they look like strangers to it, 1 entirely unlike them"),
    Row("Seconds to unlearn", "seconds", "{:.1f}", "the unlearning alone, without measuring it"),
]
REFERENCE_MEANINGS = [  # the summary's columns beside the unlearned model
    (CONTROL, "the original with the forgotten people's outputs switched off, no unlearning at all: a number the "
              "unlearned model shares with it shows nothing the output alone does not"),
    ("Retrained models, benchmark", "models trained from scratch without the forgotten people on the benchmark's "
                                     "forget sets of as many people (or the nearest sizes it retrained): other "
                                     "people, so the range the gold standard reached, not this set's number. Its "
                                     "seconds, where shown, are one retrain timed beside UNSIR on a quiet 2-core "
                                     "CPU (benchmarks/SPEEDUP.md), not the benchmark's, which ran beside other "
                                     "work"),
]
FIGURE_MEANINGS = [  # the measures the charts use
    ("Confidence (max softmax)", "the probability the model gives to its top name for a photo, from 0 to 100 %"),
    ("L2 distance", "how much a block's weights changed: the square root of the summed squared changes"),
]


def comparison_columns(request: Request, retrain: dict | None) -> list[figures.Column]:
    columns = [
        figures.Column("Original", figures.ORIGINAL, request.report["original"], **request.confidences["original"]),
        figures.Column(f"Unlearned · {METHOD_LABELS.get(request.method, request.method)}", figures.UNLEARNED,
                       request.report["methods"][request.method], **request.confidences[request.method]),
    ]
    if retrain is not None and request.method != "retrain":
        columns.append(figures.Column("Retrained from scratch", figures.RETRAINED, retrain["entry"],
                                      **retrain["confidences"]))
    return columns


def reference_columns(control: dict | None, people: int, retrain: dict | None, checkpoint: str
                      ) -> list[figures.Column]:
    """The summary table's yardsticks beside the unlearned model: the control that only hides the output (what
    any number shared with it does not show; none measured, no yardsticks), and, until a retrain runs here, the
    range retrained models reached in the benchmark on sets of `people`."""
    if control is None:
        return []
    columns = [figures.Column(CONTROL, figures.ORIGINAL, control, [], [])]
    reference = benchmark_reference(checkpoint, people)
    if retrain is None and reference is not None:
        columns.append(figures.Column(reference_title(reference), figures.RETRAINED, reference.ranges, [], []))
    return columns


def summary_table(columns: list[figures.Column], rows: list[Row] = SUMMARY_ROWS) -> str:
    """A Markdown table of the measures, one column per model, then one line on what each measure means.
    A row whose key no column's report holds is left out (the report grows; the table follows). A cell
    holding a (low, high) pair is a range over several models."""
    def cell(entry: dict, key: str, template: str) -> str:
        value = entry.get(key)
        if isinstance(value, tuple):
            return span(*(template.format(v) for v in value))
        return "—" if value is None or value != value else template.format(value)  # value != value: NaN

    rows = [row for row in rows if any(row.key in c.entry for c in columns)]
    lines = ["| Measure | " + " | ".join(c.title for c in columns) + " |", "|---|" + "---:|" * len(columns)]
    lines += [f"| {row.label} | " + " | ".join(cell(c.entry, row.key, row.template) for c in columns) + " |"
              for row in rows]
    lines += ["", "**What the measures mean**", ""]
    lines += [f"- *{row.label}*: {row.meaning}." for row in rows]
    # The yardstick columns shown (the control, the benchmark's retrained models) say what they are.
    yardsticks = [(name, meaning) for name, meaning in REFERENCE_MEANINGS
                  if any(column.title.startswith(name) for column in columns)]
    lines += [f"- *{name}*: {meaning}." for name, meaning in [*yardsticks, *FIGURE_MEANINGS]]
    return "\n".join(lines)
