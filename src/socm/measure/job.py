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

import numpy as np

from socm.backends import STREAM_TEXTS, Backend, LocalStats, encode_stats, get_backend
from socm.core.metrics import check_numerics
from socm.core.pairs import PairResult, iter_pairwise
from socm.core.uncertainty import PairAccumulator
from socm.encode.encoder import EncodeResult
from socm.encode.models import engine_device
from socm.files import atomic_write_json, atomic_write_jsonl
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.select import Prepared, prepare
from socm.measure.summary import LabelSums, build_summary

__all__ = ["STREAM_TEXTS", "PairsFile", "announce_estimate", "encode_stats", "run_measure"]


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
    backend = get_backend(cfg.backend, cfg.ray_address, device=cfg.device)
    listed = cfg.pairs_file is not None or (corpus is not None and pairs is not None)
    # refuses bad input before any work (and before connecting to a cluster)
    job = prepare(cfg, "measure", corpus, pairs, labels, **backend.driver_encoder_options())
    with backend:
        return _run(cfg, job, backend, listed, t_start)


def _run(
    cfg: MeasureConfig, job: Prepared, backend: Backend, listed: bool, t_start: float
) -> tuple[dict, Path]:
    """:func:`run_measure` once the inputs are checked and the backend is started."""
    chosen, pairs, labels, enc = job.texts, job.pairs, job.labels, job.encoder
    device = engine_device(enc.device)
    n = len(chosen)
    stats, encoded = backend.encode_stats(cfg, enc, chosen, cfg.progress, block=STREAM_TEXTS)
    enc.unload()  # the model is not needed for scoring: give its memory back
    spreads = stats.traces
    n_pairs = n * (n - 1) // 2 if pairs is None else len(pairs)
    if n_pairs >= ESTIMATE_PAIRS_MIN and isinstance(stats, LocalStats):
        announce_estimate(stats.items, n_pairs, cfg.numerics, device)
    t_pairs = time.perf_counter()
    acc = PairAccumulator(n)
    per_label = LabelSums(labels) if labels and any(x is not None for x in labels) else None
    with job.writer as writer:
        pairs_path = None if cfg.no_pairs_file else writer.path("pairs.parquet")
        if backend.writes_pairs:  # tasks write parts of a pairs.parquet folder, send sums
            backend.score_summarized(
                stats,
                pairs,
                cfg.numerics,
                cfg.progress,
                chosen.ids,
                acc,
                pairs_dir=pairs_path,
                labels=labels if per_label else None,
                per_label=per_label,
            )
        else:
            sink = PairsFile(
                pairs_path,
                chosen.ids,
                labels if per_label else None,
                n_sorted=n if pairs is None and n_pairs <= SORTED_PAIRS_MAX else None,
            )
            start = 0
            tiles = backend.score(stats, pairs, cfg.numerics, device, cfg.progress, chosen.ids)
            for tile in tiles:
                acc.update(tile.i, tile.j, tile.d_mu, tile.d_sigma, tile.socm)
                sink.add(tile, start)
                if per_label is not None:
                    per_label.update(start, tile)
                start += len(tile)
            sink.close()
        pair_seconds = time.perf_counter() - t_pairs
        if listed:
            mode = "listed"
            res = acc.result(n_listed=_n_listed(chosen, pairs))
        else:
            mode = "sampled" if pairs is not None else "all"
            res = acc.result(n_population=chosen.info.get("n_population"))
        timings = {
            "encode_s": round(encoded.seconds, 3),
            "model_load_s": round(encoded.load_seconds, 3),
            "pairs_s": round(pair_seconds, 3),
            "total_s": round(time.perf_counter() - t_start, 3),
            "n_encoded": encoded.n_encoded,
            "n_cached": encoded.n_cached,
        }
        summary = build_summary(cfg, enc, encoded, chosen, res, spreads, timings, mode)
        if per_label is not None:
            summary["by_label"] = per_label.result()
        summary["pairs_file"] = not cfg.no_pairs_file
        summary["backend"] = backend.info()
        if backend.name != "local":  # the driver only tokenised; the workers ran the model
            summary["device"] = summary["backend"].get("device", summary["device"])
        summary["config"] = cfg.to_dict()
        _write_texts(writer.path("texts.jsonl"), chosen, encoded, spreads, res)
        atomic_write_json(writer.path("summary.json"), summary)
    return summary, job.out


def _n_listed(chosen: Corpus, pairs: np.ndarray) -> int:
    """How many pairs the list held before ``--max-pairs`` sampled from it."""
    return int(chosen.info.get("n_listed_pairs", len(pairs)))


