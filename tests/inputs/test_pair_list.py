"""Pair lists: headers by their names, unknown ids always refused, repeats warned about."""

from __future__ import annotations

import pytest

from socm.errors import SocmError, SocmWarning
from socm.inputs.pair_list import read_pairs_file

IDS = {"0", "1", "2", "3"}


def write(tmp_path, text):
    f = tmp_path / "pairs.tsv"
    f.write_text(text)
    return f


@pytest.mark.parametrize(
    "header", ["text1_id\ttext2_id", "query\tnegative", "anchor,positive", "id1 id2 label"]
)
def test_header_is_recognised_by_its_names(tmp_path, header):
    rows = read_pairs_file(write(tmp_path, f"{header}\n0\t1\n2\t3\n"), IDS)
    assert [r[:2] for r in rows] == [("0", "1"), ("2", "3")]


def test_unknown_first_row_is_an_error_not_a_header(tmp_path):
    with pytest.raises(SocmError, match=r"2 text ids are not in the corpus, e\.g\. x, y"):
        read_pairs_file(write(tmp_path, "x\ty\n0\t1\n"), IDS)
    with pytest.raises(SocmError, match=r"1 text id is not in the corpus, e\.g\. 9"):
        read_pairs_file(write(tmp_path, "0\t9\n"), IDS)  # the only row: says so
    with pytest.raises(SocmError, match="no pairs found"):
        read_pairs_file(write(tmp_path, "text1_id\ttext2_id\n"), IDS)


def test_self_pairs_are_refused_and_repeats_warned_once(tmp_path):
    with pytest.raises(SocmError, match=r"1 pair\(s\) of a text with itself \(line 2"):
        read_pairs_file(write(tmp_path, "0\t1\n2\t2\n"), IDS)
    with pytest.warns(
        SocmWarning, match=r"2 pair\(s\) listed more than once \(1 of them reversed\)"
    ):
        rows = read_pairs_file(write(tmp_path, "0\t1\n1\t0\n0\t1\n2\t3\n"), IDS)
    assert len(rows) == 4  # kept as listed, and said so
