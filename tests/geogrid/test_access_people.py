"""geogrid.access and the stored accounts and audit trail, on SQLite and PostGIS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from geogrid.access import Principal
from geogrid.access.credentials import token_digest
from geogrid.access.personal import mask_device, mask_email, mask_name, mask_phone
from geogrid.storage import AuthenticationError, open_store
from geogrid.storage.audit import AuditQuery
from tests.storage.conftest import (  # noqa: F401 (fixtures, used by name)
    postgis_template,
    postgis_url,
    store_url,
)

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
PASSWORD = "a long enough passphrase"


def test_a_scope_covers_whole_codes_never_prefixes():
    worker = Principal("w", "grid_worker", scope=("1",))
    assert worker.covers(["1", "101"]) and not worker.covers(["12", "1201"])
    assert not worker.covers([None, ""]) and not worker.covers([])
    assert Principal("c", "commander").covers([])  # unscoped: everything


@pytest.mark.parametrize("mask", [mask_phone, mask_email, mask_name, mask_device])
def test_masks_keep_empty_values_and_never_return_the_whole_odd_input(mask):
    assert mask(None) is None and mask("") == ""
    for odd in ("x", "@", "1", "张", "++--", "a@b"):
        assert mask(odd) != odd or (len(odd) == 1 and mask is mask_name)


@pytest.fixture
def people(store_url):  # noqa: F811
    now = [NOW]
    store = open_store(store_url, clock=lambda: now[0])
    store.now = now
    yield store
    store.close()


def _stored(store, sql):
    with store.db.transaction(write=False) as tx:
        return store.db.rows(tx, sql)


def test_passwords_and_tokens_are_stored_only_as_hashes(people):
    people.accounts.add_user("li.si", "commander", password=PASSWORD, actor="t")
    token, _ = people.accounts.issue_token("li.si", days=1, actor="t")
    (user,) = _stored(people, "SELECT password_hash FROM users")
    (stored,) = _stored(people, "SELECT digest FROM api_tokens")
    assert user["password_hash"].startswith("$argon2id$") and PASSWORD not in user["password_hash"]
    assert stored["digest"] == token_digest(token) and token not in stored["digest"]


def test_tokens_expire_are_revoked_and_stop_with_their_user(people):
    people.accounts.add_user("li.si", "viewer", actor="t")
    expiring, _ = people.accounts.issue_token("li.si", days=1, actor="t")
    revoked, info = people.accounts.issue_token("li.si", days=1, actor="t")
    people.accounts.revoke_token(info.id, actor="t")
    with pytest.raises(AuthenticationError):
        people.accounts.principal_of_token(revoked)
    assert people.accounts.principal_of_token(expiring).name == "li.si"
    people.accounts.disable_user("li.si", actor="t")
    with pytest.raises(AuthenticationError):
        people.accounts.principal_of_token(expiring)
    people.accounts.enable_user("li.si", actor="t")
    people.now[0] += timedelta(days=1)
    with pytest.raises(AuthenticationError):
        people.accounts.principal_of_token(expiring)


def test_a_refused_sign_in_is_audited_with_its_client(people):
    people.accounts.add_user("li.si", "viewer", password=PASSWORD, actor="t")
    with pytest.raises(AuthenticationError):
        people.accounts.sign_in("li.si", "wrong password", client="10.1.1.1", request_id="r-1")
    (event,) = people.audit.events(AuditQuery(action="login.refused"))
    assert (event.client, event.request_id, event.after) == (
        "10.1.1.1", "r-1", {"reason": "wrong password"})  # fmt: skip


def test_audit_events_filter_by_principal_action_group_and_object(people):
    people.accounts.add_user("li.si", "viewer", actor="cli:a")
    people.accounts.add_user("wang.wu", "viewer", actor="cli:b")
    people.accounts.disable_user("li.si", actor="cli:b")
    by_b = people.audit.events(AuditQuery(principal="cli:b"))
    assert [e.action for e in by_b] == ["user.disable", "user.create"]
    users = people.audit.events(AuditQuery(action="user.", object_id="li.si"))
    assert [e.action for e in users] == ["user.disable", "user.create"]
    assert people.audit.events(AuditQuery(since=NOW + timedelta(seconds=1))) == []


def test_a_refused_known_token_is_audited_and_a_cached_one_stops_when_revoked_here(people):
    people.accounts.add_user("cache.user", "viewer", actor="test")
    token, info = people.accounts.issue_token("cache.user", days=1, actor="test")
    people.accounts.token_cache_s = 60.0
    assert people.accounts.principal_of_token(token).name == "cache.user"
    people.accounts.revoke_token(info.id, actor="test")  # in this process: at once
    with pytest.raises(AuthenticationError):
        people.accounts.principal_of_token(token, client="10.2.0.1")
    (event,) = people.audit.events(AuditQuery(action="token.refused"))
    assert (event.object_id, event.client) == (str(info.id), "10.2.0.1")
    assert event.after == {"user": "cache.user", "reason": "revoked"}


def test_a_cached_token_still_ends_at_its_expiry(people):
    people.accounts.add_user("cache.two", "viewer", actor="test")
    token, _ = people.accounts.issue_token("cache.two", days=1, actor="test")
    people.accounts.token_cache_s = 10**6
    assert people.accounts.principal_of_token(token).name == "cache.two"
    people.now[0] += timedelta(days=2)
    with pytest.raises(AuthenticationError):
        people.accounts.principal_of_token(token)
