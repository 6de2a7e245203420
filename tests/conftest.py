"""Shared fixtures: random token lists, the packaged model and the shared data folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# never touch the user's cache from tests
os.environ["SOCM_CACHE_DIR"] = tempfile.mkdtemp(prefix="socm-test-cache-")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"

#: The shared real-text data beside the checkout (``../shared/data``), or $SOCM_SHARED_DATA.
SHARED_DATA = Path(
    os.environ.get("SOCM_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


def run_config(corpus, tmp_path: Path, **kw):
    """A MeasureConfig for tests: CPU, no progress bars, run and cache under ``tmp_path``."""
    from socm.measure import MeasureConfig

    opts = dict(
        corpus=str(corpus),
        out=str(tmp_path / "run"),
        cache_dir=str(tmp_path / "cache"),
        progress=False,
        device="cpu",
    )
    opts.update(kw)
    return MeasureConfig(**opts)


def random_tokens(
    rng: np.random.Generator, n: int, dim: int, rank: int | None = None
) -> np.ndarray:
    """Token embeddings around a common offset, optionally of low rank, like real encoders'."""
    offset = np.linspace(0.5, 1.5, dim)
    rank = min(rank or dim, dim)
    basis = rng.normal(size=(rank, dim))
    return offset + rng.normal(size=(n, rank)) @ basis / np.sqrt(rank) * rng.uniform(0.3, 1.2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def wiki_head(shared_data: Path) -> Path:
    return shared_data / "wiki1m" / "wiki1m_head.txt"


@pytest.fixture(scope="session")
def wiki_sentences(wiki_head: Path) -> list[str]:
    lines = [s.strip() for s in wiki_head.read_text(encoding="utf-8").splitlines() if s.strip()]
    return lines[:40]


@pytest.fixture
def cosine_column():
    """An extra pair column, the cosine of the unit means, registered for one test: stored,
    averaged with an interval. Its formula is a lambda, so that work sent to other processes
    (Ray workers) carries it by value."""
    from socm.core.schema import PairColumn, register_pair_column, unregister_pair_column

    column = PairColumn("cosine", "cosine of the unit means", lambda parts: parts.cosine)
    register_pair_column(column)
    try:
        yield column
    finally:
        unregister_pair_column("cosine")


def tiny_model(folder: Path, seed: int = 0) -> Path:
    """A small random BERT in ``folder`` (safetensors weights, the packaged model's WordPiece
    vocabulary as ``vocab.txt``, no ``tokenizer.json``): a local model folder whose files a
    test may edit. Another ``seed`` gives weights of the same size."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    from socm.encode.models import packaged_model

    source = Path(packaged_model(MODEL).path)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / name, folder / name)
    n_vocab = len((folder / "vocab.txt").read_text(encoding="utf-8").splitlines())
    config = BertConfig(
        vocab_size=n_vocab,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory):
    """A maker of tiny random decoder embedders (``tiny_decoders.build_decoder``), each built
    once per session and set of options: ``tiny_decoder("qwen3", pooling="cls")``."""
    from tiny_decoders import build_decoder

    made: dict = {}

    def make(arch: str = "qwen3", **options):
        key = (arch, tuple(sorted(options.items())))
        if key not in made:
            made[key] = build_decoder(tmp_path_factory.mktemp(arch), arch, **options)
        return made[key]

    return make
