"""How the demos tell what they do: numbered steps in bold, and indented lines under them."""

from __future__ import annotations

_steps = 0


def step(text: str) -> None:
    global _steps  # noqa: PLW0603 (a narration counter)
    _steps += 1
    print(f"\n\033[1m[{_steps}] {text}\033[0m", flush=True)


def say(text: str) -> None:
    print(f"    {text}", flush=True)
