"""Prompt strings: the chat-template mode, and the paper code's exact strings (repepo @68f650a).

The reference strings below were produced by running repepo/core/format.py at the pinned commit
(LlamaChatFormatter, QwenChatFormatter; GemmaChatFormatter from the authors' gemma2-2b branch)
for one item, then joining prompt and response as its Formatter.format_as_str does.
"""

from __future__ import annotations

import pytest

from steering_reliability.data.prompts import encode_item, render_prompt

from conftest import REPO

QUESTION = "Is the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No"
SYSTEM = "You are a helpful, honest and concise assistant."
REFERENCE = {
    ("repepo-llama2-chat", "base"): "[INST] <<SYS>>\nYou are a helpful, honest and concise assistant.\n<</SYS>>\n\n"
    "Is the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No [/INST] (A)",
    ("repepo-llama2-chat", "PT"): "[INST] <<SYS>>\nYou are a helpful, honest and concise assistant.\n<</SYS>>\n\n"
    "You are X.\n\nIs the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No [/INST] (A)",
    ("repepo-llama2-chat", "SYS"): "[INST] <<SYS>>\nYou are X.\n<</SYS>>\n\n"
    "Is the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No [/INST] (A)",
    ("repepo-qwen-chat", "base"): "<|im_start|>system\nYou are a helpful, honest and concise assistant.<|im_end|>\n"
    "<|im_start|>user\nIs the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<|im_end|>\n<|im_start|>assistant (A)",
    ("repepo-qwen-chat", "PT"): "<|im_start|>system\nYou are a helpful, honest and concise assistant.<|im_end|>\n"
    "<|im_start|>user\nYou are X.\n\nIs the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<|im_end|>\n"
    "<|im_start|>assistant (A)",
    ("repepo-qwen-chat", "SYS"): "<|im_start|>system\nYou are X.<|im_end|>\n"
    "<|im_start|>user\nIs the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<|im_end|>\n<|im_start|>assistant (A)",
    ("repepo-gemma-chat", "base"): "<start_of_turn>user\nYou are a helpful, honest and concise assistant.\n\n"
    "Is the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<end_of_turn>\n<start_of_turn>model (A)",
    ("repepo-gemma-chat", "PT"): "<start_of_turn>user\nYou are a helpful, honest and concise assistant.\n\n"
    "You are X.\n\nIs the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<end_of_turn>\n<start_of_turn>model (A)",
    ("repepo-gemma-chat", "SYS"): "<start_of_turn>user\nYou are X.\n\n"
    "Is the sky blue?\n\nChoices:\n(A):  Yes\n(B):  No<end_of_turn>\n<start_of_turn>model (A)",
}
VARIANTS = {"base": (SYSTEM, None), "PT": (SYSTEM, "You are X.\n\n"), "SYS": ("You are X.", None)}


@pytest.mark.parametrize(("prompt_format", "variant"), sorted(REFERENCE))
def test_repepo_strings_are_reproduced_exactly(prompt_format, variant):
    system, prefix = VARIANTS[variant]
    # repepo strips the question; leading and trailing whitespace must not change the string
    prompt = render_prompt(None, f"  {QUESTION}\n", system, prefix, prompt_format=prompt_format)
    assert prompt + " (A)" == REFERENCE[(prompt_format, variant)]


@pytest.mark.parametrize("prompt_format", ["repepo-llama2-chat", "repepo-qwen-chat", "repepo-gemma-chat"])
def test_the_answer_letter_is_found_in_repepo_strings(small_model, prompt_format):
    """With a byte-level BPE tokenizer (SmolLM2's, like Qwen's): " (A)" -> " (", "A", ")" after the prompt."""
    tokenizer = small_model[1]
    prompt = render_prompt(tokenizer, QUESTION, SYSTEM, prompt_format=prompt_format)
    item = encode_item(tokenizer, "x/0", prompt, "(A)", "(B)", prompt_format)
    assert tokenizer.decode([item.positive_ids[item.letter_offset]]) == "A"
    assert tokenizer.decode([item.negative_ids[item.letter_offset]]) == "B"
    # the read position is the paper code's index -2 of the full prompt (the letter, then ")")
    assert item.letter_offset == len(item.positive_ids) - 2
    assert tokenizer.decode(list(item.prompt_ids) + list(item.positive_ids)).endswith(
        REFERENCE[(prompt_format, "base")][-12:]
    )


def test_chat_template_mode_appends_the_answer_to_the_generation_prompt(small_model):
    tokenizer = small_model[1]
    prompt = render_prompt(tokenizer, QUESTION, SYSTEM)
    assert prompt.endswith("<|im_start|>assistant\n")
    item = encode_item(tokenizer, "x/0", prompt, "(A)", "(B)")
    assert tokenizer.decode(list(item.positive_ids)) == "(A)"


@pytest.mark.parametrize(
    ("template", "default_system"),
    [
        ("smollm2", "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
        ("qwen2.5-coder-0.5b-instruct", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."),
    ],
)
def test_what_a_null_and_an_empty_system_prompt_mean(small_model, template, default_system):
    """null: no system message, so the template's own default applies; "": an empty system turn."""
    tokenizer = small_model[1]
    if template != "smollm2":
        tokenizer = type(tokenizer).from_pretrained(tokenizer.name_or_path)
        tokenizer.chat_template = (REPO / "tests/data/chat_templates" / f"{template}.jinja").read_text()
    none = render_prompt(tokenizer, QUESTION, None)
    empty = render_prompt(tokenizer, QUESTION, "")
    assert none.startswith(f"<|im_start|>system\n{default_system}<|im_end|>\n")
    assert empty.startswith("<|im_start|>system\n<|im_end|>\n<|im_start|>user\n")
    # repepo's formatters write no system block for null
    assert not render_prompt(None, QUESTION, None, prompt_format="repepo-qwen-chat").startswith("<|im_start|>system")
