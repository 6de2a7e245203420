"""Text files are UTF-8 text or refused; texts without a visible character are dropped and
counted like empty lines (issue 23, class 7)."""

from __future__ import annotations

import json
import os
import sys

import pytest

from socm.errors import SocmError
from socm.inputs import load_corpus
from socm.inputs.text import has_visible, read_text_file

TEXTS = ["The first line.", "A second line.", "And a third one."]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("\n".join(TEXTS).encode("utf-16-le"), "looks like UTF-16, little-endian, without a byte"),
        ("\n".join(TEXTS).encode("utf-16-be"), "looks like UTF-16, big-endian"),
        ("\n".join(TEXTS).encode("utf-16"), "the file is UTF-16"),
        ("\n".join(TEXTS).encode("utf-32"), "the file is UTF-32"),
        (b"one\ntwo\x00three\n", "a NUL byte at line 2 (byte 7)"),
        (b"fine\nbad \xff byte\n", "not valid UTF-8 at line 2 (byte 9)"),
    ],
)
@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv", ".tsv"])
def test_files_that_are_not_utf8_text_are_refused(tmp_path, data, message, suffix):
    f = tmp_path / f"corpus{suffix}"
    f.write_bytes(data)
    with pytest.raises(SocmError) as exc:
        load_corpus(f)
    assert str(exc.value).startswith(f"{f}: ") and message in str(exc.value)


def test_a_bad_byte_is_found_in_a_later_block(tmp_path, monkeypatch):
    import socm.inputs.text as text

    monkeypatch.setattr(text, "BLOCK_BYTES", 7)
    f = tmp_path / "c.txt"
    f.write_bytes("ééé\nabc\nok\x00".encode())
    with pytest.raises(SocmError, match="a NUL byte at line 3 .byte 13."):
        read_text_file(f)
    f.write_bytes("aé\néé\n".encode() + b"\xff")  # the bad byte in the second block
    with pytest.raises(SocmError, match="not valid UTF-8 at line 3 .byte 9."):
        read_text_file(f)
    f.write_bytes("\ufeffééé\nabc\n".encode())  # a UTF-8 byte-order mark is dropped
    assert read_text_file(f) == "ééé\nabc\n"


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_at_once(capsys):
    from socm.cli import main

    with pytest.raises(SocmError, match="/dev/zero is a device"):
        load_corpus("/dev/zero")
    assert main(["measure", "--corpus", "/dev/zero", "--quiet"]) == 1
    assert "is a device, not a text file" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="no pipes as paths")
def test_a_pipe_is_read(tmp_path):
    import threading

    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text("\n".join(TEXTS) + "\n"))
    writer.start()
    assert load_corpus(fifo).texts == TEXTS
    writer.join()


def test_nul_characters_inside_texts_are_refused(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"text": "a\u0000b"}) + "\n")
    with pytest.raises(SocmError, match="line 1: the text holds a NUL character"):
        load_corpus(f)


def test_texts_without_a_visible_character_are_dropped_and_counted(tmp_path):
    invisible = [
        "\u200b\u200b",  # zero-width spaces
        "\u200d\u200c\u2060",  # joiners, word joiner
        "\ufeff",  # a byte-order mark inside the file
        "\u00a0\u3000\u3164",  # no-break space, ideographic space, Hangul filler
        "\u202e\u200e",  # direction marks
        "\u0301",  # a combining mark on its own
    ]
    f = tmp_path / "c.txt"
    f.write_text("\n".join(["kept one", *invisible, "", "kept two", "x\u200b"]) + "\n")
    corpus = load_corpus(f)
    assert corpus.texts == ["kept one", "kept two", "x\u200b"]
    assert corpus.n_dropped == len(invisible) + 1
    assert has_visible("日本") and has_visible("٣") and has_visible("😀")
    f.write_text("\u200b\n\u200c\n")
    with pytest.raises(SocmError, match="the corpus is empty .2 empty or invisible texts"):
        load_corpus(f)


def test_a_compressed_file_is_checked_once_decompressed(tmp_path):
    import gzip

    bad = tmp_path / "texts.txt.gz"
    bad.write_bytes(gzip.compress(b"one\ntwo\x00three\n"))
    with pytest.raises(SocmError, match="a NUL byte at line 2 \\(byte 7\\)"):
        load_corpus(str(bad))
    good = tmp_path / "texts.jsonl.gz"
    good.write_bytes(gzip.compress("\n".join(json.dumps({"text": t}) for t in TEXTS).encode()))
    assert load_corpus(str(good)).texts == TEXTS
