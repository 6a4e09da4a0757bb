"""Fetch COCO val2017 (images, instance and panoptic annotations) into the official layout.

    python -m benchmarks.download_coco --root data/coco [--what images,instances,panoptic] [--base-url URL]

Downloads resume where they stopped (HTTP Range on a ``.part`` file, retried on a dropped
connection), are checked against the MD5 sums published with the files (and zip integrity),
then unpacked to ``ROOT/val2017/``, ``ROOT/annotations/instances_val2017.json``,
``ROOT/annotations/panoptic_val2017.json`` and ``ROOT/annotations/panoptic_val2017/`` (the PNG
zip nested in the panoptic zip). Only the val2017 members are unpacked; zips are removed after.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import re
import sys
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

BASE_URL = "http://images.cocodataset.org"


@dataclass(frozen=True)
class Archive:
    path: str  # under the base URL
    md5: str  # as published beside the official files (torchvision, TFDS and others list the same sums)
    members: str  # regex of the zip members to unpack
    done: str  # what exists under ROOT once unpacked


ARCHIVES = {
    "images": Archive("zips/val2017.zip", "442b8da7639aecaf257c1dceb8ba8c80", r"val2017/", "val2017"),
    "instances": Archive("annotations/annotations_trainval2017.zip", "f4bbac642086de4f52a3fdda2de5fa2c",
                         r"annotations/\w+_val2017\.json$", "annotations/instances_val2017.json"),
    "panoptic": Archive("annotations/panoptic_annotations_trainval2017.zip", "4170db65fc022c9c296af880dbca6055",
                        r"annotations/panoptic_val2017\.(json|zip)$", "annotations/panoptic_val2017"),
}
ALIASES = {"annotations": ("instances", "panoptic")}
CHUNK = 1 << 20


class DownloadError(Exception):
    """A download or a check failed; the message says which file and what to do."""


def fetch(url: str, dest: Path, md5: str | None = None, retries: int = 5, timeout: float = 60) -> Path:
    """``url`` into ``dest``, resuming ``dest.part`` with HTTP Range after an interruption; MD5-checked."""
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        have = part.stat().st_size if part.is_file() else 0
        request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                if have and resp.status != 206:  # the server ignored the range: start again
                    have = 0
                total = _total(resp, have)
                with open(part, "ab" if have else "wb") as f, tqdm(
                        total=total, initial=have, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while block := resp.read(CHUNK):
                        f.write(block)
                        bar.update(len(block))
            if total is None or part.stat().st_size >= total:
                break
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # nothing left to send: the part is complete
                break
            raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if attempt == retries:
                raise DownloadError(f"{url}: {err}; run the command again to resume from {part}") from None
            time.sleep(min(2 ** attempt, 30))
    else:
        raise DownloadError(f"{url}: the download stayed incomplete; run the command again to resume")
    check(part, md5, url)
    part.replace(dest)
    return dest


def _total(resp: http.client.HTTPResponse, have: int) -> int | None:
    """The full size of the file, from Content-Range (206) or Content-Length (200)."""
    match = re.search(r"/(\d+)$", resp.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = resp.headers.get("Content-Length")
    return int(length) + (have if resp.status == 206 else 0) if length else None


def check(path: Path, md5: str | None, url: str) -> None:
    """MD5 (when known) and zip integrity; a bad file is removed so the next run fetches it again."""
    if md5 is not None:
        digest = hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
        if digest.hexdigest() != md5:
            path.unlink()
            raise DownloadError(f"{url}: MD5 {digest.hexdigest()} is not the published {md5}; the corrupt file "
                                "was removed, run the command again")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()
    except zipfile.BadZipFile:
        bad = path.name
    if bad is not None:
        path.unlink()
        raise DownloadError(f"{url}: the zip is damaged ({bad}); the file was removed, run the command again")


def extract(zip_path: Path, root: Path, members: str) -> list[str]:
    """Unpack the members matching ``members`` under ``root``; a nested PNG zip is unpacked in place too."""
    pattern = re.compile(members)
    with zipfile.ZipFile(zip_path) as z:
        names = [n for n in z.namelist() if pattern.match(n)]
        if not names:
            raise DownloadError(f"{zip_path.name} holds none of the expected files ({members})")
        for name in names:
            z.extract(name, root)
    for name in names:
        if name.endswith(".zip"):  # panoptic_val2017.zip: the PNGs, inside the annotations zip
            inner = root / name
            with zipfile.ZipFile(inner) as z:
                z.extractall(inner.parent)
            inner.unlink()
    return names


def download_coco(root: Path, what: tuple[str, ...] = tuple(ARCHIVES), base_url: str = BASE_URL) -> list[str]:
    """Fetch and unpack the chosen parts under ``root``; parts already unpacked are skipped. Returns what was done."""
    root.mkdir(parents=True, exist_ok=True)
    done = []
    for name in what:
        archive = ARCHIVES[name]
        if (root / archive.done).exists():
            done.append(f"{name}: already in {root / archive.done}")
            continue
        url = f"{base_url.rstrip('/')}/{archive.path}"
        zip_path = fetch(url, root / Path(archive.path).name, archive.md5)
        extract(zip_path, root, archive.members)
        zip_path.unlink()
        done.append(f"{name}: unpacked to {root / archive.done}")
    return done


def parse_what(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        names = ALIASES.get(part, (part,))
        for n in names:
            if n not in ARCHIVES:
                raise DownloadError(f"unknown part {part!r}; choose from {', '.join([*ARCHIVES, *ALIASES])}")
            if n not in out:
                out.append(n)
    return tuple(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.download_coco", description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, required=True, help="where the COCO layout is created")
    p.add_argument("--what", default="images,annotations", help="images, instances, panoptic (annotations = both)")
    p.add_argument("--base-url", default=BASE_URL, help="a mirror with the official paths")
    args = p.parse_args(argv)
    try:
        for line in download_coco(args.root, parse_what(args.what), args.base_url):
            print(line)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: run the same command again to resume the download in {args.root}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
