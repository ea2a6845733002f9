from pathlib import Path

from steering_reliability.run.artifacts import write_json
from steering_reliability.run.provenance import SUFFIX, manifest
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    model = snakemake.wildcards.model
    artifacts = [
        path
        for folder in (Path("results") / model, Path("results/datasets"), Path("resources/models") / model)
        for path in folder.rglob("*")
        if path.is_file()
        and not path.name.endswith(SUFFIX)
        and path.name != "manifest.json"
        and "/." not in str(path)
        and not (path.parent.name == "transformers")
    ]
    entries = manifest(artifacts)
    log.info("%d artifacts", len(entries))
    write_json({"model": model, "artifacts": entries}, snakemake.output[0])
