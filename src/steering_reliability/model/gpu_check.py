"""``steering-reliability gpu-check``: is this machine's accelerator ready for a study, and how long will it take?

Three parts, each printed as a table:

1. **The device**: name, memory, compute capability, native bfloat16, torch and CUDA versions.
2. **The device checks** (``tests/test_gpu.py``, run with pytest on the device): the engine on the device
   against the CPU for SmolLM2 in float32 and bfloat16 and for tiny Llama, Qwen2 and Gemma-2 models
   (eager attention, soft-capping) in all three job types; the peak memory against the meta-device
   prediction; an out-of-memory pass split; a workflow job on CUDA. What each test measured is printed
   beside its outcome. They need the repository's ``tests/`` (a clone).
3. **Throughput and the study's time**: the dense matmul rate of the device (bfloat16 and float32),
   then the engine's own rate on each model of the config, built with its real shapes and random
   weights on the device (models whose weights take more than 70% of the device are skipped), on
   synthetic items of the study's prompt length with the OOD study's 36 steering settings. The rate is
   counted in the engine's minimum FLOPs per second, the unit of ``steering-reliability size
   --tflops``, so the study's time is the config's FLOPs (``size``'s work table, from the raw files)
   divided by it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

import torch

from steering_reliability.data.prompts import EncodedItem
from steering_reliability.model.engine import Steering, SteeringEngine

DEVICE_VARIABLE = "STEERING_RELIABILITY_CHECK_DEVICE"  # read by tests/test_gpu.py
MAX_WEIGHT_SHARE = 0.7  # a model whose weights take more of the device is not built for the throughput run


def device_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def device_lines(device: torch.device) -> list[str]:
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    lines = [f"device: {device}; torch {torch.__version__} ({build})"]
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        native = properties.major >= 8
        lines.append(
            f"  {properties.name}, {properties.total_memory / 1e9:.1f} GB, compute capability "
            f"{properties.major}.{properties.minor}, bfloat16 {'native' if native else 'NOT native: set bf16_fallback'}"
        )
    else:
        lines.append(f"  {device_memory(device) / 1e9:.1f} GB of host memory")
    return lines


@dataclass
class CheckResult:
    name: str
    outcome: str  # passed, failed, skipped
    seconds: float
    detail: str


def run_checks(device: torch.device, tests: Path) -> list[CheckResult]:
    """tests/test_gpu.py on ``device``, one result per test (what it measured, or why it failed or was skipped)."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        command = [sys.executable, "-m", "pytest", str(tests), "-n", "0", "-q", "-p", "no:cacheprovider"]
        command += ["-o", "junit_family=xunit1", f"--junitxml={report}"]
        env = dict(os.environ, **{DEVICE_VARIABLE: str(device)})
        subprocess.run(command, cwd=tests.parent.parent, env=env, capture_output=True, text=True)
        if not report.is_file():
            return [CheckResult("tests/test_gpu.py", "failed", 0.0, "pytest wrote no report: run it by hand")]
        cases = ElementTree.parse(report).getroot().iter("testcase")
        return [_result(case) for case in cases]


def _result(case) -> CheckResult:
    outcome, detail = "passed", []
    for child in case:
        if child.tag in ("failure", "error"):
            outcome = "failed"
            detail.append((child.get("message") or "").splitlines()[0][:160] if child.get("message") else child.tag)
        elif child.tag == "skipped":
            outcome = "skipped"
            detail.append(child.get("message") or "")
        elif child.tag == "properties":
            detail += [f"{item.get('name')}: {item.get('value')}" for item in child]
    return CheckResult(case.get("name"), outcome, float(case.get("time", 0)), "; ".join(detail))


def check_lines(results: list[CheckResult]) -> list[str]:
    lines = ["| check | outcome | seconds | measured |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.outcome} | {r.seconds:.1f} | {r.detail} |" for r in results]
    return lines


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, dtype: torch.dtype, size: int = 4096, seconds: float = 2.0) -> float:
    """Sustained dense matmul rate of ``size`` x ``size`` matrices, in TFLOP/s."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    b = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    a @ b  # warm up
    _synchronize(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
        _synchronize(device)
    return 2 * size**3 * count / (time.perf_counter() - started) / 1e12


def synthetic_items(vocab: int, count: int, prompt_tokens: int, shared: int = 40) -> list[EncodedItem]:
    """A call's worth of items like the study's: prompts of ``prompt_tokens`` sharing ``shared``, 3-token answers."""
    generator = torch.Generator().manual_seed(0)
    head = torch.randint(3, vocab, (shared,), generator=generator).tolist()
    items = []
    for index in range(count):
        tail = torch.randint(3, vocab, (prompt_tokens - shared,), generator=generator).tolist()
        items.append(EncodedItem(f"synthetic/{index}", tuple(head + tail), (10, 11, 12), (10, 13, 12), 1))
    return items


def engine_tflops(
    model, layer: int, token_budget: int, batch_size: int, prompt_tokens: int, seconds: float = 5.0
) -> tuple[float, int]:
    """The engine's rate on ``model`` (on its device) for the OOD evaluation (6 vectors x 6 steered multipliers),
    in minimum FLOPs per second (TFLOP/s), and the items it ran."""
    from steering_reliability.run.sizing import ANSWER_TOKENS, model_shape

    shape = model_shape(model)
    config = model.config.get_text_config()
    device = next(model.parameters()).device
    vectors = [torch.randn(config.hidden_size, generator=torch.Generator().manual_seed(k)) for k in range(6)]
    steerings = [Steering(v, m, layer) for v in vectors for m in (-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5)]
    per_token = 2 * shape.non_embedding / shape.layers
    branch = 2 * ANSWER_TOKENS
    engine = SteeringEngine(model, token_budget, batch_size)
    items = synthetic_items(config.vocab_size, 2 * batch_size, prompt_tokens)
    engine.share_prefix(items)
    engine.logit_differences(items[:2], steerings)  # warm up
    _synchronize(device)
    ran, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or ran == 0:
        engine.logit_differences(items, steerings)
        ran += len(items)
    _synchronize(device)
    elapsed = time.perf_counter() - started
    steered = 36  # the unsteered setting (multiplier 0) is computed once for all vectors
    flops_per_item = per_token * (
        (prompt_tokens - 40) * shape.layers + branch * shape.layers + steered * branch * (shape.layers - layer - 1)
    )
    return flops_per_item * ran / elapsed / 1e12, ran


def random_model(transformers_config, dtype: torch.dtype, attention: str, device: torch.device):
    """A model of the config's shapes with random weights, built on ``device`` (no download)."""
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        model = AutoModelForCausalLM.from_config(transformers_config, dtype=dtype, attn_implementation=attention)
    return model.eval().requires_grad_(False)
