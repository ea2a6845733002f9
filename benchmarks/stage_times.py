"""Where the wall time of a finished workflow run went: per rule, jobs, summed job time and mean.

Reads the run's Snakemake log (the newest in ``.snakemake/log/`` of the working directory, or
``--log``): each job's start and "Finished jobid" lines give its wall time including start-up
(imports, model load), and the first and last time stamps the run's wall time. The model jobs'
own ``benchmark:`` files (``logs/{model}/benchmarks/{rule}/job-{n}.tsv``) add peak memory. A model
stage's jobs (``cache_activations_1``, ``cache_activations_2``, ...: one per group of datasets) are
counted under the stage's name. The last line says how long, at the end of the run, fewer jobs ran
than ``--cores`` allowed (the tail during which a core was idle).

    python benchmarks/stage_times.py [working directory] [--log path/to/run.snakemake.log]

Jobs run side by side (``--cores``), so the summed job times add up to more than the wall time.
"""

from __future__ import annotations

import argparse
import collections
import csv
import re
from datetime import datetime
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ [\d:]+ \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")


GROUP_JOB = re.compile(r"_\d+$")  # a model stage's job over one group of datasets: <stage>_<n>


def job_times(log: Path) -> tuple[list[tuple[str, str, float, datetime]], float]:
    """(rule, wildcards, seconds, end) of every finished job, and the run's wall seconds."""
    stamps, started, jobs = [], {}, []
    stamp = rule = job = None
    for line in log.read_text().splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            stamps.append(stamp)
        elif match := RULE.match(line):
            rule = match.group(1)
        elif (match := JOBID.match(line)) and rule:
            job = match.group(1)
            started[job] = [rule, "", stamp]
            rule = None
        elif (match := WILDCARDS.match(line)) and job in started:
            started[job][1] = match.group(1)
        elif (match := FINISHED.match(line)) and match.group(1) in started:
            name, wildcards, start = started.pop(match.group(1))
            jobs.append((GROUP_JOB.sub("", name), wildcards, (stamp - start).total_seconds(), stamp))
    wall = (stamps[-1] - stamps[0]).total_seconds() if stamps else 0.0
    return jobs, wall


def peak_memory(workdir: Path) -> dict[tuple[str, str], float]:
    """Largest max_rss (MB) per (model, rule) from the model jobs' benchmark files."""
    peaks: dict[tuple[str, str], float] = collections.defaultdict(float)
    for path in workdir.glob("logs/*/benchmarks/*/*.tsv"):
        rows = list(csv.DictReader(path.open(), delimiter="\t"))
        if rows:
            key = (path.parts[-4], path.parts[-2])
            peaks[key] = max(peaks[key], float(rows[-1]["max_rss"]))
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", nargs="?", default=".", type=Path)
    parser.add_argument("--log", type=Path, help="the run's Snakemake log (default: the newest)")
    parser.add_argument("--cores", type=int, default=2, help="the run's --cores (for the idle tail)")
    arguments = parser.parse_args()
    log = arguments.log or max((arguments.workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    jobs, wall = job_times(log)
    stages: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for rule, wildcards, seconds, _ in jobs:
        model = re.search(r"model=([^,]+)", wildcards)
        stages[(model.group(1) if model else "-", rule)].append(seconds)
    peaks = peak_memory(arguments.workdir)
    print(f"run log: {log}")
    print(f"wall time: {wall / 60:.1f} min, {len(jobs)} jobs finished\n")
    print("| model | rule | jobs | summed job time | mean per job | peak memory |")
    print("|---|---|---|---|---|---|")
    for (model, rule), times in sorted(stages.items(), key=lambda entry: -sum(entry[1])):
        peak = peaks.get((model, rule))
        memory = f"{peak:.0f} MB" if peak else ""
        summed, mean = sum(times) / 60, sum(times) / len(times)
        print(f"| {model} | {rule} | {len(times)} | {summed:.1f} min | {mean:.1f} s | {memory} |")
    total = sum(seconds for _, _, seconds, _ in jobs)
    at_once = total / max(wall, 1)
    print(f"\nsummed job time {total / 60:.1f} min over {wall / 60:.1f} min wall: {at_once:.2f} jobs at once")
    print(f"tail with fewer than {arguments.cores} jobs running: {idle_tail(jobs, arguments.cores) / 60:.1f} min")


def idle_tail(jobs: list[tuple[str, str, float, datetime]], cores: int) -> float:
    """Seconds at the end of the run during which fewer than ``cores`` jobs were running."""
    if not jobs:
        return 0.0
    end = max(stamp for *_, stamp in jobs)
    intervals = [(stamp.timestamp() - seconds, stamp.timestamp()) for _, _, seconds, stamp in jobs]
    moments = sorted({start for start, _ in intervals} | {stop for _, stop in intervals}, reverse=True)
    tail_start = end.timestamp()
    for moment in moments[1:]:
        running = sum(start <= moment < stop for start, stop in intervals)
        if running >= cores:
            break
        tail_start = moment
    return end.timestamp() - tail_start


if __name__ == "__main__":
    main()
