"""The text route (detector boxes -> SAM): tiny random Grounding DINO / OWLv2 + SAM built from real configs,
saved as ``location/detector`` and ``location/sam`` and loaded through the registry path."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_models_sam import save_tiny as save_tiny_sam  # the tiny SAM / SAM 2 builders of the SAM tests

import seglab
from seglab import InvalidPromptError, Masks, Prompt, WeightsUnavailableError
from seglab.models.text_sam import match_phrase, split_phrases

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = ["a", "cat", "dog", "zebra", "person"]


def save_tiny_grounding_dino(folder: Path) -> None:
    from transformers import (
        BertTokenizer,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder.mkdir(parents=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ","] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = GroundingDinoConfig(
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10, num_feature_levels=2, encoder_n_points=2,
        decoder_n_points=2, max_text_len=16,
        backbone_config=SwinConfig(embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=7, out_indices=[1, 2]),
        text_config={"model_type": "bert", "vocab_size": len(vocab), "hidden_size": 16, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32})
    torch.manual_seed(0)
    GroundingDinoForObjectDetection(config).save_pretrained(folder)
    processor = GroundingDinoProcessor(GroundingDinoImageProcessor(size={"shortest_edge": 224, "longest_edge": 320}),
                                       BertTokenizer(vocab=str(folder / "vocab.txt")))
    processor.save_pretrained(folder)


def write_clip_tokenizer(folder: Path, words: list[str]):
    """A CLIP BPE tokenizer from a vocab.json / merges.txt written to ``folder`` that spell ``words``;
    the special tokens get the last ids, as in CLIP (OWL masks queries whose first id is 0)."""
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    merges: list[str] = []
    for word in words:
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        for piece in pieces + list(word) + [c + "</w>" for c in word]:
            vocab.setdefault(piece, len(vocab))
        joined = pieces[0]
        for nxt in pieces[1:]:
            merges.append(f"{joined} {nxt}")
            joined += nxt
            vocab.setdefault(joined, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(dict.fromkeys(merges)) + "\n")
    return CLIPTokenizer(vocab=str(folder / "vocab.json"), merges=str(folder / "merges.txt"))


def save_tiny_owlv2(folder: Path) -> None:
    """OWLv2 with a tiny CLIP tokenizer; the box head starts at OWLv2's anchor grid (last layer
    zeroed) so the random model's boxes are valid boxes."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    folder.mkdir(parents=True)
    tokenizer = write_clip_tokenizer(folder, WORDS)
    n = len(tokenizer.get_vocab())
    config = Owlv2Config(
        text_config={"vocab_size": n, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 16, "bos_token_id": n - 2,
                     "eos_token_id": n - 1, "pad_token_id": n - 1},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 16},
        projection_dim=16)
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(config)
    torch.nn.init.zeros_(model.box_head.dense2.weight)
    torch.nn.init.zeros_(model.box_head.dense2.bias)
    model.save_pretrained(folder)
    Owlv2Processor(Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer).save_pretrained(folder)


def text_route(tmp_path_factory, model_id: str, save_detector, sam_family: str):
    root = tmp_path_factory.mktemp(model_id)
    save_detector(root / "detector")
    save_tiny_sam(sam_family, root / "sam")
    return seglab.load_model(model_id, device="cpu", location=root)


@pytest.fixture(scope="module")
def grounding_dino(tmp_path_factory):
    return text_route(tmp_path_factory, "grounding-dino-tiny+sam-vit-base", save_tiny_grounding_dino, "sam")


@pytest.fixture(scope="module")
def owlv2(tmp_path_factory):
    return text_route(tmp_path_factory, "owlv2-base+sam-vit-base", save_tiny_owlv2, "sam")


@pytest.fixture(scope="module")
def grounding_dino_sam2(tmp_path_factory):
    return text_route(tmp_path_factory, "grounding-dino-tiny+sam2.1-hiera-tiny", save_tiny_grounding_dino, "sam2")


def spy_on_sam(adapter, monkeypatch) -> list[np.ndarray]:
    """Record the boxes each SAM call receives, still running SAM."""
    received: list[np.ndarray] = []
    segment = adapter.sam.segment

    def recording(embedding, prompt, *args, **kwargs):
        received.append(np.array(prompt.boxes))
        return segment(embedding, prompt, *args, **kwargs)

    monkeypatch.setattr(adapter.sam, "segment", recording)
    return received


