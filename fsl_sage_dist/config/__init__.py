"""Run configuration: one dataclass section per component, loaded from TOML plus overrides.

    cfg = load_config("configs/fmnist_fsl_sage.toml", ["rounds=5", "train.lr=1e-3"])
    text = cfg.to_toml()                               # RUN_DIR/config.toml

An override is `dotted.key=value`; the value is parsed as a TOML literal (`rounds=5`,
`data.synthetic_shape=[3,32,32]`, `model.cut="layer2"`) and otherwise taken as a string
(`model.cut=layer2`). Every problem is reported as one `ConfigError` line that names the key,
the bad value and what would be valid, before any process is spawned.

A torch-free leaf that every layer may import: `sections.py` is the schema (each field with its
rules), `rules.py` the rules and the one loop that checks them, `loading.py` the reader and
`toml_out.py` the writer.
"""

from fsl_sage_dist.config.loading import choices, config_from_dict, load_config
from fsl_sage_dist.config.sections import (
    MAX_TIMEOUT_S,
    NAME_MAX_BYTES,
    CheckpointConfig,
    ClientsConfig,
    Config,
    DataConfig,
    EvalConfig,
    FSLConfig,
    LaunchConfig,
    LoRAConfig,
    ModelConfig,
    NetworkConfig,
    OutputConfig,
    RuntimeConfig,
    SlurmConfig,
    TrainConfig,
    WireConfig,
)
from fsl_sage_dist.config.toml_out import config_to_dict, to_toml
from fsl_sage_dist.errors import ConfigError

__all__ = [
    "MAX_TIMEOUT_S",
    "NAME_MAX_BYTES",
    "CheckpointConfig",
    "ClientsConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvalConfig",
    "FSLConfig",
    "LaunchConfig",
    "LoRAConfig",
    "ModelConfig",
    "NetworkConfig",
    "OutputConfig",
    "RuntimeConfig",
    "SlurmConfig",
    "TrainConfig",
    "WireConfig",
    "choices",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "to_toml",
]
