"""deploy/: what compose starts must never run with a development secret or the sandbox, and the
README's commands must make secrets the services accept."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.fernet import Fernet, MultiFernet

from bookflow_booking.settings import BookingSettings
from bookflow_checkin.settings import CheckinSettings
from bookflow_notification.settings import NotificationSettings
from bookflow_recall.settings import RecallSettings
from bookflow_runtime import development
from bookflow_runtime.auth import issue_staff_token, read_staff_token
from bookflow_runtime.settings import ServiceSettings
from bookflow_scheduler.settings import SchedulerSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
README = ROOT / "deploy" / "README.md"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "booking": BookingSettings, "notification": NotificationSettings, "scheduler": SchedulerSettings,
    "recall": RecallSettings, "checkin": CheckinSettings,
}
REQUIRED = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}$")
"""`${NAME:?message}`: compose refuses to start while NAME is unset or empty."""
SECRET_WORDS = ("SECRET", "TOKEN", "KEY", "PASSWORD")


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # merge keys (`<<: *service-env`) resolved


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def secret_variables(name: str) -> set[str]:
    settings = SETTINGS[name]
    return {settings.env_name(field) for field in settings.secrets}


def test_compose_runs_every_service_outside_development_mode_and_without_the_sandbox():
    services = compose()["services"]
    assert set(SETTINGS) <= set(services)
    text = COMPOSE.read_text()
    assert development.ENVIRONMENT_FLAG not in text
    for name, service in services.items():
        env = environment(service)
        assert not [k for k in env if "SANDBOX" in k.upper()], f"{name} enables the sandbox"
        assert "sandbox" not in " ".join(map(str, service.get("command") or [])).lower()


def test_compose_holds_no_secret_value_and_requires_each_secret_a_service_needs():
    services = compose()["services"]
    text = COMPOSE.read_text()
    for value in development.SECRETS.values():
        for line in value.strip().splitlines():
            assert line.startswith("-----") or line not in text, "a development secret is written in compose.yaml"
    for name, service in services.items():
        env = environment(service)
        for key, value in env.items():
            if any(word in key.upper() for word in SECRET_WORDS):
                assert REQUIRED.match(value), f"{name}: {key} must come from the environment as `${{NAME:?…}}`, not {value!r}"
            if "://" in value and "@" in value:  # a URL with credentials
                password = value.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
                assert not password or password.startswith("${"), f"{name}: {key} holds a literal password"
        if name in SETTINGS:
            needed = secret_variables(name)
            assert needed <= set(env), f"{name} lacks {sorted(needed - set(env))}"
            for variable in needed:
                match = REQUIRED.match(env[variable])
                assert match and match["name"] == variable, f"{name}: {variable} is not required from the environment"


def test_compose_takes_each_services_public_address_from_the_environment():
    services = compose()["services"]
    for name in SETTINGS:
        variable = f"BOOKFLOW_{name.upper()}_PUBLIC_URL"
        value = environment(services[name]).get(variable, "")
        assert REQUIRED.match(value) and REQUIRED.match(value)["name"] == variable, f"{name}: {variable} = {value!r}"


def readme_secret_commands() -> list[str]:
    """The commands under the README's "Secrets" heading (the first sh block)."""
    text = README.read_text()
    section = text[text.index("## Secrets"):]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("python3 ")]


def read_dotenv(path: Path) -> dict[str, str]:
    """`.env` as compose reads it: NAME=value, double-quoted values with `\\n` for line breaks."""
    values = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1].replace("\\n", "\n")
        values[name] = value
    return values


def test_the_readmes_commands_make_secrets_every_service_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "deploy").mkdir()
    commands = readme_secret_commands()
    assert len(commands) >= 5
    for command in commands:
        subprocess.run(command.replace("python3 ", f"{sys.executable} ", 1), shell=True, cwd=tmp_path, check=True, timeout=60)
    made = read_dotenv(tmp_path / "deploy" / ".env")
    wanted = set().union(*(secret_variables(name) for name in SETTINGS))
    assert wanted <= set(made), f"the README makes no {sorted(wanted - set(made))}"

    for variable in [v for v in os.environ if v.startswith("BOOKFLOW_")]:
        monkeypatch.delenv(variable)
    for variable, value in made.items():
        monkeypatch.setenv(variable, value)
    for name, settings_class in SETTINGS.items():
        settings = settings_class(database_url="postgresql+asyncpg://unused/unused")
        assert not settings.development
        assert settings.missing_secrets() == [], name
    booking, notification = BookingSettings(database_url="x"), NotificationSettings(database_url="x")
    token = issue_staff_token(booking.staff_token_private_key, "acme", "ann", ("planner",))
    assert read_staff_token(notification.staff_token_public_key, token).tenant_id == "acme"
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    sealed = MultiFernet([Fernet(k) for k in notification.secrets_key.split(",")]).encrypt(b"provider password")
    assert MultiFernet([Fernet(k) for k in notification.secrets_key.split(",")]).decrypt(sealed) == b"provider password"
    assert len(booking.link_secret) >= 32 and booking.operator_token != development.OPERATOR_TOKEN
