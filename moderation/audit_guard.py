"""The audit table is append-only in the database.

On PostgreSQL a trigger refuses UPDATE and DELETE of audit rows, with one
exception: deleting a user sets actor_id to NULL (on_delete=SET_NULL) and
changes nothing else; actor_name keeps who it was. On SQLite (one machine,
development) a trigger refuses UPDATE the same way; DELETE stays possible
there because Django's test runner empties tables with DELETE.

Applied by migration moderation/0007 and again after every migrate: SQLite
drops a table's triggers when a later migration rebuilds the table."""

from __future__ import annotations

TABLE = "moderation_auditevent"

POSTGRES_GUARD = """
CREATE OR REPLACE FUNCTION moderation_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL
       AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
        RETURN NEW;  -- the actor's account was deleted; the row keeps actor_name
    END IF;
    RAISE EXCEPTION 'moderation_auditevent is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
DROP TRIGGER IF EXISTS moderation_auditevent_append_only ON moderation_auditevent;
CREATE TRIGGER moderation_auditevent_append_only
    BEFORE UPDATE OR DELETE ON moderation_auditevent
    FOR EACH ROW EXECUTE FUNCTION moderation_auditevent_append_only();
"""
POSTGRES_UNGUARD = """
DROP TRIGGER IF EXISTS moderation_auditevent_append_only ON moderation_auditevent;
DROP FUNCTION IF EXISTS moderation_auditevent_append_only();
"""
SQLITE_GUARD = """
CREATE TRIGGER IF NOT EXISTS moderation_auditevent_no_update
BEFORE UPDATE ON moderation_auditevent
WHEN NOT (OLD.actor_id IS NOT NULL AND NEW.actor_id IS NULL AND NEW.id IS OLD.id AND NEW.action IS OLD.action
          AND NEW.target_type IS OLD.target_type AND NEW.target_id IS OLD.target_id AND NEW.data IS OLD.data
          AND NEW.created_at IS OLD.created_at AND NEW.actor_name IS OLD.actor_name)
BEGIN
    SELECT RAISE(ABORT, 'moderation_auditevent is append-only: UPDATE refused');
END;
"""
SQLITE_UNGUARD = "DROP TRIGGER IF EXISTS moderation_auditevent_no_update;"

_APPLY = {"postgresql": POSTGRES_GUARD, "sqlite": SQLITE_GUARD}
_REMOVE = {"postgresql": POSTGRES_UNGUARD, "sqlite": SQLITE_UNGUARD}


def _execute(connection, sql: str | None) -> None:
    if sql:
        with connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the SQL's % signs stay as they are


def audit_guard_apply(connection) -> None:
    _execute(connection, _APPLY.get(connection.vendor))


def audit_guard_remove(connection) -> None:
    _execute(connection, _REMOVE.get(connection.vendor))


def ensure_audit_guard(sender=None, using: str = "default", **kwargs) -> None:
    """post_migrate: re-apply the guard where the audit table (with its
    actor_name column, migration 0007) exists."""
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        if TABLE not in connection.introspection.table_names(cursor):
            return
        columns = {column.name for column in connection.introspection.get_table_description(cursor, TABLE)}
    if "actor_name" in columns:
        audit_guard_apply(connection)
