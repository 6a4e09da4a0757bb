"""Every label set a benchmark number depends on (``seglab.datasets.labels``), checked against its official source.

A shifted class id silently ruins a benchmark number, so each mapping from a model's contiguous ids to
a data set's ids is compared with the metadata its authors publish: torchvision's weights enums and
segmentation references, cityscapesScripts' label table, the COCO annotation files of ../shared/data,
and copies in tests/data (README there: repository, path and commit) of detectron2's
``COCO_CATEGORIES``, ADE20K's ``objectInfo150`` and Mapillary Vistas' ``config_v1.2.json`` labels.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from seglab import MODELS, SeglabError
from seglab.datasets import get_label_set
from seglab.datasets.cityscapes import label_table as cityscapes_table
from seglab.datasets.mapillary import label_table as mapillary_table

DATA = Path(__file__).parent / "data"


def _entries(label_set: str) -> list:
    rows = [m for m in MODELS if m.labels == label_set]
    assert rows, f"no registry entry predicts {label_set}"
    return rows


def _torchvision_categories(builder: str) -> list[str]:
    from torchvision.models import get_model_weights

    return get_model_weights(builder).DEFAULT.meta["categories"]  # metadata only: nothing is downloaded


def test_torchvision_maskrcnn_outputs_are_coco_category_ids():
    """Source: ``meta['categories']`` of torchvision's MaskRCNN_ResNet50_FPN(_V2)_Weights: output i names COCO id i."""
    coco91 = get_label_set("coco-91")
    assert coco91.model_ids == coco91.ids and coco91.num_outputs == 91
    for spec in _entries("coco-91"):
        assert spec.family == "tv-maskrcnn"
        meta = _torchvision_categories(spec.weights)
        assert len(meta) == coco91.num_outputs
        assert [meta[i] for i in coco91.model_ids] == list(coco91.names)
        assert {n for i, n in enumerate(meta) if i not in coco91.model_ids} == {"__background__", "N/A"}


def test_things_are_the_coco_instance_categories(coco_root):
    """Source: ``categories`` of COCO's instances_val2017.json (ids 1..90 with gaps, in order)."""
    official = json.loads((coco_root / "annotations" / "instances_val2017.json").read_text())["categories"]
    for name in ("coco-80", "coco-91"):
        assert [(c["id"], c["name"]) for c in official] == [(c.id, c.name) for c in get_label_set(name).categories]


def test_voc_21_is_torchvisions_segmentation_order():
    """Source: ``meta['categories']`` of torchvision's FCN / DeepLabV3 weights ('__background__' is VOC's index 0)."""
    voc = get_label_set("voc-21")
    assert voc.ids == tuple(range(21)) and voc.names[0] == "background"
    for spec in _entries("voc-21"):
        assert spec.family == "tv-semantic"
        assert _torchvision_categories(spec.weights) == ["__background__", *voc.names[1:]]


# pytorch/vision references/segmentation/coco_utils.py (commit 030d27a871ba66e03335e69c1b43d5bc56ec86b0), get_coco:
# the COCO category id of each VOC class index, with which torchvision's published VOC-on-COCO mIoU was measured
TORCHVISION_CAT_LIST = [0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72]
VOC_TO_COCO_NAMES = {"aeroplane": "airplane", "diningtable": "dining table", "motorbike": "motorcycle",
                     "pottedplant": "potted plant", "sofa": "couch", "tvmonitor": "tv"}


def test_voc_classes_on_coco_follow_torchvisions_cat_list():
    """Source: torchvision's segmentation reference scripts (CAT_LIST above); the ground truth of
    ``coco-val2017-voc`` (``seglab.metrics.semantic``) reads the list beside ``voc-21``'s class names."""
    from seglab.datasets.labels import VOC_COCO_CATEGORIES

    voc = get_label_set("voc-21")
    assert list(VOC_COCO_CATEGORIES) == TORCHVISION_CAT_LIST
    coco = {c.id: c.name for c in get_label_set("coco-80").categories}
    assert [coco[i] for i in TORCHVISION_CAT_LIST[1:]] == [VOC_TO_COCO_NAMES.get(n, n) for n in voc.names[1:]]


def _detectron2_coco() -> list[dict]:
    return json.loads((DATA / "detectron2_coco_categories.json").read_text())["categories"]


