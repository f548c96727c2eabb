"""The one way a list of uploads is filtered: the partner API's
`GET /api/v1/uploads/` and the dashboard's upload lists read the same query
parameters through `UploadFilterSet` (docs/api.md, "your uploads").

Parameters: `status`, `created_after`, `created_before` (ISO 8601; a time
without an offset is UTC), `label` (a product tag as shown: a label the
open-set gate withheld is no tag) and `flag` (a flag kind or a category)."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_datetime

from classifier.facade import PRODUCT_TAG_ROLES
from moderation.errors import InvalidInput
from moderation.models import Flag, Prediction, Upload, UploadStatus


class UtcDateTimeField(forms.Field):
    """An ISO 8601 date-time as an aware UTC datetime. Databases disagree on
    odd offsets such as +16:36, so every moment is turned to UTC here."""

    default_error_messages = {"invalid": "must be an ISO 8601 date-time"}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            moment = parse_datetime(str(value))
            if moment is not None:
                moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        except (ValueError, OverflowError):
            moment = None
        if moment is None:
            raise forms.ValidationError(self.error_messages["invalid"], "invalid")
        return moment


class UtcDateTimeFilter(django_filters.Filter):
    field_class = UtcDateTimeField


class UploadFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=UploadStatus.choices)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")
    label = django_filters.CharFilter(method="filter_label", max_length=100)
    flag = django_filters.CharFilter(method="filter_flag", max_length=100)
    text = django_filters.CharFilter(
        field_name="text_reading__text",
        lookup_expr="icontains",
        max_length=200,
        label="Text read in the image contains (case-insensitive)",
    )

    class Meta:
        model = Upload
        fields: list[str] = []

    def filter_label(self, queryset: QuerySet[Upload], name: str, value: str) -> QuerySet[Upload]:
        # A label withheld by the open-set gate is no tag: a cat is not a "Bag".
        return queryset.filter(
            Exists(
                Prediction.objects.filter(
                    Q(open_set__in_distribution=True) | Q(open_set__in_distribution__isnull=True),
                    upload=OuterRef("pk"),
                    model_version__role__in=PRODUCT_TAG_ROLES,
                    label=value,
                )
            )
        )

    def filter_flag(self, queryset: QuerySet[Upload], name: str, value: str) -> QuerySet[Upload]:
        return queryset.filter(
            Exists(Flag.objects.filter(upload=OuterRef("pk"), kind=value))
            | Exists(Flag.objects.filter(upload=OuterRef("pk"), category=value))
        )


class ReviewQueueFilterSet(UploadFilterSet):
    """The review queue's filters: the upload filters, and the partner, the
    flag's category (`flag` takes a kind), appeals only, and a search of the
    caption, the external id, the file name and the id's start."""

    partner = django_filters.NumberFilter(field_name="partner_id")
    category = django_filters.CharFilter(method="filter_category", max_length=100)
    appeals = django_filters.BooleanFilter(method="filter_appeals")
    q = django_filters.CharFilter(method="filter_search", max_length=200)

    def filter_category(self, queryset: QuerySet[Upload], name: str, value: str) -> QuerySet[Upload]:
        return queryset.filter(Exists(Flag.objects.filter(upload=OuterRef("pk"), category=value)))

    def filter_appeals(self, queryset: QuerySet[Upload], name: str, value: bool | None) -> QuerySet[Upload]:
        return queryset.filter(status=UploadStatus.APPEALED) if value else queryset

    def filter_search(self, queryset: QuerySet[Upload], name: str, value: str) -> QuerySet[Upload]:
        value = value.strip()
        if not value:
            return queryset
        found = Q(caption__icontains=value) | Q(external_id__icontains=value) | Q(original_filename__icontains=value)
        if all(c in "0123456789abcdef-" for c in value.lower()) and len(value) >= 4:
            found |= Q(id__startswith=value.lower()) if len(value) < 36 else Q(id=value.lower())
        return queryset.filter(found)


def review_queue_filter(queryset: QuerySet[Upload], params) -> tuple[QuerySet[Upload], dict]:
    """The queue narrowed by ReviewQueueFilterSet (a bad value is ignored, as
    on every page), and the filters that applied, for the page's form."""
    filterset = ReviewQueueFilterSet(params, queryset=queryset)
    filterset.is_valid()
    applied = {k: v for k, v in filterset.form.cleaned_data.items() if v not in (None, "", False)}
    return filterset.qs, applied


def uploads_filter(queryset: QuerySet[Upload], params, *, strict: bool = True) -> QuerySet[Upload]:
    """`queryset` narrowed by the filters in `params` (a QueryDict). A bad
    value is `400 invalid_filter` (`detail` names each bad parameter) when
    `strict`; otherwise (a page) it is ignored and the rest apply."""
    filterset = UploadFilterSet(params, queryset=queryset)
    if strict and not filterset.is_valid():
        detail = {name: [str(message) for message in messages] for name, messages in filterset.errors.items()}
        if "status" in detail:
            detail["status_values"] = list(UploadStatus.values)
        names = ", ".join(sorted(filterset.errors))
        raise InvalidInput(f"Bad value for the list filter {names}.", code="invalid_filter", detail=detail)
    return filterset.qs
