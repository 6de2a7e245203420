"""A sentence-transformers evaluator that measures second-order collapse while a model trains.

:class:`SOCMEvaluator` is an evaluator of the ``sentence-transformers`` library (version 6, and
version 5): pass it to ``SentenceTransformerTrainer(evaluator=...)`` and the average SOCM of a
fixed set of texts, with its 95% interval, the average d_μ and d_Σ and the share of texts with
normalised spread above 2 are logged at every evaluation, written to a CSV file and kept in
the model card.

How a text's token embeddings are taken: with the model's own first module (its
``Transformer``), the model's tokenizer and maximum sequence length, and the prompt the model
applies when encoding (``prompt`` / ``prompt_name``, else the model's default prompt), whose
tokens are left out when the model's pooling leaves them out (``include_prompt=False``: the
first ``prompt_length`` tokens of each text, as sentence-transformers counts them). Tokens
count by the ``attention_mask`` (wherever the padding sits); with ``exclude_special_tokens`` the
tokens the tokenizer adds ([CLS], [SEP], ...) are left out too, as ``socm measure
--exclude-special-tokens`` leaves them out. From there everything is socm's: one reduce step
(:func:`socm.core.stats.reduce_batch`), the pair engine (:func:`socm.core.pairs.iter_pairwise`)
and the running sums with their intervals (:class:`socm.core.uncertainty.PairAccumulator`).
The numbers therefore equal ``socm measure`` on the same texts with the same token policy
(``--max-length`` the model's ``max_seq_length``, ``--prefix`` the prompt).

The interval is that of the average over all pairs of a corpus the texts were sampled from
(no finite-population correction: ``n_population`` unknown), which is what a fixed evaluation
set stands for.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from socm.core.metrics import check_numerics
from socm.core.pairs import iter_pairwise
from socm.core.stats import SPREAD_BOUND, TokenStats, reduce_batch
from socm.core.uncertainty import PairAccumulator
from socm.encode.models import engine_device
from socm.errors import SocmError
from socm.measure.select import sample_pairs

try:  # sentence-transformers 6
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator as _Evaluator
except ImportError:  # sentence-transformers 5 (and 3, 4)
    from sentence_transformers.evaluation import SentenceEvaluator as _Evaluator

__all__ = ["METRICS", "SOCMEvaluator"]

logger = logging.getLogger(__name__)

#: The evaluator's metrics, before the name prefix, in the CSV file's order.
METRICS = ("socm", "socm_ci_low", "socm_ci_high", "d_mu", "d_sigma", "spread_over_2")


def _texts(texts: Sequence[str]) -> list[str]:
    """The texts stripped, as a corpus file's are read; refused unless strings, non-empty."""
    if isinstance(texts, str):
        raise SocmError("SOCMEvaluator takes a list of texts, not one string")
    out = []
    for k, t in enumerate(texts):
        if not isinstance(t, str):
            kind = "null" if t is None else type(t).__name__
            raise SocmError(f"SOCMEvaluator: text {k} is {kind}, not a string")
        if not t.strip():
            raise SocmError(f"SOCMEvaluator: text {k} is empty")
        out.append(t.strip())
    if len(out) < 2:
        raise SocmError(f"SOCMEvaluator needs at least 2 texts to form pairs, got {len(out)}")
    return out


