from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from classifier.facade import model_version_status_changed
        from moderation.audit_guard import ensure_audit_guard
        from moderation.services.audit import audit_model_version_status
        from moderation.setup import ensure_roles_and_schedules

        post_migrate.connect(ensure_roles_and_schedules, sender=self)
        post_migrate.connect(ensure_audit_guard, sender=self, dispatch_uid="audit-append-only")
        _register_metrics_collector()
        # Model promotions, rollbacks and gate rejections land in the one audit log.
        model_version_status_changed.connect(audit_model_version_status, dispatch_uid="audit-model-version-status")


_registered = False


def _register_metrics_collector() -> None:
    global _registered
    if _registered:
        return
    from prometheus_client import REGISTRY

    from moderation.observability import PlatformCollector

    REGISTRY.register(PlatformCollector())
    _registered = True
