"""Terminal output escapes control characters (issue 23, class 9): corpus texts, ids and file
names cannot clear the screen, set the window title, open hyperlinks or reorder a line."""

from __future__ import annotations

import json
import re

import pytest

from socm.cli import main

#: What a terminal would act on: C0 controls but tab and newline, DEL, C1, bidi overrides.
ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

NASTY = [
    "\x1b[2J\x1b[H the screen is cleared before this sentence about rivers and banks",
    "\x1b]0;owned window title\x07 a sentence about the weather in the mountains",
    "\x1b]8;;http://example.com\x1b\\a hyperlink\x1b]8;;\x1b\\ in a sentence about hyperlinks",
    "\u202eright to left override in a sentence about languages and scripts",
    "\x9b31m a one-character CSI in a sentence about terminals and colours",
    "A plain sentence about the history of the printing press in Europe.",
    "Another plain sentence about the printing press and its inventors.",
    "A third sentence, about rivers, banks and the weather in the spring.",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nasty")
    f = tmp / "nasty.jsonl"
    with f.open("w", encoding="utf-8") as out:
        for k, text in enumerate(NASTY):
            ident = f"\x1b]0;id{k}\x07-a-long-id-cut-inside-its-sequence" if k < 5 else f"t{k}"
            out.write(json.dumps({"id": ident, "text": text}) + "\n")
    return f


def test_mine_prints_texts_and_ids_escaped(corpus, tmp_path, capsys):
    args = ["mine", "--corpus", str(corpus), "--neighbors", "3", "--show", "8", "--quiet"]
    args += ["--out", str(tmp_path / "m"), "--cache-dir", str(tmp_path / "c"), "--device", "cpu"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert not ACTIVE.search(out) and not ACTIVE.search(err)
    assert "\\u001b" in out or "\\u009b" in out or "\\u202e" in out
    assert main([*args, "--json", "--overwrite"]) == 0
    out, _ = capsys.readouterr()
    assert not ACTIVE.search(out)
    texts = {p["text1"] for p in json.loads(out)["top_pairs"]}  # valid JSON, the texts intact
    texts |= {p["text2"] for p in json.loads(out)["top_pairs"]}
    assert texts <= set(NASTY) and any(ACTIVE.search(t) for t in texts)


def test_error_lines_are_escaped(tmp_path, capsys):
    missing = tmp_path / "\x1b]0;title\x07.txt"
    assert main(["measure", "--corpus", str(missing), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("socm: error: corpus file not found") and not ACTIVE.search(err)
    assert "\\u001b]0;title\\u0007.txt" in err and err.count("\n") == 1
