"""Web sign-in in a real headless Chromium: the Flask example and the double's managed login.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and ``selenium``;
skipped with the reason when they are missing, except under ``CI=true`` (then it fails).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cognito_guard.testing import AppProcess, OAuthServer

from ..integration._sessions_support import PASSWORD, new_oauth, serve_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser_available() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


@pytest.fixture
def driver(browser_available: None, tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    # An explicit driver path: Selenium Manager (which would download one) is never asked.
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def oauth() -> Iterator[OAuthServer]:
    with new_oauth() as server:
        server.add_user("alice", password=PASSWORD)
        yield server


@pytest.fixture
def app(oauth: OAuthServer) -> Iterator[AppProcess]:
    with serve_app("flask", oauth) as process:
        yield process


def test_sign_in_see_the_page_and_sign_out_in_chromium(
    driver: object, app: AppProcess, oauth: OAuthServer
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    assert isinstance(driver, WebDriver)
    wait = WebDriverWait(driver, 20)

    # 1. a protected page sends the browser to the managed-login form
    driver.get(app.url + "/account")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert driver.current_url.startswith(oauth.domain + "/oauth2/authorize?")

    # 2. type the credentials; the browser comes back signed in and sees the page
    driver.find_element(By.ID, "username").send_keys("alice")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "user"), "Signed in as alice"))
    assert driver.current_url == app.url + "/account"
    cookies = {c["name"]: c for c in driver.get_cookies()}
    session = cookies["cognito_session"]  # plain http on 127.0.0.1: the dev name, no Secure
    assert session["httpOnly"] is True and session["path"] == "/"
    assert session["sameSite"] == "Lax" and session["domain"].lstrip(".") == "127.0.0.1"
    # HttpOnly: the page's scripts cannot read the session id
    assert "cognito_session=" not in driver.execute_script("return document.cookie")
    # the same cookie authenticates the API from this browser
    driver.get(app.url + "/me")
    assert '"username":"alice"' in driver.page_source.replace(" ", "")

    # 3. sign out: the page's script POSTs /auth/logout with X-CSRF, then follows Cognito /logout
    driver.get(app.url + "/account")
    wait.until(ec.element_to_be_clickable((By.ID, "sign-out"))).click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "home"), "Signed out."))
    assert driver.current_url == app.url + "/"
    assert "cognito_session" not in {c["name"] for c in driver.get_cookies()}
    assert oauth.request_count("/logout") == 1 and oauth.request_count("/oauth2/revoke") == 1

    # 4. signed out here and at Cognito: the protected page asks for the password again
    driver.get(app.url + "/account")
    wait.until(ec.presence_of_element_located((By.ID, "username")))
    assert driver.current_url.startswith(oauth.domain + "/oauth2/authorize?")
