from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ModerationConfig(AppConfig):
    name = "moderation"
    verbose_name = "Moderation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from classifier.signals import model_version_status_changed
        from moderation.services.audit import audit_model_version_status
        from moderation.setup import ensure_roles_and_schedules

        post_migrate.connect(ensure_roles_and_schedules, sender=self)
        # Model promotions, rollbacks and gate rejections land in the one audit log.
        model_version_status_changed.connect(audit_model_version_status, dispatch_uid="audit-model-version-status")
