"""The text route (Grounding DINO boxes -> SAM masks) in seglab against the official code on the same weights.

The official Grounding DINO is ``groundingdino-py`` 0.4.0 (IDEA-Research/GroundingDINO at 427aebd without its C++
op), built from its own ``GroundingDINO_SwinT_OGC.py`` config with random weights and a local random BERT, saved as
an official ``{"model": state_dict}`` ``.pth`` beside the BERT tokenizer's files, and loaded through
``seglab.load_model("grounding-dino-tiny+sam-vit-base", location=...)`` with the official SAM ``.pth`` of
``benchmarks.sam_official``. The oracle is the official ``groundingdino.util.inference`` (``Model.preprocess_image``,
``predict``, ``Model.post_process_result``) and, for the masks, the official ``SamPredictor`` prompted with those
boxes as Grounded-SAM does (``apply_boxes_torch`` + ``predict_torch``, one mask a box).

Random weights need three changes to say anything: the box heads' last layers (zero in the official init) get
random weights, or every box is its anchor; the decoder's final LayerNorm is scaled down so that token
probabilities spread over (0, 1) instead of sitting at 0 or 1 (logit std 13 -> 2); and the encoder output's biases are zeroed so that the masked (off-image)
proposals score exactly 0 and rank below the valid ones in the top-900 choice (otherwise they tie, and which of
equal scores ``topk`` keeps is arbitrary). The model is cut to a 32-wide, one-block-a-stage Swin (the official
``SwinTransformer`` class), one encoder and two decoder layers and a one-layer BERT: at the official 800 x 1333
input the full Swin-T alone costs tens of seconds a forward on CPU. The official text position embedding is 256
wide whatever ``hidden_dim`` says, so the transformer keeps the real width.

The full model (the config's Swin-T, 6 encoder and 6 decoder layers of 2048, a 12-layer bert-base-sized BERT) runs
on one image. At that depth float32 rounding leaves the encoder's proposal logits up to 4e-5 apart (1e-6 of their
size, 40), and neighbours among the top 900 can be closer than that: two of them (1.1e-5 apart) swap places in the
queries' order. The order matters only through the learnt query embeddings (``tgt_embed``, one a position), so the
full route's model gets one random embedding for all queries: the decoder then treats its queries alike whatever
their order, and a swap of two near-equal proposals swaps two detections without changing them. With a query
embedding each and both codes in float64 (their float32 grids and sine embeddings too), the full model's logits and
boxes agree to float64 rounding, query by query: the same function, the top-900 order included.
"""
from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import seglab
from seglab.checkpoints import grounding_dino, official_model
from seglab.models.text_sam import grounding_caption, grounding_pixels, match_phrase, official_size, split_phrases

torch = pytest.importorskip("torch")
groundingdino = pytest.importorskip("groundingdino", reason="the official Grounding DINO (groundingdino-py, "
                                                            "requirements-dev.txt / .ci/run)")
segment_anything = pytest.importorskip("segment_anything", reason="the official SAM (requirements-dev.txt)")
inference = pytest.importorskip("groundingdino.util.inference", reason="groundingdino-py's imports (.ci/run)")

MODEL_ID = "grounding-dino-tiny+sam-vit-base"
MAX_PIXEL_DIFF = 1e-3  # fraction of pixels of a mask at the original resolution
MAX_SCORE_DIFF = 1e-4
MAX_BOX_DIFF = 1e-2  # pixels
WORDS = ["a", "two", "cat", "cats", "remote", "control", "couch", "person", "dog", "bus", "man"]
# shared-slice images: landscape, small and odd-sized, portrait with an odd width; a caption of several phrases each,
# in mixed case and without the final "." the official code adds
IMAGES = {"000000039769.png": "Two cats. remote control. couch",  # 640 x 480
          "000000037777.jpg": "a person. dog. bus.",  # 352 x 230
          "000000331352.jpg": "Man, cat. remote control"}  # 351 x 500; a comma is no separator
FULL_IMAGE = "000000039769.png"  # the full model runs on this one
SMALL_SWIN = {"embed_dim": 32, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8], "window_size": 7}
BOX_STD, LOGIT_SCALE = 0.05, 0.15
# the random model's token probabilities sit high (0.7 - 0.99): a text threshold that picks some words, not all
TEXT_THRESHOLD = 0.8


