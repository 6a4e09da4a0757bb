"""What to fetch for the ADE20K and driving-scene benchmarks, and a check of the folder you unpacked it in.

    python -m benchmarks.download_data cityscapes                 # what to download, and where from
    python -m benchmarks.download_data cityscapes --root DIR      # is DIR usable? (exit 1 if not)

Cityscapes and Mapillary Vistas need a (free) account and may not be redistributed, so
seglab cannot download them for you; ADE20K (the SceneParsing archive) and GTA5 are direct downloads.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from seglab import SeglabError
from seglab.datasets import DATASETS, load_semantic_dataset


@dataclass(frozen=True)
class Source:
    url: str
    login: bool
    files: tuple[str, ...]
    layout: tuple[str, ...]  # folders (and files) expected under --root, relative to it


SOURCES: dict[str, Source] = {
    "ade20k": Source(
        "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip", False,
        ("ADEChallengeData2016.zip: the SceneParsing images and 150-class annotations (DIR is the folder it unpacks to)",),
        ("images/validation", "annotations/validation")),
    "cityscapes": Source(
        "https://www.cityscapes-dataset.com/downloads/", True,
        ("gtFine_trainvaltest.zip (241 MB): the fine labels",
         "leftImg8bit_trainvaltest.zip (11 GB): the left 8-bit images",
         "or, with the same login: csDownload gtFine_trainvaltest.zip leftImg8bit_trainvaltest.zip "
         "(from the cityscapesscripts package)",
         "for the panoptic benchmark, then make its ground truth from the fine labels: python -m "
         "cityscapesscripts.preparation.createPanopticImgs --dataset-folder DIR/gtFine --set-names val"),
        ("leftImg8bit/val", "gtFine/val")),
    "mapillary": Source(
        "https://www.mapillary.com/dataset/vistas", True,
        ("the Vistas research archive (the v2.0 release carries both the v1.2 and the v2.0 labels)",),
        ("config_v1.2.json or config_v2.0.json", "validation/images",
         "validation/v1.2/labels or validation/v2.0/labels")),
    "gta5": Source(
        "https://download.visinf.tu-darmstadt.de/data/from_games/", False,
        ("01_images.zip .. 10_images.zip and 01_labels.zip .. 10_labels.zip, unpacked into one folder",
         "split.mat (optional): the official train/val/test split; without it use every frame"),
        ("images", "labels")),
}


def instructions(name: str) -> str:
    src = SOURCES[name]
    lines = [f"{name}: download from {src.url}" + (" (an account is needed; accept the licence)" if src.login else "")]
    lines += [f"  - {f}" for f in src.files]
    lines.append(f"Unpack into one folder DIR so that it holds: {', '.join(src.layout)}")
    lines.append(f"Then check it:  python -m benchmarks.download_data {name} --root DIR")
    tasks = "semantic|panoptic" if name == "cityscapes" else "semantic"
    lines.append(f"and run:        python -m benchmarks.run --task {tasks} --dataset {name} --root DIR "
                 f"--models ID --out results")
    return "\n".join(lines)


def check(name: str, root: Path) -> tuple[bool, list[str]]:
    """(usable, report lines): which expected folders are present, then a trial load of the first sample."""
    lines = []
    for rel in SOURCES[name].layout:
        options = [r.strip() for r in rel.split(" or ")]
        present = [r for r in options if (root / r).exists()]
        lines.append(f"  [{'ok' if present else 'missing'}] {present[0] if present else rel}")
    try:
        ds = load_semantic_dataset(name, root)
        labels = ds.load_label(ds.samples[0])
    except SeglabError as e:
        lines.append(f"not usable: {e}")
        return False, lines
    lines.append(f"usable: {len(ds)} {ds.split} images, {ds.num_classes} classes "
                 f"(first label {labels.shape[1]}x{labels.shape[0]} read fine); {ds.note}")
    return True, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.download_data", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=sorted(DATASETS))
    parser.add_argument("--root", type=Path, help="folder where you unpacked the data set, to check it")
    args = parser.parse_args(argv)
    print(instructions(args.dataset))
    if args.root is None:
        return 0
    ok, lines = check(args.dataset, args.root)
    print(f"\nChecking {args.root}:")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
