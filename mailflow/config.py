"""config.yaml -> typed, frozen settings; every error names its key path.

Relative paths in the file are resolved against the folder that holds the file, so a
config works wherever the command is started from. Secrets are never in the file: a
mailbox, the SMTP server and the database each name the environment variable that holds
their password. Plain text (security: none) is for a loopback server only.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mailflow.errors import ConfigError

ENV_CONFIG = "MAILFLOW_CONFIG"
DEFAULT_CONFIG = Path("config.yaml")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def email_addresses(value: tuple[str, ...]) -> tuple[str, ...]:
    """A list of addresses from the config, lower-cased; anything without an @ is refused."""
    for address in value:
        if "@" not in address:
            raise ValueError(f"{address!r} is not an email address")
    return tuple(a.strip().lower() for a in value)


class ChamberSettings(_Frozen):
    name: str = "商会秘书处"
    # What the shared layout of every letter prints: signature, address, phone, a footer line.
    signature: str = ""  # e.g. 成都市机械制造业商会秘书处; the name when empty
    address: str = ""
    phone: str = ""
    footer: str = ""
    locale: Literal["zh-CN", "en"] = "zh-CN"
    timezone: str = "Asia/Shanghai"
    secretariat: tuple[str, ...] = ()
    # Message-IDs we generate end in @message_id_domain; replies whose In-Reply-To or
    # References carry it are answers to mail we sent.
    message_id_domain: str = "mailflow.invalid"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)") from None
        return value

    @field_validator("secretariat")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return email_addresses(value)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def letterhead(self) -> dict[str, str]:
        """What the templates' layouts may print about the chamber."""
        return {
            "name": self.name,
            "signature": self.signature,
            "address": self.address,
            "phone": self.phone,
            "footer": self.footer,
        }


class AfterProcessing(_Frozen):
    """What happens on the server to a message once it is committed locally."""

    action: Literal["move", "flag", "none"] = "move"
    folder: str = "Processed"  # for move
    flag: str = "$MailflowDone"  # for flag: an IMAP keyword, or a Maildir flag letter


StartFrom = Literal["first_start", "all"] | date


class _SourceBase(_Frozen):
    name: str
    after_processing: AfterProcessing = AfterProcessing()
    # Safe first run: mail that was there before the first start (or before a date) is
    # recorded as skipped and never answered.
    start_from: StartFrom = "first_start"
    poll_interval: float = Field(60.0, gt=0)


class MaildirSource(_SourceBase):
    kind: Literal["maildir"]
    path: Path