# modules of both codes that build grids and sine embeddings in float32 whatever the model's dtype
FLOAT32_MODULES = ("groundingdino.models.GroundingDINO.transformer", "groundingdino.models.GroundingDINO.utils",
                   "groundingdino.models.GroundingDINO.backbone.position_encoding",
                   "transformers.models.grounding_dino.modeling_grounding_dino")


class Float64Torch:
    """``torch`` for :data:`FLOAT32_MODULES`, with ``torch.float32`` read as float64."""

    def __getattr__(self, name: str) -> Any:
        return torch.float64 if name == "float32" else getattr(torch, name)


class BertShim(torch.nn.Module):
    """The official ``BertModelWarper`` (groundingdino/models/GroundingDINO/bertwarper.py) for transformers 5, which
    removed the ``get_extended_attention_mask`` / ``get_head_mask`` it calls: the same embeddings, the official
    additive mask ``(1 - mask) * finfo.min`` over the 3-D sub-sentence mask, the same encoder (its submodules keep
    the official names, so the state dict is the official one)."""

    def __init__(self, bert_model: Any) -> None:
        super().__init__()
        self.config = bert_model.config
        self.embeddings, self.encoder, self.pooler = bert_model.embeddings, bert_model.encoder, bert_model.pooler

    def forward(self, input_ids, attention_mask, token_type_ids, position_ids, **_: Any) -> dict[str, Any]:
        x = self.embeddings(input_ids=input_ids, position_ids=position_ids, token_type_ids=token_type_ids)
        mask = (1.0 - attention_mask[:, None].to(x.dtype)) * torch.finfo(x.dtype).min
        return {"last_hidden_state": self.encoder(x, attention_mask=mask)[0]}


def small_swin(modelname: str, pretrain_img_size: int, **kw: Any) -> Any:
    from groundingdino.models.GroundingDINO.backbone.swin_transformer import SwinTransformer

    return SwinTransformer(pretrain_img_size=pretrain_img_size, **SMALL_SWIN, **kw)


def save_bert(folder: Path, full: bool = False) -> None:
    """A random one-layer BERT (``full``: bert-base's 12 layers of 768) and a BERT tokenizer whose vocabulary
    spells :data:`WORDS`."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    small = {} if full else {"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 1,
                             "intermediate_size": 64}
    config = BertConfig(vocab_size=len(vocab), **small)
    BertModel(config).save_pretrained(folder)


def build_official(bert: Path, full: bool = False) -> Any:
    """The official Grounding DINO of ``GroundingDINO_SwinT_OGC.py``, cut down unless ``full`` (see the module's
    doc)."""
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    args = SLConfig.fromfile(str(Path(groundingdino.__file__).parent / "config" / "GroundingDINO_SwinT_OGC.py"))
    args.text_encoder_type, args.device = str(bert), "cpu"
    if not full:
        args.enc_layers, args.dec_layers, args.dim_feedforward = 1, 2, 64
    args.use_checkpoint = args.use_transformer_ckpt = False  # gradient checkpointing: training only
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("groundingdino.models.GroundingDINO.groundingdino.BertModelWarper", BertShim)
        if not full:
            mp.setattr("groundingdino.models.GroundingDINO.backbone.backbone.build_swin_transformer", small_swin)
        model = build_model(args)
    with torch.no_grad():
        for head in (model.bbox_embed[0], model.transformer.enc_out_bbox_embed):  # bbox_embed: shared by layers
            torch.nn.init.normal_(head.layers[-1].weight, std=BOX_STD)
            torch.nn.init.normal_(head.layers[-1].bias, std=BOX_STD)
        model.transformer.decoder.norm.weight.mul_(LOGIT_SCALE)  # the decoder output the logits are taken of
        model.transformer.decoder.norm.bias.mul_(LOGIT_SCALE)
        model.transformer.enc_output.bias.zero_()
        model.transformer.enc_output_norm.bias.zero_()
        if full:  # one query embedding for all: the queries' order cannot matter (see the module's doc)
            model.transformer.tgt_embed.weight.copy_(model.transformer.tgt_embed.weight[:1].clone())
    return model.eval()


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Any]:
    """The official detector and SAM predictor, and seglab's adapter loaded from their saved checkpoints."""
    from benchmarks.sam_official import build_official as build_official_sam

    root = tmp_path_factory.mktemp("text-sam-official")
    torch.manual_seed(0)  # BERT's weights too: the result must not hang on what ran before
    save_bert(root / "bert")
    detector = build_official(root / "bert")
    (root / "weights" / "detector").mkdir(parents=True)
    (root / "weights" / "sam").mkdir()
    torch.save({"model": detector.state_dict()}, root / "weights" / "detector" / "groundingdino_swint_ogc.pth")
    detector.tokenizer.save_pretrained(root / "weights" / "detector")
    sam = build_official_sam("sam", "small")
    torch.save(sam.state_dict(), root / "weights" / "sam" / "sam_vit_b_01ec64.pth")
    ours = seglab.load_model(MODEL_ID, location=root / "weights")
    return {"detector": detector, "sam": segment_anything.SamPredictor(sam), "ours": ours, "root": root}


