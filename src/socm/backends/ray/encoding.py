"""Encoding on a Ray cluster: a Ray Data actor pool over the corpus.

:meth:`ray.data.Dataset.map_batches` runs :class:`EncodeActor` on a pool of actors; each
actor builds its :class:`~socm.encode.Encoder` once from the run's
:class:`~socm.encode.EncoderSpec` (so with the same cache as a local run: a cluster run
resumes like a local one when the cache is on shared storage), encodes its batches and reduces
them at once to :class:`~socm.core.stats.TokenStats`
(:func:`socm.encode.pooling.reduce_encoded`, on the actor's device). The driver never gathers the
statistics: each output block of Ray Data becomes a stats block in the object store
(:func:`~socm.backends.ray.blocks.to_stats_block`, a task next to the block), and only the small
per-text numbers travel to the driver (:class:`~socm.backends.ray.blocks.RemoteStats`).
"""

from __future__ import annotations

import logging
import math
import socket
import time
from collections import deque
from typing import Any

import numpy as np

from socm.backends.ray.blocks import RemoteStats, to_stats_block
from socm.backends.ray.cluster import raise_user_error, remote_error, user_error
from socm.encode.encoder import Encoder, EncodeResult, EncoderSpec
from socm.encode.models import one_line
from socm.encode.pooling import reduce_encoded
from socm.errors import SocmError
from socm.inputs.corpus import Corpus
from socm.progress import progress_bar

__all__ = ["ENCODE_BATCH_TEXTS", "EncodeActor", "RayEncoding", "error_batch"]

#: Texts per Ray Data batch handed to an encode actor (fewer for small corpora, so that every
#: actor gets work); the actor's encoder batches them by ``batch_size`` again. Each batch
#: becomes one block of statistics in the object store.
ENCODE_BATCH_TEXTS = 512
#: Conversions of Ray Data blocks to stats blocks in flight before the driver waits.
CONVERT_WINDOW = 16


