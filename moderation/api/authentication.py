from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from moderation.services.partners import api_key_authenticate

KEYWORD = "Api-Key"
# `Authorization: Bearer <key>` is accepted as an alias: many HTTP clients and
# generated SDKs only know bearer tokens. Keywords are matched without regard
# to case (RFC 9110 §11.1).
KEYWORDS = frozenset({KEYWORD.lower(), "bearer"})


class PartnerUser:
    """The request.user of a partner's call: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, partner):
        self.partner = partner

    def has_perm(self, perm, obj=None) -> bool:
        return False

    def __str__(self) -> str:
        return f"partner:{self.partner.name}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>` (or `Bearer <key>`). request.auth is the ApiKey row."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw = header.strip().partition(" ")
        # No message repeats what the header held: a key sent without its
        # scheme is the "scheme" here, and a 401 ends up in logs and bug reports.
        if keyword.lower() not in KEYWORDS:
            raise exceptions.AuthenticationFailed(
                "Unknown Authorization scheme: send `Authorization: Api-Key <key>` (or `Bearer <key>`)."
            )
        raw = raw.strip()
        if not raw:
            raise exceptions.AuthenticationFailed("The Authorization header names its scheme but holds no key.")
        key = api_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is unknown or revoked.")
        return PartnerUser(key.partner), key

    def authenticate_header(self, request):
        return KEYWORD


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "moderation.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; `Bearer <key>` is accepted as well",
        }
