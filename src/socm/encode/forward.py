"""The forward loop: run texts through the model, keep what was asked for, fill the caches.

One forward pass with all hidden states gives, per text, the selected layer's token embeddings,
the per-layer profile (normalised spread and average cosine at every hidden state,
:func:`socm.core.stats.spread_and_cosine`) and, when asked, every layer's token embeddings.
Cache writes go to one background thread, one job per batch (few wake-ups: the forward pass
keeps the cores busy), each job one :meth:`~socm.encode.cache.EmbeddingCache.put_many` per
cache (one shard append and one index append); a batch's entries reach the cache even when a
later batch fails.

With ``encoder.cache_dtype == "float16"`` token embeddings are rounded to float16 as they
leave the model, whether or not they are cached: a text's embeddings are then the same from the
model and from the cache (stored as float16, handed out as float32).

Whatever the forward pass's dtype (``encoder.forward_dtype``: float32, bfloat16 or float16),
hidden states are cast to float32 as they leave the model, and everything computed from them
(profiles, pooled embeddings, statistics) is computed from that cast; a kept token that is not
finite (a float16 overflow) stops the run with the text's name. With native pooling
(``Outputs.pooled``) the model's pooled embedding of each text is computed from the selected
(last) hidden state (:func:`socm.encode.pooling.pool`) and cached beside its token embeddings.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from socm.core.stats import profile_from_sums, profile_sums
from socm.encode.batching import MODEL_INPUTS, iter_batches, row_mask
from socm.encode.cache import EmbeddingCache
from socm.encode.pooling import pool
from socm.errors import SocmError
from socm.progress import progress_bar

__all__ = [
    "CacheWriter",
    "Outputs",
    "check_finite",
    "round_to_storage",
    "run_forward",
    "select_hidden_state",
]


@dataclass
class Outputs:
    """Where :func:`run_forward` puts results, by text position (None: not wanted).

    Attributes
    ----------
    embeddings : list, optional
        The selected layer's ``(n_tokens, D)`` float32 token embeddings.
    profiles : list, optional
        ``(L + 1, 2)`` float64 per-layer profiles.
    layers : list of list, optional
        ``layers[l][k]``: hidden state ``l``'s token embeddings of text ``k``.
    layer_caches : list, optional
        One cache per hidden state for ``layers`` (None entries: not cached).
    pooled : list, optional
        The model's pooled embedding of each text (float64 ``(D,)``; native pooling).
    """

    embeddings: list | None = None
    profiles: list | None = None
    layers: list[list] | None = None
    layer_caches: list[EmbeddingCache | None] | None = None
    pooled: list | None = None


class CacheWriter:
    """Writes cache entries on one background thread, one job per :meth:`flush`."""

    def __init__(self, enabled: bool) -> None:
        self._pool = ThreadPoolExecutor(1) if enabled else None
        self._queued: list[tuple] = []
        self._pending: list[Future] = []

    def add(self, cache: EmbeddingCache | None, key: str, arr: np.ndarray, dtype="<f4") -> None:
        """Queue one entry (ignored when ``cache`` is None or writing is disabled)."""
        if cache is not None and self._pool is not None:
            self._queued.append((cache, key, arr, dtype))

    def flush(self) -> None:
        """Hand the queued entries to the writer thread as one job (one ``put_many`` per
        cache)."""
        if self._queued and self._pool is not None:
            jobs, self._queued = self._queued, []
            self._pending.append(self._pool.submit(_write_job, jobs))

    def close(self) -> None:
        """Write what is queued (texts whose forward pass finished), then wait for every job;
        finished batches always reach the cache."""
        if self._pool is not None:
            self.flush()
            self._pool.shutdown(wait=True)

    def raise_errors(self) -> None:
        """Surface write errors (disk full, permissions)."""
        for fut in self._pending:
            fut.result()


def _write_job(jobs: list[tuple]) -> None:
    by_cache: dict[int, tuple[EmbeddingCache, list]] = {}
    for cache, key, arr, dtype in jobs:
        by_cache.setdefault(id(cache), (cache, []))[1].append((key, arr, dtype))
    for cache, items in by_cache.values():
        cache.put_many(items)


def round_to_storage(arr: np.ndarray, dtype: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(float32 array to use, array to store) for storage dtype ``"float32"`` or ``"float16"``.

    Raises
    ------
    SocmError
        float16 storage of values beyond its range (``what`` names the text).
    """
    if dtype == "float32":
        return arr, arr
    with np.errstate(over="ignore"):  # reported below
        half = arr.astype(np.float16)
    if not np.isfinite(half).all():
        top = float(np.abs(arr).max())
        raise SocmError(
            f"{what}: token embeddings reach |x| = {top:.3g}, beyond the float16 range "
            "(65504): use --cache-dtype float32"
        )
    return half.astype(np.float32), half


