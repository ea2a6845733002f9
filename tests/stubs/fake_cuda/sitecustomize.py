"""Fake CUDA devices for tests (on PYTHONPATH with FAKE_CUDA_DEVICES=N): what a machine with N GPUs shows torch.

torch sees N CUDA devices ("Fake GPU <k>", 80 GB, compute capability 8.0, distinct UUIDs); the memory statistics
are zero. Models asked onto a CUDA device are loaded on the CPU instead, which computes for the fake GPUs: the
workflow's own code (device choice, one GPU per job, the engine) runs unchanged. Only for the test processes that
set FAKE_CUDA_DEVICES; nothing here is imported by the package.
"""

import os

if os.environ.get("FAKE_CUDA_DEVICES"):
    import types
    import uuid

    import torch

    _COUNT = int(os.environ["FAKE_CUDA_DEVICES"])
    _MEMORY = int(float(os.environ.get("FAKE_CUDA_MEMORY_GB", "80")) * 1e9)

    def _index(device=None) -> int:
        if device is None or isinstance(device, int):
            return device or 0
        return torch.device(device).index or 0

    def _properties(device=None):
        index = _index(device)
        return types.SimpleNamespace(
            name=f"Fake GPU {index}", total_memory=_MEMORY, major=8, minor=0, uuid=uuid.UUID(int=index + 1)
        )

    torch.cuda.is_available = lambda: True
    torch.cuda.device_count = lambda: _COUNT
    torch.cuda.get_device_properties = _properties
    torch.cuda.get_device_capability = lambda device=None: (8, 0)
    torch.cuda.get_device_name = lambda device=None: _properties(device).name
    torch.cuda.reset_peak_memory_stats = lambda device=None: None
    torch.cuda.empty_cache = lambda: None
    torch.cuda.max_memory_allocated = lambda device=None: 0
    torch.cuda.max_memory_reserved = lambda device=None: 0

    import transformers

    _from_pretrained = transformers.AutoModelForCausalLM.from_pretrained.__func__

    def _on_the_cpu(cls, *args, device_map=None, **kwargs):
        return _from_pretrained(cls, *args, **kwargs)

    transformers.AutoModelForCausalLM.from_pretrained = classmethod(_on_the_cpu)
