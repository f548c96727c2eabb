from rest_framework.throttling import BaseThrottle

from moderation.services.ratelimit import check_rate, check_user_upload


class RateLimitThrottle(BaseThrottle):
    """The limits of docs/api.md, counted before the request body is parsed (a
    flood costs no parsing, no decoding, no storage):

    - a partner's key: uploads (a POST to a view with `counts_as_upload`) and
      every other request are counted apart;
    - a signed-in person: uploads only (people read through their session
      without a limit here).

    Over a limit: RateLimited -> 429 with Retry-After."""

    def allow_request(self, request, view):
        is_upload = request.method == "POST" and getattr(view, "counts_as_upload", False)
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "partner"):
            check_rate(api_key, upload=is_upload)
        elif is_upload and request.user.is_authenticated:
            check_user_upload(request.user)
        return True
