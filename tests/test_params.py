from pathlib import Path

import pytest

from breast_density.params import Params, ParamsError, load_params, parse_params

REPO = Path(__file__).resolve().parents[1]


def test_repo_params_yaml_equals_documented_defaults():
    # params.yaml documents the defaults; drifting apart would make the comments lie.
    assert load_params(REPO / "params.yaml") == Params()


def test_unknown_key_is_rejected_with_its_dotted_name():
    with pytest.raises(ParamsError, match=r"unknown key 'finetune.learning_rate'"):
        parse_params({"finetune": {"learning_rate": 0.1}})


def test_unknown_section_is_rejected():
    with pytest.raises(ParamsError, match=r"unknown key 'trainer'"):
        parse_params({"trainer": {}})


def test_wrong_type_is_rejected_with_key_and_value():
    with pytest.raises(ParamsError, match=r"key 'probe.batch_size'.*'64'"):
        parse_params({"probe": {"batch_size": "64"}})


def test_label_map_must_target_known_classes():
    with pytest.raises(ParamsError, match=r"unknown classes \['E'\]"):
        parse_params({"data": {"label_map": {"5": "E"}}})


def test_class_set_is_configurable():
    p = parse_params(
        {
            "classes": [
                {"name": "nondense", "description": "fatty or scattered", "prompt": "a non-dense breast"},
                {"name": "dense", "description": "dense", "prompt": "a dense breast"},
            ],
            "data": {"label_map": {"A": "nondense", "B": "nondense", "C": "dense", "D": "dense"}},
        }
    )
    assert p.class_names == ["nondense", "dense"]


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ParamsError, match="parameter file not found"):
        load_params(tmp_path / "params.yaml")


def test_float_written_in_yaml_exponent_form_is_a_clear_error(tmp_path):
    # PyYAML reads 1e-4 (no dot) as a string: the error must say which key.
    f = tmp_path / "params.yaml"
    f.write_text("probe:\n  lr: 1e-4\n")
    with pytest.raises(ParamsError, match=r"probe\.lr"):
        load_params(f)
