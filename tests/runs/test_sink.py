"""A run's pair sink: the local route (tiles added here) and the parts route (parts written by
workers, their sums merged here) give the same files and sums."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_tokens

from socm.core.pairs import PairResult, iter_pairwise
from socm.core.stats import token_stats
from socm.errors import SocmError
from socm.measure.rundir import pairs_dataset
from socm.runs import PairSink, write_part


@pytest.fixture
def scored(rng):
    texts = [token_stats(random_tokens(rng, int(rng.integers(2, 12)), 8)) for _ in range(12)]
    pairs = rng.integers(0, 12, (90, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    tiles = list(iter_pairwise(texts, pairs, chunk_pairs=25))
    labels = [("pos", "neg", None)[k % 3] for k in range(len(pairs))]
    return [f"t{k}" for k in range(12)], pairs, tiles, labels


def as_parts(sink: PairSink, tiles: list[PairResult]) -> None:
    """What a cluster backend does: each tile is a worker's, over its own texts."""
    sink.open_parts()
    start = 0
    for tile in tiles:
        texts, inv = np.unique(np.concatenate([tile.i, tile.j]), return_inverse=True)
        local = PairResult(inv[: len(tile)], inv[len(tile) :], **tile.columns)
        spec = sink.part(len(tile), texts, start)
        sink.merge(write_part(local, spec), texts)
        start += len(tile)


def test_both_routes_fill_the_same_sums_and_pairs(scored, tmp_path):
    ids, pairs, tiles, labels = scored
    here = PairSink(ids, tmp_path / "a.parquet", labels)
    for tile in tiles:
        here.add(tile)
    here.close()
    parts = PairSink(ids, tmp_path / "b.parquet", labels)
    as_parts(parts, tiles)
    parts.close()
    assert sorted(p.name for p in (tmp_path / "b.parquet").iterdir()) == [
        f"part-{k:06d}.parquet" for k in range(len(tiles))
    ]
    a = pairs_dataset(tmp_path / "a.parquet").to_table().to_pydict()
    b = pairs_dataset(tmp_path / "b.parquet").to_table().to_pydict()
    assert a == b and a["label"] == labels and a["text1_id"] == [ids[i] for i in pairs[:, 0]]
    ra, rb = here.result(n_listed=len(pairs)), parts.result(n_listed=len(pairs))
    for key, value in ra.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_allclose(rb[key], value, rtol=1e-12, err_msg=key)
        elif isinstance(value, float):
            assert rb[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
        else:
            assert rb[key] == value, key
    la, lb = here.per_label.result(), parts.per_label.result()
    assert la.keys() == lb.keys() == {"pos", "neg", "(none)"}
    for name, row in la.items():
        assert lb[name] == pytest.approx(row, rel=1e-12)


def test_a_missing_part_is_refused_and_strays_are_removed(scored, tmp_path):
    ids, _, tiles, _ = scored
    sink = PairSink(ids, tmp_path / "p.parquet")
    as_parts(sink, tiles)
    (tmp_path / "p.parquet" / ".part-000000.parquet.123.tmp").write_bytes(b"half")
    (tmp_path / "p.parquet" / "part-000001.parquet").unlink()
    with pytest.raises(SocmError, match=f"{len(tiles) - 1} parts where the tasks wrote"):
        sink.close()
    assert not list((tmp_path / "p.parquet").glob(".part-*"))


def test_no_pairs_file_and_no_pairs(scored, tmp_path):
    ids, _, tiles, _ = scored
    sink = PairSink(ids, None)
    as_parts(sink, tiles)
    sink.close()
    assert sink.acc.n_pairs == sum(len(t) for t in tiles)
    empty = PairSink(ids, tmp_path / "e.parquet")
    empty.open_parts()
    empty.close()  # one empty part with the columns
    table = pairs_dataset(tmp_path / "e.parquet").to_table()
    assert table.num_rows == 0 and table.column_names[:5] == [
        "text1_id",
        "text2_id",
        "d_mu",
        "d_sigma",
        "socm",
    ]


def test_an_empty_pairs_file_has_the_schema_dtypes(tmp_path):
    import dataclasses

    import pyarrow.parquet as pq

    from socm.core.schema import current_schema
    from socm.runs import PairsFile

    # a stored column of another dtype: the empty file keeps it, as a file with pairs would
    narrow = dataclasses.replace(current_schema()[0], name="narrow", dtype=np.float32)
    schema = (*current_schema(), narrow)
    f = PairsFile(tmp_path / "e.parquet", ["a", "b"], schema=schema)
    f.close()
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0
    assert str(table.schema.field("narrow").type) == "float"
    assert str(table.schema.field("d_sigma").type) == "double"
