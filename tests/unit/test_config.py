from __future__ import annotations

from pathlib import Path

import pytest

from backend_qwen import PROFILE as QWEN
from backend_tinyllama import PROFILE as TINYLLAMA
from engine import options
from engine.config import DEFAULT_ORIGINS, config_from_args, database_url
from engine.inference.model_files import BUNDLED, ModelMissing
from engine.inference.protocol import resolve_context_size


@pytest.fixture
def models(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / BUNDLED.filename).write_bytes(b"GGUF")
    return folder


def env(models: Path, **extra: str) -> dict[str, str]:
    return {"RUSCHAT_MODELS_DIR": str(models), "RUSCHAT_DATA_DIR": str(models.parent / "data"), **extra}


def test_defaults_bind_loopback_and_fall_back_to_the_bundled_model(models: Path):
    config = config_from_args(QWEN, [], env(models))
    assert (config.host, config.port) == ("127.0.0.1", 8001)
    assert config.model_path == models / BUNDLED.filename
    assert config.model_name == BUNDLED.name
    assert config.database_url == f"sqlite:///{(models.parent / 'data' / 'qwen.sqlite3').resolve()}"
    assert config.allowed_origins == DEFAULT_ORIGINS
    assert "localhost" in config.allowed_hosts and "127.0.0.1" in config.allowed_hosts
    assert config.slots == 4
    assert config_from_args(QWEN, ["--parallel", "1"], env(models)).slots == 1
    assert config.park_bytes == 256 * 1024 * 1024
    assert config_from_args(QWEN, ["--park-mb", "0"], env(models)).park_bytes == 0


def test_services_share_the_cpu_through_one_folder_unless_told_not_to(models: Path, tmp_path: Path):
    fast, capable = config_from_args(TINYLLAMA, [], env(models)), config_from_args(QWEN, [], env(models))
    assert fast.cpu_dir is not None and fast.cpu_dir == capable.cpu_dir
    # Whatever environment started it (a shell, cron, systemd), a service meets the others.
    assert config_from_args(QWEN, [], env(models, XDG_RUNTIME_DIR=str(tmp_path), TMPDIR="/x")).cpu_dir == fast.cpu_dir
    assert fast.threads >= 1
    shared = config_from_args(QWEN, [], env(models, RUSCHAT_CPU_DIR=str(tmp_path / "cpu")))
    assert shared.cpu_dir == tmp_path / "cpu"
    assert config_from_args(QWEN, ["--cpu-dir", "off"], env(models)).cpu_dir is None
    assert config_from_args(QWEN, ["--threads", "1"], env(models)).threads == 1


def test_named_model_wins_when_present(models: Path):
    assert TINYLLAMA.preferred_model is not None
    (models / TINYLLAMA.preferred_model.filename).write_bytes(b"GGUF")
    config = config_from_args(TINYLLAMA, [], env(models))
    assert config.model_path.name == TINYLLAMA.preferred_model.filename
    assert config.model_name.startswith("TinyLlama")
    assert config.port == 8000
    assert config.fallback_chat_template and "<|assistant|>" in config.fallback_chat_template


def test_environment_then_command_line(models: Path, tmp_path: Path):
    environ = env(
        models,
        RUSCHAT_QWEN_PORT="9100",
        RUSCHAT_QWEN_DB=str(tmp_path / "x.db"),
        RUSCHAT_QWEN_ORIGINS="http://localhost:5000, http://127.0.0.1:5000/",
    )
    config = config_from_args(QWEN, [], environ)
    assert config.port == 9100
    assert config.database_url.endswith("/x.db")
    assert config.allowed_origins == ("http://localhost:5000", "http://127.0.0.1:5000")
    config = config_from_args(QWEN, ["--port", "9200", "--db", "postgresql://u@localhost/chat"], environ)
    assert config.port == 9200
    assert config.database_url == "postgresql://u@localhost/chat"


def test_explicit_model_path(models: Path, tmp_path: Path):
    custom = tmp_path / "my-model.gguf"
    custom.write_bytes(b"GGUF")
    config = config_from_args(QWEN, ["--model", str(custom)], env(models))
    assert config.model_path == custom and config.model_name == "my-model"


def test_missing_model_says_how_to_get_one(tmp_path: Path):
    with pytest.raises(ModelMissing, match="setup.py"):
        config_from_args(QWEN, [], env(tmp_path / "nowhere"))


@pytest.mark.parametrize(
    "argv", [["--port", "70000"], ["--port", "abc"], ["--ctx", "10"], ["--parallel", "0"], ["--park-mb", "-5"]]
)
def test_bad_options_exit_with_usage_error(models: Path, argv: list[str]):
    with pytest.raises(SystemExit) as caught:
        config_from_args(QWEN, argv, env(models))
    assert caught.value.code == 2


def test_database_url_accepts_paths_and_urls(tmp_path: Path):
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert database_url(str(tmp_path / "a.sqlite3")) == f"sqlite:///{tmp_path / 'a.sqlite3'}"


def test_context_defaults_to_the_model_and_an_explicit_size_is_kept(models: Path):
    assert config_from_args(QWEN, [], env(models)).context_size is None  # the engine decides
    assert config_from_args(QWEN, ["--ctx", "8192"], env(models)).context_size == 8192
    assert config_from_args(QWEN, [], env(models, RUSCHAT_QWEN_CTX="1024")).context_size == 1024
    assert resolve_context_size(None, 2048) == 2048  # TinyLlama-1.1B's training context
    assert resolve_context_size(None, 8192) == 4096  # SmolLM2-135M
    assert resolve_context_size(None, 0) == 4096  # a model that does not say
    assert resolve_context_size(8192, 2048) == 8192  # asked for: kept (with a warning)


