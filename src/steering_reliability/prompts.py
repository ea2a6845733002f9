"""Chat-formatted prompts and their tokenised A/B completions (STUDY.md, "Prompt format").

The user turn is the A/B question; the assistant turn starts with the answer, so a
completion is the rendered prompt followed by "(A)" or "(B)". Where the two completions
first differ is the answer-letter token: Qwen writes "(A" as one token, SmolLM2 writes
"(", "A", so it is found by comparison, never by a fixed offset.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SYSTEM_PROMPT = "You are a helpful, honest and concise assistant."


@dataclass(frozen=True)
class EncodedItem:
    item_id: str
    prompt_ids: tuple[int, ...]
    positive_ids: tuple[int, ...]  # the positive completion's tokens after the prompt
    negative_ids: tuple[int, ...]
    letter_offset: int  # index, within the completions, of the first token where they differ

    @property
    def letter_position(self) -> int:
        """Absolute position of the answer-letter token in prompt + completion."""
        return len(self.prompt_ids) + self.letter_offset


def render_prompt(
    tokenizer,
    question: str,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    user_prefix: str | None = None,
    system_mode: str = "system",
) -> str:
    """The chat-template text up to the start of the assistant's answer.

    ``system_mode="prepend"`` is for templates without a system role: the system
    prompt then opens the user turn, separated by a blank line.
    """
    user = f"{user_prefix}{question}" if user_prefix else question
    messages = []
    if system_prompt:
        if system_mode == "system":
            messages.append({"role": "system", "content": system_prompt})
        elif system_mode == "prepend":
            user = f"{system_prompt}\n\n{user}"
        else:
            raise ValueError(f"system_mode must be 'system' or 'prepend', got {system_mode!r}")
    messages.append({"role": "user", "content": user})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _tokens(tokenizer, text: str) -> list[int]:
    # The rendered template already holds the special tokens; adding them again would
    # put a second BOS in front.
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def encode_item(tokenizer, item_id: str, prompt: str, positive_answer: str, negative_answer: str) -> EncodedItem:
    prompt_ids = _tokens(tokenizer, prompt)
    completions = []
    for answer in (positive_answer, negative_answer):
        full = _tokens(tokenizer, prompt + answer)
        if full[: len(prompt_ids)] != prompt_ids:
            raise ValueError(f"{item_id}: the answer {answer!r} merges with the prompt's last token")
        completions.append(tuple(full[len(prompt_ids) :]))
    positive_ids, negative_ids = completions
    differing = [i for i, (p, n) in enumerate(zip(positive_ids, negative_ids)) if p != n]
    if not differing:
        raise ValueError(f"{item_id}: the positive and negative completions tokenise identically")
    return EncodedItem(item_id, tuple(prompt_ids), positive_ids, negative_ids, differing[0])


def encode_rows(
    tokenizer,
    rows,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    user_prefix: str | None = None,
    system_mode: str = "system",
) -> list[EncodedItem]:
    """Encode the items of a dataset table (columns item_id, question, positive/negative_answer)."""
    return [
        encode_item(
            tokenizer,
            row.item_id,
            render_prompt(tokenizer, row.question, system_prompt, user_prefix, system_mode),
            row.positive_answer,
            row.negative_answer,
        )
        for row in rows.itertuples(index=False)
    ]
