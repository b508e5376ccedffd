"""The bundled SmolLM2 chat template, with `{% generation %}` markers around assistant replies.

TRL's `assistant_only_loss=True` (and transformers' `return_assistant_tokens_mask`) need the
template to mark which tokens the assistant wrote; SmolLM2's own template does not, so TRL
refused it. The marked template renders exactly the same text (the markers emit nothing), which
tests/test_handoff.py checks, so curate's own training and generation are unchanged.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "{% generation %}"
PLAIN_TURN = "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
MARKED_TURN = ("{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\\n' }}{% generation %}"
               "{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}{% else %}" + PLAIN_TURN +
               "{% endif %}")


def with_generation_markers(template: str) -> str:
    """The template with assistant turns marked; unchanged when it is not the SmolLM2 one. (Saved
    templates hold the newlines inside their string literals either escaped or literal.)"""
    if MARKER in template:
        return template
    for newline in ("\\n", "\n"):
        plain, marked = PLAIN_TURN.replace("\\n", newline), MARKED_TURN.replace("\\n", newline)
        if plain in template:
            return template.replace(plain, marked)
    return template


def mark_folder(folder: Path) -> None:
    """Rewrite a saved tokenizer folder's `chat_template.jinja` with the markers (idempotent)."""
    path = folder / "chat_template.jinja"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        marked = with_generation_markers(text)
        if marked != text:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(marked, encoding="utf-8")
            tmp.replace(path)


def chat_ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    """Token ids of `messages` rendered by the tokenizer's chat template (with the assistant's
    generation prompt at the end, or not): the one way the trainer, the scorers and generation
    turn a conversation into tokens, so their positions line up."""
    out = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
    return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)
