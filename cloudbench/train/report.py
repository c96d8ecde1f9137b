"""RUN/ outputs: metrics.json, report.md (tables) and figures (matplotlib, Agg backend, no display).

Everything is written under a temporary name and renamed, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from cloudbench.config import CLASS_NAMES, UNLABELED
from cloudbench.plotting import phase_cmap, phase_image, phase_legend_handles, save_figure


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_metrics_json(path: Path, document: dict[str, Any]) -> None:
    _atomic_write_text(path, json.dumps(document, indent=2, default=_json_default, allow_nan=False))


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _scores_row(label: str, s: dict[str, Any]) -> str:
    return f"| {label} | {_f(s.get('precision'))} | {_f(s.get('recall'))} | {_f(s.get('f1'))} | {_f(s.get('iou'))} |"


def metrics_tables(m: dict[str, Any]) -> list[str]:
    """Markdown tables: per class, the averages, and the confusion matrix."""
    lines = ["| class | precision | recall | F1 | IoU | support |", "|---|---|---|---|---|---|"]
    for name, s in m["per_class"].items():
        lines.append(f"| {name} | {_f(s['precision'])} | {_f(s['recall'])} | {_f(s['f1'])} | {_f(s['iou'])} | {s['support']} |")
    lines += ["", "| average | precision | recall | F1 | IoU |", "|---|---|---|---|---|"]
    for key in ("macro_cloud", "macro_all", "micro_cloud", "micro_all", "cloud_mask"):
        lines.append(_scores_row(key, m[key]))
    lines += ["", f"Accuracy over {m['labeled_voxels']} labelled voxels: {_f(m['accuracy'])}", ""]
    names = [CLASS_NAMES.get(i, str(i)) for i in range(len(m["confusion_matrix"]))]
    lines += ["Confusion matrix (rows true, columns predicted):", "",
              "| true \\ pred | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, m["confusion_matrix"], strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def render_report(doc: dict[str, Any]) -> str:
    """report.md from a metrics.json document."""
    m = doc["metrics"]
    model = doc.get("model", {})
    out = [
        f"# {model.get('name', 'model')} ({model.get('size', '?')}) on the {doc.get('split', '?')} split",
        "",
        f"- dataset: `{doc.get('dataset')}`",
        f"- checkpoint: `{doc.get('checkpoint')}` (epoch {doc.get('epoch')})",
        f"- parameters: {model.get('parameters', 0):,}",
        f"- samples evaluated: {doc.get('samples')}",
        "",
        "All numbers come from one confusion matrix over labelled voxels; see *Definitions*.",
        "",
        "## All labelled voxels",
        "",
        *metrics_tables(m),
        "",
        "## Complex columns (multi-layer or mixed-phase)",
        "",
        *metrics_tables(m["complex_columns"]),
        "",
    ]
    baselines = doc.get("baselines") or {}
    if baselines:
        out += ["## Reference predictors on the same split", "",
                "| predictor | macro F1 (all) | macro F1 (cloud) | macro IoU (all) | cloud-mask F1 | accuracy |",
                "|---|---|---|---|---|---|",
                f"| {model.get('name', 'model')} | {_f(m['macro_all']['f1'])} | {_f(m['macro_cloud']['f1'])} | "
                f"{_f(m['macro_all']['iou'])} | {_f(m['cloud_mask']['f1'])} | {_f(m['accuracy'])} |"]
        for name, b in baselines.items():
            bm = b["metrics"]
            out.append(f"| {name} | {_f(bm['macro_all']['f1'])} | {_f(bm['macro_cloud']['f1'])} | "
                       f"{_f(bm['macro_all']['iou'])} | {_f(bm['cloud_mask']['f1'])} | {_f(bm['accuracy'])} |")
        out.append("")
    out += ["## Accuracy per height level", "", "| level | height (km) | labelled voxels | accuracy |", "|---|---|---|---|"]
    for lv in m["per_level"]:
        out.append(f"| {lv['level']} | {lv.get('height_km', float('nan')):.2f} | {lv['labeled_voxels']} | {_f(lv['accuracy'])} |")
    history = doc.get("history") or []
    if history:
        out += ["", "## Learning curve", "",
                "| epoch | train loss | val loss | val macro F1 | lr | samples/s | data wait |", "|---|---|---|---|---|---|---|"]
        for h in history:
            out.append(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | {_f(h['val_macro_f1'])} | "
                       f"{h['lr']:.2e} | {h['samples_per_s']:.1f} | {h['data_wait_fraction']:.1%} |")
    out += ["", "## Figures", ""]
    for fig in doc.get("figures", []):
        out.append(f"![{Path(fig).stem}]({fig})")
    out += ["", "## Definitions", ""]
    for key, text in m["definitions"].items():
        out.append(f"- **{key}**: {text}")
    return "\n".join(out) + "\n"


# -- figures --------------------------------------------------------------------------------------
def _save(fig, path: Path) -> None:
    save_figure(fig, path, dpi=110, bbox_inches="tight")


def plot_curtains(curtains: list[dict[str, Any]], height_edges_km: list[float], path: Path) -> None:
    """Height x along-track truth and prediction, one row per sample (prediction shown where labelled)."""
    import matplotlib.pyplot as plt

    cmap, norm = phase_cmap()
    n = max(len(curtains), 1)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.6 * n), squeeze=False, sharey=True)
    edges = np.asarray(height_edges_km)
    for i, c in enumerate(curtains):
        d = c["distance_px"]
        x_edges = np.concatenate([[d[0] - 0.5], 0.5 * (d[1:] + d[:-1]), [d[-1] + 0.5]]) if len(d) > 1 else np.array([-0.5, 0.5])
        pred = np.where(c["true"] == UNLABELED, UNLABELED, c["pred"])
        for j, (label, data) in enumerate((("true", c["true"]), ("predicted", pred))):
            ax = axes[i, j]
            ax.pcolormesh(x_edges, edges, phase_image(data), cmap=cmap, norm=norm, shading="flat")
            ax.set_title(f"{c['sample_id']}: {label}", fontsize=8)
            ax.set_xlabel("along track (pixels)")
        axes[i, 0].set_ylabel("height (km)")
    if not curtains:
        axes[0, 0].text(0.5, 0.5, "no labelled track in this split", ha="center")
    fig.legend(handles=phase_legend_handles("unlabelled"), loc="upper center", ncol=5, fontsize=8, bbox_to_anchor=(0.5, 1.02))
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_learning_curves(history: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    if history:
        ep = [h["epoch"] for h in history]
        a.plot(ep, [h["train_loss"] for h in history], label="train")
        a.plot(ep, [h["val_loss"] for h in history], label="validation")
        b.plot(ep, [h["val_macro_f1"] or 0.0 for h in history], label="macro F1 (all)")
        b.plot(ep, [h["val_macro_f1_cloud"] or 0.0 for h in history], label="macro F1 (cloud)")
    a.set(xlabel="epoch", ylabel="loss", title="loss")
    b.set(xlabel="epoch", ylabel="F1", title="validation", ylim=(0, 1))
    a.legend(fontsize=8)
    b.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_confusion(cm: list[list[int]], path: Path) -> None:
    """Row-normalised confusion matrix with the counts written in each cell."""
    import matplotlib.pyplot as plt

    cm_a = np.asarray(cm, dtype=np.float64)
    rows = cm_a.sum(axis=1, keepdims=True)
    frac = np.divide(cm_a, rows, out=np.zeros_like(cm_a), where=rows > 0)
    names = [CLASS_NAMES.get(i, str(i)) for i in range(cm_a.shape[0])]
    fig, ax = plt.subplots(figsize=(4.6, 4))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(cm_a.shape[0]):
        for j in range(cm_a.shape[1]):
            ax.text(j, i, f"{frac[i, j]:.2f}\n{int(cm_a[i, j])}", ha="center", va="center", fontsize=7,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set(xlabel="predicted", ylabel="true", title="confusion (row-normalised)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_per_level(per_level: list[dict[str, Any]], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3.6, 4.2))
    h = [lv.get("height_km", lv["level"]) for lv in per_level]
    acc = [np.nan if lv["accuracy"] is None else lv["accuracy"] for lv in per_level]
    ax.plot(acc, h, marker=".")
    ax.set(xlabel="accuracy", ylabel="height (km)", xlim=(0, 1), title="accuracy per level")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def write_run_outputs(out: Path, doc: dict[str, Any], curtains: list[dict[str, Any]], height_edges_km: list[float]) -> dict[str, Any]:
    """Write figures, metrics.json and report.md into ``out``; returns the document written."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    out = Path(out)
    prefix = f"{doc.get('split', 'test')}_"
    figs = {
        "curtains": f"figures/{prefix}curtains.png",
        "confusion": f"figures/{prefix}confusion_matrix.png",
        "per_level": f"figures/{prefix}accuracy_per_level.png",
        "learning": "figures/learning_curves.png",
    }
    plot_curtains(curtains, height_edges_km, out / figs["curtains"])
    plot_confusion(doc["metrics"]["confusion_matrix"], out / figs["confusion"])
    plot_per_level(doc["metrics"]["per_level"], out / figs["per_level"])
    plot_learning_curves(doc.get("history") or [], out / figs["learning"])
    doc = {**doc, "figures": list(figs.values())}
    write_metrics_json(out / "metrics.json", doc)
    _atomic_write_text(out / "report.md", render_report(doc))
    return doc
