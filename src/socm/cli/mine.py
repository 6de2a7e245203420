"""``socm mine``: the near pairs of a corpus whose token distributions differ most."""

from __future__ import annotations

import argparse
import json

from socm.cli.common import (
    HELP_FORMAT,
    backend_parent,
    config_from_args,
    corpus_parent,
    encoder_parent,
    output_parent,
    pairs_parent,
    positive_int,
    statistics_parent,
)
from socm.core.neighbors import METHODS
from socm.core.schema import rankable_names
from socm.encode.encoder import CACHE_DTYPES

__all__ = ["add_parsers", "cmd_mine"]

RUN_OUT = "run folder (None: socm-runs/<model>-<corpus>-<n>-<settings hash>)"


def _top_k(text: str) -> int | None:
    """An argparse type: a whole number >= 1, or ``all`` (None: keep every candidate)."""
    return None if text.strip().lower() == "all" else positive_int(text)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Declare ``socm mine``."""
    p = sub.add_parser(
        "mine",
        parents=[
            encoder_parent(),
            corpus_parent(),
            pairs_parent(listed=False),
            output_parent(
                RUN_OUT, "print mine_summary.json instead of the top list", overwrite=True
            ),
            backend_parent(),
            statistics_parent(),
        ],
        formatter_class=HELP_FORMAT,
        help="list the near pairs of a corpus (by cosine) whose token distributions differ most",
        description="Encode every text of a corpus (streaming, cached), take each text's "
        "nearest texts by cosine of the mean-pooled embeddings, score those pairs (d_mu, "
        "d_sigma, SOCM, relative d_sigma = BW^2 / (tr S1 + tr S2)) and list the near pairs "
        "whose token distributions differ most, with each pair's cosine percentile among "
        "random pairs and its rank in each text's neighbour list. Whether a listed pair is "
        "one humans call different is tested by socm validate, not assumed. Writes "
        "candidates.parquet, texts.parquet and mine_summary.json.",
    )
    p.set_defaults(n_texts="all")  # mining searches the whole corpus unless --n-texts is given
    from socm.analyses.mine import RUN_DEFAULTS as D

    g = p.add_argument_group("mining")
    g.add_argument(
        "--neighbors",
        type=positive_int,
        default=D.neighbors,
        help="nearest texts by cosine per text; their pairs are the candidates",
    )
    g.add_argument(
        "--top-k",
        type=_top_k,
        default=D.top_k,
        help="pairs kept in candidates.parquet ('all': every candidate)",
    )
    g.add_argument(
        "--rank-by",
        choices=rankable_names(),
        default=D.rank_by,
        help="ranking column (descending). relative_d_sigma is not dominated by high-spread "
        "texts, and the only shape score whose partial correlation with human similarity "
        "given the cosine pointed the expected way for both models on both STS-B splits; "
        "none had evidence enough to call a listed pair one humans see as different "
        "(socm validate, docs/mining.md)",
    )
    g.add_argument(
        "--max-per-text",
        type=positive_int,
        default=D.max_per_text,
        help="at most this many kept pairs per text",
    )
    g.add_argument(
        "--min-tokens",
        type=positive_int,
        default=D.min_tokens,
        help="leave texts with fewer tokens of their own (no special tokens, no prefix) out of "
        "the search: fragments such as 'Pulley' or '1753 BC.' (counted in the summary)",
    )
    g.add_argument(
        "--keep-duplicates",
        dest="drop_duplicates",
        action="store_false",
        help="search repeated texts too (by default a text equal to an earlier one is left out "
        "and counted: duplicates fill each other's neighbour slots)",
    )
    g.add_argument(
        "--search",
        choices=METHODS,
        default=D.search,
        help="neighbour search: exact and faiss give identical results, hnsw is approximate "
        "(recall reported); auto runs exact unless that is estimated over 20 minutes on a CPU "
        "with faiss installed, then hnsw",
    )
    g.add_argument(
        "--cache-dtype",
        choices=CACHE_DTYPES,
        default="float32",
        help="precision of the cached token embeddings (float16: half the disk)",
    )
    g.add_argument("--show", type=positive_int, default=10, help="pairs printed with their texts")
    p.set_defaults(func=cmd_mine)


def cmd_mine(args: argparse.Namespace) -> int:
    """``socm mine``: returns the exit code."""
    from socm.analyses.mine import format_mine, run_mine

    names = ("neighbors", "top_k", "rank_by", "max_per_text", "min_tokens", "drop_duplicates")
    options = {k: getattr(args, k) for k in (*names, "search")}
    own = (*options, "cache_dtype", "show")
    flags = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in own})
    summary, out = run_mine(
        config_from_args(flags), cache_dtype=args.cache_dtype, show=args.show, **options
    )
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(format_mine(summary, out))
    return 0
