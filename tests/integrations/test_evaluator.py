"""SOCMEvaluator: equal to ``socm measure`` on the same texts, the token policy (prompts,
special tokens, padding side) against independent routes, and a real fine-tune on STS-B."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

pytest.importorskip("sentence_transformers")

from conftest import MODEL
from sentence_transformers import SentenceTransformer

from socm.cli import main
from socm.core.pairs import pairwise
from socm.core.stats import token_stats
from socm.core.uncertainty import pair_mean_ci
from socm.encode import Encoder
from socm.encode.models import resolve_model
from socm.errors import SocmError
from socm.integrations import SOCMEvaluator

TOL = 1e-6  # the tolerance: float32 forward passes batched differently


@pytest.fixture(scope="module")
def model_path() -> str:
    return resolve_model(MODEL).path


@pytest.fixture(scope="module")
def st_model(model_path) -> SentenceTransformer:
    return SentenceTransformer(model_path, device="cpu")


@pytest.fixture(scope="module")
def sts_rows(shared_data) -> list[list[str]]:
    path = shared_data / "stsb" / "sts-train.csv"
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def eval_texts(sts_rows) -> list[str]:
    """40 distinct STS-B train sentences (not among the fine-tune's pairs)."""
    texts = dict.fromkeys(s.strip() for row in sts_rows[-60:] for s in row[5:7])
    return list(texts)[:40]


def measure(texts: list[str], tmp_path: Path, *flags: str) -> tuple[dict, Path]:
    """``socm measure`` on ``texts`` (a .txt corpus, every text): its summary and folder."""
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["measure", "--corpus", str(corpus), "--n-texts", "all", "--out", str(out)]
    argv += ["--device", "cpu", "--no-cache", "--quiet", *flags]
    assert main(argv) == 0
    return json.loads((out / "summary.json").read_text()), out


def interval_from_pairs(run: Path, n: int) -> list[float]:
    """The 95% interval of a run's average SOCM, from its pairs.parquet through the
    per-text sums (infinite corpus, all or sampled pairs of n texts)."""
    t = pq.read_table(run / "pairs.parquet").to_pydict()
    i = np.array([int(x) for x in t["text1_id"]])
    j = np.array([int(x) for x in t["text2_id"]])
    v = np.array(t["socm"])
    sums = np.bincount(i, v, n) + np.bincount(j, v, n)
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    ci = pair_mean_ci(float(v.sum()), len(v), sums, counts, float((v * v).sum()), None)
    return ci["ci"]


@pytest.mark.parametrize(
    ("options", "flags"),
    [
        ({}, []),
        (
            {"exclude_special_tokens": True, "max_pairs": 300, "seed": 5},
            ["--exclude-special-tokens", "--max-pairs", "300", "--seed", "5"],
        ),
    ],
    ids=["all-pairs", "special-tokens-sampled-pairs"],
)
def test_equals_socm_measure(st_model, eval_texts, tmp_path, options, flags):
    ev = SOCMEvaluator(eval_texts, name="sts", batch_size=7, **options)
    got = ev(st_model, output_path=str(tmp_path / "eval"), epoch=1, steps=3)
    # the model's max_seq_length (256) is socm's --max-length
    summary, run = measure(eval_texts, tmp_path, "--max-length", "256", *flags)
    assert summary["n_pairs"] == options.get("max_pairs", 40 * 39 // 2)
    assert abs(got["sts_socm"] - summary["avg_socm"]) < TOL
    assert abs(got["sts_d_mu"] - summary["avg_d_mu"]) < TOL
    assert abs(got["sts_d_sigma"] - summary["avg_d_sigma"]) < TOL
    assert got["sts_spread_over_2"] == pytest.approx(summary["share_spread_over_2"], abs=1e-12)
    low, high = interval_from_pairs(run, len(eval_texts))
    assert abs(got["sts_socm_ci_low"] - low) < TOL and abs(got["sts_socm_ci_high"] - high) < TOL
    assert low < got["sts_socm"] < high
    assert ev.primary_metric == "sts_socm" and ev.greater_is_better is False
    with open(tmp_path / "eval" / "socm_evaluation_sts_results.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "steps", "socm", "socm_ci_low", "socm_ci_high", "d_mu",
                       "d_sigma", "spread_over_2"]  # fmt: skip
    assert rows[1][:2] == ["1", "3"] and float(rows[1][2]) == pytest.approx(got["sts_socm"])
    assert st_model.model_card_data.eval_results_dict[ev] == got


def test_prompts_and_include_prompt(model_path, eval_texts, tmp_path):
    """A prompt is prepended (as --prefix); with include_prompt=False its tokens ([CLS] and
    the prompt's own) are left out: against token embeddings from socm's Encoder."""
    texts = eval_texts[:12]
    prompt = "query: "
    model = SentenceTransformer(
        model_path, device="cpu", prompts={"query": prompt}, default_prompt_name="query"
    )
    with_prompt = SOCMEvaluator(texts, write_csv=False)(model)
    summary, _ = measure(texts, tmp_path, "--max-length", "256", "--prefix", prompt)
    assert abs(with_prompt["socm"] - summary["avg_socm"]) < TOL

    model.set_pooling_include_prompt(False)
    without = SOCMEvaluator(texts, write_csv=False)(model)
    enc = Encoder(model_path, prefix=prompt, max_length=256, device="cpu")
    k = len(enc.tokenizer(prompt)["input_ids"]) - 1  # [CLS] + prompt tokens, no [SEP]
    assert k == 3  # [CLS] query :
    expected = pairwise([e[k:] for e in enc.encode(texts).embeddings]).socm.mean()
    assert abs(without["socm"] - expected) < TOL
    assert abs(without["socm"] - with_prompt["socm"]) > 1e-3  # the prompt's tokens mattered

    named = SOCMEvaluator(texts, prompt_name="query", write_csv=False)(model)
    assert named["socm"] == pytest.approx(without["socm"], abs=1e-12)
    with pytest.raises(SocmError, match="no prompt named 'passage'"):
        SOCMEvaluator(texts, prompt_name="passage")(model)


class _TinyModule(torch.nn.Module):
    """A first module whose token embeddings depend only on the token ids (an embedding
    table), so a text's tokens are the same wherever the padding sits."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Embedding(50, 6)
        torch.nn.init.normal_(
            self.table.weight, 1.0, 1.0, generator=torch.Generator().manual_seed(0)
        )

    def forward(self, features: dict) -> dict:
        return {**features, "token_embeddings": self.table(features["input_ids"])}


class _TinyModel(torch.nn.Sequential):
    """Just what the evaluator uses of a SentenceTransformer: ``preprocess`` (text ids 3..,
    [CLS] = 1 and [SEP] = 2 around them, padding on ``side``), the first module, prompts."""

    def __init__(self, side: str, include_prompt: bool = True) -> None:
        super().__init__(_TinyModule())
        self.side, self.prompts, self.default_prompt_name = side, {"p": "a b "}, "p"
        self[0].include_prompt = include_prompt
        self.model_card_data = None

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def preprocess(self, texts: list[str], prompt: str | None = None) -> dict:
        rows = [[1, *(3 + ord(w[0]) % 40 for w in ((prompt or "") + t).split()), 2] for t in texts]
        width = max(map(len, rows))
        ids, mask = [], []
        for r in rows:
            pad = [0] * (width - len(r))
            ids.append(pad + r if self.side == "left" else r + pad)
            mask.append(
                [0] * len(pad) + [1] * len(r)
                if self.side == "left"
                else [1] * len(r) + [0] * len(pad)
            )
        out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        if prompt:
            out["prompt_length"] = 1 + len(prompt.split())  # [CLS] and the prompt's words
        return out


@pytest.mark.parametrize("include_prompt", [True, False])
def test_mask_by_attention_not_padding_side(include_prompt, monkeypatch):
    texts = ["c d e", "f g h i j k", "l", "m n o p"]
    evaluator = SOCMEvaluator(texts, batch_size=4, write_csv=False)
    monkeypatch.setattr(SOCMEvaluator, "store_metrics_in_model_card_data", lambda *a: None)
    got = {side: evaluator(_TinyModel(side, include_prompt)) for side in ("left", "right")}
    for key, value in got["left"].items():
        assert value == pytest.approx(got["right"][key], abs=1e-12), key
    # independent route: each text's token rows looked up one by one, no padding at all
    model = _TinyModel("right", include_prompt)
    skip = 0 if include_prompt else 3  # [CLS], "a", "b"
    tokens = [
        model[0].table(model.preprocess([t], prompt="a b ")["input_ids"][0]).detach()[skip:]
        for t in texts
    ]
    assert got["left"]["socm"] == pytest.approx(pairwise(tokens).socm.mean(), abs=1e-12)
    assert got["left"]["spread_over_2"] == np.mean([token_stats(x).trace > 2 for x in tokens])


def test_bad_arguments():
    with pytest.raises(SocmError, match="at least 2 texts"):
        SOCMEvaluator(["only one"])
    with pytest.raises(SocmError, match="text 1 is empty"):
        SOCMEvaluator(["a", "  "])
    with pytest.raises(SocmError, match="text 0 is int"):
        SOCMEvaluator([3, "b"])
    with pytest.raises(SocmError, match="max_pairs"):
        SOCMEvaluator(["a", "b"], max_pairs=0)
    with pytest.raises(ValueError, match="numerics"):
        SOCMEvaluator(["a", "b"], numerics="fast")


def test_fine_tune_logs_collapse(model_path, sts_rows, eval_texts, tmp_path):
    """A real fine-tune: MultipleNegativesRankingLoss on 128 STS-B train pairs, 4 steps of 16
    pairs on the CPU, the evaluator at the start and at the end."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    try:  # sentence-transformers 6
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:  # sentence-transformers 5
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    t0 = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    pairs = [(row[5], row[6]) for row in sts_rows[:128]]
    train = Dataset.from_dict({"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=4,
        per_device_train_batch_size=16,
        learning_rate=1e-4,
        eval_strategy="steps",
        eval_steps=4,
        eval_on_start=True,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        seed=0,
        dataloader_num_workers=0,
    )
    evaluator = SOCMEvaluator(eval_texts, name="sts", batch_size=20)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=train,
        loss=MultipleNegativesRankingLoss(model),
        evaluator=evaluator,
    )
    trainer.train()
    logged = [h for h in trainer.state.log_history if "eval_sts_socm" in h]
    assert [h["step"] for h in logged] == [0, 4]
    for h in logged:
        for metric in ("socm", "socm_ci_low", "socm_ci_high", "d_mu", "d_sigma", "spread_over_2"):
            assert np.isfinite(h[f"eval_sts_{metric}"])
    start, end = logged[0]["eval_sts_socm"], logged[1]["eval_sts_socm"]
    summary, _ = measure(eval_texts, tmp_path, "--max-length", "256")
    assert abs(start - summary["avg_socm"]) < TOL  # the untrained model is the packaged one
    assert abs(end - start) > 1e-4  # four steps at 1e-4 moved the embeddings
    with open(tmp_path / "out" / "eval" / "socm_evaluation_sts_results.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 3  # header, start, end
    assert time.perf_counter() - t0 < 120
