"""Composition roots: one dependency-injector container per deployable.

Tests override providers (``container.api_key_repo.override(...)``) instead of patching.
Everything that does I/O at start-up (pools, HSM sessions, HTTP clients) is opened in the app's
lifespan, not when the container is built.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import version
from typing import Any

from dependency_injector import containers, providers

from adapters.compliance_data import load_default_rules
from adapters.kyc import ManualReview, SimulatedVendor
from adapters.postgres.api_keys import PostgresApiKeys
from adapters.postgres.compliance import PostgresComplianceTransactions
from adapters.postgres.database import Database
from adapters.postgres.events import PostgresWebhookTransactions
from adapters.postgres.fx import PostgresQuotes, PostgresRates
from adapters.postgres.unit_of_work import PostgresTransactions
from adapters.rates_ecb import EcbRateSource, ecb_source_at
from adapters.system import SystemClock, SystemSecrets, UuidV7Ids
from adapters.vault_http.client import HttpVaultClient
from adapters.webhooks import HttpxDecisionClient, HttpxWebhookSender, StandardWebhookSigner
from application.access.manage_api_keys import ApiKeys
from application.compliance.alerts_soon import AlertsSoon
from application.compliance.current_screener import CurrentScreener
from application.compliance.ingest_list import IngestSanctionsList
from application.compliance.monitor_activity import MonitorActivity
from application.compliance.monitoring_rules import MonitoringRules
from application.compliance.read_compliance import ReadCompliance
from application.compliance.rescreen_subjects import RescreenSubjects
from application.compliance.screen_name import ScreenName
from application.compliance.screen_subject import ScreenSubject
from application.compliance.subject_status import GetSubjectStatus
from application.compliance.update_case import UpdateCase
from application.events.dispatch import Dispatcher
from application.events.manage_deliveries import ManageDeliveries
from application.events.manage_subscriptions import ManageSubscriptions
from application.fx.create_quote import CreateQuote
from application.fx.read_rates import ReadRates
from application.fx.refresh_rates import RefreshRates
from application.fx.seed_rates import SeedRates
from application.fx.set_manual_rate import SetManualRate
from application.fx.use_quote import UseQuote
from application.ledger.expire_holds import ExpireHolds
from application.ledger.open_account import OpenAccount
from application.ledger.post_transfers import CoalescingPostTransfers, PostTransfers
from application.ledger.read_ledger import ReadLedger
from adapters.reveal_grants.jwt_signer import JwtRevealGrantSigner
from application.cards.after_authorization import (
    ClearTransaction,
    ExpireAuthorizations,
    IncrementAuthorization,
    RefundTransaction,
    ReverseAuthorization,
)
from application.cards.authorize import Authorize
from application.cards.card_fx import CardFx
from application.cards.cardholders import CreateCardholder, DecideKyc, ReadCardholders
from application.cards.cards import FundCard, IssueCard, ReadCards, UpdateCard
from application.cards.issue_reveal_grant import IssueRevealGrant
from application.cards.programs import CreateProgram, ReadPrograms
from application.cards.simulate import SimulateNetwork
from domain.events import RetryPolicy
from entrypoints.settings import ConfigError, Settings
from hsm.config import HsmConfig
from hsm.session import Hsm
from vault.audit.log import AuditLog
from vault.cards.service import CardVault
from vault.crypto.data_keys import DataKeys
from vault.crypto.working_keys import WorkingKeys
from vault.audit.store import PostgresAuditStore
from vault.ceremony.service import CeremonyPolicy, Ceremonies
from vault.ceremony.store import PostgresCeremonyStore
from vault.keys.manager import KeyManager
from vault.keys.store import PostgresKeyStore
from vault.network.entry import CoreAuthorizations, NetworkEntry
from vault.reveal.grants import GrantVerifier, load_public_keys
from vault.reveal.service import RevealLimits, Reveals


def _core_database(settings: Settings) -> Database:
    db = settings.database
    return Database(db.for_core(), min_size=db.pool_min, max_size=db.pool_max, name="bursar-core")


def _vault_database(settings: Settings) -> Database:
    db = settings.database
    return Database(db.for_vault(), min_size=db.pool_min, max_size=db.pool_max, name="bursar-vault")


def _hsm_config() -> HsmConfig:
    return HsmConfig.from_env()


def _ceremony_policy(settings: Settings) -> CeremonyPolicy:
    return CeremonyPolicy(
        quorum=settings.ceremony_quorum,
        custodians=settings.ceremony_custodians,
        proposal_ttl=timedelta(hours=settings.ceremony_proposal_hours),
    )


def _grant_signer(settings: Settings) -> JwtRevealGrantSigner:
    if not settings.reveal_grant_key:
        raise ConfigError("BURSAR_REVEAL_GRANT_KEY(_FILE) is not set: the core cannot sign reveal grants")
    return JwtRevealGrantSigner(settings.reveal_grant_key)


def _grant_verifier(settings: Settings, clock: SystemClock) -> GrantVerifier:
    if not settings.reveal_grant_public_keys:
        raise ConfigError("BURSAR_REVEAL_GRANT_PUBLIC_KEYS(_FILE) is not set: the vault cannot verify reveal grants")
    try:
        keys = load_public_keys(settings.reveal_grant_public_keys)
    except ValueError as exc:
        raise ConfigError(f"BURSAR_REVEAL_GRANT_PUBLIC_KEYS: {exc}") from None
    return GrantVerifier(keys, clock.now)


def _kyc_provider(settings: Settings) -> ManualReview | SimulatedVendor:
    """``BURSAR_KYC_PROVIDER``: the settings already refused ``simulated`` in production."""
    kyc = settings.kyc
    if kyc.provider == "simulated":
        return SimulatedVendor(tier=kyc.simulated_tier, delay_seconds=kyc.simulated_delay_seconds)
    return ManualReview()


def _reveal_limits(settings: Settings) -> RevealLimits:
    return RevealLimits(per_card=settings.reveal_limit_per_card, per_credential=settings.reveal_limit_per_credential)


def _webhook_dispatcher(
    transactions: PostgresWebhookTransactions, sender: HttpxWebhookSender, signer: StandardWebhookSigner,
    clock: SystemClock, ids: UuidV7Ids, settings: Settings,
) -> Dispatcher:
    w = settings.webhooks
    policy = RetryPolicy(max_attempts=w.max_attempts, backoff_base=w.backoff_base_seconds, backoff_max=w.backoff_max_seconds)
    return Dispatcher(transactions, sender, signer, clock, ids, policy, timeout=w.timeout_seconds,
                      batch_size=w.batch_size, jitter=random.random)


def _software(hsm: Hsm) -> Callable[[], dict[str, Any]]:
    """What ran a ceremony, for its transcript: Bursar, python-pkcs11 and the token."""

    def describe() -> dict[str, Any]:
        return {
            "bursar": version("bursar"),
            "python_pkcs11": version("python-pkcs11"),
            "token": hsm.token_info(),
        }

    return describe


class Shared(containers.DeclarativeContainer):
    settings = providers.Singleton(Settings.from_env)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(UuidV7Ids)
    secrets = providers.Singleton(SystemSecrets)


class CoreContainer(Shared):
    database = providers.Singleton(_core_database, Shared.settings)
    api_key_repo = providers.Singleton(PostgresApiKeys, pool=database.provided.pool, schema="core")
    api_keys = providers.Singleton(
        ApiKeys, app="core", repo=api_key_repo, clock=Shared.clock, ids=Shared.ids, secrets=Shared.secrets
    )
    transactions = providers.Singleton(PostgresTransactions, pool=database.provided.pool)
    ledger_open_account = providers.Singleton(OpenAccount, transactions, Shared.clock, Shared.ids)
    ledger_post_transfers = providers.Singleton(
        CoalescingPostTransfers, providers.Singleton(PostTransfers, transactions, Shared.clock)
    )
    ledger_read = providers.Singleton(ReadLedger, transactions, Shared.clock)
    ledger_expire_holds = providers.Singleton(ExpireHolds, transactions, Shared.clock)
    compliance_transactions = providers.Singleton(PostgresComplianceTransactions, pool=database.provided.pool)
    compliance_screener = providers.Singleton(
        CurrentScreener, compliance_transactions, refresh_seconds=Shared.settings.provided.compliance_refresh_seconds
    )
    compliance_ingest_list = providers.Singleton(
        IngestSanctionsList, compliance_transactions, Shared.clock, compliance_screener
    )
    compliance_screen_name = providers.Singleton(ScreenName, compliance_screener)
    compliance_screen_subject = providers.Singleton(
        ScreenSubject, compliance_transactions, compliance_screener, Shared.clock, Shared.ids
    )
    compliance_rescreen = providers.Singleton(
        RescreenSubjects, compliance_transactions, compliance_screener, Shared.clock, Shared.ids
    )
    compliance_subject_status = providers.Singleton(GetSubjectStatus, compliance_transactions)
    compliance_rules = providers.Singleton(
        MonitoringRules,
        compliance_transactions,
        providers.Singleton(load_default_rules),
        Shared.clock,
        refresh_seconds=Shared.settings.provided.compliance_refresh_seconds,
    )
    compliance_monitor = providers.Singleton(
        MonitorActivity, compliance_transactions, compliance_rules, Shared.clock, Shared.ids
    )
    compliance_alerts_soon = providers.Singleton(AlertsSoon, compliance_monitor)
    compliance_update_case = providers.Singleton(UpdateCase, compliance_transactions, Shared.clock, Shared.ids)
    compliance_read = providers.Singleton(ReadCompliance, compliance_transactions)
    vault_client = providers.Singleton(
        HttpVaultClient, base_url=Shared.settings.provided.vault_url, api_key=Shared.settings.provided.vault_api_key
    )
    issue_reveal_grant = providers.Singleton(
        IssueRevealGrant,
        providers.Singleton(_grant_signer, Shared.settings),
        Shared.clock,
        Shared.secrets,
        Shared.settings.provided.reveal_grant_seconds,
    )
    fx_rates = providers.Singleton(PostgresRates, database.provided.pool)
    fx_quotes = providers.Singleton(PostgresQuotes, database.provided.pool)
    fx_rate_source = providers.Singleton(ecb_source_at, Shared.settings.provided.fx.ecb_source)
    fx_refresh_rates = providers.Singleton(RefreshRates, fx_rate_source, fx_rates, Shared.clock)
    fx_seed_rates = providers.Singleton(SeedRates, providers.Singleton(EcbRateSource), fx_rates, Shared.clock)
    fx_set_manual_rate = providers.Singleton(SetManualRate, fx_rates, Shared.clock)
    fx_read_rates = providers.Singleton(
        ReadRates, fx_rates, Shared.clock, max_rate_age=Shared.settings.provided.fx.max_rate_age
    )
    fx_create_quote = providers.Singleton(
        CreateQuote, fx_rates, fx_quotes, Shared.clock, Shared.ids, max_rate_age=Shared.settings.provided.fx.max_rate_age
    )
    fx_use_quote = providers.Singleton(UseQuote, fx_quotes, Shared.clock)
    webhook_transactions = providers.Singleton(PostgresWebhookTransactions, pool=database.provided.pool)
    webhook_signer = providers.Singleton(StandardWebhookSigner)
    webhook_sender = providers.Singleton(HttpxWebhookSender)
    decision_webhooks = providers.Singleton(HttpxDecisionClient, webhook_signer)
    webhook_dispatcher = providers.Singleton(
        _webhook_dispatcher, webhook_transactions, webhook_sender, webhook_signer, Shared.clock, Shared.ids, Shared.settings
    )
    webhook_subscriptions = providers.Singleton(
        ManageSubscriptions, webhook_transactions, webhook_signer, Shared.clock, Shared.ids
    )
    webhook_deliveries = providers.Singleton(ManageDeliveries, webhook_transactions, Shared.clock)
    card_fx = providers.Singleton(
        CardFx,
        fx_rates,
        max_rate_age=Shared.settings.provided.fx.max_rate_age,
        rounding=Shared.settings.provided.fx.rounding,
        fee_rounding=Shared.settings.provided.fx.fee_rounding,
    )
    cards_create_program = providers.Singleton(CreateProgram, transactions, Shared.clock, Shared.ids, webhook_signer)
    cards_read_programs = providers.Singleton(ReadPrograms, transactions)
    kyc_provider = providers.Singleton(_kyc_provider, Shared.settings)
    cards_create_cardholder = providers.Singleton(
        CreateCardholder, transactions, compliance_screen_subject, Shared.clock, Shared.ids, kyc_provider
    )
    cards_decide_kyc = providers.Singleton(DecideKyc, transactions)
    cards_read_cardholders = providers.Singleton(ReadCardholders, transactions)
    cards_issue = providers.Singleton(
        IssueCard, transactions, vault_client, compliance_subject_status, Shared.clock, Shared.ids
    )
    cards_update = providers.Singleton(UpdateCard, transactions, Shared.clock, Shared.ids)
    cards_fund = providers.Singleton(FundCard, transactions, Shared.clock, compliance_alerts_soon)
    cards_read = providers.Singleton(ReadCards, transactions, ledger_read)
    cards_authorize = providers.Singleton(
        Authorize, transactions, card_fx, compliance_subject_status, compliance_monitor, compliance_alerts_soon,
        decision_webhooks, Shared.clock, Shared.ids,
    )
    cards_increment = providers.Singleton(
        IncrementAuthorization, transactions, card_fx, compliance_subject_status, Shared.clock, Shared.ids
    )
    cards_reverse = providers.Singleton(ReverseAuthorization, transactions, card_fx, Shared.clock, Shared.ids)
    cards_clear = providers.Singleton(ClearTransaction, transactions, card_fx, Shared.clock, Shared.ids)
    cards_refund = providers.Singleton(RefundTransaction, transactions, card_fx, Shared.clock, Shared.ids)
    cards_expire = providers.Singleton(ExpireAuthorizations, transactions, Shared.clock, Shared.ids)
    cards_simulate = providers.Singleton(
        SimulateNetwork, cards_read, cards_authorize, cards_increment, cards_reverse, cards_clear, cards_refund
    )


class VaultContainer(Shared):
    database = providers.Singleton(_vault_database, Shared.settings)
    api_key_repo = providers.Singleton(PostgresApiKeys, pool=database.provided.pool, schema="vault")
    api_keys = providers.Singleton(
        ApiKeys, app="vault", repo=api_key_repo, clock=Shared.clock, ids=Shared.ids, secrets=Shared.secrets
    )
    hsm_config = providers.Singleton(_hsm_config)
    hsm = providers.Singleton(Hsm, hsm_config)
    key_store = providers.Singleton(PostgresKeyStore, database.provided.pool)
    keys = providers.Singleton(
        KeyManager,
        hsm,
        key_store,
        Shared.clock.provided.now,
        audit_origin=Shared.settings.provided.audit_origin,
        label_prefix=Shared.settings.provided.hsm_key_prefix,
    )
    audit_store = providers.Singleton(PostgresAuditStore, database.provided.pool)
    audit = providers.Singleton(
        AuditLog,
        audit_store,
        Shared.clock.provided.now,
        origin=Shared.settings.provided.audit_origin,
        signer=keys,
        checkpoint_every=Shared.settings.provided.audit_checkpoint_entries,
    )
    data_keys = providers.Singleton(
        DataKeys, database.provided.pool, keys, Shared.ids.provided.new_id, Shared.clock.provided.now
    )
    working_keys = providers.Singleton(WorkingKeys, keys)
    cards = providers.Singleton(
        CardVault, database.provided.pool, data_keys, working_keys, audit, Shared.clock.provided.now
    )
    reveals = providers.Singleton(
        Reveals,
        cards,
        providers.Singleton(_grant_verifier, Shared.settings, Shared.clock),
        audit,
        Shared.clock.provided.now,
        providers.Singleton(_reveal_limits, Shared.settings),
    )
    core_authorizations = providers.Singleton(
        CoreAuthorizations, Shared.settings.provided.core_url, Shared.settings.provided.core_api_key
    )
    network_entry = providers.Singleton(NetworkEntry, cards, core_authorizations)
    ceremony_store = providers.Singleton(PostgresCeremonyStore, database.provided.pool)
    ceremonies = providers.Singleton(
        Ceremonies,
        ceremony_store,
        keys,
        audit,
        Shared.clock.provided.now,
        Shared.ids.provided.new_id,
        providers.Singleton(_ceremony_policy, Shared.settings),
        providers.Callable(_software, hsm),
    )
