"""What goes in: corpora (files, compressed files, Hugging Face datasets), MS MARCO-style and
STS-Benchmark files, pair lists and the paper's table."""

from socm.inputs.corpus import (
    BUILTIN_CORPORA,
    Corpus,
    load_corpus,
    load_sample,
    reservoir_sample,
    sample,
    split_sentences,
)
from socm.inputs.msmarco import load_msmarco
from socm.inputs.pair_list import pairs_from_ids, read_pairs_file
from socm.inputs.paper_table import load_paper_table, paper_families, paper_rows
from socm.inputs.sts import load_sts

__all__ = [
    "BUILTIN_CORPORA",
    "Corpus",
    "load_corpus",
    "load_msmarco",
    "load_paper_table",
    "load_sample",
    "load_sts",
    "pairs_from_ids",
    "paper_families",
    "paper_rows",
    "read_pairs_file",
    "reservoir_sample",
    "sample",
    "split_sentences",
]
