"""The paper's experiment and published figures, shipped as ``socm/data/paper_table.json``.

Hara et al. (2026): 12 models (with their backbones), three datasets, each model's published
average SOCM per dataset and its MTEB(eng, v2) score read off the paper's figure (±0.005).
"""

from __future__ import annotations

import json
from importlib import resources

__all__ = [
    "PAPER_CORPORA",
    "load_paper_table",
    "paper_differences",
    "paper_families",
    "paper_rows",
]

PAPER_CORPORA = {
    "wikipedia": ("wiki1m", "wiki1m_for_simcse.txt"),
    "msmarco": ("msmarco", "msmarco_corpus.jsonl"),
    "hard_negatives": ("hard_negatives", "msmarco_hard_negatives.tsv"),
}
"""Corpus names (as run summaries record them) of the paper's datasets: the built-in name and
the local file ``socm reproduce`` reads."""


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


def _policy_differences(policy: object) -> list[str]:
    """How a token policy differs from the paper's (every token, no prefix)."""
    if not isinstance(policy, dict):
        return []
    out = []
    special = policy.get("special_tokens")
    if special not in (None, "included"):
        out.append(f"special tokens {special} (the paper keeps every token)")
    if policy.get("prefix"):
        out.append(f"prefix {policy['prefix']!r} (the paper: none)")
    return out


def paper_differences(summary: dict, dataset: str = "wikipedia") -> list[str]:
    """How a run was measured differently from the paper's published figure on ``dataset``.

    Compared: the corpus (the paper's: wiki1m for ``wikipedia``), the sample of texts (its
    size and seed), the pairs (all pairs of the sample), the numerics (the paper's: float32,
    epsilon 1e-9), the token policy (every token, no prefix) and the layer (the last).

    Parameters
    ----------
    summary : dict
        A run's ``summary.json``.
    dataset : {"wikipedia", "msmarco", "hard_negatives"}
        The paper's dataset to compare with.

    Returns
    -------
    list of str
        One phrase per difference (empty: measured as the paper did, as far as the summary
        tells).

    Examples
    --------
    >>> paper_differences({"corpus": "wiki1m", "n_texts": 1000, "seed": 0, "pairs": "all",
    ...                    "numerics": "paper", "layer": "last"})
    []
    >>> paper_differences({"corpus": "wikipedia", "unit": "sentence", "n_texts": 400,
    ...                    "pairs": "all", "numerics": "exact"})  # doctest: +NORMALIZE_WHITESPACE
    ["corpus wikipedia (packaged Wikipedia lead sections, split into sentences), not the
    paper's 1,000 wiki1m sentences", 'exact numerics (the paper: float32, epsilon 1e-9)']
    """
    table = load_paper_table()
    spec = table["datasets"][dataset]
    out = []
    corpus = str(summary.get("corpus") or "?")
    names = PAPER_CORPORA.get(dataset, ())
    size = spec.get("n_texts")
    if dataset == "wikipedia":
        paper = f"the paper's {size:,} wiki1m sentences"
    else:
        paper = f"the paper's {dataset} sample"
    if corpus not in names:
        what = ""
        if corpus == "wikipedia":
            unit = summary.get("unit") or "sentence"
            what = f" (packaged Wikipedia lead sections, split into {unit}s)"
        out.append(f"corpus {corpus}{what}, not {paper}")
    else:
        n = summary.get("n_texts")
        if size is not None and n is not None and n != size:
            out.append(f"{n:,} texts, not the paper's {size:,}")
        if "seed" in spec and summary.get("seed") not in (None, spec["seed"]):
            out.append(f"seed {summary['seed']}: another sample than the paper's (seed 0)")
    pairs = summary.get("pairs")
    if dataset != "hard_negatives" and pairs not in (None, "all"):
        out.append(f"{pairs} pairs (the paper: all pairs of its texts)")
    numerics = summary.get("numerics")
    if numerics not in (None, "paper"):
        out.append(f"{numerics} numerics (the paper: float32, epsilon 1e-9)")
    out += _policy_differences(summary.get("token_policy"))
    layer = summary.get("layer")
    if layer not in (None, "last"):
        out.append(f"layer {layer} (the paper: the last)")
    return out
