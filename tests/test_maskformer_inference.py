"""Mask2Former / OneFormer test protocol: seglab.models.maskformer_inference against the official code.

The oracle (tests/maskformer_reference.py) is a literal transcription of the official functions. Crafted logits
exercise each place where transformers' post-processing differs from it: each test asserts that seglab equals
the oracle and that transformers gives another answer there, so it fails if seglab reverts to transformers.
Tiny random models, saved with the Hub's processor settings (384 x 384), run on real COCO images.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from maskformer_reference import get_output_shape, inference, padded_size
from test_models_hf import PANOPTIC_NAMES, THING_NAMES, _mask2former, _oneformer
from transformers import Mask2FormerImageProcessor

import seglab
from seglab.coco_categories import COCO_PANOPTIC_CATEGORIES
from seglab.models import maskformer_inference as mi
from seglab.models.universal import UniversalSegmenter
from seglab.protocols import get_protocol, list_protocols

OFFICIAL = json.loads((Path(__file__).parent / "data" / "maskformer_test_protocols.json").read_text())
SIDE = 384  # transformers' post-processing enlarges every mask to 384 x 384: crafted maps at that size
THINGS = frozenset(range(80))  # COCO panoptic: contiguous ids 0..79 are things
THING_IDS = list(THINGS)  # the oracle's metadata.thing_dataset_id_to_contiguous_id.values(): `tensor in` needs ==
COCO_THINGS = [c.isthing for c in COCO_PANOPTIC_CATEGORIES]


def _geometry(out: tuple[int, int] = (SIDE, SIDE)) -> mi.Geometry:
    return mi.Geometry((SIDE, SIDE), (SIDE, SIDE), out)


def _classes(labels: list[int], num_classes: int, confidence: float = 8.0) -> torch.Tensor:
    """Class logits (Q, C + 1): query q says labels[q] with a large margin."""
    logits = torch.zeros(len(labels), num_classes + 1)
    logits[torch.arange(len(labels)), labels] = confidence
    return logits


def _transformers_panoptic(class_logits, mask_logits, fuse: set[int]) -> dict:
    outputs = SimpleNamespace(class_queries_logits=class_logits[None], masks_queries_logits=mask_logits[None])
    return Mask2FormerImageProcessor().post_process_panoptic_segmentation(
        outputs, threshold=0.8, mask_threshold=0.5, overlap_mask_area_threshold=0.8, label_ids_to_fuse=fuse,
        target_sizes=[(SIDE, SIDE)])[0]


def _oracle_panoptic(class_logits, mask_logits, thing_ids=THING_IDS):
    return inference(class_logits, mask_logits, (SIDE, SIDE), (SIDE, SIDE), SIDE, SIDE,
                     num_classes=class_logits.shape[-1] - 1, thing_ids=thing_ids, panoptic_on=True)["panoptic_seg"]


def _seglab_panoptic(class_logits, mask_logits, things=THINGS):
    return mi.panoptic_inference(class_logits, mask_logits, _geometry(), things, 0.8, 0.8)


def _assert_panoptic_equal(ours, oracle) -> None:
    seg, segments = ours
    ref_seg, ref_info = oracle
    assert torch.equal(seg, ref_seg)
    assert [(s.id, s.label, s.isthing) for s in segments] == [(r["id"], r["category_id"], r["isthing"])
                                                              for r in ref_info]


def _bands(n: int, value_in: float = 6.0, value_out: float = -6.0) -> torch.Tensor:
    """n mask logits, each high on its own horizontal band of the image."""
    masks = torch.full((n, SIDE, SIDE), value_out)
    for q, rows in enumerate(torch.arange(SIDE).chunk(n)):
        masks[q, rows] = value_in
    return masks


# --- geometry -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(480, 640), (427, 640), (640, 480), (1024, 2048), (375, 500), (3000, 4000),
                                  (511, 1500), (64, 64)])
@pytest.mark.parametrize("short_long", [(800, 1333), (1024, 2048), (2048, 2048), (512, 2048), (640, 2560)])
def test_resized_shape_is_detectron2s(size, short_long):
    assert mi.resized_shape(*size, *short_long) == get_output_shape(*size, *short_long)


def test_documented_sizes():
    assert mi.resized_shape(480, 640, 800, 1333) == (800, 1067)
    assert mi.pad_to_multiple(torch.ones(3, 800, 1067), 32).shape[-2:] == padded_size((800, 1067), 32) == (800, 1088)
    assert mi.resized_shape(1024, 2048, 1024, 2048) == (1024, 2048)
    padded = mi.pad_to_multiple(torch.ones(1, 3, 5, 7), 4)
    assert padded.shape == (1, 3, 8, 8) and padded[..., :5, :7].eq(1).all() and padded.sum() == 3 * 35  # zeros added


def test_transformers_own_resize_stretches_to_the_divisor():
    """Why seglab resizes itself: the processor rounds 800 x 1067 up to 800 x 1088 and stretches the image."""
    image = np.zeros((480, 640, 3), np.uint8)
    pixels = Mask2FormerImageProcessor(size={"shortest_edge": 800, "longest_edge": 1333})(image, return_tensors="pt")
    assert pixels["pixel_values"].shape[-2:] == (800, 1088) and pixels["pixel_mask"].all()  # no padding: stretched


# --- panoptic: each difference from transformers ------------------------------------------------------------

def test_panoptic_fresh_id_after_stuff_fusion():
    """stuff A, thing B, stuff A again, thing C: transformers' counter restarts at A's id so C reuses B's."""
    stuff = 100
    class_logits = _classes([stuff, 5, stuff, 6], 133)
    ours, oracle = _seglab_panoptic(class_logits, _bands(4)), _oracle_panoptic(class_logits, _bands(4))
    _assert_panoptic_equal(ours, oracle)
    assert [s.id for s in ours[1]] == [1, 2, 3] and set(np.unique(ours[0])) == {1, 2, 3}
    info = _transformers_panoptic(class_logits, _bands(4), fuse={stuff})["segments_info"]
    ids = [(s["id"], s["label_id"]) for s in info]
    assert (2, 5) in ids and (2, 6) in ids  # B and C share id 2 in transformers


