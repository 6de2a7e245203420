"""Decoder-sized numbers (issue 22): the pair engine at decoder widths, and a 0.6B-shaped Qwen3
on the CPU in float32 against bfloat16.

1. ``pairs``: all 499,500 pairs of 1,000 synthetic texts (8-64 tokens, low-rank tokens around
   a common offset, generated one text at a time) at D = 1,024, 2,560 and 4,096 with
   ``socm.pairwise``: time and peak RSS, each width in a fresh process.
2. ``model``: a randomly initialised Qwen3 with Qwen3-Embedding-0.6B's shape (28 layers,
   D = 1,024, 16 query / 8 key-value heads, 3,072 MLP; about 0.6B parameters), saved once in
   bfloat16 (so both runs use the same weights) with a byte-level BPE tokenizer trained on the
   sentences (16,000 tokens, EOS appended, left padding), encodes the first 1,000 sentences of
   the shared wiki1m head on the CPU with ``--dtype float32`` and ``--dtype bfloat16``: texts
   per second, and how far bfloat16 moves each text's normalised spread and every pair's SOCM.

    HF_HUB_OFFLINE=1 python benchmarks/bench_decoders.py [--part pairs|model|all]
        [--dims 1024 2560 4096] [--n-texts 1000] [--sentences 1000] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import WIKI_HEAD


class Synthetic:
    """``n`` texts of 8-64 tokens at width ``dim``, each generated from its own seed when read."""

    def __init__(self, n: int, dim: int, rank: int = 48) -> None:
        self.n, self.dim, self.rank = n, dim, rank
        self.offset = np.linspace(0.5, 1.5, dim)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> np.ndarray:
        rng = np.random.default_rng(k)
        n = int(rng.integers(8, 65))
        basis = rng.normal(size=(self.rank, self.dim)) / np.sqrt(self.rank)
        return (self.offset + rng.normal(size=(n, self.rank)) @ basis).astype(np.float32)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_pairs(dim: int, n: int) -> dict:
    import socm

    texts = Synthetic(n, dim)
    t0 = time.perf_counter()
    res = socm.pairwise(texts, device="cpu")
    seconds = time.perf_counter() - t0
    return {
        "part": "pairs",
        "dim": dim,
        "n_texts": n,
        "n_pairs": len(res),
        "seconds": round(seconds, 1),
        "pairs_per_s": round(len(res) / seconds),
        "peak_rss_mb": round(peak_mb()),
        "avg_socm": float(res.socm.mean()),
    }


def build_qwen3_06b(folder: Path, sentences: list[str]) -> None:
    """A random Qwen3 of Qwen3-Embedding-0.6B's shape, in bfloat16, with a BPE tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoModel, PreTrainedTokenizerFast, Qwen3Config

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=16000,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sentences, trainer)
    eos = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        padding_side="left",
        model_max_length=512,
    )
    fast.save_pretrained(folder)
    config = Qwen3Config(
        vocab_size=151669,
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
        max_position_embeddings=32768,
        rope_theta=1000000,
        tie_word_embeddings=True,
        pad_token_id=fast.pad_token_id,
        eos_token_id=eos,
    )
    torch.manual_seed(0)
    model = AutoModel.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": k, "name": str(k), "path": p, "type": f"sentence_transformers.models.{t}"}
                for k, (p, t) in enumerate(modules)
            ]
        )
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"embedding_dimension": 1024, "pooling_mode": "lasttoken"})
    )
    n_params = sum(p.numel() for p in model.parameters())
    (folder / "n_params.txt").write_text(str(n_params))


def child_model(folder: str, dtype: str, n: int, out: str) -> dict:
    from socm.encode import Encoder
    from socm.encode.pooling import reduce_encoded

    sentences = read_sentences(n)
    enc = Encoder(folder, device="cpu", dtype=dtype, batch_size=16)
    t0 = time.perf_counter()
    res = enc.encode(sentences)
    seconds = time.perf_counter() - t0
    stats = reduce_encoded(res)
    with open(out, "wb") as f:
        pickle.dump(stats, f)
    return {
        "part": "model",
        "dtype": dtype,
        "n_texts": n,
        "n_tokens": int(sum(res.n_tokens)),
        "encode_s": round(seconds, 1),
        "load_s": round(res.load_seconds, 1),
        "texts_per_s": round(n / (seconds - res.load_seconds), 2),
        "peak_rss_mb": round(peak_mb()),
        "params": int(Path(folder, "n_params.txt").read_text()),
    }


