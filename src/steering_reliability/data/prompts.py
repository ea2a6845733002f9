"""Prompts and their tokenised A/B completions (docs/protocol.md, "Prompts").

Two families of prompt formats:

* ``chat_template``: the model's own chat template (system turn, user turn = the A/B
  question, generation prompt); a completion is the rendered prompt followed directly by
  "(A)" or "(B)". For any chat model.
* ``repepo-llama2-chat``, ``repepo-qwen-chat``, ``repepo-gemma-chat``: the exact strings of
  the paper's code (github dtch1997/repepo @68f650a, repepo/core/format.py; the Gemma one
  from the authors' gemma2-2b branch). The prompt ends at the assistant tag, stripped, and a
  completion is prompt + " " + "(A)"; the tokenizer adds its own BOS token.

Either way the question is stripped at both ends (as repepo's formatters do), a user-turn
prefix (the OOD study's PT variants) goes in front of it, and the answer-letter token is
found as the first token where the two completions differ, never by a fixed offset (Qwen
writes "(A" as one token in some contexts, SmolLM2 and Llama-2 write "(", "A").

``system_prompt=None`` means no system message at all: repepo's formatters then write no
system block, but a chat template may insert its own default (Qwen2.5's and SmolLM2's do;
tests/test_prompts.py shows the strings). ``""`` is an empty system message.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_SYSTEM_PROMPT = "You are a helpful, honest and concise assistant."
CHAT_TEMPLATE = "chat_template"
REPEPO_FORMATS = ("repepo-llama2-chat", "repepo-qwen-chat", "repepo-gemma-chat")
PROMPT_FORMATS = (CHAT_TEMPLATE, *REPEPO_FORMATS)


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


def _user_text(question: str, user_prefix: str | None) -> str:
    question = question.strip()
    return f"{user_prefix}{question}" if user_prefix else question


def _repepo_prompt(prompt_format: str, user: str, system_prompt: str | None) -> str:
    """repepo's formatter output for one message, stripped (its generation prompt)."""
    if prompt_format == "repepo-llama2-chat":
        parts = [] if system_prompt is None else [f"<<SYS>>\n{system_prompt}\n<</SYS>>\n"]
        return f"[INST] {chr(10).join([*parts, user])} [/INST]"
    if prompt_format == "repepo-qwen-chat":
        system = "" if system_prompt is None else f"<|im_start|>system\n{system_prompt}<|im_end|>\n"
        return f"{system}<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant"
    if prompt_format == "repepo-gemma-chat":
        # Gemma has no system role: the authors' formatter puts the system prompt in front of the user turn
        user = user if system_prompt is None else f"{system_prompt}\n\n{user}"
        return f"<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model"
    raise ValueError(f"prompt format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")


def render_prompt(
    tokenizer,
    question: str,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    user_prefix: str | None = None,
    system_mode: str = "system",
    prompt_format: str = CHAT_TEMPLATE,
) -> str:
    """The text up to the start of the assistant's answer.

    ``system_mode="prepend"`` (chat templates without a system role) puts the system prompt
    in front of the user turn, separated by a blank line.
    """
    user = _user_text(question, user_prefix)
    if prompt_format != CHAT_TEMPLATE:
        return _repepo_prompt(prompt_format, user, system_prompt)
    messages = []
    if system_prompt is not None:
        if system_mode == "system":
            messages.append({"role": "system", "content": system_prompt})
        elif system_mode == "prepend":
            user = f"{system_prompt}\n\n{user}"
        else:
            raise ValueError(f"system_mode must be 'system' or 'prepend', got {system_mode!r}")
    messages.append({"role": "user", "content": user})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def answer_separator(prompt_format: str) -> str:
    """What goes between the prompt and the answer: nothing after a chat template, a space in repepo's strings."""
    return "" if prompt_format == CHAT_TEMPLATE else " "


def encode_item(
    tokenizer,
    item_id: str,
    prompt: str,
    positive_answer: str,
    negative_answer: str,
    prompt_format: str = CHAT_TEMPLATE,
) -> EncodedItem:
    # A rendered chat template already holds the special tokens (a second BOS would be wrong);
    # repepo tokenised its plain strings with the tokenizer's defaults, which add the BOS.
    special = prompt_format != CHAT_TEMPLATE

    def tokens(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=special)["input_ids"]

    prompt_ids = tokens(prompt)
    completions = []
    for answer in (positive_answer, negative_answer):
        full = tokens(prompt + answer_separator(prompt_format) + answer.strip())
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
    prompt_format: str = CHAT_TEMPLATE,
) -> list[EncodedItem]:
    """Encode the items of a dataset table (columns item_id, question, positive/negative_answer)."""
    return [
        encode_item(
            tokenizer,
            row.item_id,
            render_prompt(tokenizer, row.question, system_prompt, user_prefix, system_mode, prompt_format),
            row.positive_answer,
            row.negative_answer,
            prompt_format,
        )
        for row in rows.itertuples(index=False)
    ]
