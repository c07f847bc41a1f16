"""What the registry's models assume where a config leaves a value open; torch-free, so the
config loader can resolve it (`load_config`) without building a model.

tests/test_choices.py checks that every model of the registry has an entry.
"""

DEFAULT_BATCH_SIZE = {"simple_conv": 128, "resnet18": 256, "gpt2": 8}
"""The paper's batch size per model (ALGORITHMS.md decisions 11 and 16; 6.3 for gpt2)."""
