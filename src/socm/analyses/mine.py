r"""``socm mine``: the near pairs of a corpus whose token distributions differ most.

Mean pooling maps a text to its unit mean :math:`\tilde\mu`; two texts whose means nearly
coincide may still differ in the shape of their token distributions, which mean pooling
discards (Hara et al., *Why Mean Pooling Works*, ACL 2026, Sec. 3). :func:`run_mine` lists,
for a whole corpus, *which texts mean pooling puts near each other although their token
distributions differ most*. That a listed pair is one humans would call different is a
separate claim, which :mod:`socm.analyses.validate` tests against human judgments (see the
mining page of the documentation for what it found).

Pipeline, in memory :math:`O(N)` per-text statistics and :math:`O(Nk)` pairs, never
:math:`O(N^2)` and never all token embeddings at once:

0. **Leave out** texts with fewer than ``min_tokens`` tokens of their own (fragments) and
   texts equal to an earlier one (:func:`socm.core.mine.eligible_texts`; counted in the
   summary).
1. **Encode and reduce, streaming** (:meth:`socm.backends.Backend.encode_stats`). Locally,
   texts are encoded in blocks of :data:`BLOCK_TEXTS` (:meth:`socm.encode.Encoder.encode`,
   through the sharded cache) and each block is reduced at once to per-text statistics
   (:func:`socm.core.stats.token_stats`: unit mean :math:`\tilde\mu`, covariance factor
   :math:`F` with :math:`\Sigma = F^\top F`, and :math:`\operatorname{tr}\Sigma`); the block's
   token embeddings are then dropped. With ``cfg.backend="ray"`` a Ray Data actor pool does
   the same on the cluster.
2. **Mine** (the steps of :func:`socm.core.mine.mine`): the candidate pairs are each text's
   ``neighbors`` nearest texts by cosine :math:`\tilde\mu_i^\top\tilde\mu_j` (exact by
   default; :func:`~socm.core.mine.find_candidates`, in this process: it needs only the unit
   means), scored with :math:`d_\mu = (1 - \cos)/2`,
   :math:`d_\Sigma = \mathrm{BW}^2(\Sigma_i, \Sigma_j)/4`,
   :math:`\mathrm{SOCM} = (1 - d_\mu)\,d_\Sigma` (:func:`~socm.core.mine.score_candidates`
   locally, Ray tasks over chunks of the listed candidates on a cluster:
   :meth:`socm.backends.Backend.score`) and the scale-free
   :math:`\mathrm{BW}^2/(\operatorname{tr}\Sigma_i + \operatorname{tr}\Sigma_j) \in [0, 1]`,
   ranked by ``rank_by`` (descending), at most ``max_per_text`` pairs per text, the first
   ``top_k`` kept (:func:`~socm.core.mine.rank_candidates`, in this process).
3. **Write** the run folder (:class:`socm.measure.writer.RunWriter`, all or nothing):
   ``candidates.parquet`` (text1_id, text2_id, cosine, cosine_percentile, neighbor_rank_1,
   neighbor_rank_2, d_mu, d_sigma, socm, relative_d_sigma, rank), ``texts.parquet`` (id,
   text, n_tokens, truncated, normalized_spread, n_candidates, neighbor_mean_cosine,
   neighbor_mean_relative_d_sigma, n_mined) and ``mine_summary.json``.

The mining options are recorded in ``cfg.extra["mine"]``, so the run folder's settings hash and
identity cover them: another ``neighbors`` or ``rank_by`` gets its own folder.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from socm.backends import Backend, get_backend
from socm.core.metrics import check_numerics
from socm.core.mine import (
    Candidates,
    MineOptions,
    MineResult,
    OptionError,
    eligible_texts,
    find_candidates,
    rank_candidates,
)
from socm.core.neighbors import auto_method, require_faiss
from socm.core.pairs import ScoreOptions
from socm.encode.cache import text_key
from socm.encode.encoder import CACHE_DTYPES, Encoder, EncodeResult
from socm.encode.models import engine_device
from socm.errors import SocmError, printable
from socm.files import atomic_write_json, atomic_write_parquet
from socm.inputs.corpus import Corpus
from socm.measure.config import MeasureConfig
from socm.measure.job import backend_encoder
from socm.measure.rundir import read_mine_summary, run_file, versions
from socm.measure.select import prepare
from socm.measure.statistics import statistics_for
from socm.progress import duration
from socm.store import MineCheckpoint, StatsCollector

__all__ = [
    "BLOCK_TEXTS",
    "MINE_FILES",
    "RUN_DEFAULTS",
    "format_mine",
    "mine_options",
    "pair_texts",
    "read_mine_run",
    "run_mine",
    "shorten",
]

BLOCK_TEXTS = 4096
"""Texts encoded per block before they are reduced to statistics (bounds the token memory)."""
MINE_FILES = ("candidates.parquet", "texts.parquet", "mine_summary.json")
"""The files :func:`run_mine` writes into a run folder."""
RUN_DEFAULTS = MineOptions(top_k=100, min_tokens=5, drop_duplicates=True)
"""The options of a mining run (and ``socm mine``) by default: :class:`~socm.core.mine.
MineOptions` keeping the best 100 pairs, leaving out texts of fewer than 5 tokens of their own
(fragments: "Pulley", "1753 BC.") and repeated texts."""


def _whole(what: str, value: Any, minimum: int = 1, allow_none: bool = True) -> int | None:
    """``value`` as an int, or one line naming ``what`` (a flag such as ``--show``, or a
    parameter that has no flag, such as ``block``)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SocmError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def _flag_error(exc: OptionError) -> SocmError:
    """An option error as the command line names it (``top_k`` -> ``--top-k``)."""
    msg = str(exc)
    flag = "--" + exc.option.replace("_", "-")
    return SocmError(flag + msg[len(exc.option) :] if msg.startswith(exc.option) else msg)


