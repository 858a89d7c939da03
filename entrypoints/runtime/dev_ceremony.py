"""Development only: a real key ceremony run by local stand-in custodians, so `make run` has keys.

Production keys are made by people: `bursar ceremony ...` with custodians holding their own
keys. On a development machine (``BURSAR_ENV=development``, the default of `make run`), this
module registers N local custodians whose key files live under ``.data/custodians/``, and for
every key purpose without an active key proposes a ``generate`` step, has M of them sign it,
and executes it -- the same code path, quorum checks, transcripts and audit entries as a real
ceremony, only without the people.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from entrypoints.containers import VaultContainer
from vault.ceremony import custodian_keys
from vault.ceremony.model import Step, StepKind
from vault.ceremony.service import Outcome
from vault.errors import NotFound
from vault.keys.model import KeyPurpose

OPERATOR = "dev-bootstrap"
# The audit key comes first: it signs every ceremony transcript, its own included.
ORDER = (KeyPurpose.AUDIT_SIGNING, KeyPurpose.KEK, KeyPurpose.BLIND_INDEX, KeyPurpose.CVV)


async def ensure_dev_keys(vault: VaultContainer, custodians_dir: Path) -> list[str]:
    """Generate every missing key through a ceremony of local custodians; what was done."""
    keys = vault.keys()
    missing = [p for p in ORDER if await keys.store.active(p) is None]
    if not missing:
        return []
    done = []
    for purpose in missing:
        outcome = await run_dev_ceremony(vault, Step(kind=StepKind.GENERATE, purpose=purpose), custodians_dir)
        done.append(f"{purpose} key generated (ceremony {outcome.ceremony.id})")
    return done


async def run_dev_ceremony(vault: VaultContainer, step: Step, custodians_dir: Path) -> Outcome:
    """Propose ``step``, have M of the local custodians sign it, execute it."""
    ceremonies = vault.ceremonies()
    signers = await _dev_custodians(vault, custodians_dir)
    proposal = await ceremonies.propose(step, OPERATOR)
    for name, key in signers[: ceremonies.policy.quorum]:
        _, signature = custodian_keys.sign_proposal(key, proposal.proposal)
        await ceremonies.approve(proposal.id, name, signature)
    return await ceremonies.execute(proposal.id, OPERATOR)


async def _dev_custodians(vault: VaultContainer, directory: Path) -> list[tuple[str, Ed25519PrivateKey]]:
    ceremonies = vault.ceremonies()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    signers = []
    for n in range(1, ceremonies.policy.custodians + 1):
        name = f"dev-custodian-{n}"
        private, public = directory / f"{name}.key", directory / f"{name}.pub"
        if not private.exists():
            custodian_keys.create_key_files(private, public)
        key = custodian_keys.load_private_key(private)
        try:
            found = await ceremonies.store.custodian(name)
        except NotFound:
            found = await ceremonies.register_custodian(name, custodian_keys.public_key_of(key), OPERATOR)
        if found.public_key != custodian_keys.public_key_of(key):
            continue  # registered with another key (an older .data): cannot sign for it
        if not found.acknowledged:
            await ceremonies.acknowledge(name, custodian_keys.sign_acknowledgement(key, found.acknowledgement))
        signers.append((name, key))
    return signers