def test_split_phrases_and_match_phrase():
    assert split_phrases(" Cat. a dog, cat;bird ") == ["cat", "a dog", "bird"]
    assert match_phrase("cat. dog. [SEP]", ["cat", "dog"]) == "cat"
    assert match_phrase("hot dog", ["dog", "hot dog"]) == "hot dog"
    assert match_phrase("tabby", ["cat"]) == "tabby"
    assert match_phrase("[CLS]", ["cat", "dog"]) == "cat dog"


@pytest.mark.parametrize("adapter_name, text", [("grounding_dino", "cat. dog."), ("owlv2", "cat, dog"),
                                                ("grounding_dino_sam2", "cat. dog.")])
def test_detector_boxes_reach_sam_with_phrases_and_scores(adapter_name, text, request, coco_image, monkeypatch):
    adapter = request.getfixturevalue(adapter_name)
    boxes, scores, names = adapter.detect(coco_image, text, box_threshold=0.0, text_threshold=0.0)
    assert len(boxes) > 0
    received = spy_on_sam(adapter, monkeypatch)
    result = seglab.predict(adapter, coco_image, Prompt.build(text=text), box_threshold=0.0, text_threshold=0.0)
    assert isinstance(result, Masks)
    assert len(received) == 1 and np.allclose(received[0], boxes)
    assert result.image_size == coco_image.shape[:2] == (427, 640)
    assert len(result) == len(boxes)
    assert np.allclose(result.scores, scores)
    assert [result.label_name(i) for i in range(len(result))] == names
    assert set(result.class_names.values()) <= {"cat", "dog"}
    h, w = coco_image.shape[:2]
    if adapter.family == "owlv2":  # clipped to the image; Grounding DINO's go to SAM as predicted (Grounded-SAM)
        assert (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all() and (boxes >= 0).all()
    assert result.note == ""


@pytest.mark.parametrize("adapter_name", ["grounding_dino", "owlv2"])
def test_box_threshold_is_applied(adapter_name, request, coco_image):
    adapter = request.getfixturevalue(adapter_name)
    _, all_scores, _ = adapter.detect(coco_image, "cat", box_threshold=0.0, text_threshold=0.0)
    cut = float(np.median(all_scores))
    _, scores, _ = adapter.detect(coco_image, "cat", box_threshold=cut, text_threshold=0.0)
    assert (scores > cut).all()
    assert len(scores) == int((all_scores > cut).sum())
    assert list(scores) == sorted(scores, reverse=True)


def test_text_threshold_picks_the_words_of_grounding_dino(grounding_dino, coco_image):
    _, _, loose = grounding_dino.detect(coco_image, "cat. dog.", box_threshold=0.0, text_threshold=0.0)
    _, _, strict = grounding_dino.detect(coco_image, "cat. dog.", box_threshold=0.0, text_threshold=1.0)
    assert set(loose) <= {"cat", "dog"}
    assert set(strict) == {"cat dog"}  # no word above 1.0: the label falls back to the whole text


@pytest.mark.parametrize("adapter_name", ["grounding_dino", "owlv2"])
def test_nothing_above_threshold_is_an_empty_result_with_a_note(adapter_name, request, coco_image, monkeypatch):
    adapter = request.getfixturevalue(adapter_name)
    received = spy_on_sam(adapter, monkeypatch)
    result = seglab.predict(adapter, coco_image, Prompt.build(text="zebra"), box_threshold=1.0)
    assert len(result) == 0 and result.image_size == (427, 640)
    assert "no 'zebra' found above score 1.00" in result.note and "lower the threshold" in result.note
    assert received == []  # SAM is not run for nothing


def test_empty_text_is_an_invalid_prompt(grounding_dino, coco_image):
    with pytest.raises(InvalidPromptError, match="text prompt is empty"):
        seglab.predict(grounding_dino, coco_image, Prompt(text="   "))


def test_missing_local_folders_give_a_clear_error(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="cannot load from"):
        seglab.load_model("owlv2-base+sam-vit-base", device="cpu", location=tmp_path)


def test_sam_family_comes_from_the_registry_row(grounding_dino, grounding_dino_sam2):
    assert type(grounding_dino.sam.model).__name__ == "SamModel"
    assert type(grounding_dino_sam2.sam.model).__name__ == "Sam2Model"
