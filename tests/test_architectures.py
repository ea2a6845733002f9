"""The engine on each paper architecture, as tiny random-weight models built from transformers configs
(tests/tiny_models.py): Llama (Llama-2-7b-chat), Qwen2 (Qwen1.5-14B-Chat: attention bias) and Gemma-2
(gemma-2-2b-it: eager attention, attention and final logit soft-capping, sliding-window layers), under
every attention implementation the architecture supports. The three model jobs' computations
(cache_activations, evaluate_steering, layer_sweep: the package functions their scripts call) must equal
plain forward passes, one per completion and steering setting, on real prompts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import SequenceTooLongError, SteeringEngine
from steering_reliability.model.evaluation import propensity_table
from steering_reliability.model.sweep import layer_sweep

from conftest import load_real_items
from reference import full_forward_activations, full_forward_logit_difference
from tiny_models import ATTENTION, tiny_model

CASES = [(architecture, attention) for architecture, choices in ATTENTION.items() for attention in choices]
LAYER = 1  # of 4 blocks
MULTIPLIERS = [-1.5, 0.0, 1.0]


@pytest.fixture(scope="module")
def items(small_model, datasets_dir):
    """Real prompts (SmolLM2's chat template and tokenizer): a persona dataset (Yes/No) and an A/B one."""
    tokenizer = small_model[1]
    encoded = []
    for name, count in (("anti-LGBTQ-rights", 4), ("corrigible-neutral-HHH", 2)):
        table = split_items(load_real_items(datasets_dir, name), seed=0, max_items=16)
        rows = selected(table, "test")
        shortest = rows.loc[rows["question"].str.len().sort_values().index[:count]]
        encoded += encode_rows(tokenizer, shortest)
    return encoded


@pytest.fixture(scope="module", params=CASES, ids=[f"{a}-{b}" for a, b in CASES])
def case(request):
    architecture, attention = request.param
    model = tiny_model(architecture, attention)
    assert model.config._attn_implementation == attention
    return architecture, model


def _engine(model):
    return SteeringEngine(model, token_budget=400, batch_size=3)  # several passes, steering settings split


def _close(ours, reference, what):
    ours, reference = np.asarray(ours, dtype=float), np.asarray(reference, dtype=float)
    assert np.abs(ours - reference).max() <= 1e-4 * max(1.0, np.abs(reference).max()), what


def test_cache_activations_equal_a_plain_forward_pass(case, items):
    architecture, model = case
    recorded = letter_activations(_engine(model), items, [LAYER, 3])
    for index, item in enumerate(items):
        reference = full_forward_activations(model, item)[:, [LAYER, 3]]
        _close(recorded["positive"][index], reference[0], f"{architecture} {item.item_id} positive")
        _close(recorded["negative"][index], reference[1], f"{architecture} {item.item_id} negative")


def test_evaluate_steering_equals_a_plain_forward_pass(case, items):
    architecture, model = case
    generator = torch.Generator().manual_seed(3)
    vectors = {name: torch.randn(model.config.hidden_size, generator=generator) for name in ("baseline", "SYS_pos")}
    table, letter = propensity_table(_engine(model), items, LAYER, vectors, MULTIPLIERS)
    values = table.set_index(["item_id", "vector", "multiplier"])["logit_diff"]
    for item in items[::2]:  # every second item: the references are one forward pass per completion and setting
        ours = [values[(item.item_id, name, m)] for name in vectors for m in MULTIPLIERS]
        reference = [
            full_forward_logit_difference(model, item, LAYER, vectors[name], m) for name in vectors for m in MULTIPLIERS
        ]
        _close(ours, reference, f"{architecture} {item.item_id}")
        assert max(reference) - min(reference) > 0.05, "steering changed nothing: the comparison would be vacuous"
    # the evaluation pass also reads the unsteered letter activations at the steering layer
    expected = torch.stack([full_forward_activations(model, item)[:, LAYER] for item in items])
    _close(letter, expected, f"{architecture} letter activations of the evaluation pass")


def test_layer_sweep_equals_a_plain_forward_pass(case, items):
    architecture, model = case
    engine = _engine(model)
    train, test = items[:4], items[4:]
    layers = list(range(model.config.num_hidden_layers))
    activations = letter_activations(engine, train, layers)
    sweep = layer_sweep(engine, activations, test, layers, [-1.0, 1.0])
    vectors = (activations["positive"] - activations["negative"]).mean(0)  # CAA: (layers, d)
    values = sweep.set_index(["layer", "item_id", "multiplier"])["logit_diff"]
    for layer in (0, 2):
        for item in test:
            reference = [full_forward_logit_difference(model, item, layer, vectors[layer], m) for m in (-1.0, 1.0)]
            _close([values[(layer, item.item_id, m)] for m in (-1.0, 1.0)], reference, f"{architecture} layer {layer}")


def test_a_sliding_window_shorter_than_an_item_is_refused_before_compute(items):
    """Gemma-2 alternates full and sliding-window layers. The engine's masks let every token see its whole
    prompt, which is exact while the prompt fits the window (gemma-2-2b: 4096 tokens; the paper's prompts
    are under 1000); a window shorter than an item is an error that names the item, before any pass."""
    model = tiny_model("gemma2", "eager", sliding_window=32)
    passes = []
    model.model.embed_tokens.register_forward_hook(lambda *args: passes.append(1))
    engine = SteeringEngine(model)
    assert engine.sliding_window == 32
    for compute in (
        lambda: letter_activations(engine, items, [LAYER]),
        lambda: propensity_table(engine, items, LAYER, {"baseline": torch.ones(64)}, MULTIPLIERS),
    ):
        with pytest.raises(SequenceTooLongError, match=rf"item {items[0].item_id} has \d+ tokens.*window \(32\)"):
            compute()
    assert not passes, "a forward pass ran before the check"
    # a window that holds every item: no error (Qwen2's sliding window is off unless use_sliding_window)
    assert SteeringEngine(tiny_model("gemma2", "eager", sliding_window=1024)).sliding_window == 1024
    assert SteeringEngine(tiny_model("qwen2", "sdpa")).sliding_window is None


def test_an_item_longer_than_the_models_context_is_refused_before_compute(items):
    """A prompt past max_position_embeddings (a long system prompt on a short-context model) would run on positions
    the model never saw: an error naming the item and the key to change, before any pass."""
    model = tiny_model("llama", "sdpa", max_position_embeddings=24)
    passes = []
    model.model.embed_tokens.register_forward_hook(lambda *args: passes.append(1))
    engine = SteeringEngine(model)
    with pytest.raises(SequenceTooLongError, match=rf"item {items[0].item_id} has \d+ tokens.*context \(24 positions"):
        letter_activations(engine, items, [LAYER])
    assert not passes, "a forward pass ran before the check"
