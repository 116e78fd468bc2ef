"""The configuration reference (docs/configuration.md), generated from the schema so it cannot drift.

    python -m agent.config.reference > docs/configuration.md
"""

from __future__ import annotations

import dataclasses

from .model import AgentConfig
from .schema import describe

INTRO = """# Configuration reference

The agent reads one TOML file, `/etc/posagent/agent.toml` by default (`--config FILE` or
`$POSAGENT_CONFIG` elsewhere). Relative paths are relative to that file. `posagent config check`
validates the file and the files it names; every problem names its key.

This page is generated from the schema (`python -m agent.config.reference`); a test fails when it
is out of date. Secrets never go in this file: they live in the files it names (mode 0600).
"""


def render() -> str:
    lines = [INTRO]
    current = None
    sections = {f.name: f.metadata.get("doc", "") for f in dataclasses.fields(AgentConfig)}
    for item in describe(AgentConfig):
        section = item.key.split(".", 1)[0]
        if section != current:
            current = section
            name = section.removesuffix("[]")
            header = f"[[{name}]]" if section.endswith("[]") else f"[{name}]"
            lines.append(f"\n## `{header}`\n")
            if sections.get(name):
                lines.append(f"{sections[name]}\n")
            lines.append("| setting | type | default | what it is |")
            lines.append("|---|---|---|---|")
        default = "required" if item.required else (f"`{item.default}`" if item.default is not None else "unset")
        doc = item.doc + (" (a secret: give a file, never the value)" if item.secret else "")
        if item.range is not None:
            doc += f" Allowed: {item.range}."
        if item.example:
            doc += f" Example: `{item.example}`."
        lines.append(f"| `{item.key.split('.', 1)[1]}` | {item.type} | {default} | {doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
