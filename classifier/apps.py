from django.apps import AppConfig


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Classifier"
    default_auto_field = "django.db.models.BigAutoField"
