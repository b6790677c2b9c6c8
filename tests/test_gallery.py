"""The gallery: browsing and filters, review (ratings, tags, comments, approval, favourites),
compare, re-run, visibility, settings and delete."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from playground.accounts.models import Membership, Profile, Team
from playground.gallery.models import Comment, Favourite, Rating, Review, RunTag, Tag
from playground.jobs.models import Image, Run
from tests.conftest import png_bytes, wait_for


@pytest.fixture
def team(db):
    return Team.objects.create(name="Studio")


def member(team, username, role=Membership.Role.MEMBER):
    user = get_user_model().objects.create_user(username)
    Membership.objects.create(team=team, user=user, role=role)
    return user


@pytest.fixture
def teammate(team):
    return member(team, "tom")


@pytest.fixture
def reviewer(team):
    return member(team, "rita", Membership.Role.REVIEWER)


@pytest.fixture
def owner_in_team(owner, team):
    Membership.objects.create(team=team, user=owner)
    return owner


def make_run(owner, provider, *, team=None, prompt="a red fox", images=1, **fields) -> Run:
    fields.setdefault("status", Run.Status.SUCCEEDED)
    fields.setdefault("model", "gpt-image-1")
    params = {"n": images, "provider": provider.pk}
    params.update(fields.pop("params", {}))
    run = Run.objects.create(
        owner=owner,
        team=team,
        provider=provider,
        provider_name=provider.name,
        prompt=prompt,
        params=params,
        finished_at=timezone.now(),
        **fields,
    )
    for index in range(images):
        Image.store(
            run,
            index,
            png_bytes(color=(40 * index, 90, 200)),
            image_format="PNG",
            width=64,
            height=48,
        )
    return run


def page_text(client, **params) -> str:
    response = client.get(reverse("gallery:index"), params)
    assert response.status_code == 200
    return response.content.decode()


# ---- browse ---------------------------------------------------------------------------------


def test_it_shows_own_and_team_runs_but_not_others_private(
    client, owner_in_team, teammate, outsider, team, provider
):
    make_run(owner_in_team, provider, prompt="mine and private")
    make_run(owner_in_team, provider, team=team, prompt="shared with studio")
    make_run(teammate, provider, prompt="tom keeps this to himself")
    make_run(outsider, provider, prompt="mallory elsewhere")
    client.force_login(owner_in_team)
    text = page_text(client)
    assert "mine and private" in text and "shared with studio" in text
    assert "tom keeps this" not in text and "mallory elsewhere" not in text
    client.force_login(teammate)
    text = page_text(client)
    assert "shared with studio" in text and "mine and private" not in text


def test_it_shows_failed_and_empty_runs_honestly(owner_client, owner, provider):
    failure = {"error_kind": "limit", "error_message": "Slow down please", "error_status": 429}
    make_run(owner, provider, prompt="went wrong", images=0, status=Run.Status.FAILED, **failure)
    make_run(owner, provider, prompt="nothing came back", images=0)
    text = page_text(owner_client)
    assert "Slow down please" in text and "HTTP 429" in text
    assert "No images returned" in text


def test_it_filters_by_every_field(owner_client, owner_in_team, team, provider, reviewer):
    old = make_run(owner_in_team, provider, prompt="an old lighthouse", model="dall-e-3")
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    shared = make_run(owner_in_team, provider, team=team, prompt="a shared teapot")
    failed = make_run(
        owner_in_team,
        provider,
        prompt="failed teapot",
        images=0,
        status=Run.Status.FAILED,
        error_message="boom",
    )
    edit = make_run(owner_in_team, provider, prompt="edited teapot", kind=Run.Kind.EDIT)
    theirs = make_run(reviewer, provider, team=team, prompt="rita's teapot")
    Rating.objects.create(run=shared, user=owner_in_team, stars=5)
    Rating.objects.create(run=theirs, user=owner_in_team, stars=2)
    tag = Tag.objects.create(name="keeper")
    RunTag.objects.create(run=edit, tag=tag)
    Review.objects.create(run=shared, state=Review.State.APPROVED, decided_by=reviewer)
    Favourite.objects.create(run=failed, user=owner_in_team)
    today = timezone.localdate()

    def shown(**params) -> set[str]:
        text = page_text(owner_client, **params)
        prompts = [old, shared, failed, edit, theirs]
        return {r.prompt for r in prompts if r.prompt.replace("'", "&#x27;") in text}

    assert shown(q="TEAPOT shared") == {"a shared teapot"}
    assert shown(person=reviewer.pk) == {"rita's teapot"}
    assert shown(team=team.pk) == {"a shared teapot", "rita's teapot"}
    assert shown(team="private") == {"an old lighthouse", "failed teapot", "edited teapot"}
    assert shown(model="dall-e-3") == {"an old lighthouse"}
    assert shown(kind="edit") == {"edited teapot"}
    assert shown(status="failed") == {"failed teapot"}
    assert "an old lighthouse" not in shown(since=today.isoformat())
    assert shown(until=(today - timedelta(days=5)).isoformat()) == {"an old lighthouse"}
    assert shown(rating="4") == {"a shared teapot"}
    assert shown(rating="2") == {"a shared teapot", "rita's teapot"}
    assert "a shared teapot" not in shown(rating="unrated")
    assert shown(tag="Keeper") == {"edited teapot"}
    assert shown(review="approved") == {"a shared teapot"}
    assert "a shared teapot" not in shown(review="none")
    assert shown(favourites="on") == {"failed teapot"}
    assert shown(provider=provider.name) == {r.prompt for r in [old, shared, failed, edit, theirs]}


def test_it_sorts_by_rating_and_date(owner_client, owner, provider):
    low = make_run(owner, provider, prompt="low rated")
    high = make_run(owner, provider, prompt="high rated")
    make_run(owner, provider, prompt="never rated")
    Rating.objects.create(run=low, user=owner, stars=2)
    Rating.objects.create(run=high, user=owner, stars=5)
    text = page_text(owner_client, sort="rating")
    assert text.index("high rated") < text.index("low rated") < text.index("never rated")
    text = page_text(owner_client, sort="oldest")
    assert text.index("low rated") < text.index("high rated") < text.index("never rated")


def test_it_reports_bad_filters_by_their_field_and_keeps_the_rest(owner_client, owner, provider):
    make_run(owner, provider, prompt="a fox")
    make_run(owner, provider, prompt="a teapot")
    text = page_text(owner_client, q="fox", since="2025-05-10", until="2025-05-01", person="999")
    assert "The end date is before the start date." in text
    assert "Select a valid choice" in text
    assert "a fox" in text and "a teapot" not in text
    assert 'value="fox"' in text


def test_it_scrolls_with_htmx_and_paginates_without(owner_client, owner, provider):
    for i in range(30):
        make_run(owner, provider, prompt=f"prompt number {i:02d}", images=0)
    first = page_text(owner_client, q="prompt")
    assert "prompt number 29" in first and "prompt number 05" not in first
    # The sentinel is a plain link to the next page too, with the filters kept.
    assert 'href="?q=prompt&amp;page=2"' in first and 'hx-trigger="revealed' in first
    more = owner_client.get(
        reverse("gallery:index"), {"q": "prompt", "page": 2}, headers={"HX-Request": "true"}
    )
    fragment = more.content.decode()
    assert "prompt number 05" in fragment and "<html" not in fragment
    assert 'class="tile' in fragment and "gallery-filters" not in fragment
    # The filter form replaces the results, and the back button gets a whole page.
    results = owner_client.get(
        reverse("gallery:index"),
        {"q": "number 1"},
        headers={"HX-Request": "true", "HX-Target": "gallery-results"},
    ).content.decode()
    assert results.lstrip().startswith('<div id="gallery-results"')
    assert "prompt number 12" in results and "prompt number 29" not in results
    restore = owner_client.get(
        reverse("gallery:index"),
        {"q": "number 1"},
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    ).content.decode()
    assert "<html" in restore and 'value="number 1"' in restore


def test_it_suggests_only_tags_from_visible_runs(owner_client, owner, outsider, provider):
    RunTag.objects.create(run=make_run(owner, provider), tag=Tag.objects.create(name="mine"))
    RunTag.objects.create(run=make_run(outsider, provider), tag=Tag.objects.create(name="secret"))
    text = page_text(owner_client)
    assert '<option value="mine">' in text and "secret" not in text


# ---- lightbox and run page ------------------------------------------------------------------


def test_it_serves_the_lightbox_as_a_fragment_and_as_a_page(owner_client, owner, provider):
    run = make_run(owner, provider, prompt="two foxes", images=2)
    first, second = run.images.all()
    page = owner_client.get(reverse("gallery:view", args=[first.pk])).content.decode()
    assert "<html" in page and "Image 1 of 2" in page
    assert reverse("gallery:view", args=[second.pk]) in page  # next image without JS
    assert f"{reverse('studio:generate')}?from={run.pk}" in page and 'target="_blank"' in page
    assert f"{reverse('gallery:image', args=[first.pk])}?download=1" in page
    assert "Copy prompt" in page
    fragment = owner_client.get(
        reverse("gallery:view", args=[second.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert "<html" not in fragment and "Image 2 of 2" in fragment
    assert "review-panel" in fragment


def test_it_lists_every_image_of_a_run_for_the_lightbox(owner_client, owner, provider):
    run = make_run(owner, provider, images=3)
    text = page_text(owner_client)
    urls = " ".join(reverse("gallery:view", args=[i.pk]) for i in run.images.all())
    assert f'data-views="{urls}"' in text


# ---- review ---------------------------------------------------------------------------------


def test_it_rates_once_per_person_and_shows_average_and_count(
    client, owner_in_team, teammate, team, provider
):
    run = make_run(owner_in_team, provider, team=team)
    url = reverse("gallery:rate", args=[run.pk])
    client.force_login(owner_in_team)
    client.post(url, {"stars": "5"})
    client.post(url, {"stars": "4"})  # changes the rating, never adds a second one
    client.force_login(teammate)
    response = client.post(url, {"stars": "1"}, headers={"HX-Request": "true"})
    assert Rating.objects.filter(run=run).count() == 2
    text = response.content.decode()
    assert "★ 2.5" in text and "from 2 ratings" in text
    assert 'value="1" class="star on" aria-pressed="true"' in text
    bad = client.post(url, {"stars": "9"}, headers={"HX-Request": "true"}).content.decode()
    assert "Select a valid choice" in bad
    client.post(url, {"stars": "0"})
    assert not Rating.objects.filter(run=run, user=teammate).exists()


def test_it_keeps_favourites_personal(client, owner_in_team, teammate, team, provider):
    run = make_run(owner_in_team, provider, team=team, prompt="fav me")
    client.force_login(owner_in_team)
    response = client.post(reverse("gallery:favourite", args=[run.pk]), {"favourite": "1"})
    assert response.status_code == 302
    assert Favourite.objects.filter(run=run, user=owner_in_team).exists()
    assert "fav me" in page_text(client, favourites="on")
    client.force_login(teammate)
    assert "fav me" not in page_text(client, favourites="on")
    client.force_login(owner_in_team)
    client.post(reverse("gallery:favourite", args=[run.pk]), {"favourite": "0"})
    assert not Favourite.objects.exists()


def test_it_adds_and_removes_tags(owner_client, owner, provider):
    run = make_run(owner, provider)
    url = reverse("gallery:add_tag", args=[run.pk])
    response = owner_client.post(url, {"name": "  Hero   Shot "}, headers={"HX-Request": "true"})
    assert "hero shot" in response.content.decode()
    owner_client.post(url, {"name": "hero shot"})  # twice is once
    assert list(run.tags.values_list("name", flat=True)) == ["hero shot"]
    bad = owner_client.post(url, {"name": "<b>x</b>"}, headers={"HX-Request": "true"})
    text = bad.content.decode()
    assert "Tags use letters" in text and 'value="&lt;b&gt;x&lt;/b&gt;"' in text
    tag = Tag.objects.get(name="hero shot")
    owner_client.post(reverse("gallery:remove_tag", args=[run.pk, tag.pk]))
    assert not RunTag.objects.exists() and not Tag.objects.exists()


def test_it_renders_comments_as_escaped_plain_text(client, owner_in_team, teammate, team, provider):
    run = make_run(owner_in_team, provider, team=team)
    client.force_login(teammate)
    url = reverse("gallery:add_comment", args=[run.pk])
    response = client.post(
        url, {"body": "<script>alert(1)</script>\nsecond line"}, headers={"HX-Request": "true"}
    )
    text = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in text
    assert "<script>alert" not in text
    assert "tom" in text
    empty = client.post(url, {"body": "   "}, headers={"HX-Request": "true"}).content.decode()
    assert "This field is required." in empty
    # Without JavaScript an error comes back on the run page with what was typed.
    too_long = client.post(url, {"body": "x" * 4001})
    assert too_long.status_code == 200 and "x" * 4001 in too_long.content.decode()
    comment = Comment.objects.get()
    client.force_login(owner_in_team)
    denied = client.post(reverse("gallery:delete_comment", args=[run.pk, comment.pk]))
    assert denied.status_code == 403
    client.force_login(teammate)
    client.post(reverse("gallery:delete_comment", args=[run.pk, comment.pk]))
    assert not Comment.objects.exists()


def test_it_lets_only_the_teams_reviewers_approve(
    client, owner_in_team, teammate, reviewer, team, provider
):
    run = make_run(owner_in_team, provider, team=team)
    url = reverse("gallery:set_review", args=[run.pk])
    for user in (owner_in_team, teammate):
        client.force_login(user)
        assert client.post(url, {"state": "approved"}).status_code == 403
        assert "Approve" not in client.get(reverse("gallery:run", args=[run.pk])).content.decode()
    client.force_login(reviewer)
    response = client.post(url, {"state": "approved"}, headers={"HX-Request": "true"})
    text = response.content.decode()
    assert "Approved" in text and "by rita" in text
    review = Review.objects.get(run=run)
    assert review.state == "approved" and review.decided_by == reviewer
    client.post(url, {"state": "rejected"})
    assert Review.objects.get(run=run).state == "rejected"
    assert (
        "Select a valid choice"
        in client.post(url, {"state": "maybe"}, headers={"HX-Request": "true"}).content.decode()
    )


def test_it_does_not_review_private_runs(client, team, reviewer, provider):
    run = make_run(reviewer, provider)  # the reviewer's own, private run
    client.force_login(reviewer)
    response = client.post(reverse("gallery:set_review", args=[run.pk]), {"state": "approved"})
    assert response.status_code == 403


# ---- compare --------------------------------------------------------------------------------


def test_it_compares_runs_and_images_and_highlights_differences(owner_client, owner, provider):
    a = make_run(owner, provider, prompt="fox", params={"quality": "high", "size": "1024x1024"})
    b = make_run(
        owner, provider, prompt="fox", images=2, params={"quality": "low", "size": "1024x1024"}
    )
    second_image = b.images.get(index=1)
    response = owner_client.get(
        reverse("gallery:compare"), {"run": [str(a.pk)], "image": [str(second_image.pk)]}
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert reverse("gallery:image", args=[second_image.pk]) in text
    rows = {r.label: r for g in response.context["groups"] for r in g.rows}
    assert rows["quality"].differs and rows["quality"].values == ["high", "low"]
    assert not rows["size"].differs and not rows["Prompt"].differs
    assert '<tr class="differs">\n        <th scope="row">quality' in text
    only = owner_client.get(
        reverse("gallery:compare"), {"run": [str(a.pk), str(b.pk)], "diff": "1"}
    ).content.decode()
    assert ">quality" in only and ">size<" not in only


@pytest.mark.parametrize("count", [0, 1, 5])
def test_it_asks_for_two_to_four_items(owner_client, owner, provider, count):
    runs = [str(make_run(owner, provider).pk) for _ in range(count)]
    text = owner_client.get(reverse("gallery:compare"), {"run": runs}).content.decode()
    assert f"Pick 2 to 4 runs or images to compare; {count} picked." in text


# ---- re-run, visibility, settings, delete ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_reruns_with_the_same_parameters_as_the_current_user(
    client, owner_in_team, teammate, team, provider, owner_key
):
    params = {"quality": "low", "api_key": owner_key.pk}
    source = make_run(
        owner_in_team, provider, team=team, prompt="again please", api_key=owner_key, params=params
    )
    client.force_login(owner_in_team)
    response = client.post(reverse("gallery:rerun", args=[source.pk]))
    new = Run.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "gallery:run", args=[new.pk]
    )
    assert (new.owner, new.team, new.api_key, new.prompt) == (
        owner_in_team,
        team,
        owner_key,
        "again please",
    )
    assert new.params == source.params
    wait_for(lambda: Run.objects.get(pk=new.pk).is_finished)
    assert Run.objects.get(pk=new.pk).status == Run.Status.SUCCEEDED
    # A teammate cannot use the owner's key: with no key of their own, nothing is sent.
    client.force_login(teammate)
    refused = client.post(
        reverse("gallery:rerun", args=[source.pk]), headers={"HX-Request": "true"}
    )
    assert "You have no API key for Fake OpenAI" in refused.content.decode()
    assert Run.objects.count() == 2


def test_it_reruns_with_the_teammates_own_key(
    client, owner_in_team, teammate, team, provider, owner_key
):
    from playground.providers.models import ApiKey

    theirs = ApiKey(user=teammate, provider=provider)
    theirs.set_secret("sk-teammate-000000000000000000")
    theirs.save()
    source = make_run(
        owner_in_team, provider, team=team, api_key=owner_key, params={"api_key": owner_key.pk}
    )
    client.force_login(teammate)
    response = client.post(
        reverse("gallery:rerun", args=[source.pk]), headers={"HX-Request": "true"}
    )
    assert "Re-run started" in response.content.decode()
    new = Run.objects.exclude(pk=source.pk).get()
    assert (new.owner, new.api_key, new.team) == (teammate, theirs, team)
    assert "api_key" not in new.params


@pytest.mark.django_db(transaction=True)
def test_it_reruns_an_edit_with_its_stored_inputs(owner_client, owner, provider, owner_key):
    from playground.jobs.models import RunInput

    source = make_run(
        owner,
        provider,
        kind=Run.Kind.EDIT,
        prompt="make it blue",
        images=0,
        api_key=owner_key,
        params={"quality": "low", "n": 1},
    )
    reference = RunInput.store(
        png_bytes((64, 64)), owner=owner, source="upload", image_format="PNG", width=64, height=64
    )
    RunInput.objects.filter(pk=reference.pk).update(run=source)
    response = owner_client.post(reverse("gallery:rerun", args=[source.pk]))
    new = Run.objects.exclude(pk=source.pk).get()
    assert response["Location"] == reverse("gallery:run", args=[new.pk])
    assert new.kind == Run.Kind.EDIT and new.params == source.params
    copied = new.inputs.get()
    assert copied.pk != reference.pk and copied.file.name == reference.file.name
    finished = wait_for(lambda: Run.objects.filter(pk=new.pk, finished_at__isnull=False).first())
    assert finished.status == Run.Status.SUCCEEDED, finished.error_message
    assert finished.images.exists()


def test_it_does_not_rerun_an_edit_whose_inputs_were_not_kept(
    owner_client, owner, provider, owner_key
):
    run = make_run(owner, provider, kind=Run.Kind.EDIT)
    response = owner_client.post(reverse("gallery:rerun", args=[run.pk]), follow=True)
    assert "input images were not kept" in response.content.decode()
    assert Run.objects.count() == 1


def test_it_lets_the_owner_change_visibility(client, owner_in_team, teammate, team, provider):
    run = make_run(owner_in_team, provider, prompt="soon shared")
    other = Team.objects.create(name="Elsewhere")
    url = reverse("gallery:visibility", args=[run.pk])
    client.force_login(owner_in_team)
    response = client.post(url, {"team": other.pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    client.post(url, {"team": team.pk})
    run.refresh_from_db()
    assert run.team == team
    client.force_login(teammate)
    assert "soon shared" in page_text(client)
    assert client.post(url, {"team": ""}).status_code == 403
    client.force_login(owner_in_team)
    client.post(url, {"team": ""})
    client.force_login(teammate)
    assert client.get(reverse("gallery:run", args=[run.pk])).status_code == 404


def test_it_saves_the_default_visibility_for_new_runs(owner_client, owner_in_team, team, provider):
    response = owner_client.get(reverse("gallery:settings"))
    assert "New runs are visible to" in response.content.decode()
    response = owner_client.post(reverse("gallery:settings"), {"team": team.pk})
    assert response.status_code == 302
    assert Profile.of(owner_in_team).default_team == team
    form = owner_client.get(reverse("studio:generate")).content.decode()
    assert f'<option value="{team.pk}" selected>' in form
    other = Team.objects.create(name="Not mine")
    bad = owner_client.post(reverse("gallery:settings"), {"team": other.pk})
    assert "Select a valid choice" in bad.content.decode()
    owner_client.post(reverse("gallery:settings"), {"team": ""})
    assert Profile.of(owner_in_team).default_team is None


def test_it_deletes_after_confirmation_and_removes_the_files(
    owner_client, owner, provider, media_root
):
    run = make_run(owner, provider, images=2)
    paths = [
        Path(media_root) / name
        for i in run.images.all()
        for name in (i.file.name, i.thumbnail.name)
    ]
    RunTag.objects.create(run=run, tag=Tag.objects.create(name="bye"))
    Comment.objects.create(run=run, author=owner, body="gone soon")
    assert all(p.exists() for p in paths)
    url = reverse("gallery:delete", args=[run.pk])
    confirm = owner_client.get(url).content.decode()
    assert "Delete this run?" in confirm and "This cannot be undone." in confirm
    assert Run.objects.filter(pk=run.pk).exists()
    response = owner_client.post(url)
    assert response.status_code == 302 and response["Location"] == reverse("gallery:index")
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not Image.objects.exists() and not Comment.objects.exists()
    assert not any(p.exists() for p in paths)
    assert not paths[0].parent.exists()


def test_it_does_not_delete_a_run_in_progress(owner_client, owner, provider):
    run = make_run(owner, provider, images=0, status=Run.Status.RUNNING)
    owner_client.post(reverse("gallery:delete", args=[run.pk]))
    assert Run.objects.filter(pk=run.pk).exists()
