"""Fixtures of the staff console tests (`pytest_plugins = ["tests.console_fixtures"]`)."""

from __future__ import annotations

import pytest
from django.test import Client

from playground.accounts.models import Membership, Team
from playground.providers.models import ApiKey
from tests.console_support import TEAM_SECRET


@pytest.fixture
def staff_client(staff):
    """Its own client, so a test can act as staff and as a user side by side."""
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def team(owner):
    team = Team.objects.create(name="Design")
    Membership.objects.create(team=team, user=owner)
    return team


@pytest.fixture
def team_key(team, provider):
    key = ApiKey(team=team, provider=provider, label="shared")
    key.set_secret(TEAM_SECRET)
    key.save()
    return key
