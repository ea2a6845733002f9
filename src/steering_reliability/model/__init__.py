"""Model stage: loading a model, the steering engine, activations, vectors and the layer sweep (envs/model.yaml)."""
