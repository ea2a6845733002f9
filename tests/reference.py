"""The plain computation the engine must equal: one full forward pass per (completion, steering)."""

from __future__ import annotations

import torch

from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.models import decoder_layers


def full_forward_logit_difference(
    model, item: EncodedItem, layer: int, vector: torch.Tensor, multiplier: float
) -> float:
    start = len(item.prompt_ids) - 1

    def steer(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        hidden = hidden.clone()
        hidden[:, start:] += multiplier * vector
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    sums = []
    handle = decoder_layers(model)[layer].register_forward_hook(steer)
    try:
        for completion in (item.positive_ids, item.negative_ids):
            with torch.inference_mode():
                logits = model(torch.tensor([list(item.prompt_ids) + list(completion)])).logits[0]
            sums.append(sum(float(logits[start + j, token]) for j, token in enumerate(completion)))
    finally:
        handle.remove()
    return sums[0] - sums[1]


def full_forward_activations(model, item: EncodedItem) -> torch.Tensor:
    """(2, layers, d): block outputs at the answer-letter token, positive then negative."""
    rows = []
    for completion in (item.positive_ids, item.negative_ids):
        captured = []
        handles = [
            block.register_forward_hook(
                lambda m, a, o: captured.append((o[0] if isinstance(o, tuple) else o)[0, item.letter_position])
            )
            for block in decoder_layers(model)
        ]
        try:
            with torch.inference_mode():
                model(torch.tensor([list(item.prompt_ids) + list(completion)]))
        finally:
            for handle in handles:
                handle.remove()
        rows.append(torch.stack(captured))
    return torch.stack(rows)
