"""Tiny randomly initialised decoder embedders for the tests (no weights can be downloaded).

:func:`build_decoder` saves a Qwen3, Llama, Mistral or Gemma3 model built from its
``transformers`` config at a few thousand parameters, with what an embedder on the hub has
beside it: a byte-level BPE tokenizer trained on :data:`SENTENCES` that pads on the left and
adds an EOS (and, for Llama, Mistral and Gemma3, a BOS), and sentence-transformers files
(``modules.json``, ``1_Pooling/config.json``, ``config_sentence_transformers.json`` with an
instruction prompt, ``sentence_bert_config.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

#: Text the tokenizers are trained on (and the tests encode).
SENTENCES = [
    "The cat sat on the mat.",
    "Mean pooling averages the token embeddings of a text.",
    "Decoder models pool by their last token.",
    "Attention sinks carry massive activations on the first token.",
    "A river bank is not a savings bank.",
    "Second-order statistics are lost when tokens are averaged.",
    "The quick brown fox jumps over the lazy dog.",
    "Instruction prompts come before the query.",
    "Weights in bfloat16 halve the memory of a large model.",
    "Left padding puts the pad tokens before the text.",
    "Paris is the capital of France, and Berlin that of Germany.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "The committee met on Tuesday to discuss the budget for next year.",
    "He played the violin at the concert hall in Vienna in 1921.",
    "Prime numbers have no divisors other than one and themselves.",
    "Short.",
    "Query: how do embeddings collapse?",
    "1753 BC.",
]

PROMPTS = {
    "query": "Instruct: Given a web search query, retrieve relevant passages\nQuery: ",
    "document": "",
}
_ARCHS = ("qwen3", "llama", "mistral", "gemma3")


def build_tokenizer(
    folder: Path, *, bos: bool, padding_side: str = "left", vocab: int = 400
) -> object:
    """A byte-level BPE tokenizer (EOS appended, BOS prepended when ``bos``), saved in
    ``folder``; returns the ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|pad|>", "<|bos|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES * 3 + list(PROMPTS.values()), trainer)
    ids = {s: tok.token_to_id(s) for s in specials}
    single = ("<|bos|> " if bos else "") + "$A <|endoftext|>"
    tok.post_processor = processors.TemplateProcessing(
        single=single,
        special_tokens=[(s, ids[s]) for s in ("<|endoftext|>", "<|bos|>")],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|pad|>",
        bos_token="<|bos|>" if bos else None,
        padding_side=padding_side,
        model_max_length=128,
    )
    fast.save_pretrained(folder)
    return fast


def _config(arch: str, vocab: int, tok, hidden: int, layers: int):
    from transformers import Gemma3TextConfig, LlamaConfig, MistralConfig, Qwen3Config

    common = dict(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=hidden // 4,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    if arch == "qwen3":
        return Qwen3Config(**common)
    if arch == "llama":
        return LlamaConfig(**common)
    if arch == "mistral":
        return MistralConfig(**common, sliding_window=None)
    return Gemma3TextConfig(**common, query_pre_attn_scalar=hidden // 4, sliding_window=16)


def build_decoder(
    folder: Path,
    arch: str = "qwen3",
    *,
    pooling: str | tuple[str, ...] = "lasttoken",
    include_prompt: bool = True,
    legacy_pooling_config: bool = True,
    padding_side: str = "left",
    hidden: int = 32,
    layers: int = 2,
    seed: int = 0,
    dtype: str = "float32",
    sink_scale: float | None = None,
) -> Path:
    """Save a tiny random ``arch`` embedder in ``folder`` (created) and return it.

    ``pooling`` and ``include_prompt`` go to ``1_Pooling/config.json`` (in the older
    ``pooling_mode_*`` switches with ``legacy_pooling_config``, else sentence-transformers 6's
    ``pooling_mode``); ``dtype`` is the config's declared dtype (weights are saved in it);
    ``sink_scale`` multiplies the BOS token's input embedding (a model with a BOS: not qwen3),
    making it an attention sink at the embedding output.
    """
    from transformers import AutoModel

    if arch not in _ARCHS:
        raise ValueError(f"arch must be one of {_ARCHS}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(folder, bos=arch != "qwen3", padding_side=padding_side)
    config = _config(arch, len(tok), tok, hidden, layers)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config).eval()
    if sink_scale is not None and tok.bos_token_id is not None:
        with torch.no_grad():
            model.get_input_embeddings().weight[tok.bos_token_id] *= sink_scale
    model.to(getattr(torch, dtype)).save_pretrained(folder)
    modes = (pooling,) if isinstance(pooling, str) else tuple(pooling)
    if legacy_pooling_config:
        conf = {"word_embedding_dimension": hidden, "include_prompt": include_prompt}
        for key, mode in (
            ("pooling_mode_cls_token", "cls"),
            ("pooling_mode_mean_tokens", "mean"),
            ("pooling_mode_max_tokens", "max"),
            ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len_tokens"),
            ("pooling_mode_weightedmean_tokens", "weightedmean"),
            ("pooling_mode_lasttoken", "lasttoken"),
        ):
            conf[key] = mode in modes
    else:
        mode = modes[0] if len(modes) == 1 else list(modes)
        conf = {"embedding_dimension": hidden, "pooling_mode": mode}
        conf["include_prompt"] = include_prompt
    (folder / "1_Pooling").mkdir(exist_ok=True)
    _write(folder / "1_Pooling" / "config.json", conf)
    modules = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    _write(
        folder / "modules.json",
        [
            {"idx": k, "name": str(k), "path": path, "type": f"sentence_transformers.models.{kind}"}
            for k, (path, kind) in enumerate(modules)
        ],
    )
    _write(
        folder / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    _write(folder / "sentence_bert_config.json", {"max_seq_length": 128, "do_lower_case": False})
    return folder


def _write(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
