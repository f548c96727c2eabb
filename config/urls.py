from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from moderation.account_views import PasswordResetView, favicon
from moderation.metrics_view import prometheus_metrics
from moderation.observability import health

urlpatterns = [
    path("health/", health, name="health"),
    path("favicon.ico", favicon, name="favicon"),
    path("metrics", prometheus_metrics, name="prometheus-metrics"),
    path("admin/", admin.site.urls),
    # Before Django's own: the reset request is throttled.
    path("accounts/password_reset/", PasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("moderation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("moderation.urls")),
]

handler404 = "moderation.api.errors.page_not_found"
handler500 = "moderation.api.errors.server_error"
