"""What the benchmark scripts share: where the shared real-text data lives.

The data folder sits beside the project checkout (``../shared/data``, see its README); set
``SOCM_SHARED_DATA`` to point elsewhere. Run the benchmarks as scripts
(``python benchmarks/bench_*.py``), so that this module is importable as ``common``.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(
    os.environ.get("SOCM_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
WIKI_HEAD = SHARED_DATA / "wiki1m" / "wiki1m_head.txt"