class ImapSource(_SourceBase):
    kind: Literal["imap"]
    host: str
    port: int = Field(993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    # A CA certificate to trust instead of the system's, for a server with a private CA.
    ca_file: Path | None = None
    user: str
    password_env: str
    folders: tuple[str, ...] = ("INBOX",)
    idle: bool = True
    timeout: float = Field(60.0, gt=0)  # seconds, on every socket call
    fetch_batch: int = Field(100, ge=1, le=5000)

    @field_validator("folders")
    @classmethod
    def _some_folder(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one folder to watch")
        return value

    def password(self) -> str:
        return os.environ.get(self.password_env, "")


SourceSettings = Annotated[MaildirSource | ImapSource, Field(discriminator="kind")]


class SmtpSettings(_Frozen):
    host: str
    port: int = Field(587, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    ca_file: Path | None = None
    user: str = ""
    password_env: str = ""  # the variable that holds the password; empty: no login
    timeout: float = Field(60.0, gt=0)
    data_timeout: float = Field(600.0, gt=0)  # the wait for the reply to the final dot (RFC 5321)
    concurrency: int = Field(2, ge=1, le=50)  # connections open at once, one letter in flight on each
    # The name we greet the server with (EHLO); empty: the domain of outbound.from_address.
    helo_name: str = ""

    @field_validator("helo_name")
    @classmethod
    def _qualified(cls, value: str) -> str:
        """Servers refuse a greeting that is not a fully qualified name (Postfix's
        reject_non_fqdn_helo_hostname), and `localhost` says nothing of who we are."""
        value = value.strip()
        if value and not is_helo_name(value):
            raise ValueError(f"{value!r} is not a fully qualified host name (such as mail.chamber.example.org)")
        return value

    def password(self) -> str:
        return os.environ.get(self.password_env, "") if self.password_env else ""


class OutboundSettings(_Frozen):
    """How letters leave: written as .eml files (the embedded default), or sent over SMTP."""

    transport: Literal["file", "smtp"] = "file"
    folder: Path = Path("var/outbox")  # for the file transport
    smtp: SmtpSettings | None = None
    from_address: str = "mishuchu@chamber.example.org"
    from_name: str = ""  # the chamber's name when empty
    max_attempts: int = Field(5, ge=1)
    retry_base_seconds: float = Field(60.0, gt=0)  # then 2×, 4× … after each temporary failure
    verp: bool = False  # envelope sender from_address+<letter>.<check>@…: bounces name the letter
    per_minute: float = Field(0, ge=0)  # letters a minute at most, for providers that throttle; 0: no limit
    max_replies_per_hour: int = Field(5, ge=1)  # automatic replies to one address; no loop can form

    @model_validator(mode="after")
    def _smtp_when_chosen(self) -> OutboundSettings:
        if self.transport == "smtp" and self.smtp is None:
            raise ValueError("transport smtp needs an smtp: section (host, port, …)")
        return self

    def helo_name(self, fallback: str) -> str:
        """What we greet the SMTP server with: smtp.helo_name, else the domain of from_address
        (in its IDNA form), else `fallback` (the Message-ID domain); never this host's own name,
        which is `localhost` on many machines and refused by servers that check it."""
        if self.smtp is not None and self.smtp.helo_name:
            return self.smtp.helo_name
        domain = self.from_address.rpartition("@")[2].strip().rstrip(".")
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            return fallback
        return domain if is_helo_name(domain) else fallback


class DatabaseSettings(_Frozen):
    url: str = "sqlite:///var/mailflow.db"
    password_env: str = ""  # the variable that holds the password; empty: the URL's own, if any
    # Seconds a write waits for a SQLite file another process holds; after that the daemon
    # waits with backoff (daemon.reconnect_max_seconds) and tries again, failing no mail.
    busy_timeout: float = Field(30, gt=0, le=600)

    @field_validator("url")
    @classmethod
    def _parsable(cls, value: str) -> str:
        # The message must not repeat the URL: it may carry a password.
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError("not a SQLAlchemy URL such as postgresql+psycopg://mailflow@127.0.0.1/mailflow") from None
        return value

    @field_validator("password_env")
    @classmethod
    def _not_for_sqlite(cls, value: str, info: ValidationInfo) -> str:
        if value and str(info.data.get("url", "")).startswith("sqlite"):
            raise ValueError("SQLite has no password; leave password_env out")
        return value

    def password(self) -> str:
        return os.environ.get(self.password_env, "") if self.password_env else ""

    def password_in_url(self) -> bool:
        return make_url(self.url).password is not None


class PathSettings(_Frozen):
    data: Path = Path("var/data")  # raw archive (raw/) and attachments (attachments/)
    rules: Path = Path("rules")
    templates: Path = Path("templates")


class LimitSettings(_Frozen):
    max_message_mb: float = Field(30, gt=0)
    max_header_kb: float = Field(256, gt=0)
    max_parts: int = Field(500, ge=1)
    max_depth: int = Field(20, ge=1)
    parse_timeout: float = Field(10, gt=0)  # seconds; a slower message is held
    max_fetch_mb: float = Field(100, gt=0)  # larger messages are archived as headers only
    max_attempts: int = Field(3, ge=1)  # a message that kills the process this often is held


class DaemonSettings(_Frozen):
    reconnect_max_seconds: float = Field(300, gt=0)
    fsync: bool = True  # fsync raw mail before its row commits; off only for throw-away data


def _clock_time(value: str) -> str:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day in 24-hour HH:MM, such as 08:30 or 17:00") from None
    return parsed.strftime("%H:%M")


ClockTime = Annotated[str, AfterValidator(_clock_time)]  # a local time of day, written back as HH:MM


class DigestSettings(_Frozen):
    """The daily digest to the secretariat: what needs a decision, each item with its command."""

    at: ClockTime = "08:30"  # local time in the chamber's zone, every day
    recipients: tuple[str, ...] = ()  # the secretariat when empty
    when_empty: Literal["skip", "send"] = "skip"  # a day with nothing to report sends nothing
    days_ahead: int = Field(7, ge=0, le=60)  # "falls due in the coming days" looks this far

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return email_addresses(value)


class RosterSettings(_Frozen):
    """联络员名录 (Art. 3): the roster of active liaisons, sent to them when it has changed."""

    send: Literal["on_change", "never"] = "on_change"  # never: only `mailflow roster send` sends it
    at: ClockTime = "17:00"  # local time of the daily look for a change, after the day's approvals
    recipients: Literal["liaisons", "liaisons_and_leaders"] = "liaisons"
    phones: bool = True  # the roster shows the liaisons' mobile numbers
    classes: tuple[
        str, ...
    ] = ()  # 会员类别 in the roster's order; empty: 会长单位, 副会长单位, 常务理事单位, 理事单位, 会员单位

    @field_validator("classes")
    @classmethod
    def _classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(name.strip() for name in value)
        if not all(names):
            raise ValueError("a 会员类别 cannot be empty")
        if len(set(names)) != len(names):
            raise ValueError("a 会员类别 is listed twice")
        return names


class CircularSettings(_Frozen):
    """Circulars (通知) from the secretariat to every liaison, unit leader or both. Which mail is a
    circular is the rules' call (rules/20-intents.yaml: the address tag `tongzhi`, a `#通知` line),
    like every other routing decision; these are the limits and the reporting."""

    max_attachments_mb: float = Field(25, gt=0)  # the files of one circular, in total; larger is refused
    digest_days: int = Field(7, ge=0, le=60)  # the digest reports the delivery of circulars this recent


class HolidaySettings(_Frozen):
    """The chamber's own holidays and working days, over the State Council's that chinese-calendar
    knows: for a year the package does not cover yet, and for local days off or Saturdays worked."""

    extra_off: tuple[date, ...] = ()  # days off that are not weekends: 2027-01-01, 2027-02-08 …
    extra_workdays: tuple[date, ...] = ()  # adjusted workdays (调休) that fall on a weekend

    @model_validator(mode="after")
    def _not_both(self) -> HolidaySettings:
        both = sorted(set(self.extra_off) & set(self.extra_workdays))
        if both:
            days = ", ".join(d.isoformat() for d in both)
            raise ValueError(f"extra_off and extra_workdays both list {days}; a day is one or the other")
        return self


class RequestSettings(_Frozen):
    """Requests for information (报送任务) from the secretariat, with a due date (Art. 4)."""

    remind_working_days: int = Field(3, ge=0, le=30)  # reminders this many working days before the due date; 0: none
    remind_at: ClockTime = "09:00"  # local time of the daily reminders


class SecuritySettings(_Frozen):
    """Whom we believe about who wrote a message."""

    # The authserv-ids of our own receiving servers (the first word of their
    # Authentication-Results header, e.g. mx.chamber.example.org). Only the topmost header
    # from one of them is read: a sender can write any header below it.
    trusted_authserv_ids: tuple[str, ...] = ()
    # What proves that a command mail comes from the secretariat: our server's DKIM/DMARC pass
    # for its domain (authenticated), a reply to a letter we sent to that same address (reply),
    # or either. Anything else is held unexecuted and unanswered.
    commands: Literal["authenticated", "reply", "either"] = "either"

    @field_validator("trusted_authserv_ids")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not item.strip() or any(c.isspace() or c == ";" for c in item.strip()):
                raise ValueError(f"{item!r} is not an authserv-id (one word, such as mx.chamber.example.org)")
        return tuple(item.strip().lower() for item in value)


class Settings(_Frozen):
    chamber: ChamberSettings = ChamberSettings()
    paths: PathSettings = PathSettings()
    database: DatabaseSettings = DatabaseSettings()
    sources: tuple[SourceSettings, ...] = ()
    outbound: OutboundSettings = OutboundSettings()
    limits: LimitSettings = LimitSettings()
    daemon: DaemonSettings = DaemonSettings()
    digest: DigestSettings = DigestSettings()
    roster: RosterSettings = RosterSettings()
    security: SecuritySettings = SecuritySettings()
    circulars: CircularSettings = CircularSettings()
    holidays: HolidaySettings = HolidaySettings()
    requests: RequestSettings = RequestSettings()
    # Folder of the config file: relative paths are resolved against it.
    base_dir: Path = Path(".")

    @model_validator(mode="after")
    def _unique_source_names(self) -> Settings:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique: {', '.join(dupes)}")
        return self

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.paths.data)

    @property
    def templates_dir(self) -> Path:
        return self.resolve(self.paths.templates)

    @property
    def rules_dir(self) -> Path:
        return self.resolve(self.paths.rules)

    @property
    def database_url(self) -> str:
        """The URL to connect with: a relative SQLite path resolved against the config's folder,
        the password from database.password_env put in. Print `database_url_shown` instead."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(Path(url[len(prefix) :])))
        if self.database.password_env:
            with_password = make_url(url).set(password=self.database.password())
            return with_password.render_as_string(hide_password=False)
        return url

    @property
    def database_url_shown(self) -> str:
        """The URL as it may be printed or logged: the password masked."""
        return hide_password(self.database_url)


def hide_password(url: str) -> str:
    """A database URL with its password masked (***), for output and logs."""
    return make_url(url).render_as_string(hide_password=True)


def is_helo_name(name: str) -> bool:
    """A fully qualified host name (at least two labels, not localhost) or an address literal ([192.0.2.1])."""
    if name.startswith("[") and name.endswith("]"):
        return True
    labels = name.lower().rstrip(".").split(".")
    if len(labels) < 2 or labels[0] == "localhost" or not all(labels):
        return False
    return all(label.isascii() and label.replace("-", "").isalnum() for label in labels)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or the name localhost; nothing is resolved, so no DNS answer can make a
    remote server look local."""
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_path(explicit: str | Path | None) -> Path:
    """--config wins, then MAILFLOW_CONFIG, then ./config.yaml."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_CONFIG):
        return Path(os.environ[ENV_CONFIG])
    return DEFAULT_CONFIG


def load_settings(path: Path, *, check_secrets: bool = True) -> Settings:
    """Read and validate a config file; raise ConfigError naming each bad key path."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found (run `mailflow init` to create one)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot read: {exc}"]) from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError(source, ["the top level must be a mapping of sections"])
    settings = settings_from_mapping(data, base_dir=path.resolve().parent, source=source)
    problems = _missing_secrets(settings, mail=check_secrets)
    if problems:
        raise ConfigError(source, problems)
    return settings


