"""``socm measure``: from an encoder and a corpus to collapse results on disk.

Pipeline: corpus → sample → token embeddings (cached) → per-text statistics → pair metrics →
``pairs.parquet``, ``texts.jsonl`` and ``summary.json`` in the run folder, each written
atomically.
"""

from __future__ import annotations

import platform
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from socm.cache import default_cache_dir
from socm.corpus import Corpus, load_corpus, sample
from socm.encode import Encoder
from socm.errors import SocmError
from socm.io import atomic_write_json, atomic_write_jsonl, atomic_write_parquet
from socm.metrics import check_numerics
from socm.pairs import PairResult, pairwise
from socm.stats import token_stats_many

__all__ = [
    "DEFAULT_MODEL",
    "MeasureConfig",
    "default_out_dir",
    "make_encoder",
    "pair_index_from_linear",
    "pairs_from_ids",
    "prepare",
    "read_pairs_file",
    "run_measure",
    "versions",
]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SPREAD_BOUND = 2.0
"""tr Σ ≤ 2 for both texts is what makes d_Σ ≤ 1 (Hara et al. 2026, Sec. 3)."""


@dataclass
class MeasureConfig:
    """Everything ``socm measure`` needs; the CLI fills it from its flags."""

    model: str = DEFAULT_MODEL
    corpus: str = "wikipedia"
    unit: str = "sentence"
    text_column: str | None = None
    id_column: str | None = None
    n_texts: int | None = 1000
    seed: int = 0
    pairs_file: str | None = None
    max_pairs: int | None = None
    numerics: str = "exact"
    layer: int | None = None
    exclude_special_tokens: bool = False
    prefix: str = ""
    max_length: int | None = None
    batch_size: int = 32
    device: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    out: str | None = None
    progress: bool = True
    extra: dict = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text.rstrip("/").split("/")[-1]).strip("-") or "x"


def default_out_dir(model: str, corpus: str, n: int | str) -> Path:
    """``socm-runs/<model-slug>-<corpus>-<n>``."""
    corpus_slug = _slug(Path(corpus).stem if Path(corpus).suffix else corpus)
    return Path("socm-runs") / f"{_slug(model)}-{corpus_slug}-{n}"


def versions() -> dict[str, str]:
    """Versions of the packages that determine the numbers."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("socm", "torch", "transformers", "tokenizers", "numpy", "scipy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def pair_index_from_linear(p: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of the ``p``-th pair in ``itertools.combinations(range(n), 2)`` order."""
    p = np.asarray(p, dtype=np.int64)
    # rows before i hold S(i) = i*n - i*(i+1)/2 pairs; solve S(i) <= p by the quadratic formula
    b = 2 * n - 1
    i = np.floor((b - np.sqrt(np.maximum(b * b - 8.0 * p, 0.0))) / 2).astype(np.int64)
    start = i * n - i * (i + 1) // 2
    i = np.where(start > p, i - 1, i)  # floating-point guard
    start = i * n - i * (i + 1) // 2
    nxt = (i + 1) * n - (i + 1) * (i + 2) // 2
    i = np.where(nxt <= p, i + 1, i)
    start = i * n - i * (i + 1) // 2
    return i, p - start + i + 1


def read_pairs_file(path: str | Path, known_ids: set[str]) -> list[tuple[str, str, str | None]]:
    """Read two columns of text ids, and an optional third column with a label.

    Columns are separated by tabs, commas or white space; a header line is optional. Labels
    (e.g. ``relevant`` / ``negative``) give per-label averages in the summary.

    Raises
    ------
    SocmError
        Missing file, a line without two columns, or ids not in the corpus (the first few
        are listed).
    """
    path = Path(path)
    if not path.is_file():
        raise SocmError(f"pairs file not found: {path}")
    rows: list[tuple[str, str, str | None]] = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        sep = "\t" if "\t" in line else ("," if "," in line else None)
        parts = [x.strip() for x in line.split(sep)]
        if len(parts) < 2:
            raise SocmError(f"{path}: line {k + 1} does not hold two text ids")
        rows.append((parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else None))
    if rows and rows[0][0] not in known_ids and rows[0][1] not in known_ids:
        rows = rows[1:]  # a header line
    if not rows:
        raise SocmError(f"{path}: no pairs found")
    unknown = [x for r in rows for x in r[:2] if x not in known_ids]
    if unknown:
        first = list(dict.fromkeys(unknown))[:5]
        raise SocmError(
            f"{path}: {len(set(unknown))} text ids are not in the corpus, e.g. {', '.join(first)}"
        )
    return rows


