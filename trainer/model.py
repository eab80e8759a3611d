"""LLaMA presets, model construction, parameter counts and the FLOPs/MFU formula.

The model is transformers' ``LlamaForCausalLM`` (RoPE, GQA, RMSNorm, SwiGLU) with SDPA attention.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB_MULTIPLE = 128

# Architecture presets (vocabulary and context come from the data and --seq-len).
PRESETS: dict[str, dict[str, Any]] = {
    # a few hundred thousand parameters: CPU tests
    "llama-tiny": dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2),
    # GaLore / ReLoRA's 60M and 130-160M LLaMA shapes
    "llama-60m": dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=8,
                      num_attention_heads=8, num_key_value_heads=8),
    "llama-160m": dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12,
                       num_attention_heads=12, num_key_value_heads=12),
    # TinyLlama-1.1B (Zhang et al. 2024): 22 layers, GQA with 4 KV heads
    "tinyllama-1.1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4),
    # LLaMA-2 7B
    "llama-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=32),
}
COMMON = dict(hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
              initializer_range=0.02, attention_bias=False, mlp_bias=False)


def pad_vocab(n: int, multiple: int = VOCAB_MULTIPLE) -> int:
    """Round the embedding table up to a multiple of 128 (tensor-core friendly matmul shapes)."""
    return -(-n // multiple) * multiple


def load_architecture(model: str) -> dict[str, Any]:
    """A preset name, or a JSON/YAML file of LlamaConfig keyword arguments (or an HF config.json)."""
    if model in PRESETS:
        return {**COMMON, **PRESETS[model]}
    path = Path(model)
    if not path.is_file():
        raise ValueError(f"--model {model!r}: not a preset ({', '.join(PRESETS)}) nor a config file")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        spec = yaml.safe_load(text)
    else:
        spec = json.loads(text)
    for k in ("architectures", "model_type", "transformers_version", "torch_dtype", "dtype"):
        spec.pop(k, None)
    return {**COMMON, **spec}


def model_config(model: str, vocab_size: int, seq_len: int, tokenizer: dict[str, Any]) -> LlamaConfig:
    arch = load_architecture(model)
    arch["vocab_size"] = pad_vocab(max(vocab_size, int(arch.get("vocab_size", 0) or 0)))
    arch["max_position_embeddings"] = max(seq_len, int(arch.get("max_position_embeddings", 0) or 0))
    for k in ("bos_id", "eos_id", "pad_id"):
        if tokenizer.get(k) is not None:
            arch[k.replace("_id", "_token_id")] = int(tokenizer[k])
    return LlamaConfig(**arch)


def build_model(config: LlamaConfig, seed: int, activation_checkpointing: bool = False) -> LlamaForCausalLM:
    """Initialise with a fixed seed (identical weights on every rank before DDP broadcasts)."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    if activation_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def param_counts(config: LlamaConfig) -> dict[str, int]:
    """Total parameters and the FLOP-relevant ones (all but the input embedding, a table lookup)."""
    d, L, ff = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    kv = config.num_key_value_heads * (d // config.num_attention_heads)
    per_layer = d * d * 2 + d * kv * 2 + 3 * d * ff + 2 * d
    emb = config.vocab_size * d
    head = 0 if config.tie_word_embeddings else config.vocab_size * d
    total = emb + head + L * per_layer + d
    return {"total": total, "embedding": emb, "flop_params": total - emb + (emb if head == 0 else 0)}


def flops_per_token(config: LlamaConfig, seq_len: int) -> float:
    """Training FLOPs per token = 6 N + 12 L d T (PaLM, appendix B; nanoGPT's estimate_mfu).

    N: parameters taking part in matmuls (everything but the input embedding lookup, lm_head
    included); the attention term 12 L d T counts QK^T and AV (forward + backward, no causal
    discount), with L layers, d the model width, T the sequence length.
    """
    n = param_counts(config)["flop_params"]
    return 6.0 * n + 12.0 * config.num_hidden_layers * config.hidden_size * seq_len


# bf16 dense tensor-core peaks (no sparsity), TFLOP/s, by device-name substring (first match).
PEAK_BF16_TFLOPS = [
    ("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("GH200", 989.0), ("H800", 989.0),
    ("B200", 2250.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("A10G", 125.0),
    ("L4", 121.0), ("4090", 165.0), ("3090", 71.0), ("V100", 125.0),
]


def device_peak_tflops(device: torch.device, override: float = 0.0) -> float | None:
    """The peak MFU is measured against; None on CPU unless --peak-tflops is given."""
    if override > 0:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS:
        if key in name:
            return tflops
    return None
