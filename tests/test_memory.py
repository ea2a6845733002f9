"""The engine's memory: an out-of-memory error splits a pass instead of ending the job, with identical
numbers; each batch's tensors are released before the next batch; the prefix cache is not held twice."""

from __future__ import annotations

import logging
import re

import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.engine import ItemTooLargeError, Steering, SteeringEngine
from steering_reliability.model.fake_device import FakeAccelerator, meta_model, resident_bytes

from conftest import load_real_items
from tiny_models import ATTENTION, tiny_config, tiny_model


@pytest.fixture(scope="module")
def items(small_model, datasets_dir):
    table = split_items(load_real_items(datasets_dir, "anti-LGBTQ-rights"), seed=0, max_items=16)
    return encode_rows(small_model[1], selected(table, "test"))


class OutOfMemory:
    """A forward pre-hook on a block that raises CUDA's out-of-memory error, as a GPU would: ``times`` times,
    on passes of at least ``min_items`` items."""

    def __init__(self, times: int = 1, min_items: int = 2):
        self.times, self.min_items, self.raised = times, min_items, 0

    def __call__(self, module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        if self.raised < self.times and hidden.shape[0] >= self.min_items:
            self.raised += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test)")


@pytest.mark.parametrize("architecture", list(ATTENTION))
def test_out_of_memory_splits_the_pass_and_changes_no_number(architecture, items, caplog):
    model = tiny_model(architecture, ATTENTION[architecture][-1])
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(5))
    steerings = [Steering(vector, m, 1) for m in (-1.0, 0.0, 1.0)] + [Steering(vector, 0.5, 3)]

    def run(engine):
        engine.share_prefix(items)
        differences, letter = engine.logit_differences(items, steerings, read_layer=1)
        return differences, letter, engine.letter_activations(items, [1, 2])

    unsplit = run(SteeringEngine(model, batch_size=8))
    engine = SteeringEngine(model, batch_size=8)
    failing = OutOfMemory(times=1)
    handle = engine.blocks[2].register_forward_pre_hook(failing, with_kwargs=True)  # mid-pass, after blocks 0-1 ran
    with caplog.at_level(logging.WARNING, logger="steering_reliability.model.engine"):
        split = run(engine)
    handle.remove()
    assert failing.raised == 1 and engine.splits == 1
    assert re.search(r"out of memory on 3 steering settings \(\d+ items, \d+ tokens\): split in two", caplog.text)
    for ours, reference in zip(split, unsplit):
        assert torch.equal(ours, reference)  # the halves keep the batch's padded widths: bit-identical on the CPU


def test_after_one_out_of_memory_error_passes_as_large_are_split_before_they_run(items):
    model = tiny_model("llama", "sdpa")
    engine = SteeringEngine(model, batch_size=4)  # four passes of four items, shortest prompts first
    failing = OutOfMemory(times=100, min_items=3)
    engine.blocks[0].register_forward_pre_hook(failing, with_kwargs=True)
    engine.letter_activations(items, [1])
    # the first four-item pass failed; the three later ones (as many tokens or more) were split before running
    assert failing.raised == 1 and engine.splits == 1


def test_an_item_that_does_not_fit_alone_is_one_clear_error(items):
    model = tiny_model("qwen2", "sdpa")
    engine = SteeringEngine(model, token_budget=4096, batch_size=8, name="qwen1.5-14b-chat")
    engine.blocks[0].register_forward_pre_hook(OutOfMemory(times=100, min_items=1), with_kwargs=True)
    steerings = [Steering(torch.ones(64), m, 1) for m in (-1.0, 1.0)]
    with pytest.raises(ItemTooLargeError) as error:
        engine.logit_differences(items[:2], steerings)
    message = str(error.value)
    assert message.startswith("model qwen1.5-14b-chat: item anti-LGBTQ-rights/")
    tokens = max(engine._tokens(item, 2) for item in items[:2])
    assert f"({tokens} tokens in one pass" in message or "tokens in one pass" in message
    assert "token_budget 4096" in message and "lower the model's token_budget" in message


# -- memory on the meta device ------------------------------------------------------


def _peak(model, compute) -> int:
    """Peak device bytes above the weights while ``compute(engine)`` runs on the meta device."""
    weights = resident_bytes(model)
    with FakeAccelerator(weights) as fake:
        compute(SteeringEngine(model, token_budget=2048, batch_size=4))
    return fake.peak - weights


def test_each_batch_is_released_before_the_next_batch_runs(items):
    """The peak of a run over several batches is the peak of its largest batch alone: nothing of a batch
    survives into the next one's passes."""
    model = meta_model(tiny_config("llama", hidden_size=256, intermediate_size=512), torch.bfloat16, "sdpa")
    vector = torch.ones(256)

    def evaluate(subset):
        return lambda engine: engine.logit_differences(subset, [Steering(vector, m, 1) for m in (-1.0, 1.0)])

    batches = SteeringEngine(model, token_budget=2048, batch_size=4)._batches(items, lambda item: 1)
    assert len(batches) >= 2
    alone = [_peak(model, evaluate([items[index] for index in batch])) for batch in batches]
    assert _peak(model, evaluate(items)) == max(alone)


def test_the_prefix_cache_is_handed_to_the_branch_pass_not_kept_beside_it(items, monkeypatch):
    """Planted regression, the engine before this was fixed: the branch pass's cache is a copy of the prefix's
    keys/values (DynamicCache.update concatenates onto an empty tensor) and the prefix keeps its own. That
    raises the peak by the prefix cache's size; the engine's own peak is lower by at least that."""
    config = tiny_config("qwen2", hidden_size=256, intermediate_size=512)
    model = meta_model(config, torch.bfloat16, "sdpa")
    batch = items[:4]

    def evaluate(engine):  # many settings at block 0: the branch pass, which holds the prefix cache, is the peak
        engine.logit_differences(batch, [Steering(torch.ones(256), m, 0) for m in range(1, 41)])

    engine_peak = _peak(model, evaluate)

    def copied_and_kept(self, prefix, consume):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        for index, (keys, values) in enumerate(zip(prefix.keys, prefix.values)):
            cache.update(keys, values, index)
        return cache

    monkeypatch.setattr(SteeringEngine, "_cache", copied_and_kept)
    kept_peak = _peak(model, evaluate)
    prefix_tokens = sum(len(item.prompt_ids) - 1 for item in batch)
    head_dim = config.hidden_size // config.num_attention_heads
    kv_bytes = prefix_tokens * config.num_hidden_layers * 2 * config.num_key_value_heads * head_dim * 2  # bf16
    assert kept_peak - engine_peak >= 0.9 * kv_bytes
