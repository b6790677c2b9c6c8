"""Playwright driving Debian's Chromium through the whole generate flow."""

from __future__ import annotations

import pytest

from playground.providers.models import Provider

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def demo(transactional_db, fake):
    return Provider.objects.create(
        name="Demo", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )


def log_in(page, live_server, django_user_model):
    django_user_model.objects.create_user("dora", password="dora-pass-123")
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("dora-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


def test_it_generates_two_images_and_lists_the_run(
    page, live_server, demo, django_user_model, tmp_path
):
    log_in(page, live_server, django_user_model)
    page.get_by_label("Provider").select_option(label="Demo")
    page.get_by_label("Model (model)").fill("gpt-image-1")
    page.get_by_label("Prompt (prompt)").fill("a lighthouse at dusk, watercolour")
    page.get_by_label("Number of images (n)").fill("2")
    page.get_by_role("button", name="Generate").click()

    card = page.locator("#results .run-card").first
    card.locator(".badge").wait_for()
    page.locator('#results .run-card[data-status="succeeded"]').wait_for()
    thumbs = card.locator(".thumbs img")
    assert thumbs.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('#results .thumbs img')]"
        ".every(i => i.naturalWidth > 0)"
    )
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)

    page.get_by_role("link", name="Gallery").click()
    tile = page.locator(".tile").first
    assert "a lighthouse at dusk" in tile.inner_text()
    # The thumbnail opens the lightbox; the prompt leads to the run's page.
    tile.locator(".prompt a").click()
    page.get_by_role("heading", name="Images").wait_for()
    assert page.locator(".full-images img").count() == 2
    assert "gpt-image-1" in page.locator(".facts").first.inner_text()


def test_it_keeps_the_form_and_shows_errors_by_the_field(
    page, live_server, demo, django_user_model
):
    log_in(page, live_server, django_user_model)
    page.get_by_label("Prompt (prompt)").fill("keep me")
    page.get_by_label("Number of images (n)").fill("11")
    page.get_by_role("button", name="Generate").click()
    error = page.locator('.field[data-param="n"] .errors')
    error.wait_for()
    assert "less than or equal to 10" in error.inner_text()
    assert page.get_by_label("Prompt (prompt)").input_value() == "keep me"


def test_it_works_at_phone_width(browser, live_server, demo, django_user_model):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, live_server, django_user_model)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    assert page.get_by_role("button", name="Generate").is_visible()
    context.close()
