from django.urls import include, path

from moderation import uploader_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("upload/", views.upload_page, name="upload"),
    path("posts/", views.my_posts, name="my-posts"),
    path("feed/", views.feed, name="feed"),
    path("uploads/<uuid:upload_id>/image", views.upload_image, name="upload-image"),
    path("posts/<uuid:upload_id>/appeal/", views.post_appeal, name="post-appeal"),
    path("posts/<uuid:upload_id>/status.json", uploader_views.post_status, name="post-status"),
    path("notifications/", uploader_views.notifications, name="notifications"),
    path("review/", views.review_queue, name="review-queue"),
    path("review/next/", views.review_next, name="review-next"),
    path("review/grid/", views.review_grid, name="review-grid"),
    path("review/qa/", views.review_qa, name="review-qa"),
    path("review/preferences/", views.review_preferences, name="review-preferences"),
    path("lead/audit/", views.audit_log, name="audit-log"),
    path("lead/metrics/", views.metrics_page, name="metrics"),
    path("lead/bank-entries/<int:entry_id>/confirm/", views.bank_entry_confirm_view, name="bank-entry-confirm"),
    path("review/<uuid:upload_id>/", views.review_detail, name="review-detail"),
    path("review/<uuid:upload_id>/heatmap.png", views.review_heatmap, name="review-heatmap"),
    path("review/<uuid:upload_id>/frames/<int:index>.jpg", views.review_frame, name="review-frame"),
    path("lead/thresholds/", views.thresholds_page, name="thresholds"),
    path("lead/categories/", include("moderation.category_views")),
    path("lead/text/", include("moderation.text_views")),
    path("lead/banks/", views.banks_page, name="banks"),
    path("lead/banks/<int:bank_id>/", views.bank_page, name="bank-page"),
    path("lead/banks/<int:bank_id>/export", views.bank_export_view, name="bank-export"),
]
