"""``socm measure``: from an encoder and a corpus to collapse results on disk.

Pipeline: corpus → sample → token embeddings (cached) → per-text statistics → pair metrics →
``pairs.parquet``, ``texts.jsonl`` and ``summary.json`` in the run folder, each written
atomically.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from socm.core.metrics import check_numerics
from socm.core.pairs import PairResult, pairwise
from socm.core.stats import token_stats_many
from socm.encode.encoder import Encoder, EncodeResult
from socm.encode.models import engine_device
from socm.files import atomic_write_json, atomic_write_jsonl, atomic_write_parquet
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.select import prepare
from socm.measure.summary import build_summary, by_label
from socm.measure.writer import RunWriter

__all__ = ["STREAM_TEXTS", "run_measure"]


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
        :func:`socm.inputs.msmarco.load_msmarco`); they replace ``cfg.corpus`` and
        ``cfg.pairs_file``.

    Listed pairs over more than :data:`STREAM_TEXTS` texts are scored in chunks with the
    embeddings read back from the cache, so memory stays bounded (each text is encoded once).

    Raises
    ------
    SocmError
        Any user error (bad corpus, model not found, too many texts, unknown pair ids, ...).
    """
    t_start = time.perf_counter()
    check_numerics(cfg.numerics)
    listed = cfg.pairs_file is not None or (corpus is not None and pairs is not None)
    job = prepare(cfg, "measure", corpus, pairs, labels)  # refuses bad input before any work
    chosen, pairs, labels, enc, writer = job.texts, job.pairs, job.labels, job.encoder, job.writer
    device = engine_device(enc.device)
    if pairs is not None and len(chosen) > STREAM_TEXTS and enc.cache is not None:
        encoded, spreads, res, pair_seconds = _stream_listed(enc, chosen, pairs, cfg, device)
    else:
        encoded = enc.encode(chosen.texts, chosen.ids, progress=cfg.progress)
        t_pairs = time.perf_counter()
        stats = token_stats_many(encoded.embeddings)
        res = pairwise(
            stats,
            pairs=pairs,
            numerics=cfg.numerics,
            device=device,
            progress=cfg.progress,
        )
        pair_seconds = time.perf_counter() - t_pairs
        spreads = np.array([st.trace for st in stats])
    timings = {
        "encode_s": round(encoded.seconds, 3),
        "model_load_s": round(encoded.load_seconds, 3),
        "pairs_s": round(pair_seconds, 3),
        "total_s": round(time.perf_counter() - t_start, 3),
        "n_encoded": encoded.n_encoded,
        "n_cached": encoded.n_cached,
    }
    if listed:
        mode = "listed"
    else:
        mode = "sampled" if pairs is not None else "all"
    summary = build_summary(cfg, enc, encoded, chosen, res, spreads, timings, mode)
    if labels is not None and any(lab is not None for lab in labels):
        summary["by_label"] = by_label(res, labels)
    summary["config"] = cfg.to_dict()
    with writer:
        _write_run(writer, chosen, encoded, spreads, res, labels)
        atomic_write_json(writer.path("summary.json"), summary)
    return summary, job.out


def _stream_listed(
    enc: Encoder,
    chosen: Corpus,
    pairs: np.ndarray,
    cfg: MeasureConfig,
    device: str,
    text_block: int = 4096,
    pair_block: int = 20_000,
):
    """Encode every text once (into the cache), then score pairs chunk by chunk."""
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
    writer: RunWriter,
    chosen: Corpus,
    encoded: EncodeResult,
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
    atomic_write_parquet(writer.path("pairs.parquet"), pa.table(columns))
    atomic_write_jsonl(
        writer.path("texts.jsonl"),
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
