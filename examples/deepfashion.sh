#!/usr/bin/env bash
# PG² on DeepFashion In-shop, the paper's recipe end to end: poses -> pairs -> HDF5 -> stage 1 -> stage 2 -> eval.
#
# Usage: examples/deepfashion.sh DEEPFASHION_DIR [WORK_DIR]
#   DEEPFASHION_DIR: the In-shop Clothes Retrieval Benchmark folder, holding img/ (256x256 images,
#                    img/WOMEN/Blouses_Shirts/id_00000001/02_1_front.jpg ...) and Eval/list_eval_partition.txt.
#   WORK_DIR:        where everything is written (default runs/deepfashion).
# The split is the benchmark's own: 'train' images for training, 'query' + 'gallery' for testing.
# Identity = person + clothing item (id_00000001 + 02 -> id0000000102), the rule of the field's pair files.
# Standard files instead of extraction (PATN's flat names, e.g. fashionWOMENBlouses_Shirtsid0000000102_1front.jpg,
# with its flattened train/ and test/ image folders): set
#   ANN_TRAIN=fasion-annotation-train.csv ANN_TEST=fasion-annotation-test.csv IMAGES_TRAIN=.../train IMAGES_TEST=.../test
#   [PAIRS_TEST=fasion-pairs-test.csv]   (the 8,570 standard test pairs; make-pairs gives exactly these)
# Training at 256x256 (batch 8, 30k + 20k steps) wants a GPU: DEVICE=cuda (the default `auto` takes one).
set -euo pipefail
DF=${1:?usage: $0 DEEPFASHION_DIR [WORK_DIR]}
WORK=${2:-runs/deepfashion}
DEVICE=${DEVICE:-auto}
POSE_BACKEND=${POSE_BACKEND:-openpose}  # or mediapipe: offline, no weights, a little less accurate
TRAIN_ARGS=${TRAIN_ARGS:-}  # e.g. "--preset tiny --iters 2" for a quick smoke test of the whole recipe
mkdir -p "$WORK"

# 1. Keypoints for both splits.
if [[ -n "${ANN_TRAIN:-}" && -n "${ANN_TEST:-}" ]]; then
  cp "$ANN_TRAIN" "$WORK/annotations-train.csv"
  cp "$ANN_TEST" "$WORK/annotations-test.csv"
  IMAGES_TRAIN=${IMAGES_TRAIN:?set IMAGES_TRAIN to the folder the train CSV names are in}
  IMAGES_TEST=${IMAGES_TEST:?set IMAGES_TEST to the folder the test CSV names are in}
else
  IMAGES_TRAIN="$DF/img" IMAGES_TEST="$DF/img"
  pg2 extract-pose "$DF/img" -o "$WORK/annotations-all.csv" --backend "$POSE_BACKEND" --device "$DEVICE"
  # Names in the CSV are relative to img/; list_eval_partition.txt names start with img/.
  awk 'NR > 2 && $3 == "train" { sub(/^img\//, "", $1); print $1 }' "$DF/Eval/list_eval_partition.txt" > "$WORK/train.lst"
  awk 'NR > 2 && $3 != "train" { sub(/^img\//, "", $1); print $1 }' "$DF/Eval/list_eval_partition.txt" > "$WORK/test.lst"
  for split in train test; do
    awk -F: 'NR == FNR { keep[$0] = 1; next } FNR == 1 || ($1 in keep)' \
      "$WORK/$split.lst" "$WORK/annotations-all.csv" > "$WORK/annotations-$split.csv"
  done
fi

# 2. Pairs: every ordered pair of distinct images of one person + item with shoulders and hips visible.
pg2 make-pairs "$WORK/annotations-train.csv" --dataset deepfashion -o "$WORK/pairs-train.csv"
if [[ -n "${PAIRS_TEST:-}" ]]; then
  cp "$PAIRS_TEST" "$WORK/pairs-test.csv"
else
  pg2 make-pairs "$WORK/annotations-test.csv" --dataset deepfashion -o "$WORK/pairs-test.csv"
fi

# 3. Pack at 256x256 (other sizes are resized keeping the aspect ratio and padded; keypoints move along).
pg2 pack --images "$IMAGES_TRAIN" --annotations "$WORK/annotations-train.csv" --pairs "$WORK/pairs-train.csv" \
  -o "$WORK/train.h5" --only-paired --size 256x256
pg2 pack --images "$IMAGES_TEST" --annotations "$WORK/annotations-test.csv" --pairs "$WORK/pairs-test.csv" \
  -o "$WORK/test.h5" --only-paired --size 256x256
pg2 info "$WORK/train.h5"
pg2 show "$WORK/train.h5" --pairs -n 16 -o "$WORK/train-pairs.png"

# 4-5. Stage 1 (G1, N = 6, batch 8, 30k steps), then stage 2 (G2 + D, lambda 50, 20k steps).
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --preset deepfashion --stage 1 --device "$DEVICE" $TRAIN_ARGS
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --stage 2 --device "$DEVICE" $TRAIN_ARGS

# 6. Scores (PG²'s SSIM protocol; add --protocol patn for the Deformable GAN / PATN numbers) and the baseline.
pg2 eval --run "$WORK/run" --data "$WORK/test.h5" --metrics all --protocol pg2 --device "$DEVICE" \
  -o "$WORK/metrics.json" --save-images "$WORK/generated"
pg2 eval --baseline copy_source --data "$WORK/test.h5" --metrics ssim,mask_ssim,l1 -o "$WORK/copy_source.json"

# 7. One test person in the pose of another test image.
SRC=$(sed -n 2p "$WORK/pairs-test.csv" | cut -d, -f1)
TGT=$(sed -n 2p "$WORK/pairs-test.csv" | cut -d, -f2)
pg2 generate --run "$WORK/run" --image "$IMAGES_TEST/$SRC" \
  --pose "$WORK/annotations-test.csv" --pose-name "$TGT" -o "$WORK/generated.png" --strip
echo "done: $WORK/metrics.json, $WORK/generated.png, samples in $WORK/run/samples/"
