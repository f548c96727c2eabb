from django.urls import path

from moderation.api import views

urlpatterns = [
    path("uploads/", views.UploadCreateApi.as_view(), name="api-upload-create"),
    path("uploads/<uuid:upload_id>/", views.UploadDetailApi.as_view(), name="api-upload-detail"),
]
