"""Tiny random-weight models of the paper's three architectures, built from transformers configs (no download).

Llama (Llama-2-7b-chat), Qwen2 (Qwen1.5-14B-Chat: attention bias) and Gemma-2 (gemma-2-2b-it: eager
attention, attention and final logit soft-capping, alternating sliding-window layers, a scaled
embedding, tied unembedding). The shapes are small; what differs between the architectures is kept.
"""

from __future__ import annotations

import torch

VOCAB = 49152  # SmolLM2's tokenizer writes the test prompts
COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=2048,
    initializer_range=0.25,  # logits of a few units, so that steering visibly moves them
)
# attention implementations each architecture supports in transformers (Gemma-2: eager only, for soft-capping)
ATTENTION = {"llama": ("eager", "sdpa"), "qwen2": ("eager", "sdpa"), "gemma2": ("eager",)}


def tiny_config(architecture: str, **overrides):
    from transformers import Gemma2Config, LlamaConfig, Qwen2Config

    settings = {**COMMON, **overrides}
    if architecture == "llama":
        return LlamaConfig(**settings)
    if architecture == "qwen2":
        return Qwen2Config(**settings)
    if architecture == "gemma2":
        gemma = dict(
            head_dim=16,
            query_pre_attn_scalar=16,
            sliding_window=1024,
            final_logit_softcapping=5.0,  # low caps, so that soft-capping changes the numbers
            attn_logit_softcapping=2.0,
        )
        return Gemma2Config(**{**settings, **gemma, **overrides})
    raise ValueError(architecture)


def tiny_model(architecture: str, attention: str, seed: int = 0, **overrides):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = tiny_config(architecture, **overrides)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attention, dtype=torch.float32)
    return model.eval().requires_grad_(False)
