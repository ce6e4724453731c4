"""`rollctl.toml`: per-project defaults, so CI invocations stay short.

Looked up in the working directory unless `--config` names a file. Sections: `[mapping]`
(canonical = "source.path"), `[eval_gate]`, `[shadow]`; command options given on the command line win.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollctl.errors import PlanError

DEFAULT_CONFIG_NAME = "rollctl.toml"


@dataclass(frozen=True)
class Config:
    """Settings read from `rollctl.toml`; empty when there is no file."""

    path: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.get(name, {})


def load_config(path: str | Path | None = None) -> Config:
    """Read the config file; a missing default file is fine, a missing named file is an error."""
    explicit = path is not None
    target = Path(path) if path is not None else Path.cwd() / DEFAULT_CONFIG_NAME
    if not target.exists():
        if explicit:
            raise PlanError("config file not found", path=str(target), fix="check the --config path")
        return Config()
    try:
        data = tomllib.loads(target.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PlanError(f"not valid TOML ({exc})", path=str(target), fix="fix the syntax") from None
    except RecursionError:
        raise PlanError("arrays or tables nest too deeply to read", path=str(target),
                        fix="a rollctl TOML file nests a few levels at most; fix the file") from None
    mapping = data.get("mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise PlanError(
            "[mapping] must map canonical names to source paths as strings",
            path=str(target), field="mapping", fix='write e.g. user_id = "metadata.user.id"',
        )
    sections = {k: v for k, v in data.items() if isinstance(v, dict) and k != "mapping"}
    return Config(path=str(target), mapping=dict(mapping), sections=sections)
