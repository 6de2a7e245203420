"""The Ray backend: encode on an actor pool with Ray Data, score pairs as Ray tasks.

Scheduling only; every number comes from the same code as the local backend:

* **Encoding**: :meth:`ray.data.Dataset.map_batches` over the texts with a pool of actors
  (:class:`EncodeActor`); each actor builds its :class:`~socm.encode.Encoder` once (through
  :func:`socm.measure.config.make_encoder`, so with the same cache as a local run: a cluster
  run resumes like a local one when the cache is on shared storage), encodes its batches and
  reduces each text at once to its :class:`~socm.core.stats.TokenStats`
  (:func:`~socm.core.stats.token_stats`), which travel back as numpy columns. One GPU per
  actor when the cluster has GPUs, else one actor per node with the node's CPUs.
* **Scoring**: the statistics go to the object store once, in blocks of texts
  (:func:`ray.put`). All pairs: one task per block pair ``(a, b)``, ``a <= b``, scoring the
  pairs within block ``a`` with :func:`socm.core.pairs.pairwise` or between blocks ``a`` and
  ``b`` with :func:`socm.core.pairs.iter_pairwise_between` (both the engine's all-pairs
  tiles). Listed pairs: one task per chunk of pairs, given only the blocks its pairs touch.
  Each task returns its tile's :class:`~socm.core.pairs.PairResult`; the driver streams the
  tiles, in submission order, into the run's single ``pairs.parquet`` and the O(n) running
  sums of the summary, with at most a few tiles per worker in flight, so its memory is
  bounded by the texts and a few tiles, never by the pairs.
  Failed tasks (a crashed worker, a lost node) are retried by Ray (``max_retries``).

Why tiles come back to the driver instead of each task writing a part of a ``pairs.parquet``
folder: every reader of ``pairs.parquet`` expects one file, and a tile is small (at most a
million pairs, 40 MB).

Ray is optional: ``pip install 'socm[ray]'``. Importing this module does not import Ray.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from socm.backends.base import STREAM_TEXTS, Backend
from socm.core.pairs import PairResult, iter_pairwise_between, pairwise
from socm.core.stats import TokenStats, token_stats
from socm.encode.encoder import Encoder, EncodeResult
from socm.encode.models import one_line
from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.progress import progress_bar

if TYPE_CHECKING:  # not at run time: socm.measure imports this package
    from socm.measure.config import MeasureConfig

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ENCODE_BATCH_TEXTS",
    "FAULT_ENV",
    "LISTED_CHUNK_PAIRS",
    "MAX_RETRIES",
    "MIN_BLOCK_TEXTS",
    "MIN_LISTED_CHUNK",
    "SCORE_BLOCK_TEXTS",
    "EncodeActor",
    "RayBackend",
    "import_ray",
    "resolve_address",
]

#: Texts per Ray Data batch handed to an encode actor (fewer for small corpora, so that every
#: actor gets work); the actor's encoder batches them by ``batch_size`` again.
ENCODE_BATCH_TEXTS = 512
#: Texts per block of statistics in the object store; an all-pairs task scores one block
#: pair (up to a million pairs). Smaller for small runs, so that every worker gets tiles.
SCORE_BLOCK_TEXTS = 1000
#: Smallest block of an all-pairs run (the engine batches texts in groups of up to 64).
MIN_BLOCK_TEXTS = 64
#: Listed pairs per scoring task at most.
LISTED_CHUNK_PAIRS = 250_000
#: Listed pairs per scoring task at least (a small list is one task).
MIN_LISTED_CHUNK = 1000
#: Tasks per worker slot (CPU or GPU) a run is cut into, when it is large enough.
TASKS_PER_SLOT = 4
#: Tiles in flight per worker slot (results wait in the object store until the driver
#: takes them, in order).
IN_FLIGHT_PER_SLOT = 2
#: Ray retries a scoring task this many times after a system failure (worker or node died).
MAX_RETRIES = 3
#: Seconds to wait for a TCP connection to a cluster address before calling it unreachable
#: (``ray.init`` alone waits minutes).
CONNECT_TIMEOUT_S = 5.0
#: Fault injection for testing retries on a cluster: ``once:PATH`` makes the first scoring
#: task that finds no file at PATH create it and kill its worker process; ``crash`` kills
#: every attempt. Read on the driver.
FAULT_ENV = "SOCM_RAY_FAULT"

_INSTALL = "pip install 'socm[ray]'"


def import_ray() -> Any:
    """The ``ray`` module with Ray Data.

    Raises
    ------
    SocmError
        When Ray (or Ray Data) is not installed, naming the extra to install.
    """
    try:
        import ray
        import ray.data  # the encode stage needs Ray Data
    except ImportError as exc:
        raise SocmError(
            f"the ray backend needs Ray with Ray Data ({one_line(exc)}): {_INSTALL}"
        ) from None
    return ray


def resolve_address(address: str | None) -> str | None:
    """The cluster to connect to: ``address`` if given, else ``"auto"`` when
    ``RAY_ADDRESS`` is set, else None (start a local Ray instance).

    Examples
    --------
    >>> resolve_address("10.0.0.5:6379")
    '10.0.0.5:6379'
    """
    if address:
        return address
    return "auto" if os.environ.get("RAY_ADDRESS") else None


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of ``host:port`` or ``ray://host:port``; None for ``auto`` and others."""
    if address in ("auto", "local"):
        return None
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname, port


