"""The card vault: issue PANs, tokenize imported PANs, open a token's PAN, shred card data.

PANs exist in clear only inside these methods' frames: they are encrypted
with AES-256-GCM under a data key (``vault.crypto.data_keys``) with AAD
``bursar-pan/v1:<token>:<dek id>``, found again through a blind index
(``vault.crypto.working_keys``), and never logged, audited or returned except
by :meth:`CardVault.open` to the reveal path.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import errors
from psycopg_pool import AsyncConnectionPool

from vault.audit.entry import Actor, AuditEvent, Origin, Resource
from vault.audit.log import AuditLog
from vault.batching import GroupCommit
from vault.canonical import canonical_hash
from vault.cards.cvv import derive_cvv2
from vault.cards.pan import generate_pan, new_token, validate_bin, validate_expiry, validate_pan
from vault.crypto.data_keys import DataKeys
from vault.crypto.working_keys import WorkingKeys
from vault.db import SHARED_FAILURES, autocommit, bytea, json_rows
from vault.errors import Conflict, IntegrityError, NotFound, VaultError
from vault.keys.model import KeyPurpose

_ISSUE_ATTEMPTS = 10


class _RequestKeyTaken(Exception):
    """Another insert with the same Idempotency-Key committed first."""


class CardShredded(VaultError):
    code = "card_shredded"
    status = 410


class NonceUsed(VaultError):
    code = "grant_replayed"
    status = 403


class GrantUse(msgspec.Struct, frozen=True, kw_only=True):
    """A reveal grant being redeemed: its nonce is recorded as used."""

    nonce: str
    redeemer: str
    requested_by: str
    expires_at: datetime


_SEALED_COLUMNS = "dek_id, nonce, ciphertext, exp_month, exp_year, cvv_version, shredded_at"

# Card inserts and grant-nonce claims commit without waiting for their WAL flush: every one is
# followed by an audit entry whose (synchronous, group) commit flushes the WAL past it before the
# caller hears back. A crash in between loses only writes whose caller never got an answer.
_RELAXED_COMMIT = "set_config('synchronous_commit', 'off', true)"

# The cards of concurrent requests, inserted in one statement (vault.batching, vault.db; columns
# absent from the JSON, such as shredded_at, are NULL). A PAN stored already (blind index taken,
# by an earlier request or earlier in the same batch) is skipped: its token is not returned.
_INSERT_CARDS = (
    "INSERT INTO vault.cards SELECT * FROM json_populate_recordset(NULL::vault.cards, %s::json) "
    "ON CONFLICT (index_version, blind_index) WHERE blind_index IS NOT NULL DO NOTHING "
    f"RETURNING token, {_RELAXED_COMMIT}"
)

# The grant nonces of concurrent reveals, claimed in one statement, each with its card's sealed
# data. A nonce seen before is not inserted again, so its claim reads back `false`.
_CLAIM_NONCES = (
    "WITH claim AS (SELECT * FROM json_populate_recordset(NULL::vault.reveal_grants, %s::json)), "
    "used AS (INSERT INTO vault.reveal_grants SELECT * FROM claim ON CONFLICT (nonce) DO NOTHING RETURNING nonce) "
    "SELECT claim.nonce, used.nonce IS NOT NULL, cards.token IS NOT NULL, "
    + ", ".join(f"cards.{column}" for column in _SEALED_COLUMNS.split(", "))
    + f", {_RELAXED_COMMIT} "
    "FROM claim LEFT JOIN used ON used.nonce = claim.nonce LEFT JOIN vault.cards ON cards.token = claim.token"
)


class _NewCard(msgspec.Struct, frozen=True):
    """A ``vault.cards`` row to insert (the PAN only as ciphertext); bytea columns as hex text."""

    token: str
    index_version: int
    blind_index: str
    origin: str
    program_id: str | None
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    cvv_version: int
    dek_id: str
    nonce: str
    ciphertext: str
    created_at: datetime
    request_key: str | None
    request_hash: str | None


class _Claim(msgspec.Struct, frozen=True):
    """A ``vault.reveal_grants`` row: a grant's nonce, used now."""

    nonce: str
    token: str
    redeemer: str
    requested_by: str
    expires_at: datetime
    used_at: datetime


