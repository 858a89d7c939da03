"""compose.yaml and the README speak of the configuration names the code really reads."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\b(BURSAR_[A-Z0-9_]+|DATABASE_URL|SOFTHSM2_CONF)\b")


def names_read_by_code() -> set[str]:
    names: set[str] = set()
    for package in ("entrypoints", "hsm", "vault", "adapters"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(NAME.findall(path.read_text()))
    secrets = {n for n in names if n.endswith("_PASSWORD") or n.endswith("_API_KEY") or n == "BURSAR_HSM_PIN"}
    return names | {f"{n}_FILE" for n in secrets}


def compose_names() -> set[str]:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    found: set[str] = set(compose["x-bursar-env"])
    for service in compose["services"].values():
        env = service.get("environment") or {}
        found |= {k for k in env if k != "<<"}
    return {n for n in found if NAME.fullmatch(n)}


def test_compose_uses_only_names_the_code_reads():
    unknown = compose_names() - names_read_by_code()
    assert not unknown, f"compose.yaml sets variables no code reads: {sorted(unknown)}"


def test_readme_documents_every_name_the_code_reads():
    readme = (ROOT / "README.md").read_text()
    undocumented = {n for n in names_read_by_code() if n not in readme and not n.endswith("_FILE")}
    assert not undocumented, f"README.md does not document: {sorted(undocumented)}"
