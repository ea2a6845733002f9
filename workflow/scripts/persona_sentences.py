from steering_reliability.artifacts import write_json
from steering_reliability.personas import read_persona_prompts
from steering_reliability.scripting import script_context

with script_context(snakemake) as log:
    prompts = read_persona_prompts(snakemake.input[0])
    missing = [name for name in snakemake.params.datasets if name not in prompts]
    if missing:
        raise KeyError(f"{snakemake.input[0]}: no persona sentences for {', '.join(missing)} (config key ood.datasets)")
    sentences = {name: {"positive": prompts[name][0], "negative": prompts[name][1]} for name in sorted(prompts)}
    log.info("%d datasets with persona sentences", len(sentences))
    write_json(sentences, snakemake.output[0])
