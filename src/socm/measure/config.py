"""The settings of a measure run (:class:`MeasureConfig`) and the encoder they describe."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from socm.encode.cache import default_cache_dir
from socm.encode.encoder import Encoder, EncoderSpec

__all__ = ["DEFAULT_MODEL", "DEFAULT_N_TEXTS", "MeasureConfig", "make_encoder"]

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_N_TEXTS = 1000
"""Texts sampled when ``n_texts`` is not given (the paper's 1,000)."""

#: Fields that never change a result (where it is written, how it is shown, where it runs):
#: a run on another backend is a rerun of the same settings.
_NOT_RESULT = (
    "out",
    "overwrite",
    "no_pairs_file",
    "progress",
    "backend",
    "backend_address",
    "store",
    "memory_budget",
)
#: Fields added after runs were first written, with their defaults: a field at its default is
#: left out of :meth:`MeasureConfig.result_key`, so earlier runs keep their settings hash,
#: their identity and their folders' names.
_LATER_DEFAULTS: dict[str, Any] = {
    "no_header": False,
    "no_title": False,
    "prompt": "",
    "prompt_name": None,
    "exclude_prompt_tokens": False,
    "exclude_first_token": False,
    "dtype": "auto",
    "pooling": "mean",
    "long_texts": "truncate",
    "store_dtype": "float64",
}


@dataclass
class MeasureConfig:
    """Everything ``socm measure`` needs; the CLI fills it from its flags.

    The fields fall into five parts: the encoder (:meth:`encoder_spec`), the corpus
    (``corpus``, ``unit``, ``text_column``, ``id_column``, ``no_header``, ``no_title``,
    ``n_texts``, ``seed``: :func:`socm.inputs.load_corpus`), the pairs
    (``pairs_file``, ``max_pairs``, ``numerics``), the output (``out``, ``overwrite``,
    ``no_pairs_file``, ``progress``) and where the job runs (``backend``: a backend's name,
    ``"local"``, ``"ray"`` or one installed by a package, :func:`socm.backends.get_backend`;
    ``backend_address``: where that backend connects, e.g. the Ray cluster, None for
    ``auto`` when ``RAY_ADDRESS`` is set, else a local Ray instance). Neither of the last two
    changes a result, a settings hash or a run folder's identity. Nor do ``store`` (a folder
    that always keeps the per-text statistics on disk) and ``memory_budget`` (bytes, or
    ``"4G"``; beyond it they go to a store in the cache folder): they choose where the
    statistics live (:mod:`socm.store`), not what they are. ``store_dtype="float32"`` keeps a
    store's covariance factors in float32 (half the disk; values move by about 1e-7), so it
    enters :meth:`result_key` (when not float64).

    ``n_texts``: None samples :data:`DEFAULT_N_TEXTS` texts (or, with ``pairs_file``, takes
    the texts the pairs name), ``"all"`` keeps every text in file order. ``unit``: None is
    ``"sentence"`` for the wikipedia corpus and must stay None for any other corpus.

    Decoder embedders: ``prompt`` / ``prompt_name``, ``exclude_prompt_tokens``,
    ``exclude_first_token`` and ``dtype`` are encoder options (:class:`~socm.encode.Encoder`);
    ``pooling="model"`` takes d_μ from the model's own pooled embedding (the native-pooling
    variant, an extension beyond the paper). ``long_texts="window"`` encodes texts beyond the
    maximum length whole (:mod:`socm.encode.windows`). Each enters :meth:`result_key` only
    when it differs from its default.
    """

    model: str = DEFAULT_MODEL
    corpus: str = "wikipedia"
    unit: str | None = None
    text_column: str | None = None
    id_column: str | None = None
    no_header: bool = False
    no_title: bool = False
    n_texts: int | str | None = None
    seed: int = 0
    pairs_file: str | None = None
    max_pairs: int | None = None
    numerics: str = "exact"
    layer: int | None = None
    exclude_special_tokens: bool = False
    prefix: str = ""
    max_length: int | None = None
    batch_size: int = 32
    device: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None
    cache_dir: str | None = None
    no_cache: bool = False
    out: str | None = None
    overwrite: bool = False
    no_pairs_file: bool = False
    progress: bool = True
    backend: str = "local"
    backend_address: str | None = None
    store: str | None = None
    memory_budget: str | int | None = None
    store_dtype: str = "float64"
    extra: dict = field(default_factory=dict)
    prompt: str = ""
    prompt_name: str | None = None
    exclude_prompt_tokens: bool = False
    exclude_first_token: bool = False
    dtype: str = "auto"
    pooling: str = "mean"
    long_texts: str = "truncate"

    def to_dict(self) -> dict[str, Any]:
        """The settings that determine a result (as stored in ``summary.json["config"]``)."""
        return {k: v for k, v in asdict(self).items() if k not in ("progress", "overwrite")}

    @classmethod
    def from_dict(cls, data: dict[str, Any], **overrides: Any) -> MeasureConfig:
        """A config from :meth:`to_dict` output (unknown keys, e.g. from newer versions, are
        ignored); ``overrides`` replace fields."""
        names = {f.name for f in fields(cls)}
        if "ray_address" in data and "backend_address" not in data:  # runs of socm <= 0.1
            data = {**data, "backend_address": data["ray_address"]}
        return cls(**{k: v for k, v in {**data, **overrides}.items() if k in names})

    def result_key(self) -> dict[str, Any]:
        """The settings whose change changes the numbers (output location excluded; the
        corpus-reading flags and the options added for decoder embedders only when they
        differ from their defaults)."""
        return {
            k: v
            for k, v in asdict(self).items()
            if k not in _NOT_RESULT and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])
        }

    def encoder_spec(self, **overrides: Any) -> EncoderSpec:
        """The :class:`~socm.encode.EncoderSpec` of these settings (the default cache folder
        resolved; None without a cache); ``overrides`` replace fields (e.g. ``cache_dtype``)."""
        cache = None if self.no_cache else str(self.cache_dir or default_cache_dir())
        spec = EncoderSpec(
            model=self.model,
            layer=self.layer,
            exclude_special_tokens=self.exclude_special_tokens,
            prefix=self.prefix,
            max_length=self.max_length,
            batch_size=self.batch_size,
            device=self.device,
            trust_remote_code=self.trust_remote_code,
            revision=self.revision,
            cache_dir=cache,
            prompt=self.prompt,
            prompt_name=self.prompt_name,
            exclude_prompt_tokens=self.exclude_prompt_tokens,
            exclude_first_token=self.exclude_first_token,
            dtype=self.dtype,
            pooling=self.pooling,
            long_texts=self.long_texts,
        )
        return replace(spec, **overrides)


def make_encoder(cfg: MeasureConfig, **overrides: Any) -> Encoder:
    """The :class:`~socm.encode.Encoder` a config describes (``overrides`` replace options)."""
    return cfg.encoder_spec(**overrides).build()
