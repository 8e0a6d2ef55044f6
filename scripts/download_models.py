"""Download the named models from the Hugging Face hub into models/.

    python3 scripts/download_models.py              # both
    python3 scripts/download_models.py --only fast  # TinyLlama-1.1B-Chat only

Each file is fetched with huggingface_hub (progress bar, resumes a partial download)
and its sha256 is checked against the hub's record before it is kept. The services
pick the files up on their next start. Without a network this fails fast and changes
nothing: the bundled model keeps working.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
sys.path.insert(0, str(ROOT))

try:
    import huggingface_hub
except ImportError:
    if VENV_PYTHON.is_file() and Path(sys.executable) != VENV_PYTHON:
        os.execv(VENV_PYTHON, [str(VENV_PYTHON), *sys.argv])  # rerun inside the project's .venv
    sys.exit("error: huggingface_hub is missing: run `python3 scripts/setup.py` first")

from backend_qwen import PROFILE as CAPABLE  # noqa: E402
from backend_tinyllama import PROFILE as FAST  # noqa: E402
from engine.inference.model_files import ModelFile, sha256_of  # noqa: E402

MODELS = {"fast": FAST.preferred_model, "capable": CAPABLE.preferred_model}
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(Exception):
    pass


def expected_sha256(model: ModelFile) -> str:
    """The file's sha256 as the hub records it (the ETag of an LFS file)."""
    assert model.repo_id is not None
    url = huggingface_hub.hf_hub_url(model.repo_id, model.filename)
    try:
        metadata = huggingface_hub.get_hf_file_metadata(url, timeout=10)
    except huggingface_hub.errors.HfHubHTTPError as error:
        raise DownloadError(f"the hub refused {model.repo_id}/{model.filename}: {error}") from None
    except Exception as error:  # httpx's connection errors and timeouts: no network
        raise DownloadError(f"cannot reach the Hugging Face hub ({type(error).__name__}: {error})") from None
    etag = (metadata.etag or "").strip('"')
    if not SHA256.match(etag):
        raise DownloadError(f"the hub gave no sha256 for {model.filename} (etag {etag!r})")
    return etag


def download(model: ModelFile, models_dir: Path) -> Path:
    assert model.repo_id is not None
    target = models_dir / model.filename
    expected = model.sha256 or expected_sha256(model)
    if target.is_file() and sha256_of(target) == expected:
        print(f"{model.name}: already in {target}, checksum ok")
        return target
    print(f"{model.name}: downloading {model.repo_id}/{model.filename}")
    try:
        path = Path(huggingface_hub.hf_hub_download(model.repo_id, model.filename, local_dir=models_dir))
    except Exception as error:
        raise DownloadError(
            f"download of {model.filename} failed ({type(error).__name__}: {error}); run the command again to resume"
        ) from None
    actual = sha256_of(path)
    if actual != expected:
        path.unlink()
        raise DownloadError(f"{model.filename}: sha256 {actual} does not match the hub's {expected}; deleted")
    print(f"{model.name}: saved to {path}, sha256 verified")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(MODELS), help="download one service's model")
    parser.add_argument(
        "--models-dir", type=Path, default=Path(os.environ.get("RUSCHAT_MODELS_DIR") or ROOT / "models")
    )
    args = parser.parse_args(argv)
    args.models_dir.mkdir(parents=True, exist_ok=True)
    wanted = [MODELS[args.only]] if args.only else list(MODELS.values())
    try:
        for model in wanted:
            assert model is not None
            download(model, args.models_dir)
    except DownloadError as error:
        print(f"error: {error}\nNothing was changed: the services keep running the bundled model.", file=sys.stderr)
        return 1
    print("Done. Restart the services (or scripts/run_all.py) to use the downloaded models.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
