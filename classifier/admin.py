from django.contrib import admin

from classifier.models import ModelVersion, TrainingExample


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("__str__", "role", "architecture", "status", "accuracy_display", "macro_f1_display", "created_at", "activated_at")
    list_filter = ("role", "status", "architecture")
    search_fields = ("architecture", "status_reason")
    readonly_fields = ("created_at", "activated_at", "metrics", "training", "class_names")

    @admin.display(description="accuracy")
    def accuracy_display(self, obj):
        return f"{obj.accuracy:.4f}" if obj.accuracy is not None else "-"

    @admin.display(description="macro F1")
    def macro_f1_display(self, obj):
        return f"{obj.macro_f1:.4f}" if obj.macro_f1 is not None else "-"


@admin.register(TrainingExample)
class TrainingExampleAdmin(admin.ModelAdmin):
    list_display = ("reference", "label", "source", "created_at")
    list_filter = ("source", "label")
    search_fields = ("reference", "label", "image_name")
    date_hierarchy = "created_at"
