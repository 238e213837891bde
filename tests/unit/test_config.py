"""The config loader: sections, shorthands, ``--set`` overrides and error messages."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from edgeinfer.config import (
    EdgeinferConfig,
    LiteRTConfig,
    OpenVINOConfig,
    dump_config,
    load_config,
    parse_config,
)
from edgeinfer.errors import ConfigError
from tests.conftest import ROOT, CliRunner
from tests.unit.conftest import ConfigWriter

PROFILES = sorted((ROOT / "device-configs").glob("*.yaml"))


def config_error(text: str, overrides: Sequence[str] = ()) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "edge.yaml", overrides)
    return str(caught.value)


def test_defaults_need_no_file_content() -> None:
    config = parse_config("log_level: info\n", "edge.yaml")
    assert re.fullmatch(r"[A-Za-z0-9_-]+", config.device.id)
    assert config.state_dir == Path("/var/lib/edgeinfer")
    assert config.accelerators == [LiteRTConfig(kind="litert", device="cpu")]
    assert config.mqtt.port == 1883
    assert config.telemetry.interval_s == 10
    assert config.mqtt_prefix == f"edgeinfer/{config.device.id}"
    assert config.openvino_cache_dir(OpenVINOConfig()) == Path(
        "/var/lib/edgeinfer/cache/openvino"
    )


def test_unknown_key_names_line_and_suggests_the_right_one() -> None:
    message = config_error("device:\n  id: a\nmqtt:\n  host: b\n  hots: c\n")
    assert message == "edge.yaml:5: mqtt.hots: unknown key — did you mean 'host'?"


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    message = config_error("telemetry:\n  zzz: 1\n")
    assert message.startswith("edge.yaml:2: telemetry.zzz: unknown key — fix: remove")
    assert "valid keys here: interval_s" in message


def test_wrong_type_gives_dotted_path_line_value_and_fix() -> None:
    message = config_error("mqtt:\n  host: b\n  port: abc\n")
    assert message.startswith("edge.yaml:3: mqtt.port: 'abc' is not valid: ")
    assert "valid integer" in message
    assert message.endswith("fix: set mqtt.port to a whole number between 1 and 65535")


def test_out_of_range_value_reports_the_bounds() -> None:
    message = config_error("mqtt:\n  port: 70000\n")
    assert message == (
        "edge.yaml:2: mqtt.port: 70000 is not valid: Input should be less than or "
        "equal to 65535 — fix: set mqtt.port to a whole number between 1 and 65535"
    )


def test_bad_enum_in_a_list_item_lists_the_choices() -> None:
    message = config_error(
        "accelerators:\n  - cpu\n  - kind: openvino\n    hint: fast\n"
    )
    assert message.startswith("edge.yaml:4: accelerators.1.hint: 'fast' is not valid")
    assert message.endswith(
        "fix: set accelerators.1.hint to one of 'latency' or 'throughput'"
    )


def test_several_problems_give_a_summary_then_one_line_each() -> None:
    lines = config_error("log_level: loud\ntelemetry:\n  interval_s: 0\n").splitlines()
    assert lines[0] == "edge.yaml: 2 problems"
    assert lines[1].strip().startswith("edge.yaml:1: log_level: 'loud'")
    assert lines[2].strip().startswith("edge.yaml:3: telemetry.interval_s: 0")
    assert "greater than 0" in lines[2]


def test_missing_required_key_points_at_its_parent() -> None:
    message = config_error("models:\n  det:\n    labels: l.txt\n")
    assert message == (
        "edge.yaml:2: models.det.path: required key is missing "
        "— fix: add models.det.path"
    )


def test_shorthand_accelerators_expand_to_backend_and_device() -> None:
    config = parse_config("accelerators: [edgetpu, npu, gpu, cpu]\n", "edge.yaml")
    assert [(a.kind, a.device) for a in config.accelerators] == [
        ("litert", "edgetpu"),
        ("openvino", "NPU"),
        ("openvino", "GPU"),
        ("litert", "cpu"),
    ]


@pytest.mark.parametrize(
    ("shorthand", "kind", "device"),
    [
        ("edgetpu:usb", "litert", "usb"),
        ("edgetpu:usb:0", "litert", "usb:0"),
        ("edgetpu:pci:0", "litert", "pci:0"),
        ("litert:usb:1", "litert", "usb:1"),
        ("openvino", "openvino", "CPU"),
        ("openvino:gpu.1", "openvino", "GPU.1"),
        ("openvino:AUTO:NPU,CPU", "openvino", "AUTO:NPU,CPU"),
        ("onnxruntime:cpu", "onnxruntime", "cpu"),
    ],
)
def test_backend_device_shorthand(shorthand: str, kind: str, device: str) -> None:
    config = parse_config(f"accelerators: ['{shorthand}']\n", "edge.yaml")
    assert (config.accelerators[0].kind, config.accelerators[0].device) == (
        kind,
        device,
    )


def test_mapping_accelerator_keeps_its_options() -> None:
    text = (
        "accelerators:\n  - {kind: openvino, device: npu, hint: throughput, streams: 2}"
    )
    entry = parse_config(text, "edge.yaml").accelerators[0]
    assert isinstance(entry, OpenVINOConfig)
    assert (entry.device, entry.hint, entry.streams) == ("NPU", "throughput", 2)


def test_unknown_shorthand_lists_the_valid_forms() -> None:
    message = config_error("accelerators: [cpu, tpu]\n")
    assert message.startswith("edge.yaml:1: accelerators.1: 'tpu' is not valid: ")
    assert "edgetpu:usb[:N]" in message
    assert "openvino[:DEVICE]" in message


def test_unknown_device_for_a_backend_is_rejected() -> None:
    message = config_error("accelerators: ['openvino:TPU']\n")
    assert "not an OpenVINO device" in message
    assert "GPU.N" in message


def test_unknown_kind_lists_the_kinds() -> None:
    message = config_error("accelerators:\n  - kind: tpu\n")
    assert message.startswith("edge.yaml:2: accelerators.0: ")
    assert "set accelerators.0.kind to one of 'litert', 'openvino'" in message


def test_model_accelerators_override_the_device_list() -> None:
    text = "models:\n  m:\n    path: m.tflite\n    accelerators: [npu]\n"
    config = parse_config(text, "edge.yaml")
    assert [a.device for a in config.accelerators_for("m")] == ["NPU"]


def test_set_overrides_a_scalar() -> None:
    config = parse_config("mqtt:\n  port: 1883\n", "edge.yaml", ["mqtt.port=1884"])
    assert config.mqtt.port == 1884


def test_set_creates_a_nested_key() -> None:
    text = "models:\n  det:\n    path: d.tflite\n"
    config = parse_config(text, "edge.yaml", ["models.det.score_threshold=0.6"])
    assert config.models["det"].score_threshold == 0.6


def test_set_replaces_a_list_and_an_item() -> None:
    config = parse_config(
        "accelerators: [cpu]\n", "edge.yaml", ["accelerators=[npu,cpu]"]
    )
    assert [a.kind for a in config.accelerators] == ["openvino", "litert"]
    config = parse_config(
        "accelerators: [cpu, gpu]\n", "edge.yaml", ["accelerators.1=npu"]
    )
    assert [a.device for a in config.accelerators] == ["cpu", "NPU"]


def test_bad_set_value_is_located_at_the_override() -> None:
    message = config_error("mqtt:\n  port: 1883\n", ["mqtt.port=abc"])
    assert message.startswith("--set mqtt.port=abc: mqtt.port: 'abc' is not valid")


def test_malformed_set_says_how_to_write_it() -> None:
    message = config_error("mqtt: {}\n", ["mqtt.port"])
    assert message == (
        "--set mqtt.port: expected KEY=VALUE — fix: write it like --set mqtt.port=1884"
    )


def test_set_into_a_scalar_is_rejected() -> None:
    message = config_error("mqtt:\n  port: 1883\n", ["mqtt.port.x=1"])
    assert "mqtt.port holds a single value" in message


def test_secrets_are_masked_in_dump_and_errors() -> None:
    config = parse_config("mqtt:\n  password: hunter2\n", "edge.yaml")
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "hunter2"
    dumped = dump_config(config)
    assert "hunter2" not in json.dumps(dumped)
    assert set(dumped["mqtt"]["password"]) == {"*"}
    assert "hunter2" not in config_error("mqtt: {}\n", ["mqtt.password=[hunter2"])
    assert "12345" not in config_error("mqtt:\n  password: 12345\n")


def test_relative_paths_resolve_against_the_yaml_directory(
    write_config: ConfigWriter,
) -> None:
    path = write_config(
        "state_dir: ../state\nmodels:\n  m:\n    path: m/model.tflite\n"
        "    labels: /abs/labels.txt\n"
    )
    config = load_config(path)
    assert config.state_dir == path.parent.parent / "state"
    assert config.models["m"].path == path.parent / "m" / "model.tflite"
    assert config.models["m"].labels == Path("/abs/labels.txt")


def test_model_file_must_be_a_known_format() -> None:
    message = config_error("models:\n  m:\n    path: m.pt\n")
    assert message.startswith("edge.yaml:3: models.m.path: 'm.pt' is not valid")
    assert ".tflite, .onnx or OpenVINO .xml" in message


def test_device_id_must_be_topic_safe() -> None:
    message = config_error("device:\n  id: line/3\n")
    assert message.startswith("edge.yaml:2: device.id: 'line/3' is not valid")
    assert "'+', '#'" in message
    assert "groups.0" in config_error("device:\n  groups: ['a b']\n")


def test_mqtt_prefix_and_protocol() -> None:
    text = "mqtt:\n  prefix: plant1/line3/\n  protocol: 5\n"
    config = parse_config(text, "edge.yaml")
    assert config.mqtt_prefix == "plant1/line3"
    assert config.mqtt.protocol == "5"
    assert "not a usable topic prefix" in config_error("mqtt:\n  prefix: a/#\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "edge.yaml: config file is empty"),
        ("- a\n- b\n", "edge.yaml:1: the top level is a list, not a mapping"),
        ("mqtt:\n  port: [1\n", "edge.yaml:3: not valid YAML:"),
        ("mqtt:\n  port: 1\n  port: 2\n", "edge.yaml:3: mqtt.port: duplicate key"),
    ],
)
def test_unusable_yaml_is_one_clear_line(text: str, expected: str) -> None:
    message = config_error(text)
    assert message.startswith(expected)
    assert "\n" not in message


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.name)
def test_every_device_profile_validates(profile: Path) -> None:
    assert isinstance(load_config(profile), EdgeinferConfig)


def test_demo_profile_runs_from_the_checkout() -> None:
    config = load_config(ROOT / "device-configs" / "demo.yaml")
    assert config.device.id == "demo"
    assert config.state_dir == ROOT / ".state"
    assert config.models["demo"].path == ROOT / "models/demo/conveyor_int8.tflite"
    assert config.models["demo"].task == "classification"


def test_config_check_accepts_a_good_file(
    run_cli: CliRunner, write_config: ConfigWriter
) -> None:
    path = write_config("device:\n  id: t1\naccelerators: [npu, cpu]\n")
    result = run_cli("config", "check", path, "--set", "mqtt.port=1884")
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout
        == f"ok: {path} (0 models, accelerators: openvino:NPU, litert:cpu)\n"
    )


def test_config_check_json_prints_the_masked_config(
    run_cli: CliRunner, write_config: ConfigWriter
) -> None:
    path = write_config("mqtt:\n  password: hunter2\n")
    result = run_cli("config", "check", path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert set(report["config"]["mqtt"]["password"]) == {"*"}
    assert "hunter2" not in result.stdout


def test_config_check_rejects_a_bad_file_in_one_line(
    run_cli: CliRunner, write_config: ConfigWriter
) -> None:
    path = write_config("mqtt:\n  port: 70000\n")
    result = run_cli("config", "check", path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {path}:2: mqtt.port: 70000 is not valid")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
