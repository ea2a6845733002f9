"""The steering engine on the real SmolLM2-135M and real items."""

from __future__ import annotations

import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_item, encode_rows, render_prompt
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import NonFiniteError, Steering, SteeringEngine
from steering_reliability.model.vectors import caa_vector

from conftest import SMALL_MODEL_LAYER, TEST_MIRROR, load_real_items
from reference import full_forward_activations, full_forward_logit_difference

MULTIPLIERS = [-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5]


@pytest.fixture(scope="module")
def real_items(small_model, datasets_dir):
    tokenizer = small_model[1]

    def shortest(name, count):  # short prompts keep the full-forward references cheap
        return sorted(load_real_items(datasets_dir, name), key=lambda item: len(item.question))[:count]

    items = shortest("corrigible-neutral-HHH", 2) + shortest("anti-LGBTQ-rights", 3)
    return [
        encode_item(tokenizer, i.item_id, render_prompt(tokenizer, i.question), i.positive_answer, i.negative_answer)
        for i in items
    ]


@pytest.fixture(scope="module")
def vector(small_model):
    return torch.randn(small_model[0].config.hidden_size, generator=torch.Generator().manual_seed(1)) * 3


def test_answer_letter_is_found_by_comparison(small_model, real_items):
    tokenizer = small_model[1]
    for item in real_items:
        # SmolLM2 writes "(", "A", ")": the letter is the second completion token
        assert item.letter_offset == 1
        assert tokenizer.decode([item.positive_ids[item.letter_offset]]) in ("A", "B")
        assert item.positive_ids[0] == item.negative_ids[0]


def test_engine_equals_full_forward_for_every_multiplier(small_model, real_items, vector):
    model = small_model[0]
    engine = SteeringEngine(model, token_budget=300)  # a few items per pass, settings split over passes
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in MULTIPLIERS]
    ours = engine.logit_differences(real_items, steerings)
    checked = [0, 3, 5]  # -1.5, 0 and 1.0: every setting is fanned out alike, so three stand for all seven
    for row, item in list(zip(ours, real_items))[2:]:  # the short persona prompts: cheap references
        reference = [
            full_forward_logit_difference(model, item, SMALL_MODEL_LAYER, vector, MULTIPLIERS[i]) for i in checked
        ]
        # float32 sums of ~30-sized logits in another order: agreement to 1e-4 relative
        assert [row.tolist()[i] for i in checked] == pytest.approx(reference, rel=1e-4, abs=1e-4)
        # steering changed something, so the comparison is not vacuous
        assert max(reference) - min(reference) > 0.1


def test_batched_equals_per_item_and_mixed_layers_share_a_pass(small_model, real_items, vector):
    """Items padded into one batch, and settings of several layers fanned out in one pass, change nothing."""
    model = small_model[0]
    other = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(2)) * 3
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.5)]
    steerings += [Steering(other, 1.0, 3), Steering(other, -1.0, 25), Steering(vector, 0.5, 29)]
    per_item = SteeringEngine(model, batch_size=1).logit_differences(real_items, steerings)
    batched = SteeringEngine(model, batch_size=16).logit_differences(real_items, steerings)
    assert torch.allclose(batched, per_item, atol=1e-4)
    for row, item in zip(batched[1:3], real_items[1:3]):
        for value, steering in zip(row.tolist()[3:], steerings[3:]):
            layer = steering.layer
            expected = full_forward_logit_difference(model, item, layer, steering.vector, steering.multiplier)
            assert value == pytest.approx(expected, rel=1e-4, abs=1e-4)


def test_engine_activations_equal_full_forward(small_model, real_items):
    engine = SteeringEngine(small_model[0])
    every_layer = engine.letter_activations(real_items)
    two_layers = engine.letter_activations(real_items, [4, SMALL_MODEL_LAYER])  # stops after block 10
    for index, item in enumerate(real_items):
        reference = full_forward_activations(small_model[0], item)
        scale = reference.abs().max()
        assert (every_layer[index] - reference).abs().max() / scale < 1e-5
        assert (two_layers[index] - reference[:, [4, SMALL_MODEL_LAYER]]).abs().max() / scale < 1e-5


