"""The token policy: which tokens of a text count, and how texts are tokenised.

Default (Hara et al. 2026, Sec. 4): every token with attention mask 1, special tokens included;
no prefix; truncation at the model's maximum length. ``exclude_special_tokens`` drops [CLS]/[SEP]
(<s>/</s>, BOS/EOS, ...); ``prefix`` is prepended to every text (e.g. ``"query: "``).

For instruction-tuned embedders, ``prompt`` is prepended before the prefix
(``prompt + prefix + text``, as sentence-transformers prepends its prompts), and
``exclude_prompt_tokens`` keeps its first :func:`~socm.encode.pooling.prompt_length` tokens out of
the statistics (they still condition the others in the forward pass): the tokens
sentence-transformers leaves out of pooling with ``include_prompt=False``, token for token.
``exclude_first_token`` drops each text's first token (a decoder's attention sink: a BOS, or
the first word where the tokenizer adds none).

``long_texts="window"`` tokenises texts whole and encodes those longer than the maximum length
in overlapping windows (:mod:`socm.encode.windows`); no text is then truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from socm.encode.cache import text_key
from socm.encode.models import quiet_transformers
from socm.encode.pooling import prompt_length
from socm.encode.windows import LONG_TEXT_CHOICES, Windows, n_windows, split_windows
from socm.errors import SocmError, warn
from socm.progress import progress_bar

__all__ = ["TokenPolicy", "check_max_length", "model_max_length", "token_policy"]


def token_policy(
    exclude_special_tokens: bool,
    prefix: str,
    max_length: int | None,
    prompt: str = "",
    prompt_tokens: int = 0,
    exclude_prompt_tokens: bool = False,
    exclude_first_token: bool = False,
    long_texts: str = "truncate",
) -> dict:
    """The token policy as recorded in run summaries and settings files (the prompt, the
    first token and windows only when set, so that records of the paper's policy stay as they
    were)."""
    out: dict = {
        "special_tokens": "excluded" if exclude_special_tokens else "included",
        "prefix": prefix,
        "max_length": max_length,
    }
    if prompt:
        out["prompt"] = prompt
        out["prompt_tokens"] = prompt_tokens
        out["prompt_tokens_in_statistics"] = "excluded" if exclude_prompt_tokens else "included"
    if exclude_first_token:
        out["first_token"] = "excluded"
    if long_texts != "truncate":
        out["long_texts"] = long_texts
    return out


def model_max_length(tokenizer, position_embeddings: Callable[[], int]) -> int:
    """The model's maximum length: the tokenizer's, or (when it sets none) the model's
    number of position embeddings (``position_embeddings`` is only called then)."""
    ml = getattr(tokenizer, "model_max_length", None)
    if ml and ml < 100_000:
        return int(ml)
    return int(position_embeddings())


def check_max_length(
    requested: int | None, tokenizer, position_embeddings: Callable[[], int]
) -> int:
    """The truncation length: the model's limit by default; a longer request is clamped to it
    (with a warning); one that leaves no room for a text token is refused.

    Raises
    ------
    SocmError
        ``requested`` is not above the number of special tokens the model adds.
    """
    limit = model_max_length(tokenizer, position_embeddings)
    if requested is None:
        return limit
    if requested > limit:
        warn(f"--max-length {requested} exceeds the model's limit; using {limit} tokens")
        return limit
    n_special = tokenizer.num_special_tokens_to_add(pair=False)
    if requested <= n_special:
        raise SocmError(
            f"--max-length {requested} leaves no room for text: the model adds {n_special} "
            f"special tokens to every text; use at least {n_special + 1}"
        )
    return requested


class TokenPolicy:
    """Tokenises texts under one policy.

    Parameters
    ----------
    tokenizer
        A Hugging Face tokenizer.
    exclude_special_tokens : bool
    prefix : str
    max_length : int
        Truncation length in tokens (special tokens included).
    prompt : str
        Prepended before ``prefix``; its tokens are :attr:`prompt_tokens`.
    exclude_prompt_tokens : bool
        Keep the prompt's tokens out of the statistics.
    exclude_first_token : bool
        Keep each text's first token out of the statistics.
    long_texts : {"truncate", "window"}
        Cut texts at ``max_length``, or keep them whole and encode the longer ones in
        windows of ``max_length`` tokens (:mod:`socm.encode.windows`).
    """

    def __init__(
        self,
        tokenizer,
        exclude_special_tokens: bool,
        prefix: str,
        max_length: int,
        *,
        prompt: str = "",
        exclude_prompt_tokens: bool = False,
        exclude_first_token: bool = False,
        long_texts: str = "truncate",
    ) -> None:
        if long_texts not in LONG_TEXT_CHOICES:
            raise SocmError(f"--long-texts must be truncate or window, got {long_texts!r}")
        self.tokenizer = tokenizer
        self.long_texts = long_texts
        self.exclude_special_tokens = exclude_special_tokens
        self.prefix = prefix
        self.max_length = max_length
        self.prompt = prompt
        self.exclude_prompt_tokens = exclude_prompt_tokens
        self.exclude_first_token = exclude_first_token
        if exclude_prompt_tokens and not prompt:
            raise SocmError("--exclude-prompt-tokens needs a prompt (--prompt or --prompt-name)")
        #: The prompt's tokens at the start of every input (0 without a prompt).
        self.prompt_tokens = prompt_length(tokenizer, prompt, max_length)
        #: The tokens of the prompt and prefix that open every window of a long text.
        self.window_lead = 0
        if long_texts == "window":
            self.window_lead = prompt_length(tokenizer, prompt + prefix, max_length)
            room = max_length - self.window_lead - tokenizer.num_special_tokens_to_add(pair=False)
            if room < 1:
                raise SocmError(
                    f"--long-texts window: the prompt and prefix ({self.window_lead} tokens) "
                    f"leave no room for text in a window of {max_length} tokens"
                )

    def as_dict(self) -> dict:
        """:func:`token_policy` of these settings."""
        return token_policy(
            self.exclude_special_tokens,
            self.prefix,
            self.max_length,
            self.prompt,
            self.prompt_tokens,
            self.exclude_prompt_tokens,
            self.exclude_first_token,
            self.long_texts,
        )

    def tokenize(self, texts: Sequence[str]) -> dict:
        """Token ids (no padding) with masks, and which texts were truncated: cut at the
        maximum length, or whole with ``long_texts="window"`` (none truncated)."""
        inputs = [self.prompt + self.prefix + t for t in texts]
        if self.long_texts == "window":
            with quiet_transformers():  # "sequence longer than the maximum length"
                enc = self.tokenizer(
                    inputs,
                    truncation=False,
                    return_special_tokens_mask=True,
                    return_attention_mask=True,
                )
            enc["truncated"] = [False] * len(inputs)
            return enc
        enc = self.tokenizer(
            inputs,
            truncation=True,
            max_length=self.max_length,
            return_special_tokens_mask=True,
            return_attention_mask=True,
        )
        # a text was truncated iff its untruncated encoding is longer: only texts that reached
        # max_length can be, so only those are tokenised again
        full_len = {k: len(ids) for k, ids in enumerate(enc["input_ids"])}
        at_limit = [k for k, n in full_len.items() if n >= self.max_length]
        if at_limit:
            with quiet_transformers():  # "sequence longer than max length"
                full = self.tokenizer(
                    [inputs[k] for k in at_limit], truncation=False, return_attention_mask=False
                )
            full_len.update(zip(at_limit, map(len, full["input_ids"]), strict=True))
        enc["truncated"] = [full_len[k] > len(ids) for k, ids in enumerate(enc["input_ids"])]
        return enc

    def windows(self, enc: dict, causal: bool) -> Windows:
        """The model inputs of tokenised texts ``enc``, one row per window
        (:func:`socm.encode.windows.split_windows`; one row per text when truncating)."""
        return split_windows(enc, self.max_length, causal, self.window_lead)

    def window_counts(self, enc: dict) -> list[int]:
        """Windows each tokenised text is encoded in (1 when truncating)."""
        if self.long_texts != "window":
            return [1] * len(enc["input_ids"])
        return [
            n_windows(special, self.max_length, self.window_lead)
            for special in enc["special_tokens_mask"]
        ]

    def counts(
        self, texts: Sequence[str], chunk: int = 8192, progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each text's tokens under the policy (what its statistics are made of), whether it
        was truncated and the windows it is encoded in: the tokenise stage, without padding or
        a model."""
        kept = np.empty(len(texts), dtype=np.int64)
        cut = np.empty(len(texts), dtype=bool)
        windows = np.empty(len(texts), dtype=np.int64)
        bar = progress_bar(len(texts), "tokenise", "text", enabled=progress)
        for s in range(0, len(texts), chunk):
            enc = self.tokenize(texts[s : s + chunk])
            kept[s : s + chunk] = [
                int(self.keep_mask(a, m).sum())
                for a, m in zip(enc["attention_mask"], enc["special_tokens_mask"], strict=True)
            ]
            cut[s : s + chunk] = enc["truncated"]
            windows[s : s + chunk] = self.window_counts(enc)
            bar.update(min(chunk, len(texts) - s))  # after the work: the estimate is honest
        bar.close()
        return kept, cut, windows

    def own_counts(self, texts: Sequence[str], chunk: int = 8192) -> np.ndarray:
        """Each text's own tokens: no special tokens, no prefix, no truncation."""
        out = np.empty(len(texts), dtype=np.int64)
        for s in range(0, len(texts), chunk):
            with quiet_transformers():  # "sequence longer than the maximum length"
                ids = self.tokenizer(texts[s : s + chunk], add_special_tokens=False)["input_ids"]
            out[s : s + chunk] = [len(x) for x in ids]
        return out

    def keep_mask(self, attention: Sequence[int], special: Sequence[int]) -> np.ndarray:
        """Tokens of one unpadded text that count under the policy: attention mask 1, and
        not special, not the prompt's, not the first, where asked."""
        keep = np.array(attention, dtype=bool)
        if self.exclude_special_tokens:
            keep &= ~np.asarray(special, dtype=bool)
        if self.exclude_prompt_tokens:
            keep[: self.prompt_tokens] = False
        if self.exclude_first_token:
            keep[:1] = False
        return keep

    def pool_mask(self, attention: Sequence[int], include_prompt: bool) -> np.ndarray:
        """Tokens of one unpadded text a sentence-transformers ``Pooling`` module pools:
        attention mask 1, less the prompt's tokens when it does not include the prompt."""
        keep = np.array(attention, dtype=bool)
        if not include_prompt:
            keep[: self.prompt_tokens] = False
        return keep

    def token_strings(self, text: str) -> list[str]:
        """The token strings of ``text`` kept under the policy (for labels in figures)."""
        enc = self.tokenize([text])
        ids = np.asarray(enc["input_ids"][0])
        keep = self.keep_mask(enc["attention_mask"][0], enc["special_tokens_mask"][0])
        return self.tokenizer.convert_ids_to_tokens(ids[keep].tolist())

    def prepare(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> dict:
        """Tokenise, apply the policy (``keep``) and hash (``keys``, the cache keys) every text.

        Raises
        ------
        SocmError
            A text with no tokens under the policy.
        """
        ids = list(ids) if ids is not None else [str(k) for k in range(len(texts))]
        enc = self.tokenize(texts)
        enc["keep"] = [
            self.keep_mask(a, s)
            for a, s in zip(enc["attention_mask"], enc["special_tokens_mask"], strict=True)
        ]
        for k, keep in enumerate(enc["keep"]):
            if not keep.any():
                raise SocmError(
                    f"text {ids[k]}: no tokens left under the token policy "
                    f"({self._excluded()} excluded and no other token)"
                )
        enc["keys"] = [text_key(t) for t in texts]
        return enc

    def _excluded(self) -> str:
        parts = [
            name
            for name, on in (
                ("special tokens", self.exclude_special_tokens),
                ("prompt tokens", self.exclude_prompt_tokens),
                ("first token", self.exclude_first_token),
            )
            if on
        ]
        return ", ".join(parts) or "no tokens"