def test_panoptic_pixel_needs_its_own_probability():
    """Where every query's probability is below 0.5, the argmax query does not take the pixel: void."""
    masks = _bands(2)
    masks[0, :40] = -0.5  # query 0's band: top 40 rows at probability 0.38, query 1 lower still
    class_logits = _classes([3, 4], 133)
    ours = _seglab_panoptic(class_logits, masks)
    _assert_panoptic_equal(ours, _oracle_panoptic(class_logits, masks))
    assert (ours[0][:40] == 0).all() and (ours[0][40:192] == 1).all()
    assert (_transformers_panoptic(class_logits, masks, set())["segmentation"][:40] == 1).all()


def test_panoptic_area_ratio_uses_the_unweighted_mask():
    """Query 0 (p 0.95 on A, 0.55 on B) wins A only: official ratio A / (A + B) = 0.5 < 0.8 drops it;
    transformers counts the weighted mask (0.55 x score < 0.5 on B), ratio 1, and keeps it."""
    masks = torch.full((2, SIDE, SIDE), -6.0)
    masks[0, :192], masks[0, 192:] = 3.0, 0.2  # sigmoid 0.95, 0.55
    masks[1, 192:] = 6.0
    class_logits = _classes([3, 4], 133, confidence=6.8)  # class probability 0.87
    ours = _seglab_panoptic(class_logits, masks)
    _assert_panoptic_equal(ours, _oracle_panoptic(class_logits, masks))
    assert [s.label for s in ours[1]] == [4] and (ours[0][:192] == 0).all()
    assert 3 in {s["label_id"] for s in _transformers_panoptic(class_logits, masks, set())["segments_info"]}


def test_panoptic_fuses_stuff_and_thresholds_queries():
    class_logits = _classes([100, 100, 7, 8, 133], 133)
    class_logits[3] = 0.0  # uniform: class probability 1/134, below 0.8
    masks = _bands(5)
    ours = _seglab_panoptic(class_logits, masks)
    _assert_panoptic_equal(ours, _oracle_panoptic(class_logits, masks))
    assert [(s.label, s.isthing) for s in ours[1]] == [(100, False), (7, True)]  # fused; 8 too unsure; 133 void
    assert len(mi.panoptic_inference(class_logits, masks, _geometry(), None, 0.8, 0.8)[1]) == 3  # unfused


# --- instance -----------------------------------------------------------------------------------------------