def mine_options(options: MineOptions | None = None, **changes: Any) -> MineOptions:
    """:data:`RUN_DEFAULTS` (or ``options``) with ``changes``, errors naming the flags.

    Raises
    ------
    SocmError
        A value out of range or an unknown choice (one line, naming the flag); ``search``
        ``"faiss"`` or ``"hnsw"`` without faiss installed.

    Examples
    --------
    >>> mine_options(neighbors=5, rank_by="relative_d_sigma").neighbors
    5
    >>> mine_options(rank_by="cosine")
    Traceback (most recent call last):
    ...
    socm.errors.SocmError: --rank-by must be one of socm, d_sigma, relative_d_sigma, got 'cosine'
    """
    try:
        out = (RUN_DEFAULTS if options is None else options).replace(**changes)
    except OptionError as exc:
        raise _flag_error(exc) from None
    if out.search in ("faiss", "hnsw"):
        try:
            require_faiss()
        except ImportError as exc:
            raise SocmError(f"--search {out.search}: {exc}") from None
    return out


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def run_mine(
    cfg: MeasureConfig,
    options: MineOptions | None = None,
    *,
    cache_dtype: str = "float32",
    show: int = 10,
    block: int = BLOCK_TEXTS,
    **changes: Any,
) -> tuple[dict[str, Any], Path]:
    r"""Mine a corpus for its near pairs whose token distributions differ most; write the run
    folder.

    Parameters
    ----------
    cfg : MeasureConfig
        Model, corpus, token policy, cache, numerics and output (as for ``socm measure``).
        ``cfg.n_texts=None`` mines every text (not the 1,000-text sample of ``measure``).
        ``cfg.extra["mine"]`` is set to the mining options.
    options : MineOptions, optional
        What to search, score and keep (default :data:`RUN_DEFAULTS`).
    cache_dtype : {"float32", "float16"}
        Precision of the token embeddings as stored (float16: half the disk; see docs/numerics.md
        for its effect on the numbers).
    show : int
        Pairs listed, with their texts, in the summary's ``top_pairs``.
    block : int
        Texts encoded per block (:attr:`Backend.block <socm.backends.Backend.block>`: the
        memory of the token embeddings in flight).
    **changes
        Fields of :class:`~socm.core.mine.MineOptions` replacing those of ``options``
        (``neighbors=5``, ``top_k=None``, ...).

    Returns
    -------
    (dict, Path)
        The summary (also ``mine_summary.json``) and the run folder.

    Raises
    ------
    SocmError
        Bad options (e.g. ``neighbors`` not below the number of texts), a listed-pairs file,
        or any error of ``socm measure``'s input checks; all before a model is loaded (and
        before connecting to a cluster). With ``cfg.backend="ray"``: Ray not installed, the
        cluster unreachable, a worker that failed after Ray's retries.

    Notes
    -----
    ``cfg.backend`` and ``cfg.backend_address`` choose where the texts are encoded and the
    candidates scored (:mod:`socm.backends`); the neighbour search and the ranking run in this
    process. The results equal a local run's (bit for bit from the same cache).
    """
    t_start = time.perf_counter()
    opts = mine_options(options, **changes)
    _check_settings(cfg, cache_dtype)
    show = _whole("--show", show, allow_none=False)
    block = _whole("block", block, allow_none=False)
    record = {**opts.record(), "cache_dtype": cache_dtype}
    if not record["search_options"]:
        del record["search_options"]  # settings hashes of runs without them stay as they were
    cfg = replace(
        cfg,
        n_texts="all" if cfg.n_texts is None else cfg.n_texts,
        extra={**cfg.extra, "mine": record},
    )
    backend = get_backend(cfg.backend, cfg.backend_address, device=cfg.device)
    job = prepare(cfg, "mine", cache_dtype=cache_dtype, **backend_encoder(backend))
    enc = job.encoder
    own = enc.policy.own_counts(job.texts.texts)
    eligible, excluded = eligible_texts(own, job.texts.texts, opts)
    chosen = job.texts.subset(np.flatnonzero(eligible))
    repeated = len(chosen) - len(set(chosen.texts))  # kept with drop_duplicates=False
    try:
        opts.check_texts(len(chosen), sum(excluded.values()))
    except OptionError as exc:
        raise _flag_error(exc) from None
    keeping = statistics_for(cfg, backend, enc, chosen)
    with backend, keeping as collector:
        res, spreads, encoded, stats_s, windows = _mine_on(
            backend, cfg, enc, chosen, opts, block, collector
        )
    res.excluded = excluded

    # 3. the run folder
    t_write = time.perf_counter()
    top = _top_pairs(res, chosen.ids, chosen.texts, show)
    summary: dict[str, Any] = {
        "command": "mine",
        "model": cfg.model,
        "revision": enc.resolved.revision,
        "corpus": chosen.name,
        "n_texts": len(chosen),
        "n_texts_corpus": len(job.texts),
        "min_tokens": opts.min_tokens,
        "drop_duplicates": opts.drop_duplicates,
        **{f"{k}_excluded": v for k, v in excluded.items()},
        "neighbors": opts.neighbors,
        "search": opts.search,
        "search_method": res.neighbor_info.get("method", opts.search),
        "rank_by": opts.rank_by,
        "numerics": cfg.numerics,
        "n_candidates": res.n_candidates,
        "top_k": opts.top_k,
        "max_per_text": opts.max_per_text,
        "n_kept": len(res),
        "cache_dtype": cache_dtype,
        "token_policy": enc.token_policy(),
        "forward_dtype": enc.forward_dtype,
        "n_truncated": int(sum(encoded.truncated)),
        "max_length": enc.max_length,
        "n_dropped_empty": job.texts.n_dropped,
        "n_duplicates_kept": repeated,
        "avg_normalized_spread": float(spreads.mean()),
        "neighbor_info": _jsonable(res.neighbor_info),
        "random_pair_cosines": _cosine_reference(res.random_cosines, opts),
        "top_pairs": top,
    }
    with job.writer:
        _write_tables(
            job.writer,
            res,
            chosen.ids,
            chosen.texts,
            encoded.n_tokens,
            encoded.truncated,
            spreads,
        )
        summary["timings"] = {
            "encode_s": round(encoded.seconds - encoded.load_seconds, 3),
            "model_load_s": round(encoded.load_seconds, 3),
            "stats_s": round(stats_s, 3),
            "neighbors_s": round(res.timings["neighbors"], 3),
            "scoring_s": round(res.timings["scoring"], 3),
            "ranking_s": round(res.timings["ranking"], 3),
            "write_s": round(time.perf_counter() - t_write, 3),
            "total_s": round(time.perf_counter() - t_start, 3),
            "n_encoded": encoded.n_encoded,
            "n_cached": encoded.n_cached,
        }
        summary["backend"] = backend.info()
        if collector is not None:
            summary["statistics"] = collector.info()
        if windows is not None:
            summary["score_windows"] = windows
        summary["versions"] = {**versions(), **_faiss_version(summary["search_method"])}
        summary["config"] = cfg.to_dict()
        atomic_write_json(job.writer.path("mine_summary.json"), _jsonable(summary))
    return summary, job.out


