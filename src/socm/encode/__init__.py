"""Token embeddings from Hugging Face encoders, cached on disk (the "encode/cache" stage).

``models`` resolves a model and its device, ``encoder`` holds :class:`Encoder` (token policy and
the public encoding calls), ``batching`` pads and orders texts, ``forward`` runs the model and
fills the caches, ``cache`` stores one checksummed entry per text; ``pooling`` reads how a model
pools and which prompts it declares and computes its own pooled embeddings, ``precision``
resolves the forward pass's dtype, ``loading`` holds an encoder's model, ``inputs`` its
tokenisation and batching calls, ``windows`` lays out texts longer than the model's limit in
overlapping windows.
"""

from socm.encode.cache import EmbeddingCache, default_cache_dir, text_key
from socm.encode.encoder import Encoder, EncodeResult, EncoderSpec
from socm.encode.layers import LayerProfiles
from socm.encode.models import (
    PACKAGED_MODELS,
    ResolvedModel,
    engine_device,
    hub_offline,
    hub_reachable,
    pick_device,
    resolve_model,
)
from socm.encode.pooling import (
    POOLING_CHOICES,
    EmbedderInfo,
    read_embedder_info,
    reduce_encoded,
)
from socm.encode.precision import FORWARD_DTYPES
from socm.encode.tokens import TokenPolicy, token_policy
from socm.encode.windows import LONG_TEXT_CHOICES

__all__ = [
    "FORWARD_DTYPES",
    "LONG_TEXT_CHOICES",
    "PACKAGED_MODELS",
    "POOLING_CHOICES",
    "EmbedderInfo",
    "EmbeddingCache",
    "EncodeResult",
    "Encoder",
    "EncoderSpec",
    "LayerProfiles",
    "ResolvedModel",
    "TokenPolicy",
    "default_cache_dir",
    "engine_device",
    "hub_offline",
    "hub_reachable",
    "pick_device",
    "read_embedder_info",
    "reduce_encoded",
    "resolve_model",
    "text_key",
    "token_policy",
]
