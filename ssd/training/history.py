"""Per-epoch training records: a tab-separated table and a loss/EER plot, both rewritten each epoch."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ssd.utils.fileio import atomic_write


def write_history(path: str | os.PathLike, history: list[dict[str, Any]]) -> None:
    """Write ``epoch lr <train losses...> dev_eer seconds`` rows, one per epoch, atomically."""
    losses = sorted({k for rec in history for k in rec["train"]})
    with atomic_write(path) as f:
        f.write("\t".join(["epoch", "lr", *losses, "dev_eer", "seconds"]) + "\n")
        for rec in history:
            row = [str(rec["epoch"]), f"{rec['lr']:.6g}"]
            row += [f"{rec['train'].get(k, float('nan')):.6g}" for k in losses]
            row += [f"{rec['dev_eer']:.6f}", f"{rec['seconds']:.1f}"]
            f.write("\t".join(row) + "\n")


def plot_history(path: str | os.PathLike, history: list[dict[str, Any]], title: str = "") -> None:
    """Plot the training losses (one line per task) and the dev EER against the epoch, as a PNG."""
    import matplotlib  # imported here: it costs a second at start-up and only rank 0 plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [rec["epoch"] for rec in history]
    fig, (ax_loss, ax_eer) = plt.subplots(1, 2, figsize=(11, 4))
    for key in sorted({k for rec in history for k in rec["train"]}):
        ax_loss.plot(epochs, [rec["train"].get(key, float("nan")) for rec in history], marker=".", label=key)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (epoch mean)")
    ax_loss.set_yscale("symlog", linthresh=1e-3)
    ax_loss.legend(fontsize="small")
    ax_eer.plot(epochs, [100.0 * rec["dev_eer"] for rec in history], marker="o", color="tab:red")
    ax_eer.set_xlabel("epoch")
    ax_eer.set_ylabel("dev EER (%)")
    for ax in (ax_loss, ax_eer):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    with atomic_write(path, mode="wb") as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