@pytest.fixture(scope="module")
def official_full(official) -> dict[str, Any]:
    """The same with the full official detector (:data:`FULL_IMAGE` only) and the same SAM."""
    root = official["root"] / "full"
    torch.manual_seed(0)
    save_bert(root / "bert", full=True)
    detector = build_official(root / "bert", full=True)
    (root / "weights" / "detector").mkdir(parents=True)
    torch.save({"model": detector.state_dict()}, root / "weights" / "detector" / "groundingdino_swint_ogc.pth")
    detector.tokenizer.save_pretrained(root / "weights" / "detector")
    (root / "weights" / "sam").symlink_to(official["root"] / "weights" / "sam", target_is_directory=True)
    ours = seglab.load_model(MODEL_ID, location=root / "weights")
    return {"detector": detector, "sam": official["sam"], "ours": ours, "root": root}


def official_detections(detector: Any, image: np.ndarray, caption: str, box_threshold: float,
                        text_threshold: float) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(xyxy boxes, scores, phrases) of the official inference code, in its query order."""
    pixels = inference.Model.preprocess_image(np.ascontiguousarray(image[..., ::-1]))  # it takes BGR
    boxes, logits, phrases = inference.predict(detector, pixels, caption, box_threshold, text_threshold, device="cpu")
    found = inference.Model.post_process_result(*image.shape[:2], boxes, logits)
    return found.xyxy, found.confidence, phrases


def official_route(pair: dict[str, Any], image: np.ndarray, caption: str,
                   text_threshold: float) -> tuple[float, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Grounded-SAM with the official parts, at a box threshold that keeps about a dozen detections (one forward:
    the official ``predict`` keeps the queries whose score is above the threshold, so filtering its output at 0
    is the same): the threshold, boxes, scores and phrases best first, and SAM's mask of each box."""
    boxes, scores, phrases = official_detections(pair["detector"], image, caption, 0.0, text_threshold)
    threshold = threshold_between(scores, 12)
    order = [i for i in np.argsort(-scores, kind="stable") if scores[i] > threshold]
    boxes, scores, phrases = boxes[order], scores[order], [phrases[i] for i in order]
    predictor = pair["sam"]
    predictor.set_image(image)
    prompt = predictor.transform.apply_boxes_torch(torch.as_tensor(boxes), image.shape[:2])
    with torch.no_grad():
        masks, _, _ = predictor.predict_torch(point_coords=None, point_labels=None, boxes=prompt,
                                              multimask_output=False)
    return threshold, boxes, scores, masks[:, 0].numpy(), phrases


def threshold_between(scores: np.ndarray, n: int) -> float:
    """A box threshold with about ``n`` detections above it, in the widest gap between neighbouring scores there
    (so that float rounding cannot move a detection across it)."""
    s = np.sort(scores)[::-1]
    gaps = s[n - 3: n + 3] - s[n - 2: n + 4]
    i = n - 3 + int(np.argmax(gaps))
    return float(s[i] + s[i + 1]) / 2


def load_slice_image(coco_root: Path, name: str) -> np.ndarray:
    return seglab.load_image(coco_root / "val2017" / name)


def compare_routes(pair: dict[str, Any], coco_root: Path, names: list[str]) -> dict[str, Any]:
    """Per image: the official route's output and seglab's ``predict`` with the boxes it gave SAM."""
    out = {}
    ours = pair["ours"]
    for name in names:
        image, caption = load_slice_image(coco_root, name), IMAGES[name]
        threshold, *theirs = official_route(pair, image, caption, TEXT_THRESHOLD)
        received: list[np.ndarray] = []
        segment = ours.sam.segment
        ours.sam.segment = lambda e, p, *a, got=received, run=segment, **k: (got.append(np.array(p.boxes)), run(e, p, *a, **k))[1]
        try:
            result = seglab.predict(ours, image, seglab.Prompt.build(text=caption), box_threshold=threshold,
                                    text_threshold=TEXT_THRESHOLD)
        finally:
            del ours.sam.segment
        out[name] = {"image": image, "caption": caption, "theirs": theirs, "ours": result, "boxes": received[0]}
    return out


