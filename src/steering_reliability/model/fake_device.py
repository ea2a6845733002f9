"""Running the engine's real code without the accelerator: the model on PyTorch's ``meta`` device.

A meta tensor has a shape, a dtype and a device but no data, so a model of any size (a
14B-parameter one included) is built from its config in a second and every operation of a
forward pass runs without computing anything. ``FakeAccelerator`` is a dispatch mode that
watches such a run:

* **memory**: every storage an operation creates on the device is counted while it is alive
  (freed when its last tensor goes), so the peak of live bytes is the peak the same code
  would allocate on a GPU. Allocations are rounded up to 512 bytes, as the CUDA caching
  allocator does. Not counted: the CUDA context, cuBLAS workspaces and the allocator's
  fragmentation (``sizing`` adds a margin for them).
* **attention**: on a GPU, ``scaled_dot_product_attention`` with a mask runs the
  memory-efficient kernel, which never forms the attention scores; on meta the call would
  decompose into the math path, which does. The mode allocates what the kernel does: the
  output and the mask converted to the query's dtype (twice: converted and padded to a
  multiple of 16 keys), not the scores. Eager attention (Gemma-2) forms the scores on a
  GPU too, and is counted as it runs.
* **devices**: an operation whose tensors are on more than one device (a CPU tensor that a
  ``device=`` was forgotten for, used with device tensors) raises ``DeviceMixError``
  naming the operation, or is recorded in ``mixes`` with ``strict=False``. CPU scalars
  (0-dimensional tensors) are allowed, as PyTorch allows them. Copies between devices
  (``.to``, ``.cpu()``) are transfers, not mixes; a copy of a meta tensor to the CPU gives
  zeros of the right shape and dtype, so the code after it runs on.
* **reads**: reading a device tensor's value on the host (``.item()``, ``bool()``, which on a
  GPU wait for the device) raises ``DeviceMixError``.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

aten = torch.ops.aten
BLOCK = 512  # bytes: the CUDA caching allocator's smallest block
_TRANSFERS = {aten.to, aten._to_copy, aten.copy_, aten._copy_from, aten._copy_from_and_resize}  # overload packets
_HOST_READS = {aten._local_scalar_dense.default, aten.is_nonzero.default}


class DeviceMixError(RuntimeError):
    """An operation mixed tensors of two devices, or read a device tensor's value on the host."""


def meta_model(config, dtype: torch.dtype, attn_implementation: str | None = None) -> torch.nn.Module:
    """The causal LM of a transformers ``config`` with its weights on the meta device (no memory, no download)."""
    from transformers import AutoModelForCausalLM

    options = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, **options)
    return model.eval().requires_grad_(False)


def resident_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers (each storage once, as tied weights share one)."""
    storages = {}
    for tensor in [*module.parameters(), *module.buffers()]:
        storage = tensor.untyped_storage()
        storages[id(storage)] = _rounded(storage.nbytes())
    return sum(storages.values())


def _rounded(nbytes: int) -> int:
    return BLOCK * math.ceil(nbytes / BLOCK) if nbytes else 0


class _EfficientAttention(TorchFunctionMode):
    """``scaled_dot_product_attention`` on meta allocates what the GPU's memory-efficient kernel does."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not torch.nn.functional.scaled_dot_product_attention or args[0].device.type != "meta":
            return func(*args, **kwargs)
        query, _, value = args[:3]
        mask = kwargs.get("attn_mask", args[3] if len(args) > 3 else None)
        converted = []
        if mask is not None:
            converted.append(torch.empty(mask.shape, dtype=query.dtype, device=query.device))
            padded = (*mask.shape[:-1], 16 * math.ceil(mask.shape[-1] / 16))
            converted.append(torch.empty(padded, dtype=query.dtype, device=query.device))
        output = torch.empty(*query.shape[:-1], value.shape[-1], dtype=query.dtype, device=query.device)
        del converted
        return output


class FakeAccelerator(TorchDispatchMode):
    """Counts the device memory of a meta-device run and catches operations that mix devices (module docstring).

    ``baseline`` bytes (the weights: ``resident_bytes(model)``) are counted as live from the start.
    """

    def __init__(self, baseline: int = 0, strict: bool = True) -> None:
        super().__init__()
        self.live = baseline
        self.peak = baseline
        self.strict = strict
        self.mixes: list[str] = []
        self._storages: dict[int, weakref.ref] = {}
        self._attention = _EfficientAttention()

    def __enter__(self):
        self._attention.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            self._attention.__exit__(*exc)

    def _count(self, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        key = id(storage)
        if key in self._storages:
            return
        size = _rounded(storage.nbytes())
        self.live += size
        self.peak = max(self.peak, self.live)
        self._storages[key] = weakref.ref(storage, lambda _, key=key, size=size: self._free(key, size))

    def _free(self, key: int, size: int) -> None:
        if self._storages.pop(key, None) is not None:
            self.live -= size

    def _mix(self, message: str) -> None:
        if self.strict:
            raise DeviceMixError(message)
        self.mixes.append(message)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tensors = [value for value in tree_flatten((args, kwargs))[0] if isinstance(value, torch.Tensor)]
        if func in _HOST_READS and any(t.device.type != "cpu" for t in tensors):
            self._mix(f"{func}: reads the value of a {tensors[0].device} tensor on the host")
        devices = {t.device for t in tensors if not (t.device.type == "cpu" and t.dim() == 0)}
        transfer = func.overloadpacket in _TRANSFERS
        if not transfer and len(devices) > 1:
            shapes = ", ".join(f"{tuple(t.shape)} on {t.device}" for t in tensors)
            self._mix(f"{func} mixes devices: {shapes}")
        if transfer and tensors[0].device.type == "meta":
            to_host = _to_host(func, args, kwargs)
            if to_host is not None:
                return to_host
        output = func(*args, **kwargs)
        for value in tree_flatten(output)[0]:
            if isinstance(value, torch.Tensor) and value.device.type == "meta":
                self._count(value)
        return output


def _to_host(func, args, kwargs) -> torch.Tensor | None:
    """Zeros for a copy of a meta tensor to the CPU (``.cpu()``, ``.to("cpu")``, ``cpu.copy_(meta)``), else None."""
    if func.overloadpacket is aten.copy_:
        return args[0] if args[0].device.type == "cpu" else None
    values = [*args[1:], *kwargs.values()]
    devices = [torch.device(v) for v in values if isinstance(v, (torch.device, str))]
    if not devices or devices[0].type != "cpu":
        return None
    dtypes = [v for v in values if isinstance(v, torch.dtype)]
    return torch.zeros(args[0].shape, dtype=dtypes[0] if dtypes else args[0].dtype)
