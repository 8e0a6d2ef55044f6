"""The interpreter snapshot: named by its runtime, made once, served to the page or left out."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from pathlib import Path

import pytest

from webapp import snapshot
from webapp.server import SNAPSHOTS, WebConfig, config_from_args, create_app


@pytest.fixture
def runtime(tmp_path: Path) -> Path:
    """A stand-in for node_modules/pyodide: the files the snapshot's name depends on."""
    folder = tmp_path / "pyodide"
    folder.mkdir()
    for name in snapshot.RUNTIME:
        (folder / name).write_bytes(name.encode())
    return folder


def fake_node(tmp_path: Path, body: str) -> str:
    """An executable called like node: ``node snapshot.mjs PYODIDE OUT MODULE...``."""
    path = tmp_path / "node"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_the_name_changes_with_any_runtime_file_and_the_module_list(runtime, monkeypatch):
    name = snapshot.snapshot_name(runtime)
    assert name.startswith("pyodide-") and name.endswith(".bin")
    assert snapshot.snapshot_name(runtime) == name
    (runtime / "pyodide.asm.wasm").write_bytes(b"another build")
    assert snapshot.snapshot_name(runtime) != name
    changed = snapshot.snapshot_name(runtime)
    monkeypatch.setattr(snapshot, "PREIMPORTS", (*snapshot.PREIMPORTS, "json"))
    assert snapshot.snapshot_name(runtime) != changed


def test_an_existing_snapshot_is_used_without_running_node(runtime, tmp_path):
    folder = tmp_path / "snapshots"
    folder.mkdir()
    made = folder / snapshot.snapshot_name(runtime)
    made.write_bytes(b"snapshot")
    assert snapshot.ensure_snapshot(runtime, folder, node=fake_node(tmp_path, "exit 1")) == made


def test_a_missing_snapshot_is_made_by_node_and_replaces_an_earlier_runtimes(runtime, tmp_path):
    folder = tmp_path / "snapshots"
    folder.mkdir()
    (folder / "pyodide-0000000000000000.bin").write_bytes(b"old")
    left = folder / "pyodide-1111111111111111.bin.99.tmp"  # a Node process stopped midway
    left.write_bytes(b"half")
    os.utime(left, (0, 0))
    (folder / "pyodide-2222222222222222.bin.98.tmp").write_bytes(b"being written")  # another, now
    args = tmp_path / "args"
    node = fake_node(tmp_path, f'echo "$@" > {args}; printf made > "$3"')
    made = snapshot.ensure_snapshot(runtime, folder, node=node)
    assert made == folder / snapshot.snapshot_name(runtime) and made.read_bytes() == b"made"
    assert sorted(p.name for p in folder.iterdir()) == [made.name, "pyodide-2222222222222222.bin.98.tmp"]
    script, pyodide, out, *modules = args.read_text().split()
    assert (script, pyodide, out, tuple(modules)) == (
        str(snapshot.SCRIPT),
        str(runtime),
        str(made),
        snapshot.PREIMPORTS,
    )


def test_without_node_or_when_node_fails_there_is_no_snapshot_and_a_warning_says_why(
    runtime, tmp_path, monkeypatch, caplog
):
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with caplog.at_level(logging.WARNING):
        assert snapshot.ensure_snapshot(runtime, tmp_path / "a") is None
    assert "Node.js is not installed" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert (
            snapshot.ensure_snapshot(runtime, tmp_path / "b", node=fake_node(tmp_path, "echo boom >&2; exit 3")) is None
        )
    assert "node exited 3: boom" in caplog.text
    assert not list((tmp_path / "b").glob("*.bin"))


def page_config_of(client) -> dict:
    page = client.get("/").get_data(as_text=True)
    return json.loads(page.split('id="ruschat-config">', 1)[1].split("</script>", 1)[0])


def test_the_page_is_told_where_the_snapshot_is_and_preloads_it(tmp_path):
    made = tmp_path / "pyodide-0123456789abcdef.bin"
    made.write_bytes(b"\0snp" + bytes(60))
    client = create_app(WebConfig(snapshot_file=made)).test_client()
    url = "/runtime/pyodide-0123456789abcdef.bin"
    assert page_config_of(client)["snapshot"] == url
    assert f'<link rel="preload" href="{url}" as="fetch" crossorigin>' in client.get("/").get_data(as_text=True)
    with client.get(url) as served:
        assert served.status_code == 200 and served.get_data() == made.read_bytes()
        assert served.headers["Cache-Control"] == "public, max-age=31536000"  # named by its content
    assert client.get("/runtime/pyodide-fedcba9876543210.bin").status_code == 404
    assert url in client.get("/sw.js").get_data(as_text=True)  # precached with the release
    assert client.get("/pyscript.json").get_json()["interpreter"] == "/static/boot.mjs"


def test_without_a_snapshot_the_page_starts_python_itself(tmp_path):
    client = create_app(WebConfig()).test_client()
    assert page_config_of(client)["snapshot"] is None
    page = client.get("/").get_data(as_text=True)
    assert "{{" not in page and ".bin" not in page
    assert client.get("/runtime/pyodide-0123456789abcdef.bin").status_code == 404


def test_the_snapshot_is_switched_off_or_kept_elsewhere_by_option_or_environment(tmp_path):
    default = config_from_args([], environ={})
    assert default.snapshot and default.snapshot_dir == SNAPSHOTS and default.snapshot_file is None
    assert not config_from_args(["--snapshot", "off"], environ={}).snapshot
    assert not config_from_args([], environ={"RUSCHAT_WEB_SNAPSHOT": "off"}).snapshot
    assert config_from_args(["--snapshot-dir", str(tmp_path)], environ={}).snapshot_dir == tmp_path
    assert config_from_args([], environ={"RUSCHAT_WEB_SNAPSHOT_DIR": str(tmp_path)}).snapshot_dir == tmp_path
