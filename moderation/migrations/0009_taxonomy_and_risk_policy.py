# The taxonomy and the risk-driven policy (issue 14).
#
# 1. The taxonomy: categories and the category of each ImageNet class, from
#    the reviewed file classifier/ml/data/imagenet_taxonomy.csv (made from
#    WordNet by classifier.ml.taxonomy_build).
# 2. One mapping, not two: each prohibited-goods flag category now names a
#    taxonomy category (same name: weapons, alcohol, drugs and medicine,
#    tobacco), and keeps its review/reject thresholds. Every class an admin had
#    mapped to a goods flag is moved into that flag's taxonomy category, so an
#    admin's explicit choice wins over WordNet; a goods flag whose name is no
#    taxonomy category gets a taxonomy category of its own, with its classes.
#    The old per-flag class lists (ImageNetClassMapping) are then dropped.
# 3. The listing-mismatch flag: review at a mismatch score of 0.5, never
#    rejected automatically. ClassPolicy approve thresholds are kept as they are:
#    they now say when a declared product class counts as shown.

import csv
from pathlib import Path

import django.db.models.deletion
from django.db import migrations, models


TAXONOMY_FILE = Path(__file__).resolve().parents[2] / "classifier" / "ml" / "data" / "imagenet_taxonomy.csv"
LISTING_MISMATCH = ("listing mismatch", 0.5, None,
                    "A partner's upload declared a product class or a taxonomy category the image does not show. "
                    "Score 1 when a declared product class is not the product model's top class at or above the "
                    "class's threshold (or the image is not of a kind the product model knows), else 0; for a "
                    "declared category, 1 − the category's score.")


def forwards(apps, schema_editor):
    from classifier.facade import TAXONOMY_CATEGORIES as CATEGORIES

    TaxonomyCategory = apps.get_model("moderation", "TaxonomyCategory")
    ImageNetClass = apps.get_model("moderation", "ImageNetClass")
    FlagCategory = apps.get_model("moderation", "FlagCategory")
    Mapping = apps.get_model("moderation", "ImageNetClassMapping")

    categories = {}
    for position, (name, description) in enumerate(CATEGORIES.items()):
        categories[name], _ = TaxonomyCategory.objects.get_or_create(
            name=name, defaults={"description": description, "position": position})
    with TAXONOMY_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ImageNetClass.objects.bulk_create([
        ImageNetClass(index=int(row["class_index"]), wnid=row["wnid"], name=row["class_name"],
                      category=categories[row["category"]], source=row["source"][:200])
        for row in rows
    ], ignore_conflicts=True)

    for flag in FlagCategory.objects.filter(kind="goods").order_by("pk"):
        target = categories.get(flag.name)
        if target is None:
            target = TaxonomyCategory.objects.create(
                name=flag.name, description=flag.description, position=len(categories))
            categories[flag.name] = target
        flag.taxonomy_category = target
        flag.save(update_fields=["taxonomy_category"])
        for mapping in Mapping.objects.filter(category_id=flag.pk):
            moved = ImageNetClass.objects.filter(index=mapping.class_index).exclude(category=target)
            moved.update(category=target, source=f"moved by migration 0009: mapped to flag {flag.name!r}")

    name, review, reject, description = LISTING_MISMATCH
    FlagCategory.objects.get_or_create(name=name, defaults={
        "kind": "listing_mismatch", "review_threshold": review, "reject_threshold": reject,
        "description": description})
    if schema_editor.connection.vendor == "postgresql":
        # Check the new foreign keys now, so that the ALTER TABLEs that follow
        # in this transaction do not meet pending trigger events.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def backwards(apps, schema_editor):
    FlagCategory = apps.get_model("moderation", "FlagCategory")
    Mapping = apps.get_model("moderation", "ImageNetClassMapping")
    ImageNetClass = apps.get_model("moderation", "ImageNetClass")
    FlagCategory.objects.filter(kind="listing_mismatch")._raw_delete(schema_editor.connection.alias)
    for flag in FlagCategory.objects.filter(kind="goods").exclude(taxonomy_category=None):
        Mapping.objects.bulk_create([
            Mapping(category_id=flag.pk, class_index=c.index, class_name=c.name)
            for c in ImageNetClass.objects.filter(category_id=flag.taxonomy_category_id)
        ], ignore_conflicts=True)


