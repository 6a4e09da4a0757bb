"""The command that reproduces each published number of the registry under its own protocol.

    python -m benchmarks.reproduce            # a Markdown table: the README's "Reproducing published numbers"

One row per published accuracy number: the model, the number, the protocol it was measured under (and what
that protocol does), and the ``benchmarks.run`` command that runs the model under it on the data set, or why
no command can yet.
"""
from __future__ import annotations

import argparse

from seglab import get_protocol, list_models
from seglab.report import PROTOCOL_FLAGS, RUN_FLAGS, SPEED_METRICS

# metrics each benchmark task reports
TASK_METRICS = {"instance": {"AP", "box AP"}, "part": {"mIoU", "mF1"}, "panoptic": {"PQ", "SQ", "RQ"}, "semantic": {"mIoU"}, "promptable": {"AP"},
                "depth": {"delta1", "AbsRel", "RMSE"}}


def command(model: str, task: str, metric: str, dataset: str, protocol: str) -> str:
    """The shell line that measures ``metric`` of ``model`` on ``dataset`` under ``protocol``, or a sentence
    saying why there is none."""
    if metric not in TASK_METRICS.get(task, set()):
        return f"not yet: the {task} benchmark does not report {metric}"
    flags = " ".join(f for f in (RUN_FLAGS.get(dataset), PROTOCOL_FLAGS.get(protocol)) if f)
    return f"python -m benchmarks.run --task {task} --models {model} {flags}"


def rows() -> list[dict[str, str]]:
    """model, published (metric value, data set), protocol (id: what it does), command."""
    out = []
    for spec in list_models():
        for p in spec.published:
            if p.metric in SPEED_METRICS:
                continue
            protocol = get_protocol(p.protocol)
            out.append({"model": spec.id, "published": f"{p.metric} {p.value:g} ({p.dataset})",
                        "protocol": f"`{protocol.id}`: {protocol.describe()}",
                        "command": command(spec.id, spec.task, p.metric, p.dataset, protocol.id)})
    return out


def markdown() -> str:
    lines = ["| model | published | protocol | command |", "|---|---|---|---|"]
    for r in rows():
        cmd = r["command"] if not r["command"].startswith("python") else f"`{r['command']}`"
        lines.append(f"| `{r['model']}` | {r['published']} | {r['protocol']} | {cmd} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print(markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
