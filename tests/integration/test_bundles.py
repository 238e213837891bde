"""Signed bundles and the model store on a real filesystem with the demo model:
signature, files, archive safety, compatibility, validation here, and the store's
install, activate, rollback and pruning."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeinfer.config import EdgeinferConfig, load_config
from edgeinfer.errors import UpdateError
from edgeinfer.model import Model
from edgeinfer.updates.bundle import pack_bundle, verify_bundle
from edgeinfer.updates.compat import bundle_spec, check_compatible
from edgeinfer.updates.store import ModelStore
from edgeinfer.updates.validate import load_candidate, validate_model
from tests.bundles import Key, device_config, fleet_key, make_bundle
from tests.service_support import DaemonProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def key(tmp_path: Path) -> Key:
    return fleet_key(tmp_path / "keys")


@pytest.fixture
def config(tmp_path: Path, key: Key) -> EdgeinferConfig:
    return load_config(device_config(tmp_path, key.public))


@pytest.fixture
def store(config: EdgeinferConfig) -> ModelStore:
    return ModelStore(config.state_dir, "demo", config.updates.trusted_keys, keep=3)


def install_and_validate(
    config: EdgeinferConfig, store: ModelStore, source: Path
) -> dict[str, Any]:
    bundle = store.install(source)
    check_compatible(config, "demo", bundle)
    model = load_candidate(bundle_spec(config, "demo", bundle), bundle)
    try:
        return validate_model(model, bundle).to_json()
    finally:
        model.close()


def test_a_signed_bundle_installs_validates_and_activates(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path, "1.1.0")
    report = install_and_validate(config, store, bundle)
    assert report["golden"] == 3
    assert report["max_diff"] < 0.01
    assert report["placement"] == "litert:cpu"
    assert store.state().active is None
    store.activate("1.1.0")
    assert store.state().active == "1.1.0"
    active = store.active()
    assert active is not None
    assert active.manifest.name == "conveyor-qc"
    assert active.root == config.state_dir / "models" / "demo" / "versions" / "1.1.0"


def test_a_tar_bundle_installs_like_a_directory(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path, "2.0.0")
    pack_bundle(bundle, tmp_path / "b.tar")
    install_and_validate(config, store, tmp_path / "b.tar")
    assert store.has("2.0.0")


def test_the_demo_tool_manifest_is_a_valid_unsigned_manifest(
    tmp_path: Path, key: Key
) -> None:
    from edgeinfer.updates.manifest import parse_manifest
    from tests.bundles import DEMO

    manifest = parse_manifest((DEMO / "manifest.json").read_bytes())
    assert manifest.golden_tolerance == 0.15
    assert manifest.input.resize == "area"
    assert manifest.model_extra is not None
    assert "metrics" in manifest.model_extra


def test_a_changed_file_is_refused_as_tampered(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path)
    data = bytearray((bundle / "conveyor_int8.tflite").read_bytes())
    data[-100] ^= 0xFF
    (bundle / "conveyor_int8.tflite").write_bytes(bytes(data))
    with pytest.raises(
        UpdateError, match=re.escape("conveyor_int8.tflite does not match")
    ) as e:
        store.install(bundle)
    assert e.value.reason == "tampered"
    assert store.installed() == []


def test_a_truncated_file_is_refused_with_its_sizes(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path)
    labels = bundle / "labels.txt"
    labels.write_bytes(labels.read_bytes()[:5])
    with pytest.raises(
        UpdateError, match=re.escape("labels.txt has 5 bytes, the manifest says")
    ):
        store.install(bundle)


def test_a_manifest_changed_after_signing_is_refused(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path)
    m = json.loads((bundle / "manifest.json").read_text())
    m["golden_tolerance"] = 1.0
    (bundle / "manifest.json").write_text(json.dumps(m, indent=2))
    with pytest.raises(UpdateError, match="changed after signing") as e:
        store.install(bundle)
    assert e.value.reason == "bad_signature"


def test_a_bundle_signed_by_an_untrusted_key_is_refused(
    tmp_path: Path, store: ModelStore
) -> None:
    stranger = fleet_key(tmp_path / "other")
    bundle = make_bundle(tmp_path / "b", stranger.path)
    with pytest.raises(UpdateError, match="which this device does not trust") as e:
        store.install(bundle)
    assert e.value.reason == "untrusted_key"


def test_a_rotated_key_is_accepted_while_both_are_trusted(
    tmp_path: Path, key: Key, config: EdgeinferConfig
) -> None:
    new = fleet_key(tmp_path / "new")
    store = ModelStore(config.state_dir, "demo", [key.public, new.public])
    store.install(make_bundle(tmp_path / "a", key.path, "1.1.0"))
    store.install(make_bundle(tmp_path / "b", new.path, "1.2.0"))
    assert {r["version"] for r in store.installed()} == {"1.1.0", "1.2.0"}


def _tar_with(tmp_path: Path, key: Key, member: tarfile.TarInfo) -> Path:
    bundle = make_bundle(tmp_path / "b", key.path)
    archive = tmp_path / "evil.tar"
    pack_bundle(bundle, archive)
    with tarfile.open(archive, "a") as tar:
        data = b"x" * member.size
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return archive


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../escape.txt", tarfile.REGTYPE, "climbs out with '..'"),
        ("/etc/evil", tarfile.REGTYPE, "absolute path"),
        ("samples/link", tarfile.SYMTYPE, "is a link"),
        ("samples/hard", tarfile.LNKTYPE, "is a link"),
        ("dev0", tarfile.CHRTYPE, "device, FIFO or special"),
    ],
)
def test_an_unsafe_tar_member_is_refused_before_anything_is_written(
    tmp_path: Path, key: Key, store: ModelStore, name: str, kind: bytes, message: str
) -> None:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.size = 4 if kind == tarfile.REGTYPE else 0
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        member.linkname = "/etc/passwd"
    archive = _tar_with(tmp_path, key, member)
    with pytest.raises(UpdateError, match=message) as e:
        store.install(archive)
    assert e.value.reason == "unsafe_archive"
    assert not (tmp_path / "escape.txt").exists()
    assert list(store.root.glob(".staging-*")) == []


def test_a_tar_over_the_size_limit_is_refused(
    tmp_path: Path, key: Key, config: EdgeinferConfig
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path)
    pack_bundle(bundle, tmp_path / "b.tar")
    store = ModelStore(config.state_dir, "demo", [key.public], max_bytes=100_000)
    with pytest.raises(UpdateError, match="over the limit of 100000") as e:
        store.install(tmp_path / "b.tar")
    assert e.value.reason == "too_large"


def test_a_truncated_tar_is_refused(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    bundle = make_bundle(tmp_path / "b", key.path)
    pack_bundle(bundle, tmp_path / "b.tar")
    data = (tmp_path / "b.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[: len(data) // 2])
    with pytest.raises(UpdateError) as e:
        store.install(tmp_path / "cut.tar")
    assert e.value.reason in {"tampered", "bad_signature", "bad_manifest"}


def test_a_bundle_for_another_task_is_incompatible(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    def detection(m: dict[str, Any], _d: Path) -> None:
        m["task"] = "detection"

    config.models["demo"].task = "classification"
    bundle = store.install(make_bundle(tmp_path / "b", key.path, edit=detection))
    with pytest.raises(UpdateError, match="is a detection model but model demo") as e:
        check_compatible(config, "demo", bundle)
    assert e.value.reason == "incompatible"


def test_an_edge_tpu_only_bundle_is_incompatible_with_a_cpu_device(
    tmp_path: Path, key: Key, models: Path, config: EdgeinferConfig, store: ModelStore
) -> None:
    def edgetpu_only(m: dict[str, Any], d: Path) -> None:
        name = "mobilenet_v1_0.25_128_quant_edgetpu.tflite"
        (d / name).write_bytes((models / name).read_bytes())
        m["model"] = name

    bundle = store.install(make_bundle(tmp_path / "b", key.path, edit=edgetpu_only))
    with pytest.raises(UpdateError, match="no variant for this device") as e:
        check_compatible(config, "demo", bundle)
    assert e.value.reason == "incompatible"


def test_each_accelerator_loads_its_own_variant_and_the_rest_the_main_model(
    tmp_path: Path, key: Key, models: Path, config: EdgeinferConfig, store: ModelStore
) -> None:
    def twins(m: dict[str, Any], d: Path) -> None:
        (d / "conveyor_int8_edgetpu.tflite").write_bytes(b"compiled for the edge tpu")
        shutil.copyfile(d / "conveyor_int8.tflite", d / "conveyor_int8_cpu.tflite")
        m["variants"] = [
            {"accelerator": "edgetpu", "model": "conveyor_int8_edgetpu.tflite"},
            {"accelerator": "cpu", "model": "conveyor_int8_cpu.tflite"},
        ]

    bundle = store.install(make_bundle(tmp_path / "b", key.path, edit=twins))
    check_compatible(config, "demo", bundle)
    tpu = load_config(
        device_config(tmp_path / "tpu", key.public),
        ["accelerators=[edgetpu, cpu]"],
    )
    spec = bundle_spec(tpu, "demo", bundle)
    assert spec.path.name == "conveyor_int8.tflite"
    assert dict(spec.variants)["edgetpu"].name == "conveyor_int8_edgetpu.tflite"
    # No Coral here: the Edge TPU is skipped, and the CPU loads its own variant.
    model = Model.load(spec)
    try:
        assert model.selection.model_path.name == "conveyor_int8_cpu.tflite"
        assert [str(s.placement) for s in model.selection.skipped] == ["litert:edgetpu"]
    finally:
        model.close()


def test_a_model_that_misses_its_golden_outputs_is_refused(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    def wrong(m: dict[str, Any], _d: Path) -> None:
        m["golden"][0]["expected_scores"] = [0.0, 0.0, 1.0]

    with pytest.raises(
        UpdateError, match=re.escape("empty_belt.png: output differs by")
    ) as e:
        install_and_validate(
            config, store, make_bundle(tmp_path / "b", key.path, edit=wrong)
        )
    assert e.value.reason == "golden_mismatch"


def test_a_model_over_its_latency_budget_is_refused(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    def tight(m: dict[str, Any], _d: Path) -> None:
        m["latency_budget_ms"] = 0.0001

    with pytest.raises(UpdateError, match=r"over its budget of 0.0001 ms") as e:
        install_and_validate(
            config, store, make_bundle(tmp_path / "b", key.path, edit=tight)
        )
    assert e.value.reason == "over_budget"


def test_a_model_whose_input_differs_from_its_manifest_is_refused(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    def lie(m: dict[str, Any], _d: Path) -> None:
        m["input"]["size"] = [128, 128]

    with pytest.raises(UpdateError, match="the model takes 64x64") as e:
        install_and_validate(
            config, store, make_bundle(tmp_path / "b", key.path, edit=lie)
        )
    assert e.value.reason == "incompatible"


def test_golden_inputs_may_be_tensors(
    tmp_path: Path, key: Key, config: EdgeinferConfig, store: ModelStore
) -> None:
    def tensor(m: dict[str, Any], d: Path) -> None:
        np.save(d / "zeros.npy", np.zeros((1, 64, 64, 3), np.int8))
        m["golden"] = [{"input": "zeros.npy", "expected_scores": [0.0, 0.0, 0.0]}]
        m["golden_tolerance"] = 1.0

    report = install_and_validate(
        config, store, make_bundle(tmp_path / "b", key.path, edit=tensor)
    )
    assert report["golden"] == 1


def test_rollback_goes_back_one_version_and_old_versions_are_pruned(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    for v in ("1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        store.install(make_bundle(tmp_path / v, key.path, v))
        store.activate(v)
    state = store.state()
    assert state.active == "1.4.0"
    assert state.history == ("1.3.0", "1.2.0")
    assert sorted(p.name for p in store.versions.iterdir()) == [
        "1.2.0",
        "1.3.0",
        "1.4.0",
    ]
    assert store.rollback().active == "1.3.0"
    assert store.rollback().active == "1.2.0"
    state = store.rollback()
    assert state.active is None  # back to the configured model file
    with pytest.raises(UpdateError, match="nothing to roll back"):
        store.rollback()


def test_installing_the_same_version_twice_is_a_no_op_but_other_contents_are_refused(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    store.install(make_bundle(tmp_path / "a", key.path, "1.1.0"))
    store.install(make_bundle(tmp_path / "a2", key.path, "1.1.0"))

    def other(m: dict[str, Any], _d: Path) -> None:
        m["description"] = "another build"

    with pytest.raises(UpdateError, match="installed with different contents"):
        store.install(make_bundle(tmp_path / "b", key.path, "1.1.0", edit=other))


def test_an_installed_version_is_verified_again_when_read(
    tmp_path: Path, key: Key, store: ModelStore
) -> None:
    store.install(make_bundle(tmp_path / "a", key.path, "1.1.0"))
    store.activate("1.1.0")
    (store.path("1.1.0") / "labels.txt").write_text("empty\nok\nfine\n")
    with pytest.raises(UpdateError, match=re.escape("labels.txt")):
        store.active()
    assert verify_bundle(tmp_path / "a", [key.public]).version == "1.1.0"


def test_the_cli_makes_a_key_signs_installs_lists_and_rolls_back(
    tmp_path: Path, run_cli: Any
) -> None:
    out = run_cli("models", "keygen", tmp_path / "k.pem", "--json")
    assert out.returncode == 0, out.stderr
    public = json.loads(out.stdout)["public_key"]
    bundle = make_bundle(tmp_path / "b", fleet_key(tmp_path / "x").path, "1.5.0")
    out = run_cli(
        "models",
        "sign",
        bundle,
        "--key",
        tmp_path / "k.pem",
        "--tar",
        tmp_path / "b.tar",
    )
    assert out.returncode == 0, out.stderr
    conf = device_config(tmp_path / "dev", public)
    out = run_cli("models", "verify", tmp_path / "b.tar", "-c", conf, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == "1.5.0"
    out = run_cli(
        "models", "install", tmp_path / "b.tar", "-c", conf, "--activate", "--json"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["validation"]["golden"] == 3
    out = run_cli("models", "list", "-c", conf, "--json")
    assert json.loads(out.stdout)["versions"][0]["role"] == "active"
    out = run_cli("models", "rollback", "-c", conf)
    assert out.returncode == 0, out.stderr
    assert "the configured model file" in out.stdout
    out = run_cli("models", "rollback", "-c", conf)
    assert out.returncode == 1
    assert out.stderr.startswith("error: model demo has no installed version active")
    other = device_config(tmp_path / "dev2", fleet_key(tmp_path / "y").public)
    out = run_cli("models", "verify", bundle, "-c", other)
    assert out.returncode == 1
    assert "which this device does not trust" in out.stderr


def test_cli_rollback_switches_a_running_daemon_at_once(
    tmp_path: Path, run_cli: Any
) -> None:
    key = fleet_key(tmp_path / "k")
    conf = device_config(tmp_path / "dev", key.public, loop=True)
    bundle = make_bundle(tmp_path / "b", key.path, "1.5.0")
    out = run_cli("models", "install", bundle, "-c", conf, "--activate")
    assert out.returncode == 0, out.stderr
    with DaemonProcess(conf, None) as daemon:
        daemon.wait_output("source line1: ok")
        status = json.loads(run_cli("status", "-c", conf, "--json").stdout)
        assert status["models"]["demo"]["version"] == "1.5.0"
        out = run_cli("models", "rollback", "-c", conf, "--json")
        assert out.returncode == 0, out.stderr
        reply = json.loads(out.stdout)
        assert reply["live"] is True
        assert reply["version"] == "1.0.0"  # the configured model file
        status = json.loads(run_cli("status", "-c", conf, "--json").stdout)
        assert status["models"]["demo"]["version"] == "1.0.0"
        out = run_cli("models", "activate", "1.5.0", "-c", conf, "--json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["restart_required"] is True
        assert daemon.stop() == 0
