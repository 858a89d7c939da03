"""Configuration read from the environment, in one place.

Every variable is documented in README.md ("Configuration"); compose.yaml uses the same names.
Secrets may be given directly or as ``*_FILE`` paths (the file's content, stripped), so they can
come from Docker/Kubernetes secrets instead of the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from adapters.rates_ecb.source import ECB_DAILY_URL, SNAPSHOT_LOCATION
from domain.cards.model import TIERS
from domain.shared.money import Rounding
from entrypoints.runtime import garbage

CORE_DB_ROLE = "bursar_core"
VAULT_DB_ROLE = "bursar_vault"


class ConfigError(Exception):
    """The environment does not describe a runnable configuration."""


def read_secret(env: Mapping[str, str], name: str) -> str | None:
    """``NAME`` or the content of the file named by ``NAME_FILE``; never both."""
    direct, path = env.get(name), env.get(f"{name}_FILE")
    if direct and path:
        raise ConfigError(f"set either {name} or {name}_FILE, not both")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return direct or None


def role_url(admin_url: str, role: str, password: str | None) -> str:
    """The admin connection string with its user (and password) replaced by an application role's."""
    info = conninfo_to_dict(admin_url)
    info["user"] = role
    info.pop("password", None)
    if password:
        info["password"] = password
    return make_conninfo(**info)


@dataclass(frozen=True, kw_only=True)
class DatabaseSettings:
    """Where PostgreSQL is, and as whom each deployable connects.

    ``admin_url`` owns the schemas and runs migrations. The core and the vault connect as their
    own roles, which migrations create with the least privileges each needs.
    """

    admin_url: str | None
    core_url: str | None
    vault_url: str | None
    core_password: str | None = field(default=None, repr=False)
    vault_password: str | None = field(default=None, repr=False)
    pool_min: int = 2
    pool_max: int = 16

    def require_admin(self) -> str:
        if not self.admin_url:
            raise ConfigError("DATABASE_URL is not set (make run starts an embedded PostgreSQL when it is absent)")
        return self.admin_url

    def for_core(self) -> str:
        return self.core_url or role_url(self.require_admin(), CORE_DB_ROLE, self.core_password)

    def for_vault(self) -> str:
        return self.vault_url or role_url(self.require_admin(), VAULT_DB_ROLE, self.vault_password)


@dataclass(frozen=True, kw_only=True)
class FxSettings:
    """How the core quotes foreign exchange, and where it gets rates (docs/fx.md).

    Development differs in three ways so that quotes work offline from the bundled (old) ECB
    snapshot: an empty rate table gets the snapshot at start-up, rates of any age are accepted,
    and the ECB source is the snapshot. Anywhere else rates older than 120 hours are refused and
    the source is the ECB's daily URL.
    """

    markup_bps: int = 0
    quote_ttl_seconds: int = 300
    max_rate_age_hours: float | None = 120.0
    """None: no maximum (development's default); never allowed in production."""
    rounding: Rounding = Rounding.HALF_EVEN
    fee_rounding: Rounding = Rounding.HALF_EVEN
    ecb_source: str = ECB_DAILY_URL
    """An http(s) URL, a file path, or ``snapshot`` (the bundled offline file)."""
    seed_snapshot: bool = False
    """Load the bundled snapshot at start-up when no rate is stored (development only)."""

    @property
    def max_rate_age(self) -> timedelta:
        return timedelta.max if self.max_rate_age_hours is None else timedelta(hours=self.max_rate_age_hours)

    @classmethod
    def from_env(cls, env: Mapping[str, str], deployment: str) -> FxSettings:
        development = deployment == "development"
        markup = _int(env, "BURSAR_FX_MARKUP_BPS", 0)
        if not 0 <= markup <= 10_000:
            raise ConfigError(f"BURSAR_FX_MARKUP_BPS must be 0 to 10000 basis points, got {markup}")
        ttl = _int(env, "BURSAR_FX_QUOTE_TTL_SECONDS", 300)
        if ttl <= 0:
            raise ConfigError(f"BURSAR_FX_QUOTE_TTL_SECONDS must be positive, got {ttl}")
        return cls(
            markup_bps=markup,
            quote_ttl_seconds=ttl,
            max_rate_age_hours=_max_rate_age_hours(env, deployment),
            rounding=_rounding(env, "BURSAR_FX_ROUNDING"),
            fee_rounding=_rounding(env, "BURSAR_FX_FEE_ROUNDING"),
            ecb_source=env.get("BURSAR_FX_ECB_SOURCE") or (SNAPSHOT_LOCATION if development else ECB_DAILY_URL),
            seed_snapshot=development,
        )


def _max_rate_age_hours(env: Mapping[str, str], deployment: str) -> float | None:
    name = "BURSAR_FX_MAX_RATE_AGE_HOURS"
    raw = (env.get(name) or ("none" if deployment == "development" else "120")).strip().lower()
    if raw == "none":
        if deployment == "production":
            raise ConfigError(f"{name}=none is for development: production refuses stale rates")
        return None
    try:
        hours = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of hours or 'none', got {raw!r}") from None
    if not 0 < hours < 10**6:
        raise ConfigError(f"{name} must be a positive number of hours, got {raw!r}")
    return hours


