"""Who may see and do what in the gallery, for every page, fragment, action and media URL.

Five people: the owner of two runs (one private, one shared with team Studio), a teammate, a
reviewer of Studio, an outsider and a staff member who is not in Studio. Private means private,
for staff too: a run someone may not see is a 404 everywhere, never a 403 that confirms it exists.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from playground.accounts.models import Membership, Team
from playground.gallery.models import Comment, Rating, RunTag, Tag
from playground.jobs.models import Image, Run
from tests.conftest import png_bytes

PEOPLE = ["owner", "teammate", "reviewer", "outsider", "staff"]
SEES = {
    "private": {"owner"},
    "shared": {"owner", "teammate", "reviewer"},
}


@pytest.fixture
def world(db, provider):
    users = {}
    make = get_user_model().objects.create_user  # no password: force_login, and no slow hashing
    users["owner"] = make("alice")
    users["teammate"] = make("tom")
    users["reviewer"] = make("rita")
    users["outsider"] = make("mallory")
    users["staff"] = make("stella", is_staff=True, is_superuser=True)
    team = Team.objects.create(name="Studio")
    Membership.objects.create(team=team, user=users["owner"])
    Membership.objects.create(team=team, user=users["teammate"])
    Membership.objects.create(team=team, user=users["reviewer"], role=Membership.Role.REVIEWER)
    runs = {}
    for name, run_team in (("private", None), ("shared", team)):
        run = Run.objects.create(
            owner=users["owner"],
            team=run_team,
            provider=provider,
            provider_name=provider.name,
            model="gpt-image-1",
            prompt=f"the {name} fox",
            status=Run.Status.SUCCEEDED,
            params={"model": "gpt-image-1", "prompt": f"the {name} fox", "n": 1},
        )
        Image.store(run, 0, png_bytes(), image_format="PNG", width=64, height=48)
        RunTag.objects.create(run=run, tag=Tag.objects.get_or_create(name="fox")[0])
        Comment.objects.create(run=run, author=users["owner"], body=f"{name} note")
        runs[name] = run
    return {"users": users, "runs": runs, "team": team}


def get_urls(run: Run) -> dict[str, str]:
    image = run.images.get()
    return {
        "run page": reverse("gallery:run", args=[run.pk]),
        "lightbox page": reverse("gallery:view", args=[image.pk]),
        "original": reverse("gallery:image", args=[image.pk]),
        "download": reverse("gallery:image", args=[image.pk]) + "?download=1",
        "thumbnail": reverse("gallery:thumb", args=[image.pk]),
        "review fragment": reverse("gallery:review_panel", args=[run.pk]),
        "run card fragment": reverse("jobs:card", args=[run.pk]),
        "compare": f"{reverse('gallery:compare')}?run={run.pk}&image={image.pk}",
        "export selection": f"{reverse('gallery:export')}?run={run.pk}",
        "export image": f"{reverse('gallery:export')}?image={image.pk}",
        "use these settings": f"{reverse('studio:generate')}?from={run.pk}",
    }


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("which", ["private", "shared"])
def test_it_shows_pages_fragments_and_media_only_to_who_may_see_them(client, world, person, which):
    client.force_login(world["users"][person])
    run = world["runs"][which]
    sees = person in SEES[which]
    for name, url in get_urls(run).items():
        response = client.get(url)
        if sees:
            assert response.status_code in (200, 286), (name, response.status_code)
        else:
            assert response.status_code == 404, (name, response.status_code)
    lightbox = client.get(get_urls(run)["lightbox page"], headers={"HX-Request": "true"})
    assert lightbox.status_code == (200 if sees else 404)
    gallery = client.get(reverse("gallery:index")).content.decode()
    assert (f"the {which} fox" in gallery) == sees
    # The view export (no selection) holds only what the person may see.
    names = b"".join(client.get(reverse("gallery:export")).streaming_content)
    assert (str(run.pk)[:8].encode() in names) == sees


def post_urls(world, run: Run) -> dict[str, tuple[str, dict]]:
    tag = run.tags.get()
    comment = run.comments.get()
    return {
        "rate": (reverse("gallery:rate", args=[run.pk]), {"stars": "4"}),
        "favourite": (reverse("gallery:favourite", args=[run.pk]), {"favourite": "1"}),
        "add tag": (reverse("gallery:add_tag", args=[run.pk]), {"name": "new"}),
        "remove tag": (reverse("gallery:remove_tag", args=[run.pk, tag.pk]), {}),
        "comment": (reverse("gallery:add_comment", args=[run.pk]), {"body": "hello"}),
        "delete comment": (reverse("gallery:delete_comment", args=[run.pk, comment.pk]), {}),
        "approve": (reverse("gallery:set_review", args=[run.pk]), {"state": "approved"}),
        "visibility": (reverse("gallery:visibility", args=[run.pk]), {"team": ""}),
        "re-run": (reverse("gallery:rerun", args=[run.pk]), {}),
        "delete page": (reverse("gallery:delete", args=[run.pk]), None),
        "delete": (reverse("gallery:delete", args=[run.pk]), {}),
    }


def expected_status(person: str, which: str, action: str) -> int:
    if person not in SEES[which]:
        return 404
    allowed = {
        "approve": person == "reviewer" and which == "shared",
        "visibility": person == "owner",
        "delete page": person in ("owner", "staff"),
        "delete": person in ("owner", "staff"),
        # The comment was written by the owner: only its author (or staff) deletes it.
        "delete comment": person in ("owner", "staff"),
    }.get(action, True)
    if not allowed:
        return 403
    return {"delete": 302, "visibility": 302}.get(action, 200)


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("which", ["private", "shared"])
def test_it_allows_each_action_only_to_who_may_do_it(client, world, person, which):
    client.force_login(world["users"][person])
    run = world["runs"][which]
    for action, (url, data) in post_urls(world, run).items():
        if data is None:
            response = client.get(url)
        else:
            response = client.post(url, data, headers={"HX-Request": "true"})
        assert response.status_code == expected_status(person, which, action), action
    if person in SEES[which]:
        assert Rating.objects.filter(run=run, user=world["users"][person]).exists() == (
            person != "owner"  # the owner deleted the run as the last action
        )
    else:
        assert not Run.objects.get(pk=run.pk).ratings.exists()
        assert not Comment.objects.filter(body="hello").exists()


def test_it_lets_staff_delete_what_they_can_see_but_never_see_private_runs(client, world):
    staff = world["users"]["staff"]
    Membership.objects.create(team=world["team"], user=staff)
    client.force_login(staff)
    private, shared = world["runs"]["private"], world["runs"]["shared"]
    assert client.get(reverse("gallery:run", args=[private.pk])).status_code == 404
    assert client.post(reverse("gallery:delete", args=[private.pk])).status_code == 404
    assert client.post(reverse("gallery:delete", args=[shared.pk])).status_code == 302
    assert not Run.objects.filter(pk=shared.pk).exists()
    assert Run.objects.filter(pk=private.pk).exists()


def test_it_requires_login_everywhere(client, world):
    run = world["runs"]["shared"]
    urls = [*get_urls(run).values(), reverse("gallery:index"), reverse("gallery:settings")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url
    for url, data in post_urls(world, run).values():
        response = client.post(url, data or {})
        assert response.status_code == 302 and "/login/" in response["Location"], url


@pytest.mark.parametrize("name", ["rate", "favourite", "add_tag", "add_comment", "set_review"])
def test_it_refuses_get_on_actions(client, world, name):
    client.force_login(world["users"]["owner"])
    url = reverse(f"gallery:{name}", args=[world["runs"]["shared"].pk])
    assert client.get(url).status_code == 405


def test_it_404s_malformed_and_unknown_ids(client, world):
    client.force_login(world["users"]["owner"])
    assert client.get(reverse("gallery:compare") + "?run=nope&run=1").status_code == 404
    assert client.get(reverse("gallery:export") + "?image=nope").status_code == 404
    unknown = "00000000-0000-0000-0000-000000000000"
    assert client.get(reverse("gallery:export") + f"?run={unknown}").status_code == 404
    assert client.get(reverse("gallery:view", args=[unknown])).status_code == 404
