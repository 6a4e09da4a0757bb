"""What to fetch for the ADE20K, driving-scene and face-parsing benchmarks, and a check of the folder unpacked.

    python -m benchmarks.download_data cityscapes                 # what to download, and where from
    python -m benchmarks.download_data cityscapes --root DIR      # is DIR usable? (exit 1 if not)

Cityscapes and Mapillary Vistas need a (free) account and may not be redistributed, so
seglab cannot download them for you; ADE20K (the SceneParsing archive) and GTA5 are direct downloads. CARLA and
Habitat frames are recorded with the simulator: the entry says which sensors and settings.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from seglab import SeglabError
from seglab.datasets import DATASETS, DEPTH_DATASETS, load_depth_dataset, load_semantic_dataset


@dataclass(frozen=True)
class Source:
    url: str
    login: bool
    files: tuple[str, ...]
    layout: tuple[str, ...]  # folders (and files) expected under --root, relative to it
    recorded: bool = False  # made with a simulator (``files`` says how), not downloaded
    tasks: str = "semantic"  # the benchmarks.run tasks that read it


SOURCES: dict[str, Source] = {
    "ade20k": Source(
        "http://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip", False,
        ("ADEChallengeData2016.zip: the SceneParsing images and 150-class annotations (DIR is the folder it "
         "unpacks to)",),
        ("images/validation", "annotations/validation")),
    "cityscapes": Source(
        "https://www.cityscapes-dataset.com/downloads/", True,
        ("gtFine_trainvaltest.zip (241 MB): the fine labels",
         "leftImg8bit_trainvaltest.zip (11 GB): the left 8-bit images",
         "or, with the same login: csDownload gtFine_trainvaltest.zip leftImg8bit_trainvaltest.zip "
         "(from the cityscapesscripts package)",
         "for the panoptic benchmark, then make its ground truth from the fine labels: python -m "
         "cityscapesscripts.preparation.createPanopticImgs --dataset-folder DIR/gtFine --set-names val"),
        ("leftImg8bit/val", "gtFine/val"), tasks="semantic|panoptic"),
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
    "carla": Source(
        "https://carla.readthedocs.io/en/latest/ref_sensors/", False,
        ("CARLA 0.9.14 or later (its semantic tags changed then), synchronous mode: sensor.camera.rgb, "
         "sensor.camera.semantic_segmentation and sensor.camera.depth at one transform, with equal "
         "image_size_x, image_size_y and fov",
         "each tick: rgb.save_to_disk(f'DIR/rgb/{image.frame:06d}.png'); the semantic and depth images with "
         "carla.ColorConverter.Raw into DIR/semantic/ and DIR/depth/ under the same name (semantic frames "
         "saved with carla.ColorConverter.CityScapesPalette go in DIR/semantic_palette/ instead)"),
        ("rgb", "semantic or semantic_palette", "depth"), recorded=True, tasks="semantic|depth"),
    "habitat": Source(
        "https://aihabitat.org/docs/habitat-sim/", False,
        ("habitat-sim: one agent with three CameraSensorSpec of equal resolution, position and hfov: "
         "SensorType.COLOR, SensorType.DEPTH and SensorType.SEMANTIC (a scene with semantic annotation: "
         "Matterport3D, or HM3D with its semantic configs)",
         "each step: Image.fromarray(obs['rgb']).save(f'DIR/rgb/{i:06d}.png'); np.save the depth (float32 metres) "
         "and semantic (uint32 object ids) observations as DIR/depth/{i:06d}.npy and DIR/semantic/{i:06d}.npy",
         "once: DIR/objects.json = {str(obj.semantic_id): mpcat40 name} over sim.semantic_scene.objects "
         "(Matterport3D: obj.category.name('mpcat40'); HM3D: its raw name through hm3dsem_category_mappings.tsv)"),
        ("rgb", "depth", "semantic", "objects.json"), recorded=True, tasks="semantic|depth"),
    "celebamask-hq": Source(
        "https://github.com/switchablenorms/CelebAMask-HQ", False,
        ("CelebAMask-HQ.zip (the README's download links; non-commercial research use), unpacked: "
         "CelebA-HQ-img/, CelebAMask-HQ-mask-anno/ and CelebA-HQ-to-CelebA-mapping.txt",),
        ("CelebA-HQ-img", "CelebAMask-HQ-mask-anno", "CelebA-HQ-to-CelebA-mapping.txt"), tasks="part"),
}


def instructions(name: str) -> str:
    src = SOURCES[name]
    if src.recorded:
        lines = [f"{name}: nothing to download; record it with the simulator (sensors: {src.url})"]
    else:
        lines = [f"{name}: download from {src.url}" + (" (an account is needed; accept the licence)" if src.login
                                                        else "")]
    lines += [f"  - {f}" for f in src.files]
    lines.append(f"{'Record' if src.recorded else 'Unpack'} into one folder DIR so that it holds: "
                 f"{', '.join(src.layout)}")
    lines.append(f"Then check it:  python -m benchmarks.download_data {name} --root DIR")
    lines.append(f"and run:        python -m benchmarks.run --task {src.tasks} --dataset {name} --root DIR "
                 f"--models ID --out results")
    return "\n".join(lines)


def check(name: str, root: Path) -> tuple[bool, list[str]]:
    """(usable, report lines): which expected folders are present, then a trial load of the first sample
    (a recording's depth frames too: it is usable if either task can read it)."""
    lines = []
    for rel in SOURCES[name].layout:
        options = [r.strip() for r in rel.split(" or ")]
        present = [r for r in options if (root / r).exists()]
        lines.append(f"  [{'ok' if present else 'missing'}] {present[0] if present else rel}")
    depth = name in DEPTH_DATASETS
    usable = False
    try:
        ds = load_semantic_dataset(name, root)
        labels = ds.load_label(ds.samples[0])
        lines.append(f"usable{' for semantic' if depth else ''}: {len(ds)} {ds.split} images, {ds.num_classes} "
                     f"classes (first label {labels.shape[1]}x{labels.shape[0]} read fine); {ds.note}")
        usable = True
    except SeglabError as e:
        lines.append(f"not usable{' for semantic' if depth else ''}: {e}")
    if depth:
        try:
            pairs = load_depth_dataset(name, root)
            metres = pairs.load_depth(pairs.samples[0])
            lines.append(f"usable for depth: {len(pairs)} frames (first depth {metres.shape[1]}x{metres.shape[0]} "
                         f"read fine); {pairs.note}")
            usable = True
        except SeglabError as e:
            lines.append(f"not usable for depth: {e}")
    return usable, lines


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
