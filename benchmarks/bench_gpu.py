"""GPU benchmark of socm: pair engine, encoder, Ray encode actor (without Ray) and mining.

Self-contained: synthetic inputs only, no corpus files, no network, no faiss, no Ray. The
encoder is a *randomly initialised* all-MiniLM-L6-v2 (BERT, 6 layers, D = 384) built from the
real config with ``torch.manual_seed(0)`` and saved to a temporary folder, next to the real
tokenizer; it has the real model's cost, not its outputs. Texts are random words from the
tokenizer's vocabulary (8-40 words, seeded).

Sections (each in its own ``try``; a failure is recorded and the next one runs):

1. ``engine``: :func:`socm.core.pairs.pairwise` on the accelerator vs the CPU. All pairs of
   300 synthetic token lists (5-60 tokens, D = 384), numerics ``"exact"`` and ``"paper"``:
   max |diff| of d_mu, d_sigma, socm. Then all 499,500 pairs of 1,000 texts (statistics
   computed once, timed apart), pairs/s on each device after a warm-up; ``"paper"`` on the
   CPU over the first 500 texts only (about 7x slower than ``"exact"`` there).
2. ``encoder``: :class:`socm.encode.Encoder` (no cache) on 20,000 texts on the accelerator at
   batch sizes 32 (default) and 256, with ``attn_implementation="eager"`` at 256, and with the
   loaded model cast to bfloat16 at 256 (not an Encoder option: measured by casting
   ``enc.model`` in place, to see what a dtype option would give); the same Encoder on the CPU for
   1,000 texts. Agreement of CPU and accelerator token embeddings of 200 texts (max abs diff)
   and of their all-pairs SOCM (CPU engine on both, and the full accelerator path).
3. ``actor``: :class:`socm.backends.ray.EncodeActor` called directly (Ray is not imported:
   checked) on the 20,000 texts in batches of 512 (``ENCODE_BATCH_TEXTS``), texts/s per actor
   against section 2's batch-32 rate, and its means against ``token_stats`` of section 2.
4. ``mine``: :func:`socm.core.mine.mine` on 10,000 synthetic token lists (5-40 tokens,
   D = 384), ``search="exact"``, 10 neighbours, on the accelerator vs the CPU: same candidate
   pairs, max |diff| of every score column, same ranking, seconds per stage.

Results are printed and written (after every section, so a time-out keeps what finished) as
JSON to ``--out``, with the device name and library versions. Prepare the model files once
(``.venv/bin/python benchmarks/prep_gpu.py``: config and tokenizer of all-MiniLM-L6-v2 into
``.gpu/minilm-random/``, no weights), then on the GPU machine, from the repository root::

    PYTHONPATH=src HF_HUB_OFFLINE=1 python benchmarks/bench_gpu.py --out $OUT/bench_gpu.json

``--quick`` uses tiny sizes (a test of the script, e.g. ``--quick --device cpu`` on a laptop);
with ``--device cpu``, or when CUDA is missing, the "accelerator" side runs on the CPU.
``--budget S`` skips the sections that would start after S seconds (default 420).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DIM = 384
HEAVY = ("matplotlib", "faiss", "ray", "pandas", "sklearn", "hnswlib")

SIZES = {
    "full": {
        "parity_texts": 300,
        "engine_texts": 1000,
        "paper_cpu_texts": 500,
        "enc_texts": 20000,
        "enc_cpu_texts": 1000,
        "enc_compare": 200,
        "actor_batch": 512,
        "mine_texts": 10000,
        "neighbors": 10,
    },
    "quick": {
        "parity_texts": 40,
        "engine_texts": 120,
        "paper_cpu_texts": 60,
        "enc_texts": 300,
        "enc_cpu_texts": 100,
        "enc_compare": 30,
        "actor_batch": 64,
        "mine_texts": 400,
        "neighbors": 5,
    },
}


# ---------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, flush=True)


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def peak_gib(dev: torch.device) -> float | None:
    if dev.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(dev) / 2**30, 3)


def reset_peak(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)


def heavy_loaded() -> list[str]:
    return [m for m in HEAVY if m in sys.modules]


def token_lists(n: int, lo: int, hi: int, seed: int) -> list[np.ndarray]:
    """Anisotropic token embeddings around a shared offset (like real encoders'), float32."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=DIM) * 1.5
    scale = rng.uniform(0.2, 1.5, size=DIM)
    counts = rng.integers(lo, hi + 1, size=n)
    return [(base + rng.normal(size=(int(k), DIM)) * scale).astype(np.float32) for k in counts]


def synthetic_texts(vocab_file: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` texts of 8-40 random whole words of the tokenizer's vocabulary."""
    words = [
        w
        for w in vocab_file.read_text(encoding="utf-8").splitlines()
        if w.isalpha() and w.isascii() and len(w) > 1
    ]
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 41, size=n)
    picks = rng.integers(0, len(words), size=int(lengths.sum()))
    out, pos = [], 0
    for k in lengths:
        out.append(" ".join(words[p] for p in picks[pos : pos + k]) + ".")
        pos += k
    return out


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if len(a) else 0.0


def pair_diffs(ra: Any, rb: Any) -> dict[str, Any]:
    same = bool(np.array_equal(ra.i, rb.i) and np.array_equal(ra.j, rb.j))
    return {
        "same_pairs": same,
        **{
            f"max_abs_diff_{f}": max_diff(getattr(ra, f), getattr(rb, f))
            for f in ("d_mu", "d_sigma", "socm")
        },
    }


def build_random_model(src: Path, dest: Path) -> dict[str, Any]:
    """A randomly initialised model from ``src``'s config, saved with its tokenizer in
    ``dest`` (a folder :class:`socm.encode.Encoder` loads like any local model)."""
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    config = AutoConfig.from_pretrained(src)
    torch.manual_seed(0)
    model = AutoModel.from_config(config)
    model.save_pretrained(dest, safe_serialization=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "config.json":
            shutil.copy2(f, dest / f.name)
    n_params = sum(p.numel() for p in model.parameters())
    del model
    return {"params": n_params, "seconds": round(time.perf_counter() - t0, 2)}


# ---------------------------------------------------------------------------- sections
def section_engine(ctx: dict) -> dict:
    from socm.core.pairs import pairwise
    from socm.core.stats import token_stats_many

    acc, sz, out = ctx["acc"], ctx["sizes"], {}
    texts = token_lists(sz["parity_texts"], 5, 60, seed=1)
    out["parity"] = {"n_texts": len(texts), "n_pairs": len(texts) * (len(texts) - 1) // 2}
    for numerics in ("exact", "paper"):
        t0 = time.perf_counter()
        ra = pairwise(texts, numerics=numerics, device=acc)
        t1 = time.perf_counter()
        rc = pairwise(texts, numerics=numerics, device="cpu")
        t2 = time.perf_counter()
        d = pair_diffs(ra, rc)
        d.update(acc_s=round(t1 - t0, 3), cpu_s=round(t2 - t1, 3))
        out["parity"][numerics] = d
        log(
            f"  parity {numerics:5s} ({len(texts)} texts): same pairs {d['same_pairs']}, "
            f"max|d| d_mu {d['max_abs_diff_d_mu']:.2e} d_sigma {d['max_abs_diff_d_sigma']:.2e} "
            f"socm {d['max_abs_diff_socm']:.2e} (acc {d['acc_s']:.2f} s, cpu {d['cpu_s']:.2f} s"
            ", acc time includes warm-up)"
        )

    texts = token_lists(sz["engine_texts"], 5, 60, seed=2)
    n = len(texts)
    n_pairs = n * (n - 1) // 2
    t0 = time.perf_counter()
    stats = token_stats_many(texts)
    stats_s = time.perf_counter() - t0
    tok = sum(len(t) for t in texts)
    out["timing"] = {"n_texts": n, "n_pairs": n_pairs, "tokens": tok, "stats_s": round(stats_s, 3)}
    log(f"  token_stats of {n} texts ({tok} tokens, CPU): {stats_s:.2f} s")
    pairwise(stats[: min(200, n)], device=acc)  # warm-up (kernels, cuSOLVER handles)
    results = {}
    for numerics in ("exact", "paper"):
        for name, dev in (("acc", acc), ("cpu", torch.device("cpu"))):
            # the paper numerics are ~7x slower on the CPU: time them on fewer texts there
            m = sz["paper_cpu_texts"] if (numerics, name) == ("paper", "cpu") else n
            m_pairs = m * (m - 1) // 2
            reset_peak(dev)
            sync(dev)
            t0 = time.perf_counter()
            res = pairwise(stats[:m], numerics=numerics, device=dev)
            sync(dev)
            s = time.perf_counter() - t0
            results[(numerics, name)] = res
            row = {
                "n_texts": m,
                "n_pairs": m_pairs,
                "seconds": round(s, 3),
                "pairs_per_s": round(m_pairs / s),
                "peak_gib": peak_gib(dev),
            }
            out["timing"][f"{numerics}_{name}"] = row
            log(
                f"  all pairs {numerics:5s} on {name} ({dev}), {m} texts: {s:.2f} s, "
                f"{m_pairs / s:,.0f} pairs/s"
            )
        ra, rc = results[(numerics, "acc")], results[(numerics, "cpu")]
        if len(rc) < len(ra):  # compare the pairs among the first m texts
            keep = (ra.i < sz["paper_cpu_texts"]) & (ra.j < sz["paper_cpu_texts"])
            ra = ra.take(keep)
        d = pair_diffs(ra, rc)
        out["timing"][f"{numerics}_diff"] = d
        out["timing"][f"{numerics}_speedup_pairs_per_s"] = round(
            out["timing"][f"{numerics}_acc"]["pairs_per_s"]
            / out["timing"][f"{numerics}_cpu"]["pairs_per_s"],
            2,
        )
        log(
            f"  {numerics}: speed-up acc/cpu (pairs/s) "
            f"x{out['timing'][f'{numerics}_speedup_pairs_per_s']}, "
            f"max|d socm| {d['max_abs_diff_socm']:.2e}"
        )
    return out


def _encode_run(enc: Any, texts: list[str], keep: int) -> tuple[dict, list[np.ndarray]]:
    sync(enc.device)
    t0 = time.perf_counter()
    res = enc.encode(texts)
    sync(enc.device)
    s = time.perf_counter() - t0
    tokens = int(sum(res.n_tokens))
    row = {
        "n_texts": len(texts),
        "seconds": round(s, 3),
        "texts_per_s": round(len(texts) / s, 1),
        "tokens_per_s": round(tokens / s),
        "load_s": round(res.load_seconds, 3),
        "n_truncated": res.n_truncated,
    }
    return row, res.embeddings[:keep]


def section_encoder(ctx: dict) -> dict:
    from socm.core.pairs import pairwise
    from socm.encode import Encoder

    acc, sz, model, texts = ctx["acc"], ctx["sizes"], ctx["model_dir"], ctx["texts"]
    keep = sz["enc_compare"]
    out: dict[str, Any] = {"n_texts": len(texts), "model": ctx["model_info"]}
    out["mean_words"] = round(float(np.mean([t.count(" ") + 1 for t in texts])), 1)

    enc = Encoder(str(model), device=str(acc), cache_dir=None)
    t0 = time.perf_counter()
    tokens = enc.prepare(texts)
    out["prepare_s"] = round(time.perf_counter() - t0, 3)
    out["mean_tokens"] = round(float(np.mean([k.sum() for k in tokens["keep"]])), 1)
    log(
        f"  tokenising {len(texts)} texts (Encoder.prepare): {out['prepare_s']:.2f} s, "
        f"mean {out['mean_tokens']} tokens"
    )
    t0 = time.perf_counter()
    enc.encode(texts[:256])  # warm-up: model load, kernels
    out["warmup_s"] = round(time.perf_counter() - t0, 3)
    out["attn_implementation_default"] = getattr(enc.model.config, "_attn_implementation", None)

    runs: dict[str, dict] = {}
    embs: dict[str, list] = {}

    def record(label: str, e: Any, txt: list[str]) -> None:
        reset_peak(e.device)
        row, kept = _encode_run(e, txt, keep)
        row["peak_gib"] = peak_gib(e.device)
        runs[label], embs[label] = row, kept
        log(
            f"  {label:22s}: {row['n_texts']} texts in {row['seconds']:.2f} s = "
            f"{row['texts_per_s']:,.0f} texts/s ({row['tokens_per_s']:,} tokens/s)"
        )

    record("acc_fp32_bs32", enc, texts)
    ctx["acc_bs32_rate"] = runs["acc_fp32_bs32"]["texts_per_s"]
    ctx["acc_embeddings"] = embs["acc_fp32_bs32"]
    enc.unload()
    for label, opts in (
        ("acc_fp32_bs256", {"batch_size": 256}),
        ("acc_fp32_bs256_eager", {"batch_size": 256, "attn_implementation": "eager"}),
    ):
        try:
            e = Encoder(str(model), device=str(acc), cache_dir=None, **opts)
            e.encode(texts[:64])  # load and warm up
            record(label, e, texts)
            e.unload()
        except Exception as exc:
            runs[label] = {"error": f"{type(exc).__name__}: {exc}"}
            log(f"  {label}: FAILED {type(exc).__name__}: {exc}")
    try:  # not an Encoder option: cast the loaded model to see what bf16 would give
        e = Encoder(str(model), device=str(acc), batch_size=256, cache_dir=None)
        e.model.to(torch.bfloat16)  # in place (nn.Module.to): the encoder's own module
        e.encode(texts[:64])
        record("acc_bf16_cast_bs256", e, texts)
        e.unload()
    except Exception as exc:
        runs["acc_bf16_cast_bs256"] = {"error": f"{type(exc).__name__}: {exc}"}
        log(f"  acc_bf16_cast_bs256: FAILED {type(exc).__name__}: {exc}")

    e = Encoder(str(model), device="cpu", cache_dir=None)
    e.encode(texts[:16])
    record("cpu_fp32_bs32", e, texts[: sz["enc_cpu_texts"]])
    e.unload()
    out["runs"] = runs
    out["speedup_acc_bs32_vs_cpu"] = round(
        runs["acc_fp32_bs32"]["texts_per_s"] / runs["cpu_fp32_bs32"]["texts_per_s"], 2
    )

    # agreement: the same texts' token embeddings, and their all-pairs SOCM
    cpu_e, acc_e = embs["cpu_fp32_bs32"], embs["acc_fp32_bs32"]
    shapes = all(a.shape == b.shape for a, b in zip(cpu_e, acc_e, strict=True))
    cmp: dict[str, Any] = {"n_texts": len(cpu_e), "same_shapes": shapes}
    if shapes:
        cmp["max_abs_diff_tokens"] = max(max_diff(a, b) for a, b in zip(cpu_e, acc_e, strict=True))
        cmp["max_abs_token"] = float(max(np.abs(a).max() for a in cpu_e))
        ref = pairwise(cpu_e, device="cpu")
        cmp["max_abs_diff_socm_cpu_engine"] = max_diff(pairwise(acc_e, device="cpu").socm, ref.socm)
        cmp["max_abs_diff_socm_full_acc_path"] = max_diff(
            pairwise(acc_e, device=acc).socm, ref.socm
        )
        cmp["socm_range"] = [float(ref.socm.min()), float(ref.socm.max())]
        for label in ("acc_bf16_cast_bs256", "acc_fp32_bs256_eager"):
            if label in embs:
                other = embs[label]
                cmp[f"{label}_max_abs_diff_tokens"] = max(
                    max_diff(a, b) for a, b in zip(cpu_e, other, strict=True)
                )
                cmp[f"{label}_max_abs_diff_socm"] = max_diff(
                    pairwise(other, device="cpu").socm, ref.socm
                )
        log(
            f"  CPU vs acc ({len(cpu_e)} texts): max|d token| {cmp['max_abs_diff_tokens']:.2e} "
            f"(max|x| {cmp['max_abs_token']:.2f}), max|d SOCM| CPU engine "
            f"{cmp['max_abs_diff_socm_cpu_engine']:.2e}, full acc path "
            f"{cmp['max_abs_diff_socm_full_acc_path']:.2e} (SOCM range {cmp['socm_range'][0]:.3g}.."
            f"{cmp['socm_range'][1]:.3g})"
        )
        if "acc_bf16_cast_bs256_max_abs_diff_socm" in cmp:
            log(
                "  bf16 cast vs CPU fp32: max|d token| "
                f"{cmp['acc_bf16_cast_bs256_max_abs_diff_tokens']:.2e}, "
                f"max|d SOCM| {cmp['acc_bf16_cast_bs256_max_abs_diff_socm']:.2e}"
            )
    else:
        log("  CPU vs acc: token counts differ!")
    out["compare"] = cmp
    return out


def section_actor(ctx: dict) -> dict:
    import dataclasses

    before = set(heavy_loaded())
    import socm.backends.ray as ray_backend
    from socm.backends.ray import EncodeActor
    from socm.core.stats import token_stats
    from socm.measure.config import MeasureConfig

    acc, sz, texts = ctx["acc"], ctx["sizes"], ctx["texts"]
    out: dict[str, Any] = {
        "ray_imported": "ray" in sys.modules,
        "heavy_imported_by_actor": sorted(set(heavy_loaded()) - before),
        "ENCODE_BATCH_TEXTS": getattr(ray_backend, "ENCODE_BATCH_TEXTS", None),
        "module": getattr(EncodeActor, "__module__", None),
    }
    log(
        f"  import EncodeActor: ray imported {out['ray_imported']}, "
        f"heavy {out['heavy_imported_by_actor']}"
    )
    cfg = MeasureConfig(model=str(ctx["model_dir"]), no_cache=True, progress=False, device=str(acc))
    # as RayBackend._worker_config: absolute model path, no cache, no progress
    cfg = dataclasses.replace(
        cfg, model=str(Path(cfg.model).resolve()), cache_dir=None, progress=False
    )
    opts = {"cache_dtype": "float32", "attn_implementation": None}
    t0 = time.perf_counter()
    actor = EncodeActor(cfg, str(acc), opts)
    out["init_s"] = round(time.perf_counter() - t0, 3)
    if actor.error:
        raise RuntimeError(f"EncodeActor error: {actor.error}")
    bs = sz["actor_batch"]

    def batch(lo: int, hi: int) -> dict[str, np.ndarray]:
        return {
            "pos": np.arange(lo, hi, dtype=np.int64),
            "text": np.array(texts[lo:hi], dtype=object),
            "id": np.array([f"t{k}" for k in range(lo, hi)], dtype=object),
        }

    t0 = time.perf_counter()
    first = actor(batch(0, min(bs, len(texts))))  # loads the model
    out["first_batch_s"] = round(time.perf_counter() - t0, 3)
    out["first_batch_load_s"] = round(float(first["load_s"][0]), 3)
    sync(acc)
    reset_peak(acc)
    t0 = time.perf_counter()
    means, errors, n_done = [], [], 0
    for lo in range(0, len(texts), bs):
        res = actor(batch(lo, min(lo + bs, len(texts))))
        errors += [e for e in res["error"].tolist() if e]
        if lo < sz["enc_compare"]:
            means.append(res["mean"])
        n_done += len(res["pos"])
    sync(acc)
    s = time.perf_counter() - t0
    out.update(
        n_texts=n_done,
        batch_texts=bs,
        encoder_batch_size=cfg.batch_size,
        seconds=round(s, 3),
        texts_per_s=round(n_done / s, 1),
        errors=errors[:3],
        peak_gib=peak_gib(acc),
    )
    if ctx.get("acc_bs32_rate"):
        out["ratio_to_encoder_bs32"] = round(out["texts_per_s"] / ctx["acc_bs32_rate"], 3)
    log(
        f"  EncodeActor on {acc}: {n_done} texts in batches of {bs}: {s:.2f} s = "
        f"{out['texts_per_s']:,.0f} texts/s (x{out.get('ratio_to_encoder_bs32')} of Encoder "
        f"bs32); errors {len(errors)}; first batch {out['first_batch_s']:.2f} s"
    )
    if ctx.get("acc_embeddings") is not None:
        m = np.concatenate(means)[: sz["enc_compare"]]
        ref = np.stack([token_stats(e).mean for e in ctx["acc_embeddings"]])
        out["max_abs_diff_mean_vs_encoder"] = max_diff(m, ref[: len(m)])
        log(
            "  actor means vs token_stats(Encoder embeddings): "
            f"max|d| {out['max_abs_diff_mean_vs_encoder']:.2e}"
        )
    del actor
    return out


def section_mine(ctx: dict) -> dict:
    from socm.core.mine import mine

    acc, sz = ctx["acc"], ctx["sizes"]
    texts = token_lists(sz["mine_texts"], 5, 40, seed=3)
    k = sz["neighbors"]
    out: dict[str, Any] = {"n_texts": len(texts), "neighbors": k, "search": "exact"}
    res = {}
    for name, dev in (("acc", acc), ("cpu", torch.device("cpu"))):
        reset_peak(dev)
        t0 = time.perf_counter()
        r = mine(texts, neighbors=k, search="exact", device=dev)
        sync(dev)
        s = time.perf_counter() - t0
        res[name] = r
        out[name] = {
            "seconds": round(s, 3),
            "timings": {a: round(b, 3) for a, b in r.timings.items()},
            "n_candidates": int(r.n_candidates),
            "neighbor_info": {
                a: (b if isinstance(b, (int, float, str, bool)) else str(b))
                for a, b in r.neighbor_info.items()
            },
            "peak_gib": peak_gib(dev),
        }
        t = out[name]["timings"]
        log(f"  mine on {name} ({dev}): {s:.2f} s, {r.n_candidates} candidates; stages {t}")
    a, c = res["acc"], res["cpu"]
    pa = {(int(i), int(j)): n for n, (i, j) in enumerate(zip(a.i, a.j, strict=True))}
    pc = {(int(i), int(j)): n for n, (i, j) in enumerate(zip(c.i, c.j, strict=True))}
    same = set(pa) == set(pc)
    cmp: dict[str, Any] = {
        "same_candidate_set": same,
        "n_only_acc": len(set(pa) - set(pc)),
        "n_only_cpu": len(set(pc) - set(pa)),
        "same_ranking": bool(np.array_equal(a.i, c.i) and np.array_equal(a.j, c.j)),
    }
    common = sorted(set(pa) & set(pc))
    ia = np.array([pa[p] for p in common], dtype=np.int64)
    ic = np.array([pc[p] for p in common], dtype=np.int64)
    for f in ("cosine", "d_mu", "d_sigma", "socm", "relative_d_sigma"):
        cmp[f"max_abs_diff_{f}"] = max_diff(getattr(a, f)[ia], getattr(c, f)[ic])
    out["compare"] = cmp
    out["speedup"] = round(out["cpu"]["seconds"] / out["acc"]["seconds"], 2)
    log(
        f"  acc vs cpu: same candidates {same} (only acc {cmp['n_only_acc']}, only cpu "
        f"{cmp['n_only_cpu']}), same ranking {cmp['same_ranking']}, max|d socm| "
        f"{cmp['max_abs_diff_socm']:.2e}, max|d cosine| {cmp['max_abs_diff_cosine']:.2e}; "
        f"speed-up x{out['speedup']}"
    )
    return out


def section_eig(ctx: dict) -> dict:
    """Where batched symmetric eigenvalues are fastest: :func:`torch.linalg.eigvalsh` on the
    accelerator, :func:`socm.core.metrics.batched_eigvalsh` (the engine's choice) and the CPU
    in threads, for 20,000 matrices of each size; then all pairs of 1,000 texts with every
    eigenproblem on the accelerator up to 32 x 32 (the default) or none there."""
    from socm.core import metrics
    from socm.core.pairs import pairwise
    from socm.core.stats import token_stats_many

    acc, sz = ctx["acc"], ctx["sizes"]
    b = 2000 if ctx["sizes"] is SIZES["quick"] else 20000
    out: dict[str, Any] = {"batch": b, "micro": {}, "engine": {}}
    g = torch.Generator().manual_seed(0)
    for n in (8, 16, 24, 32, 33, 48, 64):
        a = torch.randn(b, n, n, generator=g, dtype=torch.float64)
        sym = a @ a.mT
        t0 = time.perf_counter()
        ref = metrics.eigvalsh_in_threads(sym)
        row = {"cpu_threads_s": round(time.perf_counter() - t0, 4)}
        dev = sym.to(acc)
        for name, fn in (
            ("acc_direct", torch.linalg.eigvalsh),
            ("engine", metrics.batched_eigvalsh),
        ):
            fn(dev[:64])  # warm-up
            sync(acc)
            t0 = time.perf_counter()
            lam = fn(dev)
            sync(acc)
            row[f"{name}_s"] = round(time.perf_counter() - t0, 4)
            row[f"{name}_max_rel_diff"] = float(
                ((lam.cpu() - ref).abs().amax(-1) / ref.abs().amax(-1)).max()
            )
        out["micro"][n] = row
        log(
            f"  eigvalsh {b} x {n}x{n}: cpu threads {row['cpu_threads_s']:.3f} s, "
            f"{acc} direct {row['acc_direct_s']:.3f} s (rel {row['acc_direct_max_rel_diff']:.1e})"
            f", engine {row['engine_s']:.3f} s"
        )
    texts = token_lists(sz["engine_texts"], 5, 60, seed=2)
    stats = token_stats_many(texts)
    ref = {}
    for numerics in ("exact", "paper"):
        t0 = time.perf_counter()
        ref[numerics] = pairwise(stats, numerics=numerics, device="cpu")
        out["engine"][f"{numerics}_cpu_s"] = round(time.perf_counter() - t0, 3)
    saved = metrics.CUDA_EIG_MAX
    try:
        for numerics in ("exact", "paper"):
            for eig_max in (32, 0):
                metrics.CUDA_EIG_MAX = eig_max
                pairwise(stats[:100], numerics=numerics, device=acc)  # warm-up
                t0 = time.perf_counter()
                res = pairwise(stats, numerics=numerics, device=acc)
                s = time.perf_counter() - t0
                d = pair_diffs(res, ref[numerics])
                out["engine"][f"{numerics}_acc_eigmax{eig_max}"] = {"seconds": round(s, 3), **d}
                log(
                    f"  all pairs {numerics} of {len(stats)} texts on {acc}, eigenproblems <= "
                    f"{eig_max} there: {s:.2f} s (cpu {out['engine'][f'{numerics}_cpu_s']:.2f} s)"
                    f", max|d socm| {d['max_abs_diff_socm']:.1e}"
                )
    finally:
        metrics.CUDA_EIG_MAX = saved
    return out


def section_ray(ctx: dict) -> dict:
    """The Ray backend on this machine (a local Ray instance, one GPU): encode the texts with
    :meth:`RayBackend.encode_stats` (a Ray Data actor on the GPU, statistics left in the object
    store) against :class:`LocalBackend` on the same GPU, then score mine-style candidates
    (listed pairs, each task given only its texts) and all pairs of 2,000 texts on Ray
    against the local engine. Needs Ray importable (``PYTHONPATH`` with an unpacked wheel)."""
    try:
        import ray.data  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"ray not importable: {exc}"}
    from socm.backends import LocalBackend
    from socm.backends.ray import RayBackend
    from socm.core.mine import MineOptions, find_candidates, score_candidates
    from socm.core.pairs import ScoreOptions, iter_pairwise
    from socm.measure.config import MeasureConfig
    from socm.measure.select import prepare

    acc, texts = ctx["acc"], ctx["texts"]
    tmp = Path(tempfile.mkdtemp(prefix="socm-bench-ray-"))
    corpus = tmp / "texts.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    base = {"corpus": str(corpus), "n_texts": "all", "model": str(ctx["model_dir"])}
    base |= {"no_cache": True, "progress": False, "device": acc.type}
    out: dict[str, Any] = {"n_texts": len(texts), "ray": sys.modules["ray"].__version__}

    cfg = MeasureConfig(**base, out=str(tmp / "local"))
    job = prepare(cfg, "measure")
    t0 = time.perf_counter()
    local, enc_local = LocalBackend().encode_stats(job.encoder.spec, job.texts, encoder=job.encoder)
    sync(acc)
    wall = time.perf_counter() - t0
    out["local"] = {
        "wall_s": round(wall, 3),
        "encode_s": round(enc_local.seconds, 3),
        "load_s": round(enc_local.load_seconds, 3),
        "texts_per_s_wall": round(len(texts) / wall, 1),
    }
    log(f"  local backend encode on {acc}: {len(texts)} texts, {wall:.2f} s wall")
    job.encoder.unload()

    cfg_r = MeasureConfig(**base, out=str(tmp / "ray"), backend="ray")
    job_r = prepare(cfg_r, "measure", device="cpu")
    t0 = time.perf_counter()
    backend = RayBackend(None, device=acc.type)
    with backend:
        out["start_s"] = round(time.perf_counter() - t0, 3)
        out["cluster"] = {k: v for k, v in backend.info().items() if k != "name"}
        t0 = time.perf_counter()
        held, enc_r = backend.encode_stats(job_r.encoder.spec, job_r.texts)
        wall = time.perf_counter() - t0
        out["ray"] = {
            "wall_s": round(wall, 3),
            "load_s": round(enc_r.load_seconds, 3),
            "texts_per_s_wall": round(len(texts) / wall, 1),
            "blocks": held.n_blocks,
            "actors": backend.encode_actors,
        }
        out["ray_over_local_wall"] = round(wall / out["local"]["wall_s"], 2)
        log(
            f"  ray backend encode ({backend.encode_actors} actor(s) on {backend.device}): "
            f"{wall:.2f} s wall, {held.n_blocks} blocks in the object store"
        )
        t0 = time.perf_counter()
        means = held.means()
        out["means_fetch_s"] = round(time.perf_counter() - t0, 3)
        out["max_abs_diff_means"] = max_diff(means, local.means())
        out["max_abs_diff_traces"] = max_diff(held.traces, local.traces)
        out["same_ranks"] = bool(np.array_equal(held.ranks, local.ranks))
        log(
            f"  ray vs local statistics: max|d mean| {out['max_abs_diff_means']:.2e}, "
            f"max|d trace| {out['max_abs_diff_traces']:.2e}, same ranks {out['same_ranks']}"
        )
        cand = find_candidates(means, MineOptions(neighbors=10, search="exact"), str(acc))
        t0 = time.perf_counter()
        how = ScoreOptions("exact", str(acc))
        ref = score_candidates(local.items, cand.pairs(), how)
        t_local = time.perf_counter() - t0
        t0 = time.perf_counter()
        got = backend.score_listed(held, cand.pairs(), how)
        t_ray = time.perf_counter() - t0
        out["listed"] = {
            "pairs": len(cand),
            "local_s": round(t_local, 3),
            "ray_s": round(t_ray, 3),
            "tasks": backend.score_tasks,
            "texts_sent": backend.chunk_texts,
            "max_abs_diff_socm": max(
                max_diff(got.columns[f], ref.columns[f]) for f in ("d_mu", "d_sigma", "socm")
            ),
        }
        log(
            f"  {len(cand):,} candidate pairs: local {t_local:.2f} s, ray {t_ray:.2f} s "
            f"({backend.score_tasks} tasks, {backend.chunk_texts:,} texts sent), "
            f"max|d| {out['listed']['max_abs_diff_socm']:.2e}"
        )
        n_all = min(2000, len(texts))
        sub = local.items[:n_all]
        t0 = time.perf_counter()
        ref_all = {}
        for t in iter_pairwise(sub, None, "exact", str(acc)):
            keys = zip(t.i.tolist(), t.j.tolist(), strict=True)
            ref_all.update(zip(keys, t.socm.tolist(), strict=True))
        t_local = time.perf_counter() - t0
        t0 = time.perf_counter()
        worst, count = 0.0, 0
        for t in backend.score(list(sub), None, how):
            for i, j, v in zip(t.i.tolist(), t.j.tolist(), t.socm.tolist(), strict=True):
                worst = max(worst, abs(v - ref_all[(i, j)]))
            count += len(t)
        t_ray = time.perf_counter() - t0
        out["all_pairs"] = {
            "texts": n_all,
            "pairs": count,
            "local_s": round(t_local, 3),
            "ray_s": round(t_ray, 3),
            "tasks": backend.score_tasks,
            "max_abs_diff_socm": worst,
        }
        log(
            f"  all {count:,} pairs of {n_all} texts: local {t_local:.2f} s, ray {t_ray:.2f} s "
            f"({backend.score_tasks} tasks), max|d socm| {worst:.2e}"
        )
    shutil.rmtree(tmp, ignore_errors=True)
    return out


# ---------------------------------------------------------------------------- main
def meta(acc: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    import transformers

    info: dict[str, Any] = {
        "accelerator": str(acc),
        "device_name": torch.cuda.get_device_name(acc)
        if acc.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()})",
        "cuda_available": torch.cuda.is_available(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        "quick": args.quick,
    }
    return info


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="JSON file to write")
    ap.add_argument("--device", default="cuda", help="accelerator side (cuda; cpu to test)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (test the script)")
    ap.add_argument("--model-src", type=Path, default=ROOT / ".gpu" / "minilm-random")
    ap.add_argument("--budget", type=float, default=420.0, help="no section starts after this (s)")
    ap.add_argument("--sections", default="engine,encoder,actor,mine,ray")
    args = ap.parse_args()

    start = time.perf_counter()
    want = torch.device(args.device)
    acc = want if (want.type != "cuda" or torch.cuda.is_available()) else torch.device("cpu")
    if acc.type == "cuda":
        torch.cuda.init()
    sys.path.insert(0, str(ROOT / "src"))
    results: dict[str, Any] = {"meta": meta(acc, args)}
    m = results["meta"]
    log(
        f"bench_gpu: {m['device_name']} | torch {m['torch']} (CUDA {m['torch_cuda']}) | "
        f"transformers {m['transformers']} | {m['cpu_count']} CPUs, {m['torch_threads']} torch "
        f"threads{' | QUICK' if args.quick else ''}"
    )
    if want.type == "cuda" and acc.type != "cuda":
        log("  (CUDA not available: the accelerator side runs on the CPU)")
    t0 = time.perf_counter()
    import socm.core.pairs

    results["meta"]["import_socm_core_s"] = round(time.perf_counter() - t0, 2)
    results["meta"]["socm_path"] = str(Path(socm.core.pairs.__file__).parents[1])
    results["meta"]["heavy_after_core_import"] = heavy_loaded()

    def write() -> None:
        results["meta"]["elapsed_s"] = round(time.perf_counter() - start, 1)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, default=str))

    tmp = Path(tempfile.mkdtemp(prefix="socm-bench-gpu-"))
    sizes = SIZES["quick" if args.quick else "full"]
    ctx: dict[str, Any] = {"acc": acc, "sizes": sizes}
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if {"encoder", "actor", "ray"} & set(sections):
        try:
            model_dir = tmp / "minilm-random"
            ctx["model_info"] = build_random_model(args.model_src, model_dir)
            ctx["model_dir"] = model_dir
            ctx["texts"] = synthetic_texts(args.model_src / "vocab.txt", sizes["enc_texts"])
            log(
                f"random model: {ctx['model_info']['params']:,} parameters, "
                f"built in {ctx['model_info']['seconds']} s"
            )
        except Exception as exc:
            results["model_error"] = traceback.format_exc()
            log(f"random model FAILED: {type(exc).__name__}: {exc}")
    funcs = {
        "engine": section_engine,
        "encoder": section_encoder,
        "actor": section_actor,
        "mine": section_mine,
        "ray": section_ray,
        "eig": section_eig,
    }
    try:
        for name in sections:
            elapsed = time.perf_counter() - start
            if elapsed > args.budget:
                results[name] = {"skipped": f"budget: {elapsed:.0f} s elapsed"}
                log(f"[{name}] skipped (budget, {elapsed:.0f} s elapsed)")
                continue
            log(f"[{name}]")
            t0 = time.perf_counter()
            try:
                results[name] = funcs[name](ctx)
            except Exception as exc:
                results[name] = {"error": traceback.format_exc()}
                log(f"  FAILED {type(exc).__name__}: {exc}")
                traceback.print_exc(limit=4)
            results[name]["section_s"] = round(time.perf_counter() - t0, 2)
            log(
                f"  ({name}: {results[name]['section_s']:.1f} s, "
                f"total {time.perf_counter() - start:.1f} s)"
            )
            write()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        results["meta"]["heavy_at_end"] = heavy_loaded()
        write()
    log(
        f"done in {time.perf_counter() - start:.1f} s" + (f"; wrote {args.out}" if args.out else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