def test_coco_panoptic_contiguous_ids_follow_detectron2():
    """Source: detectron2's ``COCO_CATEGORIES`` (builtin_meta.py), whose order defines the contiguous ids of
    Mask2Former / OneFormer: panoptic id i is its i-th entry, instance id i its i-th thing."""
    d2 = _detectron2_coco()
    assert [(c["id"], c["name"], bool(c["isthing"])) for c in d2] == list(get_label_set("coco-panoptic-133").categories)
    things = [(c["id"], c["name"]) for c in d2 if c["isthing"]]
    assert things == [(c.id, c.name) for c in get_label_set("coco-80").categories]
    assert {m.family for m in _entries("coco-panoptic-133") + _entries("coco-80")} == {"mask2former", "oneformer"}


def test_coco_panoptic_133_is_the_annotation_files_list(coco_root):
    """Source: ``categories`` of COCO's panoptic_val2017.json."""
    official = json.loads((coco_root / "annotations" / "panoptic_val2017.json").read_text())["categories"]
    assert [(c["id"], c["name"], bool(c["isthing"])) for c in official] == \
        list(get_label_set("coco-panoptic-133").categories)


def test_cityscapes_train_ids_map_to_label_ids():
    """Source: ``cityscapesscripts.helpers.labels``: train id t of SegFormer / Mask2Former / OneFormer is
    ``trainId2label[t]``; its label id, name and hasInstances are the panoptic ground truth's category."""
    from cityscapesscripts.helpers.labels import labels, trainId2label

    city = get_label_set("cityscapes-19")
    assert {lb.trainId for lb in labels if not lb.ignoreInEval} == set(range(len(city)))
    assert list(city.categories) == [(trainId2label[t].id, trainId2label[t].name, trainId2label[t].hasInstances)
                                     for t in range(len(city))]
    names, lut = cityscapes_table()  # the data set loader: label id -> train id
    assert names == city.names and [lut[i] for i in city.ids] == list(range(19))
    assert {m.family for m in _entries("cityscapes-19")} == {"segformer", "mask2former", "oneformer"}


def test_ade20k_150_is_objectinfo150():
    """Source: objectInfo150 of CSAILVision/sceneparsing: Idx 1..150 (the label PNG values), first synonym."""
    rows = [line.split("\t") for line in (DATA / "ade20k_objectInfo150.txt").read_text().splitlines()[1:]]
    ade = get_label_set("ade20k-150")
    assert ade.ids == tuple(int(r[0]) for r in rows) == tuple(range(1, 151))
    assert ade.names == tuple(r[4].split(",")[0].strip() for r in rows)
    _entries("ade20k-150")


def test_mapillary_vistas_65_is_the_config_v1_2_labels():
    """Source: the ``labels`` of Mapillary Vistas' config_v1.2.json (Mask2Former's copy): evaluated labels in
    order, index = label PNG value, 'instances' = thing; read by the data set loader too."""
    config = DATA / "mapillary_vistas_config_v1.2_labels.json"
    labels = json.loads(config.read_text())["labels"]
    vistas = get_label_set("mapillary-vistas-65")
    assert list(vistas.categories) == [(i, lb["readable"], lb["instances"]) for i, lb in enumerate(labels)
                                       if lb["evaluate"]]
    names, lut = mapillary_table(config)  # the data set loader: label index -> train id
    assert names == vistas.names and [lut[i] for i in vistas.ids] == list(range(65))
    _entries("mapillary-vistas-65")


def test_unknown_label_set_is_one_clear_error():
    with pytest.raises(SeglabError, match="unknown label set 'coco-81'; known: coco-panoptic-133"):
        get_label_set("coco-81")


def test_celebamask_hq_parts_follow_its_mask_script():
    """Source: ``label_list`` of CelebAMask-HQ's ``g_mask.py`` (copied in tests/data): part k is label k + 1."""
    official = json.loads((DATA / "celebamask_hq_g_mask.json").read_text())
    labels = get_label_set("celebamask-hq-19")
    assert labels.names == ("background", *official["label_list"]) and labels.ids == tuple(range(19))


def test_atr_labels_follow_the_data_sets_table():
    """Source: ATR's ``atr_label.txt`` (copied in tests/data): name and id per line."""
    rows = [line.split() for line in (DATA / "atr_label.txt").read_text().splitlines() if line.strip()]
    labels = get_label_set("atr-18")
    assert [(int(i), n) for n, i in rows] == list(zip(labels.ids, labels.names))
