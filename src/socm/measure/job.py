"""``socm measure``: from an encoder and a corpus to collapse results on disk.

Pipeline: corpus → sample → token embeddings (cached), encoded in blocks and reduced at once to
per-text statistics → pair metrics, tile by tile → ``pairs.parquet`` (streamed in row groups),
``texts.jsonl`` (with each text's mean over its pairs) and ``summary.json`` (averages with
confidence intervals, :mod:`socm.core.uncertainty`) in the run folder.

Memory grows with the number of texts (their covariance factors), never with the number of
pairs: pair values go to the parquet file and to O(n) running sums as tiles finish.

Where the encoding and the scoring run is the backend's business (:mod:`socm.backends`:
this process, or a Ray cluster with ``backend="ray"``); everything written here is the same.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from socm.backends import Backend, LocalStats, get_backend
from socm.core.metrics import check_numerics
from socm.core.pairs import ScoreOptions, iter_pairwise
from socm.core.schema import PairSchema, averaged_names
from socm.encode.encoder import EncodeResult
from socm.encode.models import engine_device
from socm.files import atomic_write_json, atomic_write_jsonl
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.select import Prepared, prepare
from socm.measure.statistics import statistics_for
from socm.measure.summary import build_summary
from socm.progress import duration
from socm.runs import PairSink
from socm.store import StatsCollector, StoredStats

__all__ = ["announce_estimate", "backend_encoder", "run_measure"]


#: All-pairs runs up to this many pairs write pairs.parquet in combinations order (i < j);
#: larger ones in the engine's tile order, as tiles finish.
SORTED_PAIRS_MAX = 2_000_000
#: Print a time estimate before scoring more pairs than this.
ESTIMATE_PAIRS_MIN = 2_000_000


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

    The averages' 95% intervals (:class:`~socm.core.uncertainty.PairAccumulator`) estimate the
    average over all pairs of the corpus the texts were sampled from (zero width for the whole
    corpus with all pairs); for listed pairs, the average over all listed pairs.

    Raises
    ------
    SocmError
        Any user error (bad corpus, model not found, too many texts, unknown pair ids, ...);
        with ``cfg.backend="ray"``: Ray not installed, the cluster unreachable, a worker that
        failed after Ray's retries.
    """
    t_start = time.perf_counter()
    check_numerics(cfg.numerics)
    backend = get_backend(cfg.backend, cfg.backend_address, device=cfg.device)
    listed = cfg.pairs_file is not None or (corpus is not None and pairs is not None)
    # refuses bad input before any work (and before connecting to a cluster)
    job = prepare(cfg, "measure", corpus, pairs, labels, **backend_encoder(backend))
    keeping = statistics_for(cfg, backend, job.encoder, job.texts)
    with backend, keeping as collector:
        return _score(cfg, job, backend, listed, t_start, collector)


def backend_encoder(backend: Backend) -> dict:
    """Overrides of the job's own encoder for ``backend`` (its device, when the backend runs
    the model elsewhere)."""
    device = backend.driver_device()
    return {} if device is None else {"device": device}