@pytest.fixture(scope="module")
def routes(official, coco_root) -> dict[str, Any]:
    """:func:`compare_routes` of the cut-down model on every image."""
    return compare_routes(official, coco_root, list(IMAGES))


@pytest.fixture(scope="module")
def routes_full(official_full, coco_root) -> dict[str, Any]:
    """:func:`compare_routes` of the full model on :data:`FULL_IMAGE`."""
    return compare_routes(official_full, coco_root, [FULL_IMAGE])


# (routes fixture, image): the cut-down model on every image, the full one on one
CASES = [("routes", name) for name in IMAGES] + [("routes_full", FULL_IMAGE)]


@pytest.mark.parametrize("depth,name", CASES)
def test_boxes_scores_and_phrases_equal_the_official_detector(request, depth, name):
    r = request.getfixturevalue(depth)[name]
    boxes, scores, _, phrases = r["theirs"]
    assert 5 <= len(scores) <= 20  # the threshold keeps a dozen detections, not none or all
    assert len(r["ours"]) == len(scores)
    assert np.abs(r["ours"].scores - scores).max() < MAX_SCORE_DIFF
    assert np.abs(r["boxes"] - boxes).max() < MAX_BOX_DIFF
    found = [match_phrase(p, split_phrases(r["caption"])) for p in phrases]
    assert [r["ours"].label_name(i) for i in range(len(r["ours"]))] == found


def test_the_full_model_in_float64_is_the_official_function_query_order_included(official_full, coco_root):
    """The full model with a query embedding each (as trained ones have), both codes in float64 throughout (their
    float32 grids and sine embeddings, and the official logits' ``torch.full``, too): every query's logits and box
    agree to float64 rounding, so the top-900 choice and order are the same and the float32 differences are
    rounding."""
    theirs, ours = copy.deepcopy(official_full["detector"]), copy.deepcopy(official_full["ours"].detector)
    torch.manual_seed(1)
    with torch.no_grad():
        torch.nn.init.normal_(theirs.transformer.tgt_embed.weight)
    ours.load_state_dict(grounding_dino.convert(theirs.state_dict()), strict=True)  # the checkpoint's key table
    caption = grounding_caption(IMAGES[FULL_IMAGE])
    tokens = official_full["ours"].processor.tokenizer(caption, return_tensors="pt")
    pixels = grounding_pixels(load_slice_image(coco_root, FULL_IMAGE)).double()
    default = torch.get_default_dtype()
    with pytest.MonkeyPatch.context() as mp, torch.no_grad():
        for name in FLOAT32_MODULES:
            mp.setattr(f"{name}.torch", Float64Torch())
        torch.set_default_dtype(torch.float64)
        try:
            expected = theirs.double().eval()(pixels, captions=[caption])
            got = ours.double().eval()(pixel_values=pixels, **tokens)
        finally:
            torch.set_default_dtype(default)
    n = tokens["input_ids"].shape[1]
    assert expected["pred_logits"].dtype == got.logits.dtype == torch.float64
    assert (expected["pred_logits"][0, :, :n] - got.logits[0, :, :n]).abs().max() < 1e-10
    assert (expected["pred_boxes"] - got.pred_boxes).abs().max() * max(pixels.shape[-2:]) < 1e-8  # pixels


def test_the_full_model_has_every_layer_of_the_official_config(official_full):
    """The architecture read back from the full checkpoint is the official model's, layer counts and widths."""
    theirs, cfg = official_full["detector"], official_full["ours"].detector.config
    swin = theirs.backbone[0]
    assert [len(stage.blocks) for stage in swin.layers] == cfg.backbone_config.depths == [2, 2, 6, 2]
    assert swin.embed_dim == cfg.backbone_config.embed_dim
    assert len(theirs.transformer.encoder.layers) == cfg.encoder_layers == 6
    assert len(theirs.transformer.decoder.layers) == cfg.decoder_layers == 6
    assert theirs.transformer.encoder.layers[0].linear1.out_features == cfg.encoder_ffn_dim == 2048
    assert len(theirs.bert.encoder.layer) == cfg.text_config.num_hidden_layers == 12
    assert theirs.num_queries == cfg.num_queries == 900


