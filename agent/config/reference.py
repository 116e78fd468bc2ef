"""The configuration reference (docs/configuration.md), generated from the schema so it cannot drift.

    python -m agent.config.reference > docs/configuration.md
"""

from __future__ import annotations

import dataclasses

from .model import AgentConfig
from .schema import describe

INTRO = """# Configuration reference

The agent reads one TOML file, `/etc/posagent/agent.toml` by default (`--config FILE` or
`$POSAGENT_CONFIG` elsewhere). Relative paths are relative to that file.

`posagent config check` refuses what `posagent run` would refuse at start, in the same words (both
run one preflight), without starting: every setting below; the files it names (the ECR token, the
app private key and Alipay's public key: readable, well-formed, private ones mode 0600; the outbox
key; the fleet files); the state folder, its free space and its database; the Unix socket's folder
and group; and whether the ports are free. Every problem names its key. It does not talk to Alipay
or to the devices: whether the keys are the right ones, the clock, the printer and the scanners are
`posagent doctor`'s questions.

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
