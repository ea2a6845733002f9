"""The steering engine: every forward computation of an item done once.

Steering adds ``multiplier * vector`` to the output of block L from the last prompt
token onward, so for one item and one prompt:

* the prompt minus its last token (the *prefix*) is never steered: one forward pass
  fills a key/value cache that every branch reuses;
* the *branches* are the last prompt token followed by the positive or the negative
  completion. Below and at block L they are the same for every (vector, multiplier),
  so two rows (positive, negative) go through blocks 0..L once; a hook on block L then
  fans them out to one row per (steering, completion) and adds the steering;
* logits are computed only for the completion tokens, as dot products with their
  unembedding rows, instead of the full vocabulary at every position.

Training activations come from the same branch pass with no steering, read at the
answer-letter token from every block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import DynamicCache

from steering_reliability.models import decoder_layers
from steering_reliability.prompts import EncodedItem


class NonFiniteError(FloatingPointError):
    """NaN or inf in activations or logits; the message names the item."""


@dataclass(frozen=True)
class Steering:
    """One steering setting: ``multiplier * vector`` added at ``layer``."""

    vector: torch.Tensor | None  # None: unsteered
    multiplier: float


def _block_output(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_block_output(output, hidden: torch.Tensor):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


class SteeringEngine:
    """Runs items through a causal LM with prefix caching and batched steering branches."""

    def __init__(self, model: nn.Module, token_budget: int = 8192) -> None:
        self.model = model
        self.backbone = model.base_model
        self.blocks = decoder_layers(model)
        unembedding = model.get_output_embeddings()
        self.unembedding_weight = unembedding.weight
        self.unembedding_bias = getattr(unembedding, "bias", None)
        self.logit_softcap = getattr(model.config, "final_logit_softcapping", None)
        # Rows x (prefix + branch) tokens per branch batch: bounds the memory of the
        # per-row key/value caches and hidden states.
        self.token_budget = token_budget
        self._shared = None  # (token ids, per-layer keys/values) of a prefix shared by many items

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    def _dtype(self) -> torch.dtype:
        return self.unembedding_weight.dtype

    @torch.inference_mode()
    def share_prefix(self, items: Sequence[EncodedItem]) -> int:
        """Compute once the cache of the longest token prefix that all items' prompts share.

        Chat-formatted prompts of one dataset share the system turn and the user-turn
        header (and, for persona datasets, the question stem); :meth:`prefix` then starts
        from this cache. Returns the number of shared tokens.
        """
        prefixes = [item.prompt_ids[:-1] for item in items]
        # stop one token short of the shortest prefix: every item keeps a token of its own to compute
        limit = min((len(ids) for ids in prefixes), default=1) - 1
        shared = 0
        while shared < limit and all(ids[shared] == prefixes[0][shared] for ids in prefixes):
            shared += 1
        if shared == 0:
            self._shared = None
            return 0
        cache = DynamicCache(config=self.model.config)
        self.backbone(input_ids=torch.tensor([prefixes[0][:shared]]), cache=cache, use_cache=True)
        self._shared = (tuple(prefixes[0][:shared]), [(layer.keys, layer.values) for layer in cache.layers])
        return shared

    @torch.inference_mode()
    def prefix(self, item: EncodedItem) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer keys and values of the unsteered prompt minus its last token."""
        prefix_ids = item.prompt_ids[:-1]
        cache = DynamicCache(config=self.model.config)
        start = 0
        shared = self._shared
        if shared is not None and prefix_ids[: len(shared[0])] == shared[0] and len(prefix_ids) > len(shared[0]):
            for index, (keys, values) in enumerate(shared[1]):
                cache.update(keys, values, index)  # copies: the shared tensors stay as they are
            start = len(shared[0])
        self.backbone(
            input_ids=torch.tensor([prefix_ids[start:]]),
            position_ids=torch.arange(start, len(prefix_ids))[None],
            cache=cache,
            use_cache=True,
        )
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _branch_inputs(self, item: EncodedItem, completions) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Token ids (2, T) of [last prompt token] + each completion, their positions and attention mask."""
        width = 1 + max(len(ids) for ids in completions)
        last = item.prompt_ids[-1]
        # Right padding is harmless: causal attention never lets a real token see it.
        rows = [[last, *ids] + [last] * (width - 1 - len(ids)) for ids in completions]
        prefix_length = len(item.prompt_ids) - 1
        positions = torch.arange(prefix_length, prefix_length + width)[None]
        visible = torch.ones(width, prefix_length + width, dtype=torch.bool)
        visible[:, prefix_length:] = torch.tril(torch.ones(width, width, dtype=torch.bool))
        return torch.tensor(rows), positions, visible[None, None]

    def _cache_for(self, prefix, rows_upto_layer: int, rows_after: int, layer: int) -> DynamicCache:
        cache = DynamicCache(config=self.model.config)
        for index, (keys, values) in enumerate(prefix):
            rows = rows_upto_layer if index <= layer else rows_after
            shape = (rows, *keys.shape[1:])
            cache.update(keys.expand(shape), values.expand(shape), index)
        return cache

    def _completion_logit_sums(self, hidden: torch.Tensor, item: EncodedItem, rows: int) -> torch.Tensor:
        """Summed logits of each row's completion tokens; rows alternate positive, negative."""
        sums = []
        for row in range(rows):
            completion = item.positive_ids if row % 2 == 0 else item.negative_ids
            # Branch position j holds the token before completion token j.
            states = hidden[row, : len(completion)]
            logits = (states * self.unembedding_weight[list(completion)]).sum(-1)
            if self.unembedding_bias is not None:
                logits = logits + self.unembedding_bias[list(completion)]
            if self.logit_softcap:
                logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
            sums.append(logits.sum())
        return torch.stack(sums)

    @torch.inference_mode()
    def logit_differences(
        self, item: EncodedItem, layer: int, steerings: Sequence[Steering], prefix=None
    ) -> torch.Tensor:
        """Positive minus negative summed completion logits, one value per steering.

        ``prefix`` (from :meth:`prefix`) lets several layers share one prefix pass.
        """
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer} is out of range for a model with {self.num_layers} blocks")
        prefix = self.prefix(item) if prefix is None else prefix
        # A completion's last token is only ever a logit target, never an input that matters.
        input_ids, positions, mask = self._branch_inputs(item, (item.positive_ids[:-1], item.negative_ids[:-1]))
        results = []
        rows_that_fit = self.token_budget // (len(item.prompt_ids) + input_ids.shape[1])
        per_chunk = max(1, rows_that_fit // 2)
        for start in range(0, len(steerings), per_chunk):
            chunk = steerings[start : start + per_chunk]
            shift = torch.stack(
                [
                    torch.zeros(self.unembedding_weight.shape[1], dtype=self._dtype())
                    if s.vector is None or s.multiplier == 0
                    else s.multiplier * s.vector.to(self._dtype())
                    for s in chunk
                ]
            ).repeat_interleave(2, dim=0)[:, None, :]
            fan_out = torch.arange(2).repeat(len(chunk))

            def steer(module, args, output):
                hidden = _block_output(output)
                return _replace_block_output(output, hidden[fan_out] + shift)

            handle = self.blocks[layer].register_forward_hook(steer)
            try:
                cache = self._cache_for(prefix, 2, 2 * len(chunk), layer)
                hidden = self.backbone(
                    input_ids=input_ids, position_ids=positions, attention_mask=mask, cache=cache, use_cache=True
                ).last_hidden_state
            finally:
                handle.remove()
            sums = self._completion_logit_sums(hidden, item, 2 * len(chunk))
            results.append(sums[0::2] - sums[1::2])
        differences = torch.cat(results).float()
        if not torch.isfinite(differences).all():
            raise NonFiniteError(f"{item.item_id}: non-finite logit difference under steering at layer {layer}")
        return differences

    @torch.inference_mode()
    def letter_activations(self, item: EncodedItem) -> torch.Tensor:
        """Residual stream at the answer-letter token, shape (2 [positive, negative], layers, d)."""
        prefix = self.prefix(item)
        letter = 1 + item.letter_offset
        # The branch needs to run only up to the answer-letter token.
        input_ids, positions, mask = self._branch_inputs(item, (item.positive_ids[:letter], item.negative_ids[:letter]))
        captured: list[torch.Tensor] = []

        def record(module, args, output):
            captured.append(_block_output(output)[:, letter].float())

        handles = [block.register_forward_hook(record) for block in self.blocks]
        try:
            cache = self._cache_for(prefix, 2, 2, self.num_layers)
            self.backbone(input_ids=input_ids, position_ids=positions, attention_mask=mask, cache=cache, use_cache=True)
        finally:
            for handle in handles:
                handle.remove()
        activations = torch.stack(captured, dim=1)
        if not torch.isfinite(activations).all():
            raise NonFiniteError(f"{item.item_id}: non-finite activation")
        return activations
