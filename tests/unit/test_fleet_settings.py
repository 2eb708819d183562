"""docs/fleet.md's table of settings lists every COGNITO_* name the code reads, and no other.

The names are gathered from the code itself, so a setting added there without a row fails here:
every ``COGNITO_*`` string literal of the package (docstrings aside), and every name the two
readers of flat settings look up when they run (``verifier_from_settings`` for the environment,
Flask and Django; ``sign_in_from_env`` for web sign-in), recorded by the mapping they are given.
Each key of Django's ``COGNITO_GUARD`` dict that the code accepts has a row too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

import cognito_guard
from cognito_guard.config import SETTING_NAMES, verifier_from_settings
from cognito_guard.sessions import RedisSessionStore, sign_in_from_env

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "fleet.md"
PACKAGE = Path(cognito_guard.__file__).resolve().parent
NAME = re.compile(r"^COGNITO_[A-Z0-9_]*[A-Z0-9]$")
DJANGO_KEY = re.compile(r'COGNITO_GUARD\["([A-Z_]+)"\]')


class Recording(dict[str, str]):
    """A settings mapping that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


def literal_names() -> set[str]:
    """Every whole ``COGNITO_*`` name written as a string in the package, docstrings aside."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and NAME.match(node.value)
            ):
                found.add(node.value)
    return found


def read_names() -> set[str]:
    """The names the flat-settings readers look up, running them."""
    settings = Recording({"COGNITO_USER_POOL_ID": "eu-west-1_AbCdEf123", "COGNITO_CLIENT_ID": "a"})
    verifier = verifier_from_settings(settings, prefix="COGNITO_")
    environ = Recording(
        {
            "COGNITO_CLIENT_ID": "a",
            "COGNITO_SIGN_IN_DOMAIN": "https://auth.example.com",
            "COGNITO_SIGN_IN_REDIS_URL": "redis://127.0.0.1:6379/0",  # so the key is read too
            "COGNITO_SIGN_IN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        }
    )
    sign_in = sign_in_from_env(verifier, environ)
    assert sign_in is not None and isinstance(sign_in.store, RedisSessionStore)
    sign_in.store.close()  # never connected: made from the URL only
    return settings.read | environ.read


def table_rows() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Every setting", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]


def test_the_table_lists_every_cognito_name_the_code_reads_and_no_other() -> None:
    rows = table_rows()
    listed = {
        cell.strip("` ")
        for row in rows
        for cell in [row.split("|")[1]]
        if NAME.match(cell.strip("` "))
    }
    in_code = literal_names() | read_names()
    assert {"COGNITO_SIGN_IN_DOMAIN", "COGNITO_REVOCATIONS_URL", "COGNITO_GUARD"} <= in_code
    assert sorted(in_code - listed) == [], "read by the code, missing from docs/fleet.md"
    assert sorted(listed - in_code) == [], "in docs/fleet.md, read nowhere in the code"


def test_the_table_lists_every_key_of_djangos_cognito_guard_dict() -> None:
    from cognito_guard.integrations.django.settings import DJANGO_SETTING_NAMES

    listed = {key for row in table_rows() for key in DJANGO_KEY.findall(row)}
    assert sorted((set(SETTING_NAMES) | set(DJANGO_SETTING_NAMES)) - listed) == []
