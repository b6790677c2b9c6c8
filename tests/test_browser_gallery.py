"""Playwright driving Debian's Chromium through a team review in the gallery."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from fakegateway.images import render
from playground.accounts.models import Membership, Team
from playground.gallery.models import Comment, Rating, Review, RunTag, Tag
from playground.jobs import params
from playground.jobs.models import Image, Run
from playground.providers.models import Provider

pytestmark = pytest.mark.browser

# Set to a folder to keep the screenshots (they always go to the test's tmp_path too).
SCREENSHOT_DIR = os.environ.get("PLAYGROUND_SCREENSHOT_DIR")

PROMPTS = [
    ("a lighthouse at dusk, watercolour", "keeper", "gpt-image-1", "high"),
    ("a lighthouse at dawn, watercolour", "keeper", "gpt-image-1", "low"),
    ("a teapot on a windowsill, isometric", "later", "dall-e-3", "hd"),
    ("a fox in the snow, oil painting", "", "gpt-image-1", "medium"),
]


@pytest.fixture
def team_runs(transactional_db, fake):
    """Dora reviews team Studio; four runs of hers and Tom's are shared with it, one failed."""
    provider = Provider.objects.create(
        name="Demo", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )
    make = get_user_model().objects.create_user
    dora = make("dora", password="dora-pass-123")
    tom = make("tom")
    team = Team.objects.create(name="Studio")
    Membership.objects.create(team=team, user=dora, role=Membership.Role.REVIEWER)
    Membership.objects.create(team=team, user=tom)
    runs = []
    for i, (prompt, tag, model, quality) in enumerate(PROMPTS):
        run = Run.objects.create(
            owner=dora if i % 2 == 0 else tom,
            team=team,
            provider=provider,
            provider_name=provider.name,
            model=model,
            prompt=prompt,
            status=Run.Status.SUCCEEDED,
            params={"n": 2, "quality": quality, "size": "1536x1024", "provider": provider.pk},
            usage={"total_tokens": 1100 + i},
        )
        for index in range(2):
            Image.store(
                run,
                index,
                render(prompt, index, 768, 512),
                image_format="PNG",
                width=768,
                height=512,
            )
        if tag:
            RunTag.objects.create(run=run, tag=Tag.objects.get_or_create(name=tag)[0])
        runs.append(run)
    Rating.objects.create(run=runs[3], user=tom, stars=5)
    Run.objects.create(
        owner=tom,
        team=team,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt="a castle made of clouds",
        status=Run.Status.FAILED,
        error_kind="rate_limited",
        error_status=429,
        error_message="Rate limit reached for gpt-image-1; try again in 20s.",
    )
    return {"dora": dora, "team": team, "runs": runs}


def log_in(page, live_server):
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("dora-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


def shoot(page, tmp_path, name: str) -> None:
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    page.screenshot(path=str(tmp_path / name), full_page=not name.startswith("lightbox"))
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / name, Path(SCREENSHOT_DIR) / name)


def in_lightbox(page, text: str) -> None:
    page.locator("#lightbox-body").get_by_text(text).first.wait_for()


def lightbox_text(page) -> str:
    return page.locator("#lightbox-body").inner_text()


