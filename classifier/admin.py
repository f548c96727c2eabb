import base64

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join

from classifier.ml.plots import confusion_matrix_png
from classifier.models import ModelVersion, ModelVersionStatus, TrainingExample, TrainingRun
from classifier.registry import RegistryError, model_version_activate, model_version_delete, model_version_rollback

PROMOTE_PERMISSION = "classifier.promote_modelversion"


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "role",
        "architecture",
        "status",
        "accuracy_display",
        "macro_f1_display",
        "created_at",
        "activated_at",
    )
    list_filter = ("role", "status", "architecture")
    search_fields = ("architecture", "status_reason")
    readonly_fields = (
        "role",
        "architecture",
        "status",
        "status_reason",
        "created_at",
        "activated_at",
        "summary",
        "per_class",
        "confusion_matrix",
        "training",
        "gate",
        "class_names",
        "artifact",
        "keras_artifact",
    )
    exclude = ("metrics",)
    actions = ["promote", "rollback"]

    @admin.display(description="accuracy")
    def accuracy_display(self, obj):
        return f"{obj.accuracy:.4f}" if obj.accuracy is not None else "-"

    @admin.display(description="macro F1")
    def macro_f1_display(self, obj):
        return f"{obj.macro_f1:.4f}" if obj.macro_f1 is not None else "-"

    @admin.display(description="evaluation")
    def summary(self, obj):
        m = obj.metrics or {}
        if "fidelity_vs_float" in m:  # an int8 version of a pretrained model
            figures = m["fidelity_vs_float"]
            return "against the float model on {}: {}".format(
                f"{figures.get('images', '?')} photos",
                ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(figures.items()) if k != "images"),
            )
        if "threshold" in m:  # the open-set gate's calibration figures
            return (
                f"threshold {m.get('threshold')} ({m.get('rule')}): keeps {m.get('true_positive_rate')} of "
                f"held-out product shots, lets in {m.get('false_positive_rate')} of real photos"
            )
        if "accuracy" not in m:
            return "-"
        figures = [f"accuracy {m['accuracy']:.4f}"]
        if m.get("macro_f1") is not None:
            figures.append(f"macro F1 {m['macro_f1']:.4f}")
        return ", ".join(figures) + (f" on {m['support']} test images" if m.get("support") else "")

    @admin.display(description="per class")
    def per_class(self, obj):
        rows = (obj.metrics or {}).get("per_class", {})
        if not rows:
            return "no per-class figures: this version was not evaluated on a labelled test split"
        # Numbers are formatted before format_html: it escapes its arguments
        # into strings, on which a "{:.3f}" format fails (and the admin then
        # showed an empty field).
        body = format_html_join(
            "",
            '<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
            '<td class="num">{}</td></tr>',
            (
                (name, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"])
                for name, r in rows.items()
            ),
        )
        return format_html(
            '<table class="per-class"><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>'
            "<th>support</th></tr>{}</table>",
            body,
        )

    @admin.display(description="confusion matrix")
    def confusion_matrix(self, obj):
        matrix = (obj.metrics or {}).get("confusion_matrix")
        if not matrix:
            return "-"
        encoded = base64.b64encode(confusion_matrix_png(matrix, obj.class_names)).decode()
        return format_html('<img alt="confusion matrix" src="data:image/png;base64,{}">', encoded)

    def has_add_permission(self, request):
        return False  # versions come from training runs and `train_classifier`

    def has_change_permission(self, request, obj=None):
        return False  # every field is a record; status changes by the promote and roll-back actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status == ModelVersionStatus.ACTIVE:
            return False  # the version in service: promote or roll back first
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        model_version_delete(version=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for version in queryset:
            try:
                model_version_delete(version=version, actor=request.user)
            except RegistryError as exc:
                self.message_user(request, f"Not deleted: {exc}.", messages.ERROR)

    @admin.action(description="Promote the selected version (make it active)", permissions=["promote"])
    def promote(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one version to promote.", messages.ERROR)
            return
        version = queryset.get()
        if version.status == ModelVersionStatus.ACTIVE:
            self.message_user(request, f"{version.name} is already active.", messages.WARNING)
            return
        model_version_activate(version=version, actor=request.user, reason=f"promoted by {request.user}")
        self.message_user(request, f"{version.name} is now active.", messages.SUCCESS)

    @admin.action(description="Roll back to the previously active version", permissions=["promote"])
    def rollback(self, request, queryset):
        roles = set(queryset.values_list("role", flat=True)) or {"product"}
        for role in roles:
            try:
                version = model_version_rollback(role=role, actor=request.user)
            except RegistryError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Rolled back: {version.name} is active again.", messages.SUCCESS)

    def has_promote_permission(self, request):
        return request.user.has_perm(PROMOTE_PERMISSION)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "trigger",
        "architecture",
        "status",
        "progress_display",
        "base_version",
        "candidate",
        "promoted",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "trigger", "promoted")
    readonly_fields = [f.name for f in TrainingRun._meta.fields] + ["progress_display"]

    @admin.display(description="progress")
    def progress_display(self, run: TrainingRun) -> str:
        return run.progress_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # a run's record: written by the run itself


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    """Read-only: examples come from moderators' decisions (audited there) and
    from imports. An edit here would change what the next model learns, or
    which examples the promotion gate holds out, with no record."""

    list_display = ("reference", "label", "source", "holdout", "created_at")
    list_filter = ("source", "holdout", "label")
    search_fields = ("reference", "label", "image_name")
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