class EncodeActor:
    """A Ray Data actor: one encoder per actor, each batch reduced to per-text statistics.

    A user error (:class:`~socm.errors.SocmError` or :class:`ValueError`: the model or the
    cache missing on this node, a text with no tokens) does not raise here: it comes back in
    the ``error`` column, and the driver raises it. (Raised in the constructor, Ray Data would
    restart the actor forever; raised in a call, its message would be buried in a remote
    traceback.)

    Parameters
    ----------
    spec : EncoderSpec
        The run's encoder (absolute model and cache paths: :meth:`EncoderSpec.portable
        <socm.encode.EncoderSpec.portable>`), so that the actors and the driver read and write
        the same cache entries.
    device : str
        ``"cuda"`` or ``"cpu"``.
    """

    def __init__(self, spec: EncoderSpec, device: str) -> None:
        self.enc: Encoder | None = None
        self.error = ""
        try:
            self.enc = spec.build(device=device)
        except (SocmError, ValueError) as exc:
            self.error = user_error(exc, f"on Ray node {socket.gethostname()}")
        except Exception as exc:  # any failure here would make Ray Data restart it forever
            where = f"on Ray node {socket.gethostname()}"
            self.error = f"SocmError: the encoder could not be built {where}: {one_line(exc)}"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Columns ``pos``, ``mean`` (n, D), ``mean_norm``, ``trace``, ``top_token_share``,
        ``n_tokens``, ``factor`` (object array of (rank, D) arrays), ``truncated``, ``n_windows``,
        ``error``
        (empty, or the user error that stopped this batch), and the batch's ``n_cached``,
        ``n_encoded``, ``load_s`` in its first row (zeros elsewhere)."""
        pos = np.asarray(batch["pos"], dtype=np.int64)
        if self.enc is None:
            return error_batch(pos, self.error)
        texts = [str(t) for t in batch["text"]]
        ids = [str(x) for x in batch["id"]]
        try:
            res = self.enc.encode(texts, ids, progress=False)
            device = self.enc.device if self.enc.device.type == "cuda" else None
            stats = reduce_encoded(res, device, [f"text {i}" for i in ids])
        except (SocmError, ValueError) as exc:
            return error_batch(pos, user_error(exc))
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
            "top_token_share": np.array([st.top_token_share for st in stats], dtype=np.float64),
            "n_tokens": np.array([st.n_tokens for st in stats], dtype=np.int64),
            "factor": factor,
            "truncated": np.array(res.truncated, dtype=bool),
            "n_windows": np.array(res.n_windows, dtype=np.int64),
            "error": np.array([""] * n, dtype=object),
            **counts,
        }


def error_batch(pos: np.ndarray, error: str) -> dict[str, np.ndarray]:
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
        "top_token_share": zeros.copy(),
        "n_tokens": izeros,
        "factor": factor,
        "truncated": np.zeros(n, dtype=bool),
        "n_windows": np.ones(n, dtype=np.int64),
        "error": np.array([error] * n, dtype=object),
        "n_cached": izeros.copy(),
        "n_encoded": izeros.copy(),
        "load_s": zeros.copy(),
    }


class RayEncoding:
    """Encoding on the cluster (a part of :class:`~socm.backends.ray.RayBackend`, which holds
    the connection, :attr:`device` and the cluster's resources)."""

    _ray: Any
    device: str
    use_gpu: bool
    resources: dict[str, float]
    nodes: list[dict]
    encode_actors: int

    def encode_stats(
        self,
        spec: EncoderSpec,
        corpus: Corpus,
        progress: bool = False,
        encoder: Encoder | None = None,
        collector: Any = None,
    ) -> tuple[RemoteStats, EncodeResult]:
        """See :meth:`Backend.encode_stats <socm.backends.Backend.encode_stats>`: Ray Data
        ``map_batches`` over an actor pool of encoders built from ``spec`` (``encoder``, the
        driver's, is not used); the statistics stay in the object store, in blocks of
        consecutive texts (one actor batch each), so ``collector`` (a store on disk) is not
        used: Ray spills the object store to disk itself."""
        self._check_started()
        ray = self._ray
        from ray.data import ActorPoolStrategy, DataContext

        t0 = time.perf_counter()
        n = len(corpus)
        total = EncodeResult(
            embeddings=[], truncated=[False] * n, n_tokens=[0] * n, n_windows=[1] * n
        )
        if n == 0:
            return RemoteStats(ray, [], [], np.zeros(0), np.zeros(0, int), 0), total
        actors, resources = self._encode_pool()
        self.encode_actors = actors
        batch = max(1, min(ENCODE_BATCH_TEXTS, math.ceil(n / (4 * actors))))
        ctx = DataContext.get_current()
        saved = ctx.enable_progress_bars, ctx.execution_options.preserve_order
        ctx.enable_progress_bars = False  # the driver shows its own bar
        ctx.execution_options.preserve_order = True  # blocks of consecutive texts, in order
        data_log = logging.getLogger("ray.data")
        saved_level = data_log.level
        data_log.setLevel(logging.ERROR)  # no execution-plan chatter around that bar
        items = [
            {"pos": k, "text": t, "id": i}
            for k, (t, i) in enumerate(zip(corpus.texts, corpus.ids, strict=True))
        ]
        ds = ray.data.from_items(items).map_batches(
            EncodeActor,
            fn_constructor_kwargs={"spec": spec.portable(), "device": self.device},
            batch_size=batch,
            compute=ActorPoolStrategy(size=actors),
            batch_format="numpy",
            **resources,
        )
        del items
        convert = ray.remote(to_stats_block).options(num_returns=2)
        refs: list[Any] = []
        infos: list[dict] = []
        pending: deque = deque()
        bar = progress_bar(n, "encode (ray)", "text", enabled=progress)
        try:
            for bundle in ds.iter_internal_ref_bundles():
                for entry in bundle.blocks:
                    block_ref = entry[0] if isinstance(entry, tuple) else entry.ref
                    stats_ref, info_ref = convert.remote(block_ref)
                    refs.append(stats_ref)
                    pending.append(info_ref)
                bar.update(bundle.num_rows() or 0)
                while len(pending) > CONVERT_WINDOW:
                    infos.append(self._info(pending.popleft()))
            while pending:
                infos.append(self._info(pending.popleft()))
        except (SocmError, ValueError):
            raise
        except Exception as exc:  # not a user error: a crash, a bug
            raise SocmError(f"encoding on Ray failed: {remote_error(exc)}") from None
        finally:
            bar.close()
            ctx.enable_progress_bars, ctx.execution_options.preserve_order = saved
            data_log.setLevel(saved_level)
        stats = self._assemble(refs, infos, n, total)
        total.n_truncated = int(sum(total.truncated))
        total.seconds = time.perf_counter() - t0
        return stats, total

    def _info(self, ref: Any) -> dict:
        """A block's small columns; raises the user error an actor reported."""
        info = self._ray.get(ref)
        if info["error"]:
            raise_user_error(info["error"])
        return info

    def _assemble(
        self, refs: list[Any], infos: list[dict], n: int, total: EncodeResult
    ) -> RemoteStats:
        """The :class:`RemoteStats` of the blocks, checked to hold texts ``0..n-1`` in order."""
        keep = [k for k, info in enumerate(infos) if len(info["pos"])]
        refs, infos = [refs[k] for k in keep], [infos[k] for k in keep]
        pos = np.concatenate([info["pos"] for info in infos]) if infos else np.zeros(0, int)
        if not np.array_equal(pos, np.arange(n)):
            got = f"{len(pos)} texts" + ("" if len(pos) == n else f" of {n}")
            raise SocmError(f"encoding on Ray returned {got}, not every text once in order")
        for info in infos:
            for p, t, k, w in zip(
                info["pos"], info["truncated"], info["n_tokens"], info["n_windows"], strict=True
            ):
                total.truncated[p], total.n_tokens[p], total.n_windows[p] = bool(t), int(k), int(w)
            total.n_cached += info["n_cached"]
            total.n_encoded += info["n_encoded"]
            total.load_seconds = max(total.load_seconds, info["load_s"])
        dim = infos[0]["dim"] if infos else 0
        return RemoteStats(
            self._ray,
            refs,
            [len(info["pos"]) for info in infos],
            np.concatenate([info["trace"] for info in infos]),
            np.concatenate([info["rank"] for info in infos]),
            dim,
            np.concatenate([info["top_token_share"] for info in infos]),
        )

    def _encode_pool(self) -> tuple[int, dict[str, float]]:
        """(actors, resources per actor): a GPU each, or one actor per node with its CPUs."""
        if self.use_gpu:
            return max(1, int(self.resources["GPU"])), {"num_gpus": 1}
        cpus = [n["Resources"].get("CPU", 0) for n in self.nodes if n["Resources"].get("CPU")]
        if not cpus:
            raise SocmError("the Ray cluster has no CPUs for encoding")
        return len(cpus), {"num_cpus": max(1, int(min(cpus)))}
