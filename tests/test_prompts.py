"""Prompt validation: clear errors for prompts that cannot apply, normalisation of dragged boxes."""
import numpy as np
import pytest

from seglab import InvalidPromptError, Prompt


def test_build_and_kinds():
    p = Prompt.build(points=[(1, 2), (3, 4)], labels=[1, 0], box=[0, 0, 5, 5], text="dog")
    assert p.kinds == ("points", "box", "text")
    assert p.points.shape == (2, 2) and p.point_labels.tolist() == [1, 0] and p.boxes.shape == (1, 4)
    assert Prompt.build(points=[(1, 2)]).point_labels.tolist() == [1]
    assert Prompt().is_empty and Prompt.build(points=[]).is_empty


def test_no_prompt():
    with pytest.raises(InvalidPromptError, match="no prompt"):
        Prompt().validated(10, 10)


def test_points_outside_the_image():
    with pytest.raises(InvalidPromptError, match=r"point \(12, 3\) is outside the 10x8 image"):
        Prompt.build(points=[(12, 3)]).validated(8, 10)


def test_bad_point_labels():
    with pytest.raises(InvalidPromptError, match="1 \\(foreground\\) or 0"):
        Prompt.build(points=[(1, 1)], labels=[2]).validated(8, 10)
    with pytest.raises(InvalidPromptError, match="2 points but 1"):
        Prompt(np.zeros((2, 2)), np.ones(1)).validated(8, 10)


def test_inverted_box_is_reordered_and_partial_box_clipped():
    p = Prompt.build(box=[8, 7, 2, 1]).validated(8, 10)
    assert p.boxes.tolist() == [[2, 1, 8, 7]]
    p = Prompt.build(box=[-5, -5, 4, 20]).validated(8, 10)
    assert p.boxes.tolist() == [[0, 0, 4, 8]]


@pytest.mark.parametrize("box,msg", [([3, 3, 3, 9], "zero area"), ([20, 20, 30, 30], r"^box \(20, 20, 30, 30\) lies outside the 10x8 image$"),
                                     ([0, 0, np.nan, 2], "non-finite")])
def test_bad_boxes(box, msg):
    with pytest.raises(InvalidPromptError, match=msg):
        Prompt.build(box=box).validated(8, 10)


def test_region_checks():
    with pytest.raises(InvalidPromptError, match="empty"):
        Prompt(region=np.zeros((8, 10), bool)).validated(8, 10)
    with pytest.raises(InvalidPromptError, match="region is 5x5"):
        Prompt(region=np.ones((5, 5), bool)).validated(8, 10)
    assert Prompt(region=np.ones((8, 10))).validated(8, 10).kinds == ("region",)


def test_blank_text():
    with pytest.raises(InvalidPromptError, match="text prompt is empty"):
        Prompt(text="   ").validated(8, 10)
    assert Prompt(text=" dog ").validated(8, 10).text == "dog"


@pytest.mark.parametrize("kwargs, msg", [
    ({"boxes": [[8, 55]]}, r"^a box is \[x0, y0, x1, y1\]: got 2 numbers in \[\[8, 55\]\]$"),
    ({"points": [[1, 2, 3]]}, r"^a point is \[x, y\]: got 3 numbers"),
    ({"boxes": [[1, 2, 3, 4], [5, 6]]}, r"^a box is \[x0, y0, x1, y1\], in a list of equal-length lists of numbers"),
    ({"points": [["a", "b"]]}, r"^a point is \[x, y\], in a list"),
    ({"points": [[1, 2]], "labels": [["yes"]]}, r"^a label is 1 or 0"),
])
def test_malformed_coordinates_say_the_form_they_need(kwargs, msg):
    with pytest.raises(InvalidPromptError, match=msg):
        Prompt.build(**kwargs)


def test_a_flat_box_and_flat_points_are_read_as_rows():
    p = Prompt.build(points=[1, 2, 3, 4], box=[0, 0, 5, 5])
    assert p.points.tolist() == [[1, 2], [3, 4]] and p.boxes.tolist() == [[0, 0, 5, 5]]