class Migration(migrations.Migration):

    dependencies = [
        ('moderation', '0008_webhook_secrets_events_outcomes'),
    ]

    operations = [
        migrations.CreateModel(
            name='TaxonomyCategory',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('description', models.TextField(blank=True)),
                ('position', models.PositiveSmallIntegerField(default=0, help_text='Order in lists.')),
            ],
            options={
                'verbose_name_plural': 'taxonomy categories',
                'ordering': ['position', 'name'],
            },
        ),
        migrations.AddField(
            model_name='prediction',
            name='categories',
            field=models.JSONField(blank=True, default=dict, help_text="ImageNet backbone only: each taxonomy category's score (its classes' summed probability)."),
        ),
        migrations.AddField(
            model_name='upload',
            name='declared_category',
            field=models.CharField(blank=True, help_text="What the partner's listing says the image shows: a product class or a taxonomy category.", max_length=100),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('upload.created', 'Upload created'), ('policy.verdict', 'Policy verdict'), ('upload.failed', 'Upload failed'), ('upload.requeued', 'Upload re-queued'), ('review.decided', 'Review decided'), ('model_version.status', 'Model version status changed'), ('thresholds.calibrated', 'Thresholds calibrated'), ('class_policy.changed', 'Class policy changed'), ('bank.hash_added', 'Hash added to a bank'), ('appeal.opened', 'Appeal opened'), ('appeal.decided', 'Appeal decided'), ('api_key.revoked', 'API key revoked'), ('webhook.changed', 'Webhook endpoint changed'), ('qa.answered', 'QA review answered'), ('bank.hash_removed', 'Hash removed from a bank'), ('partner.created', 'Partner created'), ('api_key.created', 'API key created'), ('taxonomy.changed', 'Taxonomy changed')], db_index=True, max_length=40),
        ),
        migrations.AlterField(
            model_name='classpolicy',
            name='approve_threshold',
            field=models.FloatField(default=0.9, help_text='A listing that declares this class shows it when the top product class is this one at or above this score (else: listing mismatch).'),
        ),
        migrations.AlterField(
            model_name='flag',
            name='kind',
            field=models.CharField(choices=[('prohibited_class', 'Prohibited product class'), ('adult', 'Adult content'), ('prohibited_goods', 'Prohibited goods'), ('hash_match', 'Known-bad hash match'), ('listing_mismatch', 'Listing does not show what it declares')], max_length=32),
        ),
        migrations.AlterField(
            model_name='flagcategory',
            name='kind',
            field=models.CharField(choices=[('adult', 'Adult content (adult-content model)'), ('goods', 'Prohibited goods (a taxonomy category)'), ('listing_mismatch', 'Listing mismatch (the image does not show what it declares)')], max_length=16),
        ),
        migrations.CreateModel(
            name='ImageNetClass',
            fields=[
                ('index', models.PositiveSmallIntegerField(help_text='Class index, 0 to 999.', primary_key=True, serialize=False)),
                ('wnid', models.CharField(max_length=9, verbose_name='WordNet id')),
                ('name', models.CharField(max_length=100)),
                ('source', models.CharField(blank=True, help_text='What placed it here: a WordNet synset, a reviewed hand fix, an admin edit.', max_length=200)),
                ('category', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='imagenet_classes', to='moderation.taxonomycategory')),
            ],
            options={
                'verbose_name': 'ImageNet class',
                'ordering': ['index'],
            },
        ),
        migrations.AddField(
            model_name='flagcategory',
            name='taxonomy_category',
            field=models.ForeignKey(blank=True, help_text='Prohibited goods only: the taxonomy category whose score is flagged.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='flag_rules', to='moderation.taxonomycategory'),
        ),
        migrations.AddConstraint(
            model_name='imagenetclass',
            constraint=models.CheckConstraint(condition=models.Q(('index__lte', 999)), name='imagenet_class_index_range'),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.DeleteModel(
            name='ImageNetClassMapping',
        ),
        migrations.AddConstraint(
            model_name='flagcategory',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('kind', 'goods'), ('taxonomy_category__isnull', False)), models.Q(models.Q(('kind', 'goods'), _negated=True), ('taxonomy_category__isnull', True)), _connector='OR'), name='goods_flag_has_taxonomy_category'),
        ),
    ]
