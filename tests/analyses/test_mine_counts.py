"""socm mine says what it did not measure whole: texts dropped as empty or invisible, texts
truncated, repeated texts kept (issue 23, rough edges)."""

from __future__ import annotations

import json

from socm.cli import main


def test_mine_reports_dropped_truncated_and_repeated_texts(wiki_head, tmp_path, capsys):
    lines = wiki_head.read_text(encoding="utf-8").splitlines()[:10]
    corpus = tmp_path / "c.txt"
    extra = ["", "\u200b\u200c", lines[2], lines[3], " ".join(lines[1:6])]
    corpus.write_text("\n".join([*lines, *extra]) + "\n", encoding="utf-8")
    args = ["mine", "--corpus", str(corpus), "--neighbors", "3", "--quiet", "--device", "cpu"]
    args += ["--max-length", "40", "--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "--keep-duplicates"]) == 0
    out = capsys.readouterr().out
    note = out.splitlines()[1]
    assert note.startswith("texts: 2 empty or invisible texts dropped; ")
    assert "truncated (only their first 40 tokens measured)" in note
    assert "2 repeated texts kept (--keep-duplicates)" in note
    assert main([*args, "--json", "--overwrite"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_dropped_empty"] == 2 and summary["n_truncated"] >= 1
    assert summary["n_duplicates_excluded"] == 2 and summary["n_duplicates_kept"] == 0