def settings_from_mapping(data: dict[str, Any], *, base_dir: Path, source: str = "<config>") -> Settings:
    try:
        settings = Settings.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(source, [_describe(err) for err in exc.errors()]) from None
    problems = _plain_text_problems(settings)
    if problems:
        raise ConfigError(source, problems)
    return settings


def _plain_text_problems(settings: Settings) -> list[str]:
    """security: none off loopback: the password (and the mail) would cross the network in clear."""
    servers: list[tuple[str, str, str]] = [
        (f"sources.{i}.security", src.host, "the password")
        for i, src in enumerate(settings.sources)
        if isinstance(src, ImapSource) and src.security == "none"
    ]
    smtp = settings.outbound.smtp
    if smtp is not None and smtp.security == "none":
        servers.append(("outbound.smtp.security", smtp.host, "the password" if smtp.user else "every letter"))
    return [
        f"{key}: none (no TLS) is allowed only for a loopback host (127.0.0.0/8, ::1, localhost); "
        f"{host} would get {what} in clear"
        for key, host, what in servers
        if not is_loopback(host)
    ]


def _describe(err: Any) -> str:
    # Pydantic puts the tagged-union tag in the location ("sources.0.imap.port"); a reader
    # knows the key path in the file, so drop it.
    loc = [str(p) for p in err["loc"] if p not in ("imap", "maildir")]
    where = ".".join(loc) or "(top level)"
    message = err["msg"]
    if err["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif err["type"] == "missing":
        message = "required key is missing"
    return f"{where}: {message}"


def _missing_secrets(settings: Settings, *, mail: bool) -> list[str]:
    """Every command opens the database, so its password is always checked; the mailboxes' and the
    SMTP server's only when `mail` (the commands that reach them)."""
    problems = []
    db = settings.database
    if db.password_env and not db.password():
        problems.append(f"database.password_env: environment variable {db.password_env} is not set or empty")
    if not mail:
        return problems
    for i, src in enumerate(settings.sources):
        if isinstance(src, ImapSource) and not src.password():
            problems.append(f"sources.{i}.password_env: environment variable {src.password_env} is not set or empty")
    smtp = settings.outbound.smtp
    if settings.outbound.transport == "smtp" and smtp and smtp.password_env and not smtp.password():
        problems.append(f"outbound.smtp.password_env: environment variable {smtp.password_env} is not set or empty")
    return problems
