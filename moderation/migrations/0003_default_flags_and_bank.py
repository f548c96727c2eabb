from django.db import migrations

# Default content flags. Scores: the adult-content model's P(adult); for goods,
# the sum of the probabilities of the mapped ImageNet classes. A reject
# threshold above 1 means "never reject automatically, only send to review".
ADULT = ("adult content", "adult", 0.4, 0.85,
         "Yahoo Open-NSFW score. Yahoo's guidance: under 0.2 is likely safe, over 0.8 likely not; "
         "the band between goes to a person.")
GOODS = [
    ("weapons", 0.3, 0.8, "Firearms and weapons: rejected when the model is confident.",
     [(413, "assault rifle"), (763, "revolver"), (764, "rifle"), (597, "holster"), (456, "hunting bow"), (471, "cannon")]),
    ("alcohol", 0.4, 1.01, "Often allowed with age limits, so only reviewed.",
     [(440, "beer bottle"), (441, "beer glass"), (901, "whiskey jug"), (907, "wine bottle"), (966, "red wine")]),
    ("drugs and medicine", 0.4, 1.01, "Medicine is allowed in most markets, so only reviewed.",
     [(720, "pill bottle"), (845, "syringe"), (648, "medicine cabinet")]),
    ("tobacco", 0.4, 1.01, "ImageNet-1k has no cigarette class; its tobacco shop class is the closest.",
     [(860, "tobacco shop")]),
]


def seed(apps, schema_editor):
    FlagCategory = apps.get_model("moderation", "FlagCategory")
    Mapping = apps.get_model("moderation", "ImageNetClassMapping")
    HashBank = apps.get_model("moderation", "HashBank")
    name, kind, review, reject, description = ADULT
    FlagCategory.objects.get_or_create(name=name, defaults={
        "kind": kind, "review_threshold": review, "reject_threshold": reject, "description": description})
    for name, review, reject, description, classes in GOODS:
        category, _ = FlagCategory.objects.get_or_create(name=name, defaults={
            "kind": "goods", "review_threshold": review, "reject_threshold": reject, "description": description})
        for index, class_name in classes:
            Mapping.objects.get_or_create(category=category, class_index=index, defaults={"class_name": class_name})
    HashBank.objects.get_or_create(name="known-bad", defaults={
        "description": "Images moderators rejected and banked.", "max_distance": 31, "action": "reject"})


class Migration(migrations.Migration):
    dependencies = [("moderation", "0002_default_class_policies")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
