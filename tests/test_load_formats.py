"""Every container format, compression and path form loads the same canonical values."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
import zstandard

from rollctl.db import connect
from rollctl.load import LoadOptions, load_inputs
from rollctl.load.canonical import field_names
from tests.conftest import invoke, trace_row, write_jsonl

ROWS = [
    trace_row(i, "control" if i % 3 else "treatment", cost_usd=0.001 * i, input_tokens=100 + i,
              cache_hit=i % 2 == 0, tags=["a", f"t{i % 2}"], metadata={"intent": "refund" if i % 2 else "other"})
    for i in range(12)
]


def _canonical(paths: list[str], **options: Any) -> list[tuple[Any, ...]]:
    db = connect()
    load_inputs(db, paths, LoadOptions(**options))
    cols = ", ".join(f'"{n}"' for n in field_names("traces"))
    return db.fetchall(f"SELECT {cols} FROM traces ORDER BY request_id, variant")


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([{**r, "metadata": json.dumps(r["metadata"])} for r in rows])
    pq.write_table(table, path)
    return path


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else
                             ("" if v is None else str(v).lower() if isinstance(v, bool) else v)
                             for k, v in r.items()})
    return path


def test_jsonl_json_array_parquet_csv_compressed_give_the_same_rows(tmp_path: Path) -> None:
    reference = _canonical([str(write_jsonl(tmp_path / "t.jsonl", ROWS))])
    assert len(reference) == 12
    (tmp_path / "t.json").write_text(json.dumps(ROWS))
    with gzip.open(tmp_path / "t.jsonl.gz", "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in ROWS) + "\n")
    (tmp_path / "t.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(("\n".join(json.dumps(r) for r in ROWS) + "\n").encode())
    )
    _write_parquet(tmp_path / "t.parquet", ROWS)
    _write_csv(tmp_path / "t.csv", ROWS)
    with gzip.open(tmp_path / "t.csv.gz", "wb") as out:
        out.write((tmp_path / "t.csv").read_bytes())
    for name in ("t.json", "t.jsonl.gz", "t.jsonl.zst", "t.parquet", "t.csv", "t.csv.gz"):
        assert _canonical([str(tmp_path / name)]) == reference, name


def test_ndjson_suffix_and_pretty_printed_json_array(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "t.ndjson", ROWS[:3])
    (tmp_path / "p.json").write_text(json.dumps(ROWS[3:6], indent=2))
    data = invoke(["inspect", str(tmp_path / "t.ndjson"), str(tmp_path / "p.json"), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 6
    assert [f["format"] for f in data["files"]] == ["jsonl", "json"]


def test_glob_and_several_paths_are_unioned_once(tmp_path: Path) -> None:
    for k in range(3):
        write_jsonl(tmp_path / f"part-{k}.jsonl", ROWS[k * 4:(k + 1) * 4])
    data = invoke(["inspect", str(tmp_path / "part-*.jsonl"), str(tmp_path / "part-0.jsonl"), "--json"],
                  expect=0).json()
    # part-0 is named twice (glob and path) but read once.
    assert data["traces"]["rows"] == 12
    assert len(data["files"]) == 3
    recursive = invoke(["inspect", str(tmp_path / "**" / "*.jsonl"), "--json"], expect=0).json()
    assert recursive["traces"]["rows"] == 12


def test_files_with_different_columns_are_unioned_by_name(tmp_path: Path) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [trace_row(1)])
    b = write_jsonl(tmp_path / "b.jsonl", [{"request_id": "z", "variant": "control", "cost_usd": 0.5}])
    data = invoke(["inspect", str(a), str(b), "--json"], expect=0).json()
    cov = {c["name"]: c["rows_with_value"] for c in data["traces"]["coverage"]}
    assert cov["cost_usd"] == 1 and cov["user_id"] == 1 and data["traces"]["rows"] == 2


def test_ingested_database_is_an_input(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "t.jsonl", ROWS)
    db = tmp_path / "t.duckdb"
    invoke(["ingest", str(src), "--db", str(db)], expect=0)
    assert _canonical([str(db)]) == _canonical([str(src)])
    extra = write_jsonl(tmp_path / "more.jsonl", [trace_row(100)])
    both = invoke(["inspect", str(db), str(extra), "--json"], expect=0).json()
    assert both["traces"]["rows"] == 13
    assert both["files"][0]["kind"] == "database"
    mtime = os.path.getmtime(db)
    invoke(["inspect", str(db)], expect=0)
    assert os.path.getmtime(db) == mtime  # read-only attach: the user's database is not modified


def test_traces_evals_and_judgements_in_one_call(tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "traces.jsonl", ROWS)
    evals = write_jsonl(tmp_path / "evals.jsonl", [
        {"case_id": f"c{c}", "variant": v, "repeat": r, "passed": (c + r) % 3 != 0, "score": 0.5,
         "tags": ["x"], "error": None}
        for c in range(4) for v in ("main", "pr-1") for r in range(3)
    ])
    judgements = write_jsonl(tmp_path / "judgements.jsonl", [
        {"request_id": f"r{i}", "judge": "j", "order": o, "winner": "baseline"}
        for i in range(5) for o in ("baseline_first", "candidate_first")
    ])
    paired = write_jsonl(tmp_path / "pairs.jsonl", [
        {"request_id": f"p{i}", "user_id": "u", "timestamp": "2026-11-12T00:00:00Z", "input": "q",
         "baseline": {"variant": "control", "output": "a"}, "candidate": {"variant": "treatment", "output": "b"},
         "judgements": [{"judge": "j", "order": "baseline_first", "winner": "tie"}]}
        for i in range(3)
    ])
    data = invoke(["inspect", str(traces), str(evals), str(judgements), str(paired), "--json"], expect=0).json()
    assert {f["kind"] for f in data["files"]} == {"traces", "evals", "judgements", "paired"}
    assert data["traces"]["rows"] == 12 + 6
    assert data["evals"]["rows"] == 24
    assert data["judgements"]["rows"] == 10 + 3
    db = tmp_path / "all.duckdb"
    added = invoke(["ingest", str(traces), str(evals), str(judgements), str(paired), "--db", str(db), "--json"],
                   expect=0).json()
    assert added["added"] == 18 + 24 + 13
    again = invoke(["inspect", str(db), "--json"], expect=0).json()
    assert (again["traces"]["rows"], again["evals"]["rows"], again["judgements"]["rows"]) == (18, 24, 13)


def test_mapping_in_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"rid": f"r{i}", "arm": "a" if i % 2 else "b", "who": {"id": f"u{i % 3}"}} for i in range(6)]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    (tmp_path / "rollctl.toml").write_text(
        '[mapping]\nrequest_id = "rid"\nvariant = "arm"\nuser_id = "who.id"\n'
    )
    monkeypatch.chdir(tmp_path)
    data = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert data["traces"]["users"] == 3
    assert {v["variant"] for v in data["traces"]["variants"]} == {"a", "b"}
    # --map on the command line wins over the config file.
    over = invoke(["inspect", str(path), "--map", "variant=rid", "--json"], expect=0).json()
    assert len(over["traces"]["variants"]) == 6
    elsewhere = tmp_path / "cfg.toml"
    elsewhere.write_text('[mapping]\nuser_id = "who.id"\n')
    monkeypatch.chdir(Path("/"))
    named = invoke(["inspect", str(path), "--config", str(elsewhere), "--json"], expect=0).json()
    assert named["traces"]["users"] == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[mapping\n", "not valid TOML"),
        ('[mapping]\nuser_id = 3\n', "[mapping] must map"),
        ('[mapping]\nuserid = "x"\n', "not a canonical field"),
    ],
)
def test_bad_config_exit_2(tmp_path: Path, toml: str, message: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [trace_row(1)])
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    result = invoke(["inspect", str(path), "--config", str(cfg)], expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_config_file_exit_2(traces_file: Path, tmp_path: Path) -> None:
    result = invoke(["inspect", str(traces_file), "--config", str(tmp_path / "none.toml")], expect=2)
    assert "config file not found" in result.stderr


@pytest.mark.parametrize("bad", ["user_id", "user_id=", "=x", "nonsense=x"])
def test_malformed_map_option(traces_file: Path, bad: str) -> None:
    result = invoke(["inspect", str(traces_file), "--map", bad], expect=2)
    assert "--map" in result.stderr


HOSTILE_SOURCES = {
    "user_id": 'we"ird',
    "session_id": "it's",
    "variant": "dot.ted",
    "latency_ms": "br[0]",
    "model": 'x"); DROP TABLE traces; --',
    "prompt_version": "spa ce",
    "error": "🙂",
}


def test_hostile_field_names_through_map(tmp_path: Path) -> None:
    rows = [
        {"request_id": f"r{i}", 'we"ird': f"u{i % 2}", "it's": "s", "dot.ted": "v", "br[0]": 5 + i,
         'x"); DROP TABLE traces; --': "claude-x-20250101", "spa ce": "p1", "🙂": "timeout",
         "meta": {'k"ey': {"i'd": f"n{i}"}, "a.b": {"c": "deep"}, "list": [{"x": "first"}]}}
        for i in range(4)
    ]
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    for fmt_path in (path, _write_parquet_plain(tmp_path / "t.parquet", rows)):
        args = ["inspect", str(fmt_path), "--json"]
        for canonical, source in HOSTILE_SOURCES.items():
            args += ["--map", f"{canonical}={source}"]
        data = invoke(args, expect=0).json()
        assert data["traces"]["users"] == 2
        assert data["traces"]["variants"][0]["variant"] == "v"
        assert data["traces"]["variants"][0]["models"] == ['claude-x-20250101']
        mapped = data["files"][0]["mapped"]
        assert mapped["model"] == HOSTILE_SOURCES["model"]
    db = connect()
    load_inputs(db, [str(path)], LoadOptions(mapping={
        "user_id": "meta.k\"ey.i'd", "session_id": 'meta."a.b".c', "prompt_version": "meta.list.0.x",
    }))
    got = db.fetchall("SELECT DISTINCT session_id, prompt_version FROM traces")
    assert got == [("deep", "first")]
    assert db.fetchone("SELECT count(DISTINCT user_id) FROM traces")[0] == 4


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        ("a.b.c", [("a", False), ("b", False), ("c", False)]),
        ('meta."a.b".c', [("meta", False), ("a.b", True), ("c", False)]),
        ('"say ""hi"""', [('say "hi"', True)]),
        ('we"ird', [('we"ird', False)]),
        ("br[0]", [("br[0]", False)]),
    ],
)
def test_split_source(source: str, parts: list[tuple[str, bool]]) -> None:
    from rollctl.load.mapping import split_source

    assert split_source(source) == parts


@pytest.mark.parametrize("bad", ['meta."open', 'meta."a"b'])
def test_bad_quoted_map_path(traces_file: Path, bad: str) -> None:
    result = invoke(["inspect", str(traces_file), "--map", f"user_id={bad}"], expect=2)
    assert "--map" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _write_parquet_plain(path: Path, rows: list[dict[str, Any]]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path
