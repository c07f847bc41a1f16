"""Config: TOML + dotted overrides, one clear line per mistake."""

import pytest

from fsl_sage_dist.config import ConfigError, load_config


def test_defaults_are_the_papers_setup():
    cfg = load_config()
    assert (cfg.algorithm, cfg.rounds, cfg.seed, cfg.clients.num) == ("fsl_sage", 200, 200, 10)
    assert (cfg.fsl.server_interval, cfg.fsl.align_interval, cfg.fsl.store_size) == (5, 10, 1000)
    assert cfg.world_size == 3


def test_overrides_parse_toml_literals_and_bare_words():
    cfg = load_config(
        None,
        [
            "rounds=5",
            "train.lr=2e-3",
            "data.synthetic_shape=[3,32,32]",
            'model.cut="layer1"',
            "model.name=resnet18",
            "fsl.async_align=true",
        ],
    )
    assert cfg.rounds == 5 and cfg.train.lr == 2e-3
    assert cfg.data.synthetic_shape == [3, 32, 32]
    assert (cfg.model.cut, cfg.model.name, cfg.fsl.async_align) == ("layer1", "resnet18", True)


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(None, ["train.lr=1"]).train.lr == 1.0
    with pytest.raises(ConfigError, match=r"rounds=2.5 is invalid: expected an integer"):
        load_config(None, ["rounds=2.5"])


@pytest.mark.parametrize(
    "override, message",
    [
        ("rouns=5", r"unknown config key 'rouns'; did you mean 'rounds'\?"),
        ("train.batchsize=5", r"unknown config key 'train.batchsize'; did you mean 'batch_size'\?"),
        ("algorithm=fedsgd", r"algorithm='fedsgd' is invalid: expected one of 'fedavg'"),
        ("data.alpha=0", r"data.alpha=0.0 is invalid: expected a number > 0"),
        ("fsl.server_interval=0", r"fsl.server_interval=0 is invalid"),
        ("clients.per_round=11", r"clients.per_round=11 is invalid"),
        ("launch.client_hosts=11", r"launch.client_hosts=11 is invalid: expected at most clients"),
        ("rounds", r"not of the form key=value"),
        ("fsl.async_align=maybe", r"fsl.async_align='maybe' is invalid: expected true or false"),
        ("data.synthetic_shape=[3,32]", r"data.synthetic_shape=\[3, 32\] is invalid"),
    ],
)
def test_bad_input_gives_one_clear_line(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(None, [override])
    assert "\n" not in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("rounds = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = load_config(None, ["rounds=7", 'output.name=a "quoted" name', "train.lr=1e-05"])
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml())
    assert load_config(path) == cfg


def test_shipped_configs_load():
    from pathlib import Path

    shipped = sorted(Path(__file__).parent.parent.glob("configs/*.toml"))
    assert len(shipped) >= 5
    for path in shipped:
        assert load_config(path).algorithm in path.stem


def test_a_huge_bad_value_is_not_echoed_whole():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["output.name=" + "x" * 100_000])
    assert len(str(info.value)) < 400, len(str(info.value))


def test_a_boolean_is_echoed_as_toml_spells_it():
    with pytest.raises(ConfigError, match="^rounds=true is invalid: expected an integer"):
        load_config(None, ["rounds=true"])
