from django.db import migrations

# The ten Fashion-MNIST categories the baseline product model knows. None is
# prohibited by default; a lead marks classes prohibited in the admin.
DEFAULT_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def seed(apps, schema_editor):
    ClassPolicy = apps.get_model("moderation", "ClassPolicy")
    for name in DEFAULT_CLASSES:
        ClassPolicy.objects.get_or_create(
            class_name=name, defaults={"approve_threshold": 0.9, "reject_threshold": 0.9, "prohibited": False}
        )


class Migration(migrations.Migration):
    dependencies = [("moderation", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
