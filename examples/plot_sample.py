"""Load a split of a cloudbench DATASET/ and plot one sample: an image band with the track on it, and
the phase curtain along the track.

    python examples/plot_sample.py demo-out/dataset --split train --out sample.png

Without --index it shows the sample with the most cloudy voxels on its track (index.parquet counts).

The loader gives the image patch and the labels as the track itself: the patch row and column of each
track pixel in track order and its phase profile (255 where unlabeled), so the curtain is the profiles
side by side and the plot needs nothing but the loader.
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import BoundaryNorm, ListedColormap  # noqa: E402

from cloudbench.config import CLASS_NAMES, PHASE_COLOURS, UNLABELED, UNLABELED_COLOUR  # noqa: E402
from cloudbench.dataset.loader import CloudbenchDataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="DATASET/ folder (build-splits output)")
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])
    parser.add_argument("--index", type=int, default=None, help="row in the split (default: the cloudiest)")
    parser.add_argument("--band", default=None, help="band to show (default: the 10.4 um window, else the first)")
    parser.add_argument("--out", default="sample.png")
    args = parser.parse_args()

    ds = CloudbenchDataset(args.dataset, args.split, normalize=False)  # raw units for the picture
    if args.index is None:
        cloudy = ds.index[["count_ice", "count_mixed", "count_water"]].sum(axis=1).to_numpy()
        args.index = int(np.argmax(cloudy))
    sample = ds[args.index]
    bands = list(ds.band_names)
    band = args.band or ("B13" if "B13" in bands else "C13" if "C13" in bands else bands[0])
    image = sample["image"][bands.index(band)].numpy()

    n = int(sample["n_track"])  # valid track pixels; the arrays are padded beyond them
    rows, cols = sample["track_rows"][:n].numpy(), sample["track_cols"][:n].numpy()
    curtain = sample["profiles"][:n].numpy().T  # (Z, n): the phase along the track, bottom bin first

    colours = [PHASE_COLOURS[k] for k in sorted(PHASE_COLOURS)] + [UNLABELED_COLOUR]
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, len(colours)), len(colours))
    shown = np.where(curtain == UNLABELED, len(PHASE_COLOURS), curtain)

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    im = a.imshow(image, cmap="gray_r" if band.endswith(("13", "14", "15")) else "gray")
    a.plot(cols, rows, ".", color="tab:red", markersize=3, label="track (after parallax)")
    a.set_title(f"{sample['sample_id'][:28]}...\n{band}")
    a.legend(loc="lower right", fontsize=7)
    fig.colorbar(im, ax=a, fraction=0.046)
    edges = np.asarray(ds.height_edges_km)
    b.pcolormesh(np.arange(shown.shape[1] + 1), edges, shown, cmap=cmap, norm=norm)
    b.set(xlabel="track pixel", ylabel="height (km)", title="phase along the track")
    handles = [plt.Rectangle((0, 0), 1, 1, color=PHASE_COLOURS[k]) for k in sorted(PHASE_COLOURS)]
    b.legend(handles, [CLASS_NAMES[k] for k in sorted(PHASE_COLOURS)], fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    counts = {CLASS_NAMES[k]: int((curtain == k).sum()) for k in sorted(CLASS_NAMES)}
    print(f"{args.split}[{args.index}] of {len(ds)}: {n} track pixels, voxels {counts}; wrote {args.out}")


if __name__ == "__main__":
    main()
