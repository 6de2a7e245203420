"""Shared pieces of the command line: parent parsers for the flags several commands take,
argument types, and the one translation from parsed flags to a :class:`MeasureConfig`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from socm.core.metrics import NUMERICS
from socm.encode import LONG_TEXT_CHOICES
from socm.encode.precision import FORWARD_DTYPES
from socm.measure.config import DEFAULT_MODEL, DEFAULT_N_TEXTS, MeasureConfig
from socm.store import STORE_DTYPES

__all__ = [
    "HELP_FORMAT",
    "INT_MAX",
    "Given",
    "backend_parent",
    "config_from_args",
    "corpus_parent",
    "encoder_parent",
    "finite_float",
    "int_range",
    "memory_size",
    "n_texts_arg",
    "non_negative_int",
    "output_parent",
    "pairs_parent",
    "positive_int",
    "print_records",
    "scores_parent",
    "statistics_parent",
]

HELP_FORMAT = argparse.ArgumentDefaultsHelpFormatter
#: Bounds of the encoder's numbers: no model has this many layers or positions, and a batch
#: beyond a million texts is a typo.
LAYER_MAX = 10_000
LENGTH_MAX = 2**31 - 1
BATCH_MAX = 1_000_000


#: The largest whole number a flag takes (what numpy, pyarrow and parquet hold: int64).
INT_MAX = 2**63 - 1


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def int_range(lo: int, hi: int = INT_MAX):
    """An argparse type: a whole number from ``lo`` to ``hi``.

    Examples
    --------
    >>> int_range(1, 10)("3")
    3
    >>> int_range(1, 10)("11")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a whole number from 1 to 10, got 11
    """

    def check(text: str) -> int:
        value = _whole(text)
        if not lo <= value <= hi:
            if hi == INT_MAX:
                raise argparse.ArgumentTypeError(f"expected a number >= {lo}, got {value}")
            raise argparse.ArgumentTypeError(
                f"expected a whole number from {lo} to {hi}, got {value}"
            )
        return value

    check.__name__ = f"int_range({lo}, {hi})"
    return check


def positive_int(text: str) -> int:
    """An argparse type: a whole number from 1 to :data:`INT_MAX`."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    if value > INT_MAX:
        raise argparse.ArgumentTypeError(f"expected a number <= {INT_MAX:,}, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number from 0 to :data:`INT_MAX`."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    if value > INT_MAX:
        raise argparse.ArgumentTypeError(f"expected a number <= {INT_MAX:,}, got {value}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a finite number (no ``nan`` or ``inf``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def memory_size(text: str) -> str:
    """An argparse type: a memory size such as ``4G``, ``512M`` or a byte count, from one byte
    to :data:`INT_MAX` bytes (kept as written)."""
    from socm.store import parse_bytes

    try:
        value = parse_bytes(text)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(
            str(exc) if isinstance(exc, ValueError) else f"not a size: {text!r}"
        ) from None
    if value > INT_MAX:
        raise argparse.ArgumentTypeError(f"a size must be at most 8E (8 exbibytes), got {text!r}")
    return text.strip()


def n_texts_arg(text: str) -> int | str:
    """An argparse type: a whole number >= 1, or ``all``."""
    return "all" if text.strip().lower() == "all" else positive_int(text)


class Given(argparse.Action):
    """Store the value and remember that the flag was given (``namespace.given``), so that a
    flag whose default is meaningful can still be refused where it does not apply."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given = {*getattr(namespace, "given", set()), self.dest}


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False, formatter_class=HELP_FORMAT)


def encoder_parent(model: bool = True, cache: bool = True) -> argparse.ArgumentParser:
    """Flags of every command that encodes texts (model, token policy, device, cache)."""
    p = _parent()
    g = p.add_argument_group("encoder")
    if model:
        g.add_argument("--model", default=DEFAULT_MODEL, help="Hugging Face model id or folder")
    g.add_argument("--revision", help="hub revision (branch, tag or commit)")
    g.add_argument(
        "--trust-remote-code",
        action="store_true",
        help="allow the model's custom code from the hub (explicit opt-in)",
    )
    g.add_argument(
        "--layer",
        type=int_range(-LAYER_MAX, LAYER_MAX),
        default=None,
        help="hidden state: 0 = embedding output, 1..L layers, negative from the end "
        "(None: last hidden state)",
    )
    g.add_argument(
        "--exclude-special-tokens",
        action="store_true",
        help="drop [CLS]/[SEP]-like tokens (the paper keeps every token)",
    )
    g.add_argument("--prefix", default="", help='text prepended to every input, e.g. "query: "')
    g.add_argument(
        "--prompt",
        default="",
        help='instruction prepended before --prefix, e.g. "Instruct: ... Query: " (its '
        "tokens can be kept out of the statistics with --exclude-prompt-tokens)",
    )
    g.add_argument(
        "--prompt-name",
        help="a prompt the model declares (config_sentence_transformers.json prompts), "
        "instead of --prompt",
    )
    g.add_argument(
        "--exclude-prompt-tokens",
        action="store_true",
        help="keep the prompt's tokens out of the statistics (they still condition the "
        "others), as sentence-transformers' include_prompt=False",
    )
    g.add_argument(
        "--exclude-first-token",
        action="store_true",
        help="keep each text's first token (a decoder's attention sink) out of the statistics",
    )
    g.add_argument(
        "--max-length",
        type=int_range(1, LENGTH_MAX),
        help="truncation length in tokens (None: the model's maximum)",
    )
    g.add_argument(
        "--long-texts",
        choices=LONG_TEXT_CHOICES,
        default="truncate",
        help="a text longer than the model's limit: truncate it (the paper's protocol), or "
        "window: encode it whole in overlapping windows, every token kept once",
    )
    g.add_argument(
        "--batch-size",
        type=int_range(1, BATCH_MAX),
        default=32,
        help="texts per forward pass of the model",
    )
    g.add_argument("--device", help="cuda, mps or cpu (None: cuda, then mps, then cpu)")
    g.add_argument(
        "--dtype",
        choices=FORWARD_DTYPES,
        default="auto",
        help="precision of the model's forward pass (statistics are always float64 from its "
        "float32 cast); auto: the model config's on a CUDA GPU, float32 elsewhere",
    )
    if cache:
        g.add_argument(
            "--cache-dir", help="token-embedding cache (None: $SOCM_CACHE_DIR or ~/.cache/socm)"
        )
        g.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    return p


def corpus_parent(sampling: bool = True) -> argparse.ArgumentParser:
    """Flags that choose the texts."""
    p = _parent()
    g = p.add_argument_group("corpus")
    g.add_argument(
        "--corpus",
        default="wikipedia",
        help="wikipedia (packaged lead sections), wiki1m (the paper's corpus, downloaded), a "
        ".txt/.jsonl/.json/.csv/.tsv/.parquet file (also .gz/.bz2/.xz/.zst), "
        "hf:NAME[:CONFIG][@SPLIT] (a Hugging Face dataset) or a folder saved by save_to_disk",
    )
    g.add_argument(
        "--unit",
        choices=["sentence", "paragraph"],
        default=None,
        help="text unit of the wikipedia corpus (None: sentence)",
    )
    g.add_argument(
        "--text-column",
        help="text column of a .csv/.tsv/.parquet corpus or dataset (None: text; with "
        "--no-header a number: the last of one or two columns)",
    )
    g.add_argument(
        "--id-column",
        help="id column (None: id if present (datasets: also _id), else the row number; with "
        "--no-header, column 1 of two)",
    )
    g.add_argument(
        "--no-header",
        action="store_true",
        help=".csv/.tsv without a header row: columns numbered from 1 (as cut does); of two "
        "columns the first is the id, the second the text",
    )
    g.add_argument(
        "--no-title",
        action="store_true",
        help="leave out the titles of a BEIR corpus (records with _id), read otherwise as "
        "title + ' ' + text",
    )
    if sampling:
        g.add_argument(
            "--n-texts",
            type=n_texts_arg,
            action=Given,
            default=DEFAULT_N_TEXTS,
            help="texts sampled as the paper does: random.seed(S); random.sample(texts, N); "
            "'all' for every text (not with --pairs, whose ids choose the texts)",
        )
        g.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed")
    return p


def pairs_parent(listed: bool = True, seed: bool = False) -> argparse.ArgumentParser:
    """Flags that choose the pairs and the numerics."""
    p = _parent()
    g = p.add_argument_group("pairs")
    if listed:
        g.add_argument(
            "--pairs",
            dest="pairs_file",
            help="file with two columns of text ids (only these pairs are scored)",
        )
        g.add_argument("--max-pairs", type=positive_int, help="score K pairs sampled with the seed")
    if seed:
        g.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed")
    g.add_argument(
        "--numerics",
        choices=NUMERICS,
        default="exact",
        help="exact value, or the published code's epsilon-regularised formula",
    )
    return p


def output_parent(
    out_help: str,
    json_help: str = "print JSON instead of a table",
    out_default: str | None = None,
    overwrite: bool = False,
) -> argparse.ArgumentParser:
    """``--out``, ``--quiet`` and ``--json`` (and ``--overwrite`` for run folders)."""
    p = _parent()
    g = p.add_argument_group("output")
    g.add_argument("--out", default=out_default, help=out_help)
    if overwrite:
        g.add_argument(
            "--overwrite",
            action="store_true",
            help="replace a run folder that holds another run (its old files are removed)",
        )
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    g.add_argument("--json", action="store_true", help=json_help)
    return p


def backend_parent() -> argparse.ArgumentParser:
    """``--backend`` and ``--backend-address``: where a command encodes and scores."""
    from socm.backends import available_backends, backend_names

    p = _parent()
    g = p.add_argument_group("execution")
    g.add_argument(
        "--backend",
        choices=backend_names(),
        default="local",
        help=f"where to encode and score (installed here: {', '.join(available_backends())}): "
        "local is this process; ray a Ray cluster (encode actors, pair tasks; pip install "
        "'socm[ray]'), with the same results; --cache-dir and --out should then be on storage "
        "every node sees",
    )
    g.add_argument(
        "--backend-address",
        "--ray-address",
        dest="backend_address",
        help="where the backend connects; for ray: host:port of the head, ray://host:port or "
        "auto (RAY_ADDRESS, else Ray's current-cluster file; checked first) (None: the cluster "
        "RAY_ADDRESS names when set, else a new local Ray instance, never a running one)",
    )
    return p


def statistics_parent() -> argparse.ArgumentParser:
    """``--store`` and ``--memory-budget``: where the per-text statistics live."""
    p = _parent()
    g = p.add_argument_group("statistics")
    g.add_argument(
        "--store",
        help="keep the per-text statistics (covariance factors) in this folder on disk, read "
        "a text at a time when scored, whatever the memory budget (a rerun reuses them)",
    )
    g.add_argument(
        "--memory-budget",
        type=memory_size,
        help="memory for the per-text statistics, e.g. 4G or 512M (None: a quarter of this "
        "machine's memory); beyond it they go to a store in the cache folder (a temporary "
        "one with --no-cache)",
    )
    g.add_argument(
        "--store-dtype",
        choices=STORE_DTYPES,
        default="float64",
        help="precision of the covariance factors in a store: float32 halves its size on disk "
        "and moves the pair values by up to about 1e-7 (statistics kept in memory stay "
        "float64)",
    )
    return p


def scores_parent() -> argparse.ArgumentParser:
    """Sources of downstream scores for a correlation."""
    p = _parent()
    g = p.add_argument_group("downstream scores")
    g.add_argument("--scores", help="CSV with model, score")
    g.add_argument(
        "--paper-table",
        action="store_true",
        help="the paper's MTEB(eng, v2) scores (and, without runs, its published average "
        "SOCM) for its 12 models",
    )
    return p


def config_from_args(args: argparse.Namespace, **overrides: Any) -> MeasureConfig:
    """The :class:`MeasureConfig` of the flags a command declared (others keep their
    defaults); ``--quiet`` turns progress off; ``overrides`` replace fields."""
    flags = dict(vars(args))
    quiet = flags.pop("quiet", True)  # commands without --quiet show no progress
    if "n_texts" in flags and "n_texts" not in flags.pop("given", set()):
        flags["n_texts"] = None  # not given: the default sample, or the texts --pairs names
    return MeasureConfig.from_dict(flags, **{"progress": not quiet, **overrides})


def print_records(records: Any, out: Path | str | None, fmt, as_json: bool) -> int:
    """Print results as JSON, or as ``fmt(records)`` followed by the output location."""
    if as_json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        print(fmt(records) + (f"\noutput: {out}" if out is not None else ""))
    return 0
