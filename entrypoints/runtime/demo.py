"""``bursar demo``: the card flow against the running stack (``make run``), printed step by step.

Program -> cardholder (screened) -> KYC -> card (PAN issued in the vault) -> funding -> reveal
with a single-use grant (and its replay refused) -> a purchase in euros through the vault's PAN
entry -> clearing -> refund -> balance and ledger -> the vault's audit log exported and verified.

It uses its own short-lived API keys (created in the database, revoked at the end) and the
simulation routes for the network's follow-up messages. The PAN is printed masked even though it
was revealed: a terminal is not a PCI-scoped reveal client.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

from domain.access.model import parse_token
from entrypoints.runtime.bootstrap import KeyAdmin
from entrypoints.settings import Settings
from vault.cards.pan import mask

CORE_ROLES = ("app", "ops", "reveal")
VAULT_ROLES = ("reveal", "network")
MERCHANT = {"name": "Café de Flore", "mcc": "5814", "country": "FR"}


class DemoFailed(Exception):
    """A step did not answer as it should; the message says which and what came back."""


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:,.2f} {currency}"


class _Api:
    def __init__(self, base_url: str, tokens: dict[str, str]) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=10)
        self._tokens = tokens

    def call(self, method: str, path: str, role: str, step: str, expect: tuple[int, ...] = (200, 201),
             **kwargs) -> dict:
        try:
            response = self._http.request(method, path, headers={"Authorization": f"Bearer {self._tokens[role]}"},
                                          **kwargs)
        except httpx.HTTPError as exc:
            raise DemoFailed(f"{step}: {self._http.base_url} did not answer ({type(exc).__name__}); "
                             "is Bursar running (make run)?") from None
        if response.status_code not in expect:
            raise DemoFailed(f"{step}: {method} {path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def close(self) -> None:
        self._http.close()


@contextmanager
def demo_keys(settings: Settings) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """API keys for the demo, revoked when it ends (whether it passed or not)."""
    admin = KeyAdmin(settings)

    async def create(app: str, roles: tuple[str, ...]):
        return {role: await admin.create(app, role, f"bursar demo {role}") for role in roles}

    core = asyncio.run(create("core", CORE_ROLES))
    vault = asyncio.run(create("vault", VAULT_ROLES))
    try:
        yield ({role: created.token for role, created in core.items()},
               {role: created.token for role, created in vault.items()})
    finally:
        async def revoke():
            for app, created in (("core", core), ("vault", vault)):
                for key in created.values():
                    await admin.revoke(app, key.key.id)

        asyncio.run(revoke())


def run_demo(settings: Settings, say: Callable[[str], None], verify_audit: Callable[[Path], str]) -> None:
    """Run the flow against ``settings.core_url`` and ``settings.vault_url``; raises DemoFailed."""
    with demo_keys(settings) as (core_tokens, vault_tokens):
        core, vault = _Api(settings.core_url, core_tokens), _Api(settings.vault_url, vault_tokens)
        try:
            _flow(core, vault, vault_tokens, say)
        finally:
            core.close()
            vault.close()
    with tempfile.TemporaryDirectory(prefix="bursar-demo-audit-") as directory:
        say(f"11. audit        {verify_audit(Path(directory) / 'export')}")


def _flow(core: _Api, vault: _Api, vault_tokens: dict[str, str], say: Callable[[str], None]) -> None:
    tag = uuid.uuid4().hex[:8]
    program = core.call("POST", "/v1/programs", "ops", "program", json={
        "id": f"prog_demo_{tag}", "name": "Demo travel card", "bin": "45717360", "currency": "USD",
        "fx_markup_bps": 150, "expiry_months": 36})
    say(f" 1. program      {program['id']}: BIN {program['bin']}, USD cards, FX markup 1.50%")

    holder = core.call("POST", "/v1/cardholders", "app", "cardholder", json={
        "name": "Ada Demo", "country": "GB", "birth_date": "1990-12-10", "email": f"ada+{tag}@example.com"})
    screening = holder.get("screening") or {}
    say(f" 2. cardholder   {holder['id']}: {holder['name']}, screened {screening.get('status', '?')}, "
        f"KYC {holder['kyc_status']}")
    if holder["kyc_status"] != "verified":
        holder = core.call("POST", f"/v1/cardholders/{holder['id']}/kyc", "ops", "KYC",
                           json={"decision": "verified", "tier": "standard"})
    say(f" 3. KYC          {holder['kyc_status']}, tier {holder['kyc_tier']}")

    card = core.call("POST", "/v1/cards", "app", "card", json={"cardholder_id": holder["id"],
                                                               "program_id": program["id"]})
    say(f" 4. card         {card['id']}: {card['state']}, ending {card['last4']}, expires "
        f"{card['exp_month']:02d}/{card['exp_year']} (the core holds the vault token, never the PAN)")

    core.call("POST", f"/v1/cards/{card['id']}/fundings", "app", "funding",
              json={"id": f"demo-fund-{tag}", "amount": 500_00, "currency": "USD"})
    say(f" 5. funded       {_money(500_00, 'USD')} from the program's funding account")

    redeemer = parse_token(vault_tokens["reveal"])[0]
    grant = core.call("POST", f"/v1/cards/{card['id']}/reveal-grants", "reveal", "reveal grant",
                      json={"vault_credential_id": redeemer})["grant"]
    details = vault.call("POST", "/v1/reveal", "reveal", "reveal", json={"grant": grant})
    pan = details["pan"]
    replay = vault.call("POST", "/v1/reveal", "reveal", "reveal replay", expect=(403,), json={"grant": grant})
    say(f" 6. revealed     {mask(pan)} {details['exp_month']:02d}/{details['exp_year']} CVV2 *** "
        f"(shown masked here); the grant's replay was refused: {replay['code']}")

    auth = vault.call("POST", "/v1/network/authorizations", "network", "authorization", json={
        "message_id": f"demo-auth-{tag}", "pan": pan, "amount": 42_50, "currency": "EUR", "merchant": MERCHANT})
    if not auth["approved"]:
        raise DemoFailed(f"authorization: declined {auth['response_code']} ({auth['decline_reason']})")
    say(f" 7. authorized   {_money(42_50, 'EUR')} at {MERCHANT['name']} through the vault's PAN entry: "
        f"{auth['response_code']}, held {_money(auth['card_amount'], 'USD')} ({auth['authorization_id']})")

    cleared = core.call("POST", f"/v1/simulate/authorizations/{auth['authorization_id']}/clearings", "ops",
                        "clearing", json={})
    say(f" 8. cleared      {_money(cleared['card_amount'], 'USD')} posted, FX fee "
        f"{_money(cleared['fee'], 'USD')} to the program's revenue")

    refund = core.call("POST", f"/v1/simulate/cards/{card['id']}/refunds", "ops", "refund",
                       json={"amount": 10_00, "currency": "EUR", "merchant": MERCHANT})
    say(f" 9. refunded     {_money(10_00, 'EUR')} -> {_money(refund['card_amount'], 'USD')} back on the card")

    balance = core.call("GET", f"/v1/cards/{card['id']}/balance", "app", "balance")
    fees = core.call("GET", f"/v1/ledger/accounts/{program['accounts']['fx_fees']}", "app", "ledger")
    say(f"10. balance      posted {_money(balance['posted'], 'USD')}, held {_money(balance['pending'], 'USD')}, "
        f"available {_money(balance['available'], 'USD')}; FX revenue "
        f"{_money(fees['balances']['credits_posted'], 'USD')}")
    expected = 500_00 - cleared["card_amount"] + refund["card_amount"]
    if balance["posted"] != expected or balance["pending"] != 0:
        raise DemoFailed(f"balance: expected {expected} posted and nothing held, got {balance}")


def verify_audit_log(directory: Path) -> str:
    """Export the vault's audit log (as ``bursar audit export`` does) and verify it offline."""
    from entrypoints.runtime.vault_session import run_with_vault
    from vault.audit.entry import Actor
    from vault.audit.export import export_audit
    from vault.audit.verify import verify_export

    async def export(vault):
        keys = await vault.keys().verifier_keys()
        return await export_audit(vault.audit(), keys, directory, Actor(id="bursar-demo", role="operator"),
                                  lambda: datetime.now(UTC))

    summary = run_with_vault(export)
    result = verify_export(directory)
    if not result.valid:
        raise DemoFailed(f"audit: {result.summary()}")
    return f"{summary.entries} entries exported and verified offline: {result.summary()}"