def read_sentences(n: int) -> list[str]:
    lines = [s.strip() for s in WIKI_HEAD.read_text(encoding="utf-8").splitlines() if s.strip()]
    return lines[:n]


def run_child(argv: list[str], env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["pairs", "model", "all"], default="all")
    ap.add_argument("--dims", type=int, nargs="+", default=[1024, 2560, 4096])
    ap.add_argument("--n-texts", type=int, default=1000)
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (None: torch's)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.child:
        kind, *rest = args.child
        if kind == "pairs":
            print(json.dumps(child_pairs(int(rest[0]), int(rest[1]))))
        elif kind == "model":
            print(json.dumps(child_model(rest[0], rest[1], int(rest[2]), rest[3])))
        return
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    threads = ["--threads", str(args.threads)] if args.threads else []
    print(f"load average before: {os.getloadavg()}", flush=True)
    if args.part in ("pairs", "all"):
        for dim in args.dims:
            rec = run_child([*threads, "--child", "pairs", str(dim), str(args.n_texts)], env)
            print(json.dumps(rec), f"load {os.getloadavg()[0]:.2f}", flush=True)
    if args.part in ("model", "all"):
        with tempfile.TemporaryDirectory(prefix="socm-qwen3-") as tmp:
            folder = Path(tmp) / "qwen3-0.6b-random"
            folder.mkdir()
            t0 = time.perf_counter()
            build_qwen3_06b(folder, read_sentences(args.sentences))
            print(f"built {folder.name} in {time.perf_counter() - t0:.0f} s", flush=True)
            recs = {}
            for dtype in ("float32", "bfloat16"):
                out = str(Path(tmp) / dtype)
                argv = [*threads, "--child", "model", str(folder), dtype, str(args.sentences), out]
                recs[dtype] = run_child(argv, env)
                print(json.dumps(recs[dtype]), f"load {os.getloadavg()[0]:.2f}", flush=True)
            compare_dtypes(tmp)


def compare_dtypes(tmp: str) -> None:
    """How far bfloat16 moves the spreads, top token shares, native cosines and every pair's
    SOCM (mean pooling) from float32."""
    import socm

    stats = {}
    for d in ("float32", "bfloat16"):
        with open(Path(tmp) / d, "rb") as f:
            stats[d] = pickle.load(f)
    traces = {d: np.array([s.trace for s in stats[d]]) for d in stats}
    shares = {d: np.array([s.top_token_share for s in stats[d]]) for d in stats}
    r32 = socm.pairwise(stats["float32"], device="cpu")
    r16 = socm.pairwise(stats["bfloat16"], device="cpu")
    rel_spread = np.abs(traces["bfloat16"] / traces["float32"] - 1)
    d = np.abs(r16.socm - r32.socm)
    print(
        json.dumps(
            {
                "part": "bf16_vs_fp32",
                "n_pairs": len(d),
                "avg_socm_fp32": float(r32.socm.mean()),
                "avg_socm_bf16": float(r16.socm.mean()),
                "socm_abs_diff_max": float(d.max()),
                "socm_abs_diff_mean": float(d.mean()),
                "socm_rel_diff_median": float(np.median(d[r32.socm > 0] / r32.socm[r32.socm > 0])),
                "n_pairs_socm_zero_fp32": int((r32.socm == 0).sum()),
                "d_mu_abs_diff_max": float(np.abs(r16.d_mu - r32.d_mu).max()),
                "spread_rel_diff_max": float(rel_spread.max()),
                "spread_rel_diff_median": float(np.median(rel_spread)),
                "top_token_share_median_fp32": float(np.nanmedian(shares["float32"])),
                "top_token_share_median_bf16": float(np.nanmedian(shares["bfloat16"])),
            }
        )
    )


if __name__ == "__main__":
    main()