def announce_estimate(stats: list, n_pairs: int, numerics: str, device: str) -> float:
    """Time a sample of all pairs among 200 texts, print the estimated scoring time for
    ``n_pairs`` on stderr (suggesting ``--max-pairs`` beyond 10 minutes); returns seconds."""
    rng = np.random.default_rng(0)
    sample = [stats[k] for k in rng.choice(len(stats), min(200, len(stats)), replace=False)]
    t0 = time.perf_counter()
    done = sum(len(t) for t in iter_pairwise(sample, None, numerics, device))
    rate = done / max(time.perf_counter() - t0, 1e-9)
    eta = n_pairs / rate
    line = (
        f"socm: scoring {n_pairs:,} pairs takes about {_duration(eta)} "
        f"({rate:,.0f} pairs/s measured on a sample, {device})"
    )
    if eta > 600:
        line += "; --max-pairs P scores a random sample of P pairs instead"
    print(line, file=sys.stderr)
    return eta


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class PairsFile:
    """``pairs.parquet`` written as tiles arrive (row groups of about a million pairs).

    With ``n_sorted`` (all pairs of that many texts), pairs are gathered and written in
    combinations order at :meth:`close` (only for runs small enough to hold). ``path=None``
    writes nothing (``--no-pairs-file``).
    """

    ROW_GROUP = 1 << 18

    def __init__(
        self,
        path: Path | None,
        ids: list[str],
        labels: list[str | None] | None,
        n_sorted: int | None = None,
    ) -> None:
        self.path = path
        self.n_ids = len(ids)
        self._dictionary = None if path is None else _string_array(ids)
        self.labels = labels
        self.n_sorted = n_sorted
        self._parts: list[PairResult] = []
        self._labels: list[str | None] = []
        self._rows = 0
        self._writer = None

    def add(self, tile: PairResult, start: int) -> None:
        """Queue a tile (listed pairs: positions ``start ..``)."""
        if self.path is None:
            return
        self._parts.append(tile)
        if self.labels is not None:
            self._labels += self.labels[start : start + len(tile)]
        self._rows += len(tile)
        if self.n_sorted is None and self._rows >= self.ROW_GROUP:
            self._flush()

    def _table(self, i, j, d_mu, d_sigma, socm, label=None):
        import pyarrow as pa

        # ids as dictionary-encoded strings: indices into the texts, no per-pair Python strings
        index = pa.int32() if self.n_ids < 2**31 else pa.int64()
        columns = {
            "text1_id": pa.DictionaryArray.from_arrays(pa.array(i, index), self._dictionary),
            "text2_id": pa.DictionaryArray.from_arrays(pa.array(j, index), self._dictionary),
            "d_mu": d_mu,
            "d_sigma": d_sigma,
            "socm": socm,
        }
        if self.labels is not None:
            columns["label"] = pa.array(label, type=pa.string())
        return pa.table(columns)

    def _flush(self) -> None:
        import pyarrow.parquet as pq

        if not self._parts:
            return
        cols = {f: np.concatenate([getattr(p, f) for p in self._parts]) for f in PairResult.FIELDS}
        label = self._labels if self.labels is not None else None
        if self.n_sorted is not None:
            n, i, j = self.n_sorted, cols["i"], cols["j"]
            order = np.argsort(i * n - i * (i + 1) // 2 + (j - i - 1), kind="stable")
            cols = {f: v[order] for f, v in cols.items()}
        table = self._table(**cols, label=label)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table, row_group_size=self.ROW_GROUP)
        self._parts, self._labels, self._rows = [], [], 0

    def close(self) -> None:
        """Write what is queued and finish the file."""
        if self.path is None:
            return
        self._flush()
        if self._writer is None:  # no pair at all: an empty file with the columns
            import pyarrow.parquet as pq

            e = np.zeros(0, dtype=np.int64)
            z = np.zeros(0)
            pq.write_table(self._table(e, e, z, z, z, label=[]), self.path)
        else:
            self._writer.close()


def _string_array(values: list[str]):
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _write_texts(
    path: Path, chosen: Corpus, encoded: EncodeResult, spreads: np.ndarray, res: dict
) -> None:
    """texts.jsonl: each text with its token count, spread and means over its scored pairs."""

    def num(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    atomic_write_jsonl(
        path,
        (
            {
                "id": ident,
                "text": text,
                "n_tokens": int(n_tok),
                "normalized_spread": float(sp),
                "truncated": bool(tr),
                "n_pairs": int(n_p),
                "mean_socm": num(ms),
                "mean_d_mu": num(mm),
                "mean_d_sigma": num(md),
            }
            for ident, text, n_tok, sp, tr, n_p, ms, mm, md in zip(
                chosen.ids,
                chosen.texts,
                encoded.n_tokens,
                spreads,
                encoded.truncated,
                res["text_n_pairs"],
                res["text_mean_socm"],
                res["text_mean_d_mu"],
                res["text_mean_d_sigma"],
                strict=True,
            )
        ),
    )
