"""A mine run's finished stages beside its statistics store, so that a rerun or a resumed run
skips them: the neighbour search's candidates (:mod:`socm.store.candidates`) and the scores, a
window of candidate pairs at a time (:mod:`socm.store.scores`).

:class:`MineCheckpoint` is what :func:`socm.mine` (with ``store=``) and ``socm mine`` (with a
statistics store) hand to the mining steps (the :class:`socm.core.mine.Checkpoint` protocol):
the candidates are keyed by the texts, the encoder's configuration, the texts searched and the
search; the scores by the candidates, the store's factor dtype, the numerics, the columns and
the versions of the packages that compute them. A stage that cannot be saved (a full disk) is
kept in memory with one line on stderr and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from socm.core.mine import Candidates, MineOptions
from socm.core.pairs import PairResult
from socm.core.schema import PairSchema
from socm.errors import SocmError, warn
from socm.store.candidates import candidates_key, load_candidates, save_candidates
from socm.store.scores import scored_in_windows, scores_key
from socm.store.stats_store import StatsStore

__all__ = ["MineCheckpoint"]


class MineCheckpoint:
    """Saves and reads back a mine run's candidates and score windows beside ``store``.

    Parameters
    ----------
    store : StatsStore
        The run's statistics store (the stages go to ``<root>/candidates`` and
        ``<root>/scores``).
    text_keys : sequence of str
        Every text's key in the store, in the run's order (what the candidates index).
    numerics : str
        The scoring's numerics.
    versions : mapping, optional
        Versions of the packages that compute the scores (part of the scores' key).
    window : int, optional
        Candidate pairs per saved score window (default :data:`socm.store.SCORE_WINDOW`).

    Attributes
    ----------
    candidates_read_back : bool
        Whether the candidates were an earlier run's.
    windows : dict or None
        After :meth:`scores`: ``size``, ``n_windows`` and ``read_back``.
    """

    def __init__(
        self,
        store: StatsStore,
        text_keys: Sequence[str],
        numerics: str,
        versions: Mapping[str, str] | None = None,
        window: int | None = None,
    ) -> None:
        self.store, self.text_keys, self.numerics = store, text_keys, numerics
        self.versions = dict(versions or {})
        self.window = window
        self.key: str | None = None
        self.candidates_read_back = False
        self.windows: dict[str, int] | None = None

    def candidates(
        self,
        find: Callable[[], Candidates],
        options: MineOptions,
        eligible: np.ndarray | None = None,
    ) -> Candidates:
        """The candidates an earlier run saved under the same key, else ``find()``'s, saved.

        ``options.search`` is the method that runs (``"auto"`` resolved); ``eligible`` the
        texts searched (None: all).
        """
        self.key = candidates_key(
            self.text_keys, options, options.search, self.store.config, eligible
        )
        folder = self.store.root / "candidates"
        found = load_candidates(folder, self.key)
        self.candidates_read_back = found is not None
        if found is not None:
            return found
        cand = find()
        try:
            save_candidates(folder, self.key, cand)
        except SocmError as exc:
            warn(f"{exc}: the candidates are kept in memory only")
        return cand

    def scores(
        self,
        score: Callable[[np.ndarray], PairResult],
        pairs: np.ndarray,
        n_texts: int,
        schema: PairSchema,
    ) -> PairResult:
        """Every column of ``schema`` for the candidates' ``pairs``: ``score(window)`` for each
        window no earlier run saved (:func:`socm.store.scored_in_windows`)."""
        if self.key is None:
            raise RuntimeError("MineCheckpoint.scores needs the candidates first")
        key = scores_key(self.key, self.store.dtype, self.numerics, schema, self.versions)
        folder = self.store.root / "scores"
        res, self.windows = scored_in_windows(
            score, pairs, n_texts, schema, folder, key, self.window
        )
        return res

    def info(self) -> dict[str, Any]:
        """What was read back, for a run's summary."""
        return {"candidates_read_back": self.candidates_read_back, "score_windows": self.windows}