def _check_settings(cfg: MeasureConfig, cache_dtype: str) -> None:
    """Refuse the settings a mine run cannot honour (before a model is loaded)."""
    if cache_dtype not in CACHE_DTYPES:
        raise SocmError(
            f"--cache-dtype must be one of {', '.join(CACHE_DTYPES)}, got {cache_dtype!r}"
        )
    check_numerics(cfg.numerics)
    if cfg.pairs_file:
        raise SocmError("socm mine searches the whole corpus for its pairs: drop --pairs")
    if cfg.max_pairs is not None:
        raise SocmError("socm mine scores each text's neighbours: drop --max-pairs")
    if cfg.pooling != "mean":
        raise SocmError("socm mine searches the mean-pooled embeddings: drop pooling='model'")


def _mine_on(
    backend: Backend,
    cfg: MeasureConfig,
    enc: Encoder,
    chosen: Corpus,
    options: MineOptions,
    block: int,
    collector: StatsCollector | None = None,
) -> tuple[MineResult, np.ndarray, EncodeResult, float, dict[str, int] | None]:
    """Encode, find, score and rank on a started ``backend``.

    The neighbour search and the ranking run here (they need only the unit means, the traces
    and the scores); the encoding and the scoring run where the backend runs them. The local
    backend scores with :func:`socm.core.mine.score_candidates`, so a local run in memory
    equals :func:`socm.core.mine.mine` on the same embeddings bit for bit (with a store, the
    scores are computed and saved in windows, :mod:`socm.store.scores`: equal up to rounding,
    about 4e-16, where windows split the pairs); another backend scores the same pairs with
    :meth:`~socm.backends.Backend.score_listed`. Only the unit means and the traces come to
    this process; the covariance factors stay where the backend keeps them.

    Returns
    -------
    (MineResult, numpy.ndarray, EncodeResult, float, dict or None)
        The mined pairs, every text's normalised spread, the encoding's counts and timings,
        the seconds spent reducing token embeddings to statistics in this process, and with a
        store that outlives the run the score windows (``size``, ``n_windows``,
        ``read_back``).
    """
    t0 = time.perf_counter()
    backend.block = block
    try:
        stats, encoded = backend.encode_stats(
            enc.spec, chosen, cfg.progress, encoder=enc, collector=collector
        )
    except ValueError as exc:  # a text with no usable tokens, named by its id
        raise SocmError(str(exc).splitlines()[0]) from None
    stats_s = max(0.0, time.perf_counter() - t0 - encoded.seconds)
    enc.unload()  # the model is not needed for mining: give its memory back
    device = engine_device(enc.device)
    means = stats.means()  # the only N x D array here: the factors stay with the backend
    spreads = stats.traces
    checkpoint = None
    if collector is not None and collector.stored and (cfg.store or not cfg.no_cache):
        # beside a store that outlives the run (not --no-cache's): a rerun skips stages
        keys = [text_key(t) for t in chosen.texts]
        checkpoint = MineCheckpoint(collector.store, keys, versions())
    try:
        cand = _candidates(means, options, device, cfg.progress, checkpoint)
    except (ValueError, ImportError) as exc:
        raise SocmError(str(exc).splitlines()[0]) from None
    del means
    stats.forget_means()  # a store's: its scoring reads a text's mean with its factor
    t_score = time.perf_counter()
    opts = ScoreOptions(cfg.numerics, device, cfg.progress, chosen.ids)
    windows = None
    if checkpoint is None:
        scores = backend.score_listed(stats, cand.pairs(), opts)
    else:  # a window at a time: a resumed run scores only what is left
        # (``stats`` is a StoredStats, read from the store: the backend cannot consume it)
        score = functools.partial(backend.score_listed, stats, opts=opts)
        scores = checkpoint.scores(score, cand.pairs(), cand.n_texts, opts)
        windows = checkpoint.windows
        if windows["read_back"]:
            print(
                f"socm: {windows['read_back']:,} of {windows['n_windows']:,} windows of scored "
                "candidate pairs were done before: they are read back",
                file=sys.stderr,
            )
    scoring_s = time.perf_counter() - t_score
    del stats
    res = rank_candidates(cand, scores, options, consume=True)  # both are this function's
    res.timings["scoring"] = scoring_s
    return res, spreads, encoded, stats_s, windows


