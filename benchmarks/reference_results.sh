#!/usr/bin/env bash
# Regenerate the shipped benchmark results in results/ (results.csv, results.json, latency.csv), on this
# machine's CPU and the shared data slices. Run from anywhere; takes about 20 minutes on 2 cores.
#
#   benchmarks/reference_results.sh                 # data from ../shared/data beside the checkout
#   SEGLAB_DATA=/data benchmarks/reference_results.sh
#
# Rows: the offline default model (embedded, real accuracy) on the COCO slice, promptable and interactive,
# and the offline baselines (promptable);
# registry architectures with random weights (latency and memory only, marked "(random-init)") for the
# other tasks. Predictions are written to a temporary folder and dropped; only the tables are kept.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA="${SEGLAB_DATA:-../shared/data}"
COCO="$DATA/coco-val2017-mini"
NYU="$DATA/nyu-depth-v2-mini"
OUT=results
for dir in "$COCO" "$NYU"; do
    [[ -d "$dir" ]] || { echo "error: no data at $dir (set SEGLAB_DATA to the folder holding it)" >&2; exit 2; }
done

WORK="$(mktemp -d -t seglab-reference-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

bench() {
    python -m benchmarks.run --device cpu --coco-root "$COCO" --depth-root "$NYU" --out "$WORK" "$@"
}

# the offline default: real accuracy on the whole instance slice (48 images with instances, 382 prompts)
bench --task promptable --models embedded-u2netp-grabcut
# the offline baselines it must beat (box-as-mask, plain GrabCut, U2-Net-p saliency in the box), same prompts
bench --task promptable --models baseline-box-as-mask,baseline-grabcut,baseline-u2netp-saliency
# simulated clicks: 5 clicks and a box per non-crowd instance of the whole slice (377 instances, about 4 minutes)
bench --task interactive --models embedded-u2netp-grabcut --clicks 5

# real architectures, random weights: latency and memory only
bench --task promptable --models sam-vit-base --random-init --limit 3
bench --task instance --models maskrcnn-resnet50-fpn --random-init --limit 5
bench --task panoptic --models mask2former-swin-tiny-coco-panoptic --random-init
bench --task semantic --models segformer-b0-ade --random-init
bench --task depth --models depth-anything-v2-small --random-init

mkdir -p "$OUT"
cp "$WORK/results.csv" "$WORK/results.json" "$WORK/latency.csv" "$OUT/"
echo "wrote $OUT/results.csv, $OUT/results.json, $OUT/latency.csv"
echo "report: python -m benchmarks.plot $OUT --out report.html"
