#!/usr/bin/env bash
# PG² on Market-1501, the paper's recipe end to end: poses -> pairs -> HDF5 -> stage 1 -> stage 2 -> eval -> generate.
#
# Usage: examples/market1501.sh MARKET_DIR [WORK_DIR]
#   MARKET_DIR: the unpacked Market-1501-v15.09.15 folder (bounding_box_train/, bounding_box_test/, query/).
#   WORK_DIR:   where everything is written (default runs/market1501).
# Keypoints: by default extracted with OpenPose (`pg2 extract-pose`, weights from the Hugging Face hub or
# $PG2_OPENPOSE_WEIGHTS). To use the community's standard files instead (Deformable GAN / PATN), set
#   ANN_TRAIN=market-annotation-train.csv ANN_TEST=market-annotation-test.csv [PAIRS_TEST=market-pairs-test.csv]
# Training at the paper's size (128x64, batch 16, 22k + 14k steps) wants a GPU: add DEVICE=cuda (the default
# `auto` takes one when present). Several GPUs: prefix the train commands with `torchrun --nproc-per-node K -m`.
set -euo pipefail
MARKET=${1:?usage: $0 MARKET_DIR [WORK_DIR]}
WORK=${2:-runs/market1501}
DEVICE=${DEVICE:-auto}
POSE_BACKEND=${POSE_BACKEND:-openpose}  # or mediapipe: offline, no weights, a little less accurate
TRAIN_ARGS=${TRAIN_ARGS:-}  # e.g. "--preset tiny --iters 2" for a quick smoke test of the whole recipe
mkdir -p "$WORK"

# 1. Keypoints (COCO-18, y-first annotation CSVs). Market crops are 128x64 already.
if [[ -n "${ANN_TRAIN:-}" && -n "${ANN_TEST:-}" ]]; then
  cp "$ANN_TRAIN" "$WORK/annotations-train.csv"
  cp "$ANN_TEST" "$WORK/annotations-test.csv"
else
  pg2 extract-pose "$MARKET/bounding_box_train" -o "$WORK/annotations-train.csv" --backend "$POSE_BACKEND" --device "$DEVICE"
  pg2 extract-pose "$MARKET/bounding_box_test" -o "$WORK/annotations-test.csv" --backend "$POSE_BACKEND" --device "$DEVICE"
fi

# 2. Pairs: every ordered pair of distinct images of one person whose shoulders and hips are visible,
#    junk ('-1') and distractor ('0000') identities dropped. On the standard train CSV: 263,632 pairs.
#    Test: the standard 12,000 pairs if given, else 12,000 drawn by the same rule.
pg2 make-pairs "$WORK/annotations-train.csv" --dataset market -o "$WORK/pairs-train.csv"
if [[ -n "${PAIRS_TEST:-}" ]]; then
  cp "$PAIRS_TEST" "$WORK/pairs-test.csv"
else
  pg2 make-pairs "$WORK/annotations-test.csv" --dataset market --sample 12000 --seed 0 -o "$WORK/pairs-test.csv"
fi

# 3. Pack: images, keypoints, disc pose maps (radius 4) and pose masks, as PG² uses them.
pg2 pack --images "$MARKET/bounding_box_train" --annotations "$WORK/annotations-train.csv" \
  --pairs "$WORK/pairs-train.csv" -o "$WORK/train.h5" --only-paired --size 128x64
pg2 pack --images "$MARKET/bounding_box_test" --annotations "$WORK/annotations-test.csv" \
  --pairs "$WORK/pairs-test.csv" -o "$WORK/test.h5" --only-paired --size 128x64
pg2 info "$WORK/train.h5"
pg2 show "$WORK/train.h5" --pairs -n 16 -o "$WORK/train-pairs.png"

# 4. Stage 1: G1 with the pose-mask L1 loss (Adam 2e-5, batch 16, 22k steps); --resume auto continues it.
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --preset market --stage 1 --device "$DEVICE" $TRAIN_ARGS
# 5. Stage 2: G2 + D on the frozen G1 (lambda 10, 14k steps); the run's saved config is reused.
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --stage 2 --device "$DEVICE" $TRAIN_ARGS

# 6. Scores on the test pairs, PG²'s protocol (IS/FID need the Inception weights, PCKh a pose model;
#    metrics whose weights are missing are skipped with a note), and the copy-the-source baseline.
pg2 eval --run "$WORK/run" --data "$WORK/test.h5" --metrics all --protocol pg2 --device "$DEVICE" \
  -o "$WORK/metrics.json" --save-images "$WORK/generated"
pg2 eval --baseline copy_source --data "$WORK/test.h5" --metrics ssim,mask_ssim,l1 -o "$WORK/copy_source.json"

# 7. One test person in the pose of another test image: source | pose | result.
SRC=$(sed -n 2p "$WORK/pairs-test.csv" | cut -d, -f1)
TGT=$(sed -n 2p "$WORK/pairs-test.csv" | cut -d, -f2)
pg2 generate --run "$WORK/run" --image "$MARKET/bounding_box_test/$SRC" \
  --pose "$WORK/annotations-test.csv" --pose-name "$TGT" -o "$WORK/generated.png" --strip
echo "done: $WORK/metrics.json, $WORK/generated.png, samples in $WORK/run/samples/"