class StoredCard(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    created: bool  # False when an import found the PAN already tokenized


class OpenedCard(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    pan: str
    exp_month: int
    exp_year: int
    cvv_version: int

    def __repr__(self) -> str:  # never the PAN
        return f"OpenedCard(token={self.token!r})"


def pan_aad(token: str, dek_id: str) -> bytes:
    return f"bursar-pan/v1:{token}:{dek_id}".encode()


class CardVault:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        data_keys: DataKeys,
        working_keys: WorkingKeys,
        audit: AuditLog,
        now: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._data_keys = data_keys
        self._working_keys = working_keys
        self._audit = audit
        self._now = now
        self._card_inserts: GroupCommit[_NewCard, bool] = GroupCommit(
            self._insert_cards, shared_failures=SHARED_FAILURES
        )
        self._nonce_claims: GroupCommit[tuple[str, GrantUse], tuple | None] = GroupCommit(
            self._claim_nonces, shared_failures=SHARED_FAILURES
        )

    async def issue(
        self,
        bin_: str,
        exp_month: int,
        exp_year: int,
        program_id: str | None,
        actor: Actor,
        origin: Origin,
        idempotency_key: str | None = None,
    ) -> StoredCard:
        """A new PAN in ``bin_``'s range, unique in the vault; returns its token, never the PAN.

        With ``idempotency_key``, a repeat by the same caller returns the first card
        (``created`` false); the same key with different fields is a conflict.
        """
        validate_bin(bin_)
        validate_expiry(exp_month, exp_year)
        request = None
        if idempotency_key is not None:
            request = (f"{actor.id}:{idempotency_key}", canonical_hash([bin_, exp_month, exp_year, program_id]))
            earlier = await self._issued_for(*request)
            if earlier is not None:
                return earlier
        for _ in range(_ISSUE_ATTEMPTS):
            pan = generate_pan(bin_)
            if not await self._single_index_version() and await self._find(pan) is not None:
                continue
            try:
                stored = await self._insert(pan, bin_, exp_month, exp_year, "issued", program_id, request)
            except _RequestKeyTaken:  # a concurrent repeat of the same request won
                earlier = await self._issued_for(*request) if request else None
                if earlier is not None:
                    return earlier
                raise
            if stored is not None:
                await self._record("pan.issued", stored.token, actor, origin, bin=bin_, program_id=program_id)
                return stored
        raise Conflict(f"could not find an unused card number in BIN {bin_}", code="bin_exhausted")

    async def tokenize(self, pan: str, exp_month: int, exp_year: int, actor: Actor, origin: Origin) -> StoredCard:
        """The token of an externally issued PAN: the same PAN always gets the same token."""
        validate_pan(pan)
        validate_expiry(exp_month, exp_year)
        # With one blind-index version, the insert itself finds an existing PAN (ON CONFLICT);
        # during an index-key rotation, look under every version first.
        found = None if await self._single_index_version() else await self._find(pan)
        if found is None:
            found = await self._insert(pan, pan[:6], exp_month, exp_year, "imported", None) or await self._find(pan)
        assert found is not None
        await self._record("pan.tokenized", found.token, actor, origin, created=found.created)
        return found

    async def lookup(self, pan: str) -> str | None:
        """The token of ``pan`` if the vault holds it (the network entry's PAN -> token)."""
        validate_pan(pan)
        found = await self._find(pan)
        return found.token if found else None

    async def open(self, token: str) -> OpenedCard:
        """Decrypt a token's PAN (for a reveal). Altered data fails loudly."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"SELECT {_SEALED_COLUMNS} FROM vault.cards WHERE token = %s", (token,))
            row = await cur.fetchone()
        return await self._unseal(token, row)

    async def open_once(self, token: str, use: GrantUse) -> OpenedCard:
        """Like :meth:`open`, consuming a reveal grant's nonce in the same statement (shared with
        the reveals that arrive meanwhile, see :mod:`vault.batching`).

        :class:`NonceUsed` when the nonce was consumed before (by this vault, at any time since
        the grant was issued, or by a reveal in the same batch): a grant opens a card once.
        """
        row = await self._nonce_claims.submit((token, use))  # NonceUsed raised here
        return await self._unseal(token, row)

    async def _claim_nonces(self, claims: list[tuple[str, GrantUse]]) -> list[tuple | None | NonceUsed]:
        """Claim every nonce of the batch (one statement); each claim's sealed card row, or
        ``None`` for an unknown token, or :class:`NonceUsed`."""
        first: dict[str, int] = {}  # a nonce twice in one batch: the second is a replay
        for position, (_, use) in enumerate(claims):
            first.setdefault(use.nonce, position)
        now = self._now()
        rows = [_Claim(use.nonce, token, use.redeemer, use.requested_by, use.expires_at, now)
                for token, use in (claims[position] for position in first.values())]
        async with autocommit(self._pool) as conn:  # one round trip
            cur = await conn.execute(_CLAIM_NONCES, (json_rows(rows),))
            claimed = {nonce: (first_use, row if found else None)
                       for nonce, first_use, found, *row, _ in await cur.fetchall()}
        outcomes: list[tuple | None | NonceUsed] = []
        for position, (_, use) in enumerate(claims):
            first_use, row = claimed[use.nonce]
            if first_use and first[use.nonce] == position:
                outcomes.append(row)
            else:
                outcomes.append(NonceUsed("this grant was already used"))
        return outcomes

    async def prune_grant_nonces(self, expired_before: datetime) -> int:
        """Forget nonces of grants that expired before ``expired_before`` (refused by expiry anyway)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("DELETE FROM vault.reveal_grants WHERE expires_at < %s", (expired_before,))
            return cur.rowcount

    async def _unseal(self, token: str, row) -> OpenedCard:
        if row is None:
            raise NotFound("no such card token", code="token_not_found")
        dek_id, nonce, ciphertext, exp_month, exp_year, cvv_version, shredded_at = row
        if shredded_at is not None:
            raise CardShredded("this card's data was deleted")
        key = await self._data_keys.get(dek_id)
        try:
            pan = AESGCM(key.value).decrypt(bytes(nonce), bytes(ciphertext), pan_aad(token, dek_id)).decode()
        except InvalidTag:
            raise IntegrityError("stored card data failed its integrity check") from None
        return OpenedCard(token=token, pan=pan, exp_month=exp_month, exp_year=exp_year, cvv_version=cvv_version)

    async def cvv2(self, card: OpenedCard) -> str:
        """The card's CVV2, derived now with the CVV key version it was issued under."""
        return await derive_cvv2(self._working_keys, card.cvv_version, card.pan, card.exp_month, card.exp_year)

    async def shred(self, token: str, actor: Actor, origin: Origin) -> None:
        """Erase a card's ciphertext and blind index: its PAN becomes unrecoverable here."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE vault.cards SET ciphertext = NULL, nonce = NULL, blind_index = NULL, shredded_at = %s "
                "WHERE token = %s AND shredded_at IS NULL",
                (self._now(), token),
            )
            if cur.rowcount != 1:
                exists = await (await conn.execute("SELECT 1 FROM vault.cards WHERE token = %s", (token,))).fetchone()
                if not exists:
                    raise NotFound("no such card token", code="token_not_found")
        await self._record("pan.shredded", token, actor, origin)

    async def _issued_for(self, request_key: str, request_hash: str) -> StoredCard | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT token, bin, last4, exp_month, exp_year, request_hash FROM vault.cards WHERE request_key = %s",
                (request_key,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        token, bin_, last4, exp_month, exp_year, stored_hash = row
        if stored_hash != request_hash:
            raise Conflict("this Idempotency-Key was used for a different request", code="idempotency_conflict")
        return StoredCard(token=token, bin=bin_, last4=last4, exp_month=exp_month, exp_year=exp_year, created=False)

    async def _single_index_version(self) -> bool:
        return len(await self._working_keys.opening_versions(KeyPurpose.BLIND_INDEX)) == 1

    async def _find(self, pan: str) -> StoredCard | None:
        indexes = await self._working_keys.mac_with_each(KeyPurpose.BLIND_INDEX, pan.encode())
        if not indexes:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT token, bin, last4, exp_month, exp_year FROM vault.cards "
                "WHERE (index_version, blind_index) IN (SELECT * FROM unnest(%s::int[], %s::bytea[]))",
                ([v for v, _ in indexes], [i for _, i in indexes]),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        token, bin_, last4, exp_month, exp_year = row
        return StoredCard(token=token, bin=bin_, last4=last4, exp_month=exp_month, exp_year=exp_year, created=False)

    async def _insert(
        self,
        pan: str,
        bin_: str,
        exp_month: int,
        exp_year: int,
        origin: str,
        program_id: str | None,
        request: tuple[str, str] | None = None,
    ) -> StoredCard | None:
        """Store a new card; ``None`` if its PAN was stored meanwhile (blind index taken)."""
        token = new_token()
        version, index = await self._working_keys.mac_with_active(KeyPurpose.BLIND_INDEX, pan.encode())
        cvv_version = await self._working_keys.active_version(KeyPurpose.CVV)
        key = await self._data_keys.for_encryption()
        nonce = secrets.token_bytes(12)
        ciphertext = AESGCM(key.value).encrypt(nonce, pan.encode(), pan_aad(token, key.id))
        request_key, request_hash = request or (None, None)
        card = _NewCard(token, version, bytea(index), origin, program_id, bin_, pan[-4:], exp_month, exp_year,
                        cvv_version, key.id, bytea(nonce), bytea(ciphertext), self._now(), request_key, request_hash)
        try:
            if not await self._card_inserts.submit(card):  # the PAN is stored already
                return None
        except errors.UniqueViolation as exc:
            if exc.diag.constraint_name == "cards_request_key_key":
                raise _RequestKeyTaken from None
            return None
        return StoredCard(token=token, bin=bin_, last4=pan[-4:], exp_month=exp_month, exp_year=exp_year, created=True)

    async def _insert_cards(self, cards: list[_NewCard]) -> list[bool]:
        """Insert the batch (one statement); for each card, whether it was stored."""
        async with autocommit(self._pool) as conn:  # one round trip
            cur = await conn.execute(_INSERT_CARDS, (json_rows(cards),))
            stored = {token for token, _ in await cur.fetchall()}
        return [card.token in stored for card in cards]

    async def _record(self, action: str, token: str, actor: Actor, origin: Origin, **details) -> None:
        await self._audit.record(AuditEvent(
            action=action, actor=actor, resource=Resource(type="token", id=token), origin=origin,
            details={k: v for k, v in details.items() if v is not None},
        ))
