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

Shapes: an item's prompt is padded to a multiple of ``WIDTH_QUANTUM`` tokens and its completions
to the longest of its call, and a pass only holds items of one padded width, so every item is
computed with the same shapes whatever the batch size or token budget: in bfloat16 a different
padding changed logit differences by up to ~0.1 (tiny Qwen2, CPU); now they agree to 1e-5
(tests/test_engine.py).

Memory: a batch's prefix key/value cache is handed to the branch pass's cache (not kept beside
it) and every tensor of a batch is released before the next batch's prefix pass. A batch that
runs out of accelerator memory is split in two, each half with the whole batch's widths, so the
numbers are unchanged (bit-identical on the CPU, tested); only a single item that does not fit
is an error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import DynamicCache

from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.models import decoder_layers

# An item's prompt (after the shared prefix) is padded to a multiple of this many tokens, its own
# width whatever its batch-mates: about 8 tokens of padding per item, against the sorted batches'
# few, for numbers that do not depend on how items are batched.
WIDTH_QUANTUM = 16

# Keyword arguments of a decoder block whose second dimension is the sequence: the
# fan-out hooks hand later blocks versions that match the longer sequence.
_SEQUENCE_KWARGS = ("position_ids", "position_embeddings", "position_embeddings_global", "position_embeddings_local")


log = logging.getLogger(__name__)


class NonFiniteError(FloatingPointError):
    """NaN or inf in activations or logits; the message names the item."""


class ItemTooLargeError(MemoryError):
    """One item (with its steering copies) does not fit in the device's memory; the message says what to lower."""


class SequenceTooLongError(ValueError):
    """An item is longer than the model's context, or than its sliding attention window (the engine's masks assume
    no window)."""


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


