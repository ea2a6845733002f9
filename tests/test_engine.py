"""The steering engine on the real SmolLM2-135M and real items."""

from __future__ import annotations

import pytest
import torch

from steering_reliability.activations import letter_activations
from steering_reliability.engine import NonFiniteError, Steering, SteeringEngine
from steering_reliability.items import selected, split_items
from steering_reliability.prompts import encode_item, encode_rows, render_prompt
from steering_reliability.vectors import caa_vector

from conftest import SMALL_MODEL_LAYER, load_real_items
from reference import full_forward_activations, full_forward_logit_difference

MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


@pytest.fixture(scope="module")
def engine(small_model):
    return SteeringEngine(small_model[0], token_budget=500)  # a few rows per batch: exercises chunking


@pytest.fixture(scope="module")
def real_items(small_model, datasets_dir):
    tokenizer = small_model[1]
    items = (
        load_real_items(datasets_dir, "corrigible-neutral-HHH")[:2]
        + load_real_items(datasets_dir, "anti-LGBTQ-rights")[:2]
    )
    return [
        encode_item(tokenizer, i.item_id, render_prompt(tokenizer, i.question), i.positive_answer, i.negative_answer)
        for i in items
    ]


def test_answer_letter_is_found_by_comparison(small_model, real_items):
    tokenizer = small_model[1]
    for item in real_items:
        # SmolLM2 writes "(", "A", ")": the letter is the second completion token
        assert item.letter_offset == 1
        assert tokenizer.decode([item.positive_ids[item.letter_offset]]) in ("A", "B")
        assert item.positive_ids[0] == item.negative_ids[0]


def test_engine_equals_full_forward_for_every_multiplier(small_model, engine, real_items):
    model = small_model[0]
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(1)) * 3
    for item in real_items:
        ours = engine.logit_differences(item, SMALL_MODEL_LAYER, [Steering(vector, m) for m in MULTIPLIERS])
        reference = [full_forward_logit_difference(model, item, SMALL_MODEL_LAYER, vector, m) for m in MULTIPLIERS]
        assert ours.tolist() == pytest.approx(reference, abs=1e-4)
        # steering changed something, so the comparison is not vacuous
        assert max(reference) - min(reference) > 0.1


def test_engine_activations_equal_full_forward(small_model, engine, real_items):
    for item in real_items[:2]:
        ours = engine.letter_activations(item)
        reference = full_forward_activations(small_model[0], item)
        scale = reference.abs().max()
        assert (ours - reference).abs().max() / scale < 1e-5


def test_caa_vector_steers_the_logit_difference_up(small_model, engine, datasets_dir):
    tokenizer = small_model[1]
    table = split_items(load_real_items(datasets_dir, "sycophancy_test"), seed=0, max_items=24)
    train = encode_rows(tokenizer, selected(table, "train"))
    test = encode_rows(tokenizer, selected(table, "test"))[:6]
    activations = letter_activations(engine, train)
    vector = caa_vector(activations["positive"][:, SMALL_MODEL_LAYER], activations["negative"][:, SMALL_MODEL_LAYER])
    shifts = []
    for item in test:
        minus, zero, plus = engine.logit_differences(
            item, SMALL_MODEL_LAYER, [Steering(vector, m) for m in (-4.0, 0.0, 4.0)]
        ).tolist()
        shifts.append(plus - minus)
    assert sum(shifts) / len(shifts) > 0.5


def test_non_finite_steering_names_the_item(engine, real_items):
    vector = torch.full((engine.unembedding_weight.shape[1],), float("nan"))
    with pytest.raises(NonFiniteError, match=real_items[0].item_id):
        engine.logit_differences(real_items[0], SMALL_MODEL_LAYER, [Steering(vector, 1.0)])


def test_layer_out_of_range_is_refused(engine, real_items):
    with pytest.raises(ValueError, match="out of range"):
        engine.logit_differences(real_items[0], engine.num_layers, [Steering(None, 0.0)])


def test_shared_prompt_prefix_gives_the_same_numbers(small_model, real_items):
    """Items of one dataset share the system turn and question stem; caching it once changes nothing."""
    model = small_model[0]
    engine = SteeringEngine(model)
    persona = [item for item in real_items if item.item_id.startswith("anti-LGBTQ-rights")]
    shared = engine.share_prefix(persona)
    assert shared > 20  # system turn, user header and the persona question stem
    vector = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(2)) * 3
    for item in persona:
        ours = engine.logit_differences(item, SMALL_MODEL_LAYER, [Steering(vector, m) for m in (-1.0, 0.0, 1.5)])
        reference = [full_forward_logit_difference(model, item, SMALL_MODEL_LAYER, vector, m) for m in (-1.0, 0.0, 1.5)]
        assert ours.tolist() == pytest.approx(reference, abs=1e-4)
        activations = engine.letter_activations(item)
        expected = full_forward_activations(model, item)
        assert (activations - expected).abs().max() / expected.abs().max() < 1e-5
