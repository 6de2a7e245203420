"""socm validate: the statistics against analytic cases and independent slow computations,
synthetic run folders, refusals, and a small real STS-B run with the packaged model."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.stats import rankdata, spearmanr

from socm.analyses.validate import (
    MEASURES,
    auc_below,
    bootstrap,
    near_indices,
    partial_spearman,
    rank_residuals,
    read_labelled_pairs,
    spearman,
    validate_run,
)
from socm.cli import main
from socm.core.metrics import socm_from_parts
from socm.errors import SocmError


# --------------------------------------------------------------------------- helpers
def write_run(
    folder,
    labels,
    d_mu,
    d_sigma,
    spread1,
    spread2,
    n_tok1=None,
    n_tok2=None,
    parts: int = 0,
    label_column: bool = True,
):
    """A run folder as socm measure --pairs writes it (summary.json, pairs.parquet, texts.jsonl);
    ``parts`` > 0 writes pairs.parquet as a folder of that many part files."""
    folder.mkdir(parents=True, exist_ok=True)
    n = len(d_mu)
    n_tok1 = np.full(n, 10) if n_tok1 is None else n_tok1
    n_tok2 = np.full(n, 12) if n_tok2 is None else n_tok2
    d_mu, d_sigma = np.asarray(d_mu, float), np.asarray(d_sigma, float)
    socm = socm_from_parts(d_mu, d_sigma)
    summary = {
        "model": "synthetic/model",
        "corpus": "synthetic",
        "numerics": "exact",
        "n_texts": 2 * n,
        "n_pairs": n,
        "avg_socm": float(socm.mean()),
        "avg_d_mu": float(d_mu.mean()),
        "avg_d_sigma": float(d_sigma.mean()),
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    cols = {
        "text1_id": pa.array([f"a{k}" for k in range(n)], pa.string()),
        "text2_id": pa.array([f"b{k}" for k in range(n)], pa.string()),
        "d_mu": d_mu,
        "d_sigma": d_sigma,
        "socm": socm,
    }
    if label_column:
        cols["label"] = pa.array([None if x is None else str(x) for x in labels], pa.string())
    table = pa.table(cols)
    if parts:
        (folder / "pairs.parquet").mkdir()
        for k, start in enumerate(range(0, n, math.ceil(n / parts))):
            chunk = table.slice(start, math.ceil(n / parts))
            pq.write_table(chunk, folder / "pairs.parquet" / f"part-{k:06d}.parquet")
    else:
        pq.write_table(table, folder / "pairs.parquet")
    with (folder / "texts.jsonl").open("w", encoding="utf-8") as f:
        for k in range(n):
            for side, tok, sp in (("a", n_tok1, spread1), ("b", n_tok2, spread2)):
                rec = {"id": f"{side}{k}", "text": "t", "n_tokens": int(tok[k])}
                rec["normalized_spread"] = float(sp[k])
                f.write(json.dumps(rec) + "\n")
    return folder


def synthetic(rng, n, noise=1.0):
    """Pairs whose label depends on the cosine and (negatively) on the relative d_sigma."""
    cos = rng.uniform(-0.2, 1.0, n)
    s1, s2 = rng.uniform(0.5, 2.5, n), rng.uniform(0.5, 2.5, n)
    rel = rng.uniform(0, 1, n)
    d_sigma = rel * (s1 + s2) / 4
    label = np.clip(2.5 + 3 * cos - 2 * rel + noise * rng.normal(size=n), 0, 5).round(1)
    n1, n2 = rng.integers(5, 40, n), rng.integers(5, 40, n)
    return label, (1 - cos) / 2, d_sigma, s1, s2, n1, n2


def slow_auc(label, score, threshold):
    """AUC by counting every (below, not below) pair: 1 when the below one scores higher."""
    pos = [s for lab, s in zip(label, score, strict=True) if lab < threshold]
    neg = [s for lab, s in zip(label, score, strict=True) if lab >= threshold]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def slow_partial(y, x, z):
    """Partial correlation from the inverse of the Spearman correlation matrix of (y, x, z):
    rho_yx.z = -P_yx / sqrt(P_yy P_xx), P the inverse (an independent route to the same
    quantity as the rank residuals)."""
    data = np.column_stack([y, x, z])
    r = np.corrcoef(rankdata(data, axis=0), rowvar=False)
    p = np.linalg.inv(r)
    return -p[0, 1] / math.sqrt(p[0, 0] * p[1, 1])


# --------------------------------------------------------------------------- statistics
def test_spearman_matches_scipy_with_ties(rng):
    y = rng.integers(0, 6, 300).astype(float)
    x = y + rng.normal(size=300)
    x[::7] = 1.0  # ties in both
    assert spearman(y, x) == pytest.approx(spearmanr(y, x).statistic, abs=1e-12)
    assert math.isnan(spearman(y, np.ones(300)))


@pytest.mark.parametrize("n_cov", [1, 3])
def test_partial_spearman_matches_the_inverse_correlation_matrix(rng, n_cov):
    n = 400
    z = rng.normal(size=(n, n_cov))
    z[:, 0] = np.round(z[:, 0], 1)  # ties in a covariate
    y = z.sum(1) + rng.normal(size=n)
    x = z[:, 0] - 0.5 * y + rng.normal(size=n)
    got = partial_spearman(y, x, z)
    assert got == pytest.approx(slow_partial(y, x, z), abs=1e-10)
    # and the rank residuals are what a full OLS with an intercept leaves
    design = np.column_stack([np.ones(n), rankdata(z, axis=0)])
    ry = rankdata(y)
    expect = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    np.testing.assert_allclose(rank_residuals(y, z)[:, 0], expect, atol=1e-9)


def test_partial_spearman_of_a_covariate_or_a_function_of_it_is_zero(rng):
    c = rng.normal(size=200)
    y = c + rng.normal(size=200)
    assert partial_spearman(y, c, c) == 0.0
    assert partial_spearman(y, np.exp(-c), c) == 0.0  # a decreasing function of it
    assert partial_spearman(y, c + rng.normal(size=200), c) != 0.0


def test_auc_matches_the_pairwise_count_with_ties(rng):
    label = rng.integers(0, 6, 120).astype(float)
    score = rng.integers(0, 8, 120).astype(float) - 0.3 * label  # many ties
    for t in (1.0, 2.5, 4.0):
        assert auc_below(label, score, t) == pytest.approx(slow_auc(label, score, t), abs=1e-12)
    assert auc_below(label, -label, 3) == 1.0  # the label itself, negated, separates perfectly
    assert auc_below(label, np.zeros(120), 3) == 0.5  # all tied: no information
    assert math.isnan(auc_below(label, score, -1))  # nothing below


def test_near_indices_take_the_largest_cosines():
    cos = np.array([0.1, 0.9, 0.5, 0.7, 0.3, 0.95, 0.2, 0.6, 0.8, 0.4])
    assert near_indices(cos, 0.5).tolist() == [5, 1, 8, 3, 7]
    assert near_indices(cos, 0.25).tolist() == [5, 1, 8]  # ceil(2.5)
    assert near_indices(cos, 0.1).tolist() == [5]


def test_bootstrap_of_a_mean_matches_the_normal_interval(rng):
    x = rng.normal(3.0, 2.0, 2000)
    est, ci, counts = bootstrap(lambda idx: np.array([x[idx].mean()]), len(x), 2000, seed=1)
    half = 1.96 * x.std() / math.sqrt(len(x))
    assert est[0] == pytest.approx(x.mean())
    assert ci[0, 0] == pytest.approx(x.mean() - half, abs=0.1 * half)
    assert ci[0, 1] == pytest.approx(x.mean() + half, abs=0.1 * half)
    assert counts[0] == 2000


# --------------------------------------------------------------------------- run folders
def test_label_a_monotone_function_of_cosine(tmp_path, rng):
    n = 200
    cos = rng.uniform(-0.5, 1.0, n)
    label = 5 * ((cos + 0.5) / 1.5) ** 2  # strictly increasing in the cosine
    s1, s2 = rng.uniform(0.5, 2, n), rng.uniform(0.5, 2, n)
    run = write_run(
        tmp_path / "r", label, (1 - cos) / 2, rng.uniform(0, 1, n) * (s1 + s2) / 4, s1, s2
    )
    r = validate_run(run, resamples=50)
    assert r["spearman"]["cosine"]["value"] == pytest.approx(1.0, abs=1e-12)
    assert r["spearman"]["d_mu"]["value"] == pytest.approx(-1.0, abs=1e-12)
    assert r["spearman"]["cosine"]["ci95"] == pytest.approx([1.0, 1.0], abs=1e-12)
    for key in ("partial_spearman_given_cosine", "partial_spearman_given_cosine_and_length"):
        # the label is a function of the cosine: no measure adds anything, not even d_sigma
        assert all(r[key][m]["value"] == 0.0 for m in MEASURES)
    for share, block in r["auc_near"].items():
        if r["near"][share]["n_below_threshold"]:
            assert block["cosine"]["value"] == 1.0  # below the threshold <=> smaller cosine
    assert r["threshold"] == pytest.approx((label.min() + label.max()) / 2)


def test_result_matches_independent_computations(tmp_path, rng):
    label, d_mu, d_sigma, s1, s2, n1, n2 = synthetic(rng, 300)
    run = write_run(tmp_path / "r", label, d_mu, d_sigma, s1, s2, n1, n2)
    r = validate_run(run, threshold=3.0, resamples=100)
    cos = 1 - 2 * d_mu
    rel = 4 * d_sigma / (s1 + s2)
    values = {"cosine": cos, "d_mu": d_mu, "d_sigma": d_sigma, "relative_d_sigma": rel}
    values["socm"] = (1 - d_mu) * d_sigma
    for m, v in values.items():
        assert r["spearman"][m]["value"] == pytest.approx(spearmanr(label, v).statistic, abs=1e-12)
    for m in ("d_sigma", "socm", "relative_d_sigma"):
        got = r["partial_spearman_given_cosine"][m]["value"]
        assert got == pytest.approx(slow_partial(label, values[m], cos), abs=1e-10)
        got = r["partial_spearman_given_cosine_and_length"][m]["value"]
        z = np.column_stack([cos, n1, n2])
        assert got == pytest.approx(slow_partial(label, values[m], z), abs=1e-10)
    # the relative d_sigma was built into the label with a negative sign
    lo, hi = r["partial_spearman_given_cosine"]["relative_d_sigma"]["ci95"]
    assert hi < 0
    for share in ("0.5", "0.25", "0.1"):
        k = math.ceil(float(share) * 300)
        near = np.argsort(-cos, kind="stable")[:k]
        assert r["near"][share]["n_pairs"] == k
        for m, v in values.items():
            sign = -1 if m == "cosine" else 1
            expect = slow_auc(label[near], sign * v[near], 3.0)
            assert r["auc_near"][share][m]["value"] == pytest.approx(expect, abs=1e-12)
    # every interval holds its estimate here, and the result is JSON
    for key in ("spearman", "partial_spearman_given_cosine"):
        for m in ("d_sigma", "relative_d_sigma"):
            v, (lo, hi) = r[key][m]["value"], r[key][m]["ci95"]
            assert lo <= v <= hi
    assert json.loads(json.dumps(r)) == r
    assert r["bootstrap"]["unit"] == "pairs" and "independent" in r["bootstrap"]["note"]


def test_intervals_shrink_with_more_pairs(tmp_path, rng):
    widths = []
    for n in (100, 1600):
        run = write_run(tmp_path / f"r{n}", *synthetic(rng, n))
        r = validate_run(run, resamples=200, seed=3)
        lo, hi = r["partial_spearman_given_cosine"]["relative_d_sigma"]["ci95"]
        widths.append(hi - lo)
    assert widths[1] < 0.5 * widths[0]  # about 1/4 expected (width ~ 1/sqrt(n))


def test_a_folder_of_parts_and_unlabelled_pairs(tmp_path, rng):
    label, *rest = synthetic(rng, 120)
    one = validate_run(write_run(tmp_path / "one", label, *rest), resamples=30)
    parts = validate_run(write_run(tmp_path / "parts", label, *rest, parts=4), resamples=30)
    for key in ("spearman", "partial_spearman_given_cosine", "auc_near"):
        assert parts[key] == one[key]
    with_gaps = [None if k % 10 == 0 else x for k, x in enumerate(label)]
    r = validate_run(write_run(tmp_path / "gaps", with_gaps, *rest), resamples=30)
    assert r["n_pairs"] == 108 and r["n_unlabelled"] == 12


def test_msmarco_labels_are_relevance_one_and_zero(tmp_path, rng):
    n = 60
    rel = rng.uniform(size=n) < 0.4
    cos = np.where(rel, 0.6, 0.2) + 0.2 * rng.normal(size=n)
    labels = ["relevant" if x else "nonrelevant" for x in rel]
    s = np.ones(n)
    run = write_run(tmp_path / "mm", labels, (1 - cos) / 2, 0.2 * s, s, s)
    r = validate_run(run, resamples=30)
    assert r["labels"]["source"].startswith("socm msmarco labels") and r["threshold"] == 0.5
    data = read_labelled_pairs(run)
    np.testing.assert_array_equal(data.label, rel.astype(float))
    assert r["spearman"]["cosine"]["value"] > 0.5


# --------------------------------------------------------------------------- refusals
def _refused(tmp_path, capsys, run, message, *flags):
    with pytest.raises(SocmError) as exc:
        validate_run(run, resamples=5)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    code = main(["validate", str(run), "--bootstrap", "5", *flags])
    out, err = capsys.readouterr()
    assert code == 1 and out == "" and err.count("\n") == 1 and message in err


def test_refusals(tmp_path, capsys, rng):
    label, *rest = synthetic(rng, 30)
    run = write_run(tmp_path / "nolabel", label, *rest, label_column=False)
    _refused(tmp_path, capsys, run, "pairs.parquet: no label column")
    run = write_run(tmp_path / "null", [None] * 30, *rest)
    _refused(tmp_path, capsys, run, "pairs.parquet: no pair has a label")
    bad = [str(x) for x in label]
    bad[4], bad[9] = "similar", "other"
    run = write_run(tmp_path / "text", bad, *rest)
    _refused(tmp_path, capsys, run, "label 'similar' is not a number")
    run = write_run(tmp_path / "inf", ["inf", *label[1:]], *rest)
    _refused(tmp_path, capsys, run, "label 'inf' is not a number")
    few = [x if k < 9 else None for k, x in enumerate(label)]
    run = write_run(tmp_path / "few", few, *rest)
    _refused(tmp_path, capsys, run, "9 labelled pairs; validate needs at least 10")
    run = write_run(tmp_path / "const", ["3.0"] * 30, *rest)
    _refused(tmp_path, capsys, run, "every label is '3.0'")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "mine_summary.json").write_text("{}")
    _refused(tmp_path, capsys, mine, "a socm mine folder")
    _refused(tmp_path, capsys, tmp_path / "absent", "run folder not found")


def test_threshold_and_flags_are_checked(tmp_path, capsys, rng):
    run = write_run(tmp_path / "r", *synthetic(rng, 40))
    with pytest.raises(SocmError, match="threshold 9 leaves every label below it"):
        validate_run(run, threshold=9, resamples=5)
    with pytest.raises(SocmError, match="shares of the closest pairs must lie in"):
        validate_run(run, shares=(0.5, 0), resamples=5)
    assert main(["validate", str(run), "--out", str(tmp_path / "fig.jpg")]) == 1
    assert "--out takes a .png, .svg or .pdf file" in capsys.readouterr().err


# --------------------------------------------------------------------------- real pairs
@pytest.fixture(scope="module")
def sts_run(shared_data, tmp_path_factory):
    """The first 80 STS-B test pairs scored with the packaged all-MiniLM-L6-v2."""
    out = tmp_path_factory.mktemp("sts") / "run"
    args = ["sts", str(shared_data / "stsb" / "sts-test.csv"), "--first", "80"]
    assert main([*args, "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    return out


def test_validate_a_real_sts_run(sts_run, tmp_path, capsys):
    capsys.readouterr()
    fig = tmp_path / "validate.png"
    code = main(["validate", str(sts_run), "--json", "--bootstrap", "200", "--out", str(fig)])
    assert code == 0
    r = json.loads(capsys.readouterr().out)
    lab = r["labels"]
    assert r["n_pairs"] == 80 and r["threshold"] == (lab["min"] + lab["max"]) / 2
    for key in (
        "spearman",
        "partial_spearman_given_cosine",
        "partial_spearman_given_cosine_and_length",
    ):
        assert set(r[key]) == set(MEASURES)
        assert all(set(v) == {"value", "ci95"} for v in r[key].values())
    assert set(r["auc_near"]) == {"0.5", "0.25", "0.1"}
    # mean pooling's cosine follows human similarity on STS-B (0.82 on all 1,379 pairs)
    assert r["spearman"]["cosine"]["value"] > 0.6 and r["spearman"]["cosine"]["ci95"][0] > 0.4
    assert r["spearman"]["d_mu"]["value"] == pytest.approx(-r["spearman"]["cosine"]["value"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the table names the intervals' method
    assert main(["validate", str(sts_run), "--bootstrap", "50", "--threshold", "3"]) == 0
    text = capsys.readouterr().out
    assert "AUC for label < 3" in text and "resamples of the pairs" in text


def test_figure_has_one_panel_per_cosine_bin(tmp_path, rng):
    from socm.output.validation import validation_figure, write_validation_figure

    label, d_mu, *rest = synthetic(rng, 150)
    run = write_run(tmp_path / "r", label, d_mu, *rest)
    fig = validation_figure(run, threshold=2.5)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5 and all("30 pairs" in t for t in titles)
    # equal-count bins in cosine order: each title's range starts where the last one ended
    cos = np.sort(1 - 2 * d_mu)
    assert titles[0].startswith(f"cosine {cos[0]:.2f} to {cos[29]:.2f}")
    out = write_validation_figure(run, tmp_path / "v.svg")
    assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")
