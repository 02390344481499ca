"""Where every benchmark leaves its figures: a JSON file of rows (with goals and ratios) and a
PNG chart in ``bench/results/``, which ``python -m bench`` collects into ``bench/RESULTS.md``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.common import Row

RESULTS = Path(__file__).resolve().parent / "results"


def _clean(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def row_json(row: Row) -> dict[str, Any]:
    data = {k: _clean(v) for k, v in asdict(row).items()}
    data["ratio"] = _clean(row.ratio)
    return data


def write_results(
    name: str,
    rows: Sequence[Row],
    *,
    headline: Sequence[str] = (),
    notes: Sequence[str] = (),
    extra: dict[str, Any] | None = None,
) -> Path:
    """``bench/results/<name>.json``: the rows, a headline (figures vs goals) and notes."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "rows": [row_json(r) for r in rows],
                "headline": list(headline),
                "notes": list(notes),
                **(extra or {}),
            },
            indent=1,
            default=str,
        )
    )
    return path


def new_figure(title: str, width: float = 8.0, height: float = 4.5) -> tuple[Figure, Any]:
    figure, axes = plt.subplots(figsize=(width, height))
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    return figure, axes


def save_chart(figure: Figure, name: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"chart: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return path
