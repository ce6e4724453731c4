"""`rollctl serve`: answer rollout controllers (Argo Rollouts, Flagger, a script) with decide's verdict."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from rollctl.cli import app
from rollctl.cli.common import (
    BadLines,
    BadLinesOpt,
    ConfigOpt,
    FormatOpt,
    MapOpt,
    PathsArg,
    VariantFromOpt,
    check_inputs,
    open_config,
)
from rollctl.errors import UsageError

TOKEN_ENV = "ROLLCTL_SERVE_TOKEN"


def parse_plan_option(text: str) -> tuple[str | None, Path]:
    """`NAME=PLAN.toml`, or `PLAN.toml` alone (served under the plan's own `[rollout] name`)."""
    name, sep, path = text.partition("=")
    if not sep:
        return None, Path(text)
    if not name.strip() or not path.strip():
        raise UsageError(f"--plan {text!r} is not NAME=PLAN.toml", field="--plan",
                         fix="e.g. --plan checkout=rollout.toml")
    return name.strip(), Path(path.strip())


def read_token(token_file: Path | None) -> str | None:
    """The bearer token: from --token-file, else from $ROLLCTL_SERVE_TOKEN; never from the command line, where
    every user of the machine could read it in the process list."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            raise UsageError("cannot read the token file", path=str(token_file), field="--token-file",
                             fix="pass a readable file holding the token on one line") from None
        if not token:
            raise UsageError("the token file is empty", path=str(token_file), field="--token-file",
                             fix="write the token into it, or leave --token-file out")
        return token
    return os.environ.get(TOKEN_ENV, "").strip() or None


@app.command(name="serve", epilog="Exit codes: 0 stopped (Ctrl-C or SIGTERM), 2 bad sources, plan or options "
             "(found before listening). Over HTTP: 200 a verdict (Flagger's hooks: 200 or 412), 400 a bad request, "
             "401 no or a wrong token, 404 an unknown plan, 422 inputs that cannot be decided on.")
def serve_cmd(
    paths: PathsArg,
    plans: Annotated[list[str], typer.Option(
        "--plan", help="NAME=PLAN.toml to answer for (repeatable); PLAN.toml alone serves it under its "
                       "\\[rollout] name.", show_default=False)],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8008,
    cache_seconds: Annotated[float, typer.Option(
        "--cache-seconds", min=0, help="Serve a verdict from cache this long (recomputed at once when a source "
                                       "file changes).")] = 60.0,
    token_file: Annotated[Path | None, typer.Option(
        "--token-file", help=f"File holding the bearer token every route but /healthz requires (default: "
                             f"${TOKEN_ENV} when set; no token otherwise).", show_default=False)] = None,
    maps: MapOpt = None,
    config: ConfigOpt = None,
    on_bad_lines: BadLinesOpt = BadLines.error,
    fmt: FormatOpt = None,
    variant_from: VariantFromOpt = None,
) -> None:
    """Serve decide's verdict over HTTP for the controllers that move traffic (needs `rollctl\\[serve]`).

    GET /v1/decide?plan=NAME&stage=S answers the same JSON object as `rollctl decide --json`; Argo Rollouts \
reads it as a web metric and Flagger calls /v1/flagger/confirm-promotion and /v1/flagger/rollback. The \
sources are re-read when they change; verdicts are cached for --cache-seconds.

    Example:

        rollctl serve traces.duckdb --plan checkout=rollout.toml --port 8008
    """
    missing = [m for m in ("starlette", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"rollctl serve needs {' and '.join(missing)}", field="serve",
                         fix="pip install 'rollctl[serve]'")
    check_inputs(paths)
    token = read_token(token_file)
    from rollctl.cli.decide_cmd import decide_load_options
    from rollctl.plan import load_plan
    from rollctl.serve.decisions import DecisionService, ServedPlan, compute_with_decide

    cfg = open_config(config)
    served: dict[str, ServedPlan] = {}
    for text in plans:
        name, path = parse_plan_option(text)
        plan = load_plan(path)
        name = name or plan.name
        if name in served:
            raise UsageError(f"two plans are served as {name!r}", field="--plan", fix="give each plan its own NAME=")
        served[name] = ServedPlan(name, plan, decide_load_options(plan, cfg, maps, on_bad_lines, fmt, variant_from))
    service = DecisionService(paths, list(served.values()), cache_seconds=cache_seconds, compute=compute_with_decide)

    import uvicorn

    from rollctl.serve.app import ACCESS_LOG, create_app

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ACCESS_LOG.addHandler(handler)
    ACCESS_LOG.setLevel(logging.INFO)
    ACCESS_LOG.propagate = False
    print(f"rollctl serve: http://{host}:{port} answering for {', '.join(sorted(served))}"
          f"{' (bearer token required)' if token else ''}", file=sys.stderr, flush=True)
    uvicorn.run(create_app(service, token=token), host=host, port=port, log_level="warning", access_log=False)
