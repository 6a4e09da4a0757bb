"""Label sets as data: the classes a model predicts, in its contiguous id order, and the data set ids they stand for.

A registry entry names its label set (``ModelSpec.labels``); adapters and the benchmark read the
mapping from here, and ``tests/test_label_maps.py`` checks every set against its official source:

- ``coco-panoptic-133``: COCO panoptic categories 1..200 (:mod:`seglab.coco_categories`, panopticapi's list)
- ``coco-80``: the 80 COCO thing categories (ids 1..90), contiguous as Mask2Former predicts them
- ``coco-91``: torchvision's Mask R-CNN outputs, whose index is the COCO category id (0 background, 10 unused)
- ``voc-21``: PASCAL VOC, background + 20 classes, ids 0..20 as in the VOC label PNGs
- ``ade20k-150``: ADE20K SceneParsing, ids 1..150 of ``objectInfo150`` (0 = other, not evaluated)
- ``cityscapes-19``: Cityscapes train ids 0..18 -> label ids 7..33 (``cityscapesscripts.helpers.labels``)
- ``mapillary-vistas-65``: Mapillary Vistas v1.2, the 65 evaluated labels of ``config_v1.2.json``, ids 0..64
- ``celebamask-hq-19``: CelebAMask-HQ face parts, background + 18 parts in the order of its ``g_mask.py``
- ``atr-18``: ATR human parsing (clothes and body parts), ids 0..17 of its ``atr_label.txt``
"""
from __future__ import annotations

from dataclasses import dataclass

from ..coco_categories import COCO_PANOPTIC_CATEGORIES, COCO_THING_CATEGORIES, Category
from ..errors import SeglabError


@dataclass(frozen=True)
class LabelSet:
    """One label set. ``categories[i]`` is what the model's class ``model_ids[i]`` stands for:
    (the data set's id, its name, whether it is a thing); ``model_ids`` is ``0..n-1`` unless given."""

    name: str
    dataset: str  # the data set whose ids these are: coco, voc, ade20k, cityscapes, mapillary-vistas, celebamask-hq, atr
    categories: tuple[Category, ...]
    source: str  # where the table comes from
    model_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not self.model_ids:
            object.__setattr__(self, "model_ids", tuple(range(len(self.categories))))
        assert len(self.model_ids) == len(self.categories), self.name

    def __len__(self) -> int:
        return len(self.categories)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @property
    def ids(self) -> tuple[int, ...]:
        """The data set id of each category, in the model's order."""
        return tuple(c.id for c in self.categories)

    @property
    def num_outputs(self) -> int:
        """How many classes the model's head has (``coco-91``: 91, with background and unused ids)."""
        return max(self.model_ids) + 1

    def fits(self, num_classes: int) -> bool:
        """Whether a model head with ``num_classes`` classes predicts this set (else the weights are another's)."""
        return num_classes == self.num_outputs


VOC_21 = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
          "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
# the COCO category id of each VOC class index (0 = background): torchvision's segmentation ``CAT_LIST``
VOC_COCO_CATEGORIES = (0, 5, 2, 16, 9, 44, 6, 3, 17, 62, 21, 67, 18, 19, 4, 1, 64, 20, 63, 7, 72)
# objectInfo150 (CSAILVision/sceneparsing), Idx 1..150: the first of each row's synonyms
ADE20K_150 = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass", "cabinet", "sidewalk",
    "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water", "painting", "sofa",
    "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
    "bathtub", "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand",
    "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table",
    "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight",
    "booth", "television", "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman",
    "bottle", "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball",
    "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)
