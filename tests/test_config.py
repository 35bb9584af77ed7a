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