def _probe(address: str) -> None:
    """Refuse an address nothing listens on (TCP connect, :data:`CONNECT_TIMEOUT_S`)."""
    hp = _host_port(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise SocmError(
            f"cannot reach the Ray cluster at {address} ({one_line(exc)}): start it with "
            "`ray start --head`, or check --ray-address / RAY_ADDRESS"
        ) from None


def _root_cause(exc: BaseException) -> BaseException | None:
    """The :class:`SocmError` or :class:`ValueError` a remote task raised, if any."""
    from ray.exceptions import RayTaskError

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, RayTaskError):
            e = getattr(e, "cause", None) or e.__cause__
            continue
        if isinstance(e, (SocmError, ValueError)):
            return e
        e = e.__cause__ or e.__context__
    return None


_ERROR_LINE = re.compile(r"^(?!ray\.)([\w.]*(?:Error|Exception)): (.+)$")


def _remote_error(exc: BaseException, limit: int = 300) -> str:
    """One line for a failed remote call: the original exception's line in the remote
    traceback Ray puts into the message (``RuntimeError: CUDA out of memory ...``, not Ray's
    own wrappers), else :func:`~socm.encode.models.one_line`."""
    for line in str(exc).splitlines():
        m = _ERROR_LINE.match(line.strip())
        if m:
            text = f"{m.group(1).rsplit('.', 1)[-1]}: {' '.join(m.group(2).split())}"
            return text if len(text) <= limit else text[: limit - 3] + "..."
    return one_line(exc, limit)


def _inject_fault(fault: str | None) -> None:
    """See :data:`FAULT_ENV`."""
    if not fault:
        return
    kind, _, path = fault.partition(":")
    if kind == "crash":
        os._exit(1)
    if kind == "once" and path:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.close(fd)
        os._exit(1)


