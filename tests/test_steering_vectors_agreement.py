"""Agreement with the steering-vectors PyPI library on the same model and the same real items."""

from __future__ import annotations

import pytest
import torch

from steering_reliability.data.items import selected, split_items
from steering_reliability.data.prompts import encode_rows
from steering_reliability.model.activations import letter_activations
from steering_reliability.model.engine import Steering, SteeringEngine
from steering_reliability.model.vectors import caa_vector

from conftest import SMALL_MODEL_LAYER, load_real_items

steering_vectors = pytest.importorskip("steering_vectors")


@pytest.fixture(scope="module")
def setting(small_model, datasets_dir):
    model, tokenizer = small_model
    table = split_items(load_real_items(datasets_dir, "anti-LGBTQ-rights"), seed=0, max_items=12)
    return (
        model,
        tokenizer,
        encode_rows(tokenizer, selected(table, "train")),
        encode_rows(tokenizer, selected(table, "test"))[:3],
    )


def _library_vector(model, tokenizer, items):
    samples = []
    for item in items:
        positive = tokenizer.decode(list(item.prompt_ids) + list(item.positive_ids))
        negative = tokenizer.decode(list(item.prompt_ids) + list(item.negative_ids))
        # index from the end, so it holds whether or not the library's tokenizer call adds a BOS
        samples.append(
            steering_vectors.SteeringVectorTrainingSample(
                positive,
                negative,
                read_positive_token_index=item.letter_position - (len(item.prompt_ids) + len(item.positive_ids)),
                read_negative_token_index=item.letter_position - (len(item.prompt_ids) + len(item.negative_ids)),
            )
        )
    return steering_vectors.train_steering_vector(
        model, tokenizer, samples, layers=[SMALL_MODEL_LAYER], layer_type="decoder_block"
    )


def test_same_vector_and_same_steered_logit_differences(setting):
    model, tokenizer, train, test = setting
    library = _library_vector(model, tokenizer, train)
    activations = letter_activations(SteeringEngine(model), train, [SMALL_MODEL_LAYER])
    ours = caa_vector(activations["positive"][:, 0], activations["negative"][:, 0])
    theirs = library.layer_activations[SMALL_MODEL_LAYER]
    assert (ours - theirs).abs().max() <= 1e-5 * max(1.0, float(theirs.abs().max()))

    engine = SteeringEngine(model)
    multipliers = [-1.5, -0.5, 0.0, 1.0, 1.5]
    batch = engine.logit_differences(test, [Steering(ours, m, SMALL_MODEL_LAYER) for m in multipliers])
    for item, ours_diffs in zip(test, batch.tolist()):
        for multiplier, our_diff in zip(multipliers, ours_diffs):
            sums = []
            for completion in (item.positive_ids, item.negative_ids):
                ids = torch.tensor([list(item.prompt_ids) + list(completion)])
                with (
                    library.apply(model, multiplier=multiplier, min_token_index=len(item.prompt_ids) - 1),
                    torch.inference_mode(),
                ):
                    logits = model(ids).logits[0]
                start = len(item.prompt_ids) - 1
                sums.append(sum(float(logits[start + j, t]) for j, t in enumerate(completion)))
            assert our_diff == pytest.approx(sums[0] - sums[1], rel=1e-4, abs=1e-4)
