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
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import seglab
from seglab.checkpoints import official_model
from seglab.models.text_sam import match_phrase, official_size, split_phrases

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
SMALL_SWIN = {"embed_dim": 32, "depths": [1, 1, 1, 1], "num_heads": [1, 2, 4, 8], "window_size": 7}
BOX_STD, LOGIT_SCALE = 0.05, 0.15
# the random model's token probabilities sit high (0.7 - 0.99): a text threshold that picks some words, not all
TEXT_THRESHOLD = 0.8


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


def save_bert(folder: Path) -> None:
    """A random one-layer BERT and a BERT tokenizer whose vocabulary spells :data:`WORDS`."""
    from transformers import BertConfig, BertModel, BertTokenizer

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "?"] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    BertTokenizer(vocab=str(folder / "vocab.txt")).save_pretrained(folder)
    config = BertConfig(vocab_size=len(vocab), hidden_size=64, num_hidden_layers=1, num_attention_heads=1,
                        intermediate_size=64)
    BertModel(config).save_pretrained(folder)


def build_official(bert: Path) -> Any:
    """The official Grounding DINO of ``GroundingDINO_SwinT_OGC.py``, cut down (see the module's doc)."""
    from groundingdino.models import build_model
    from groundingdino.util.slconfig import SLConfig

    args = SLConfig.fromfile(str(Path(groundingdino.__file__).parent / "config" / "GroundingDINO_SwinT_OGC.py"))
    args.text_encoder_type, args.device = str(bert), "cpu"
    args.enc_layers, args.dec_layers, args.dim_feedforward = 1, 2, 64
    args.use_checkpoint = args.use_transformer_ckpt = False  # gradient checkpointing: training only
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("groundingdino.models.GroundingDINO.groundingdino.BertModelWarper", BertShim)
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


@pytest.fixture(scope="module")
def routes(official, coco_root) -> dict[str, Any]:
    """Per image: the official route's output and seglab's ``predict`` with the boxes it gave SAM."""
    out = {}
    ours = official["ours"]
    for name, caption in IMAGES.items():
        image = load_slice_image(coco_root, name)
        threshold, *theirs = official_route(official, image, caption, TEXT_THRESHOLD)
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


@pytest.mark.parametrize("name", list(IMAGES))
def test_boxes_scores_and_phrases_equal_the_official_detector(routes, name):
    r = routes[name]
    boxes, scores, _, phrases = r["theirs"]
    assert 5 <= len(scores) <= 20  # the threshold keeps a dozen detections, not none or all
    assert len(r["ours"]) == len(scores)
    assert np.abs(r["ours"].scores - scores).max() < MAX_SCORE_DIFF
    assert np.abs(r["boxes"] - boxes).max() < MAX_BOX_DIFF
    found = [match_phrase(p, split_phrases(r["caption"])) for p in phrases]
    assert [r["ours"].label_name(i) for i in range(len(r["ours"]))] == found


def test_the_phrases_of_the_captions_are_told_apart(routes):
    found = {n for r in routes.values() for n in r["ours"].class_names.values()}
    assert len(found) >= 4  # not one label for every box


@pytest.mark.parametrize("name", list(IMAGES))
def test_masks_of_the_text_route_equal_grounded_sam(routes, name):
    r = routes[name]
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
