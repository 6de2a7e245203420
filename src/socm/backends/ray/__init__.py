"""The Ray backend: encode on an actor pool with Ray Data, score pairs as Ray tasks.

Scheduling only; every number comes from the same code as the local backend:

* **Encoding** (:mod:`~socm.backends.ray.encoding`):
  :meth:`ray.data.Dataset.map_batches` over the texts with a pool of actors
  (:class:`EncodeActor`; one GPU per actor when the cluster has GPUs, else one actor per node
  with the node's CPUs), each reducing its texts at once to
  :class:`~socm.core.stats.TokenStats`.
* **Statistics** (:mod:`~socm.backends.ray.blocks`): kept in the object store in blocks of
  consecutive texts (:class:`RemoteStats`), never gathered on the driver, which holds only
  the per-text traces and ranks (and the unit means when a mine job asks for them).
* **Scoring** (:mod:`~socm.backends.ray.scoring`): one task per tile of all pairs (two
  groups of blocks) or per chunk of listed pairs (given only its texts), retried by Ray when
  a worker or node dies (:mod:`~socm.backends.ray.tasks`). In a measure job each task writes
  its part of the run's ``pairs.parquet`` folder and sends back only its sums, merged by the
  driver into the summary; a mine job gets the candidates' scores back to rank them.

Ray is optional: ``pip install 'socm[ray]'``. Importing this package does not import Ray.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

from socm.backends.base import Backend
from socm.backends.ray.blocks import RemoteStats
from socm.backends.ray.cluster import (
    CONNECT_TIMEOUT_S,
    FAULT_ENV,
    LOCAL,
    auto_address,
    import_ray,
    probe,
    resolve_address,
)
from socm.backends.ray.encoding import ENCODE_BATCH_TEXTS, EncodeActor, RayEncoding
from socm.backends.ray.scoring import RayScoring
from socm.encode.models import one_line
from socm.errors import SocmError

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ENCODE_BATCH_TEXTS",
    "FAULT_ENV",
    "EncodeActor",
    "RayBackend",
    "RemoteStats",
    "import_ray",
    "resolve_address",
]


class RayBackend(RayEncoding, RayScoring, Backend):
    """Encode and score on a Ray cluster (see the module docstring for the layout).

    Parameters
    ----------
    address : str, optional
        ``host:port`` of a running cluster's head, ``ray://host:port`` (Ray Client) or
        ``auto`` (``RAY_ADDRESS``, else Ray's current-cluster file, probed first); None: the
        cluster ``RAY_ADDRESS`` names when it is set, else a new local Ray instance
        (``ray.init(address="local")``, never a cluster someone else started on this machine)
        that :meth:`close` stops again. When this process is already connected to Ray
        (``ray.init`` called before), that connection is used and left open.
    device : str, optional
        The run's ``--device``: None uses the cluster's GPUs when it has any (one per encode
        actor and per scoring task), else CPUs; ``"cpu"`` never uses GPUs; ``"cuda"``
        requires them.

    Raises
    ------
    SocmError
        Ray not installed (at construction); an unreachable address, or ``"cuda"`` on a
        cluster without GPUs (:meth:`start`).
    """

    name = "ray"
    collects = False  # the statistics stay in the object store (Ray spills it to disk)

    def __init__(self, address: str | None = None, device: str | None = None) -> None:
        self._ray = import_ray()
        self.address = resolve_address(address)
        if device is not None and device != "cpu" and not device.startswith("cuda"):
            raise SocmError(f"the ray backend runs on cuda or cpu workers, not {device!r}")
        self.device_request = device
        self._owned = False
        self._started = False
        self._stdout: contextlib.ExitStack | None = None
        self.use_gpu = False
        self.resources: dict[str, float] = {}
        self.nodes: list[dict] = []
        self.encode_actors = 0
        self.score_tasks = 0
        self.chunk_texts = 0

    # ------------------------------------------------------------------ connection
    def start(self) -> None:
        """Connect to the cluster (or start a local instance) and read its resources."""
        ray = self._ray
        if not ray.is_initialized():
            if self.address != LOCAL:
                probe(self.address)
            # stdout holds results (--json): Ray's own notices ("a worker died ...", printed to
            # stdout from a thread of its own) go to stderr while connected, and the workers'
            # output stays in the cluster's logs (task errors come back with the tasks)
            self._stdout = contextlib.ExitStack()
            self._stdout.enter_context(contextlib.redirect_stdout(sys.stderr))
            kwargs: dict[str, Any] = {
                "address": self.address,
                "logging_level": logging.WARNING,
                "log_to_driver": False,
            }
            if self.address == LOCAL:
                kwargs["include_dashboard"] = False
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                self.close()
                where = "a local Ray instance" if self.address == LOCAL else self.address
                raise SocmError(f"cannot connect to Ray at {where}: {one_line(exc)}") from None
            self._owned = True
        self._started = True
        self.resources = dict(ray.cluster_resources())
        self.nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus = int(self.resources.get("GPU", 0))
        want = self.device_request
        if want is not None and want.startswith("cuda") and gpus == 0:
            self.close()
            raise SocmError(f"--device {want} was asked for, but the Ray cluster has no GPUs")
        self.use_gpu = gpus > 0 and want != "cpu"

    def _where(self) -> str:
        """The cluster this backend connects to, as the summary records it."""
        if self.address == LOCAL:
            return "local instance"
        if self.address == "auto":
            return auto_address() or "auto"
        return self.address

    def close(self) -> None:
        """Disconnect, stopping the local instance :meth:`start` started, if any."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        if self._stdout is not None:
            self._stdout.close()
            self._stdout = None
        self._owned = self._started = False

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("use RayBackend as a context manager (or call start())")

    def driver_device(self) -> str | None:
        """The driver only tokenises: its encoder stays on the CPU."""
        return "cpu"

    @property
    def device(self) -> str:
        """Where the workers run the model and the pair engine."""
        return "cuda" if self.use_gpu else "cpu"

    def _slots(self) -> int:
        """Tasks that run at once: GPUs, or CPUs."""
        key = "GPU" if self.use_gpu else "CPU"
        return max(1, int(self.resources.get(key, 1)))

    def info(self) -> dict[str, Any]:
        """Cluster size and what the job used, for ``summary.json["backend"]``."""
        return {
            "name": self.name,
            "address": self._where(),
            "nodes": len(self.nodes),
            "cpus": self.resources.get("CPU", 0),
            "gpus": self.resources.get("GPU", 0),
            "device": self.device,
            "encode_actors": self.encode_actors,
            "score_tasks": self.score_tasks,
            "listed_texts_sent": self.chunk_texts,
        }
