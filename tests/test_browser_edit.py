"""Playwright driving Debian's Chromium through editing: pick a gallery image, paint a mask, send.

Set PLAYGROUND_UPDATE_SCREENSHOTS=1 to refresh docs/screenshot-edit.png from this test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakegateway.images import render
from playground.jobs.models import Image, Run
from playground.providers.models import Provider
from tests.test_edit_form import image_bytes, mask_bytes

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDTH, HEIGHT = 768, 512

MASK_PIXELS = """async () => {
  const file = document.querySelector('input[name=mask_painted]').files[0];
  if (!file) return null;
  const bitmap = await createImageBitmap(file);
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const alpha = (x, y) => ctx.getImageData(x, y, 1, 1).data[3];
  return {
    name: file.name, type: file.type, width: bitmap.width, height: bitmap.height,
    centre: alpha(bitmap.width / 2, bitmap.height / 2), corner: alpha(4, 4),
  };
}"""


def log_in(page, live_server, django_user_model) -> None:
    django_user_model.objects.create_user("dora", password="dora-pass-123")
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("dora")
    page.get_by_label("Password").fill("dora-pass-123")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(live_server.url + "/")


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def providers(transactional_db, fake):
    json_mode = Provider.objects.create(
        name="Demo", base_url=fake.base_url("openai"), requires_key=False, is_local=True
    )
    multipart = Provider.objects.create(
        name="Demo multipart",
        base_url=fake.base_url("openai"),
        requires_key=False,
        is_local=True,
        edit_mode="multipart",
    )
    return {"json_images": json_mode, "multipart": multipart}


def gallery_image(user, provider) -> Image:
    prompt = "a lighthouse on a cliff at dusk"
    run = Run.objects.create(
        owner=user,
        provider=provider,
        provider_name=provider.name,
        model="gpt-image-1",
        prompt=prompt,
        params={},
        status="succeeded",
    )
    data = render(prompt, 0, WIDTH, HEIGHT)
    return Image.store(run, 0, data, image_format="PNG", width=WIDTH, height=HEIGHT)


def stroke(page, y_fraction: float = 0.5, x_from: float = 0.3, x_to: float = 0.7) -> None:
    canvas = page.locator("#painter-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    y = box["y"] + box["height"] * y_fraction
    page.mouse.move(box["x"] + box["width"] * x_from, y)
    page.mouse.down()
    for step in range(1, 11):
        x = x_from + (x_to - x_from) * step / 10
        page.mouse.move(box["x"] + box["width"] * x, y)
    page.mouse.up()


def exported(page) -> int:
    return int(page.get_attribute("#mask-painter", "data-exported") or 0)


def exporting(page, action) -> dict | None:
    """Do `action` and wait for the painter to export the mask again; return its pixels."""
    before = exported(page)
    action()
    page.wait_for_function(
        f"() => +(document.getElementById('mask-painter').dataset.exported || 0) > {before}"
    )
    return page.evaluate(MASK_PIXELS)


def pick_and_paint(page, live_server, image: Image) -> None:
    page.goto(live_server.url + "/edit/")
    page.locator(f'input[name=gallery][value="{image.pk}"]').check()
    page.locator("#painter-stage").wait_for()
    status = page.locator("#painter-status")
    assert f"({WIDTH}×{HEIGHT})" in status.inner_text()
    page.get_by_label("Brush size").fill("60")
    mask = exporting(page, lambda: stroke(page))
    assert mask == {
        "name": "painted-mask.png",
        "type": "image/png",
        "width": WIDTH,
        "height": HEIGHT,
        "centre": 0,
        "corner": 255,
    }
    assert "will be sent as a 768×512 PNG" in status.inner_text()


@pytest.mark.parametrize(
    ("mode", "recorded_mode", "field"),
    [("json_images", "json", "images"), ("multipart", "multipart", "image[]")],
)
def test_it_edits_a_gallery_image_with_a_painted_mask(
    page, live_server, providers, fake, django_user_model, tmp_path, mode, recorded_mode, field
):
    log_in(page, live_server, django_user_model)
    user = django_user_model.objects.get(username="dora")
    image = gallery_image(user, providers[mode])
    pick_and_paint(page, live_server, image)
    page.get_by_label("Provider").select_option(label=providers[mode].name)
    page.get_by_label("Model (model)").fill("gpt-image-1")
    page.get_by_label("Prompt (prompt)").fill("a red hot-air balloon over the sea")
    shot = tmp_path / f"edit-{mode}.png"
    page.screenshot(path=str(shot), full_page=True)
    if mode == "json_images" and os.environ.get("PLAYGROUND_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(DOCS / "screenshot-edit.png"), full_page=False)
    page.get_by_role("button", name="Edit", exact=True).click()

    page.wait_for_url("**/runs/**")
    page.locator('.run-card[data-status="succeeded"]').wait_for()
    run = Run.objects.get(kind="edit")
    assert run.status == "succeeded", run.error_message
    side = page.locator(".run-inputs")
    assert side.locator("img").count() == 2  # the reference and the mask
    assert "painted" in side.inner_text() and "768x512" in side.inner_text()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.run-inputs img, .full-images img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )

    edits = [r for r in fake.app.requests if r["path"].endswith("/images/edits")]
    assert len(edits) == 1
    edit = edits[0]["edit"]
    assert (edit["mode"], edit["image_field"], edit["image_count"]) == (recorded_mode, field, 1)
    assert edit["image_sizes"] == [f"{WIDTH}x{HEIGHT}"]
    assert edit["mask"] is True and edit["mask_size"] == f"{WIDTH}x{HEIGHT}"
    assert run.mask_input.source == "painted" and run.reference_inputs[0].picked_from == image.pk


def test_it_paints_erases_inverts_and_clears(page, live_server, providers, django_user_model):
    log_in(page, live_server, django_user_model)
    image = gallery_image(django_user_model.objects.get(username="dora"), providers["json_images"])
    pick_and_paint(page, live_server, image)
    inverted = exporting(page, page.get_by_role("button", name="Invert").click)
    assert (inverted["centre"], inverted["corner"]) == (255, 0)
    exporting(page, page.get_by_role("button", name="Invert").click)
    page.get_by_label("Eraser").check()
    page.get_by_label("Brush size").fill("200")
    erased = exporting(page, lambda: stroke(page, x_from=0.45, x_to=0.55))
    assert (erased["centre"], erased["corner"]) == (255, 255)
    # Preview: the mask as it will be sent instead of the overlay.
    page.get_by_label("Overlay on the image").uncheck()
    assert page.locator("#painter-preview").is_visible()
    assert not page.locator("#painter-base").is_visible()
    page.get_by_label("Overlay on the image").check()
    # Nothing painted: no mask is sent.
    assert exporting(page, page.get_by_role("button", name="Clear").click) is None


def test_it_keeps_a_painted_mask_and_the_picks_when_the_form_has_an_error(
    page, live_server, providers, fake, django_user_model
):
    log_in(page, live_server, django_user_model)
    image = gallery_image(django_user_model.objects.get(username="dora"), providers["json_images"])
    pick_and_paint(page, live_server, image)
    page.get_by_label("Prompt (prompt)").fill("keep all of this")
    page.get_by_label("Number of images (n)").fill("11")
    page.get_by_role("button", name="Edit", exact=True).click()

    page.locator('.field[data-param="n"] .errors').wait_for()
    assert page.get_by_label("Prompt (prompt)").input_value() == "keep all of this"
    assert page.locator(".chosen input[name=references]:checked").count() == 1
    assert page.get_by_label("Keep this mask").is_checked()
    page.wait_for_function(
        "() => /kept mask/.test(document.getElementById('painter-status').textContent)"
    )
    page.get_by_label("Number of images (n)").fill("1")
    page.get_by_role("button", name="Edit", exact=True).click()
    page.locator('.run-card[data-status="succeeded"]').wait_for()
    edit = [r for r in fake.app.requests if r["path"].endswith("/images/edits")][0]["edit"]
    assert edit["image_sizes"] == [f"{WIDTH}x{HEIGHT}"] and edit["mask_size"] == f"{WIDTH}x{HEIGHT}"


def test_the_edit_page_works_at_phone_width(
    browser,
    live_server,
    providers,
    django_user_model,
    tmp_path,
):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    log_in(page, live_server, django_user_model)
    image = gallery_image(django_user_model.objects.get(username="dora"), providers["json_images"])
    page.goto(live_server.url + f"/edit/?image={image.pk}")
    page.locator("#painter-stage").wait_for()
    assert exporting(page, lambda: stroke(page))["centre"] == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(tmp_path / "edit-phone.png"), full_page=True)
    assert page.get_by_role("button", name="Edit", exact=True).is_visible()
    context.close()


def test_it_edits_without_javascript(
    browser,
    live_server,
    providers,
    fake,
    django_user_model,
    tmp_path,
):
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    log_in(page, live_server, django_user_model)
    page.goto(live_server.url + "/edit/")
    assert not page.locator("#mask-painter").is_visible()  # painting needs JavaScript
    reference, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    reference.write_bytes(image_bytes((64, 48)))
    mask.write_bytes(mask_bytes((64, 48)))
    page.get_by_label("Prompt (prompt)").fill("no script needed")
    page.get_by_label("Upload references (image)").set_input_files(str(reference))
    page.get_by_label("Upload a mask (mask)").set_input_files(str(mask))
    page.get_by_role("button", name="Edit", exact=True).click()
    page.wait_for_url("**/runs/**")
    run = Run.objects.get(kind="edit")
    assert [i.source for i in run.reference_inputs] == ["upload"]
    assert run.mask_input.size_label == "64x48"
    context.close()


def test_it_stops_pasted_data_urls_too_large_to_send_as_text(
    page, live_server, providers, django_user_model
):
    log_in(page, live_server, django_user_model)
    page.goto(live_server.url + "/edit/")
    limit = int(page.get_attribute("#edit-form", "data-max-text"))
    assert limit == 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    # Megabytes of text make headless Chromium crawl; the same check with a smaller limit.
    page.evaluate("document.getElementById('edit-form').dataset.maxText = '1000'")
    page.get_by_label("Reference URLs (image), one per line").fill(
        "data:image/png;base64," + "A" * 2000
    )
    page.get_by_role("button", name="Edit", exact=True).click()
    assert page.locator("#text-too-large").is_visible()
    assert page.url == live_server.url + "/edit/" and not Run.objects.exists()
