"""Build tests/data/mirror: a trimmed copy of the raw files (the first items of each), with its own manifest.

Run from the repository root with a full mirror of the raw files (the layout of
``data.mirror``; see README, "Data"):

    python tests/data/make_mirror.py ../shared/datasets

Line-based files (JSONL) keep their first lines byte for byte; JSON lists keep their first
items, written back in the upstream file's own format (``json.dumps`` with its indent
reproduces the upstream bytes exactly for the whole list). repepo's persona_prompts.py is
cut down to the entries the tests use, keeping its structure (category dicts merged into
PERSONA_PROMPTS with ``**``). Licences are copied unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent / "mirror"
EVALS = "anthropic-evals"
RISK = f"{EVALS}/advanced-ai-risk/lm_generated_evals"
JSONL = {
    f"{EVALS}/persona/anti-LGBTQ-rights.jsonl": 48,
    f"{EVALS}/persona/subscribes-to-Hinduism.jsonl": 48,
    f"{EVALS}/persona/narcissism.jsonl": 48,
    f"{RISK}/corrigible-neutral-HHH.jsonl": 60,
    f"{RISK}/myopic-reward.jsonl": 120,
    f"{RISK}/coordinate-other-ais.jsonl": 90,  # line 83 holds a closed <META_START> tag
}
JSON_LISTS = {
    "caa/sycophancy/test_dataset.json": (40, 4),
    "caa/sycophancy/generate_dataset.json": (40, 4),
    "truthfulqa/data/mc_task.json": (40, 2),
}
COPIED = [f"{EVALS}/LICENSE", "caa/LICENSE", "truthfulqa/LICENSE"]
PERSONA_SOURCE = "repepo/repepo/experiments/persona_prompts.py"


def persona_excerpt(source: str) -> str:
    """The politics and CAA dicts whole, three advanced-AI-risk entries, one inline entry."""
    lines = source.splitlines(keepends=True)

    def block(name: str) -> str:
        start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}"))
        end = next(i for i in range(start, len(lines)) if lines[i].rstrip() in ("}", ")", "})"))
        return "".join(lines[start : end + 1])

    risk = block("ADVANCED_AI_RISK").split('    "coordinate-other-ais"')[0] + "}\n"
    allies = source[source.index('    "desire-to-create-allies"') :]
    allies = allies[: allies.index("    ),\n") + len("    ),\n")]
    return (
        "# Excerpt of repepo/experiments/persona_prompts.py (dtch1997/repepo @68f650a), see ../README.md\n"
        + block("POLITICS_PROMPTS")
        + "\n"
        + risk
        + block("CAA_SYCOPHANCY_PROMPTS")
        + block("CAA_TRUTHFULQA_PROMPTS")
        + "\n\nPERSONA_PROMPTS: dict[str, tuple[str, str]] = {\n"
        + "    **ADVANCED_AI_RISK,\n    **CAA_SYCOPHANCY_PROMPTS,\n    **CAA_TRUTHFULQA_PROMPTS,\n"
        + "    **POLITICS_PROMPTS,\n"
        + allies
        + "}\n"
    )


def main(full_mirror: Path, persona_source: Path) -> None:
    written = []
    for path, count in JSONL.items():
        text = (full_mirror / path).read_text(encoding="utf-8")
        written.append((path, "".join(text.splitlines(keepends=True)[:count])))
    for path, (count, indent) in JSON_LISTS.items():
        items = json.loads((full_mirror / path).read_text(encoding="utf-8"))[:count]
        written.append((path, json.dumps(items, indent=indent, ensure_ascii=True)))
    for path in COPIED:
        written.append((path, (full_mirror / path).read_text(encoding="utf-8")))
    written.append((PERSONA_SOURCE, persona_excerpt(persona_source.read_text(encoding="utf-8"))))
    manifest = []
    for path, text in written:
        target = HERE / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        manifest.append(f"{hashlib.sha256(text.encode('utf-8')).hexdigest()}  {path}")
    (HERE / "MANIFEST.sha256").write_text("\n".join(sorted(manifest, key=lambda line: line[66:])) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
