from rest_framework.throttling import BaseThrottle

from moderation.services.ratelimit import check_rate


class ApiKeyRateThrottle(BaseThrottle):
    """Burst and sustained limits per API key (session users are not limited here)."""

    def allow_request(self, request, view):
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "partner"):
            check_rate(api_key)  # raises RateLimited -> 429 with Retry-After
        return True