def test_the_evaluation_pass_reads_the_letter_activation_for_free(small_model, real_items, vector):
    engine = SteeringEngine(small_model[0])
    _, read = engine.logit_differences(
        real_items, [Steering(vector, 1.0, SMALL_MODEL_LAYER)], read_layer=SMALL_MODEL_LAYER
    )
    cached = engine.letter_activations(real_items, [SMALL_MODEL_LAYER])[:, :, 0]
    assert torch.allclose(read, cached, atol=1e-5, rtol=1e-5)


def test_logits_are_float32_sums_under_bfloat16_weights(small_model_json, real_items, vector):
    """bf16 weights, float32 logit sums: the result moves by the weights' rounding, not by bf16 summation."""
    from steering_reliability.model.models import load_model

    model, _ = load_model(small_model_json, dtype="bfloat16")
    engine = SteeringEngine(model)
    assert engine.dtype == torch.bfloat16
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.0)]
    values = engine.logit_differences(real_items, steerings)
    assert values.dtype == torch.float32
    # a bf16 sum would round to multiples of 2**-8 of the value's magnitude; float32 sums are not so coarse
    quantum = torch.exp2(torch.floor(torch.log2(values.abs())) - 7)
    assert ((values / quantum) - (values / quantum).round()).abs().max() > 1e-3


def test_caa_vector_steers_the_logit_difference_up(small_model, datasets_dir):
    tokenizer = small_model[1]
    engine = SteeringEngine(small_model[0])
    table = split_items(load_real_items(datasets_dir, "corrigible-neutral-HHH"), seed=0, max_items=24)
    train = encode_rows(tokenizer, selected(table, "train"))
    test = encode_rows(tokenizer, selected(table, "test"))[:6]
    activations = letter_activations(engine, train, [SMALL_MODEL_LAYER])
    vector = caa_vector(activations["positive"][:, 0], activations["negative"][:, 0])
    minus, _, plus = engine.logit_differences(
        test, [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-4.0, 0.0, 4.0)]
    ).T
    assert float((plus - minus).mean()) > 0.5


def test_non_finite_steering_names_the_item(small_model, real_items):
    engine = SteeringEngine(small_model[0])
    vector = torch.full((engine.hidden_size,), float("nan"))
    with pytest.raises(NonFiniteError, match=real_items[0].item_id):
        engine.logit_differences(real_items[:1], [Steering(vector, 1.0, SMALL_MODEL_LAYER)])


def test_layer_out_of_range_is_refused(small_model, real_items, vector):
    engine = SteeringEngine(small_model[0])
    with pytest.raises(ValueError, match="out of range"):
        engine.logit_differences(real_items, [Steering(vector, 1.0, engine.num_layers)])
    with pytest.raises(ValueError, match="out of range"):
        engine.letter_activations(real_items, [-1])


def test_shared_prompt_prefix_gives_the_same_numbers(small_model, real_items, vector):
    """Items of one dataset share the system turn and question stem; caching it once changes nothing."""
    model = small_model[0]
    engine = SteeringEngine(model)
    persona = [item for item in real_items if item.item_id.startswith("anti-LGBTQ-rights")]
    shared = engine.share_prefix(persona)
    assert shared > 20  # system turn, user header and the persona question stem
    multipliers = (-1.0, 0.0, 1.5)
    ours = engine.logit_differences(persona, [Steering(vector, m, SMALL_MODEL_LAYER) for m in multipliers])
    activations = engine.letter_activations(persona)
    for row, item, recorded in zip(ours, persona, activations):
        reference = [full_forward_logit_difference(model, item, SMALL_MODEL_LAYER, vector, m) for m in multipliers]
        assert row.tolist() == pytest.approx(reference, rel=1e-4, abs=1e-4)
        expected = full_forward_activations(model, item)
        assert (recorded - expected).abs().max() / expected.abs().max() < 1e-5


def test_eager_attention_gives_the_same_numbers(small_model_json, real_items, vector):
    """The engine builds additive masks for eager attention and boolean ones for SDPA."""
    import json

    from transformers import AutoModelForCausalLM

    path = json.loads(small_model_json.read_text())["path"]
    eager = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    sdpa = AutoModelForCausalLM.from_pretrained(path, attn_implementation="sdpa").eval()
    steerings = [Steering(vector, m, SMALL_MODEL_LAYER) for m in (-1.0, 0.0, 1.0)]
    a = SteeringEngine(eager).logit_differences(real_items, steerings)
    b = SteeringEngine(sdpa).logit_differences(real_items, steerings)
    assert torch.allclose(a, b, atol=1e-4)