def _transformers_instance(class_logits, mask_logits, target) -> dict:
    outputs = SimpleNamespace(class_queries_logits=class_logits[None], masks_queries_logits=mask_logits[None])
    return Mask2FormerImageProcessor().post_process_instance_segmentation(
        outputs, threshold=0.0, target_sizes=[target], return_binary_maps=True)[0]


def _oracle_instance(class_logits, mask_logits, out, **kw):
    return inference(class_logits, mask_logits, (SIDE, SIDE), (SIDE, SIDE), *out,
                     num_classes=class_logits.shape[-1] - 1, instance_on=True, **kw)["instances"]


def _assert_instances_equal(ours, ref) -> None:
    masks, scores, labels = ours
    order = torch.argsort(scores, descending=True, stable=True)
    ref_order = torch.argsort(ref["scores"], descending=True, stable=True)
    assert torch.equal(labels[order], ref["pred_classes"][ref_order])
    torch.testing.assert_close(scores[order], ref["scores"][ref_order])
    assert torch.equal(masks[order], ref["pred_masks"][ref_order].bool())


def test_instance_top_100_over_queries_and_classes():
    torch.manual_seed(0)
    class_logits, masks = torch.randn(10, 21), torch.randn(10, 24, 24) * 4
    ours = mi.instance_inference(class_logits, masks, _geometry((120, 160)), 100)
    _assert_instances_equal(ours, _oracle_instance(class_logits, masks, (120, 160)))
    assert len(ours[1]) == 100 and len(_transformers_instance(class_logits, masks, (120, 160))["segments_info"]) == 10


def test_instance_masks_thresholded_after_bilinear_enlargement():
    """A diagonal edge enlarged to 480 x 640: transformers thresholds at 384 and enlarges nearest."""
    torch.manual_seed(1)
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    masks = torch.stack([xx - yy + 0.3, yy - 0.7 * xx - 3.1])
    class_logits = _classes([2, 5], 20)
    ours = mi.instance_inference(class_logits, masks, _geometry((480, 640)), 2)
    _assert_instances_equal(ours, _oracle_instance(class_logits, masks, (480, 640), test_topk_per_image=2))
    theirs = _transformers_instance(class_logits, masks, (480, 640))
    by_label = {s["label_id"]: theirs["segmentation"][i].bool() for i, s in enumerate(theirs["segments_info"])}
    assert any(not torch.equal(ours[0][i], by_label[int(ours[2][i])]) for i in range(2))


def test_instance_panoptic_config_keeps_things_and_threshold_options():
    torch.manual_seed(2)
    class_logits, masks = torch.randn(12, 134), torch.randn(12, 24, 24) * 4
    ours = mi.instance_inference(class_logits, masks, _geometry((100, 90)), 100, THINGS)
    _assert_instances_equal(ours, _oracle_instance(class_logits, masks, (100, 90), panoptic_on=True,
                                                   thing_ids=THING_IDS))
    assert set(ours[2].tolist()) <= THINGS and len(ours[2]) < 100
    looser = mi.instance_inference(class_logits, masks, _geometry((100, 90)), 100, THINGS, mask_threshold=0.1)
    assert (looser[0].sum((1, 2)) >= ours[0].sum((1, 2))).all() and (looser[0].sum() > ours[0].sum())


# --- semantic -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("before", [False, True])
def test_semantic_inference_order(before):
    torch.manual_seed(3)
    class_logits, masks = torch.randn(40, 20), torch.randn(40, 28, 36) * 3  # 40 queries: several chunks
    geometry = mi.Geometry((112, 144), (100, 133), (75, 100))
    ours = mi.semantic_inference(class_logits, masks, geometry, before)
    ref = inference(class_logits, masks, (112, 144), (100, 133), 75, 100, num_classes=19, semantic_on=True,
                    sem_seg_postprocess_before_inference=before)["sem_seg"]
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    other = mi.semantic_inference(class_logits, masks, geometry, not before)
    assert (other - ours).abs().max() > 1e-3  # the order matters, so the test tells them apart


