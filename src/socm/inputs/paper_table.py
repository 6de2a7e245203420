"""The paper's experiment and published figures, shipped as ``socm/data/paper_table.json``.

Hara et al. (2026): 12 models (with their backbones), three datasets, each model's published
average SOCM per dataset and its MTEB(eng, v2) score read off the paper's figure (±0.005).
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = ["load_paper_table", "paper_families", "paper_rows"]


def load_paper_table() -> dict:
    """The paper's experiment definition and published figures."""
    return json.loads(resources.files("socm").joinpath("data/paper_table.json").read_text())


def paper_rows(dataset: str = "wikipedia") -> tuple[list[dict], dict[str, float]]:
    """The paper's 12 models: collapse rows (published average SOCM) and MTEB scores."""
    table = load_paper_table()
    rows = [{"model": m["model"], "avg_socm": m["avg_socm"][dataset]} for m in table["models"]]
    scores = {m["model"]: m["mteb_eng_v2"] for m in table["models"]}
    return rows, scores


def paper_families() -> dict[str, str]:
    """Model id → its backbone's id, for the paper's models."""
    return {m["model"]: m["backbone"] for m in load_paper_table()["models"]}