def _candidates(
    means: np.ndarray,
    options: MineOptions,
    device: str,
    progress: bool,
    checkpoint: MineCheckpoint | None,
) -> Candidates:
    """:func:`~socm.core.mine.find_candidates` (``search="auto"`` resolved and announced by
    :func:`announce_search`), through ``checkpoint`` when there is one: the candidates are
    then saved beside the store once found, and a rerun or a resumed run of the same texts
    and search reads them back instead of searching (one line on stderr says so)."""

    def find() -> Candidates:
        return find_candidates(means, announce_search(means, options, device), device, progress)

    if checkpoint is None:
        return find()
    cand = checkpoint.candidates(find, options, None)
    if checkpoint.candidates_read_back:
        print(
            f"socm: the neighbour search of these {len(means):,} texts was done before: "
            "its candidates are read back",
            file=sys.stderr,
        )
    return cand


def announce_search(means: np.ndarray, options: MineOptions, device: str) -> MineOptions:
    """The options with ``search="auto"`` resolved (:func:`socm.core.neighbors.auto_method`);
    before a search whose exact route is estimated to take over a minute, one line on stderr
    says how long and which method runs."""
    if options.search not in ("auto", "exact") or len(means) < 20_000:
        return options
    block_dtype = dict(options.search_options).get("block_dtype", "auto")
    method, estimate = auto_method(means, device, block_dtype)
    if options.search == "exact":
        method = "exact"
    if estimate > 60:
        line = f"socm: an exact neighbour search of {len(means):,} texts takes about "
        line += f"{duration(estimate)} here"
        if method != "exact":
            line += f"; searching with {method} instead (approximate, recall measured)"
        print(line, file=sys.stderr)
    return options.replace(search=method)