def test_inference_switches_match_the_official_configs():
    """Which inferences each protocol's config runs (``Protocol.inferences``, read from its thresholds and top-k)
    against the official values file's switches."""
    for protocol_id, entry in OFFICIAL.items():
        values, prefix = entry["values"], ("MODEL.TEST." if protocol_id.startswith("oneformer") else
                                           "MODEL.MASK_FORMER.TEST.")
        on = {task for task in ("semantic", "instance", "panoptic") if values[f"{prefix}{task.upper()}_ON"]}
        protocol = get_protocol(protocol_id)  # SEMANTIC_ON matters to a semantic protocol alone: its own task
        assert protocol.task in on and protocol.inferences() - {"semantic"} == on - {"semantic"}, protocol_id
        assert values[prefix + "SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE"] is False
    assert set(OFFICIAL) == {p.id for p in list_protocols() if p.id.startswith(("mask2former-", "oneformer-"))}


# --- the adapter's defaults: the protocol's thresholds (crafted outputs, no network) ----------------------

def _adapter(spec_id: str, names: list[str], class_logits, mask_logits) -> UniversalSegmenter:
    """``spec_id``'s adapter whose network 'returns' the given logits for a 384 x 384 image."""
    model = SimpleNamespace(config=SimpleNamespace(id2label=dict(enumerate(names))))
    adapter = UniversalSegmenter(seglab.get_spec(spec_id), model, None, "cpu", torch.float32)
    adapter._forward = lambda image: (class_logits, mask_logits, _geometry())
    return adapter


@pytest.mark.parametrize(("spec_id", "names", "kept"), [
    ("mask2former-swin-tiny-coco-panoptic", PANOPTIC_NAMES, [3]),  # object mask threshold 0.8
    ("oneformer-swin-tiny-ade", list(seglab.datasets.get_label_set("ade20k-150").names), [3, 4]),  # 0.5
])
def test_panoptic_defaults_are_the_protocols_thresholds(spec_id, names, kept):
    class_logits = torch.zeros(2, len(names) + 1)
    class_logits[0, 3], class_logits[1, 4] = 7.1, 5.3  # class probabilities about 0.9 and 0.6 (0.57 for ADE)
    adapter = _adapter(spec_id, names, class_logits, _bands(2))
    image = np.zeros((SIDE, SIDE, 3), np.uint8)
    ids = adapter.category_ids
    assert [s.category_id for s in adapter.predict(image).segments] == [ids[k] for k in kept]
    assert [s.category_id for s in adapter.predict(image, threshold=0.5).segments] == [ids[3], ids[4]]
    narrower = adapter.predict(image, threshold=0.5, mask_threshold=0.999)  # band logits 6: probability 0.9975
    assert narrower.segments == ()


# --- the adapter on real images, tiny random models with the Hub's processor settings ----------------------
# Each network runs once per image (a forward at 800 x 1088 takes seconds on CPU); other tasks of the same
# weights replay its raw outputs through another spec's adapter.

@dataclasses.dataclass
class Run:
    model: UniversalSegmenter
    image: np.ndarray
    result: object
    pixels: torch.Tensor  # what the network was given
    out: object  # its raw outputs

    @property
    def geometry(self) -> dict:
        """The oracle's sizes: padded input, resized image inside it, original image."""
        h, w = get_output_shape(*self.image.shape[:2], *get_protocol(self.model.spec.protocol).size)
        return {"padded": tuple(self.pixels.shape[-2:]), "image_size": (h, w),
                "height": self.image.shape[0], "width": self.image.shape[1]}

    def oracle(self, **kw) -> dict:
        return inference(self.out.class_queries_logits[0].float(), self.out.masks_queries_logits[0].float(),
                         *self.geometry.values(), **kw)

    def replay(self, spec_id: str, task: str | None = None, **options):
        """``spec_id``'s adapter over the same network, fed this run's raw outputs instead of a new forward."""
        spec = seglab.get_spec(spec_id)
        spec = dataclasses.replace(spec, task=task or spec.task)
        adapter = UniversalSegmenter(spec, self.model.model, self.model.processor, "cpu", torch.float32)
        g = self.geometry
        outputs = (self.out.class_queries_logits[0].float(), self.out.masks_queries_logits[0].float(),
                   mi.Geometry(g["padded"], g["image_size"], (g["height"], g["width"])))
        adapter._forward = lambda image: outputs
        return adapter, adapter.predict(self.image, **options)


