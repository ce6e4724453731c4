"""The loader's vocabulary: options, what a file contributed, a probe of a file, how to read it, and the
state adapters share while loading. Types only, so every part of the loader and every adapter can import
them without importing each other."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rollctl.db import Database, quote_identifier
from rollctl.load.files import InputFile

OnBadLines = Literal["error", "skip"]


MAX_OBJECT_BYTES = 32 * 1024 * 1024


OPAQUE_FORMATS = frozenset({"inspect_eval"})


@dataclass(frozen=True)
class LoadOptions:
    """How to read the inputs; shared by every command."""

    mapping: dict[str, str] = field(default_factory=dict)
    on_bad_lines: OnBadLines = "error"
    keep_text: bool = True
    """False loads '' for present text fields: coverage stays known, memory stays small."""
    format: str | None = None
    """Force an adapter by name instead of detecting it."""
    variant_from: str | None = None
    """Source path of the variant, for formats whose variant is not a standard field."""
    baseline_name: str = "baseline"
    candidate_name: str = "candidate"
    trace_fields: frozenset[str] | None = None
    """Canonical trace fields to load (None: all). The others are not converted and are not columns of
    `traces` (the report still says where each was found, so required fields and coverage stay known):
    a command that reads a few fields of a big export then stores only those. Such a table has no
    `_file` column after loading."""

    read_in_place: bool = False
    """Read Parquet inputs of `traces` where they lie (`traces` becomes a view over the files) instead of
    copying them into a temp table: for a command that aggregates a few columns of a big columnar export
    in a few passes, re-reading Parquet costs less than copying it (and spilling the copy past the
    memory cap). Other formats are still copied: re-parsing JSON or CSV for every pass would cost more."""

    spark_table: str | None = None
    """A catalog table holding canonical traces, read instead of paths (`--table`, with `--engine spark`)."""

    def fields_of(self, table: str) -> frozenset[str] | None:
        """The canonical fields loaded into `table` (None: all of them)."""
        return self.trace_fields if table == "traces" else None


@dataclass(frozen=True)
class FieldSource:
    """Where a canonical field was read from, shown by `rollctl inspect`."""

    table: str
    canonical: str
    source: str


@dataclass(frozen=True)
class FileReport:
    """What one input file contributed."""

    path: str
    format: str
    kind: str
    rows: dict[str, int]
    columns: tuple[str, ...]
    sources: tuple[FieldSource, ...] = ()
    skipped_lines: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadReport:
    """Everything the loader did, for commands to report and to check required fields against."""

    files: tuple[FileReport, ...]
    rows: dict[str, int]
    skipped_lines: int

    def found_fields(self, table: str) -> set[str]:
        return {s.canonical for f in self.files for s in f.sources if s.table == table}

    def columns_seen(self) -> list[str]:
        seen: dict[str, None] = {}
        for f in self.files:
            for c in f.columns:
                seen.setdefault(c, None)
        return list(seen)


@dataclass(frozen=True)
class PairedRows:
    """A SELECT over one paired file giving both arms of each row side by side, converted and checked as the
    load converts and checks them, for a command that reads such a file once as a stream instead of loading
    it (`rollctl shadow-report`). Columns: see `rollctl.load.loader.paired_row_sources`."""

    path: str
    sql: str
    params: dict[str, object]


@dataclass(frozen=True)
class Probe:
    """A cheap look at one file: its container format, how to read it, and its top-level columns."""

    file: InputFile
    reader_sql: str
    reader_params: dict[str, object]
    columns: dict[str, str]
    mapped: frozenset[str] = frozenset()
    """Canonical fields the user's --map points at a column of this file: `--map case_id=test_id` makes a file
    eval results as surely as a `case_id` column does."""
    page_keys: dict[str, frozenset[str]] = field(default_factory=dict)
    """For a JSON file that is an API page (`{"data": [...], "meta": ...}`, `{"runs": [...]}`): the keys of the
    first elements of each list in `PAGE_LISTS`, so an adapter recognises a page by what it holds."""


@dataclass
class LoadContext:
    """State shared by the adapters while loading one set of inputs."""

    db: Database
    options: LoadOptions
    into: str | None = None
    """The attached database whose canonical tables receive the rows (None: the temp tables)."""
    present_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """With `into`: table -> key columns; a row whose key is already in the table is stored as its key only."""
    bad_conditions: dict[tuple[str, str], list[BadLocator]] = field(default_factory=dict)
    """(file, table) -> how to re-read a file's rows and list their bad fields, to explain bad rows: one per
    statement that loaded them (a paired file loads `traces` twice, once per arm)."""
    in_place: dict[str, list[tuple[str, dict[str, object]]]] = field(default_factory=dict)
    """Table -> the SELECTs (and parameters) of the files read in place (`LoadOptions.read_in_place`)."""

    def table_sql(self, table: str) -> str:
        """The quoted name of the canonical table rows of `table` go to."""
        if self.into is None:
            return quote_identifier(table)
        return f"{quote_identifier(self.into)}.{quote_identifier(table)}"


@dataclass(frozen=True)
class BadLocator:
    """Enough to re-scan one file's rows and name their wrong-typed fields, with line numbers."""

    from_sql: str
    where_sql: str
    params: dict[str, object]
    bad_sql: str
    columns: dict[str, str]
    format: str
    one_row_per_record: bool
    """Rows are the file's records in order (not exploded), so a record maps to a line."""
    derived_sql: str = ""
    """Computed columns (`expr AS name, ...`) the load selected over the file's columns; re-scans add them."""


@dataclass(frozen=True)
class Reader:
    """The FROM clause that loads a file, its parameters, and the malformed lines it skips."""

    sql: str
    params: dict[str, object]
    skipped_lines: int = 0
    one_row_per_record: bool = True
    rescan_sql: str | None = None
    """The FROM clause to re-read the same rows when `sql` is a staging table dropped after loading."""
    derived_sql: str = ""
    """Computed columns (`expr AS name, ...`) over the file's columns, e.g. one parse of a nested object
    whose fields are then picked by index: many `json_extract`s of the same large object in one statement
    each keep a chunk's parse in memory (a paired export ran out of memory at the 700 MB cap that way)."""


@dataclass(frozen=True)
class Adapter:
    """A named input format: how to recognise it and how to load it into the canonical tables. The registry
    (`rollctl.load.adapters.ADAPTERS`) lists every adapter explicitly."""

    name: str
    description: str
    detect: Callable[[Probe], bool]
    load: Callable[[LoadContext, Probe], FileReport]
    priority: int = 100
    """Lower runs detection first; the generic canonical adapters come last."""
    envelope: bool = False
    """Every record of this format has the same fixed top-level keys (OTLP's `resourceSpans`), so
    detection may look at the first record only instead of a sample of thousands."""
    detect_dir: Callable[[str], bool] | None = None
    """For exports that are a directory of related tables (Langfuse's blob export: observations joined
    to scores): says whether a directory is such an export, by its layout alone."""
    load_dir: Callable[[LoadContext, str], FileReport] | None = None
    """Loads such a directory as one unit instead of file by file."""
