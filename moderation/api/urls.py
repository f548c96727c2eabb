from django.urls import path, re_path

from moderation.api import views

# Path ids are matched as any segment and checked by the views, so that a
# malformed id answers the API's JSON 404 (`upload_not_found`), not a routing miss.
urlpatterns = [
    path("uploads/", views.UploadListCreateApi.as_view(), name="api-upload-create"),
    path("uploads/<str:upload_id>/", views.UploadDetailApi.as_view(), name="api-upload-detail"),
    path("uploads/<str:upload_id>/appeal/", views.UploadAppealApi.as_view(), name="api-upload-appeal"),
    path("webhooks/", views.WebhookListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:webhook_id>/", views.WebhookDetailApi.as_view(), name="api-webhook-detail"),
    path(
        "webhooks/<int:webhook_id>/rotate-secret/",
        views.WebhookRotateSecretApi.as_view(),
        name="api-webhook-rotate-secret",
    ),
    re_path(r"^", views.api_not_found, name="api-not-found"),
]
