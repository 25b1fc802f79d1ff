"""The charts read right: colours that never flatter the forgetting, blocks instead of sixty layer labels,
the strangers' spike explained, the noise panel's count."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from matplotlib import text as figures_text
from matplotlib.backends.backend_agg import FigureCanvasAgg

from demo import figures

PHOTO = np.zeros((8, 8, 3), np.uint8)
RESNET_LAYERS = ["conv1", "bn1", *[f"layer{i}.{j}.{part}" for i in range(1, 5) for j in range(2)
                                   for part in ("conv1", "bn1", "conv2", "bn2")],
                 *[f"layer{i}.0.downsample.{k}" for i in range(2, 5) for k in range(2)], "fc"]
VIT_LAYERS = ["class_token", "conv_proj.conv_bn_relu_0.0", "conv_proj.conv_bn_relu_0.1", "conv_proj.conv_last",
              "encoder.pos_embedding", *[f"encoder.layers.encoder_layer_{i}.{part}" for i in range(6)
                                         for part in ("ln_1", "self_attention", "ln_2", "mlp.0", "mlp.3")],
              "encoder.ln", "heads.head"]


def drawn(figure) -> None:
    """Draw the figure, as Gradio's PNG export does (Agg), with every warning an error (constrained_layout
    collapsing warns)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FigureCanvasAgg(figure).draw()


def captions(figure) -> list[tuple[str, str]]:
    return [(axes.get_xlabel(), axes.xaxis.label.get_color()) for axes in figure.axes]


def test_gradcam_colours_a_forgotten_person_still_named_as_a_failure():
    cam = figures.CamPhoto(PHOTO, "Laura_Bush", True, (PHOTO, "Laura_Bush", 0.9), (PHOTO, "Laura_Bush", 0.8))
    gone = figures.CamPhoto(PHOTO, "Colin_Powell", True, (PHOTO, "Colin_Powell", 0.9), (PHOTO, "Tony_Blair", 0.6))
    kept = figures.CamPhoto(PHOTO, "Tony_Blair", False, (PHOTO, "Tony_Blair", 0.9), (PHOTO, "Tony_Blair", 0.9))
    wrong = figures.CamPhoto(PHOTO, "Tony_Blair", False, (PHOTO, "Tony_Blair", 0.9), (PHOTO, "Richard_Myers", 0.7))
    figure = figures.gradcam_grid([cam, gone, kept, wrong])
    drawn(figure)
    labels = dict(captions(figure))
    assert labels["→ Laura Bush (still named)\n80%"] == figures.FORGOTTEN  # named after forgetting: red
    assert labels["→ Tony Blair\n60%"] == figures.RIGHT_PERSON  # a forgotten person named as someone else: green
    assert labels["→ Richard Myers\n70%"] == figures.FORGOTTEN  # a kept person misnamed: red
    assert labels["→ Laura Bush\n90%"] == figures.NEUTRAL  # the original, before forgetting, rightly names them


def test_the_layer_chart_groups_layers_into_blocks_with_readable_labels():
    resnet = figures.layer_blocks({name: 0.1 for name in RESNET_LAYERS})
    assert list(resnet) == ["conv1", "bn1", *[f"layer{i}.{j}" for i in range(1, 5) for j in range(2)], "fc"]
    assert resnet["layer2.0"] == pytest.approx((6 * 0.1**2) ** 0.5)  # the block's own L2 distance
    vit = figures.layer_blocks({name: 0.1 for name in VIT_LAYERS})
    labels = [figures.block_label(block) for block in vit]
    assert labels == ["class token", "conv bn relu 0", "conv last", "pos embedding",
                      *[f"encoder layer {i}" for i in range(6)], "ln", "head"]
    for layers in (RESNET_LAYERS, VIT_LAYERS):
        figure = figures.layer_distances({name: 0.1 + i for i, name in enumerate(layers)}, "title")
        drawn(figure)
        ticks = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
        assert len(ticks) <= 16 and not {"oken", "proj"} & set(ticks)


def test_each_block_of_the_layer_chart_says_its_distance_or_that_it_is_unchanged():
    """On a log axis a bar's length reads as nothing: every bar carries its number, and a block that did not move
    (UNSIR's frozen blocks) says so rather than leaving an empty row."""
    figure = figures.layer_distances({"conv1.weight": 0.0, "layer3.0.conv1.weight": 6.5, "fc.weight": 21.8}, "title")
    drawn(figure)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts.count("unchanged") == 1 and "6.5" in texts and "22" in texts
    assert not [tick.get_text() for tick in figure.axes[0].get_xticklabels() if tick.get_text()]


def column(stranger_confidence, title="Unlearned"):
    return figures.Column(title, figures.UNLEARNED, {"stranger_ks": 0.3}, [0.5, 0.9], stranger_confidence)


def test_the_stranger_histogram_explains_a_spike_at_full_confidence():
    spike = figures.stranger_confidence([column([1.0] * 8 + [0.4] * 2)])
    drawn(spike)
    assert "80%" in spike.get_supxlabel() and "never saw" in spike.get_supxlabel()
    calm = figures.stranger_confidence([column([0.4] * 10)])
    assert "A spike at 1.0" not in calm.get_supxlabel()


def test_the_noise_panel_says_when_it_shows_some_of_the_people():
    noise = np.zeros((4, 8, 8, 8, 3), np.uint8)
    some = figures.noise_grid(noise, ["a", "b", "c", "d"], people=6, per_person=8)
    drawn(some)
    assert "showing the last 4 of 6 forgotten people" in some.get_suptitle()
    assert "showing" not in figures.noise_grid(noise, ["a", "b", "c", "d"], people=4, per_person=8).get_suptitle()


