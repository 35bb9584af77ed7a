import pytest

from gig_core.cli import NON_CONFIG_FLAGS, _overrides, build_parser
from gig_core.config import TRAIN_PRESETS, ConfigError, load_params, load_section


def test_precedence_defaults_preset_file_cli(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  preset: '64'\n  steps: 77\n  augment:\n    brightness: 0.2\n")
    config = load_section("train", params, {"batch_size": 8, "augment": {"hflip": False}})
    assert config.resolution == TRAIN_PRESETS["64"]["resolution"] == 64  # from the preset
    assert config.steps == 77  # the file beats the preset
    assert config.batch_size == 8  # the command line beats the file
    assert config.augment.brightness == 0.2 and config.augment.hflip is False


def test_unknown_key_and_bad_type_are_errors(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  stepz: 10\n")
    with pytest.raises(ConfigError, match="unknown key.*stepz"):
        load_section("train", params)
    params.write_text("train:\n  steps: many\n")
    with pytest.raises(ConfigError, match="train.steps: expected int"):
        load_section("train", params)
    params.write_text("train:\n  preset: huge\n")
    with pytest.raises(ConfigError, match="unknown preset"):
        load_section("train", params)


def test_repo_params_file_loads():
    from tests.conftest import REPO

    params = load_params(REPO / "params.yaml")
    assert params.ingest.source == "data"
    assert params.train.model == "hcgan" and params.train.resolution == params.preprocess.resolution
    assert params.train.diversity_weight == 0.05  # the family's setting, from FAMILY_DEFAULTS


def test_cli_flags_become_nested_overrides():
    args = build_parser().parse_args(["train", "--steps", "5", "--no-augment-hflip", "--condition-on", "articleType"])
    overrides = _overrides(args, NON_CONFIG_FLAGS)
    assert overrides == {"steps": 5, "augment": {"hflip": False}, "condition_on": ["articleType"]}


@pytest.mark.parametrize("section, overrides, message", [
    ("train", {"steps": 0}, "train.steps: got 0; must be >= 1 (optimizer steps of G)"),
    ("train", {"steps": -5}, "train.steps: got -5; must be >= 1"),
    ("train", {"log_every": 0}, "train.log_every: got 0; must be >= 1"),
    ("train", {"sample_every": 0}, "train.sample_every: got 0; must be >= 1"),
    ("train", {"batch_size": 0}, "train.batch_size: got 0; must be >= 2"),
    ("train", {"resolution": 48}, "train.resolution: got 48; must be one of [32, 64, 128]"),
    ("train", {"model": "gan"}, "train.model: got 'gan'; must be one of ['autoencoder', 'cgan', 'dcgan', 'hcgan',"),
    ("train", {"augment": {"ada_target": 2}}, "train.augment.ada_target: got 2.0; must be >= 0.0 and <= 1.0"),
    ("preprocess", {"resolution": 48}, "preprocess.resolution: got 48; must be one of [32, 64, 128]"),
    ("generate", {"columns": 0}, "generate.columns: got 0; must be >= 1 (images per grid row)"),
    ("evaluate", {"confidence": 1.5}, "evaluate.confidence: got 1.5; must be > 0.0 and < 1.0"),
    ("serve", {"max_images": 0}, "serve.max_images: got 0; must be >= 1"),
])
def test_every_value_is_checked_at_load_with_one_message_format(section, overrides, message):
    with pytest.raises(ConfigError) as error:
        load_section(section, None, overrides)
    assert str(error.value).startswith(message), str(error.value)


def test_a_named_params_file_must_exist_and_parse(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="params.yml: params file not found"):
        load_section("train", tmp_path / "params.yml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  steps: 5\n  augment: [1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: line 4, column 1: invalid YAML: expected ',' or ']'"):
        load_section("train", bad)
    monkeypatch.chdir(tmp_path)  # no params.yaml here: the default name may be absent
    assert load_section("train").steps == TRAIN_PRESETS["demo"]["steps"]  # built-in defaults: the demo preset


def test_null_in_params_yaml_means_the_preset_or_family_value(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  preset: '64'\n  steps: null\n  lr_g: null\n  seed: 3\n")
    config = load_section("train", params)
    assert (config.steps, config.resolution, config.lr_g, config.seed) == (40000, 64, 4e-4, 3)
