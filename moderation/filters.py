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

from classifier.facade import ModelRole
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
                    model_version__role=ModelRole.PRODUCT,
                    label=value,
                )
            )
        )

    def filter_flag(self, queryset: QuerySet[Upload], name: str, value: str) -> QuerySet[Upload]:
        return queryset.filter(
            Exists(Flag.objects.filter(upload=OuterRef("pk"), kind=value))
            | Exists(Flag.objects.filter(upload=OuterRef("pk"), category=value))
        )


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