def _cosine_reference(sample: np.ndarray, options: MineOptions) -> dict[str, Any]:
    """What the cosine percentiles are measured against: the random pairs and their quantiles."""
    qs = (0.5, 0.9, 0.99, 0.999)
    values = np.quantile(sample, qs).tolist() if len(sample) else [None] * len(qs)
    return {
        "n_pairs": len(sample),
        "seed": options.seed,
        "quantiles": {str(q): v for q, v in zip(qs, values, strict=True)},
    }


def _faiss_version(search: str) -> dict[str, str]:
    if search not in ("faiss", "hnsw"):
        return {}
    return {"faiss": str(getattr(require_faiss(), "__version__", "unknown"))}


def _top_pairs(res: MineResult, ids: list[str], texts: list[str], show: int) -> list[dict]:
    """The first ``show`` kept pairs with their ids, texts and numbers."""
    out = []
    for r in range(min(show, len(res))):
        a, b = int(res.i[r]), int(res.j[r])
        out.append(
            {
                "rank": r + 1,
                "text1_id": ids[a],
                "text2_id": ids[b],
                "text1": texts[a],
                "text2": texts[b],
                "cosine": float(res.cosine[r]),
                "cosine_percentile": float(res.cosine_percentile[r]),
                "neighbor_rank_1": int(res.neighbor_rank_1[r]),
                "neighbor_rank_2": int(res.neighbor_rank_2[r]),
                "d_mu": float(res.d_mu[r]),
                "d_sigma": float(res.d_sigma[r]),
                "socm": float(res.socm[r]),
                "relative_d_sigma": float(res.relative_d_sigma[r]),
            }
        )
    return out