def select_hidden_state(
    model: torch.nn.Module, batch: dict, layer: int | None
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """(hidden state ``layer``, all hidden states 0..L) of a padded batch; ``layer=None`` is
    the last hidden state, negative layers count from the end.

    Raises
    ------
    SocmError
        A layer the model does not have.
    """
    out = model(**batch, output_hidden_states=True)
    states = out.hidden_states
    if states is None:  # pragma: no cover - every AutoModel encoder returns them
        raise SocmError(f"{type(model).__name__} does not return hidden states")
    if layer is None:
        last = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return last, states
    if not -len(states) <= layer < len(states):
        raise SocmError(
            f"layer {layer} does not exist: this model has hidden states 0..{len(states) - 1}"
        )
    return states[layer], states


def check_finite(encoder, hidden: torch.Tensor, keep: torch.Tensor, idx: list, tokens: dict):
    """Refuse a kept token whose hidden state is not finite, naming the text and the remedy.

    Raises
    ------
    SocmError
        A NaN or infinite kept token (a float16 forward pass overflows beyond 65504).
    """
    bad = keep & ~torch.isfinite(hidden).all(-1)
    if not bool(bad.any()):
        return
    row = int(torch.nonzero(bad)[0, 0])
    name = tokens["ids"][idx[row]] if "ids" in tokens else idx[row]
    dtype = getattr(encoder, "forward_dtype", "float32")
    hint = "; use --dtype bfloat16 or float32" if dtype == "float16" else ""
    raise SocmError(
        f"text {name}: the model's hidden states are not finite in a {dtype} forward pass{hint}"
    )


def run_forward(
    encoder, tokens: dict, todo: list[int], outputs: Outputs, progress: bool | Any
) -> None:
    """Run texts ``todo`` through ``encoder``'s model; fill ``outputs`` and the caches.

    ``progress``: show a bar, or a bar (anything with ``update(n)``) to advance per text.

    Every pass stores the selected layer's embeddings (``encoder.cache``) and the per-layer
    profile (``encoder.profile_cache``) of each text, whatever ``outputs`` asks for. Token
    embeddings are rounded to ``encoder.cache_dtype`` (:func:`round_to_storage`). A text
    longer than the maximum length under ``long_texts="window"`` runs as several rows
    (:mod:`socm.encode.windows`): its outputs are assembled, in token order, once its last
    window has run, its profile from the windows' summed :func:`~socm.core.stats.profile_sums`.
    """
    if not todo:
        return
    writer = CacheWriter(enabled=encoder.cache is not None)
    storage = getattr(encoder, "cache_dtype", "float32")
    code = "<f2" if storage == "float16" else "<f4"
    own_bar = not hasattr(progress, "update")  # a bar handed in is updated, not closed
    bar = progress_bar(len(todo), "encode", "text", enabled=bool(progress)) if own_bar else progress
    rows = _rows(encoder, tokens, todo)
    partial: dict[int, _Text] = {}
    try:
        with torch.inference_mode():
            for idx, batch in iter_batches(
                encoder.tokenizer,
                rows,
                range(len(rows["text"])),
                encoder.batch_size,
                encoder.device,
            ):
                selected, states = encoder.forward(batch)
                selected = selected.float()  # states are cast one at a time below
                masks = [
                    row_mask(batch["attention_mask"][b], rows["keep"][r]) for b, r in enumerate(idx)
                ]
                keep = torch.from_numpy(np.stack(masks)).to(encoder.device)
                check_finite(encoder, selected, keep, idx, rows)
                sums = [profile_sums(h.float(), keep) for h in states]
                prof = (
                    torch.stack([torch.stack(profile_from_sums(*x), dim=1) for x in sums], dim=1)
                    .cpu()
                    .numpy()
                )  # (B, L + 1, 2), right for texts encoded in one row
                split = [b for b, r in enumerate(idx) if rows["n_rows"][r] > 1]
                row_sums = (
                    [[x[split].cpu().numpy() for x in layer] for layer in sums] if split else None
                )
                pooled = None
                if outputs.pooled is not None:
                    pool_rows = [
                        row_mask(batch["attention_mask"][b], tokens["pool"][rows["text"][r]])
                        for b, r in enumerate(idx)
                    ]
                    pool_mask = torch.from_numpy(np.stack(pool_rows)).to(encoder.device)
                    modes = encoder.embedder.modes
                    att = batch["attention_mask"]
                    pooled = pool(selected, pool_mask, modes, att).cpu().numpy()
                sel = selected.cpu().numpy()
                every = (
                    [h.float().cpu().numpy() for h in states]
                    if outputs.layers is not None
                    else None
                )
                done = 0
                for b, r in enumerate(idx):
                    i = rows["text"][r]
                    piece = _Text(
                        rows["n_rows"][r],
                        [np.ascontiguousarray(sel[b][masks[b]])],
                        prof[b],
                        None if every is None else [[h[b][masks[b]]] for h in every],
                    )
                    if piece.n_rows > 1:
                        at = split.index(b)
                        piece.sums = [[x[at] for x in layer] for layer in row_sums]
                        piece.order = [rows["position"][r]]
                        piece = partial.setdefault(i, _Text.empty(piece)).add(piece)
                        if piece.n_done < piece.n_rows:
                            continue
                        del partial[i]
                    _finish(
                        encoder, tokens, i, piece, outputs, writer, storage, code,
                        None if pooled is None else pooled[b],
                    )  # fmt: skip
                    done += 1
                writer.flush()
                bar.update(done)
    finally:
        writer.close()
        if own_bar:
            bar.close()
    writer.raise_errors()


class _Text:
    """What the rows of one text gave so far: kept token embeddings of the selected layer (and
    of every layer), per-layer profile sums (texts in several rows) or the profile (one row)."""

    def __init__(self, n_rows: int, emb: list, profile: np.ndarray, layers: list | None) -> None:
        self.n_rows, self.n_done = n_rows, 1
        self.emb, self.profile, self.layers = emb, profile, layers
        self.sums: list | None = None
        self.order: list[int] = []

    @classmethod
    def empty(cls, like: _Text) -> _Text:
        out = cls(
            like.n_rows,
            [],
            like.profile,
            None if like.layers is None else [[] for _ in like.layers],
        )
        out.n_done = 0
        return out

    def add(self, piece: _Text) -> _Text:
        """Add one row's piece (rows may arrive in any order; :meth:`assemble` sorts them)."""
        self.n_done += 1
        self.order += piece.order
        self.emb += piece.emb
        if self.layers is not None:
            for mine, theirs in zip(self.layers, piece.layers, strict=True):
                mine += theirs
        if self.sums is None:
            self.sums = piece.sums
        else:
            self.sums = [
                [a + b for a, b in zip(x, y, strict=True)]
                for x, y in zip(self.sums, piece.sums, strict=True)
            ]
        if self.n_done == self.n_rows:
            self._assemble()
        return self

    def _assemble(self) -> None:
        order = np.argsort(self.order)
        self.emb = [np.concatenate([self.emb[k] for k in order])]
        if self.layers is not None:
            self.layers = [[np.concatenate([layer[k] for k in order])] for layer in self.layers]
        self.profile = np.stack(
            [
                torch.stack(profile_from_sums(*(torch.as_tensor(v) for v in layer))).numpy()
                for layer in self.sums
            ]
        )


def _finish(encoder, tokens, i, piece, outputs, writer, storage, code, pooled) -> None:
    """Hand one text's assembled outputs to ``outputs`` and the cache writer."""
    key = tokens["keys"][i]
    what = f"text {tokens['ids'][i]}" if "ids" in tokens else f"text {i}"
    arr, stored = round_to_storage(piece.emb[0], storage, what)
    writer.add(encoder.cache, key, stored, code)
    writer.add(encoder.profile_cache, key, piece.profile, "<f8")
    if outputs.embeddings is not None:
        outputs.embeddings[i] = arr
    if outputs.profiles is not None:
        outputs.profiles[i] = piece.profile
    if pooled is not None:
        outputs.pooled[i] = pooled.copy()
        writer.add(encoder.pooled_cache, key, outputs.pooled[i][None], "<f8")
    if piece.layers is not None:
        caches = outputs.layer_caches or [None] * len(piece.layers)
        for layer, h in enumerate(piece.layers):
            a, a_stored = round_to_storage(np.ascontiguousarray(h[0]), storage, what)
            outputs.layers[layer][i] = a
            writer.add(caches[layer], key, a_stored, code)


def _rows(encoder, tokens: dict, todo: list[int]) -> dict:
    """The model inputs of texts ``todo``, one row per window (one per text unless a text is
    longer than the maximum length under ``long_texts="window"``): the inputs, and per row
    ``keep`` (its tokens that count), ``text`` (the text's position), ``n_rows`` (its text's
    rows), ``position`` (its place among them) and ``ids`` (its text's name, for errors)."""
    sub = {
        k: [tokens[k][i] for i in todo]
        for k in (*MODEL_INPUTS, "special_tokens_mask")
        if k in tokens
    }
    windows = encoder.policy.window_counts(sub)
    causal = encoder.attends_causally() if max(windows) > 1 else False
    win = encoder.policy.windows(sub, causal)
    rows = dict(win.rows)
    rows["text"] = [todo[t] for t in win.text]
    rows["keep"] = [win.keep(r, np.asarray(tokens["keep"][i])) for r, i in enumerate(rows["text"])]
    rows["n_rows"] = [len(win.by_text[t]) for t in win.text]
    rows["position"] = [win.by_text[t].index(r) for r, t in enumerate(win.text)]
    if "ids" in tokens:
        rows["ids"] = [tokens["ids"][i] for i in rows["text"]]
    return rows
