"""The one Settings object: built once at start (``load_settings``) and passed in."""

from __future__ import annotations

import ipaddress
import secrets
from email.utils import parseaddr
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from newsletter.delivery.domains import DEFAULT_DOMAIN_LIMITS, parse_domain_limits

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNSPECIFIED_HOSTS = ("", "0.0.0.0", "::", "[::]")  # listening everywhere: links name the loopback address


def shipped_templates() -> Path:
    """The templates that come with the package: the repository's top-level templates/ folder,
    installed as the package ``newsletter.templates`` (setup.py), editable or not."""
    return Path(str(files("newsletter.templates")))


class Settings(BaseSettings):
    """Every knob of the service; environment variables use the ``NEWSLETTER_`` prefix."""

    model_config = SettingsConfigDict(env_prefix="NEWSLETTER_", env_file=".env", extra="ignore")

    # Storage
    data_dir: Path = Path("var")
    database_url: str = ""  # default: SQLite file in data_dir
    templates_dir: Path = Field(default_factory=shipped_templates)  # email/ and web/; a copy may override them
    media_dir: Path | None = None  # uploaded and fetched images (default: data_dir/media), served at /media/

    # The list
    list_name: str = "The Weekly Briefing"
    from_address: str = "The Weekly Briefing <briefing@localhost>"
    base_url: str = "http://127.0.0.1:8000"  # unless set, `serve`/`run --port P` make it http://HOST:P
    secret_key: str = ""  # default: generated once and kept in data_dir
    admin_password: str = ""  # default: generated once and kept in data_dir
    # Addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (rate limits,
    # lock-outs, uvicorn's access log); empty = trust no one, the peer address is the client.
    trusted_proxies: str = ""

    # Delivery backend
    backend: str = "outbox"
    outbox_dir: Path | None = None  # default: data_dir/outbox
    smtp_host: str = "localhost"
    smtp_port: int = 25
    # Several relays sharing the load, "host:port,host2" (a bare host takes smtp_port); a dead one
    # leaves the rotation until it answers again. Empty: smtp_host and smtp_port.
    smtp_hosts: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: Literal["none", "starttls", "ssl"] = "starttls"
    smtp_ca_file: Path | None = None  # trust this CA bundle instead of the system CAs
    smtp_timeout: float = Field(default=30.0, gt=0)  # per SMTP command / reply
    smtp_connect_timeout: float = Field(default=10.0, gt=0)
    # Parallel connections per worker process; 0 = auto (delivery/sizing.py: by the database).
    smtp_connections: int = Field(default=0, ge=0, le=64)
    smtp_pipelining: bool = True  # use RFC 2920 PIPELINING when the server offers it
    rate_per_second: float = Field(default=0, ge=0)  # per backend, 0 = unlimited
    rate_per_hour: int = Field(default=0, ge=0)  # per backend, 0 = unlimited
    # Per recipient domain group, for the whole fleet: "gmail.com=50/s,yahoo.com=1200/m" (N/s, N/m
    # or N/h; a domain names its provider's group, so hotmail.com= sets outlook.com's). Setting it
    # replaces the defaults (delivery/domains.py says where they come from); empty: no limits, only
    # the back-off when a domain answers 421 / 4.7.x "try again later".
    domain_limits: str = DEFAULT_DOMAIN_LIMITS
    dkim_domain: str = ""  # d= of the DKIM signatures (default: the From address's domain)
    dkim_keys: str = ""  # "selector=/path/key,selector2=/path/key2"; empty = no DKIM signing
    # Envelope sender bounces+<signed delivery token>@<mail domain>, so a bounce names its
    # delivery; off = the From address (for a relay that insists on one fixed sender).
    verp: bool = True
    inbound_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # bigger messages get 552
    inbound_max_connections: int = Field(default=50, ge=1)  # more get 421, try again later
    # From one client address (one client cannot take every place); a relay in front of the
    # inbound server connects from one address: keep its concurrency at or under this.
    inbound_max_per_client: int = Field(default=10, ge=1)
    # Seconds a client may wait between commands (and for one DATA) before we hang up (RFC 5321's
    # 300 s would let idle clients hold the places that long).
    inbound_idle_timeout: float = Field(default=60, gt=0)

    # Provider webhooks (inbound/providers): each is off (404) until its secret is set.
    # SNS topics whose SES notifications /webhooks/ses accepts, "arn:aws:sns:...,arn:...".
    ses_topic_arns: str = ""
    mailgun_signing_key: str = ""  # Mailgun's "HTTP webhook signing key", for /webhooks/mailgun
    # "user:password", the HTTP Basic credentials put in Postmark's webhook URL (/webhooks/postmark).
    postmark_webhook_auth: str = ""
    sendgrid_verification_key: str = ""  # the Signed Event Webhook's verification key (base64 DER)

    # Sources: feeds added from the admin or the API may not point at loopback, private,
    # link-local or reserved addresses unless this is set (a trusted, private setup).
    sources_allow_private: bool = False
    # Webhooks: endpoints may not be on loopback, private, link-local or reserved addresses unless
    # this is set; checked when an endpoint is added and again at every delivery (DNS can change).
    webhooks_allow_private: bool = False

    # Weekly cycle (defaults; `newsletter schedule set` stores the editor's choice in the database)
    compose_day: str = "fri"
    compose_time: str = "16:00"
    send_day: str = "sat"
    send_time: str = "07:00"
    time_zone: str = "Europe/London"
    schedule_mode: Literal["auto", "approve", "local-time"] = "auto"
    schedule_grace_hours: float = Field(default=6, ge=0)  # a send missed by less than this goes out late
    editor_email: str = ""  # where approval requests and cycle warnings go (default: the From address)
    scheduler_tick_seconds: float = Field(default=30, gt=0)

    # Worker
    worker_processes: int = Field(default=0, ge=0, le=64)  # 0 = auto (delivery/sizing.py: cores, database)
    batch_size: int = Field(default=1000, ge=1)  # deliveries claimed at once (claims stay cheap)
    # At most this many sends are ever without a durable outcome, whatever the claim's size: a
    # killed worker repeats at most this many readers (delivery/recorder.py).
    record_every: int = Field(default=50, ge=1)
    lease_seconds: int = Field(default=300, ge=5)
    max_attempts: int = Field(default=5, ge=1)
    retry_seconds: int = Field(default=300, ge=1)  # first back-off delay; doubles each attempt
    retry_max_age_hours: float = Field(default=72, gt=0)  # a delivery older than this fails, not defers
    worker_poll_seconds: float = Field(default=2.0, gt=0)

    @field_validator("send_day", "compose_day")
    @classmethod
    def _weekday(cls, value: str) -> str:
        day = value.strip().lower()[:3]
        if day not in WEEKDAYS:
            raise ValueError(f"send_day must be one of {', '.join(WEEKDAYS)}")
        return day

    @field_validator("send_time", "compose_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        hours, _, minutes = value.partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError("send_time must be HH:MM")
        return f"{int(hours):02d}:{int(minutes):02d}"

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1] or "\n" in value or "\r" in value:
            raise ValueError("from_address must be an address such as 'Name <list@example.org>'")
        return value

    @field_validator("dkim_keys")
    @classmethod
    def _dkim_keys(cls, value: str) -> str:
        # Checked at start, so a wrong path stops the service with one clear line, not mid-send.
        for item in value.split(","):
            if not item.strip():
                continue
            selector, sep, path = item.partition("=")
            if not sep or not selector.strip() or not path.strip():
                raise ValueError(f"dkim_keys entries are selector=/path/to/key, got {item.strip()!r}")
            file = Path(path.strip()).expanduser()
            try:
                file.read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read DKIM key {file} (selector {selector.strip()}): {exc.strerror}") from exc
        return value

    @field_validator("smtp_hosts")
    @classmethod
    def _smtp_hosts(cls, value: str) -> str:
        from newsletter.mail.backends.smtp_relays import parse_relays

        if value.strip():
            parse_relays(value, 25)  # checked at start: a typo stops the worker with one clear line
        return value

    @field_validator("domain_limits")
    @classmethod
    def _domain_limits(cls, value: str) -> str:
        parse_domain_limits(value)  # a ValueError naming the bad entry: pydantic's validation error
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for item in value.replace(",", " ").split():
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"trusted_proxies entries are addresses or CIDRs, got {item!r}") from exc
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies.replace(",", " ").split())

    @field_validator("postmark_webhook_auth")
    @classmethod
    def _postmark_auth(cls, value: str) -> str:
        if value and ":" not in value:
            raise ValueError("postmark_webhook_auth is user:password")
        return value

    @field_validator("sendgrid_verification_key")
    @classmethod
    def _sendgrid_key(cls, value: str) -> str:
        if value.strip():
            from newsletter.inbound.providers.sendgrid import load_key

            load_key(value)  # a ValueError saying what is wrong: pydantic's validation error
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)  # raises a clear error for an unknown zone
        return value

    @property
    def sender_email(self) -> str:
        return parseaddr(self.from_address)[1]

    @property
    def sender_name(self) -> str:
        return parseaddr(self.from_address)[0] or self.list_name

    @property
    def mail_domain(self) -> str:
        return self.sender_email.rpartition("@")[2]

    @property
    def bounce_address(self) -> str:
        """Envelope sender of one-off mail (confirmations, replies, test sends)."""
        return f"bounces@{self.mail_domain}" if self.verp else self.sender_email

    @property
    def outbox_path(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'newsletter.db').resolve()}"

    def served_at(self, host: str, port: int) -> Settings:
        """These settings for a web server listening on host:port: the links in emails point at it
        unless NEWSLETTER_BASE_URL (or .env, or an override) names the public URL."""
        if "base_url" in self.model_fields_set:
            return self
        name = "127.0.0.1" if host in UNSPECIFIED_HOSTS else host
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"  # an IPv6 address
        return self.model_copy(update={"base_url": f"http://{name}:{port}"})


def _kept_secret(data_dir: Path, name: str) -> str:
    """A random secret generated on first start and kept, so restarts keep links and logins valid."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # secrets, the database, the outbox
    value = secrets.token_urlsafe(24)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


def load_settings(**overrides: object) -> Settings:
    """Build the Settings from the environment (and overrides), filling generated secrets."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
    updates: dict[str, str] = {}
    if not settings.secret_key:
        updates["secret_key"] = _kept_secret(settings.data_dir, "secret_key")
    if not settings.admin_password:
        updates["admin_password"] = _kept_secret(settings.data_dir, "admin_password")
    return settings.model_copy(update=updates) if updates else settings
