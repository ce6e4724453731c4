"""Hostile input: every command on strings and files built to break it.

The contract these tests hold: no crash (a crash would exit 1, which reads as a failed gate or a rollback),
no wrong exit code, no silent drop, nothing written where it must not be. Each class is table-driven; the
conftest sets ROLLCTL_DEBUG=1, so a crash fails the test with its traceback instead of passing as the edge's
"internal error".
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import SAMPLE_TRACES, invoke, write_jsonl
from tests.shadow_fixtures import make_pairs

# Rich markup, an emoji code, HTML, terminal escapes (colour, OSC window title, carriage return), quotes.
HOSTILE = "[/]<script>x</script>[bold]:fire:\x1b[31mred\x1b]0;owned\x07\rback'\"; DROP TABLE traces;--"
ESC = "\x1b"


def _canary_rows(n: int = 1200) -> list[dict[str, Any]]:
    with gzip.open(SAMPLE_TRACES / "canary" / "traces.jsonl.gz", "rt", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]


def _plan(tmp_path: Path, **rollout: Any) -> Path:
    text = (SAMPLE_TRACES / "rollout.toml").read_text(encoding="utf-8")
    for key, value in rollout.items():
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} ")]
        lines.insert(lines.index("[rollout]") + 1, f"{key} = {json.dumps(value)}")
        text = "\n".join(lines) + "\n"
    path = tmp_path / "rollout.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _assert_shown_as_text(output: str) -> None:
    """The hostile string printed as itself: no markup read, no emoji, no live escape."""
    assert "[/]" in output and "[bold]" in output and ":fire:" in output
    assert ESC not in output and "\r" not in output and "\x07" not in output
    assert "\u241b" in output  # ESC made visible as ␛


# ---------------------------------------------------------------------------------------------------
# Strings from data or a plan are printed as text


def test_trace_strings_print_as_text_in_inspect(tmp_path: Path) -> None:
    rows = _canary_rows()
    for i, row in enumerate(rows):
        row["model"] = HOSTILE
        row["error"] = HOSTILE if i % 3 == 0 else None
        if row["variant"] == "treatment":
            row["variant"] = HOSTILE
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    out = invoke(["inspect", str(path)], expect=0)
    _assert_shown_as_text(out.stdout)


def test_plan_and_trace_strings_print_as_text_in_decide_and_assign(tmp_path: Path) -> None:
    rows = _canary_rows()
    for row in rows:
        if row["variant"] == "treatment":
            row["variant"] = HOSTILE
        row["error"] = HOSTILE if row["error"] else None
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    plan = _plan(tmp_path, name=HOSTILE, candidate=HOSTILE, salt=HOSTILE)
    out = invoke(["decide", str(path), "--plan", str(plan), "--stage", "5"])
    assert out.exit_code in (0, 1, 3), out.stderr
    _assert_shown_as_text(out.stdout)
    out = invoke(["plan", "check", str(plan)], expect=0)
    _assert_shown_as_text(out.stdout)
    out = invoke(["assign", HOSTILE, "u1", "--plan", str(plan)], expect=0)
    _assert_shown_as_text(out.stdout)


def test_pair_strings_print_as_text_in_shadow_report(tmp_path: Path) -> None:
    rows = make_pairs(300)
    for i, row in enumerate(rows):
        row["metadata"]["intent"] = HOSTILE if i % 2 else "plain"
        for j in row["judgements"]:
            j["judge"] = HOSTILE
        if i % 10 == 0:
            row["candidate"]["error"] = HOSTILE
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    out = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment",
                  "--segment-by", "metadata.intent"])
    assert out.exit_code in (0, 1, 3), out.stderr
    _assert_shown_as_text(out.stdout)


def test_case_strings_print_as_text_in_eval_gate(tmp_path: Path) -> None:
    rows = []
    for k in range(30):
        for variant in ("main", "pr"):
            passed = not (variant == "pr" and k < 4)
            rows.append({"case_id": f"{HOSTILE}{k}", "variant": variant, "repeat": 0, "passed": passed,
                         "tags": [HOSTILE]})
    path = write_jsonl(tmp_path / "evals.jsonl", rows)
    out = invoke(["eval-gate", str(path), "--baseline", "main", "--candidate", "pr"])
    assert out.exit_code in (0, 1, 3), out.stderr
    _assert_shown_as_text(out.stdout)


def test_a_hostile_file_name_is_shown_as_text_in_the_error_line(tmp_path: Path) -> None:
    name = "t[bold]:fire:\x1b[31m[red].jsonl"
    path = tmp_path / name
    path.write_text("{not json\n", encoding="utf-8")
    out = invoke(["inspect", str(path)], expect=2)
    assert "[bold]:fire:" in out.stderr and "[red]" in out.stderr and ESC not in out.stderr and "\u241b" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------------
# The edge: any error is exit 2, one line, and with --json one object


@pytest.mark.parametrize("args", [
    ["inspect", "missing.jsonl", "--json"],
    ["decide", "missing.jsonl", "--plan", "missing.toml", "--json"],
    ["decide", "x.jsonl", "--plan", "p.toml", "--stage", "abc", "--json"],
    ["eval-gate", "missing.jsonl", "--json"],
    ["shadow-report", "missing.jsonl", "--json"],
    ["power", "--from-traces", "missing.jsonl", "--metric-name", "thumbs_down_rate", "--json"],
])
def test_with_json_an_error_still_prints_one_object(args: list[str]) -> None:
    out = invoke(args, expect=2)
    data = out.json()
    assert data["exit_code"] == 2 and data["verdict"] is None
    assert data["reasons"][0]["code"] in ("INPUT_ERROR", "USAGE_ERROR", "PLAN_ERROR")
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1


def test_an_unexpected_exception_is_an_internal_error_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rollctl.core.inspect as core_inspect

    def boom(*_: Any, **__: Any) -> Any:
        secret = "user said: my password is hunter2"
        raise ValueError(secret)

    monkeypatch.delenv("ROLLCTL_DEBUG", raising=False)
    monkeypatch.setattr(core_inspect, "summarise", boom)
    path = write_jsonl(tmp_path / "t.jsonl", _canary_rows(50))
    out = invoke(["inspect", str(path)], expect=2)
    assert "internal error (ValueError)" in out.stderr and "hunter2" not in out.stderr + out.stdout
    out = invoke(["inspect", str(path), "--json"], expect=2)
    assert out.json()["reasons"][0]["code"] == "INTERNAL_ERROR" and "hunter2" not in out.stdout


# ---------------------------------------------------------------------------------------------------
# Timestamps: placeholders and far-off times are bad values, and strays do not stretch the stage


@pytest.mark.parametrize("value", ["infinity", "-infinity", "294247-01-01T00:00:00Z", "epoch", "0", 0,
                                   "2200-01-01T00:00:00Z", "1999-12-31T23:59:59Z", 1e300, "NaN"])
@pytest.mark.parametrize("command", ["inspect", "decide", "ingest"])
def test_an_impossible_timestamp_is_an_input_error_naming_file_line_and_field(
    tmp_path: Path, command: str, value: Any
) -> None:
    rows = _canary_rows(300)
    rows[3]["timestamp"] = value
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    args = {"inspect": ["inspect", str(path)],
            "decide": ["decide", str(path), "--plan", str(SAMPLE_TRACES / "rollout.toml")],
            "ingest": ["ingest", str(path), "--db", str(tmp_path / "t.duckdb")]}[command]
    out = invoke(args, expect=2)
    assert f"{path}:4: field timestamp" in out.stderr
    skipped = invoke([*args, "--on-bad-lines", "skip", "--json"])
    assert skipped.exit_code in (0, 3), skipped.stderr
    assert skipped.json()["skipped_lines"] == 1


def test_a_stray_timestamp_does_not_stretch_the_stage(tmp_path: Path) -> None:
    rows = _canary_rows(600)  # about two hours of traffic
    rows[5]["timestamp"] = "2025-01-01T00:00:00Z"
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["decide", str(path), "--plan", str(SAMPLE_TRACES / "rollout.toml"), "--json"], expect=3).json()
    codes = {c["code"]: c["status"] for c in data["checks"]}
    assert codes["STRAY_TIMESTAMPS"] == "warn" and codes["STAGE_TOO_SHORT"] == "fail"
    assert data["window"]["hours"] < 5 and data["window"]["first"].startswith("2026-11-16")


# ---------------------------------------------------------------------------------------------------
# Paths are expanded once, by rollctl; one file is read once


def _tiny(tmp_path: Path, name: str, variant: str, n: int) -> Path:
    rows = [{"request_id": f"{name}-{i}", "timestamp": "2026-11-16T10:00:00Z", "user_id": f"u{i}",
             "variant": variant} for i in range(n)]
    return write_jsonl(tmp_path / name, rows)


@pytest.mark.parametrize(("name", "decoy"), [
    ("traces[1].jsonl", "traces1.jsonl"),   # a character class to DuckDB
    ("a*.jsonl", "ab.jsonl"),               # a wildcard to DuckDB
    ("t?.jsonl", "tx.jsonl"),
])
def test_a_file_name_with_glob_characters_reads_that_file_only(tmp_path: Path, name: str, decoy: str) -> None:
    _tiny(tmp_path, name, "control", 3)
    _tiny(tmp_path, decoy, "treatment", 5)
    data = invoke(["inspect", str(tmp_path / name), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 3 and [f["path"] for f in data["files"]] == [str(tmp_path / name)]


def test_a_relative_tilde_path_is_not_read_from_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "~").mkdir()
    _tiny(tmp_path / "~", "x.jsonl", "control", 4)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert invoke(["inspect", "~/x.jsonl", "--json"], expect=0).json()["traces"]["rows"] == 4


def test_links_to_one_file_are_read_once(tmp_path: Path) -> None:
    first = _tiny(tmp_path, "a.jsonl", "control", 3)
    (tmp_path / "hard.jsonl").hardlink_to(first)
    (tmp_path / "soft.jsonl").symlink_to(first)
    data = invoke(["inspect", str(tmp_path / "a.jsonl"), str(tmp_path / "hard.jsonl"), str(tmp_path / "soft.jsonl"),
                   str(tmp_path / "*.jsonl"), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 3 and len(data["files"]) == 1


# ---------------------------------------------------------------------------------------------------
# One odd line does not wipe a file's fields


@pytest.mark.parametrize("line", ["42", "[1, 2]", '"str"', "true", "null"])
def test_a_line_that_is_not_a_record_is_a_bad_line(tmp_path: Path, line: str) -> None:
    rows: list[Any] = _canary_rows(100)
    rows.insert(5, line)
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    out = invoke(["inspect", str(path)], expect=2)
    assert f"{path}:6: " in out.stderr and ("not a JSON object" in out.stderr or "field record" in out.stderr)
    data = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert data["skipped_lines"] == 1 and data["traces"]["rows"] == 100
    assert {"user_id", "variant", "timestamp"} <= set(data["files"][0]["mapped"])


def test_a_record_with_hundreds_of_keys_is_still_a_record(tmp_path: Path) -> None:
    rows = _canary_rows(100)
    rows[7].update({f"extra_{i}": i for i in range(400)})
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["inspect", str(path), "--json"], expect=0).json()
    assert data["traces"]["rows"] == 100
    assert {"user_id", "variant", "timestamp"} <= set(data["files"][0]["mapped"])


# ---------------------------------------------------------------------------------------------------
# Databases: only local files, created atomically, and a broken one is an input error


@pytest.mark.parametrize("db_path", [":memory:", "", "md:traces", "s3://bucket/t.duckdb", "http://host/t.duckdb"])
def test_ingest_refuses_a_database_that_is_not_a_local_file(tmp_path: Path, db_path: str) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", _canary_rows(20))
    out = invoke(["ingest", str(path), "--db", db_path], expect=2)
    assert "--db must" in out.stderr


@pytest.mark.parametrize("remote", ["s3://bucket/traces.jsonl", "https://host/traces.parquet", "md:traces"])
def test_remote_inputs_are_refused_without_reaching_the_network(remote: str) -> None:
    out = invoke(["inspect", remote], expect=2)
    assert "remote paths are not read" in out.stderr


def test_duckdb_never_installs_or_loads_an_extension_on_its_own() -> None:
    from rollctl.db import connect

    db = connect()
    try:
        settings = dict(db.fetchall("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                    "('autoinstall_known_extensions', 'autoload_known_extensions')"))
    finally:
        db.close()
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}


def test_a_failed_first_ingest_leaves_no_file_behind(tmp_path: Path) -> None:
    rows = _canary_rows(50)
    rows[10]["latency_ms"] = "fast"
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    invoke(["ingest", str(path), "--db", str(tmp_path / "new.duckdb")], expect=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.jsonl"]
    good = write_jsonl(tmp_path / "good.jsonl", _canary_rows(50))
    invoke(["ingest", str(good), "--db", str(tmp_path / "new.duckdb")], expect=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.jsonl", "new.duckdb", "t.jsonl"]


def _database(tmp_path: Path) -> Path:
    path = write_jsonl(tmp_path / "t.jsonl", _canary_rows(2000))
    invoke(["ingest", str(path), "--db", str(tmp_path / "t.duckdb")], expect=0)
    return tmp_path / "t.duckdb"


def _foreign(tmp_path: Path) -> Path:
    from rollctl.db import connect

    db = connect(tmp_path / "foreign.duckdb")
    db.execute("CREATE TABLE traces (a INTEGER, request_id DOUBLE)")
    db.execute("INSERT INTO traces VALUES (1, 2.5)")
    db.close()
    return tmp_path / "foreign.duckdb"


@pytest.mark.parametrize("broken", ["truncated", "random", "foreign"])
@pytest.mark.parametrize("command", ["inspect", "decide", "ingest-into"])
def test_a_broken_or_foreign_database_is_an_input_error(tmp_path: Path, broken: str, command: str) -> None:
    if broken == "foreign":
        target = _foreign(tmp_path)
    else:
        good = _database(tmp_path)
        data = good.read_bytes()
        target = tmp_path / f"{broken}.duckdb"
        target.write_bytes(data[: len(data) // 2] if broken == "truncated" else bytes(range(256)) * 400)
    before = target.read_bytes()
    args = {"inspect": ["inspect", str(target)],
            "decide": ["decide", str(target), "--plan", str(SAMPLE_TRACES / "rollout.toml")],
            "ingest-into": ["ingest", str(write_jsonl(tmp_path / "x.jsonl", _canary_rows(10))), "--db", str(target)]}
    out = invoke(args[command], expect=2)
    assert out.stderr.startswith("error: ") and "internal error" not in out.stderr
    assert target.read_bytes() == before and not Path(str(target) + ".wal").exists()


@pytest.mark.parametrize(("variable", "value"), [
    ("ROLLCTL_MEMORY_LIMIT", "lots"), ("ROLLCTL_MEMORY_LIMIT", "1GB'; DROP"), ("ROLLCTL_THREADS", "two"),
    ("ROLLCTL_THREADS", "-1"), ("ROLLCTL_WIDTH", "wide"),
])
def test_a_malformed_environment_setting_is_a_usage_error_or_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    path = write_jsonl(tmp_path / "t.jsonl", _canary_rows(20))
    out = invoke(["inspect", str(path)])
    if variable == "ROLLCTL_WIDTH":
        assert out.exit_code == 0  # a display preference: ignored when it is not a width
    else:
        assert out.exit_code == 2 and variable in out.stderr


# ---------------------------------------------------------------------------------------------------
# Outputs never land on an input


def _gate_files(tmp_path: Path) -> tuple[Path, Path]:
    rows = [{"case_id": f"c{k}", "variant": "main", "repeat": 0, "passed": True} for k in range(20)]
    base = write_jsonl(tmp_path / "base.jsonl", rows)
    cand = write_jsonl(tmp_path / "cand.jsonl", [{**r, "variant": "pr"} for r in rows])
    return base, cand


@pytest.mark.parametrize("case", ["decide-html-trace", "decide-log-trace", "decide-log-plan", "decide-html-link",
                                  "inspect-html", "shadow-html", "gate-junit", "gate-markdown", "gate-html",
                                  "power-html"])
def test_an_output_aimed_at_an_input_is_refused_before_anything_is_read(tmp_path: Path, case: str) -> None:
    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(100))
    plan = _plan(tmp_path)
    pairs = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(40))
    base, cand = _gate_files(tmp_path)
    (tmp_path / "link.jsonl").hardlink_to(traces)
    decide = ["decide", str(traces), "--plan", str(plan)]
    args, victim = {
        "decide-html-trace": ([*decide, "--html", str(traces)], traces),
        "decide-log-trace": ([*decide, "--log", str(traces)], traces),
        "decide-log-plan": ([*decide, "--log", str(plan)], plan),
        "decide-html-link": ([*decide, "--html", str(tmp_path / "link.jsonl")], traces),
        "inspect-html": (["inspect", str(tmp_path), "--html", str(traces)], traces),
        "shadow-html": (["shadow-report", str(pairs), "--baseline", "control", "--candidate", "treatment",
                         "--html", str(pairs)], pairs),
        "gate-junit": (["eval-gate", str(base), str(cand), "--junit", str(cand)], cand),
        "gate-markdown": (["eval-gate", str(base), str(cand), "--markdown", str(base)], base),
        "gate-html": (["eval-gate", str(base), str(cand), "--html", str(base)], base),
        "power-html": (["power", "--from-traces", str(traces), "--metric-name", "thumbs_down_rate", "--mde", "0.2",
                        "--relative", "--html", str(traces)], traces),
    }[case]
    before = victim.read_bytes()
    out = invoke(args, expect=2)
    assert "never modifies its inputs" in out.stderr
    assert victim.read_bytes() == before


def test_outputs_into_a_missing_directory_are_refused_up_front(tmp_path: Path) -> None:
    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(100))
    out = invoke(["decide", str(traces), "--plan", str(_plan(tmp_path)), "--json",
                  "--log", str(tmp_path / "nope" / "log.jsonl")], expect=2)
    assert out.json()["exit_code"] == 2 and "does not exist" in out.stderr


def test_plan_init_never_writes_through_a_symlink_or_into_a_missing_directory(tmp_path: Path) -> None:
    (tmp_path / "dangling.toml").symlink_to(tmp_path / "elsewhere.toml")
    invoke(["plan", "init", "-o", str(tmp_path / "dangling.toml")], expect=2)
    assert not (tmp_path / "elsewhere.toml").exists()
    out = invoke(["plan", "init", "-o", str(tmp_path / "missing" / "rollout.toml")], expect=2)
    assert "does not exist" in out.stderr
    invoke(["plan", "init", "-o", str(tmp_path / "rollout.toml")], expect=0)
    invoke(["plan", "init", "-o", str(tmp_path / "rollout.toml")], expect=2)


def test_the_decision_log_is_written_last_with_the_real_outcome(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rollctl.cli.html_option as html_option

    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(300))
    log = tmp_path / "decisions.jsonl"

    def failing_write(*_: Any) -> None:
        from rollctl.errors import InputError

        raise InputError("cannot write the report", path=str(tmp_path / "r.html"))

    monkeypatch.setattr(html_option, "write_html", failing_write)
    monkeypatch.setattr("rollctl.cli.decide_cmd.write_html", failing_write)
    invoke(["decide", str(traces), "--plan", str(_plan(tmp_path)), "--log", str(log),
            "--html", str(tmp_path / "r.html")], expect=2)
    assert not log.exists()
    invoke(["decide", str(traces), "--plan", str(_plan(tmp_path)), "--log", str(log)], expect=3)
    assert json.loads(log.read_text())["exit_code"] == 3


# ---------------------------------------------------------------------------------------------------
# CI outputs: well-formed XML, inert Markdown


def test_junit_is_well_formed_and_markdown_inert_whatever_the_case_ids_and_tags(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    hostile_tag = "![pixel](https://tracker.example/p.png) [click](https://evil.example) <img src=x> | **b**"
    rows = []
    for k in range(24):
        for variant in ("main", "pr"):
            rows.append({"case_id": f"case\x00\x01\x1b[31m{k}\x0c", "variant": variant, "repeat": 0,
                         "passed": not (variant == "pr" and k < 5), "tags": [hostile_tag]})
    path = write_jsonl(tmp_path / "e.jsonl", rows)
    junit, markdown = tmp_path / "junit.xml", tmp_path / "summary.md"
    out = invoke(["eval-gate", str(path), "--baseline", "main", "--candidate", "pr", "--junit", str(junit),
                  "--markdown", str(markdown)])
    assert out.exit_code == 1, out.stderr
    suite = ET.parse(junit).getroot()
    names = [tc.get("name") for tc in suite.iter("testcase")]
    assert "case\\x00\\x01\\x1b[31m0\\x0c" in names
    from markdown_it import MarkdownIt  # rich's Markdown parser: CommonMark, with GitHub's tables

    rendered = MarkdownIt("commonmark").enable("table").render(markdown.read_text(encoding="utf-8"))
    assert "<img" not in rendered and "<a " not in rendered and "<strong>b" not in rendered
    assert "<code>case" in rendered and "![pixel](https://tracker.example/p.png)" in rendered  # shown, inert


# ---------------------------------------------------------------------------------------------------
# Custom metrics: what plan check accepts, decide can run


def _plan_with_metric(tmp_path: Path, numerator: str) -> Path:
    plan = _plan(tmp_path)
    text = plan.read_text(encoding="utf-8")
    text += f'\n[metrics.custom]\nnumerator = {json.dumps(numerator)}\nhigher_is_better = false\n'
    text += '\n[[guardrails]]\nmetric = "custom"\nmax_absolute_increase = 0.01\n'
    plan.write_text(text, encoding="utf-8")
    return plan


@pytest.mark.parametrize("numerator", [
    "retried == 'maybe'", "error + 1", "abs(error)", "model > 5", "latency_ms in ('a', 1)", "not error",
    "error or retried", "coalesce(error, 1)", "model", "1" + "0" * 400, "1e999 > latency_ms",
    "-" * 1990 + "1", "(" * 300 + "1" + ")" * 300,
])
def test_a_custom_metric_that_cannot_run_is_refused_by_plan_check_and_decide(tmp_path: Path, numerator: str) -> None:
    plan = _plan_with_metric(tmp_path, numerator)
    out = invoke(["plan", "check", str(plan)], expect=2)
    assert "custom metric" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(200))
    invoke(["decide", str(traces), "--plan", str(plan)], expect=2)


@pytest.mark.parametrize("numerator", [
    "error == 'json_parse' or retried", "coalesce(latency_ms, 0) / 1000 > 2", "thumbs == -1 and not retried",
    "retried + abandoned", "error in ('timeout', 'rate_limit')", "model is None",
])
def test_well_typed_custom_metrics_still_run(tmp_path: Path, numerator: str) -> None:
    plan = _plan_with_metric(tmp_path, numerator)
    invoke(["plan", "check", str(plan)], expect=0)
    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(400))
    assert invoke(["decide", str(traces), "--plan", str(plan)]).exit_code in (0, 1, 3)


# ---------------------------------------------------------------------------------------------------
# Options, settings and plan files that cannot be evaluated: exit 2 with their name


def test_options_out_of_their_domain_are_usage_errors(tmp_path: Path) -> None:
    evals = SAMPLE_TRACES / "evals"
    cases = [
        (["eval-gate", str(evals / "baseline.jsonl"), str(evals / "candidate_swap.jsonl"), "--seed", "-1"], "--seed"),
        (["power", "eval", "--sd-diff", "nan", "--mde", "0.05"], "--sd-diff"),
        (["power", "eval", "--sd-diff", "inf", "--mde", "0.05"], "--sd-diff"),
        (["power", "--baseline-rate", "0.1", "--mde", "nan"], "--mde"),
        (["shadow-report", str(SAMPLE_TRACES / "shadow" / "pairs.jsonl.gz"), "--seed", "-3"], "--seed"),
    ]
    for args, name in cases:
        out = invoke(args, expect=2)
        assert name in out.stderr, args


def test_a_refusal_pattern_re2_cannot_run_is_named_up_front(tmp_path: Path) -> None:
    config = tmp_path / "rollctl.toml"
    config.write_text('[shadow]\nrefusal_patterns = ["(?<=I )cannot"]\n', encoding="utf-8")
    pairs = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(60))
    out = invoke(["shadow-report", str(pairs), "--baseline", "control", "--candidate", "treatment",
                  "--config", str(config)], expect=2)
    assert "refusal_patterns" in out.stderr and "RE2" in out.stderr


@pytest.mark.parametrize("which", ["plan", "config"])
def test_toml_nested_thousands_deep_is_a_plan_error(tmp_path: Path, which: str) -> None:
    deep = "deep = " + "[" * 5000 + "]" * 5000 + "\n"
    traces = write_jsonl(tmp_path / "t.jsonl", _canary_rows(50))
    if which == "plan":
        plan = _plan(tmp_path)
        plan.write_text(deep + plan.read_text(encoding="utf-8"), encoding="utf-8")
        out = invoke(["plan", "check", str(plan)], expect=2)
    else:
        config = tmp_path / "rollctl.toml"
        config.write_text(deep, encoding="utf-8")
        out = invoke(["inspect", str(traces), "--config", str(config)], expect=2)
    assert "nest too deeply" in out.stderr


# ---------------------------------------------------------------------------------------------------
# Values outside their meaning are bad values, wherever they sit


@pytest.mark.parametrize(("where", "field", "value"), [
    ("trace", "latency_ms", -5), ("trace", "cost_usd", -0.01), ("trace", "output_tokens", -3),
    ("trace", "ttft_ms", "-1"), ("baseline", "latency_ms", -1), ("candidate", "cached_tokens", -7),
    ("judgement", "preference", 3.5), ("judgement", "preference", -1.5),
])
def test_negative_measures_and_preferences_outside_minus_one_to_one_are_bad_values(
    tmp_path: Path, where: str, field: str, value: Any
) -> None:
    if where == "trace":
        rows: list[dict[str, Any]] = _canary_rows(50)
        rows[7][field] = value
        line = 8
    else:
        rows = make_pairs(30)
        if where == "judgement":
            rows[7]["judgements"][0][field] = value
        else:
            rows[7][where][field] = value
        line = 8
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    out = invoke(["inspect", str(path)], expect=2)
    assert f"field {field}: 1 value(s) are not" in out.stderr
    if where != "judgement":  # a verdict listed on a paired row is located by its row's request, not a line
        assert f"{path}:{line}:" in out.stderr
    skipped = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert skipped["skipped_lines"] >= 1


# ---------------------------------------------------------------------------------------------------
# Skipping is counted where it happens; corrupt containers and oversized numbers are caught


def test_a_number_too_large_for_its_type_is_a_bad_value_with_its_line(tmp_path: Path) -> None:
    rows = _canary_rows(40)
    rows[9]["output_tokens"] = 10**30
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    out = invoke(["inspect", str(path)], expect=2)
    assert f"{path}:10: field output_tokens" in out.stderr
    data = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert data["skipped_lines"] == 1 and data["files"][0]["rows"]["traces"] == 39


def test_skipped_wrong_typed_rows_are_not_counted_as_read(tmp_path: Path) -> None:
    rows = _canary_rows(40)
    rows[3]["latency_ms"] = "slow"
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    data = invoke(["inspect", str(path), "--on-bad-lines", "skip", "--json"], expect=0).json()
    assert data["files"][0]["rows"]["traces"] == data["traces"]["rows"] == 39


@pytest.mark.parametrize("command", ["inspect", "shadow-report"])
def test_a_gzip_file_with_a_corrupt_trailer_is_refused(tmp_path: Path, command: str) -> None:
    source = SAMPLE_TRACES / ("canary/traces.jsonl.gz" if command == "inspect" else "shadow/pairs.jsonl.gz")
    data = bytearray(source.read_bytes())
    data[-8] ^= 0xFF  # the CRC-32 of the member: the deflate stream itself is intact
    path = tmp_path / "t.jsonl.gz"
    path.write_bytes(bytes(data))
    args = [command, str(path)] + (["--baseline", "control", "--candidate", "treatment"]
                                   if command == "shadow-report" else [])
    out = invoke(args, expect=2)
    assert "gzip file is corrupt" in out.stderr


# ---------------------------------------------------------------------------------------------------
# Cost bounded by the input, not by one record


def test_one_pair_of_megabyte_answers_is_compared_on_a_bounded_prefix(tmp_path: Path) -> None:
    from rollctl.text_distance import MAX_COMPARED_CHARS

    rows = make_pairs(80)
    rows[4]["baseline"]["output"] = "a" * 1_000_000
    rows[4]["candidate"]["output"] = "b" * 500_000 + "a" * 500_000
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    for extra in ([], ["--on-bad-lines", "skip"]):
        out = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment", "--json",
                      *extra])
        data = out.json()
        assert data["capped_distances"] == 1
        capped = [r for r in data["reasons"] if r["code"] == "EDIT_DISTANCE_CAPPED"]
        assert capped and f"{MAX_COMPARED_CHARS:,}" in capped[0]["message"]


def test_paired_rows_in_parquet_are_read_by_inspect_and_ingest_as_shadow_report_reads_them(tmp_path: Path) -> None:
    from tests.shadow_fixtures import as_parquet

    jsonl = write_jsonl(tmp_path / "pairs.jsonl", make_pairs(120))
    parquet = as_parquet(jsonl, tmp_path / "pairs.parquet")
    seen = invoke(["inspect", str(parquet), "--json"], expect=0).json()
    assert seen["traces"]["rows"] == 240
    invoke(["ingest", str(parquet), "--db", str(tmp_path / "p.duckdb")], expect=0)
    args = ["--baseline", "control", "--candidate", "treatment", "--json"]
    direct = invoke(["shadow-report", str(parquet), *args]).json()
    ingested = invoke(["shadow-report", str(tmp_path / "p.duckdb"), *args]).json()
    assert direct["verdict"] == ingested["verdict"] and direct["pairs"] == ingested["pairs"] == 120


# ---------------------------------------------------------------------------------------------------
# Malformed paired rows are bad rows, never pairs


@pytest.mark.parametrize(("arm", "value", "field"), [
    ("candidate", "oops", "candidate"), ("candidate", [], "candidate"), ("candidate", {"output": None}, "candidate"),
    ("candidate", {}, "candidate"), ("baseline", [1, 2], "baseline"),
    ("judgements", {"judge": "j", "order": "baseline_first", "winner": "baseline"}, "judgements"),
])
def test_a_malformed_paired_row_is_a_bad_row(tmp_path: Path, arm: str, value: Any, field: str) -> None:
    rows = make_pairs(120)
    rows[6][arm] = value
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    args = ["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment"]
    out = invoke(args, expect=2)
    assert f"{path}:7: field {field}" in out.stderr
    data = invoke([*args, "--on-bad-lines", "skip", "--json"]).json()
    assert data["pairs"] == 119 and data["pairing"]["pairs"] == 119


def test_an_arm_that_failed_is_still_a_pair_with_its_error(tmp_path: Path) -> None:
    rows = make_pairs(120, candidate_timeouts=5)  # {"output": null, "error": "timeout"}: a failed call
    path = write_jsonl(tmp_path / "pairs.jsonl", rows)
    data = invoke(["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment", "--json"]).json()
    assert data["pairs"] == 120


@pytest.mark.parametrize("command", ["inspect", "decide", "eval-gate", "shadow-report", "power", "power-eval"])
def test_every_command_reports_the_lines_it_skipped(tmp_path: Path, command: str) -> None:
    if command in ("eval-gate", "power-eval"):
        rows: list[Any] = [json.loads(x) for x in (SAMPLE_TRACES / "evals" / "baseline.jsonl").open()]
        rows += [{**r, "variant": "pr"} for r in rows]
    elif command == "shadow-report":
        rows = make_pairs(120)
    else:
        rows = _canary_rows(600)
    rows.insert(3, "{not json")
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    args = {
        "inspect": ["inspect", str(path)],
        "decide": ["decide", str(path), "--plan", str(SAMPLE_TRACES / "rollout.toml")],
        "eval-gate": ["eval-gate", str(path), "--baseline", "main", "--candidate", "pr"],
        "shadow-report": ["shadow-report", str(path), "--baseline", "control", "--candidate", "treatment"],
        "power": ["power", "--from-traces", str(path), "--metric-name", "thumbs_down_rate", "--mde", "0.3",
                  "--relative"],
        "power-eval": ["power", "eval", "--from-evals", str(path), "--mde", "0.05"],
    }[command]
    invoke(args, expect=2)
    out = invoke([*args, "--on-bad-lines", "skip", "--json"])
    assert out.exit_code in (0, 1, 3), out.stderr
    data = out.json()
    codes = [r["code"] for r in data.get("reasons", []) + data.get("notes", []) + data.get("warnings", [])]
    assert "SKIPPED_LINES" in codes, codes


def test_a_first_ingest_killed_before_commit_leaves_no_database_and_the_next_one_cleans_up(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    path = write_jsonl(tmp_path / "t.jsonl", _canary_rows(200))
    target = tmp_path / "new.duckdb"
    # SIGKILL at the moment the committed database would be linked to its name: no finally runs.
    killer = ("import os, signal, sys; os.link = lambda *a: os.kill(os.getpid(), signal.SIGKILL); "
              "from rollctl.cli import app; sys.argv = ['rollctl'] + sys.argv[1:]; app()")
    done = subprocess.run([sys.executable, "-c", killer, "ingest", str(path), "--db", str(target)],
                          capture_output=True, cwd=tmp_path, env={**os.environ, "ROLLCTL_DEBUG": ""})
    assert done.returncode == -9
    assert not target.exists()
    assert any(p.name.endswith(".rollctl-new") for p in tmp_path.iterdir())  # what the killed run left
    invoke(["ingest", str(path), "--db", str(target)], expect=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.duckdb", "t.jsonl"]


def test_a_parquet_file_corrupt_where_decide_reads_it_is_an_input_error(tmp_path: Path) -> None:
    from rollctl.db import connect

    source = write_jsonl(tmp_path / "t.jsonl", _canary_rows(3000))
    parquet = tmp_path / "t.parquet"
    db = connect()
    db.execute("COPY (SELECT * FROM read_json($p)) TO '" + str(parquet) + "' (FORMAT parquet, ROW_GROUP_SIZE 500)",
               {"p": str(source)})
    db.close()
    data = bytearray(parquet.read_bytes())
    for i in range(len(data) // 10, len(data) * 8 // 10, 97):  # spoil the column chunks, keep the footer
        data[i] ^= 0x5A
    parquet.write_bytes(bytes(data))
    out = invoke(["decide", str(parquet), "--plan", str(SAMPLE_TRACES / "rollout.toml")], expect=2)
    assert out.stderr.startswith("error: ") and "internal error" not in out.stderr


def test_a_database_holding_impossible_timestamps_is_refused_not_crashed_on(tmp_path: Path) -> None:
    """A database written before the 2000-2099 window (ingest stored 'infinity' then) must not crash reads."""
    from rollctl.db import connect

    target = _database(tmp_path)
    db = connect(target)
    db.execute("UPDATE traces SET \"timestamp\" = 'infinity' WHERE request_id = (SELECT min(request_id) FROM traces)")
    db.close()
    for args in (["inspect", str(target)], ["decide", str(target), "--plan", str(SAMPLE_TRACES / "rollout.toml")]):
        out = invoke(args, expect=2)
        assert "timestamp outside 2000-2099" in out.stderr


@pytest.mark.parametrize("args", [
    ["decide", "missing.jsonl", "--plan", str(SAMPLE_TRACES / "rollout.toml")],
    ["shadow-report", "missing.jsonl"],
    ["eval-gate", "missing_a.jsonl", "missing_b.jsonl"],
    ["power", "--from-traces", "missing.jsonl", "--metric-name", "thumbs_down_rate", "--mde", "0.1"],
])
def test_a_missing_input_is_reported_before_the_heavy_libraries_load(tmp_path: Path, args: list[str]) -> None:
    """A mistyped path must not cost the import of scipy, pandas and pyarrow (seconds of CPU) first."""
    import subprocess
    import sys

    probe = ("import sys; from rollctl.cli import app\n"
             "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
             "print(code, sorted(m for m in ('scipy', 'pandas', 'pyarrow', 'statsmodels') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**__import__("os").environ, "ROLLCTL_DEBUG": ""})
    assert done.stdout.strip().splitlines()[-1] == "2 []", done.stdout + done.stderr
    assert "no such file or directory" in done.stderr


def test_decide_reports_edit_distances_compared_on_a_bounded_prefix(tmp_path: Path) -> None:
    rows = _canary_rows(600)
    for i, row in enumerate(rows):
        row["final_text"] = row["output"] + (" edited" if i % 2 else "")
    rows[10]["output"], rows[10]["final_text"] = "a" * 300_000, "b" * 300_000
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    plan = _plan(tmp_path)
    plan.write_text(plan.read_text(encoding="utf-8") + '\n[[guardrails]]\nmetric = "edit_distance"\n'
                    "max_absolute_increase = 0.1\n", encoding="utf-8")
    data = invoke(["decide", str(path), "--plan", str(plan), "--json"]).json()
    capped = [c for c in data["checks"] if c["code"] == "EDIT_DISTANCE_CAPPED"]
    assert capped and capped[0]["status"] == "warn" and capped[0]["figures"]["capped"] == 1


def test_a_step_summary_aimed_at_an_input_is_refused_before_the_gate_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, cand = _gate_files(tmp_path)
    before = base.read_bytes()
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(base))
    out = invoke(["eval-gate", str(base), str(cand), "--json"], expect=2)
    assert out.json()["error"]["field"] == "--markdown" and base.read_bytes() == before