def _run(model: UniversalSegmenter, image: np.ndarray, **options) -> Run:
    seen = {}

    def hook(module, args, kwargs, output):
        seen["pixels"], seen["out"] = kwargs["pixel_values"], output

    handle = model.model.register_forward_hook(hook, with_kwargs=True)
    try:
        result = model.predict(image, **options)
    finally:
        handle.remove()
    run = Run(model, image, result, seen["pixels"], seen["out"])
    _check_input(run)
    return run


def _check_input(run: Run) -> None:
    """detectron2's input: PIL bilinear to the protocol's size, ImageNet normalisation, zero padding to 32."""
    from PIL import Image

    h, w = run.geometry["image_size"]
    resized = np.asarray(Image.fromarray(run.image).resize((w, h), Image.BILINEAR), np.float32)
    mean, std = np.array([0.485, 0.456, 0.406]) * 255, np.array([0.229, 0.224, 0.225]) * 255
    pixels = torch.from_numpy(((resized - mean) / std).transpose(2, 0, 1).astype(np.float32))
    ph, pw = padded_size((h, w), 32)
    expected = torch.nn.functional.pad(pixels, (0, pw - w, 0, ph - h))[None]
    assert run.pixels.shape == expected.shape
    torch.testing.assert_close(run.pixels, expected, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def coco_images(coco_root) -> list[np.ndarray]:
    """Two real COCO images: 480 x 640 and 640 x 480."""
    images = [seglab.load_image(coco_root / "val2017" / name) for name in ("000000017627.jpg", "000000122745.jpg")]
    assert images[0].shape[:2] == (480, 640) and images[1].shape[:2] == (640, 480)
    return images


@pytest.fixture(scope="module")
def m2f_runs(tmp_path_factory, coco_images) -> list[Run]:
    """The COCO panoptic model (133 classes) on both images, every query kept (threshold 0)."""
    model = seglab.load_model("mask2former-swin-tiny-coco-panoptic",
                              location=_mask2former(tmp_path_factory.mktemp("m2f-hub"), PANOPTIC_NAMES))
    assert model.processor.size == {"height": 384, "width": 384}  # the Hub's file: the adapter must ignore it
    return [_run(model, image, threshold=0.0) for image in coco_images]


@pytest.fixture(scope="module")
def oneformer_runs(tmp_path_factory, coco_images) -> dict[str, Run]:
    """OneFormer (COCO classes) on the portrait image with the panoptic and the semantic task token."""
    location = _oneformer(tmp_path_factory.mktemp("oneformer-hub"), PANOPTIC_NAMES, COCO_THINGS)
    runs = {}
    for task, options in (("panoptic", {"threshold": 0.0}), ("semantic", {})):
        spec = dataclasses.replace(seglab.get_spec("oneformer-swin-large-coco"), task=task)
        runs[task] = _run(UniversalSegmenter.load(spec, location), coco_images[1], **options)
    return runs


def _instances(masks) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.from_numpy(masks.masks.copy()), torch.tensor(masks.scores).float(), torch.tensor(masks.labels)


def test_coco_input_is_800_by_1067_padded_to_1088(m2f_runs):
    pixels = m2f_runs[0].pixels  # 480 x 640; _check_input compared every value with detectron2's input
    assert pixels.shape[-2:] == (800, 1088) and pixels[..., 1067:].eq(0).all() and pixels[..., 1066].ne(0).any()
    assert m2f_runs[1].pixels.shape[-2:] == (1088, 800)  # 640 x 480 -> 1067 x 800, padded


def test_mask2former_panoptic_equals_the_official_inference(m2f_runs):
    found = 0
    for run in m2f_runs:
        ref_seg, ref_info = run.oracle(num_classes=133, thing_ids=THING_IDS, semantic_on=True, instance_on=True,
                                       panoptic_on=True, object_mask_threshold=0.0)["panoptic_seg"]
        np.testing.assert_array_equal(run.result.segment_ids, ref_seg.numpy())
        ids = run.model.category_ids
        assert [(s.id, s.category_id, s.isthing) for s in run.result.segments] == [
            (r["id"], ids[r["category_id"]], r["isthing"]) for r in ref_info]
        found += len(ref_info)
    assert found, "the sharpened tiny model should find segments"


def test_mask2former_semantic_of_the_panoptic_model(m2f_runs):
    """The COCO panoptic model's semantic output: masks at the image size before semantic inference."""
    run = m2f_runs[1]
    _, result = run.replay("mask2former-swin-large-coco-panoptic-semantic", probabilities=True)
    ref = run.oracle(num_classes=133, semantic_on=True, panoptic_on=True)["sem_seg"]
    torch.testing.assert_close(torch.from_numpy(result.probabilities.copy()), ref / ref.sum(0, keepdim=True),
                               rtol=1e-4, atol=1e-5)
    assert (result.labels == ref.argmax(0).numpy()).mean() > 0.999  # equal but for float ties


def test_panoptic_model_asked_for_instances_keeps_things(m2f_runs):
    """Instance inference of a config with PANOPTIC_ON keeps thing classes only (top 100 before that)."""
    run = m2f_runs[1]
    _, result = run.replay("mask2former-swin-tiny-coco-panoptic", task="instance")
    ref = run.oracle(num_classes=133, thing_ids=THING_IDS, instance_on=True, panoptic_on=True)["instances"]
    ids = torch.tensor(run.model.category_ids)
    _assert_instances_equal(_instances(result), {**ref, "pred_classes": ids[ref["pred_classes"]]})
    assert 0 < len(result) < 100


def test_mask2former_semantic_only_config_infers_before_resizing(tmp_path, coco_images):
    """ADE20K semantic configs run semantic inference at the padded size, then resize (short side 512)."""
    ade = seglab.datasets.get_label_set("ade20k-150")
    model = seglab.load_model("mask2former-swin-tiny-ade-semantic", location=_mask2former(tmp_path, list(ade.names)))
    run = _run(model, coco_images[0], probabilities=True)
    assert run.geometry["image_size"] == (512, 683) and run.geometry["padded"] == (512, 704)
    ref = run.oracle(num_classes=150, semantic_on=True)["sem_seg"]
    torch.testing.assert_close(torch.from_numpy(run.result.probabilities.copy()), ref / ref.sum(0, keepdim=True),
                               rtol=1e-4, atol=1e-5)


def test_mask2former_instance_equals_the_official_inference(tmp_path, coco_images):
    model = seglab.load_model("mask2former-swin-tiny-coco-instance", location=_mask2former(tmp_path, THING_NAMES))
    run = _run(model, coco_images[1])
    ref = run.oracle(num_classes=80, instance_on=True)["instances"]
    assert len(run.result) == 100  # top 100 of 10 queries x 80 classes, no score threshold, no thing filter
    ids = torch.tensor(model.category_ids)
    _assert_instances_equal(_instances(run.result), {**ref, "pred_classes": ids[ref["pred_classes"]]})


def test_oneformer_panoptic_equals_the_official_inference(oneformer_runs):
    run = oneformer_runs["panoptic"]
    ref_seg, ref_info = run.oracle(num_classes=133, thing_ids=list(run.model.thing_labels), panoptic_on=True,
                                   object_mask_threshold=0.0)["panoptic_seg"]
    assert ref_info, "the sharpened tiny model should find segments"
    np.testing.assert_array_equal(run.result.segment_ids, ref_seg.numpy())
    ids = run.model.category_ids
    assert [s.category_id for s in run.result.segments] == [ids[r["category_id"]] for r in ref_info]


def test_oneformer_instance_keeps_things_of_its_top_k(oneformer_runs):
    """OneFormer's configs run panoptic inference too: instances of thing classes only, top 150 (its COCO config)."""
    run = oneformer_runs["panoptic"]  # the post-processing is what is tested; the task token is the adapter's
    adapter, result = run.replay("oneformer-swin-large-coco", task="instance")
    things = adapter.thing_labels
    ref = run.oracle(num_classes=133, thing_ids=list(things), instance_on=True, panoptic_on=True,
                     test_topk_per_image=150)["instances"]
    assert set(ref["pred_classes"].tolist()) <= things and len(result) == len(ref["scores"]) > 0
    _assert_instances_equal(_instances(result), {**ref, "pred_classes": torch.tensor(adapter.category_ids)[
        ref["pred_classes"]]})


def test_oneformer_semantic_equals_the_official_inference(oneformer_runs):
    run = oneformer_runs["semantic"]
    ref = run.oracle(num_classes=133, semantic_on=True, instance_on=True, panoptic_on=True)["sem_seg"]
    assert (run.result.labels == ref.argmax(0).numpy()).mean() > 0.999  # equal but for float ties