CITYSCAPES_19 = (  # train id order: (label id, name, has instances)
    (7, "road", False), (8, "sidewalk", False), (11, "building", False), (12, "wall", False), (13, "fence", False),
    (17, "pole", False), (19, "traffic light", False), (20, "traffic sign", False), (21, "vegetation", False),
    (22, "terrain", False), (23, "sky", False), (24, "person", True), (25, "rider", True), (26, "car", True),
    (27, "truck", True), (28, "bus", True), (31, "train", True), (32, "motorcycle", True), (33, "bicycle", True),
)
# config_v1.2.json labels with "evaluate": true, in order: (readable name, has instances); 'Unlabeled' (65) is void
MAPILLARY_VISTAS_65 = (
    ("Bird", True), ("Ground Animal", True), ("Curb", False), ("Fence", False), ("Guard Rail", False),
    ("Barrier", False), ("Wall", False), ("Bike Lane", False), ("Crosswalk - Plain", True), ("Curb Cut", False),
    ("Parking", False), ("Pedestrian Area", False), ("Rail Track", False), ("Road", False), ("Service Lane", False),
    ("Sidewalk", False), ("Bridge", False), ("Building", False), ("Tunnel", False), ("Person", True),
    ("Bicyclist", True), ("Motorcyclist", True), ("Other Rider", True), ("Lane Marking - Crosswalk", True),
    ("Lane Marking - General", False), ("Mountain", False), ("Sand", False), ("Sky", False), ("Snow", False),
    ("Terrain", False), ("Vegetation", False), ("Water", False), ("Banner", True), ("Bench", True),
    ("Bike Rack", True), ("Billboard", True), ("Catch Basin", True), ("CCTV Camera", True), ("Fire Hydrant", True),
    ("Junction Box", True), ("Mailbox", True), ("Manhole", True), ("Phone Booth", True), ("Pothole", False),
    ("Street Light", True), ("Pole", True), ("Traffic Sign Frame", True), ("Utility Pole", True),
    ("Traffic Light", True), ("Traffic Sign (Back)", True), ("Traffic Sign (Front)", True), ("Trash Can", True),
    ("Bicycle", True), ("Boat", True), ("Bus", True), ("Car", True), ("Caravan", True), ("Motorcycle", True),
    ("On Rails", False), ("Other Vehicle", True), ("Trailer", True), ("Truck", True), ("Wheeled Slow", True),
    ("Car Mount", False), ("Ego Vehicle", False),
)

# CelebAMask-HQ (switchablenorms/CelebAMask-HQ face_parsing/Data_preprocessing/g_mask.py): 0 background, then its
# label_list, a part's pixels getting its 1-based index
CELEBAMASK_HQ_19 = ("background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
                    "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth")
# ATR (lemondan/HumanParsing-Dataset atr_label.txt), ids 0..17
ATR_18 = ("background", "hat", "hair", "sunglass", "upper-clothes", "skirt", "pants", "dress", "belt", "left-shoe",
          "right-shoe", "face", "left-leg", "right-leg", "left-arm", "right-arm", "bag", "scarf")

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (
    LabelSet("coco-panoptic-133", "coco", COCO_PANOPTIC_CATEGORIES, "panopticapi panoptic_coco_categories.json"),
    LabelSet("coco-80", "coco", COCO_THING_CATEGORIES, "COCO instances_val2017.json categories"),
    LabelSet("coco-91", "coco", COCO_THING_CATEGORIES, "torchvision weights meta['categories'] (index = COCO id)",
             model_ids=tuple(c.id for c in COCO_THING_CATEGORIES)),
    LabelSet("voc-21", "voc", tuple(Category(i, n, i > 0) for i, n in enumerate(VOC_21)),
             "PASCAL VOC 2012 devkit classes, as torchvision's segmentation weights order them"),
    LabelSet("ade20k-150", "ade20k", tuple(Category(i + 1, n, True) for i, n in enumerate(ADE20K_150)),
             "CSAILVision/sceneparsing objectInfo150 (no thing/stuff split: every class counts as a thing)"),
    LabelSet("cityscapes-19", "cityscapes", tuple(Category(*c) for c in CITYSCAPES_19),
             "cityscapesscripts.helpers.labels (trainId -> id)"),
    LabelSet("mapillary-vistas-65", "mapillary-vistas",
             tuple(Category(i, n, t) for i, (n, t) in enumerate(MAPILLARY_VISTAS_65)),
             "Mapillary Vistas v1.2 config_v1.2.json"),
    LabelSet("celebamask-hq-19", "celebamask-hq", tuple(Category(i, n, False) for i, n in enumerate(CELEBAMASK_HQ_19)),
             "switchablenorms/CelebAMask-HQ face_parsing/Data_preprocessing/g_mask.py label_list"),
    LabelSet("atr-18", "atr", tuple(Category(i, n, False) for i, n in enumerate(ATR_18)),
             "lemondan/HumanParsing-Dataset atr_label.txt"),
)}


def get_label_set(name: str) -> LabelSet:
    """The label set ``name`` (a registry entry's ``labels``)."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise SeglabError(f"unknown label set {name!r}; known: {', '.join(LABEL_SETS)}") from None
