"""The paper's reference values, keyed to the quantity this study computes, with their sources.

Tan et al., "Analyzing the Generalization and Reliability of Steering Vectors", NeurIPS 2024
(arXiv 2407.12404); its code is github dtch1997/repepo at commit 68f650a ("repepo" below).
docs/reference_values.md explains each entry. ``tolerance`` is how precisely the value is
known: printed to three decimals, or read off a bar chart (+-0.02).
"""

from __future__ import annotations

from dataclasses import dataclass

LLAMA = "meta-llama/Llama-2-7b-chat-hf"
QWEN = "Qwen/Qwen1.5-14B-Chat"
GEMMA = "google/gemma-2-2b-it"
SHORT_NAMES = {LLAMA: "Llama-2-7b-chat", QWEN: "Qwen1.5-14B-Chat", GEMMA: "gemma-2-2b-it"}
FIGURE_2 = (
    "paper Fig. 2 (fraction of anti-steerable items, Llama-2-7b-chat), drawn by "
    "repepo/paper/make_figures_steering_id.py; read off the bar chart"
)


@dataclass(frozen=True)
class PaperValue:
    quantity: str  # the summary's quantity key
    models: tuple[str, ...]  # hub ids of the model (or model pair) the value is for
    value: float
    tolerance: float
    source: str
    relation: str = "approx"  # "approx": value +- tolerance; "greater": the paper says more than value


PAPER_VALUES = (
    PaperValue(
        "spearman_id_vs_ood",
        (LLAMA,),
        0.891,
        0.0005,
        "paper Fig. 5; repepo/paper/make_figures_steering_ood.py:53 (SYS_pos -> PT_neg vs baseline)",
    ),
    PaperValue(
        "spearman_id_vs_ood",
        (QWEN,),
        0.694,
        0.0005,
        "paper Fig. 5; repepo/paper/make_figures_steering_ood.py:53 (SYS_pos -> PT_neg vs baseline)",
    ),
    PaperValue(
        "relative_steerability_vs_gap_rho",
        (QWEN,),
        -0.46,
        0.005,
        "paper Fig. 6 text; printed by repepo/experiments/plots/plot_persona_relative_steerability_trends.py:215, "
        "whose call (which datasets) is not in the repository: not traceable further",
    ),
    PaperValue(
        "relative_steerability_vs_gap_rho",
        (LLAMA,),
        -0.26,
        0.005,
        "paper Fig. 6 text; same script, same caveat",
    ),
    PaperValue(
        "cross_model_rho_ID", (LLAMA, QWEN), 0.77, 0.005, "paper Fig. 7; repepo/paper/make_figures_steering_ood.py:164"
    ),
    PaperValue(
        "cross_model_rho_OOD",
        (LLAMA, QWEN),
        0.59,
        0.005,
        "paper Fig. 7; repepo/paper/make_figures_steering_ood.py:199 (SYS_pos -> PT_neg)",
    ),
    PaperValue(
        "cross_model_rho_ID",
        (LLAMA, GEMMA),
        0.79,
        0.005,
        "rebuttal figure all_models_scatterplot_matrix_id.pdf; repepo/paper/make_figures_rebuttals.py:165-176",
    ),
    PaperValue(
        "cross_model_rho_ID",
        (QWEN, GEMMA),
        0.92,
        0.005,
        "rebuttal figure all_models_scatterplot_matrix_id.pdf; repepo/paper/make_figures_rebuttals.py:165-176",
    ),
    PaperValue("anti_steerable_fraction[myopic-reward]", (LLAMA,), 0.49, 0.02, FIGURE_2),
    PaperValue("anti_steerable_fraction[believes-it-is-not-being-watched-by-humans]", (LLAMA,), 0.45, 0.02, FIGURE_2),
    PaperValue(
        "anti_steerable_fraction[willingness-to-use-physical-force-to-achieve-benevolent-goals]",
        (LLAMA,),
        0.44,
        0.02,
        FIGURE_2,
    ),
    PaperValue("anti_steerable_fraction[subscribes-to-average-utilitarianism]", (LLAMA,), 0.43, 0.02, FIGURE_2),
    PaperValue("anti_steerable_fraction[subscribes-to-Hinduism]", (LLAMA,), 0.41, 0.02, FIGURE_2),
    PaperValue(
        "anti_steerable_fraction[sycophancy]",
        (LLAMA,),
        0.41,
        0.02,
        FIGURE_2 + "; the paper pools the test items of sycophancy_train and sycophancy_test "
        "(make_figures_steering_id.py:23-32)",
    ),
    PaperValue("anti_steerable_fraction[corrigible-neutral-HHH]", (LLAMA,), 0.0, 0.02, FIGURE_2),
    PaperValue(
        "share_ab[myopic-reward]",
        (LLAMA,),
        0.5,
        0.0,
        "paper Section 4 / Fig. 3: for myopic-reward the A/B position explains most of the variance",
        relation="greater",
    ),
)


def values_for(quantity: str) -> list[PaperValue]:
    return [value for value in PAPER_VALUES if value.quantity == quantity]


def describe(value: PaperValue) -> str:
    models = " vs ".join(SHORT_NAMES.get(model, model) for model in value.models)
    number = f"> {value.value:g}" if value.relation == "greater" else f"{value.value:g}"
    return f"{models} {number}"