class SOCMEvaluator(_Evaluator):
    """Second-order collapse of a sentence-transformers model on fixed texts.

    Parameters
    ----------
    texts : sequence of str
        The texts (stripped, as ``socm measure`` reads a corpus file; at least 2, none empty).
    max_pairs : int, optional
        Score this many pairs sampled with ``seed`` (as ``socm measure --max-pairs``), else
        all pairs.
    seed : int
        Seed of the pair sample.
    batch_size : int
        Texts per forward pass.
    name : str
        Prefix of the metrics' names (``{name}_socm``, ...) and of the CSV file's name.
    numerics : {"exact", "paper"}
        See :func:`socm.core.metrics.d_sigma`.
    exclude_special_tokens : bool
        Leave out the tokens the tokenizer adds (the paper keeps every token).
    write_csv : bool
        Write a row per call to ``socm_evaluation[_{name}]_results.csv`` under
        ``output_path``.
    prompt, prompt_name : str, optional
        The prompt prepended to every text, or its name among the model's prompts (default:
        the model's default prompt, as ``model.encode`` applies it).

    Attributes
    ----------
    primary_metric : str
        ``socm`` (prefixed with ``name``): the average SOCM.
    greater_is_better : bool
        False: less collapse is better.

    Examples
    --------
    ::

        from sentence_transformers import SentenceTransformer
        from socm.integrations import SOCMEvaluator

        model = SentenceTransformer("sentence-transformers/all-MiniLM-L6-v2")
        evaluator = SOCMEvaluator(texts, name="wiki")
        evaluator(model)  # {"wiki_socm": ..., "wiki_socm_ci_low": ..., ...}
    """

    def __init__(
        self,
        texts: Sequence[str],
        *,
        max_pairs: int | None = None,
        seed: int = 0,
        batch_size: int = 32,
        name: str = "",
        numerics: str = "exact",
        exclude_special_tokens: bool = False,
        write_csv: bool = True,
        prompt: str | None = None,
        prompt_name: str | None = None,
    ) -> None:
        super().__init__()
        check_numerics(numerics)
        if max_pairs is not None and (not isinstance(max_pairs, int) or max_pairs < 1):
            raise SocmError(f"max_pairs must be a whole number >= 1, got {max_pairs!r}")
        if not isinstance(seed, int) or seed < 0:
            raise SocmError(f"seed must be a non-negative whole number, got {seed!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise SocmError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        self.texts = _texts(texts)
        self.max_pairs = max_pairs
        self.seed = seed
        self.batch_size = batch_size
        self.name = name
        self.numerics = numerics
        self.exclude_special_tokens = exclude_special_tokens
        self.write_csv = write_csv
        self.prompt = prompt
        self.prompt_name = prompt_name
        self.greater_is_better = False
        self.primary_metric = "socm"
        self.csv_file = "socm_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", *METRICS]

    @property
    def description(self) -> str:
        """The evaluator's name in the model card."""
        return "Second-Order Collapse"

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in the model card."""
        config: dict[str, Any] = {"n_texts": len(self.texts), "numerics": self.numerics}
        if self.max_pairs is not None:
            config.update(max_pairs=self.max_pairs, seed=self.seed)
        if self.exclude_special_tokens:
            config["exclude_special_tokens"] = True
        return config

    def __call__(
        self,
        model: Any,
        output_path: str | None = None,
        epoch: int = -1,
        steps: int = -1,
    ) -> dict[str, float]:
        """Measure ``model``: the metrics, prefixed with the evaluator's name.

        Parameters
        ----------
        model : SentenceTransformer
        output_path : str, optional
            Folder of the CSV file (none written without it).
        epoch, steps : int
            Where training stands (-1: not in training), written to the CSV row.

        Returns
        -------
        dict of str to float
            ``socm`` (the average SOCM over the scored pairs), ``socm_ci_low`` and
            ``socm_ci_high`` (its 95% interval; NaN where it is undefined), ``d_mu``,
            ``d_sigma`` (averages) and ``spread_over_2`` (the share of texts whose normalised
            spread exceeds 2), each as ``{name}_{metric}`` when a name is given.
        """
        where = (
            ""
            if epoch == -1
            else f" in epoch {epoch}" + ("" if steps == -1 else f" after {steps} steps")
        )
        logger.info("SOCMEvaluator: measuring %s%s", self.name or "the texts", where)
        stats = self.token_stats(model)
        values = self.score(stats, engine_device(model.device))
        if output_path is not None and self.write_csv:
            os.makedirs(output_path, exist_ok=True)
            path = os.path.join(output_path, self.csv_file)
            new = not os.path.isfile(path)
            with open(path, "a" if not new else "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                if new:
                    writer.writerow(self.csv_headers)
                writer.writerow([epoch, steps, *(values[m] for m in METRICS)])
        self.primary_metric = "socm"
        metrics = self.prefix_name_to_metrics(values, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def score(self, stats: Sequence[TokenStats], device: str | None = None) -> dict[str, float]:
        """The metrics of per-text statistics (no prefix): all pairs, or ``max_pairs`` of them
        sampled with the seed, scored by the pair engine into the running sums."""
        n = len(stats)
        pairs = sample_pairs(n, self.max_pairs, self.seed)
        acc = PairAccumulator(n)
        for tile in iter_pairwise(list(stats), pairs, self.numerics, device):
            acc.add(tile)
        res = acc.result(n_population=None)
        ci = res.get("avg_socm_ci95") or (float("nan"), float("nan"))
        spreads = np.array([s.trace for s in stats])
        return {
            "socm": float(res["avg_socm"]),
            "socm_ci_low": float(ci[0]),
            "socm_ci_high": float(ci[1]),
            "d_mu": float(res["avg_d_mu"]),
            "d_sigma": float(res["avg_d_sigma"]),
            "spread_over_2": float((spreads > SPREAD_BOUND).mean()),
        }

    def token_stats(self, model: Any) -> list[TokenStats]:
        """Per-text statistics of the texts' token embeddings from ``model``'s first module
        (the model in eval mode, no gradients; its training mode restored after)."""
        prompt = self._prompt(model)
        exclude_prompt = bool(prompt) and any(
            getattr(m, "include_prompt", True) is False for m in model
        )
        was_training = model.training
        model.eval()
        stats: list[TokenStats] = []
        try:
            with torch.inference_mode():
                for s in range(0, len(self.texts), self.batch_size):
                    batch = self.texts[s : s + self.batch_size]
                    hidden, keep = self._tokens(model, batch, prompt, exclude_prompt)
                    names = [f"text {k}" for k in range(s, s + len(batch))]
                    try:
                        stats += reduce_batch(hidden, keep, names)
                    except ValueError as exc:
                        raise SocmError(f"SOCMEvaluator: {exc}") from None
        finally:
            model.train(was_training)
        return stats

    def _prompt(self, model: Any) -> str | None:
        """The prompt ``model.encode`` would apply: ``prompt``, else the named one, else the
        model's default."""
        if self.prompt is not None:
            return self.prompt
        prompts = getattr(model, "prompts", None) or {}
        name = self.prompt_name or getattr(model, "default_prompt_name", None)
        if name is None:
            return None
        if name not in prompts:
            raise SocmError(
                f"SOCMEvaluator: no prompt named {name!r} (the model's prompts: "
                f"{', '.join(prompts) or 'none'})"
            )
        return prompts[name]

    def _tokens(
        self, model: Any, batch: list[str], prompt: str | None, exclude_prompt: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(token embeddings (B, T, D), tokens that count (B, T)) of one batch."""
        if hasattr(model, "preprocess"):  # sentence-transformers 6
            features = model.preprocess(batch, prompt=prompt)
            prompt_length = features.get("prompt_length")
        else:  # sentence-transformers 5: the prompt prepended, its length as encode counts it
            features = model.tokenize([prompt + t for t in batch] if prompt else batch)
            prompt_length = _prompt_length(model, prompt) if prompt else None
        if "cu_seq_lens_q" in features:
            raise SocmError(
                "SOCMEvaluator: the model's first module packs texts without padding "
                "(flash-attention unpadding); load it with attn_implementation='sdpa'"
            )
        device = model.device
        features = {
            k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()
        }
        out = model[0](dict(features))
        hidden = out["token_embeddings"]
        mask = features["attention_mask"].to(torch.bool)
        keep = mask.clone()
        if exclude_prompt and prompt_length:
            n = (
                int(prompt_length.reshape(-1)[0])
                if torch.is_tensor(prompt_length)
                else int(prompt_length)
            )
            keep &= torch.cumsum(mask.to(torch.int64), dim=1) > n  # the first n counted tokens
        if self.exclude_special_tokens:
            keep &= ~_special(model, batch, prompt, features["input_ids"], mask)
        return hidden, keep


def _prompt_length(model: Any, prompt: str) -> int | None:
    """The prompt's length in tokens as ``encode`` of sentence-transformers 5 counts it:
    the model's own count where it has one (a trailing special token left out), else the
    tokenised prompt less its last token."""
    if hasattr(model, "_get_prompt_length"):
        return model._get_prompt_length(prompt)
    ids = model.tokenize([prompt]).get("input_ids")
    return None if ids is None else ids.shape[-1] - 1


def _special(
    model: Any,
    batch: list[str],
    prompt: str | None,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """The tokens the tokenizer added to each text (its ``special_tokens_mask``, as ``socm
    measure`` takes it), placed on the counted positions of ``input_ids``.

    Raises
    ------
    SocmError
        The model's first module tokenised a text otherwise than its tokenizer does.
    """
    texts = [prompt + t for t in batch] if prompt else batch
    enc = model.tokenizer(
        texts,
        truncation=True,
        max_length=model.max_seq_length,
        return_special_tokens_mask=True,
    )
    special = torch.zeros_like(mask)
    for row, (ids, flags) in enumerate(
        zip(enc["input_ids"], enc["special_tokens_mask"], strict=True)
    ):
        counted = input_ids[row][mask[row]].tolist()
        if counted != list(ids):
            raise SocmError(
                f"SOCMEvaluator: text {row} is tokenised differently by the model's first "
                "module and by its tokenizer; exclude_special_tokens cannot place the "
                "special tokens"
            )
        special[row, mask[row]] = torch.tensor(flags, dtype=torch.bool, device=mask.device)
    return special
