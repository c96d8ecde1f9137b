#!/usr/bin/env bash
# The SGMAGNet paper's setting on the real archives: Himawari-8 AHI over 100-160E, 60S-60N
# (the "paper" region preset), October-December 2018, labels from CloudSat 2B-CLDCLASS-LIDAR.
# Needs a CloudSat DPC account (CLOUDSAT_DPC_USERNAME / CLOUDSAT_DPC_PASSWORD); the Himawari
# buckets are anonymous. See paper_reproduction.md for the sizes to expect.
set -euo pipefail

START=${START:-2018-10-01}
END=${END:-2019-01-01}          # exclusive
WORK=${WORK:-paper}             # ARCHIVE/, PAIRS/, DATASET/ and RUN/ go under this folder
SCHEDULER=${SCHEDULER:-}        # tcp://HOST:8786 to collocate on a dask cluster

# 1. what the window costs, before fetching any imagery (fetches the label granules only)
cloudbench download --start "$START" --end "$END" --region paper --imager himawari \
    --labels cldclass-lidar --out "$WORK/ARCHIVE" --dry-run

# 2. the label granules and only the imager segments under their tracks (resumable)
cloudbench download --start "$START" --end "$END" --region paper --imager himawari \
    --labels cldclass-lidar --out "$WORK/ARCHIVE"

# 3. image-profile pairs: 64 x 64 patches, all 16 bands, parallax from each profile's cloud top
if [ -n "$SCHEDULER" ]; then
    cloudbench collocate --archive "$WORK/ARCHIVE" --region paper --out "$WORK/PAIRS" --scheduler "$SCHEDULER"
else
    cloudbench collocate --archive "$WORK/ARCHIVE" --region paper --out "$WORK/PAIRS" --workers "$(nproc)"
fi

# 4. leak-free day splits, sharded Zarr, manifest; then check it
cloudbench build-splits --pairs "$WORK/PAIRS" --out "$WORK/DATASET" --seed 0
cloudbench verify "$WORK/DATASET"

# 5. the reference model and its evaluation on the test split
cloudbench train-baseline --dataset "$WORK/DATASET" --model sgmagnet --out "$WORK/RUN"
cloudbench evaluate --dataset "$WORK/DATASET" --checkpoint "$WORK/RUN/checkpoints/best.pt"
