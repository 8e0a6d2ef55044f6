"""The capable service: Qwen2.5-0.5B-Instruct when its GGUF is in models/, else the bundled model."""

from engine.config import ServiceProfile
from engine.inference.model_files import ModelFile

PROFILE = ServiceProfile(
    name="qwen",
    label="Capable",
    default_port=8001,
    preferred_model=ModelFile(
        name="Qwen2.5-0.5B-Instruct Q4_K_M",
        filename="qwen2.5-0.5b-instruct-q4_k_m.gguf",
        repo_id="Qwen/Qwen2.5-0.5B-Instruct-GGUF",
    ),
    default_summarizer="http://127.0.0.1:8000",
)
