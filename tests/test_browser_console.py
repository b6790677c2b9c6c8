"""Playwright: a staff member adds a provider, a team key and a limit, then reads the usage page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from playground.accounts.models import Team
from playground.jobs.models import Run
from playground.providers.models import ApiKey

pytestmark = pytest.mark.browser

# A fake key (split so secret scanners do not take it for a real one).
TEAM_SECRET = "sk-" + "browser-team-5f4e3d2c1b0a99887766"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots go: $CONSOLE_SCREENSHOTS to keep them, else the test's temp dir."""
    folder = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def new_page(browser, viewport=None):
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    return page


def log_in(page, live_server, username: str, password: str) -> None:
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


def test_it_lets_staff_add_a_provider_team_key_and_limit_and_read_usage(
    browser, live_server, transactional_db, fake, django_user_model, shots
):
    django_user_model.objects.create_user(
        "stella", password="stella-pass-123", is_staff=True, is_superuser=True
    )
    django_user_model.objects.create_user("dora", password="dora-pass-123")
    staff = new_page(browser)
    log_in(staff, live_server, "stella", "stella-pass-123")
    staff.get_by_role("link", name="Console").click()
    staff.get_by_role("heading", name="Console").wait_for()

    # A provider, pointing at the fake gateway.
    staff.get_by_role("navigation", name="Console").get_by_role("link", name="Providers").click()
    staff.get_by_role("link", name="Add a provider").click()
    staff.get_by_label("Name").fill("Fake gateway")
    staff.get_by_label("Base URL").fill(fake.url)  # without /v1: normalised
    staff.get_by_label("Timeout (seconds)").fill("60")
    staff.get_by_label("Runs on this machine").check()
    staff.get_by_role("button", name="Add provider").click()
    row = staff.locator("tr", has_text="Fake gateway")
    assert f"{fake.url}/v1" in row.inner_text()

    # A team with a member, and a key for the team.
    staff.get_by_role("navigation", name="Console").get_by_role("link", name="Teams").click()
    staff.get_by_label("Team name").fill("Design")
    staff.get_by_role("button", name="Create team").click()
    staff.get_by_label("Username").fill("dora")
    staff.get_by_role("button", name="Add member").click()
    assert "dora" in staff.locator("table").first.inner_text()
    staff.get_by_role("link", name="Add a team key").click()
    assert staff.get_by_label("Owner").input_value().startswith("team:")
    staff.get_by_label("Provider").select_option(label="Fake gateway")
    staff.get_by_label("Label (optional)").fill("studio budget")
    staff.get_by_label("API key").fill(TEAM_SECRET)
    staff.get_by_role("button", name="Save key").click()
    staff.get_by_role("heading", name="Fake gateway key").wait_for()
    assert "sk-…7766" in staff.locator("h1").inner_text()
    assert TEAM_SECRET not in staff.content()

    # A limit for the team: three images a day.
    staff.get_by_role("navigation", name="Console").get_by_role("link", name="Limits").click()
    staff.get_by_label("Applies to").select_option(label="Team Design")
    staff.get_by_label("Images per day").fill("3")
    staff.get_by_role("button", name="Save limit").click()
    assert "0 of 3 used today" in staff.locator("tr", has_text="Team Design").inner_text()

    # The member generates with the team key; the second request would pass the limit.
    member = new_page(browser)
    log_in(member, live_server, "dora", "dora-pass-123")
    member.get_by_label("Provider").select_option(label="Fake gateway")
    member.get_by_label("Model (model)").fill("gpt-image-1")
    member.get_by_label("Prompt (prompt)").fill("a red kite over the hills")
    member.get_by_label("Number of images (n)").fill("2")
    member.get_by_role("button", name="Generate").click()
    member.locator('#results .run-card[data-status="succeeded"]').wait_for()
    member.get_by_role("button", name="Generate").click()
    error = member.locator('.field[data-param="n"] .errors')
    error.wait_for()
    assert "Daily image limit reached: team Design may request 3 images a day" in error.inner_text()
    assert member.get_by_label("Prompt (prompt)").input_value() == "a red kite over the hills"
    error.scroll_into_view_if_needed()
    member.screenshot(path=str(shots / "generate-refused-1280.png"))
    assert Run.objects.count() == 1
    assert TEAM_SECRET not in member.content() and "7766" not in member.content()

    # The usage page shows what the fake gateway produced.
    staff.get_by_role("navigation", name="Console").get_by_role("link", name="Usage").click()
    totals = staff.locator("#usage-totals tbody tr").first
    cells = totals.locator("td").all_inner_texts()
    assert cells == ["Fake gateway", "1", "2", "0", cells[4], "10,000"]
    assert int(cells[4].replace(",", "")) == Run.objects.get().usage["total_tokens"]
    assert staff.locator("svg.chart rect.series-0").count() == 1
    staff.get_by_label("Per", exact=True).select_option(label="Team")
    staff.get_by_role("button", name="Show").click()
    assert "Design" in staff.locator("#usage-totals").inner_text()

    # Every console page, at desktop and phone width, without sideways scrolling on the phone.
    phone = new_page(browser, PHONE)
    log_in(phone, live_server, "stella", "stella-pass-123")
    pages = {
        "overview": "/console/",
        "providers": "/console/providers/",
        "provider-new": "/console/providers/new",
        "keys": "/console/keys/",
        "key-new": "/console/keys/new",
        "teams": "/console/teams/",
        "limits": "/console/limits/",
        "usage": "/console/usage/",
        "audit": "/console/audit/",
        "key": f"/console/keys/{ApiKey.objects.get().pk}/",
        "team": f"/console/teams/{Team.objects.get().pk}/",
    }
    for name, path in pages.items():
        for label, page in (("1280", staff), ("390", phone)):
            page.goto(live_server.url + path)
            page.screenshot(path=str(shots / f"console-{name}-{label}.png"), full_page=True)
        overflow = phone.evaluate("document.documentElement.scrollWidth")
        assert overflow <= PHONE["width"], f"{name} scrolls sideways at 390 px ({overflow})"
    for page in (staff, member, phone):
        page.context.close()