def pairs_from_ids(
    corpus: Corpus, rows: list[tuple[str, str, str | None]]
) -> tuple[Corpus, np.ndarray, list[str | None]]:
    """Restrict ``corpus`` to the texts the pairs name (in corpus order); local index pairs."""
    wanted = set(x for r in rows for x in r[:2])
    chosen = corpus.subset([k for k, ident in enumerate(corpus.ids) if ident in wanted])
    local = {ident: k for k, ident in enumerate(chosen.ids)}
    pairs = np.array([[local[r[0]], local[r[1]]] for r in rows], dtype=np.int64).reshape(-1, 2)
    return chosen, pairs, [r[2] for r in rows]


def _select(cfg: MeasureConfig) -> tuple[Corpus, np.ndarray | None, list[str | None] | None]:
    """Load the corpus; the texts to encode, the pairs to score (None = all) and their labels."""
    corpus = load_corpus(
        cfg.corpus, text_column=cfg.text_column, id_column=cfg.id_column, unit=cfg.unit
    )
    if cfg.pairs_file:
        rows = read_pairs_file(cfg.pairs_file, set(corpus.ids))
        chosen, pairs, labels = pairs_from_ids(corpus, rows)
        if cfg.max_pairs is not None and cfg.max_pairs < len(pairs):
            rng = np.random.default_rng(cfg.seed)
            keep = np.sort(rng.choice(len(pairs), cfg.max_pairs, replace=False))
            pairs, labels = pairs[keep], [labels[k] for k in keep]
        return chosen, pairs, labels
    chosen = sample(corpus, cfg.n_texts, cfg.seed)
    if len(chosen) < 2:
        raise SocmError(f"need at least 2 texts to form pairs, got {len(chosen)}")
    total = len(chosen) * (len(chosen) - 1) // 2
    if cfg.max_pairs is not None and cfg.max_pairs < total:
        if cfg.max_pairs < 1:
            raise SocmError(f"--max-pairs must be at least 1, got {cfg.max_pairs}")
        rng = np.random.default_rng(cfg.seed)
        lin = np.sort(rng.choice(total, cfg.max_pairs, replace=False))
        i, j = pair_index_from_linear(lin, len(chosen))
        return chosen, np.stack([i, j], axis=1), None
    return chosen, None, None


