"""The steering engine: every forward computation of an item done once, many items per pass.

Steering adds ``multiplier * vector`` to the output of block L from the last prompt
token onward. For a batch of items (one dataset, one prompt variant):

* the *prefix* (the prompt minus its last token) is never steered: one batched pass
  fills a key/value cache (after the prompt prefix that every item of the dataset
  shares, which is computed once per dataset);
* the *branches* are the last prompt token followed by the positive or the negative
  completion. Each item is one row; its two branches sit side by side in the sequence
  and a block-diagonal mask keeps them apart. Up to block L every steering setting
  sees the same numbers, so the branches go through blocks 0..L once; at the output of
  block L the engine appends one copy of them per steering setting, shifted by that
  setting's vector, *along the sequence* (a "fan-out"). Later blocks therefore attend
  to one copy of the prefix cache per item instead of one per setting, and settings of
  different layers (the layer sweep) share a single forward pass;
* logits are formed only for the completion tokens, in float32 whatever the model's
  dtype, as dot products with their unembedding rows.

Training activations come from the same branch pass without steering, read at the
answer-letter token; the pass stops after the last block that is read.

Everything the engine creates is created on the model's device; results come back to
the CPU as float32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import DynamicCache

from steering_reliability.models import decoder_layers
from steering_reliability.prompts import EncodedItem

# Keyword arguments of a decoder block whose second dimension is the sequence: the
# fan-out hooks hand later blocks versions that match the longer sequence.
_SEQUENCE_KWARGS = ("position_ids", "position_embeddings", "position_embeddings_global", "position_embeddings_local")


class NonFiniteError(FloatingPointError):
    """NaN or inf in activations or logits; the message names the item."""


class _StopForward(Exception):
    """Raised by a hook once the last block that is needed has run."""


@dataclass(frozen=True)
class Steering:
    """One steering setting: ``multiplier * vector`` added to the output of block ``layer``.

    ``vector=None`` or ``multiplier=0`` is the unsteered model (``layer`` is then ignored).
    """

    vector: torch.Tensor | None
    multiplier: float
    layer: int | None = None

    @property
    def unsteered(self) -> bool:
        return self.vector is None or self.multiplier == 0


@dataclass
class _Prefix:
    """Per-layer keys/values of a batch of prefixes, right-padded to a common length."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    lengths: list[int]  # real prefix length of each item (its prompt minus the last token)

    @property
    def padded_length(self) -> int:
        return self.keys[0].shape[-2]


@dataclass
class _Branches:
    """The branch tokens of a batch: row = item; sequence = [positive | negative], each ``width`` long."""

    input_ids: torch.Tensor  # (items, 2 * width)
    position_ids: torch.Tensor  # (items, 2 * width)
    width: int
    lengths: list[tuple[int, int]]  # real branch lengths (positive, negative) per item


def _block_output(output):
    return output[0] if isinstance(output, tuple) else output


def _replace_block_output(output, hidden: torch.Tensor):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