def _rounding(env: Mapping[str, str], name: str) -> Rounding:
    raw = env.get(name) or Rounding.HALF_EVEN.value
    try:
        return Rounding(raw)
    except ValueError:
        raise ConfigError(f"{name} must be one of {', '.join(r.value for r in Rounding)}, got {raw!r}") from None


@dataclass(frozen=True, kw_only=True)
class WebhookSettings:
    """The webhook dispatcher of each core process (docs/webhooks.md)."""

    poll_seconds: float = 1.0
    """How often the dispatcher looks for new events and due deliveries; 0 turns it off in this process."""
    timeout_seconds: float = 10.0
    max_attempts: int = 12
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 3600.0
    batch_size: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        settings = cls(
            poll_seconds=_float(env, "BURSAR_WEBHOOK_POLL_SECONDS", 1.0),
            timeout_seconds=_float(env, "BURSAR_WEBHOOK_TIMEOUT_SECONDS", 10.0),
            max_attempts=_int(env, "BURSAR_WEBHOOK_MAX_ATTEMPTS", 12),
            backoff_base_seconds=_float(env, "BURSAR_WEBHOOK_BACKOFF_BASE_SECONDS", 5.0),
            backoff_max_seconds=_float(env, "BURSAR_WEBHOOK_BACKOFF_MAX_SECONDS", 3600.0),
            batch_size=_int(env, "BURSAR_WEBHOOK_BATCH_SIZE", 100),
        )
        checks = [
            (settings.poll_seconds >= 0, "BURSAR_WEBHOOK_POLL_SECONDS must be 0 (off) or positive"),
            (0 < settings.timeout_seconds <= 300, "BURSAR_WEBHOOK_TIMEOUT_SECONDS must be above 0 and at most 300"),
            (1 <= settings.max_attempts <= 100, "BURSAR_WEBHOOK_MAX_ATTEMPTS must be 1 to 100"),
            (0 < settings.backoff_base_seconds <= settings.backoff_max_seconds,
             "BURSAR_WEBHOOK_BACKOFF_BASE_SECONDS must be positive and at most BURSAR_WEBHOOK_BACKOFF_MAX_SECONDS"),
            (1 <= settings.batch_size <= 1000, "BURSAR_WEBHOOK_BATCH_SIZE must be 1 to 1000"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        return settings


KYC_PROVIDERS = ("manual", "simulated")


@dataclass(frozen=True, kw_only=True)
class KycSettings:
    """Who verifies new cardholders (docs/cards.md, "KYC").

    ``manual`` (the default): every cardholder waits for ops. ``simulated``: a fake vendor for demos
    that verifies anyone without a marker in their name or email; refused when ``BURSAR_ENV`` is
    ``production``, with no override, because it checks no identity at all.
    """

    provider: str = "manual"
    simulated_tier: str = "basic"
    simulated_delay_seconds: float = 0.0

    @classmethod
    def from_env(cls, env: Mapping[str, str], deployment: str) -> KycSettings:
        provider = (env.get("BURSAR_KYC_PROVIDER") or "manual").strip().lower()
        if provider not in KYC_PROVIDERS:
            raise ConfigError(f"BURSAR_KYC_PROVIDER must be one of {', '.join(KYC_PROVIDERS)}, got {provider!r}")
        if provider == "simulated" and deployment == "production":
            raise ConfigError("BURSAR_KYC_PROVIDER=simulated verifies anyone without checking: "
                              "it is for demos and is refused when BURSAR_ENV=production")
        tier = (env.get("BURSAR_KYC_SIMULATED_TIER") or "basic").strip().lower()
        if tier not in TIERS:
            raise ConfigError(f"BURSAR_KYC_SIMULATED_TIER must be one of {', '.join(TIERS)}, got {tier!r}")
        delay = _float(env, "BURSAR_KYC_SIMULATED_DELAY_SECONDS", 0.0)
        if not 0 <= delay <= 10:
            raise ConfigError(f"BURSAR_KYC_SIMULATED_DELAY_SECONDS must be 0 to 10, got {delay:g}")
        return cls(provider=provider, simulated_tier=tier, simulated_delay_seconds=delay)


@dataclass(frozen=True, kw_only=True)
class Settings:
    env: str
    data_dir: Path
    host: str
    core_port: int
    vault_port: int
    database: DatabaseSettings
    vault_url: str
    core_url: str
    vault_api_key: str | None = field(default=None, repr=False)
    core_api_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = 8 * 1024 * 1024
    log_level: str = "INFO"
    api_key_cache_seconds: float = 5.0
    sweep_seconds: float = 5.0
    gc_threshold: tuple[int, int, int] | None = garbage.DEFAULT_THRESHOLD
    audit_origin: str = "bursar.local/vault/audit-log"
    hsm_key_prefix: str = "bursar"
    audit_checkpoint_entries: int = 1000
    audit_checkpoint_seconds: float = 60.0
    ceremony_quorum: int = 2
    ceremony_custodians: int = 3
    ceremony_proposal_hours: float = 24.0
    sanctions_dir: Path | None = None
    """Where `bursar compliance ingest-list` reads OFAC's CSV files by default (None: the shipped sample)."""
    compliance_refresh_seconds: float = 5.0
    reveal_grant_key: str | None = field(default=None, repr=False)
    reveal_grant_public_keys: str | None = None
    reveal_grant_seconds: int = 30
    reveal_limit_per_card: str = "10/minute"
    reveal_limit_per_credential: str = "6000/minute"
    fx: FxSettings = field(default_factory=FxSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    kyc: KycSettings = field(default_factory=KycSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        host = env.get("BURSAR_HOST", "127.0.0.1")
        core_port = _int(env, "BURSAR_CORE_PORT", 8000)
        vault_port = _int(env, "BURSAR_VAULT_PORT", 8001)
        return cls(
            env=env.get("BURSAR_ENV", "development"),
            data_dir=Path(env.get("BURSAR_DATA_DIR", ".data")).resolve(),
            host=host,
            core_port=core_port,
            vault_port=vault_port,
            database=DatabaseSettings(
                admin_url=env.get("DATABASE_URL") or None,
                core_url=env.get("BURSAR_CORE_DATABASE_URL") or None,
                vault_url=env.get("BURSAR_VAULT_DATABASE_URL") or None,
                core_password=read_secret(env, "BURSAR_CORE_DB_PASSWORD"),
                vault_password=read_secret(env, "BURSAR_VAULT_DB_PASSWORD"),
                pool_min=_int(env, "BURSAR_DB_POOL_MIN", 2),
                pool_max=_int(env, "BURSAR_DB_POOL_MAX", 16),
            ),
            vault_url=env.get("BURSAR_VAULT_URL", f"http://{_client_host(host)}:{vault_port}"),
            core_url=env.get("BURSAR_CORE_URL", f"http://{_client_host(host)}:{core_port}"),
            vault_api_key=read_secret(env, "BURSAR_VAULT_API_KEY"),
            core_api_key=read_secret(env, "BURSAR_CORE_API_KEY"),
            max_body_bytes=_int(env, "BURSAR_MAX_BODY_BYTES", 8 * 1024 * 1024),
            log_level=env.get("BURSAR_LOG_LEVEL", "INFO").upper(),
            api_key_cache_seconds=float(env.get("BURSAR_API_KEY_CACHE_SECONDS", "5")),
            sweep_seconds=float(env.get("BURSAR_LEDGER_SWEEP_SECONDS", "5")),
            gc_threshold=_gc_threshold(env),
            audit_origin=env.get("BURSAR_AUDIT_ORIGIN", "bursar.local/vault/audit-log"),
            hsm_key_prefix=env.get("BURSAR_HSM_KEY_PREFIX", "bursar"),
            audit_checkpoint_entries=_int(env, "BURSAR_AUDIT_CHECKPOINT_ENTRIES", 1000),
            audit_checkpoint_seconds=float(env.get("BURSAR_AUDIT_CHECKPOINT_SECONDS", "60")),
            ceremony_quorum=_int(env, "BURSAR_CEREMONY_QUORUM", 2),
            ceremony_custodians=_int(env, "BURSAR_CEREMONY_CUSTODIANS", 3),
            ceremony_proposal_hours=float(env.get("BURSAR_CEREMONY_PROPOSAL_HOURS", "24")),
            sanctions_dir=Path(env["BURSAR_SANCTIONS_DIR"]) if env.get("BURSAR_SANCTIONS_DIR") else None,
            compliance_refresh_seconds=float(env.get("BURSAR_COMPLIANCE_REFRESH_SECONDS", "5")),
            reveal_grant_key=read_secret(env, "BURSAR_REVEAL_GRANT_KEY"),
            reveal_grant_public_keys=read_secret(env, "BURSAR_REVEAL_GRANT_PUBLIC_KEYS"),
            reveal_grant_seconds=_int(env, "BURSAR_REVEAL_GRANT_SECONDS", 30),
            reveal_limit_per_card=env.get("BURSAR_REVEAL_LIMIT_PER_CARD", "10/minute"),
            reveal_limit_per_credential=env.get("BURSAR_REVEAL_LIMIT_PER_CREDENTIAL", "6000/minute"),
            fx=FxSettings.from_env(env, env.get("BURSAR_ENV", "development")),
            webhooks=WebhookSettings.from_env(env),
            kyc=KycSettings.from_env(env, env.get("BURSAR_ENV", "development")),
        )


def _client_host(bind_host: str) -> str:
    return "127.0.0.1" if bind_host in ("0.0.0.0", "::", "") else bind_host


def _gc_threshold(env: Mapping[str, str]) -> tuple[int, int, int] | None:
    raw = env.get("BURSAR_GC_THRESHOLD")
    if not raw:
        return garbage.DEFAULT_THRESHOLD
    try:
        return garbage.parse_threshold(raw)
    except ValueError as exc:
        raise ConfigError(f"BURSAR_GC_THRESHOLD must be {exc}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value