def _write_tables(
    writer: Any,
    res: MineResult,
    ids: list[str],
    texts: list[str],
    n_tokens: list[int],
    truncated: list[bool],
    spreads: np.ndarray,
) -> None:
    """``candidates.parquet`` and ``texts.parquet`` through ``writer``."""
    import pyarrow as pa

    id_arr = np.array(ids, dtype=object)
    columns: dict[str, Any] = {
        "text1_id": pa.array(id_arr[res.i].tolist(), type=pa.string()),
        "text2_id": pa.array(id_arr[res.j].tolist(), type=pa.string()),
    }
    for name, values in res.columns.items():
        if name.startswith("neighbor_rank_"):  # 0: not among that text's nearest -> null
            values = pa.array(values, type=pa.int64(), mask=np.asarray(values) == 0)
        columns[name] = values
    columns["rank"] = np.arange(1, len(res) + 1, dtype=np.int64)
    cand = pa.table(columns)
    atomic_write_parquet(writer.path("candidates.parquet"), cand)
    per = res.per_text()
    table = pa.table(
        {
            "id": pa.array(ids, type=pa.string()),
            "text": pa.array(texts, type=pa.string()),
            "n_tokens": np.asarray(n_tokens, dtype=np.int64),
            "truncated": np.asarray(truncated, dtype=bool),
            "normalized_spread": spreads,
            "n_candidates": per["n_candidates"],
            "neighbor_mean_cosine": per["mean_cosine"],
            "neighbor_mean_relative_d_sigma": per["mean_relative_d_sigma"],
            "n_mined": per["n_mined"],
        }
    )
    atomic_write_parquet(writer.path("texts.parquet"), table)


# ---------------------------------------------------------------------- reading a mine run
def read_mine_run(run: str | Path) -> tuple[dict[str, Any], Any, Any]:
    """A mine run folder's summary, candidates and texts.

    Returns
    -------
    (dict, pyarrow.Table, pyarrow.Table)
        ``mine_summary.json``, ``candidates.parquet`` (best first) and ``texts.parquet``.

    Raises
    ------
    SocmError
        The folder or one of its files is missing or unreadable.
    """
    import pyarrow.parquet as pq

    paths = [run_file(run, name) for name in MINE_FILES]
    summary = read_mine_summary(run)
    try:
        return summary, pq.read_table(paths[0]), pq.read_table(paths[1])
    except (OSError, ValueError) as exc:
        raise SocmError(f"{run}: unreadable mine run ({str(exc).splitlines()[0]})") from None


def pair_texts(run: str | Path, rank: int) -> tuple[str, str, tuple[str, str]]:
    """The two texts of the pair listed at ``rank`` (1 = first) in a mine run.

    For ``socm pair``: ``text_a, text_b, ids = pair_texts(run_dir, 3)``.

    Returns
    -------
    (str, str, (str, str))
        Both texts and their ids (``text1_id``, ``text2_id``).

    Raises
    ------
    SocmError
        Not a mine run folder, or no pair at that rank.
    """
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rank = _whole("RANK", rank, allow_none=False)
    cand_path = run_file(run, "candidates.parquet")
    texts_path = run_file(run, "texts.parquet")
    try:
        cand = pq.read_table(cand_path, columns=["text1_id", "text2_id", "rank"])
        if rank > cand.num_rows:  # beyond the list (and beyond what the column holds)
            raise SocmError(
                f"{run}: no pair at rank {rank}; the run lists ranks 1..{cand.num_rows}"
            )
        row = cand.filter(pc.equal(cand["rank"], rank))
        if row.num_rows == 0:
            raise SocmError(
                f"{run}: no pair at rank {rank}; the run lists ranks 1..{cand.num_rows}"
            )
        ids = (row["text1_id"][0].as_py(), row["text2_id"][0].as_py())
        table = pq.read_table(texts_path, columns=["id", "text"], filters=[("id", "in", ids)])
    except (OSError, ValueError) as exc:
        raise SocmError(f"{run}: unreadable mine run ({str(exc).splitlines()[0]})") from None
    found = dict(zip(table["id"].to_pylist(), table["text"].to_pylist(), strict=True))
    missing = [i for i in ids if i not in found]
    if missing:
        raise SocmError(f"{run}: texts.parquet lacks text {missing[0]!r} (incomplete run folder)")
    return found[ids[0]], found[ids[1]], ids


