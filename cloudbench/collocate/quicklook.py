"""PAIRS/quicklook.png: the cloudiest samples of a collocate run, each as its IR patch with the
parallax-corrected track drawn on it and the phase curtain the track carries.

One look tells whether the track sits on the clouds the imager sees (a track beside its clouds
means wrong parallax or timing), which no table of counts shows as quickly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cloudbench.plotting import phase_cmap, phase_image, phase_legend_handles, save_figure

QUICKLOOK_NAME = "quicklook.png"
IR_WINDOWS = ("B13", "C13", "B14", "C14")  # the ~10.4-11.2 um window: clouds cold, surface warm


def _cloudiest(table: pd.DataFrame, n: int) -> pd.DataFrame:
    cloudy = table[["count_ice", "count_mixed", "count_water"]].sum(axis=1)
    return table.assign(_cloudy=cloudy).sort_values(["_cloudy", "sample_id"], ascending=[False, True]).head(n)


def _sample_arrays(root: Path, job_id: str, row: int) -> dict[str, np.ndarray]:
    import zarr

    group = zarr.open_group(str(root / "jobs" / f"{job_id}.zarr"), mode="r")
    n = int(group["n_track"][row])
    return {
        "x": group["x"][row], "bands": list(group.attrs["bands"]), "edges": np.asarray(group.attrs["height_edges_km"]),
        "rows": group["track_rows"][row, :n], "cols": group["track_cols"][row, :n], "profiles": group["profiles"][row, :n],
    }


def plot_quicklook(pairs: str | Path, n: int = 4, path: str | Path | None = None) -> Path | None:
    """Draw up to ``n`` samples (the cloudiest) of a PAIRS/ folder; None when it holds no sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root = Path(pairs)
    tables = [pd.read_parquet(p) for p in sorted((root / "samples").glob("*.parquet"))]
    tables = [t for t in tables if len(t)]
    if not tables:
        return None
    chosen = _cloudiest(pd.concat(tables, ignore_index=True), n)
    cmap, norm = phase_cmap()

    fig, axes = plt.subplots(len(chosen), 2, figsize=(11, 3.2 * len(chosen)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6], "wspace": 0.35})
    for (ax_img, ax_cur), s in zip(axes, chosen.itertuples(), strict=True):
        a = _sample_arrays(root, s.job_id, int(s.row))
        band = next((b for b in IR_WINDOWS if b in a["bands"]), a["bands"][0])
        image = ax_img.imshow(a["x"][a["bands"].index(band)], cmap="gray_r" if band in IR_WINDOWS else "gray")
        fig.colorbar(image, ax=ax_img, fraction=0.046, label="brightness temperature (K)" if band in IR_WINDOWS else "%")
        ax_img.plot(a["cols"], a["rows"], "-", color="tab:red", linewidth=1.2, label="track (parallax-corrected)")
        ax_img.set_title(f"sample {s.sample_id.rsplit('-', 1)[-1]}: {band}, dt {s.dt_s:+.0f} s, "
                         f"parallax {s.parallax_km:.1f} km", fontsize=8)
        ax_img.legend(loc="lower right", fontsize=7)
        shown = phase_image(a["profiles"]).T
        ax_cur.pcolormesh(np.arange(shown.shape[1] + 1), a["edges"], shown, cmap=cmap, norm=norm, shading="flat")
        ax_cur.set(xlabel="track pixel (in track order)", ylabel="height (km)")
        ax_cur.set_title(f"{s.granule_id}, {pd.Timestamp(s.time):%Y-%m-%d %H:%M:%S} UTC", fontsize=8)
    fig.legend(handles=phase_legend_handles(), loc="upper center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.subplots_adjust(top=1 - 0.6 / (3.2 * len(chosen)), left=0.06, right=0.95, hspace=0.45)
    out = save_figure(fig, Path(path) if path else root / QUICKLOOK_NAME, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out
