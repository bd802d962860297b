"""End to end in a real browser: Debian's chromium driven by Playwright against `cpeguard serve`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader
from sqlalchemy import update

from serving.config import ServiceConfig
from serving.db.engine import make_engine
from serving.db.models import ReviewSession
from serving.labels import load_labels
from tests.live_server import cli_env, create_key, running_server
from tests.review.conftest import load_and_settle
from training.simulator import SimulatedSet

pytestmark = pytest.mark.e2e
CHROMIUM = Path(os.environ.get("CPEGUARD_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))


@dataclass(frozen=True)
class Server:
    """A running `cpeguard serve` with keys made by the CLI and two settled campaigns."""

    base: str
    keys: dict[str, str]
    settlements: dict[str, dict[str, Any]]
    home: Path


@pytest.fixture
def sync_playwright() -> Any:
    """Playwright's sync API, with chromium present; in CI a missing browser fails instead of skipping."""
    try:
        from playwright.sync_api import sync_playwright as api
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("playwright is not installed")
    if not CHROMIUM.is_file():
        if os.environ.get("CI"):
            pytest.fail(f"no chromium at {CHROMIUM}: .ci/run installs Debian's chromium")
        pytest.skip(f"no chromium at {CHROMIUM}")
    return api


@pytest.fixture
def server(tmp_path: Path, sim: SimulatedSet) -> Iterator[Server]:
    """`cpeguard serve` on a loopback port (SQLite under a fresh home) with held posts to review."""
    env = cli_env(
        tmp_path / "home", CPEGUARD_HOLD_INVALID_SHARE="0.02", CPEGUARD_SIGNOFF_WITHHELD_SHARE="0.5"
    )
    keys = {role: create_key(env, role) for role in ("billing", "reviewer", "admin")}
    with running_server(env) as base, httpx.Client(base_url=base, timeout=300) as client:
        billing = {"Authorization": f"Bearer {keys['billing']}"}
        settlements = load_and_settle(client, billing, sim, now=datetime.now(UTC))
        yield Server(base=base, keys=keys, settlements=settlements, home=tmp_path / "home")