def test_kv_caches_go_under_the_data_folder_within_a_budget(models: Path):
    config = config_from_args(QWEN, [], env(models))
    assert config.kv_disk_dir == models.parent / "data" / "kv" / "qwen"
    assert config.kv_disk_bytes == 1024 * 1024 * 1024
    assert config_from_args(QWEN, ["--kv-disk-mb", "0"], env(models)).kv_disk_bytes == 0
    assert config_from_args(QWEN, [], env(models, RUSCHAT_QWEN_KV_DISK_MB="64")).kv_disk_bytes == 64 * 1024 * 1024
    assert config_from_args(QWEN, ["--kv-dir", str(models / "kv")], env(models)).kv_disk_dir == models / "kv"
    with pytest.raises(SystemExit):
        config_from_args(QWEN, ["--kv-disk-mb", "-1"], env(models))


def test_the_capable_service_asks_the_fast_one_for_summaries(models: Path):
    assert config_from_args(TINYLLAMA, [], env(models)).summarizer == "self"
    assert config_from_args(QWEN, [], env(models)).summarizer == "http://127.0.0.1:8000"
    moved = env(models, RUSCHAT_QWEN_SUMMARIZER="http://localhost:9000/")
    assert config_from_args(QWEN, [], moved).summarizer == "http://localhost:9000"
    assert config_from_args(QWEN, ["--summarizer", "off"], moved).summarizer == "off"
    with pytest.raises(SystemExit):
        config_from_args(QWEN, ["--summarizer", "ftp://x"], env(models))


def test_max_tokens_bound_is_an_operator_option(models: Path):
    assert config_from_args(QWEN, [], env(models)).max_answer_tokens is None  # the context bounds it
    assert config_from_args(QWEN, ["--max-tokens", "64"], env(models)).max_answer_tokens == 64
    assert config_from_args(QWEN, [], env(models, RUSCHAT_QWEN_MAX_TOKENS="32")).max_answer_tokens == 32
    assert config_from_args(QWEN, ["--max-tokens", "4096"], env(models)).max_answer_tokens == 4096
    for bad in ("0", "-5"):
        with pytest.raises(SystemExit):
            config_from_args(QWEN, ["--max-tokens", bad], env(models))


def test_the_import_body_bound_is_its_own(models: Path):
    config = config_from_args(QWEN, [], env(models))
    assert (config.max_body_bytes, config.max_import_bytes) == (1024 * 1024, 64 * 1024 * 1024)
    assert config_from_args(QWEN, ["--max-import-mb", "5"], env(models)).max_import_bytes == 5 * 1024 * 1024
    assert config_from_args(QWEN, [], env(models, RUSCHAT_QWEN_MAX_IMPORT_MB="7")).max_import_bytes == 7 * 1024 * 1024
    with pytest.raises(SystemExit):
        config_from_args(QWEN, ["--max-import-mb", "0"], env(models))


def test_an_upstream_engine_needs_no_model_file(tmp_path: Path):
    environ = {"RUSCHAT_MODELS_DIR": str(tmp_path), "RUSCHAT_QWEN_ENGINE_KEY": "sk-up"}
    config = config_from_args(QWEN, ["--engine-url", "http://gpu-box:8000/v1/", "--engine-model", "m"], environ)
    assert (config.engine_url, config.engine_model, config.engine_key) == ("http://gpu-box:8000/v1", "m", "sk-up")
    assert "sk-up" not in repr(config)
    with pytest.raises(SystemExit):
        config_from_args(QWEN, ["--engine-url", "gpu-box:8000"], environ)


def test_the_readme_lists_every_option_as_the_option_table_says():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("-->\n", readme.index("<!-- options:")) + len("-->\n")
    assert readme[start : readme.index("<!-- /options -->")] == options.readme_table()


def test_every_option_is_on_the_command_line_and_in_the_environment(models: Path):
    parser = options.parser_for(QWEN, env(models))
    flags = {flag for action in parser._actions for flag in action.option_strings}
    assert {option.flag for option in options.OPTIONS} <= flags
    # Each option's own variable is read (the value ends up in the config).
    config = config_from_args(
        QWEN, [], env(models, RUSCHAT_QWEN_PORT="9123", RUSCHAT_QWEN_PARALLEL="2", RUSCHAT_QWEN_TITLES="off")
    )
    assert (config.port, config.slots, config.titles) == (9123, 2, False)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--ctx", "100"], "--ctx must be at least 256"),
        (["--max-queue", "-1"], "--max-queue must not be negative"),
        (["--parallel", "0"], "--parallel must be between 1 and 64"),
        (["--max-tokens", "0"], "--max-tokens must be at least 1"),
    ],
)
def test_out_of_range_options_are_refused_by_name(models: Path, argv: list[str], message: str, capsys):
    with pytest.raises(SystemExit) as exit_info:
        config_from_args(QWEN, argv, env(models))
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_variable_that_is_not_a_number_is_refused_by_name(models: Path, capsys):
    with pytest.raises(SystemExit):
        config_from_args(QWEN, [], env(models, RUSCHAT_QWEN_PORT="eighty"))
    assert "RUSCHAT_QWEN_PORT must be a whole number" in capsys.readouterr().err


def test_help_names_the_command_that_was_typed(models: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("sys.argv", ["/home/me/.venv/bin/ruschat-capable", "--help"])
    assert options.parser_for(QWEN, env(models)).prog == "ruschat-capable"
    monkeypatch.setattr("sys.argv", ["/repo/backend_qwen/__main__.py"])
    assert options.parser_for(QWEN, env(models)).prog == "python -m backend_qwen"
