"""``socm pair``: one pair of texts explained, for one or two models.

For each model: both texts' unit-mean token embeddings (what :func:`socm.output.pair_figure`
projects to 2-D), their token strings, d_μ, d_Σ, SOCM and each text's normalised spread.

A pair that follows a run (``socm pair --from-mine RUN RANK``, and the run a percentile is
read from, ``--run``) is explained with the settings that run recorded: :func:`follow_run`
takes every setting that defines the token embeddings and the numbers (:data:`DEFINING`) from
the run's own record and refuses a flag that contradicts it; :func:`differences` says where a
pair's settings and a run's differ.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from socm.core.metrics import d_mu, d_sigma, socm
from socm.core.stats import token_stats
from socm.encode.encoder import CACHE_DTYPES, Encoder
from socm.encode.precision import FORWARD_DTYPES
from socm.errors import SocmError
from socm.measure.config import DEFAULT_MODEL, MeasureConfig, make_encoder

__all__ = [
    "DEFINING",
    "check_revision",
    "differences",
    "explain_pair",
    "follow_run",
    "pair_numbers",
    "pair_panel",
]

#: The settings (:class:`~socm.measure.MeasureConfig` fields) that define a run's token
#: embeddings and its numbers; a command that follows a run takes each of them from the run.
DEFINING = (
    "model",
    "revision",
    "trust_remote_code",
    "layer",
    "exclude_special_tokens",
    "prefix",
    "max_length",
    "long_texts",
    "prompt",
    "prompt_name",
    "exclude_prompt_tokens",
    "exclude_first_token",
    "dtype",
    "numerics",
)
#: Token-policy entries recorded only when set (:func:`socm.encode.tokens.token_policy`), with
#: the value their absence means.
_POLICY_DEFAULTS: dict[str, Any] = {"long_texts": "truncate"}
_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "revision": (str, type(None)),
    "trust_remote_code": (bool,),
    "layer": (int, type(None)),
    "exclude_special_tokens": (bool,),
    "prefix": (str,),
    "max_length": (int, type(None)),
    "long_texts": (str,),
    "prompt": (str,),
    "prompt_name": (str, type(None)),
    "exclude_prompt_tokens": (bool,),
    "exclude_first_token": (bool,),
    "dtype": (str,),
    "numerics": (str,),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _show(name: str, value: Any) -> str:
    """A setting's value as a person reads it."""
    if name == "layer":
        return "the last hidden state" if value is None else f"layer {value}"
    if name == "max_length":
        return "the model's maximum length" if value is None else f"max length {value}"
    if name == "exclude_special_tokens":
        return "special tokens excluded" if value else "special tokens included"
    if name == "trust_remote_code":
        return "custom model code allowed" if value else "no custom model code"
    if name in ("prefix", "prompt"):
        return f"{name} {value!r}" if value else f"no {name}"
    if name == "prompt_name":
        return f"the model's prompt {value!r}" if value else "no named prompt"
    if name in ("exclude_prompt_tokens", "exclude_first_token"):
        what = "prompt tokens" if name == "exclude_prompt_tokens" else "the first token"
        return f"{what} {'excluded' if value else 'included'}"
    if name == "dtype":
        return f"a {value} forward pass"
    return f"{name} {value}"