def _score(
    cfg: MeasureConfig,
    job: Prepared,
    backend: Backend,
    listed: bool,
    t_start: float,
    collector: StatsCollector | None,
) -> tuple[dict, Path]:
    """Encode to statistics (kept by ``collector``), score, write the run folder."""
    chosen, pairs, labels, enc = job.texts, job.pairs, job.labels, job.encoder
    device = engine_device(enc.device)
    n = len(chosen)
    stats, encoded = backend.encode_stats(
        enc.spec, chosen, cfg.progress, encoder=enc, collector=collector
    )
    enc.unload()  # the model is not needed for scoring: give its memory back
    spreads = stats.traces
    n_pairs = n * (n - 1) // 2 if pairs is None else len(pairs)
    if n_pairs >= ESTIMATE_PAIRS_MIN and isinstance(stats, LocalStats | StoredStats):
        announce_estimate(stats, n_pairs, cfg.numerics, device)
    t_pairs = time.perf_counter()
    opts = ScoreOptions(cfg.numerics, device, cfg.progress, chosen.ids)
    with_labels = bool(labels) and any(x is not None for x in labels)
    with job.writer as writer:
        sink = PairSink(
            chosen.ids,
            None if cfg.no_pairs_file else writer.path("pairs.parquet"),
            labels if with_labels else None,
            n_sorted=n if pairs is None and n_pairs <= SORTED_PAIRS_MAX else None,
            schema=opts.schema,
        )
        backend.score_into(stats, pairs, opts, sink)
        sink.close()
        pair_seconds = time.perf_counter() - t_pairs
        if listed:
            mode = "listed"
            res = sink.result(n_listed=_n_listed(chosen, pairs))
        else:
            mode = "sampled" if pairs is not None else "all"
            res = sink.result(n_population=chosen.info.get("n_population"))
        timings = {
            "encode_s": round(encoded.seconds, 3),
            "model_load_s": round(encoded.load_seconds, 3),
            "pairs_s": round(pair_seconds, 3),
            "total_s": round(time.perf_counter() - t_start, 3),
            "n_encoded": encoded.n_encoded,
            "n_cached": encoded.n_cached,
        }
        summary = build_summary(
            cfg, enc, encoded, chosen, res, spreads, timings, mode, opts.schema,
            stats.top_token_shares,
        )  # fmt: skip
        if sink.per_label is not None:
            summary["by_label"] = sink.per_label.result()
        summary["pairs_file"] = not cfg.no_pairs_file
        if sink.parts_record() is not None:  # readers check the folder of parts against it
            summary["pairs_parts"] = sink.parts_record()
        summary["backend"] = backend.info()
        if collector is not None:
            summary["statistics"] = collector.info()
        if backend.name != "local":  # the driver only tokenised; the workers ran the model
            summary["device"] = summary["backend"].get("device", summary["device"])
            summary["forward_dtype"] = worker_dtype(cfg, enc, summary["device"])
        summary["config"] = cfg.to_dict()
        _write_texts(
            writer.path("texts.jsonl"), chosen, encoded, spreads, res, opts.schema,
            stats.top_token_shares, windowed=cfg.long_texts == "window",
        )  # fmt: skip
        atomic_write_json(writer.path("summary.json"), summary)
    return summary, job.out


def worker_dtype(cfg: MeasureConfig, enc: Any, device: str) -> str:
    """The forward dtype of workers on ``device`` (``auto`` resolves per device: the driver's
    encoder, which only tokenised, may sit on another)."""
    import torch

    from socm.encode.precision import resolve_forward_dtype

    return resolve_forward_dtype(cfg.dtype, torch.device(device), lambda: enc.config)


def _n_listed(chosen: Corpus, pairs: np.ndarray) -> int:
    """How many pairs the list held before ``--max-pairs`` sampled from it."""
    return int(chosen.info.get("n_listed_pairs", len(pairs)))


def announce_estimate(stats: Any, n_pairs: int, numerics: str, device: str) -> float:
    """Time a sample of all pairs among 200 texts, print the estimated scoring time for
    ``n_pairs`` on stderr (suggesting ``--max-pairs`` beyond 10 minutes); returns seconds."""
    rng = np.random.default_rng(0)
    items = stats.items if isinstance(stats, LocalStats) else stats
    pick = rng.choice(len(items), min(200, len(items)), replace=False)
    sample = [items[int(k)] for k in pick]
    t0 = time.perf_counter()
    done = sum(len(t) for t in iter_pairwise(sample, None, numerics, device))
    rate = done / max(time.perf_counter() - t0, 1e-9)
    eta = n_pairs / rate
    line = (
        f"socm: scoring {n_pairs:,} pairs takes about {duration(eta)} "
        f"({rate:,.0f} pairs/s measured on a sample, {device})"
    )
    if eta > 600:
        line += "; --max-pairs P scores a random sample of P pairs instead"
    print(line, file=sys.stderr)
    return eta


def _write_texts(
    path: Path,
    chosen: Corpus,
    encoded: EncodeResult,
    spreads: np.ndarray,
    res: dict,
    schema: PairSchema,
    shares: np.ndarray,
    windowed: bool = False,
) -> None:
    """texts.jsonl: each text with its token count, spread, top token's share of the spread
    and means over its scored pairs; with ``windowed`` (``long_texts="window"``) the windows
    it was encoded in."""

    def num(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    means = {name: res[f"text_mean_{name}"] for name in averaged_names(schema)}
    atomic_write_jsonl(
        path,
        (
            {
                "id": chosen.ids[k],
                "text": chosen.texts[k],
                "n_tokens": int(encoded.n_tokens[k]),
                "normalized_spread": float(spreads[k]),
                "top_token_share": num(shares[k]),
                "truncated": bool(encoded.truncated[k]),
                **({"n_windows": int(encoded.n_windows[k])} if windowed else {}),
                "n_pairs": int(res["text_n_pairs"][k]),
                **{f"mean_{name}": num(values[k]) for name, values in means.items()},
            }
            for k in range(len(chosen))
        ),
    )
