"""What every command shares: input options, the error edge, --json output and exit codes."""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from rich.text import Text

from rollctl.config import Config, load_config
from rollctl.errors import RollctlError, UsageError
from rollctl.exit_codes import InconclusivePolicy, exit_code_for
from rollctl.render.console import progress_status, stderr_console, stdout_console
from rollctl.render.jsonout import dumps, error_object

if TYPE_CHECKING:
    from rollctl.db import Database
    from rollctl.engines.spark import SparkEngine
    from rollctl.load.types import LoadOptions

T = TypeVar("T")


class BadLines(StrEnum):
    error = "error"
    skip = "skip"


PathsArg = Annotated[
    list[str],
    typer.Argument(help="Trace, judgement or eval files, directories or globs (.jsonl/.json/.parquet/.csv, "
                        "optionally .gz/.zst), or a .duckdb written by `rollctl ingest`.", show_default=False),
]
InputsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Trace files, directories or globs (.jsonl/.json/.parquet/.csv, optionally .gz/.zst), "
                        "or a .duckdb written by `rollctl ingest`; with --engine spark, Parquet or JSON-lines "
                        "paths or URIs Spark reads (file:, s3a:, hdfs:, globs).", show_default=False),
]


class EngineName(StrEnum):
    duckdb = "duckdb"
    spark = "spark"


EngineOpt = Annotated[EngineName, typer.Option(
    "--engine", help="Where the heavy reductions run: the embedded DuckDB, or Spark (pip install "
    "'rollctl\\[spark]'; a local session unless --spark-remote). Same verdict, same --json.")]
SparkRemoteOpt = Annotated[str | None, typer.Option(
    "--spark-remote", help="With --engine spark: a Spark Connect server, sc://HOST:PORT (default: $SPARK_REMOTE, "
    "else a local session).", show_default=False)]
TableOpt = Annotated[str | None, typer.Option(
    "--table", help="With --engine spark: a catalog table of canonical traces (db.traces), instead of paths.",
    show_default=False)]


def check_engine_inputs(engine: EngineName, paths: Sequence[str] | None, table: str | None,
                        spark_remote: str | None, *, paths_are: str = "Parquet or JSON-lines paths") -> list[str]:
    """The input paths for the engine: local paths are checked before anything heavy loads, URIs are Spark's
    to read; `--table` and `--spark-remote` need `--engine spark`. `paths_are` names how the command takes
    its paths, for the error when Spark is given none."""
    given = list(paths or [])
    if engine is EngineName.duckdb:
        if table is not None or spark_remote is not None:
            raise UsageError("--table and --spark-remote need --engine spark", field="--engine",
                             fix="add --engine spark")
        check_inputs(given)
        return given
    if table is not None and given:
        raise UsageError("give input paths or --table, not both", field="--table")
    if table is None and not given:
        raise UsageError("--engine spark has no input", field="--engine", fix=f"pass {paths_are}, or --table NAME")
    check_inputs([p for p in given if "://" not in p and not p.startswith("file:")])
    return given


def run_on_engine(work: Callable[[Database | SparkEngine], T], *, engine: EngineName, spark_remote: str | None,
                  json_mode: bool, message: str = "Working…") -> T:
    """`run` on the engine the user chose: a fresh DuckDB database, or a Spark session."""
    if engine is EngineName.duckdb:
        return run(work, json_mode=json_mode, message=message)
    from rollctl.engines.spark import SparkEngine, SparkSettings, start_session

    settings = SparkSettings.resolve(spark_remote)
    with progress_status("Starting Spark…", enabled=not json_mode):
        spark = SparkEngine(start_session(settings))
    try:
        with progress_status(message, enabled=not json_mode):
            return work(spark)
    finally:
        spark.close()


MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="canonical=source.path, repeatable (e.g. --map user_id=metadata.user.id).",
                 show_default=False),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="rollctl.toml to read (default: ./rollctl.toml if present).")
]
BadLinesOpt = Annotated[
    BadLines, typer.Option("--on-bad-lines", help="error: stop at the first malformed line; skip: skip and count.")
]
FormatOpt = Annotated[
    str | None, typer.Option("--format", help="Input format name when auto-detection is not enough: otel, langfuse, "
                             "langsmith, braintrust, mtbench, alpacaeval, canonical, ...")
]
VariantFromOpt = Annotated[
    str | None,
    typer.Option("--variant-from", help="Where the variant is, for platform exports: an OTel attribute key "
                 "(e.g. deployment.id), a field path (release, prompt_version, metadata.variant) or "
                 "tag:PREFIX (the tag starting with PREFIX).", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout and nothing else.")]


class Emit(StrEnum):
    slack = "slack"
    github = "github"


EmitOpt = Annotated[Emit | None, typer.Option(
    "--emit", help="Print the verdict for a pipeline to pass on instead of the tables: slack (Block Kit JSON for a "
                   "webhook) or github (workflow annotations). Nothing is sent.", show_default=False)]


def check_emit(json_output: bool, emit: Emit | None) -> None:
    """`--emit` replaces the terminal view; `--json` already replaces it: asking for both is a usage error."""
    if json_output and emit is not None:
        raise UsageError("--json and --emit both choose what stdout gets", field="--emit",
                         fix="keep one: --json for the full object, --emit for a message built from it")


def emit_notification(emit: Emit, command: str, result: Any) -> None:
    """Print `--emit`'s message, built from the command's --json object."""
    from rollctl.render.jsonout import to_jsonable
    from rollctl.render.notify import notification

    sys.stdout.write(notification(emit.value, command, to_jsonable(result)))
    sys.stdout.flush()


def load_options(
    config: Config,
    maps: list[str] | None,
    on_bad_lines: BadLines,
    fmt: str | None,
    *,
    keep_text: bool = True,
    variant_from: str | None = None,
    baseline_name: str = "baseline",
    candidate_name: str = "candidate",
) -> LoadOptions:
    from rollctl.load.mapping import parse_mapping
    from rollctl.load.types import LoadOptions

    mapping = parse_mapping(maps or [], config.mapping)
    return LoadOptions(
        mapping=mapping,
        on_bad_lines=on_bad_lines.value,
        keep_text=keep_text,
        format=fmt,
        variant_from=variant_from,
        baseline_name=baseline_name,
        candidate_name=candidate_name,
    )


def report_error(code: str, message: str, *, json_mode: bool, error: RollctlError | None = None) -> None:
    """One line on stderr (`error: ...`, never read as markup); with --json, also the one object on stdout."""
    line = Text.assemble(("error:", "bold red"), " ", message)
    stderr_console().print(line, soft_wrap=True)
    if json_mode:
        sys.stdout.write(dumps(error_object(code, message, error)) + "\n")
        sys.stdout.flush()


def open_config(path: Path | None) -> Config:
    return load_config(path)


def run(work: Callable[[Database], T], *, json_mode: bool, message: str = "Working…") -> T:
    """Run core work on a fresh in-memory database behind the error edge and a progress spinner."""
    # What is alive now is mostly the imported modules (scipy, pandas, pyarrow): frozen out of the cyclic
    # collector's way while the work allocates. Unfrozen after, for a caller that runs several commands in one
    # process (the tests).
    gc.freeze()
    try:
        from rollctl.db import in_fresh_database  # DuckDB loads when a command has work for it

        def with_progress(db: Database) -> T:
            with progress_status(message, enabled=not json_mode):
                return work(db)

        return in_fresh_database(with_progress)
    finally:
        gc.unfreeze()


def check_inputs(paths: Sequence[str]) -> None:
    """The input paths exist (or their globs match), checked before a command imports its heavy libraries:
    a mistyped path costs a fraction of a second, not the import of scipy and pandas. Same errors as the load."""
    if paths:
        from rollctl.load.loader import input_files
        from rollctl.load.types import LoadOptions

        input_files(list(paths), LoadOptions())


def check_outputs(inputs: Sequence[str | Path | None], **outputs: str | Path | None) -> None:
    """Refuse, before anything is read, an output path (`--html`, `--log`, `--junit`, `--markdown`) that is one
    of the command's inputs (a trace file, the plan, the config) under any name: writing the report would
    overwrite or append to the user's data, which rollctl never modifies."""
    identities: set[tuple[int, int]] = set()
    for given in inputs:
        if given is None:
            continue
        text = str(given)
        if os.path.isdir(text):
            names = [os.path.join(root, n) for root, _dirs, files in os.walk(text) for n in files]
        elif os.path.exists(text):
            names = [text]
        else:
            names = glob.glob(text, recursive=True)
        for name in names:
            with contextlib.suppress(OSError):
                stat = os.stat(name)
                identities.add((stat.st_dev, stat.st_ino))
    for option, target in outputs.items():
        if target is None:
            continue
        parent = os.path.dirname(os.path.abspath(target))
        if option != "html" and not os.path.isdir(parent):  # an HTML report creates its directory
            raise UsageError(f"the directory to write --{option.replace('_', '-')} into does not exist", path=parent,
                             field=f"--{option.replace('_', '-')}", fix="create it first, or choose another path")
        if not os.path.exists(target):
            continue
        stat = os.stat(target)
        if (stat.st_dev, stat.st_ino) in identities or os.path.isdir(target):
            what = "a directory" if os.path.isdir(target) else "one of this command's inputs"
            raise UsageError(f"--{option.replace('_', '-')} points at {what}", path=str(target),
                             field=f"--{option.replace('_', '-')}",
                             fix="write the output to another path; rollctl never modifies its inputs")


def emit_json(result: Any) -> None:
    sys.stdout.write(dumps(result) + "\n")
    sys.stdout.flush()


def finish(verdict: str, inconclusive: InconclusivePolicy = "exit3") -> NoReturn:
    raise typer.Exit(code=int(exit_code_for(verdict, inconclusive)))


human = stdout_console