class EncodeActor:
    """A Ray Data actor: one encoder per actor, each batch reduced to per-text statistics.

    A user error (:class:`~socm.errors.SocmError` or :class:`ValueError`: the model or the
    cache missing on this node, a text with no tokens) does not raise here: it comes back in
    the ``error`` column, and the driver raises it. (Raised in the constructor, Ray Data would
    restart the actor forever; raised in a call, its message would be buried in a remote
    traceback.)

    Parameters
    ----------
    cfg : MeasureConfig
        The run's settings (absolute model and cache paths).
    device : str
        ``"cuda"`` or ``"cpu"``.
    options : dict, optional
        Further :class:`~socm.encode.Encoder` options of the driver's encoder (cache dtype,
        attention implementation), so that both read and write the same cache entries.
    """

    def __init__(self, cfg: MeasureConfig, device: str, options: dict | None = None) -> None:
        from socm.measure.config import make_encoder

        self.enc: Encoder | None = None
        self.error = ""
        try:
            self.enc = make_encoder(cfg, **{**(options or {}), "device": device})
        except (SocmError, ValueError) as exc:
            self.error = _user_error(exc, f"on Ray node {socket.gethostname()}")
        except Exception as exc:  # any failure here would make Ray Data restart it forever
            where = f"on Ray node {socket.gethostname()}"
            self.error = f"SocmError: the encoder could not be built {where}: {one_line(exc)}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Columns ``pos``, ``mean`` (n, D), ``mean_norm``, ``trace``, ``n_tokens``,
        ``factor`` (object array of (rank, D) arrays), ``truncated``, ``error`` (empty, or
        the user error that stopped this batch), and the batch's ``n_cached``, ``n_encoded``,
        ``load_s`` in its first row (zeros elsewhere)."""
        pos = np.asarray(batch["pos"], dtype=np.int64)
        if self.enc is None:
            return _error_batch(pos, self.error)
        texts = [str(t) for t in batch["text"]]
        ids = [str(x) for x in batch["id"]]
        try:
            res = self.enc.encode(texts, ids, progress=False)
            stats = [
                token_stats(e, where=f"text {i}") for e, i in zip(res.embeddings, ids, strict=True)
            ]
        except (SocmError, ValueError) as exc:
            return _error_batch(pos, _user_error(exc))
        n = len(stats)
        factor = np.empty(n, dtype=object)
        for k, st in enumerate(stats):
            factor[k] = st.factor
        first = np.zeros(n, dtype=np.int64)
        counts = {"n_cached": first.copy(), "n_encoded": first.copy(), "load_s": np.zeros(n)}
        if n:
            counts["n_cached"][0], counts["n_encoded"][0] = res.n_cached, res.n_encoded
            counts["load_s"][0] = res.load_seconds
        return {
            "pos": pos,
            "mean": np.stack([st.mean for st in stats]) if n else np.zeros((0, 1)),
            "mean_norm": np.array([st.mean_norm for st in stats], dtype=np.float64),
            "trace": np.array([st.trace for st in stats], dtype=np.float64),
            "n_tokens": np.array([st.n_tokens for st in stats], dtype=np.int64),
            "factor": factor,
            "truncated": np.array(res.truncated, dtype=bool),
            "error": np.array([""] * n, dtype=object),
            **counts,
        }


def _user_error(exc: BaseException, where: str = "") -> str:
    """``"SocmError: message"`` or ``"ValueError: message"`` (one line), for the driver."""
    kind = "ValueError" if isinstance(exc, ValueError) else "SocmError"
    text = " ".join(str(exc).split())
    return f"{kind}: {text} ({where})" if where else f"{kind}: {text}"


def _error_batch(pos: np.ndarray, error: str) -> dict[str, np.ndarray]:
    """The columns of :meth:`EncodeActor.__call__` for a batch that failed with ``error``."""
    n = len(pos)
    factor = np.empty(n, dtype=object)
    for k in range(n):
        factor[k] = np.zeros((0, 1))
    zeros, izeros = np.zeros(n), np.zeros(n, dtype=np.int64)
    return {
        "pos": pos,
        "mean": np.zeros((n, 1)),
        "mean_norm": zeros,
        "trace": zeros.copy(),
        "n_tokens": izeros,
        "factor": factor,
        "truncated": np.zeros(n, dtype=bool),
        "error": np.array([error] * n, dtype=object),
        "n_cached": izeros.copy(),
        "n_encoded": izeros.copy(),
        "load_s": zeros.copy(),
    }


def _raise_user_error(error: str) -> None:
    """Raise an ``error`` column entry as the :class:`SocmError` or :class:`ValueError` it was."""
    kind, _, text = error.partition(": ")
    raise (ValueError if kind == "ValueError" else SocmError)(text)


def _score_block_pair(
    a_stats: list[TokenStats],
    b_stats: list[TokenStats] | None,
    a0: int,
    b0: int,
    numerics: str,
    device: str,
    fault: str | None,
) -> PairResult:
    """A Ray task: all pairs within block ``a`` (``b_stats=None``) or between blocks ``a``
    and ``b``, with global indices ``i < j``.

    Blocks are contiguous runs of positions and block ``a`` comes before block ``b``
    (``a0 + len(a_stats) <= b0``), so a text of ``a`` is always the lower index of its pair:
    the first text, as in the local all-pairs route (paper numerics). Between two blocks,
    :func:`~socm.core.pairs.iter_pairwise_between` scores every pair by the engine's
    all-pairs tiles; its ``i`` indexes block ``a`` and its ``j`` block ``b``.
    """
    _inject_fault(fault)
    if b_stats is None:
        res = pairwise(a_stats, None, numerics, device)
        return PairResult(res.i + a0, res.j + a0, res.d_mu, res.d_sigma, res.socm)
    tiles = list(iter_pairwise_between(a_stats, b_stats, numerics, device))
    cols = {f: np.concatenate([getattr(t, f) for t in tiles]) for f in PairResult.FIELDS}
    cols["i"] += a0
    cols["j"] += b0
    return PairResult(**cols)


def _score_listed(
    pairs: np.ndarray,
    blocks: np.ndarray,
    size: int,
    numerics: str,
    device: str,
    fault: str | None,
    *block_stats: list[TokenStats],
) -> PairResult:
    """A Ray task: listed pairs (global indices, in order), given the blocks they touch."""
    _inject_fault(fault)
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in block_stats])[:-1]]).astype(int)
    k = np.searchsorted(blocks, pairs // size)
    local = offsets[k] + pairs - blocks[k] * size
    res = pairwise([st for b in block_stats for st in b], local, numerics, device)
    return PairResult(pairs[:, 0].copy(), pairs[:, 1].copy(), res.d_mu, res.d_sigma, res.socm)


class _RayEncoding:
    """Encoding on the cluster: an actor pool of :class:`EncodeActor` over the corpus (a part
    of :class:`RayBackend`, which holds the connection and resources it uses)."""

    def encode_stats(
        self,
        cfg: MeasureConfig,
        enc: Encoder,
        corpus: Corpus,
        progress: bool,
        block: int = STREAM_TEXTS,
    ) -> tuple[list[TokenStats], EncodeResult]:
        """See :meth:`Backend.encode_stats`: Ray Data ``map_batches`` over an actor pool;
        the statistics are reassembled here in corpus order (``block`` is not used)."""
        self._check_started()
        ray = self._ray
        from ray.data import ActorPoolStrategy, DataContext

        t0 = time.perf_counter()
        n = len(corpus)
        stats: list[Any] = [None] * n
        total = EncodeResult(embeddings=[], truncated=[False] * n, n_tokens=[0] * n)
        if n == 0:
            return stats, total
        actors, resources = self._encode_pool()
        self.encode_actors = actors
        batch = max(1, min(ENCODE_BATCH_TEXTS, math.ceil(n / (4 * actors))))
        ctx = DataContext.get_current()
        saved = ctx.enable_progress_bars
        ctx.enable_progress_bars = False  # the driver shows its own bar
        data_log = logging.getLogger("ray.data")
        saved_level = data_log.level
        data_log.setLevel(logging.ERROR)  # no execution-plan chatter around that bar
        items = [
            {"pos": k, "text": t, "id": i}
            for k, (t, i) in enumerate(zip(corpus.texts, corpus.ids, strict=True))
        ]
        ds = ray.data.from_items(items).map_batches(
            EncodeActor,
            fn_constructor_kwargs={
                "cfg": self._worker_config(cfg, enc),
                "device": self.device,
                "options": {
                    "cache_dtype": enc.cache_dtype,
                    "attn_implementation": enc.attn_implementation,
                },
            },
            batch_size=batch,
            compute=ActorPoolStrategy(size=actors),
            batch_format="numpy",
            **resources,
        )
        del items
        bar = progress_bar(n, "encode (ray)", "text", enabled=progress)
        try:
            for out in ds.iter_batches(batch_size=None, batch_format="numpy"):
                self._take(out, stats, total)
                bar.update(len(out["pos"]))
        except (SocmError, ValueError):
            raise
        except Exception as exc:  # not a user error: a crash, a bug
            raise SocmError(f"encoding on Ray failed: {_remote_error(exc)}") from None
        finally:
            bar.close()
            ctx.enable_progress_bars = saved
            data_log.setLevel(saved_level)
        missing = [k for k in range(n) if stats[k] is None]
        if missing:
            raise SocmError(f"encoding on Ray returned no statistics for {len(missing)} texts")
        total.n_truncated = int(sum(total.truncated))
        total.seconds = time.perf_counter() - t0
        return stats, total

    @staticmethod
    def _take(out: dict[str, np.ndarray], stats: list, total: EncodeResult) -> None:
        """Put a batch of :meth:`EncodeActor.__call__` columns in place."""
        errors = [e for e in out["error"].tolist() if e]
        if errors:
            _raise_user_error(str(errors[0]))
        dim = out["mean"].shape[1] if len(out["pos"]) else 0
        for k, pos in enumerate(out["pos"].tolist()):
            factor = np.asarray(out["factor"][k], dtype=np.float64).reshape(-1, dim)
            stats[pos] = TokenStats(
                n_tokens=int(out["n_tokens"][k]),
                mean_norm=float(out["mean_norm"][k]),
                mean=np.array(out["mean"][k], dtype=np.float64),
                factor=np.array(factor),  # writable copy, not a view of the batch
                trace=float(out["trace"][k]),
            )
            total.truncated[pos] = bool(out["truncated"][k])
            total.n_tokens[pos] = int(out["n_tokens"][k])
        total.n_cached += int(out["n_cached"].sum())
        total.n_encoded += int(out["n_encoded"].sum())
        total.load_seconds = max(total.load_seconds, float(out["load_s"].max(initial=0.0)))


class _RayScoring:
    """Pair scoring on the cluster: tasks over block pairs or listed chunks (a part of
    :class:`RayBackend`)."""

    def _block_size(self, n: int, listed: bool) -> int:
        """Texts per block: :data:`SCORE_BLOCK_TEXTS`, smaller for an all-pairs run too small
        to give every slot :data:`TASKS_PER_SLOT` tiles."""
        if listed:
            return SCORE_BLOCK_TEXTS
        want = TASKS_PER_SLOT * self._slots()
        nb = 1
        while nb * (nb + 1) // 2 < want:
            nb += 1
        return min(SCORE_BLOCK_TEXTS, max(MIN_BLOCK_TEXTS, math.ceil(n / nb)))

    def score(
        self,
        stats: list[TokenStats],
        pairs: np.ndarray | None,
        numerics: str,
        device: str,
        progress: bool,
        ids: Sequence[str] | None = None,
    ) -> Iterator[PairResult]:
        """See :meth:`Backend.score`: Ray tasks over tiles (``device`` is not used: the
        workers' device is :attr:`device`)."""
        self._check_started()
        n = len(stats)
        if n == 0 or (pairs is None and n < 2) or (pairs is not None and len(pairs) == 0):
            return
        if any(s.dim != stats[0].dim for s in stats):
            t = next(t for t, s in enumerate(stats) if s.dim != stats[0].dim)
            raise ValueError(
                f"dimension mismatch: text {t} has D={stats[t].dim} but text 0 has D={stats[0].dim}"
            )
        ray = self._ray
        size = self._block_size(n, pairs is not None)
        starts = list(range(0, n, size))
        refs = []
        for s in starts:
            refs.append(ray.put(stats[s : s + size]))
            stats[s : s + size] = [None] * len(stats[s : s + size])  # the store holds them now
        resources = {"num_gpus": 1} if self.use_gpu else {"num_cpus": 1}
        fault = os.environ.get(FAULT_ENV) or None
        if pairs is None:
            tasks = self._all_pair_tasks(refs, starts, n, numerics, resources, fault, ids)
        else:
            tasks = self._listed_tasks(refs, size, pairs, numerics, resources, fault, ids)
        yield from self._run(tasks, progress)

    def _remote(self, fn: Any, resources: dict) -> Any:
        return self._ray.remote(fn).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, **resources
        )

    def _all_pair_tasks(self, refs, starts, n, numerics, resources, fault, ids) -> list:
        remote = self._remote(_score_block_pair, resources)
        ends = [*starts[1:], n]
        nb = len(starts)
        tasks = []
        for a in range(nb):
            for b in range(a, nb):
                if a == b and ends[a] - starts[a] < 2:
                    continue
                where = _texts(starts[a], ends[a], ids)
                if a != b:
                    where += " x " + _texts(starts[b], ends[b], ids)
                label = f"tile ({a}, {b}) of {nb} blocks: {where}"
                args = (refs[a], None if a == b else refs[b], starts[a], starts[b])
                tasks.append((label, remote, (*args, numerics, self.device, fault)))
        return tasks

    def _listed_tasks(self, refs, size, pairs, numerics, resources, fault, ids) -> list:
        remote = self._remote(_score_listed, resources)
        p = len(pairs)
        per_slot = math.ceil(p / (TASKS_PER_SLOT * self._slots()))
        chunk = min(LISTED_CHUNK_PAIRS, max(MIN_LISTED_CHUNK, per_slot))
        tasks = []
        for s in range(0, p, chunk):
            part = np.ascontiguousarray(pairs[s : s + chunk], dtype=np.int64)
            blocks = np.unique(part // size)
            i0, j0 = int(part[0, 0]), int(part[0, 1])
            first = f"{ids[i0]!r}, {ids[j0]!r}" if ids is not None else f"{i0}, {j0}"
            label = f"listed pairs {s}-{s + len(part) - 1} (the first: texts {first})"
            block_refs = [refs[int(b)] for b in blocks]
            args = (part, blocks, size, numerics, self.device, fault, *block_refs)
            tasks.append((label, remote, args))
        return tasks

    def _run(self, tasks: list, progress: bool) -> Iterator[PairResult]:
        """Submit ``tasks`` with a bounded window; yield their results in submission order."""
        ray = self._ray
        self.score_tasks = len(tasks)
        window = max(2, IN_FLIGHT_PER_SLOT * self._slots())
        pending: deque = deque()
        bar = progress_bar(len(tasks), "pairs (ray)", "tile", enabled=progress)
        todo = iter(tasks)
        try:
            while True:
                while len(pending) < window:
                    nxt = next(todo, None)
                    if nxt is None:
                        break
                    label, remote, args = nxt
                    pending.append((label, remote.remote(*args)))
                if not pending:
                    return
                label, ref = pending.popleft()
                try:
                    result = ray.get(ref)
                except Exception as exc:
                    for _, other in pending:
                        ray.cancel(other)
                    pending.clear()
                    raise _task_error(exc, label) from None
                bar.update(1)
                # copy out of the object store, so the tile's memory there is freed at once
                yield PairResult(*(np.array(getattr(result, f)) for f in PairResult.FIELDS))
        finally:
            for _, other in pending:
                ray.cancel(other)
            bar.close()


class RayBackend(_RayEncoding, _RayScoring, Backend):
    """Encode and score on a Ray cluster (see the module docstring for the layout).

    Parameters
    ----------
    address : str, optional
        ``host:port`` of a running cluster's head, ``ray://host:port`` (Ray Client) or
        ``auto``; None: ``auto`` when ``RAY_ADDRESS`` is set, else a local Ray instance that
        :meth:`close` stops again. When this process is already connected to Ray
        (``ray.init`` called before), that connection is used and left open.
    device : str, optional
        The run's ``--device``: None uses the cluster's GPUs when it has any (one per encode
        actor and per scoring task), else CPUs; ``"cpu"`` never uses GPUs; ``"cuda"``
        requires them.

    Raises
    ------
    SocmError
        Ray not installed (at construction); an unreachable address, or ``"cuda"`` on a
        cluster without GPUs (:meth:`start`).
    """

    name = "ray"

    def __init__(self, address: str | None = None, device: str | None = None) -> None:
        self._ray = import_ray()
        self.address = resolve_address(address)
        if device is not None and device != "cpu" and not device.startswith("cuda"):
            raise SocmError(f"the ray backend runs on cuda or cpu workers, not {device!r}")
        self.device_request = device
        self._owned = False
        self._started = False
        self._stdout: contextlib.ExitStack | None = None
        self.use_gpu = False
        self.resources: dict[str, float] = {}
        self.nodes: list[dict] = []
        self.encode_actors = 0
        self.score_tasks = 0

    # ------------------------------------------------------------------ connection
    def start(self) -> None:
        """Connect to the cluster (or start a local instance) and read its resources."""
        ray = self._ray
        if not ray.is_initialized():
            if self.address is not None:
                _probe(self.address)
            # stdout holds results (--json): Ray's own notices ("a worker died ...", printed to
            # stdout from a thread of its own) go to stderr while connected, and the workers'
            # output stays in the cluster's logs (task errors come back with the tasks)
            self._stdout = contextlib.ExitStack()
            self._stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
            kwargs: dict[str, Any] = {
                "address": self.address,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
            }
            if self.address is None:
                kwargs["include_dashboard"] = False
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                self.close()
                where = self.address or "a local Ray instance"
                raise SocmError(f"cannot connect to Ray at {where}: {one_line(exc)}") from None
            self._owned = True
        self._started = True
        self.resources = dict(ray.cluster_resources())
        self.nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus = int(self.resources.get("GPU", 0))
        want = self.device_request
        if want is not None and want.startswith("cuda") and gpus == 0:
            self.close()
            raise SocmError(f"--device {want} was asked for, but the Ray cluster has no GPUs")
        self.use_gpu = gpus > 0 and want != "cpu"

    def close(self) -> None:
        """Disconnect, stopping the local instance :meth:`start` started, if any."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None
        self._owned = self._started = False

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("use RayBackend as a context manager (or call start())")

    def driver_encoder_options(self) -> dict[str, Any]:
        """The driver only tokenises: its encoder stays on the CPU."""
        return {"device": "cpu"}

    @property
    def device(self) -> str:
        """Where the workers run the model and the pair engine."""
        return "cuda" if self.use_gpu else "cpu"

    def _slots(self) -> int:
        """Tasks that run at once: GPUs, or CPUs."""
        key = "GPU" if self.use_gpu else "CPU"
        return max(1, int(self.resources.get(key, 1)))

    def info(self) -> dict[str, Any]:
        """Cluster size and what the job used, for ``summary.json["backend"]``."""
        return {
            "name": self.name,
            "address": self.address or "local instance",
            "nodes": len(self.nodes),
            "cpus": self.resources.get("CPU", 0),
            "gpus": self.resources.get("GPU", 0),
            "device": self.device,
            "encode_actors": self.encode_actors,
            "score_tasks": self.score_tasks,
        }

    # ------------------------------------------------------------------ encoding
    def _encode_pool(self) -> tuple[int, dict[str, float]]:
        """(actors, resources per actor): a GPU each, or one actor per node with its CPUs."""
        if self.use_gpu:
            return max(1, int(self.resources["GPU"])), {"num_gpus": 1}
        cpus = [n["Resources"].get("CPU", 0) for n in self.nodes if n["Resources"].get("CPU")]
        if not cpus:
            raise SocmError("the Ray cluster has no CPUs for encoding")
        return len(cpus), {"num_cpus": max(1, int(min(cpus)))}

    def _worker_config(self, cfg: MeasureConfig, enc: Encoder) -> MeasureConfig:
        """``cfg`` with absolute model and cache paths (workers run in other folders)."""
        model = cfg.model
        if Path(model).exists():
            model = str(Path(model).resolve())
        cache = None if enc.cache_root is None else str(Path(enc.cache_root).resolve())
        return dataclasses.replace(cfg, model=model, cache_dir=cache, progress=False)

    # ------------------------------------------------------------------ scoring


def _texts(start: int, end: int, ids: Sequence[str] | None) -> str:
    """``texts 0-999 ('a' ... 'z')``: a block's positions and first and last ids."""
    out = f"texts {start}-{end - 1}"
    if ids is not None:
        out += f" ({ids[start]!r} ... {ids[end - 1]!r})"
    return out


def _task_error(exc: BaseException, label: str) -> Exception:
    """The one-line error of a failed scoring task."""
    from ray.exceptions import RayTaskError

    cause = _root_cause(exc)
    if cause is not None:
        return type(cause)(f"pair scoring failed on {label}: {cause}")
    if isinstance(exc, RayTaskError):
        return SocmError(f"pair scoring failed on {label}: {_remote_error(exc)}")
    return SocmError(f"pair scoring failed on {label} after {MAX_RETRIES} retries: {one_line(exc)}")