class SteeringEngine:
    """Runs batches of items through a causal LM with prefix caching and sequence fan-out of steering."""

    def __init__(self, model: nn.Module, token_budget: int = 16384, batch_size: int = 16) -> None:
        self.model = model
        self.backbone = model.base_model
        self.blocks = decoder_layers(model)
        unembedding = model.get_output_embeddings()
        self.unembedding_weight = unembedding.weight
        self.unembedding_bias = getattr(unembedding, "bias", None)
        self.logit_softcap = getattr(model.config, "final_logit_softcapping", None)
        self.device = self.unembedding_weight.device
        self.dtype = self.unembedding_weight.dtype
        # Items x (prefix + branch tokens) of one forward pass: bounds the memory of the
        # key/value cache, the hidden states and the attention scores.
        self.token_budget = token_budget
        self.batch_size = batch_size
        self.eager_masks = getattr(model.config, "_attn_implementation", "sdpa") == "eager"
        self._shared = None  # (token ids, per-layer keys/values) of a prefix shared by many items

    @property
    def num_layers(self) -> int:
        return len(self.blocks)

    @property
    def hidden_size(self) -> int:
        return self.unembedding_weight.shape[1]

    # -- prefixes -------------------------------------------------------------------

    @torch.inference_mode()
    def share_prefix(self, items: Sequence[EncodedItem]) -> int:
        """Compute once the cache of the longest token prefix that all items' prompts share.

        Chat-formatted prompts of one dataset share the system turn and the user-turn
        header (and, for persona datasets, the question stem). Returns the number of
        shared tokens; every item keeps at least one prefix token of its own.
        """
        prefixes = [item.prompt_ids[:-1] for item in items]
        limit = min((len(ids) for ids in prefixes), default=1) - 1
        shared = 0
        while shared < limit and all(ids[shared] == prefixes[0][shared] for ids in prefixes):
            shared += 1
        if shared == 0:
            self._shared = None
            return 0
        cache = DynamicCache(config=self.model.config)
        self.backbone(input_ids=self._tensor([prefixes[0][:shared]]), cache=cache, use_cache=True)
        self._shared = (tuple(prefixes[0][:shared]), [(layer.keys, layer.values) for layer in cache.layers])
        return shared

    def _shared_length(self, items: Sequence[EncodedItem]) -> int:
        if self._shared is None:
            return 0
        ids = self._shared[0]
        if all(len(item.prompt_ids) - 1 > len(ids) and item.prompt_ids[: len(ids)] == ids for item in items):
            return len(ids)
        return 0

    def _prefix(self, items: Sequence[EncodedItem], stop_after: int | None = None) -> _Prefix:
        """One pass over the items' prefixes (right-padded; padding is masked later)."""
        shared = self._shared_length(items)
        continuations = [item.prompt_ids[shared:-1] for item in items]
        width = max(len(ids) for ids in continuations)
        cache = DynamicCache(config=self.model.config)
        if shared:
            for index, (keys, values) in enumerate(self._shared[1]):
                shape = (len(items), *keys.shape[1:])
                cache.update(keys.expand(shape), values.expand(shape), index)
        # Right padding: a real token never attends to a later (padding) token.
        rows = [list(ids) + [ids[-1]] * (width - len(ids)) for ids in continuations]
        positions = torch.arange(shared, shared + width, device=self.device)[None]
        self._run(
            input_ids=self._tensor(rows), position_ids=positions, cache=cache, use_cache=True, stop_after=stop_after
        )
        layers = [layer for layer in cache.layers if layer.keys is not None and layer.keys.numel()]
        return _Prefix(
            [layer.keys for layer in layers],
            [layer.values for layer in layers],
            [len(item.prompt_ids) - 1 for item in items],
        )

    # -- branches -------------------------------------------------------------------

    def _branches(self, items: Sequence[EncodedItem], prefix: _Prefix, reach: Sequence[tuple[int, int]]) -> _Branches:
        """[last prompt token] + the first ``reach`` tokens of each completion, per item."""
        lengths = [(1 + positive, 1 + negative) for positive, negative in reach]
        width = max(max(pair) for pair in lengths)
        input_ids, position_ids = [], []
        for item, (positive, negative), prefix_length in zip(items, reach, prefix.lengths):
            row = []
            for completion, count in ((item.positive_ids, positive), (item.negative_ids, negative)):
                tokens = [item.prompt_ids[-1], *completion[:count]]
                row += tokens + [tokens[-1]] * (width - len(tokens))
            input_ids.append(row)
            position_ids.append(list(range(prefix_length, prefix_length + width)) * 2)
        return _Branches(self._tensor(input_ids), self._tensor(position_ids), width, lengths)

    def _mask(self, prefix: _Prefix, width: int, copies: int) -> torch.Tensor:
        """Attention mask (items, 1, queries, keys) of ``copies`` branch blocks after the padded prefix.

        A branch token sees its item's real prefix tokens and the earlier tokens of its
        own branch (positive or negative) in its own copy, nothing else.
        """
        queries = 2 * width * copies
        keys = prefix.padded_length + queries
        real = torch.arange(prefix.padded_length, device=self.device)[None] < self._tensor(prefix.lengths)[:, None]
        segment = torch.arange(queries, device=self.device) // width  # (copy, half) of every branch token
        offset = torch.arange(queries, device=self.device) % width
        branch = (segment[:, None] == segment[None, :]) & (offset[None, :] <= offset[:, None])
        visible = torch.cat(
            [real[:, None, :].expand(-1, queries, -1), branch[None].expand(len(prefix.lengths), -1, -1)], dim=2
        )[:, None]
        assert visible.shape[-1] == keys
        if not self.eager_masks:
            return visible
        additive = torch.zeros(visible.shape, dtype=self.dtype, device=self.device)
        return additive.masked_fill_(~visible, torch.finfo(self.dtype).min)

    def _cache(self, prefix: _Prefix) -> DynamicCache:
        cache = DynamicCache(config=self.model.config)
        for index, (keys, values) in enumerate(zip(prefix.keys, prefix.values)):
            cache.update(keys, values, index)
        return cache

    # -- the forward pass -------------------------------------------------------------

    def _run(self, stop_after: int | None = None, hooks=(), **inputs) -> torch.Tensor | None:
        """The backbone's forward with hooks; stops after block ``stop_after`` if given."""
        handles = [self.blocks[index].register_forward_hook(hook) for index, hook in hooks]
        if stop_after is not None and stop_after < self.num_layers - 1:

            def stop(module, args, output):
                raise _StopForward

            handles.append(self.blocks[stop_after].register_forward_hook(stop))
        try:
            return self.backbone(**inputs).last_hidden_state
        except _StopForward:
            return None
        finally:
            for handle in handles:
                handle.remove()

    def _forward_branches(
        self,
        prefix: _Prefix,
        branches: _Branches,
        groups: Sequence[tuple[int, torch.Tensor]],
        read_layers: Sequence[int] = (),
        stop_after: int | None = None,
    ) -> tuple[torch.Tensor | None, dict[int, torch.Tensor]]:
        """Branches through the model with one steered copy per group (layer, shift of shape (d,)).

        Groups must be sorted by layer. Returns the final hidden states (items, 2 * width *
        (1 + groups), d), or None when stopped early, and the unsteered block outputs at
        ``read_layers`` (items, 2 * width, d).
        """
        width = branches.width
        base_tokens = 2 * width
        layers = sorted({layer for layer, _ in groups})
        # copies of the branch block seen by each block's input: the base, plus every group fanned out below it
        copies_at = [1 + sum(1 for layer, _ in groups if layer < block) for block in range(self.num_layers)]
        masks = {count: self._mask(prefix, width, count) for count in sorted(set(copies_at))}
        source = torch.arange(base_tokens, device=self.device)
        read: dict[int, torch.Tensor] = {}
        shifts = {layer: [shift for group_layer, shift in groups if group_layer == layer] for layer in layers}

        def fan_out(layer):
            def hook(module, args, output):
                hidden = _block_output(output)
                base = hidden[:, :base_tokens]
                if layer in read_layers:
                    read[layer] = base
                if layer not in shifts:
                    return output
                added = [base + shift.to(self.dtype) for shift in shifts[layer]]
                return _replace_block_output(output, torch.cat([hidden, *added], dim=1))

            return hook

        resized: dict[tuple[str, int], object] = {}

        def resize(block):
            count = copies_at[block]

            def pre_hook(module, args, kwargs):
                kwargs["attention_mask"] = masks[count]
                for name in _SEQUENCE_KWARGS:
                    if name in kwargs and kwargs[name] is not None:
                        key = (name, count)
                        if key not in resized:
                            index = source.repeat(count)
                            value = kwargs[name]
                            resized[key] = (
                                tuple(part[:, index] for part in value) if isinstance(value, tuple) else value[:, index]
                            )
                        kwargs[name] = resized[key]
                return args, kwargs

            return pre_hook

        hooked = sorted(set(layers) | set(read_layers))
        pre_handles = [
            self.blocks[block].register_forward_pre_hook(resize(block), with_kwargs=True)
            for block in range(self.num_layers)
            if copies_at[block] > 1
        ]
        try:
            final = self._run(
                stop_after=stop_after,
                hooks=[(layer, fan_out(layer)) for layer in hooked],
                input_ids=branches.input_ids,
                position_ids=branches.position_ids,
                attention_mask=masks[1],  # a 4D mask is used as it is, for full and sliding-window layers alike
                cache=self._cache(prefix),
                use_cache=True,
            )
        finally:
            for handle in pre_handles:
                handle.remove()
        return final, read

    def _completion_logit_sums(
        self, hidden: torch.Tensor, items: Sequence[EncodedItem], width: int, copies: int
    ) -> torch.Tensor:
        """Summed float32 logits of each completion in each copy: (items, copies, 2)."""
        longest = max(max(len(item.positive_ids), len(item.negative_ids)) for item in items)
        targets = torch.zeros(len(items), 2, longest, dtype=torch.long)
        valid = torch.zeros(len(items), 2, longest, dtype=torch.bool)
        for row, item in enumerate(items):
            for half, completion in enumerate((item.positive_ids, item.negative_ids)):
                targets[row, half, : len(completion)] = torch.tensor(completion)
                valid[row, half, : len(completion)] = True
        targets, valid = targets.to(self.device), valid.to(self.device)
        # Branch position j of a half holds the token before completion token j.
        states = hidden.view(len(items), copies, 2, width, -1)[:, :, :, :longest].float()
        rows = self.unembedding_weight[targets].float()  # (items, 2, longest, d)
        logits = torch.einsum("bchtd,bhtd->bcht", states, rows)
        if self.unembedding_bias is not None:
            logits = logits + self.unembedding_bias[targets].float()[:, None]
        if self.logit_softcap:
            logits = torch.tanh(logits / self.logit_softcap) * self.logit_softcap
        return (logits * valid[:, None]).sum(-1)

    # -- public API -----------------------------------------------------------------

    def _batches(self, items: Sequence[EncodedItem], tokens_per_item) -> list[list[int]]:
        """Item indices grouped into passes: similar lengths together, within the token budget."""
        order = sorted(range(len(items)), key=lambda index: len(items[index].prompt_ids))
        batches, current, longest = [], [], 0
        for index in order:
            cost = tokens_per_item(items[index])
            if current and (
                len(current) >= self.batch_size or max(longest, cost) * (len(current) + 1) > self.token_budget
            ):
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, cost)
        if current:
            batches.append(current)
        return batches

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer} is out of range for a model with {self.num_layers} blocks")

    @torch.inference_mode()
    def logit_differences(
        self,
        items: Sequence[EncodedItem] | EncodedItem,
        steerings: Sequence[Steering],
        layer: int | None = None,
        read_layer: int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Positive minus negative summed completion logits: (items, steerings), float32 on the CPU.

        ``layer`` is the steering layer of settings that give none. With ``read_layer``
        the unsteered answer-letter activations at that block are returned as well,
        (items, 2 [positive, negative], d): they come from the same pass at no extra cost.
        A single item gives one row.
        """
        single = isinstance(items, EncodedItem)
        items = [items] if single else list(items)
        steerings = [
            s if s.layer is not None or s.unsteered else Steering(s.vector, s.multiplier, layer) for s in steerings
        ]
        for steering in steerings:
            if not steering.unsteered:
                self._check_layer(steering.layer)
        if read_layer is not None:
            self._check_layer(read_layer)
        # one group per distinct steered setting, ordered by layer
        keys = list(dict.fromkeys((s.layer, id(s.vector), float(s.multiplier)) for s in steerings if not s.unsteered))
        vectors = {id(s.vector): s.vector for s in steerings if not s.unsteered}
        keys.sort(key=lambda key: key[0])
        column = {key: 1 + index for index, key in enumerate(keys)}
        columns = [0 if s.unsteered else column[(s.layer, id(s.vector), float(s.multiplier))] for s in steerings]
        shifts = [
            (layer_, multiplier * vectors[vector_id].to(self.device, torch.float32))
            for layer_, vector_id, multiplier in keys
        ]
        chunk = self._groups_per_pass(items, len(shifts))
        results = torch.empty(len(items), len(steerings))
        activations = torch.empty(len(items), 2, self.hidden_size) if read_layer is not None else None

        def reach(item: EncodedItem) -> tuple[int, int]:
            # a completion's last token is only a logit target; the letter token is fed if it is read
            least = item.letter_offset + 1 if read_layer is not None else 0
            return tuple(min(len(ids), max(len(ids) - 1, least)) for ids in (item.positive_ids, item.negative_ids))

        for batch in self._batches(items, lambda item: self._tokens(item, chunk)):
            members = [items[index] for index in batch]
            prefix = self._prefix(members)
            branches = self._branches(members, prefix, [reach(item) for item in members])
            sums = []
            for start in range(0, max(1, len(shifts)), max(1, chunk)):
                part = shifts[start : start + chunk]
                read_now = [read_layer] if read_layer is not None and start == 0 else []
                hidden, read = self._forward_branches(prefix, branches, part, read_now)
                logit_sums = self._completion_logit_sums(hidden, members, branches.width, 1 + len(part))
                sums.append(logit_sums if start == 0 else logit_sums[:, 1:])
                if read_now:
                    activations[batch] = self._letter_states(read[read_layer], members, branches.width).float().cpu()
            differences = torch.cat(sums, dim=1)
            differences = (differences[..., 0] - differences[..., 1]).cpu()
            bad = ~torch.isfinite(differences).all(dim=1)
            if bad.any():
                names = ", ".join(members[index].item_id for index in torch.nonzero(bad).flatten().tolist())
                raise NonFiniteError(f"{names}: non-finite logit difference under steering")
            results[batch] = differences[:, columns]
        if single:
            results = results[0]
            activations = activations[0] if activations is not None else None
        return results if read_layer is None else (results, activations)

    def _letter_states(self, base: torch.Tensor, items: Sequence[EncodedItem], width: int) -> torch.Tensor:
        """Rows of a branch block (items, 2 * width, d) at each item's answer-letter token: (items, 2, d)."""
        letters = torch.tensor([1 + item.letter_offset for item in items], device=self.device)
        rows = torch.arange(len(items), device=self.device)
        return torch.stack([base[rows, letters], base[rows, width + letters]], dim=1)

    def _tokens(self, item: EncodedItem, groups: int) -> int:
        branch = 1 + max(len(item.positive_ids), len(item.negative_ids))
        return len(item.prompt_ids) + 2 * branch * (1 + groups)

    def _groups_per_pass(self, items: Sequence[EncodedItem], groups: int) -> int:
        """Steered copies per pass so that the longest item alone fits the token budget."""
        longest = max(items, key=lambda item: self._tokens(item, 0))
        per_pass = groups
        while per_pass > 1 and self._tokens(longest, per_pass) > self.token_budget:
            per_pass = (per_pass + 1) // 2
        return per_pass

    @torch.inference_mode()
    def letter_activations(
        self, items: Sequence[EncodedItem] | EncodedItem, layers: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Residual stream at the answer-letter token: (items, 2 [positive, negative], layers, d), float32 on the CPU.

        ``layers`` defaults to every block; the pass stops after the last one read.
        """
        single = isinstance(items, EncodedItem)
        items = [items] if single else list(items)
        layers = list(range(self.num_layers)) if layers is None else list(layers)
        for layer in layers:
            self._check_layer(layer)
        result = torch.empty(len(items), 2, len(layers), self.hidden_size)
        for batch in self._batches(items, lambda item: self._tokens(item, 0)):
            members = [items[index] for index in batch]
            prefix = self._prefix(members, stop_after=max(layers))
            reach = [(item.letter_offset + 1,) * 2 for item in members]
            branches = self._branches(members, prefix, reach)
            _, read = self._forward_branches(prefix, branches, [], layers, stop_after=max(layers))
            states = torch.stack([self._letter_states(read[layer], members, branches.width) for layer in layers], 2)
            states = states.float().cpu()
            bad = ~torch.isfinite(states).flatten(1).all(dim=1)
            if bad.any():
                names = ", ".join(members[index].item_id for index in torch.nonzero(bad).flatten().tolist())
                raise NonFiniteError(f"{names}: non-finite activation")
            result[batch] = states
        return result[0] if single else result

    def _tensor(self, values) -> torch.Tensor:
        return torch.tensor(values, device=self.device)
