"""The ceremony CLI end to end: custodians' keys stay in their files; quorum, execution, backup shares."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from entrypoints.cli.main import cli


@pytest.fixture
def cli_env(make_vault, softhsm_token, monkeypatch):
    vault = make_vault()
    settings = vault.container.settings()
    for name, value in {
        "DATABASE_URL": settings.database.admin_url,
        "BURSAR_HSM_MODULE": softhsm_token.module_path,
        "BURSAR_HSM_TOKEN_LABEL": softhsm_token.token_label,
        "BURSAR_HSM_PIN": softhsm_token.pin,
        "BURSAR_HSM_KEY_PREFIX": settings.hsm_key_prefix,
        "BURSAR_CEREMONY_QUORUM": "2",
        "BURSAR_CEREMONY_CUSTODIANS": "3",
    }.items():
        monkeypatch.setenv(name, value)
    return vault


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ceremony_id(output: str) -> str:
    return re.search(r"ceremony\s+(\S+)", output).group(1)


def test_a_ceremony_from_the_command_line(cli_env, tmp_path):
    for name in ("alice", "bob", "carol"):
        run("ceremony", "custodian", "keygen", name, "--dir", str(tmp_path / name))
        run("ceremony", "custodian", "add", name, "--public-key", str(tmp_path / name / f"{name}.pub"))
        run("ceremony", "custodian", "ack", name, "--key-file", str(tmp_path / name / f"{name}.key"), "--yes")
    assert (tmp_path / "alice" / "alice.key").stat().st_mode & 0o077 == 0
    assert "acknowledged" in run("ceremony", "custodian", "list")

    audit = ceremony_id(run("ceremony", "propose", "generate", "audit_signing"))
    run("ceremony", "sign", audit, "--custodian", "alice", "--key-file", str(tmp_path / "alice" / "alice.key"), "--yes")
    refused = CliRunner().invoke(cli, ["ceremony", "execute", audit])
    assert refused.exit_code != 0 and "quorum not met: 1 of 2" in str(refused.exception or refused.output)

    # bob signs offline: the proposal travels as a file, the signature comes back as hex
    run("ceremony", "show", audit, "--proposal-out", str(tmp_path / "proposal.json"))
    offline = run("ceremony", "sign", "--proposal-file", str(tmp_path / "proposal.json"),
                  "--key-file", str(tmp_path / "bob" / "bob.key"))
    signature = re.search(r"signature (\w+)", offline).group(1)
    run("ceremony", "approve", audit, "--custodian", "bob", "--signature", signature)
    assert "executed" in run("ceremony", "execute", audit)

    kek = ceremony_id(run("ceremony", "propose", "generate", "kek", "--backup"))
    for name in ("bob", "carol"):
        run("ceremony", "sign", kek, "--custodian", name, "--key-file", str(tmp_path / name / f"{name}.key"), "--yes")
    run("ceremony", "execute", kek, "--shares-dir", str(tmp_path / "shares"))
    shares = sorted(p.name for p in (tmp_path / "shares").iterdir())
    assert shares == ["alice.share", "bob.share", "carol.share"]
    assert all((tmp_path / "shares" / s).stat().st_mode & 0o077 == 0 for s in shares)

    run("ceremony", "show", kek, "--transcript-out", str(tmp_path / "transcript.json"))
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["transcript"]["result"]["backup"]["threshold"] == 2
    keys = run("hsm", "keys")
    assert re.search(r"kek\s+v1\s+active\s+AES-256\s+[0-9A-F]{6} \(AES-ECB-ZERO-BLOCK\)", keys)