@dataclass(frozen=True)
class _Layout:
    """The padded widths of one planned batch: a part of a split batch keeps them, so each row sees the same shapes."""

    prefix_width: int  # prompt tokens after the shared prefix, minus the last one
    branch_width: int  # 1 + the longest completion part fed
    longest: int  # the longest completion (logit targets)


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

    def __init__(
        self, model: nn.Module, token_budget: int = 16384, batch_size: int = 16, name: str | None = None
    ) -> None:
        self.model = model
        self.name = name or getattr(model.config, "name_or_path", None) or type(model).__name__
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
        self.sliding_window = sliding_window(model.config)
        self.context = getattr(model.config, "max_position_embeddings", None)
        self._shared = None  # (token ids, per-layer keys/values) of a prefix shared by many items
        # Tokens of the smallest pass that ran out of memory: passes as large are split before they run.
        self._out_of_memory_at: int | None = None
        self.splits = 0  # passes split after running out of memory (recorded in the job's memory log)

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
        self.check_items(items)
        self._shared = None  # released before the new one is computed
        prefixes = [item.prompt_ids[:-1] for item in items]
        shared = shared_prefix_length(prefixes)
        if shared == 0:
            return 0
        cache = DynamicCache(config=self.model.config)
        self.backbone(input_ids=self._tensor([prefixes[0][:shared]]), cache=cache, use_cache=True)
        self._shared = (tuple(prefixes[0][:shared]), [(layer.keys, layer.values) for layer in cache.layers])
        return shared

    def _shared_length(self, items: Sequence[EncodedItem]) -> int:
        """Tokens of the shared prefix that every one of ``items`` starts with (a pass's items agree: ``_batches``)."""
        return min((self._shared_for(item) for item in items), default=0)

    def _shared_for(self, item: EncodedItem) -> int:
        if self._shared is None:
            return 0
        ids = self._shared[0]
        return len(ids) if len(item.prompt_ids) - 1 > len(ids) and item.prompt_ids[: len(ids)] == ids else 0

    def _width(self, item: EncodedItem) -> tuple[int, int]:
        """(shared prefix tokens, padded width of the rest of the prompt minus its last token) of one item."""
        shared = self._shared_for(item)
        own = len(item.prompt_ids) - 1 - shared
        return shared, WIDTH_QUANTUM * -(-own // WIDTH_QUANTUM)

    def _prefix(self, items: Sequence[EncodedItem], width: int, stop_after: int | None = None) -> _Prefix:
        """One pass over the items' prefixes, right-padded to ``width`` (padding is masked later)."""
        shared = self._shared_length(items)
        continuations = [item.prompt_ids[shared:-1] for item in items]
        cache = self._filled_cache(
            [
                (keys.expand(len(items), *keys.shape[1:]), values.expand(len(items), *values.shape[1:]))
                for keys, values in (self._shared[1] if shared else [])
            ]
        )
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

    def _branches(
        self, items: Sequence[EncodedItem], prefix: _Prefix, reach: Sequence[tuple[int, int]], width: int
    ) -> _Branches:
        """[last prompt token] + the first ``reach`` tokens of each completion, per item, padded to ``width``."""
        lengths = [(1 + positive, 1 + negative) for positive, negative in reach]
        input_ids, position_ids = [], []
        for item, (positive, negative), prefix_length in zip(items, reach, prefix.lengths):
            row = []
            for completion, count in ((item.positive_ids, positive), (item.negative_ids, negative)):
                tokens = [item.prompt_ids[-1], *completion[:count]]
                row += tokens + [tokens[-1]] * (width - len(tokens))
            input_ids.append(row)
            position_ids.append(list(range(prefix_length, prefix_length + width)) * 2)
        return _Branches(self._tensor(input_ids), self._tensor(position_ids), width, lengths)

    def _layout(self, items: Sequence[EncodedItem], reach: Sequence[tuple[int, int]]) -> _Layout:
        """The widths every pass of a call uses: the completions' of the whole call (``items``, ``reach``); the
        prompt width is each pass's own (``_width``), set in ``_pass_layout``."""
        return _Layout(
            prefix_width=0,
            branch_width=max(1 + max(pair) for pair in reach),
            longest=max(max(len(item.positive_ids), len(item.negative_ids)) for item in items),
        )

    def _pass_layout(self, call: _Layout, members: Sequence[EncodedItem]) -> _Layout:
        return _Layout(self._width(members[0])[1], call.branch_width, call.longest)

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

    def _cache(self, prefix: _Prefix, consume: bool) -> DynamicCache:
        """A cache holding the prefix; with ``consume`` the prefix lets go of its tensors, so that each
        layer's prefix keys/values are freed as soon as the branch pass has appended to them."""
        cache = self._filled_cache(list(zip(prefix.keys, prefix.values)))
        if consume:
            prefix.keys, prefix.values = [], []
        return cache

    def _filled_cache(self, layers: list[tuple[torch.Tensor, torch.Tensor]]) -> DynamicCache:
        """A cache whose first layers hold these keys/values as they are, not copied.

        ``DynamicCache.update`` would concatenate them onto an empty tensor, a copy of the whole
        prefix that lives beside the original; the forward pass's own update concatenates the
        new tokens onto them anyway, so they are set in place (for sliding-window layers with
        their length, which the engine keeps within the window: ``check_items``).
        """
        cache = DynamicCache(config=self.model.config)
        for layer, (keys, values) in zip(cache.layers, layers):
            layer.lazy_initialization(keys, values)
            layer.keys, layer.values = keys, values
            if hasattr(layer, "cumulative_length"):
                layer.cumulative_length = keys.shape[-2]
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
        consume: bool = True,
    ) -> tuple[torch.Tensor | None, dict[int, torch.Tensor]]:
        """Branches through the model with one steered copy per group (layer, shift of shape (d,)).

        Groups must be sorted by layer. Returns the final hidden states (items, 2 * width *
        (1 + groups), d), or None when stopped early, and the unsteered block outputs at
        ``read_layers`` (items, 2 * width, d). ``consume`` hands the prefix's tensors to the
        pass (the last pass over a prefix).
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
                cache=self._cache(prefix, consume),
                use_cache=True,
            )
        finally:
            for handle in pre_handles:
                handle.remove()
        return final, read

    def _completion_logit_sums(
        self, hidden: torch.Tensor, items: Sequence[EncodedItem], width: int, copies: int, longest: int
    ) -> torch.Tensor:
        """Summed float32 logits of each completion in each copy: (items, copies, 2)."""
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

    # -- batches and memory -----------------------------------------------------------

    def _batches(self, items: Sequence[EncodedItem], tokens_per_item) -> list[list[int]]:
        """Item indices grouped into passes: one padded width per pass, shortest first, within the token budget."""
        order = sorted(range(len(items)), key=lambda index: (self._width(items[index]), len(items[index].prompt_ids)))
        batches, current, longest = [], [], 0
        for index in order:
            cost = tokens_per_item(items[index])
            if current and (
                len(current) >= self.batch_size
                or max(longest, cost) * (len(current) + 1) > self.token_budget
                or self._width(items[index]) != self._width(items[current[0]])
            ):
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, cost)
        if current:
            batches.append(current)
        return batches

    def _fitted(
        self, members: list[EncodedItem], tokens: int, compute: Callable[[list[EncodedItem]], tuple], what: str
    ) -> tuple:
        """``compute(members)``, split into halves (recursively) while it runs out of memory.

        ``compute`` returns a tuple of CPU tensors (or None) whose first dimension is the
        items; the halves' results are concatenated. ``tokens`` is the pass's padded size.
        A single item that does not fit raises ``ItemTooLargeError``.
        """
        if len(members) > 1 and self._out_of_memory_at is not None and tokens >= self._out_of_memory_at:
            return self._halves(members, tokens, compute, what)
        out_of_memory = False
        try:
            return compute(members)
        except torch.OutOfMemoryError:
            out_of_memory = True  # handled below, once the failed pass's tensors (held by the traceback) are gone
        if out_of_memory:
            self._release()
            self._out_of_memory_at = min(tokens, self._out_of_memory_at or tokens)
            if len(members) == 1:
                raise ItemTooLargeError(
                    f"model {self.name}: item {members[0].item_id} ({tokens} tokens in one pass, {what}) does not fit "
                    f"in the memory of {self.device} at token_budget {self.token_budget}: lower the model's "
                    "token_budget (models.<name>.token_budget or compute.token_budget) or use a larger GPU"
                )
            self.splits += 1
            log.warning(
                "%s: out of memory on %s (%d items, %d tokens): split in two", self.device, what, len(members), tokens
            )
        return self._halves(members, tokens, compute, what)

    def _halves(self, members, tokens, compute, what) -> tuple:
        middle = len(members) // 2
        parts = [
            self._fitted(part, tokens * len(part) // len(members), compute, what)
            for part in (members[:middle], members[middle:])
        ]
        return tuple(None if first is None else torch.cat([first, second]) for first, second in zip(*parts))

    def _release(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer {layer} is out of range for a model with {self.num_layers} blocks")

    def check_items(self, items: Sequence[EncodedItem]) -> None:
        """Refuse, before any compute, items longer than the model's context, or than its sliding attention window
        (the engine cannot run those exactly: see ``sliding_window``)."""
        for item in items:
            length = len(item.prompt_ids) + max(len(item.positive_ids), len(item.negative_ids))
            if self.context is not None and length > self.context:
                raise SequenceTooLongError(
                    f"model {self.name}: item {item.item_id} has {length} tokens, more than the model's context "
                    f"({self.context} positions, max_position_embeddings): shorten prompt.system_prompt or leave "
                    "this dataset out"
                )
            if self.sliding_window is not None and length > self.sliding_window:
                raise SequenceTooLongError(
                    f"model {self.name}: item {item.item_id} has {length} tokens, more than the model's sliding "
                    f"attention window ({self.sliding_window}); the engine's attention masks assume every token "
                    "sees the whole prompt: leave this item (dataset) out or use a model without a window this short"
                )

    # -- public API -----------------------------------------------------------------

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
        self.check_items(items)
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

        call = self._layout(items, [reach(item) for item in items])
        for batch in self._batches(items, lambda item: self._tokens(item, chunk)):
            members = [items[index] for index in batch]
            layout = self._pass_layout(call, members)

            def compute(part: list[EncodedItem]) -> tuple[torch.Tensor, torch.Tensor | None]:
                return self._steered_pass(part, layout, [reach(item) for item in part], shifts, chunk, read_layer)

            tokens = len(members) * max(self._tokens(item, chunk) for item in members)
            differences, letter = self._fitted(members, tokens, compute, f"{len(shifts)} steering settings")
            results[batch] = differences[:, columns]
            if letter is not None:
                activations[batch] = letter
        if single:
            results = results[0]
            activations = activations[0] if activations is not None else None
        return results if read_layer is None else (results, activations)

    def _steered_pass(
        self,
        members: list[EncodedItem],
        layout: _Layout,
        reach: list[tuple[int, int]],
        shifts: list[tuple[int, torch.Tensor]],
        chunk: int,
        read_layer: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One batch: (logit differences (items, 1 + settings), letter activations or None), on the CPU.

        Every tensor on the device is released when this returns.
        """
        prefix = self._prefix(members, layout.prefix_width)
        branches = self._branches(members, prefix, reach, layout.branch_width)
        sums, activations = [], None
        starts = range(0, max(1, len(shifts)), max(1, chunk))
        for start in starts:
            part = shifts[start : start + chunk]
            read_now = [read_layer] if read_layer is not None and start == 0 else []
            hidden, read = self._forward_branches(prefix, branches, part, read_now, consume=start == starts[-1])
            if read_now:
                activations = self._letter_states(read.pop(read_layer), members, branches.width).float().cpu()
            logit_sums = self._completion_logit_sums(hidden, members, branches.width, 1 + len(part), layout.longest)
            del hidden
            sums.append((logit_sums if start == 0 else logit_sums[:, 1:]).cpu())
        differences = torch.cat(sums, dim=1)
        differences = differences[..., 0] - differences[..., 1]
        bad = ~torch.isfinite(differences).all(dim=1)
        if bad.any():
            names = ", ".join(members[index].item_id for index in torch.nonzero(bad).flatten().tolist())
            raise NonFiniteError(f"{names}: non-finite logit difference under steering")
        return differences, activations

    def _letter_states(self, base: torch.Tensor, items: Sequence[EncodedItem], width: int) -> torch.Tensor:
        """Rows of a branch block (items, 2 * width, d) at each item's answer-letter token: (items, 2, d)."""
        letters = torch.tensor([1 + item.letter_offset for item in items], device=self.device)
        rows = torch.arange(len(items), device=self.device)
        return torch.stack([base[rows, letters], base[rows, width + letters]], dim=1)

    def passes(self, items: Sequence[EncodedItem], settings: int = 0) -> list[list[int]]:
        """The items of each pass (indices into ``items``), as the engine runs them with ``settings`` steered
        settings per item (0: activations only)."""
        chunk = self._groups_per_pass(items, settings)
        return self._batches(items, lambda item: self._tokens(item, chunk))

    def _tokens(self, item: EncodedItem, groups: int) -> int:
        """Tokens of one item in a pass with ``groups`` steered copies: its padded prompt and its branches."""
        branch = 1 + max(len(item.positive_ids), len(item.negative_ids))
        return sum(self._width(item)) + 1 + 2 * branch * (1 + groups)

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
        self.check_items(items)
        layers = list(range(self.num_layers)) if layers is None else list(layers)
        for layer in layers:
            self._check_layer(layer)
        result = torch.empty(len(items), 2, len(layers), self.hidden_size)
        call = self._layout(items, [(item.letter_offset + 1,) * 2 for item in items])
        for batch in self._batches(items, lambda item: self._tokens(item, 0)):
            members = [items[index] for index in batch]
            layout = self._pass_layout(call, members)

            def compute(part: list[EncodedItem]) -> tuple[torch.Tensor]:
                return (self._recorded_pass(part, layout, [(i.letter_offset + 1,) * 2 for i in part], layers),)

            tokens = len(members) * max(self._tokens(item, 0) for item in members)
            (result[batch],) = self._fitted(members, tokens, compute, "answer-letter activations")
        return result[0] if single else result

    def _recorded_pass(
        self, members: list[EncodedItem], layout: _Layout, reach: list[tuple[int, int]], layers: list[int]
    ) -> torch.Tensor:
        """One batch's answer-letter activations (items, 2, layers, d) on the CPU; device tensors released."""
        prefix = self._prefix(members, layout.prefix_width, stop_after=max(layers))
        branches = self._branches(members, prefix, reach, layout.branch_width)
        _, read = self._forward_branches(prefix, branches, [], layers, stop_after=max(layers))
        states = torch.stack(
            [self._letter_states(read.pop(layer), members, branches.width).float().cpu() for layer in layers], 2
        )
        bad = ~torch.isfinite(states).flatten(1).all(dim=1)
        if bad.any():
            names = ", ".join(members[index].item_id for index in torch.nonzero(bad).flatten().tolist())
            raise NonFiniteError(f"{names}: non-finite activation")
        return states

    def _tensor(self, values) -> torch.Tensor:
        return torch.tensor(values, device=self.device)


def sliding_window(config) -> int | None:
    """The shortest sliding attention window of the model's layers, or None if every layer sees the whole sequence."""
    config = getattr(config, "text_config", None) or config
    window = getattr(config, "sliding_window", None)
    if not window:
        return None
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and "sliding_attention" not in layer_types:
        return None  # e.g. Qwen2 with use_sliding_window off
    return int(window)


def shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens at the start of every sequence that all share, leaving each at least one token of its own."""
    limit = min((len(ids) for ids in sequences), default=1) - 1
    shared = 0
    while shared < limit and all(ids[shared] == sequences[0][shared] for ids in sequences):
        shared += 1
    return shared
