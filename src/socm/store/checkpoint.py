"""A mine run's finished stages beside its statistics store, so that a rerun or a resumed run
skips them: the neighbour search's candidates (:mod:`socm.store.candidates`) and the scores, a
window of candidate pairs at a time (:mod:`socm.store.scores`).

:class:`MineCheckpoint` is what :func:`socm.mine` (with ``store=``) and ``socm mine`` (with a
statistics store that outlives the run) hand to the mining steps (the
:class:`socm.core.mine.Checkpoint` protocol). The candidates are keyed by the texts, the
encoder's configuration, the texts searched and the search; with ``search="auto"`` the
candidates an earlier run saved with either method ``"auto"`` may pick are read back (exact
first), so a rerun does not hang on the timing that picks the method. The scores are keyed by
the pairs, the texts, the store's factor dtype, the numerics, the columns and the versions of
the packages that compute them. A stage that cannot be saved (a full disk) is kept in memory
with a warning and the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from socm.core.mine import Candidates, MineOptions
from socm.core.neighbors import AUTO_METHOD
from socm.core.pairs import PairResult, ScoreOptions
from socm.errors import SocmError, warn
from socm.store.candidates import candidates_key, load_candidates, save_candidates, texts_key
from socm.store.scores import scored_in_windows, scores_key
from socm.store.stats_store import StatsStore

__all__ = ["MineCheckpoint"]

#: The methods ``search="auto"`` may run (:func:`socm.core.neighbors.auto_method`).
AUTO_CHOICES = (AUTO_METHOD, "hnsw")


class MineCheckpoint:
    """Saves and reads back a mine run's candidates and score windows beside ``store``.

    Parameters
    ----------
    store : StatsStore
        The run's statistics store (the stages go to ``<root>/candidates`` and
        ``<root>/scores``).
    text_keys : sequence of str
        Every text's key in the store, in the run's order (what the candidates index).
    versions : mapping, optional
        Versions of the packages that compute the scores (part of the scores' key).
    window : int, optional
        Candidate pairs per saved score window (default :data:`socm.store.SCORE_WINDOW`).

    Attributes
    ----------
    candidates_read_back : bool
        Whether the candidates were an earlier run's (their ``neighbor_info`` then has
        ``read_back: True`` beside that run's report of its search; their ``seconds`` are
        this run's, spent reading them back).
    windows : dict or None
        After :meth:`scores`: ``size``, ``n_windows`` and ``read_back``.
    """

    def __init__(
        self,
        store: StatsStore,
        text_keys: Sequence[str],
        versions: Mapping[str, str] | None = None,
        window: int | None = None,
    ) -> None:
        self.store = store
        self.texts = texts_key(text_keys, store.config)  # hashed once (0.11 s a million keys)
        self.versions = dict(versions or {})
        self.window = window
        self.candidates_read_back = False
        self.windows: dict[str, int] | None = None

    def candidates(
        self,
        find: Callable[[], Candidates],
        options: MineOptions,
        eligible: np.ndarray | None = None,
    ) -> Candidates:
        """The candidates an earlier run saved for these texts and ``options``, else
        ``find()``'s, saved under the method that ran (``neighbor_info["method"]``).

        ``options.search`` is the method asked for (``"auto"``: either it may pick);
        ``eligible`` the texts searched (None: all).
        """
        t0 = time.perf_counter()
        folder = self.store.root / "candidates"
        methods = AUTO_CHOICES if options.search == "auto" else (options.search,)
        for method in methods:
            key = candidates_key(self.texts, options, method, eligible)
            found = load_candidates(folder, key)
            if found is not None:
                self.candidates_read_back = True
                found.neighbor_info["read_back"] = True
                found.seconds = time.perf_counter() - t0  # this run's: reading them back
                return found
        cand = find()
        method = cand.neighbor_info.get("method", options.search)
        key = candidates_key(self.texts, options, method, eligible)
        try:
            save_candidates(folder, key, cand)
        except SocmError as exc:
            warn(f"{exc}: the candidates are kept in memory only")
        return cand

    def scores(
        self,
        score: Callable[[np.ndarray], PairResult],
        pairs: np.ndarray,
        n_texts: int,
        opts: ScoreOptions,
    ) -> PairResult:
        """Every column of ``opts.schema`` for ``pairs`` (scored with ``opts.numerics``):
        ``score(window)`` for each window no earlier run saved
        (:func:`socm.store.scored_in_windows`)."""
        dtype, versions = self.store.dtype, self.versions
        key = scores_key(pairs, self.texts, dtype, opts.numerics, opts.schema, versions)
        folder = self.store.root / "scores"
        res, self.windows = scored_in_windows(
            score, pairs, n_texts, opts.schema, folder, key, self.window
        )
        return res
