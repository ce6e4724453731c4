"""JUnit XML for CI test views: one testcase per eval case, plus one for the gate itself.

A regression, a strict-scope failure or a protected case that does not pass is a `<failure>`; every other
case passes (a case failing in both arms is not this change's doing), with its results in `<system-out>`.
The gate testcase fails on a fail verdict and is `<skipped>` when inconclusive, so CI shows why.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rollctl.core.eval_gate import CaseOutcome, EvalGateResult
from rollctl.errors import UsageError
from rollctl.render.eval_gate_view import case_result


def _case_failure(case: CaseOutcome) -> str | None:
    if case.transition == "regression":
        return "regression"
    if case.protected and case.candidate.status != "pass":
        return "protected case did not pass"
    return None


def junit_tree(result: EvalGateResult) -> ET.ElementTree[ET.Element]:
    failures = sum(1 for c in result.cases if _case_failure(c)) + (result.verdict == "fail")
    skipped = int(result.verdict == "inconclusive")
    suite = ET.Element("testsuite", {
        "name": "rollctl eval-gate", "tests": str(len(result.cases) + 1), "failures": str(failures),
        "errors": "0", "skipped": str(skipped),
    })
    props = ET.SubElement(suite, "properties")
    for key, value in (("baseline", result.baseline.name), ("candidate", result.candidate.name),
                       ("verdict", result.verdict), ("margin", str(result.settings.margin)),
                       ("alpha", str(result.settings.alpha))):
        ET.SubElement(props, "property", {"name": key, "value": value})
    gate = ET.SubElement(suite, "testcase", {"classname": "rollctl.eval_gate", "name": "gate"})
    summary = "\n".join(f"{r.code}: {r.message}" for r in result.reasons + result.notes)
    if result.verdict == "fail":
        failure = ET.SubElement(gate, "failure", {"message": result.reasons[0].message, "type": result.reasons[0].code})
        failure.text = summary
    elif result.verdict == "inconclusive":
        ET.SubElement(gate, "skipped", {"message": result.reasons[0].message})
    ET.SubElement(gate, "system-out").text = summary
    for case in result.cases:
        tc = ET.SubElement(suite, "testcase", {"classname": "rollctl.eval_gate.cases", "name": case.case_id})
        detail = (f"baseline: {case_result(case.baseline)}; candidate: {case_result(case.candidate)}; "
                  f"transition: {case.transition}" + (f"; tags: {', '.join(case.tags)}" if case.tags else ""))
        why = _case_failure(case)
        if why is not None:
            ET.SubElement(tc, "failure", {"message": f"{why}: {detail}", "type": why}).text = detail
        elif case.transition != "unchanged_pass":
            ET.SubElement(tc, "system-out").text = detail
    ET.indent(suite)
    return ET.ElementTree(suite)


# Characters XML 1.0 cannot hold, even escaped: a case id or a message with one made the file unreadable to CI.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group(0)):02x}" if ord(m.group(0)) < 0x100 else "\ufffd", text)


def _sanitise(tree: ET.ElementTree[ET.Element]) -> ET.ElementTree[ET.Element]:
    for element in tree.iter():
        if element.text:
            element.text = _xml_safe(element.text)
        if element.tail:
            element.tail = _xml_safe(element.tail)
        for key, value in element.attrib.items():
            element.attrib[key] = _xml_safe(value)
    return tree


def write_junit(result: EvalGateResult, path: Path) -> None:
    try:
        _sanitise(junit_tree(result)).write(path, encoding="utf-8", xml_declaration=True)
    except OSError as exc:
        raise UsageError(f"cannot write the JUnit file ({exc.strerror})", path=str(path),
                         fix="check the directory exists and is writable") from None