def _sign_in(page: Any, base: str, key: str, *, then: str = "/review/queue") -> None:
    """Sign in with the keyboard only: type the key into the labelled field and press Enter."""
    if not page.url.startswith(f"{base}/review/sign-in"):
        page.goto(f"{base}/review/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    page.wait_for_url(f"{base}{then}")


def _decide(page: Any, action_label: str, note: str) -> None:
    page.get_by_label(action_label).check()
    page.get_by_label("Note (required)").fill(note)
    page.get_by_label("Note (required)").press("Tab")  # the submit button follows the note
    assert page.evaluate("document.activeElement.id") == "decide-submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("#decision")


def test_browser_review_flow(sync_playwright: Any, server: Server) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    reviewer = {"Authorization": f"Bearer {server.keys['reviewer']}"}
    settlement_of = {
        p["post_id"]: s["settlement_id"] for s in server.settlements.values() for p in s["posts"]
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            first = browser.new_context().new_page()
            _sign_in(first, server.base, server.keys["reviewer"])
            first.goto(f"{server.base}/review/queue?kind=post")
            rows = first.locator("#queue tbody tr[data-case-id]")
            assert rows.count() >= 3
            first.screenshot(path=str(ARTIFACTS / "review-queue.png"), full_page=True)
            links = [rows.nth(i).locator("a").first.get_attribute("href") for i in range(3)]
            posts = [rows.nth(i).locator("a").first.inner_text() for i in range(3)]

            first.goto(f"{server.base}{links[0]}")
            first.locator("#claim-submit").click()
            first.locator("#held-by-you").wait_for(state="visible")  # the claim reloads the page
            assert first.locator("#timeline-chart rect.bar-organic").count() > 0
            assert first.locator("#timeline-chart polyline.baseline").count() == 1
            assert first.locator("#group-graph circle.node-account").count() > 0
            assert first.locator("#group-graph rect.node-case").count() == 1
            first.screenshot(path=str(ARTIFACTS / "review-case.png"), full_page=True)
            _decide(first, "Confirm fraud (keep withholding)", "bought likes: lockstep with 20 accounts")

            first.goto(f"{server.base}{links[1]}")
            _decide(first, "Clear (release the held money)", "fan club right after publication")
            assert "clear" in first.locator("#decision").inner_text()

            first.goto(f"{server.base}{links[2]}")
            first.locator("#claim-submit").click()
            first.locator("#held-by-you").wait_for(state="visible")  # the claim reloads the page
            _refused_while_claimed(browser, server, links[2])
        finally:
            browser.close()

    with httpx.Client(base_url=server.base, timeout=60) as client:
        released, reviewed = [], []
        for sid in sorted({settlement_of[p] for p in posts}):
            adjustments = client.get(f"/v1/settlements/{sid}/adjustments", headers=reviewer).json()
            released += [(a["kind"], a["post_id"]) for a in adjustments]
            trail = client.get("/v1/audit", params={"target": sid}, headers=reviewer).json()
            reviewed += [
                (r["action"], r["detail"]["post_id"])
                for r in trail
                if r["action"].startswith("review.") and r["action"] != "review.policy_default"
            ]
        assert released == [("release", posts[1])]
        assert sorted(reviewed) == sorted([("review.confirm_fraud", posts[0]), ("review.clear", posts[1])])
    assert (ARTIFACTS / "review-queue.png").stat().st_size > 0
    assert (ARTIFACTS / "review-case.png").stat().st_size > 0


def _refused_while_claimed(browser: Any, server: Server, link: str) -> None:
    """An admin sees the case claimed by the reviewer, gets no decide form, and a bulk clear skips it."""
    second = browser.new_context().new_page()
    _sign_in(second, server.base, server.keys["admin"])
    second.goto(f"{server.base}{link}")
    assert "claimed by e2e reviewer" in second.locator("#held-by").inner_text()
    assert second.locator("#decide-form").count() == 0
    second.goto(f"{server.base}/review/queue")
    second.locator(f"#queue tr[data-case-id='{link.rsplit('/', 1)[-1]}'] input[type=checkbox]").check()
    second.get_by_label("Action", exact=True).select_option("clear")
    second.locator("#bulk-note").fill("taking it over")
    second.get_by_role("button", name="Apply to selected").click()
    assert "skipped: held by e2e reviewer" in second.locator("section[role=status]").inner_text()
    second.screenshot(path=str(ARTIFACTS / "review-refused.png"), full_page=True)


def _launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _decide_by_keyboard(page: Any, action_id: str, note: str) -> None:
    """Choose an action and write the note with the keyboard only, then submit with Enter."""
    page.locator(f"#{action_id}").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")  # past the other choices to the note: radios are one tab stop
    while page.evaluate("document.activeElement.id") != "note":
        page.keyboard.press("Tab")
    page.keyboard.type(note)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "decide-submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("#decision")


def _first_case(page: Any, base: str, query: str) -> str:
    page.goto(f"{base}/review/queue?{query}")
    href = page.locator("#queue tbody tr[data-case-id] a").first.get_attribute("href")
    assert href
    return str(href)


def test_browser_creator_release_claim_next_case_and_keyboard(sync_playwright: Any, server: Server) -> None:
    reviewer = {"Authorization": f"Bearer {server.keys['reviewer']}"}
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_context().new_page()
            _sign_in(page, server.base, server.keys["reviewer"])
            link = _first_case(page, server.base, "kind=creator")
            page.goto(f"{server.base}{link}")
            creator = page.locator("h1").inner_text().split()[1]
            assert page.locator("#decide-form input[type=radio]:checked").count() == 0  # nothing preselected
            effect = page.locator("#clear-effect").inner_text()
            with page.expect_download() as download:
                page.locator("#pack-pdf").click()
            pdf = PdfReader(download.value.path())
            pack_text = "".join(p.extract_text() for p in pdf.pages)
            page.locator("#claim-submit").click()
            page.locator("#held-by-you").wait_for(state="visible")  # the claim reloads the page
            _decide_by_keyboard(page, "action-clear", "the brand accepted the creator's explanation")
            assert "clear" in page.locator("#decision").inner_text()
            assert page.evaluate("document.activeElement.id") == "next-case"
            page.keyboard.press("Enter")
            page.wait_for_url(lambda url: "/review/cases/" in url and link not in url)
            assert page.locator("#decide-form").count() == 1
        finally:
            browser.close()
    settlement = next(
        s for s in server.settlements.values() if any(p["creator_id"] == creator for p in s["posts"])
    )
    withheld = sum(Decimal(p["withheld_amount"]) for p in settlement["posts"] if p["creator_id"] == creator)
    held = sum(Decimal(p["held_amount"]) for p in settlement["posts"] if p["creator_id"] == creator)
    assert withheld > 0 and f"pays {withheld + held}" in effect
    assert settlement["settlement_id"] in pack_text and f"Withheld {withheld}" in pack_text
    with httpx.Client(base_url=server.base, timeout=60) as client:
        adjustments = client.get(
            f"/v1/settlements/{settlement['settlement_id']}/adjustments", headers=reviewer
        )
    paid = [a for a in adjustments.json() if a["kind"] == "release_withheld"]
    assert sum(Decimal(a["amount"]) for a in paid) == withheld


def test_browser_group_confirm_labels_every_member(sync_playwright: Any, server: Server) -> None:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_context().new_page()
            _sign_in(page, server.base, server.keys["reviewer"])
            link = _first_case(page, server.base, "kind=group")
            page.goto(f"{server.base}{link}")
            page.locator("#claim-submit").click()
            members = page.locator("#members tbody tr[data-account-id]")
            accounts = [members.nth(i).get_attribute("data-account-id") for i in range(members.count())]
            assert len(accounts) >= 2
            page.locator("#except-1").check()
            page.get_by_label("Confirm fraud (keep what is withheld and held)").check()
            page.get_by_label("Note (required)").fill("one seller's pool; the first account is a real fan")
            page.locator("#decide-submit").click()
            page.wait_for_selector("#decision")
        finally:
            browser.close()
    labels = load_labels(ServiceConfig(home=server.home))
    assert dict(zip(labels["account_id"], labels["label"], strict=True)) == {
        a: 0 if i == 0 else 1 for i, a in enumerate(accounts)
    }


def test_browser_expired_session_returns_to_the_case(sync_playwright: Any, server: Server) -> None:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_context().new_page()
            _sign_in(page, server.base, server.keys["reviewer"])
            link = _first_case(page, server.base, "kind=post")
            page.goto(f"{server.base}{link}")
            engine = make_engine(ServiceConfig(home=server.home).resolved_database_url)
            try:
                with engine.begin() as connection:
                    connection.execute(
                        update(ReviewSession).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
                    )
            finally:
                engine.dispose()
            page.get_by_label("Clear (release the held money)").check()
            page.get_by_label("Note (required)").fill("organic")
            page.locator("#decide-submit").click()
            page.wait_for_url(lambda url: "/review/sign-in" in url)
            assert link in page.locator("#return-to").inner_text()
            _sign_in(page, server.base, server.keys["reviewer"], then=link)
            assert page.locator("#decide-form").count() == 1
        finally:
            browser.close()


@pytest.mark.parametrize("width", [1440, 1024, 390])
def test_browser_pages_fit_the_screen(
    sync_playwright: Any, server: Server, width: int, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        try:
            page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
            _sign_in(page, server.base, server.keys["reviewer"])
            pages = {"queue": "/review/queue"}
            for kind in ("post", "creator", "group", "account"):
                pages[kind] = _first_case(page, server.base, f"kind={kind}")
            pages["missing"] = "/review/no-such-page"
            for name, url in pages.items():
                page.goto(f"{server.base}{url}")
                page.screenshot(path=str(tmp_path / f"review-{name}-{width}.png"), full_page=True)
                overflow = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px"
            assert "no page" in page.locator("#error-message").inner_text()
        finally:
            browser.close()
