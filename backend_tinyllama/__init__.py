"""The fast service: TinyLlama-1.1B-Chat when its GGUF is in models/, else the bundled model."""

from engine.config import ServiceProfile
from engine.inference.model_files import ModelFile

# TinyLlama's GGUF files carry no chat template; this is the Zephyr format from the
# model's own tokenizer_config.json.
ZEPHYR_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + eos_token + '\n' }}"
    "{% elif message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + eos_token + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

PROFILE = ServiceProfile(
    name="tinyllama",
    label="Fast",
    default_port=8000,
    preferred_model=ModelFile(
        name="TinyLlama-1.1B-Chat v1.0 Q4_K_M",
        filename="tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
        repo_id="TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF",
    ),
    fallback_chat_template=ZEPHYR_TEMPLATE,
)