def follow_run(record: dict, where: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings of a follow-up of a run: every :data:`DEFINING` setting as the run recorded
    it (``record["config"]``, :meth:`MeasureConfig.to_dict`; the forward pass's dtype as it
    resolved, ``record["forward_dtype"]``, when recorded), and the storage precision of its
    token embeddings (``cache_dtype``: a mine run may round them to float16).

    Parameters
    ----------
    record : dict
        The run's ``summary.json`` or ``mine_summary.json``.
    where : str
        The run, as error messages name it (``"mine run runs/m"``).
    given : dict, optional
        The settings given on the command line (absent or None: not given). A given value that
        differs from the run's is refused; so is running a run that needed custom model code
        without ``trust_remote_code`` given again (an explicit opt-in, never inherited).

    Returns
    -------
    dict
        The :data:`DEFINING` settings and ``cache_dtype``.

    Raises
    ------
    SocmError
        The record has no usable settings, or a given setting contradicts it.

    Examples
    --------
    >>> record = {"config": {"model": "m", "layer": 3, "numerics": "paper"}}
    >>> follow_run(record, "run r")["layer"], follow_run(record, "run r")["prefix"]
    (3, '')
    >>> follow_run(record, "run r", {"layer": 2})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    socm.errors.SocmError: --layer 2 contradicts run r, which was measured at layer 3: ...
    """
    cfg = record.get("config") if isinstance(record, dict) else None
    if not isinstance(cfg, dict):
        raise SocmError(f"{where}: no record of its settings (config); rerun it with this socm")
    defaults = MeasureConfig()
    settings = {k: cfg.get(k, getattr(defaults, k)) for k in DEFINING}
    if isinstance(record.get("forward_dtype"), str):  # what "auto" resolved to in the run
        settings["dtype"] = record["forward_dtype"]
    mine = cfg.get("extra", {}).get("mine", {}) if isinstance(cfg.get("extra"), dict) else {}
    settings["cache_dtype"] = (mine if isinstance(mine, dict) else {}).get("cache_dtype", "float32")
    bad = [
        k
        for k, v in settings.items()
        if not isinstance(v, _TYPES.get(k, (str,)))
        or (isinstance(v, bool) and bool not in _TYPES.get(k, (str,)))
    ]
    if settings["dtype"] not in FORWARD_DTYPES:
        bad.append("dtype")
    if bad or settings["cache_dtype"] not in CACHE_DTYPES:
        raise SocmError(
            f"{where}: its record of the settings is damaged ({', '.join(bad) or 'cache_dtype'})"
        )
    for name, value in (given or {}).items():
        if value is None or name not in DEFINING or name == "trust_remote_code":
            continue
        if value != settings[name]:
            shown = _flag(name) if isinstance(value, bool) else f"{_flag(name)} {value!r}"
            raise SocmError(
                f"{shown} contradicts {where}, which was measured "
                f"{'at' if name == 'layer' else 'with'} {_show(name, settings[name])}: drop "
                "the flag (the pair is explained with the run's settings)"
            )
    if settings["trust_remote_code"] and not (given or {}).get("trust_remote_code"):
        raise SocmError(
            f"{where} ran {settings['model']} with its custom code: pass --trust-remote-code "
            "again to run that code here"
        )
    return settings


def differences(panel: dict, record: dict) -> list[str]:
    """Where a panel's settings (:func:`pair_panel`) differ from those a measure run recorded:
    the model (its name and the revision or content fingerprint it resolved to), the layer,
    the token policy as applied (special tokens, prefix, effective maximum length), the
    numerics, the precision of the token embeddings and of the forward pass. Empty when the
    pair was measured as the run measured its pairs."""
    out = []
    model = str(record.get("model"))
    same_model = panel["model"] == model or (
        record.get("model_path") is not None
        and panel.get("path") is not None
        and Path(str(record["model_path"])) == Path(panel["path"])
    )
    if not same_model:
        out.append(f"model {model}")
    elif record.get("revision") != panel.get("revision"):
        out.append(f"model revision {record.get('revision')}")
    cfg = record.get("config") if isinstance(record.get("config"), dict) else {}
    if cfg.get("layer") != panel.get("layer"):
        out.append(_show("layer", cfg.get("layer")))
    policy = record.get("token_policy")
    if isinstance(policy, dict):
        mine = panel.get("token_policy", {})
        for k in dict.fromkeys([*policy, *mine]):  # a key one side leaves out: its default
            theirs = policy.get(k, _POLICY_DEFAULTS.get(k))
            if mine.get(k, _POLICY_DEFAULTS.get(k)) != theirs:
                out.append(f"{k.replace('_', ' ')} {theirs!r}")
    if record.get("numerics") != panel.get("numerics"):
        out.append(f"numerics {record.get('numerics')}")
    dtype = record.get("cache_dtype", "float32")
    if dtype != panel.get("cache_dtype", "float32"):
        out.append(f"{dtype} token embeddings")
    forward = record.get("forward_dtype", "float32")
    if forward != panel.get("forward_dtype", "float32"):
        out.append(_show("dtype", forward))
    return out


def check_revision(panel: dict, record: dict, where: str) -> None:
    """Refuse a panel whose model resolved to other weights than those the run recorded
    (``record["revision"]``: a hub commit, a package version or a local folder's content
    fingerprint); a fingerprint of an older socm, which this one cannot compare, passes.

    Raises
    ------
    SocmError
        The model changed since the run.
    """
    old, new = record.get("revision"), panel.get("revision")
    if old is None or old == new:
        return
    if panel.get("source") == "local" and not str(old).startswith("sha256:"):
        return  # an older socm's name/size/time fingerprint: not comparable
    raise SocmError(
        f"{panel['model']} is not the model {where} measured (it recorded {old}, the model is "
        f"now {new}): restore that model, or rerun the run"
    )


def pair_panel(encoder: Encoder, text_a: str, text_b: str, numerics: str = "exact") -> dict:
    """Everything :func:`socm.output.pair_figure` draws for one model, the numbers and the
    settings they were measured with (model revision, layer, token policy, numerics)."""
    encoded = encoder.encode([text_a, text_b])
    emb = encoded.embeddings
    stats = [token_stats(e) for e in emb]
    unit = [
        np.asarray(e, dtype=np.float64) / st.mean_norm for e, st in zip(emb, stats, strict=True)
    ]
    return {
        "model": encoder.resolved.name,
        "path": encoder.resolved.path,
        "revision": encoder.resolved.revision,
        "source": encoder.resolved.source,
        "layer": encoder.layer,
        "token_policy": encoder.token_policy(),
        "numerics": numerics,
        "cache_dtype": encoder.cache_dtype,
        "forward_dtype": encoder.forward_dtype,
        "texts": (text_a, text_b),
        "tokens": unit,
        "labels": [encoder.token_strings(text_a), encoder.token_strings(text_b)],
        "d_mu": d_mu(*stats),
        "d_sigma": d_sigma(*stats, numerics=numerics),
        "socm": socm(*stats, numerics=numerics),
        "normalized_spread": [st.trace for st in stats],
        "truncated": list(encoded.truncated),
        "max_length": encoder.max_length,
    }


def explain_pair(
    text_a: str,
    text_b: str,
    models: list[str] | None,
    base: MeasureConfig,
    cache_dtype: str = "float32",
) -> list[dict]:
    """One :func:`pair_panel` per model (one or two), each encoder built from ``base``'s
    options (token policy, device, cache) with token embeddings stored as ``cache_dtype``.

    Raises
    ------
    SocmError
        More than two models, or an empty text.
    """
    models = models or [DEFAULT_MODEL]
    if len(models) > 2:
        raise SocmError("socm pair draws one or two models side by side")
    if not text_a.strip() or not text_b.strip():
        raise SocmError("both texts must be non-empty")
    return [
        pair_panel(
            make_encoder(replace(base, model=m), cache_dtype=cache_dtype),
            text_a,
            text_b,
            base.numerics,
        )
        for m in models
    ]


def pair_numbers(panel: dict) -> dict:
    """The printable numbers of a panel (no token arrays)."""
    return {
        "model": panel["model"],
        "d_mu": panel["d_mu"],
        "d_sigma": panel["d_sigma"],
        "socm": panel["socm"],
        "normalized_spread": panel["normalized_spread"],
        "n_tokens": [len(t) for t in panel["tokens"]],
        "truncated": panel["truncated"],
    }