def test_half_precision_activation_storage_moves_the_slopes_more_than_1e4(small_model, datasets_dir):
    """Why activations.dtype defaults to float32: caching the training activations in float16 (or bfloat16)
    moves the per-item slopes by more than the 1e-4 a stored tensor may cost (measured: ~3e-4 for float16,
    ~4e-3 for bfloat16, on SmolLM2 at its steering layer), so half precision stays an opt-in for disk space."""
    import numpy as np

    tokenizer = small_model[1]
    engine = SteeringEngine(small_model[0])
    table = split_items(load_real_items(datasets_dir, "corrigible-neutral-HHH"), seed=0, max_items=16)
    train = encode_rows(tokenizer, selected(table, "train"))
    test = encode_rows(tokenizer, selected(table, "test"))
    recorded = letter_activations(engine, train, [SMALL_MODEL_LAYER])
    multipliers = [-1.0, -0.5, 0.0, 0.5, 1.0]

    def slopes(dtype):
        positive, negative = (recorded[polarity][:, 0].to(dtype).float() for polarity in ("positive", "negative"))
        vector = caa_vector(positive, negative)
        values = engine.logit_differences(test, [Steering(vector, m, SMALL_MODEL_LAYER) for m in multipliers])
        return np.polyfit(multipliers, values.numpy().T, 1)[0]

    exact = slopes(torch.float32)
    float16, bfloat16 = (np.abs(slopes(dtype) - exact).max() for dtype in (torch.float16, torch.bfloat16))
    assert 1e-4 < float16 < 2e-3 and float16 < bfloat16 < 2e-2


def test_bfloat16_numbers_do_not_depend_on_batch_size_or_token_budget(small_model):
    """An item is computed with the same padded shapes whatever its batch-mates (its prompt padded to a multiple
    of WIDTH_QUANTUM, one width per pass). Before, bf16 logit differences moved by up to 0.11 between batch sizes
    1, 4 and 16 on this tiny Qwen2 (SDPA, CPU); now they are equal. A budget so small that one item's steering
    settings are split over passes still moves them (other attention key lengths): measured 0.02 here."""
    from steering_reliability.data.items import split_items as split

    from tiny_models import tiny_model

    model = tiny_model("qwen2", "sdpa", hidden_size=128, intermediate_size=256).to(torch.bfloat16)
    items = []
    for name in ("anti-LGBTQ-rights", "corrigible-neutral-HHH"):
        table = split(load_real_items(TEST_MIRROR, name), seed=0, max_items=16)
        items += encode_rows(small_model[1], selected(table, "test"))
    vector = torch.randn(128, generator=torch.Generator().manual_seed(1))
    steerings = [Steering(vector, m, 1) for m in (-1.0, 0.0, 1.0)]

    def run(token_budget, batch_size):
        engine = SteeringEngine(model, token_budget, batch_size)
        engine.share_prefix(items)
        return engine.logit_differences(items, steerings)

    reference = run(16384, 16)
    assert reference.abs().max() > 1.0  # bf16 numbers of a few units: a 0.1 shift would be visible
    for token_budget, batch_size in ((16384, 4), (16384, 1), (1024, 16)):
        assert (run(token_budget, batch_size) - reference).abs().max() <= 1e-5


def test_more_directions_in_the_pass_leave_the_caa_numbers_unchanged(small_model, real_items, vector):
    """vectors.methods adds settings to CAA's pass: CAA's logit differences move only by float32 summation order (a
    wider fan-out takes other matmul kernels): within 1e-5 of the largest |logit difference|; measured 5.5e-6."""
    from steering_reliability.model.evaluation import propensity_table

    engine = SteeringEngine(small_model[0])
    others = {
        f"method.random_{k}": torch.randn(vector.shape, generator=torch.Generator().manual_seed(k)) for k in range(6)
    }
    alone, _ = propensity_table(engine, real_items, SMALL_MODEL_LAYER, {"baseline": vector}, MULTIPLIERS)
    shared, _ = propensity_table(engine, real_items, SMALL_MODEL_LAYER, {"baseline": vector, **others}, MULTIPLIERS)
    shared = shared[shared["vector"] == "baseline"].reset_index(drop=True)
    assert len(shared) == len(alone) == len(real_items) * len(MULTIPLIERS)
    difference = (shared["logit_diff"] - alone["logit_diff"]).abs().max()
    assert difference <= 1e-5 * alone["logit_diff"].abs().max()
