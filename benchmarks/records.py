"""The benchmark's prediction files: one JSON line per image and rank, appended and flushed as images finish,
so a crash loses nothing finished and ``--resume`` knows what is done."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any


def read_records(pred_dir: Path) -> list[dict]:
    """Every record of every rank's file; a line cut short by a crash is skipped."""
    out = []
    for path in sorted(pred_dir.glob("rank*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out


def open_records(path: Path) -> IO[str]:
    """``path`` opened for appending records; a last line cut short by a crash is ended first."""
    if path.is_file() and path.stat().st_size:
        with open(path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            cut = f.read(1) != b"\n"
        if cut:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    return open(path, "a", encoding="utf-8")


def write_record(out: IO[str], record: dict[str, Any]) -> None:
    """One record as a line, flushed."""
    out.write(json.dumps(record) + "\n")
    out.flush()


def shard_todo(samples: tuple, done: set[str], rank: int, world: int) -> list:
    """This rank's share of the samples not done yet (round robin over the remaining ones)."""
    todo = [s for s in samples if s.key not in done]
    return todo[rank::world]