def _summary(
    cfg: MeasureConfig,
    enc,
    encoded,
    chosen: Corpus,
    res: PairResult,
    spreads: np.ndarray,
    timings: dict,
    pairs_mode: str,
) -> dict:
    s = res.summary()
    q = {
        "0.1": s.pop("socm_q10"),
        "0.5": s.pop("socm_q50"),
        "0.9": s.pop("socm_q90"),
        "0.99": s.pop("socm_q99"),
    }
    return {
        "model": cfg.model,
        "model_path": enc.resolved.path,
        "model_source": enc.resolved.source,
        "revision": enc.resolved.revision,
        "corpus": chosen.name,
        "corpus_source": chosen.info.get("source"),
        "unit": chosen.info.get("unit"),
        "n_texts": len(chosen),
        "n_pairs": len(res),
        "pairs": pairs_mode,
        "seed": cfg.seed,
        "numerics": cfg.numerics,
        "layer": "last" if cfg.layer is None else cfg.layer,
        "token_policy": {
            "special_tokens": "excluded" if cfg.exclude_special_tokens else "included",
            "prefix": cfg.prefix,
            "max_length": enc.max_length,
        },
        "n_truncated": encoded.n_truncated,
        "n_dropped_empty": chosen.n_dropped,
        "avg_socm": s["avg_socm"],
        "avg_d_mu": s["avg_d_mu"],
        "avg_d_sigma": s["avg_d_sigma"],
        "socm_quantiles": q,
        "avg_normalized_spread": float(spreads.mean()),
        "share_spread_over_2": float((spreads > SPREAD_BOUND).mean()),
        "n_d_sigma_over_1": s["n_d_sigma_over_1"],
        "timings": timings,
        "device": str(enc.device),
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def make_encoder(cfg: MeasureConfig, **overrides) -> Encoder:
    """The :class:`~socm.encode.Encoder` a config describes (``overrides`` replace fields)."""
    from socm.encode import Encoder

    opts = {
        "layer": cfg.layer,
        "exclude_special_tokens": cfg.exclude_special_tokens,
        "prefix": cfg.prefix,
        "max_length": cfg.max_length,
        "batch_size": cfg.batch_size,
        "device": cfg.device,
        "trust_remote_code": cfg.trust_remote_code,
        "revision": cfg.revision,
        "cache_dir": None if cfg.no_cache else Path(cfg.cache_dir or default_cache_dir()),
    }
    opts.update(overrides)
    return Encoder(cfg.model, **opts)


def prepare(cfg: MeasureConfig, **encoder_overrides) -> tuple[Corpus, np.ndarray | None, Encoder]:
    """Load and sample the corpus, read or sample the pairs, and set up the encoder.

    Returns (texts, pairs or None for all pairs, encoder). Shared by every command that takes
    the measure options (``measure``, ``layers``, ``mechanism``, ``compare``).
    """
    chosen, pairs, _ = _select(cfg)
    return chosen, pairs, make_encoder(cfg, **encoder_overrides)


#: Listed pairs over more texts than this are scored chunk by chunk from the cache.
STREAM_TEXTS = 20_000


def run_measure(
    cfg: MeasureConfig,
    corpus: Corpus | None = None,
    pairs: np.ndarray | None = None,
    labels: list[str | None] | None = None,
) -> tuple[dict, Path]:
    """Run the whole job and write the run folder; returns (summary, folder).

    Parameters
    ----------
    cfg : MeasureConfig
    corpus, pairs, labels : optional
        A ready corpus with its (P, 2) local index pairs and per-pair labels (e.g. from
        :func:`socm.msmarco.load_msmarco`); they replace ``cfg.corpus`` and ``cfg.pairs_file``.

    Listed pairs over more than :data:`STREAM_TEXTS` texts are scored in chunks with the
    embeddings read back from the cache, so memory stays bounded (each text is encoded once).

    Raises
    ------
    SocmError
        Any user error (bad corpus, model not found, too many texts, unknown pair ids, ...).
    """
    t_start = time.perf_counter()
    check_numerics(cfg.numerics)
    if corpus is None:
        chosen, pairs, labels = _select(cfg)
    else:
        chosen = corpus
    enc = make_encoder(cfg)
    engine_device = "cuda" if enc.device.type == "cuda" else "cpu"
    out = Path(cfg.out) if cfg.out else default_out_dir(cfg.model, chosen.name, len(chosen))
    if pairs is not None and len(chosen) > STREAM_TEXTS and enc.cache is not None:
        encoded, spreads, res, pair_seconds = _stream_listed(enc, chosen, pairs, cfg, engine_device)
    else:
        encoded = enc.encode(chosen.texts, chosen.ids, progress=cfg.progress)
        t_pairs = time.perf_counter()
        stats = token_stats_many(encoded.embeddings)
        res = pairwise(
            stats,
            pairs=pairs,
            numerics=cfg.numerics,
            device=engine_device,
            progress=cfg.progress,
        )
        pair_seconds = time.perf_counter() - t_pairs
        spreads = np.array([st.trace for st in stats])
        encoded.n_tokens = [e.shape[0] for e in encoded.embeddings]
    _write_run(out, chosen, encoded, spreads, res, labels)
    timings = {
        "encode_s": round(encoded.seconds, 3),
        "model_load_s": round(encoded.load_seconds, 3),
        "pairs_s": round(pair_seconds, 3),
        "total_s": round(time.perf_counter() - t_start, 3),
        "n_encoded": encoded.n_encoded,
        "n_cached": encoded.n_cached,
    }
    if cfg.pairs_file or (corpus is not None and pairs is not None):
        mode = "listed"
    else:
        mode = "sampled" if pairs is not None else "all"
    summary = _summary(cfg, enc, encoded, chosen, res, spreads, timings, mode)
    if labels is not None and any(lab is not None for lab in labels):
        summary["by_label"] = _by_label(res, labels)
    summary["config"] = {k: v for k, v in asdict(cfg).items() if k not in ("extra", "progress")}
    atomic_write_json(out / "summary.json", summary)
    return summary, out


def _by_label(res: PairResult, labels: list[str | None]) -> dict:
    lab = np.array(["" if x is None else x for x in labels], dtype=object)
    out = {}
    for name in dict.fromkeys(lab.tolist()):
        sel = lab == name
        out[name or "(none)"] = {
            "n_pairs": int(sel.sum()),
            "avg_socm": float(res.socm[sel].mean()),
            "avg_d_mu": float(res.d_mu[sel].mean()),
            "avg_d_sigma": float(res.d_sigma[sel].mean()),
        }
    return out


def _stream_listed(
    enc,
    chosen: Corpus,
    pairs: np.ndarray,
    cfg: MeasureConfig,
    device: str,
    text_block: int = 4096,
    pair_block: int = 20_000,
):
    """Encode every text once (into the cache), then score pairs chunk by chunk."""
    from socm.encode import EncodeResult

    total = EncodeResult(embeddings=[], truncated=[])
    spreads = np.empty(len(chosen))
    for s in range(0, len(chosen), text_block):
        part = enc.encode(
            chosen.texts[s : s + text_block], chosen.ids[s : s + text_block], progress=cfg.progress
        )
        stats = token_stats_many(part.embeddings)
        spreads[s : s + len(stats)] = [st.trace for st in stats]
        total.n_tokens += [e.shape[0] for e in part.embeddings]
        total.truncated += part.truncated
        total.n_truncated += part.n_truncated
        total.n_cached += part.n_cached
        total.n_encoded += part.n_encoded
        total.seconds += part.seconds
        total.load_seconds += part.load_seconds
    t_pairs = time.perf_counter()
    cols = {k: np.empty(len(pairs)) for k in ("d_mu", "d_sigma", "socm")}
    for s in range(0, len(pairs), pair_block):
        chunk = pairs[s : s + pair_block]
        texts, local = np.unique(chunk, return_inverse=True)
        embs = enc.encode([chosen.texts[t] for t in texts]).embeddings  # from the cache
        r = pairwise(
            token_stats_many(embs), pairs=local.reshape(-1, 2), numerics=cfg.numerics, device=device
        )
        for k in cols:
            cols[k][s : s + len(chunk)] = getattr(r, k)
    res = PairResult(i=pairs[:, 0].astype(np.int64), j=pairs[:, 1].astype(np.int64), **cols)
    return total, spreads, res, time.perf_counter() - t_pairs


def _write_run(
    out: Path,
    chosen: Corpus,
    encoded,
    spreads: np.ndarray,
    res: PairResult,
    labels: list[str | None] | None = None,
) -> None:
    import pyarrow as pa

    ids = np.array(chosen.ids, dtype=object)
    columns = {
        "text1_id": pa.array(ids[res.i].tolist(), type=pa.string()),
        "text2_id": pa.array(ids[res.j].tolist(), type=pa.string()),
        "d_mu": res.d_mu,
        "d_sigma": res.d_sigma,
        "socm": res.socm,
    }
    if labels is not None and any(lab is not None for lab in labels):
        columns["label"] = pa.array(labels, type=pa.string())
    atomic_write_parquet(out / "pairs.parquet", pa.table(columns))
    atomic_write_jsonl(
        out / "texts.jsonl",
        (
            {
                "id": ident,
                "text": text,
                "n_tokens": int(n_tok),
                "normalized_spread": float(sp),
                "truncated": bool(tr),
            }
            for ident, text, n_tok, sp, tr in zip(
                chosen.ids,
                chosen.texts,
                encoded.n_tokens,
                spreads,
                encoded.truncated,
                strict=True,
            )
        ),
    )


def format_summary(summary: dict, out: Path) -> str:
    """A short human-readable table of a run."""
    q = summary["socm_quantiles"]
    rows = [
        ("model", summary["model"]),
        (
            "corpus",
            f"{summary['corpus']} ({summary['n_texts']} texts, {summary['n_pairs']:,} "
            f"{summary['pairs']} pairs)",
        ),
        ("numerics", summary["numerics"]),
        ("avg SOCM", f"{summary['avg_socm']:.5f}"),
        ("avg d_mu", f"{summary['avg_d_mu']:.5f}"),
        ("avg d_sigma", f"{summary['avg_d_sigma']:.5f}"),
        ("SOCM q10/q50/q90/q99", "/".join(f"{q[k]:.4f}" for k in ("0.1", "0.5", "0.9", "0.99"))),
        ("avg normalized spread", f"{summary['avg_normalized_spread']:.4f}"),
        ("texts with spread > 2", f"{summary['share_spread_over_2']:.1%}"),
        ("pairs with d_sigma > 1", f"{summary['n_d_sigma_over_1']:,}"),
        ("truncated texts", str(summary["n_truncated"])),
        (
            "time encode/pairs/total",
            "/".join(f"{summary['timings'][k]:.1f}s" for k in ("encode_s", "pairs_s", "total_s"))
            + f" ({summary['timings']['n_cached']} texts from cache)",
        ),
        ("output", str(out)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
