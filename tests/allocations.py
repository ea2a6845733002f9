"""What the CPU allocator really hands out while some code runs: the reference the meta-device memory count is
checked against (torch.profiler records every allocation and free of the CPU allocator)."""

from __future__ import annotations


def cpu_allocated_peak(compute) -> int:
    """Peak bytes the CPU allocator holds, above what it held before, while ``compute()`` runs."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        compute()
    events = sorted(
        (event.start_ns(), event.nbytes())
        for event in profiler.profiler.kineto_results.events()
        if event.name() == "[memory]"
    )
    live = peak = 0
    for _, size in events:
        live += size
        peak = max(peak, live)
    return peak