# ---------------------------------------------------------------------- printing
def shorten(text: str, width: int = 100) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``width`` characters with "…".

    Examples
    --------
    >>> shorten("Mean  pooling\\naverages tokens.", 20)
    'Mean pooling averag…'
    """
    one = re.sub(r"\s+", " ", text).strip()
    return one if len(one) <= width else one[: width - 1].rstrip() + "…"


#: What the printed list says of its pairs: the evidence of ``socm validate`` on STS-B (see the
#: mining page of the documentation), not an assumption.
EVIDENCE_NOTE = (
    "Near pairs by cosine, ranked by how differently their tokens are distributed. Tested "
    "against human similarity on STS-B with two models (socm validate; docs/mining.md), no "
    "shape score marked the pairs humans rate less similar beyond what the cosine says: "
    "read these as pairs mean pooling puts close although their token distributions differ, "
    "not as pairs it gets wrong."
)


def _ranks_text(p: dict[str, Any]) -> str:
    """``"3/1"``: where text 2 stands among text 1's nearest texts, and text 1 among text 2's
    ("-": not among them)."""
    r1, r2 = p.get("neighbor_rank_1"), p.get("neighbor_rank_2")
    return "/".join("-" if not r else str(r) for r in (r1, r2))


def format_mine(summary: dict[str, Any], out: Path | str | None = None, width: int = 100) -> str:
    """The printed top list: both texts of each pair (shortened) with their numbers, what
    places each pair (its cosine percentile among random pairs of the corpus, its rank in
    both texts' neighbour lists) and what the list does and does not show."""
    cap = summary.get("max_per_text")
    kept = summary.get("n_kept", 0)
    info = summary.get("neighbor_info", {})
    recall = f", recall {info['recall']:.3f}" if "recall" in info else ""
    left = [
        f"{summary[k]:,} {what}"
        for k, what in (
            ("n_fragments_excluded", f"fragments (< {summary.get('min_tokens')} tokens)"),
            ("n_duplicates_excluded", "repeated texts"),
        )
        if summary.get(k)
    ]
    notes = []
    if summary.get("n_dropped_empty"):
        notes.append(f"{summary['n_dropped_empty']:,} empty or invisible texts dropped")
    if summary.get("n_truncated"):
        cut = summary.get("max_length")
        notes.append(
            f"{summary['n_truncated']:,} truncated"
            + (f" (only their first {cut} tokens measured)" if cut else "")
        )
    if summary.get("n_duplicates_kept"):
        notes.append(
            f"{summary['n_duplicates_kept']:,} repeated texts kept (--keep-duplicates): "
            "they fill each other's neighbour slots"
        )
    lines = [
        f"{summary['model']} on {summary['corpus']}: {summary['n_texts']:,} texts searched"
        + (f" ({' and '.join(left)} left out)" if left else "")
        + f", {summary['neighbors']} nearest by cosine each ({info.get('method', '?')} search"
        f"{recall}) -> {summary['n_candidates']:,} candidate pairs; {kept:,} listed, ranked by "
        f"{summary['rank_by']}" + (f", at most {cap} per text" if cap else ""),
        *([f"texts: {'; '.join(notes)}"] if notes else []),
        EVIDENCE_NOTE,
        "cos pct: percent of random pairs of the corpus with a lower cosine; ranks: where each "
        "text stands among the other's nearest texts.",
        "",
        f"{'rank':>5}  {'cosine':>7}  {'cos pct':>7}  {'ranks':>7}  {'d_sigma':>7}  "
        f"{'SOCM':>7}  {'rel_d_sigma':>11}",
    ]
    for p in summary.get("top_pairs", []):
        pct = p.get("cosine_percentile")
        lines.append(
            f"{p['rank']:>5}  {p['cosine']:>7.4f}  "
            + (f"{pct:>7.2f}" if pct is not None else f"{'':>7}")
            + f"  {_ranks_text(p):>7}  {p['d_sigma']:>7.4f}  {p['socm']:>7.4f}  "
            f"{p['relative_d_sigma']:>11.4f}"
        )
        for tag in ("1", "2"):  # escaped before they are cut: no sequence is left open
            ident = shorten(printable(str(p[f"text{tag}_id"])), 12)
            text = shorten(printable(str(p[f"text{tag}"])), width - 21)
            lines.append(f"{'':>7}{ident:>12}  {text}")
    shown = len(summary.get("top_pairs", []))
    if kept > shown:
        lines.append(f"({kept - shown:,} more in candidates.parquet)")
    t = summary.get("timings", {})
    if t:
        lines.append(
            f"time: encode {t['encode_s']:.1f} s ({t['n_encoded']:,} encoded, {t['n_cached']:,} "
            f"cached), statistics {t['stats_s']:.1f} s, neighbours {t['neighbors_s']:.1f} s, "
            f"scoring {t['scoring_s']:.1f} s, total {t['total_s']:.1f} s"
        )
    if out is not None:
        lines.append(f"output: {out}")
    return "\n".join(lines)
