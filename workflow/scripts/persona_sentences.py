from steering_reliability.data.personas import read_persona_prompts
from steering_reliability.run.artifacts import write_json
from steering_reliability.run.scripting import script_context

with script_context(snakemake) as log:
    raw = snakemake.input.raw
    prompts = read_persona_prompts(raw[0]) if raw else {}
    prompts.update({name: (entry["positive"], entry["negative"]) for name, entry in snakemake.params.user.items()})
    missing = [name for name in snakemake.params.datasets if name not in prompts]
    if missing:
        raise KeyError(f"{raw[0]}: no persona sentences for {', '.join(missing)} (config key ood.datasets)")
    sentences = {name: {"positive": prompts[name][0], "negative": prompts[name][1]} for name in sorted(prompts)}
    log.info("%d datasets with persona sentences (%d of them your own)", len(sentences), len(snakemake.params.user))
    write_json(sentences, snakemake.output[0])
