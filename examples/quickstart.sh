#!/usr/bin/env bash
# The offline quickstart, step by step: the same pipeline `pg2 quickstart` runs, as the commands a user types.
# Synthetic people (no downloads, no weights), held-out identities, a small CPU-sized network.
#
# Usage: examples/quickstart.sh [WORK_DIR]        (default: quickstart-steps/)
# One command does all of this:  pg2 quickstart --out quickstart   (add --fast for a 1-minute smoke run)
set -euo pipefail
WORK=${1:-quickstart-steps}
# One torch thread: on a small CPU that anything else keeps busy, two threads spin and run ~10x slower.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$WORK"

# 1. 60 synthetic people x 10 poses at 64x32 (Market-1501-style names, exact annotations.csv).
pg2 demo-data "$WORK/data" --people 60 --poses 10 --size 64x32 --seed 0

# 2. Every ordered same-person pair; 20% of the identities held out for testing.
pg2 make-pairs "$WORK/data/annotations.csv" --dataset market \
  -o "$WORK/data/train_pairs.csv" --test-fraction 0.2 --test-output "$WORK/data/test_pairs.csv"

# 3. Pack train and test sets (disc pose maps and masks of radius 2: PG²'s 4 px at half the size).
for split in train test; do
  pg2 pack --images "$WORK/data/images" --annotations "$WORK/data/annotations.csv" \
    --pairs "$WORK/data/${split}_pairs.csv" -o "$WORK/$split.h5" --radius 2 --only-paired
done
pg2 show "$WORK/train.h5" -o "$WORK/train-pairs.png" --pairs -n 8   # what G1 is trained on

# 4. Stage 1 (G1, pose-mask L1) and stage 2 (G2 + D) with the small `tiny` networks, CPU-sized.
TINY=(--preset tiny --device cpu --batch-size 16 --set model.base_channels=16 --set model.z_dim=32
      --set model.d_channels=16)
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --stage 1 "${TINY[@]}" --iters 900 --lr 1e-3
pg2 train --data "$WORK/train.h5" --out "$WORK/run" --stage 2 "${TINY[@]}" --iters 300 --lr 1e-4

# 5. Scores on the held-out people: the trained model against copying the source image.
pg2 eval --baseline copy_source --data "$WORK/test.h5" --metrics ssim,mask_ssim,l1 -o "$WORK/copy_source.json"
pg2 eval --run "$WORK/run" --stage 1 --data "$WORK/test.h5" --metrics ssim,mask_ssim,l1 -o "$WORK/stage1.json"
pg2 eval --run "$WORK/run" --stage 2 --data "$WORK/test.h5" --metrics ssim,mask_ssim,l1 -o "$WORK/stage2.json"

# 6. One held-out person in another pose: source | pose | result.
SRC=$(sed -n 2p "$WORK/data/test_pairs.csv" | cut -d, -f1)
TGT=$(sed -n 2p "$WORK/data/test_pairs.csv" | cut -d, -f2)
pg2 generate --run "$WORK/run" --image "$WORK/data/images/$SRC" \
  --pose "$WORK/data/annotations.csv" --pose-name "$TGT" -o "$WORK/generated.png" --strip
echo "done: scores in $WORK/*.json, a strip in $WORK/generated.png, training samples in $WORK/run/samples/"