def test_it_reviews_a_team_run_from_filter_to_export(browser, live_server, team_runs, tmp_path):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_server)
    page.get_by_role("link", name="Gallery").click()
    assert page.locator("#gallery-grid .tile").count() == 5
    assert "Rate limit reached" in page.locator(".tile.status-failed").inner_text()
    shoot(page, tmp_path, "gallery-1280.png")

    # Filter by tag: the results change in place and the URL says what is shown.
    page.locator(".filters-more summary").click()
    page.get_by_label("Tag").fill("keeper")
    page.get_by_label("Tag").press("Enter")
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .tile').length === 2")
    assert page.url.endswith("/gallery/?tag=keeper"), page.url
    assert "2 runs" in page.locator(".selection-count").inner_text()

    # The lightbox: open the first tile, then move through every image with the keyboard.
    page.locator("#gallery-grid .tile-link").first.click()
    dialog = page.locator("#lightbox")
    dialog.wait_for(state="visible")
    in_lightbox(page, "Image 1 of 2")
    assert "a lighthouse at dawn" in lightbox_text(page)  # newest first
    page.keyboard.press("ArrowRight")
    in_lightbox(page, "Image 2 of 2")
    assert page.locator(".lb-pos").inner_text() == "2 / 4"
    page.keyboard.press("ArrowRight")
    in_lightbox(page, "at dusk")
    assert "Image 1 of 2" in lightbox_text(page)
    page.keyboard.press("ArrowLeft")
    in_lightbox(page, "at dawn")
    assert page.locator(".lb-pos").inner_text() == "2 / 4"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # Review in the lightbox: rate, comment, approve.
    page.locator("#gallery-grid .tile-link").nth(1).click()
    in_lightbox(page, "at dusk")
    panel = page.locator("#lightbox-body .review-panel")
    panel.get_by_role("button", name="4 stars").click()
    page.locator("#lightbox-body .stars-avg", has_text="★ 4.0").wait_for()
    panel = page.locator("#lightbox-body .review-panel")
    panel.get_by_label("Add a comment").fill("The dusk light is right. <b>ship it</b>")
    panel.get_by_role("button", name="Comment").click()
    page.locator("#lightbox-body .comments li").wait_for()
    assert "<b>ship it</b>" in page.locator("#lightbox-body .comment-body").inner_text()
    page.locator("#lightbox-body").get_by_role("button", name="Approve").click()
    page.locator("#lightbox-body .review-summary .badge-approved").wait_for()
    shoot(page, tmp_path, "lightbox-1280.png")
    page.keyboard.press("Escape")
    dusk = team_runs["runs"][0]
    tile = page.locator(f"#tile-{dusk.pk}")
    assert "★ 4.0" in tile.inner_text() and "Approved" in tile.inner_text()

    page.goto(live_server.url + "/gallery/")
    shoot(page, tmp_path, "gallery-reviewed-1280.png")
    page.go_back()

    # Compare the two runs side by side.
    for box in page.locator("#gallery-grid .tile .pick input").all():
        box.check()
    assert "2 selected" in page.locator("#selection").inner_text()
    page.get_by_role("button", name="Compare selected").click()
    page.wait_for_url("**/gallery/compare?**")
    assert page.locator(".compare-item img").count() == 2
    differs = page.locator("tr.differs th").all_inner_texts()
    assert any(t.startswith("quality") for t in differs) and any("Prompt" in t for t in differs)
    assert not any(t.startswith("size") for t in differs)
    shoot(page, tmp_path, "compare-1280.png")
    page.goto(live_server.url + f"/runs/{dusk.pk}/")
    shoot(page, tmp_path, "run-1280.png")
    page.go_back()
    page.go_back()
    page.wait_for_url("**/gallery/?tag=keeper")

    # Export what the filter shows; the sidecars hold what the database holds.
    with page.expect_download() as download:
        page.get_by_role("link", name="Export this view (zip)").click()
    path = download.value.path()
    with zipfile.ZipFile(path) as archive:
        sidecars = {
            json.loads(archive.read(n))["id"]: json.loads(archive.read(n))
            for n in archive.namelist()
            if n.endswith("run.json")
        }
        pictures = [n for n in archive.namelist() if n.endswith(".png")]
    assert len(sidecars) == 2 and len(pictures) == 4
    for run_id, sidecar in sidecars.items():
        run = Run.objects.get(pk=run_id)
        assert sidecar["prompt"] == run.prompt and sidecar["usage"] == run.usage
        assert sidecar["parameters"] == params.shown(run)
        assert sidecar["review"]["tags"] == ["keeper"]
        ratings = [{"user": r.user.username, "stars": r.stars} for r in run.ratings.all()]
        assert sidecar["review"]["rating"]["by"] == ratings
        comments = [c.body for c in Comment.objects.filter(run=run)]
        assert [c["body"] for c in sidecar["review"]["comments"]] == comments
        review = Review.objects.filter(run=run).first()
        assert sidecar["review"]["state"] == (review.state if review else "none")
    assert sidecars[str(dusk.pk)]["review"]["state"] == "approved"
    assert sidecars[str(dusk.pk)]["review"]["rating"]["by"] == [{"user": "dora", "stars": 4}]
    context.close()


def test_it_works_at_phone_width(browser, live_server, team_runs, tmp_path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_server)
    page.goto(live_server.url + "/gallery/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, tmp_path, "gallery-390.png")
    page.locator("#gallery-grid .tile-link[data-lightbox]").first.click()
    in_lightbox(page, "Image 1 of 2")
    assert page.locator(".lb-next").is_visible() and page.locator(".lb-close").is_visible()
    assert page.evaluate("document.querySelector('#lightbox').scrollWidth") <= 390
    shoot(page, tmp_path, "lightbox-390.png")
    page.keyboard.press("Escape")
    page.locator("#lightbox").wait_for(state="hidden")
    first, second = team_runs["runs"][:2]
    for url, name in (
        (f"/gallery/compare?run={first.pk}&run={second.pk}", "compare-390.png"),
        (f"/runs/{first.pk}/", "run-390.png"),
        ("/settings/", "settings-390.png"),
    ):
        page.goto(live_server.url + url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, url
        shoot(page, tmp_path, name)
    context.close()


def test_it_scrolls_for_more_and_the_back_button_restores_the_view(
    browser, live_server, team_runs, tmp_path
):
    from playground.gallery.seed import seed_runs

    seed_runs(team_runs["dora"], 40, team=team_runs["team"], files=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_server)
    page.goto(live_server.url + "/gallery/")
    tiles = page.locator("#gallery-grid .tile")
    assert tiles.count() == 24 and "45 runs" in page.locator(".selection-count").inner_text()
    # Scrolling reveals the sentinel, which loads the next page in place: no page number needed.
    page.locator("#gallery-grid a.more").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .tile').length === 45")
    assert page.locator("#gallery-grid a.more").count() == 0
    assert page.url == live_server.url + "/gallery/"

    # The lightbox runs on past the last loaded image by loading the next page.
    page.goto(live_server.url + "/gallery/")
    page.locator("#gallery-grid .tile-link[data-lightbox]").last.click()
    in_lightbox(page, "Image 1 of 1")
    position, total = page.locator(".lb-pos").inner_text().split(" / ")
    assert position == total.rstrip("+") and total.endswith("+")  # the last loaded; more to come
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .tile').length === 45")
    page.locator(".lb-pos", has_text=f"{int(position) + 1} / ").wait_for()
    page.keyboard.press("Escape")

    # A search updates the URL; Back brings the unfiltered view (and an empty search box) back.
    page.get_by_label("Search prompts").fill("lighthouse dusk")
    page.wait_for_url("**/gallery/?q=lighthouse%20dusk")
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .tile').length === 1")
    page.go_back()
    page.wait_for_url(live_server.url + "/gallery/")
    page.wait_for_function("() => document.querySelectorAll('#gallery-grid .tile').length === 24")
    assert page.get_by_label("Search prompts").input_value() == ""
    context.close()
