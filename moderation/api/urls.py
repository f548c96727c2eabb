from django.urls import path

from moderation.api import views

urlpatterns = [
    path("uploads/", views.UploadListCreateApi.as_view(), name="api-upload-create"),
    path("uploads/<uuid:upload_id>/", views.UploadDetailApi.as_view(), name="api-upload-detail"),
    path("uploads/<uuid:upload_id>/appeal/", views.UploadAppealApi.as_view(), name="api-upload-appeal"),
    path("webhooks/", views.WebhookListCreateApi.as_view(), name="api-webhooks"),
    path("webhooks/<int:webhook_id>/", views.WebhookDetailApi.as_view(), name="api-webhook-detail"),
    path(
        "webhooks/<int:webhook_id>/rotate-secret/",
        views.WebhookRotateSecretApi.as_view(),
        name="api-webhook-rotate-secret",
    ),
]
