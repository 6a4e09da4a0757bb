"""Rendering: overlays change only where results are, legends match the overlay colours."""
import numpy as np
import pytest

from seglab import DepthMap, Masks, PanopticMap, Prompt, Segment, SemanticMap
from seglab.results import RleMasks
from seglab.render import annotate, colorize_depth, draw_prompt, hex_color, label_scores, legend, overlay, palette


def _img():
    return np.full((40, 60, 3), 100, np.uint8)


def test_palette_is_stable_and_distinct():
    p = palette(20)
    assert p.shape == (20, 3) and p.dtype == np.uint8
    assert len({tuple(c) for c in p}) == 20
    np.testing.assert_array_equal(p, palette(20))


def test_mask_overlay_touches_only_masked_pixels_and_keeps_input():
    img = _img()
    m = np.zeros((1, 40, 60), bool)
    m[0, 10:20, 10:30] = True
    out = overlay(Masks(m, [0.9]), img)
    assert (img == 100).all()
    assert (out[0, 0] == 100).all() and (out[15, 20] != 100).any()


def test_overlay_mixes_colours_by_alpha_where_the_result_is_and_nowhere_else():
    img = np.random.default_rng(0).integers(0, 256, (40, 60, 3), np.uint8)
    labels = np.full((40, 60), 255, np.int32)  # ignored everywhere but a region with a hole in it
    labels[12:30, 5:41] = 1
    labels[20, 5:20] = 255
    out = overlay(SemanticMap(labels, ("road", "car")), img, alpha=0.25).astype(int)
    valid = labels != 255
    expected = img * 0.75 + palette(2)[1] * 0.25
    assert np.abs(out[valid] - expected[valid]).max() <= 1 and (out[~valid] == img[~valid]).all()


def test_semantic_overlay_ignores_255_and_legend_lists_present_classes():
    labels = np.zeros((40, 60), np.int32)
    labels[:, 30:] = 2
    labels[0, 0] = 255
    sem = SemanticMap(labels, ("road", "sky", "car"))
    out = overlay(sem, _img())
    assert (out[0, 0] == 100).all() and (out[5, 5] != 100).any()
    colours = dict(legend(sem))
    assert set(colours) == {"road", "car"}
    assert colours["car"] == hex_color(palette(3)[2])


def test_panoptic_overlay_and_legend():
    ids = np.zeros((40, 60), np.int32)
    ids[:20] = 5
    pan = PanopticMap(ids, (Segment(5, 1, True),), {1: "person"})
    out = overlay(pan, _img())
    assert (out[30, 30] == 100).all() and (out[5, 30] != 100).any()
    assert legend(pan)[0][0] == "person"


def test_depth_colours_near_warm_and_invalid_black():
    d = np.tile(np.linspace(1, 10, 60, dtype=np.float32), (40, 1))
    d[0, 0] = 0
    rgb = colorize_depth(DepthMap(d))
    assert (rgb[0, 0] == 0).all()
    assert rgb[20, 1, 0] > rgb[20, 1, 2] and rgb[20, 58, 2] > rgb[20, 58, 0]  # near red, far blue
    rel = colorize_depth(DepthMap(d, kind="relative"))  # relative: large = near
    assert rel[20, 58, 0] > rel[20, 58, 2]


def test_draw_prompt_marks_points_and_boxes():
    p = Prompt.build(points=[(10, 10), (50, 30)], labels=[1, 0], box=[5, 5, 55, 35]).validated(40, 60)
    out = draw_prompt(_img(), p)
    assert out[10, 10, 1] > 200 and out[30, 50, 0] > 200  # green positive, red negative
    assert (out[5, 30] != 100).any()  # box edge


def test_overlay_rejects_unknown_types():
    with pytest.raises(TypeError):
        overlay("nope", _img())


def test_score_labels_sit_inside_their_mask_and_clear_of_the_point_markers():
    image = np.zeros((100, 200, 3), np.uint8)
    masks = np.zeros((2, 100, 200), bool)
    masks[0, 20:90, 30:170] = True
    clicked = Prompt.build(points=[(100, 55)], labels=[1])  # a point on the mask's centre
    result = Masks(masks, [0.93, 0.5])  # the empty second mask gets no label
    drawn = overlay(result, image)
    ys, xs = np.nonzero((label_scores(drawn, result, clicked) != drawn).any(-1))  # the label and its backing
    assert 30 < xs.min() and xs.max() < 170 and 20 < ys.min() and ys.max() < 90
    assert np.hypot(xs - 100, ys - 55).min() > 6  # clear of the marker (radius 4)
    assert (annotate(result, image, clicked)[55, 100] == [40, 220, 60]).all()  # the marker drawn on top


def test_many_masks_are_drawn_as_a_map_with_the_smallest_on_top():
    img = _img()
    m = np.zeros((3, 40, 60), bool)
    m[0, 5:35, 5:55] = True  # large
    m[1, 10:20, 10:20] = True  # small, inside the large one
    m[2, 30:38, 40:50] = True  # overlaps the large one's bottom edge
    result = RleMasks.encode(m, [0.9, 0.8, 0.7])
    out = overlay(result, img)
    colours = palette(3).astype(int)
    assert (img == 100).all() and (out[0, 0] == 100).all()  # no mask there; the input is unchanged
    for (y, x), i in (((25, 30), 0), ((15, 15), 1), ((36, 45), 2)):  # one blend of the smallest mask's colour
        np.testing.assert_allclose(out[y, x], (100 + colours[i]) / 2, atol=1)
    assert (out[9, 12] == 255).all() and (out[4, 30] == 255).all()  # white where the smallest mask changes
    np.testing.assert_array_equal(overlay(result.resized((20, 30)), img[::2, ::2])[12, 15], out[25, 30])


def _two_squares():
    m = np.zeros((2, 40, 60), bool)
    m[0, 5:25, 5:25] = True
    m[1, 10:35, 30:55] = True
    return m


@pytest.mark.parametrize("kind", [Masks, RleMasks.encode])
def test_outlines_draw_each_border_in_its_mask_colour_over_a_light_tint(kind):
    from seglab.render import outlines
    img = _img()
    out = outlines(kind(_two_squares(), np.array([0.9, 0.8])), img).astype(int)
    cols = palette(2).astype(int)
    assert (img == 100).all() and (out[0, 0] == 100).all()
    for i, (y, x) in enumerate([(5, 15), (10, 40)]):  # a top border pixel of each mask
        assert np.abs(out[y, x] - cols[i]).max() <= 40
    inside = out[15, 15]  # interior: tinted a little, far from the full colour
    assert 0 < np.abs(inside - 100).max() < np.abs(cols[0] - 100).max() * 0.35


@pytest.mark.parametrize("kind", [Masks, RleMasks.encode])
def test_outlines_highlight_fills_the_chosen_mask_and_only_outlines_the_others(kind):
    from seglab.render import outlines
    out = outlines(kind(_two_squares(), np.array([0.9, 0.8])), _img(), highlight=(1,)).astype(int)
    cols = palette(2).astype(int)
    # chosen: filled strongly (on the dimmed image)
    assert np.abs(out[22, 42] - (0.35 * 55 + 0.65 * cols[1])).max() <= 3
    assert (out[15, 15] < 100).all()  # other mask's interior: dimmed, not coloured
    assert np.abs(out[5, 15] - cols[0]).max() <= 40  # its border still shows
    assert (out[0, 0] < 100).all()
