from django.http import HttpResponse
from django_prometheus.exports import ExportToDjangoView

from moderation.observability import metrics_allowed


def prometheus_metrics(request):
    """Prometheus exposition; only with METRICS_TOKEN as a bearer token."""
    if not metrics_allowed(request):
        return HttpResponse("metrics need the bearer token", status=401, content_type="text/plain")
    return ExportToDjangoView(request)
