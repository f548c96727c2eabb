"""Issue 16, item 9: the record. The audit log is append-only in the database,
keeps who acted after their account is gone, cannot be written in the admin;
every admin change of what steers moderation is an audit row; thresholds are
validated (0 ≤ review ≤ reject ≤ 1, empty reject = never)."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from moderation.models import AuditEvent
from moderation.selectors import audit_csv_rows, audit_search
from moderation.services.audit import audit_record

pytestmark = pytest.mark.django_db


def _refused(sql: str, params: list) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_database_refuses_to_rewrite_audit_rows(moderator):
    event = audit_record(actor=moderator, action="review.decided", target_type="upload", target_id="x")
    table = AuditEvent._meta.db_table
    # Below the ORM: what a script with the application's credentials could do.
    assert _refused(f"UPDATE {table} SET action = %s WHERE id = %s", ["upload.created", event.pk])
    assert _refused(f"UPDATE {table} SET actor_name = %s WHERE id = %s", ["someone-else", event.pk])
    assert _refused(f"UPDATE {table} SET actor_id = NULL, target_id = %s WHERE id = %s", ["y", event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(data={"forged": True})
    event.refresh_from_db()
    assert (event.action, event.actor_name, event.target_id, event.data) == ("review.decided", "mod1", "x", {})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the DELETE guard is PostgreSQL's (see migration 0010)")
def test_postgresql_refuses_to_delete_audit_rows(moderator):
    event = audit_record(actor=moderator, action="review.decided", target_type="upload", target_id="x")
    assert _refused(f"DELETE FROM {AuditEvent._meta.db_table} WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_deleting_a_user_keeps_their_name_on_their_audit_rows():
    user = get_user_model().objects.create_user("leaver", password="leaver-pass-1")
    event = audit_record(actor=user, action="api_key.revoked", target_type="apikey", target_id="7")
    user.delete()  # on_delete=SET_NULL: the one update the database allows
    event.refresh_from_db()
    assert event.actor is None and event.actor_name == "leaver"
    assert " leaver api_key.revoked " in str(event)
    assert [e.pk for e in audit_search(q="leaver")] == [event.pk]
    rows = list(audit_csv_rows(audit_search(q="leaver")))
    assert rows[1].split(",")[1] == "leaver"