PHONE_CHART_PX = 326  # the width a 390 px phone gives a chart (measured by tests/test_app_browser.py)
SMALLEST_TEXT_PX = 9


def phone_legibility(figure) -> list[str]:
    """What a phone showing `figure` PHONE_CHART_PX wide would not read: text drawn smaller than
    SMALLEST_TEXT_PX once scaled down, or a panel or text running past the figure's edge."""
    drawn(figure)
    scale = min(1.0, PHONE_CHART_PX / figure.bbox.width)
    problems = []
    for text in figure.findobj(lambda artist: isinstance(artist, figures_text.Text)):
        on_phone = text.get_fontsize() * figure.dpi / 72 * scale
        if text.get_visible() and text.get_text().strip() and on_phone < SMALLEST_TEXT_PX:
            problems.append(f"{text.get_text()!r} is {on_phone:.1f} px on a phone")
    return problems + past_the_edge(figure)


def past_the_edge(figure) -> list[str]:
    """What `figure` draws outside itself, where the page would cut it off. Only what is drawn counts:
    an axes' bounding box holds its ticks in view and its labels."""
    drawn(figure)
    renderer = figure.canvas.get_renderer()
    problems = []
    for artist in [*figure.axes, *figure.legends, *figure.texts]:  # figure.texts holds the suptitle
        box = artist.get_tightbbox(renderer)
        if box is not None and (box.x0 < -1 or box.x1 > figure.bbox.width + 1):
            problems.append(f"{artist} runs past the edge ({box.x0:.0f}..{box.x1:.0f} of {figure.bbox.width:.0f} px)")
    return problems


def every_chart(narrow: bool) -> dict:
    """Each chart the results area shows, for three models (original, unlearned, retrained), at its busiest."""
    names = ["Luiz_Inacio_Lula_da_Silva", "Gerhard_Schroeder", "Laura_Bush", "Colin_Powell"]
    entry = {"forget_per_identity_test_acc": {n: 0.5 for n in names}, "stranger_ks": 0.31,
             "forget_prediction_histogram": {n: 3 for n in [*names, "Arnold_Schwarzenegger", "Jennifer_Capriati"]}}
    columns = [figures.Column(title, colour, entry, [0.5, 0.9, 1.0], [1.0] * 8 + [0.4] * 2)
               for title, colour in (("Original", figures.ORIGINAL), ("Unlearned · Random Labels", figures.UNLEARNED),
                                     ("Retrained from scratch", figures.RETRAINED))]
    cams = [figures.CamPhoto(PHOTO, name, True, (PHOTO, name, 0.9), (PHOTO, name, 0.8)) for name in names[:3]]
    points = np.zeros((6, 2))
    return {
        "per person": figures.per_identity_accuracy(columns, names, narrow=narrow),
        "histograms": figures.prediction_histograms(columns, names, narrow=narrow),
        "strangers": figures.stranger_confidence(columns, narrow=narrow),
        "gradcam": figures.gradcam_grid(cams, [("Random Labels", [c.unlearned for c in cams]),
                                               ("Retrained", [c.unlearned for c in cams])], narrow=narrow),
        "noise": figures.noise_grid(np.zeros((4, 8, 8, 8, 3), np.uint8), names, 6, 8, narrow=narrow),
        "layers": figures.layer_distances({name: 0.1 + i for i, name in enumerate(VIT_LAYERS)},
                                          "How far each block's weights moved from the original (all requests "
                                          "together) (L2)", narrow=narrow),
        "features": figures.feature_maps({"original": points, "unsir": points}, {"original": "Original",
                                         "unsir": "Unlearned · UNSIR"}, np.arange(6) < 3, narrow=narrow),
        "message": figures.message_figure("Random Labels learns no noise: only UNSIR does.", narrow=narrow),
    }


def test_on_a_phone_every_chart_keeps_its_text_readable_and_inside():
    """Drawn for a phone, panels stack and the figure is about as wide as the phone shows it: no text
    under 9 px, none cut at the edge. Drawn for a wide screen, the same charts would shrink to a thumbnail's."""
    for name, figure in every_chart(narrow=True).items():
        assert phone_legibility(figure) == [], name
    wide = every_chart(narrow=False)
    assert all(phone_legibility(wide[name]) for name in ("histograms", "strangers", "gradcam", "features"))
    assert "3 of 8 images each" in every_chart(narrow=True)["noise"].get_suptitle().replace("\n", " ")


def test_on_a_wide_screen_no_chart_runs_past_its_edge():
    """matplotlib neither wraps a title nor widens the figure for it: GradCAM's colour key once ran a
    third of its width past a four-photo grid on a laptop, cut off mid-sentence."""
    for name, figure in every_chart(narrow=False).items():
        assert past_the_edge(figure) == [], name


def test_on_a_wide_screen_compare_modes_many_panels_wrap_three_to_a_row():
    """Compare mode sets a panel per method: seven in a row were drawn 2,800 px wide and shown at 1000, their text
    shrunk to a third. Three to a row, the page shows them near the size they were drawn."""
    entry = {"forget_per_identity_test_acc": {"a": 0.0}, "stranger_ks": 0.3,
             "forget_prediction_histogram": {"a": 1, "b": 2}}
    columns = [figures.Column(f"Method {i}", figures.UNLEARNED, entry, [0.5, 0.9], [0.4, 1.0]) for i in range(7)]
    for chart in (figures.prediction_histograms(columns, ["a"]), figures.stranger_confidence(columns)):
        drawn(chart)
        assert chart.bbox.width <= 1000 * 1.5  # at most a third smaller on the page
        assert len({round(axes.get_position().x0, 2) for axes in chart.axes}) == 3  # three columns of panels
        assert len({round(axes.get_position().y0, 2) for axes in chart.axes}) == 3  # in three rows
        assert past_the_edge(chart) == []