def test_the_phrases_of_the_captions_are_told_apart(routes):
    found = {n for r in routes.values() for n in r["ours"].class_names.values()}
    assert len(found) >= 4  # not one label for every box


@pytest.mark.parametrize("depth,name", CASES)
def test_masks_of_the_text_route_equal_grounded_sam(request, depth, name):
    r = request.getfixturevalue(depth)[name]
    masks = r["theirs"][2]
    h, w = r["image"].shape[:2]
    assert r["ours"].masks.shape == masks.shape == (len(masks), h, w)
    differ = (r["ours"].masks != masks).mean(axis=(1, 2))
    assert differ.max() <= MAX_PIXEL_DIFF, f"{name}: masks differ on {differ.max():.3%} of the pixels"
    assert 0.01 < masks.mean() < 0.99  # masks that are neither empty nor the whole image


def test_the_pixels_are_the_official_transform(coco_root):
    """seglab's preprocessing against the official ``Model.preprocess_image`` on every image, sizes included."""
    from seglab.models.text_sam import grounding_pixels

    for name in IMAGES:
        image = load_slice_image(coco_root, name)
        theirs = inference.Model.preprocess_image(np.ascontiguousarray(image[..., ::-1]))
        ours = grounding_pixels(image)[0]
        assert ours.shape == theirs.shape and tuple(ours.shape[1:]) == official_size(*image.shape[:2])
        assert torch.equal(ours, theirs)
    import groundingdino.datasets.transforms as T
    from PIL import Image

    resize = T.RandomResize([800], max_size=1333)  # the official one, on images of extreme and exact sizes
    for h, w in [(100, 400), (400, 100), (800, 1000), (1333, 800), (799, 1201)]:
        resized, _ = resize(Image.new("RGB", (w, h)))
        assert official_size(h, w) == resized.size[::-1]


def test_default_thresholds_are_the_official_ones(official):
    defaults = inspect.signature(inference.Model.predict_with_caption).parameters
    assert official["ours"].box_threshold == defaults["box_threshold"].default
    assert official["ours"].text_threshold == defaults["text_threshold"].default


def test_the_special_tokens_come_from_the_tokenizer(official):
    """transformers' model carries bert-base-uncased's ids; the official model asks its tokenizer (here another
    vocabulary), and so does the adapter."""
    tokenizer = official["detector"].tokenizer
    ids = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]", ".", "?"])
    assert official["ours"].detector.model.special_tokens.tolist() == ids == official["detector"].specical_tokens
    assert ids != [101, 102, 1012, 1029]


def test_the_checkpoint_loads_strictly_and_bad_ones_fail_in_one_line(official, tmp_path):
    path = next((official["root"] / "weights" / "detector").glob("*.pth"))
    model = official_model(path, "grounding-dino")
    sd = torch.load(path, weights_only=True)["model"]
    assert model.config.encoder_layers == 1 and model.config.decoder_layers == 2
    assert model.config.backbone_config.embed_dim == SMALL_SWIN["embed_dim"]
    assert torch.equal(model.model.text_projection.weight, sd["feat_map.weight"])
    extra = dict(sd, **{"transformer.unknown.weight": torch.zeros(1)})
    torch.save({"model": extra}, tmp_path / "extra.pth")
    with pytest.raises(seglab.WeightsUnavailableError, match=r"unexpected key 'transformer.unknown.weight'"):
        official_model(tmp_path / "extra.pth", "grounding-dino")
    short = {k: v for k, v in sd.items() if k != "feat_map.bias"}
    torch.save({"model": short}, tmp_path / "short.pth")
    with pytest.raises(seglab.WeightsUnavailableError, match=r"'model.text_projection.bias' is missing"):
        official_model(tmp_path / "short.pth", "grounding-dino")
    wrong = dict(sd, **{"feat_map.bias": torch.zeros(3)})
    torch.save({"model": wrong}, tmp_path / "wrong.pth")
    with pytest.raises(seglab.WeightsUnavailableError, match=r"'model.text_projection.bias' has shape \(3,\)"):
        official_model(tmp_path / "wrong.pth", "grounding-dino")
