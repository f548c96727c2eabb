"""The served OpenAPI schema types every field, as a generated client needs:
no untyped object (Swagger's `additionalProp1`), integers with sane bounds,
and the answers the API really gives validate against it, the webhook
payload's upload included (one representation of an upload)."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from moderation.models import Upload, WebhookDelivery
from moderation.services.appeals import appeal_open
from moderation.services.review import review_decide
from moderation.services.uploads import upload_create
from moderation.services.webhooks import upload_payload, webhook_endpoint_create
from tests.factories import analysis, classified, policy_approves_nothing
from tests.helpers import fashion_png

pytestmark = pytest.mark.django_db

# Free-form on purpose: an error's `detail` differs by code (docs/api.md lists
# what each carries). Nothing else may be an untyped object.
FREE_FORM = {("ErrorBody", "detail")}
INT32_MAX = 2**31 - 1
JS_SAFE_INTEGER = 2**53 - 1


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _walk(node, path: tuple):
    """Every schema node under `node` with its path (properties, items, allOf/oneOf/anyOf)."""
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, (*path, name))
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], (*path, "[]"))
    for key in ("allOf", "oneOf", "anyOf"):
        for child in node.get(key) or []:
            yield from _walk(child, path)


def test_every_component_field_is_typed(schema):
    untyped, loose_integers = [], []
    for component, root in schema["components"]["schemas"].items():
        for path, node in _walk(root, (component,)):
            key = (component, path[-1]) if len(path) > 1 else None
            if key in FREE_FORM:
                continue
            kinds = {"type", "$ref", "allOf", "oneOf", "anyOf", "enum"}
            if not kinds & set(node):
                untyped.append("/".join(path))
            if node.get("type") == "object" and (not node.get("properties") or "additionalProperties" in node):
                untyped.append("/".join(path) + " (object without named properties)")
            if node.get("type") == "integer":
                if node.get("format") not in ("int32", "int64") or node.get("maximum", 0) > JS_SAFE_INTEGER:
                    loose_integers.append(f"{'/'.join(path)}: {node}")
    assert untyped == [], "untyped fields (a generated client sees additionalProp1)"
    assert loose_integers == [], "integers without a sane format and bounds:\n" + "\n".join(loose_integers)


def test_the_upload_representation_names_its_parts(schema):
    components = schema["components"]["schemas"]
    upload = components["UploadOutput"]["properties"]

    def target(prop):
        ref = prop.get("$ref") or (prop.get("items") or {}).get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
        return ref.rsplit("/", 1)[-1] if ref else None

    assert target(upload["tags"]) == "Tag" and set(components["Tag"]["properties"]) == {
        "label",
        "score",
        "model_version",
    }
    # Each tag names the model version that made it (the studio-shot or the real-photo model).
    assert target(components["Tag"]["properties"]["model_version"]) == "ModelVersionRef"
    assert target(upload["tags_open_set"]) == "OpenSet"
    assert {"route", "product_mass", "reason"} <= set(components["OpenSet"]["properties"])
    assert target(components["OpenSet"]["properties"]["route"]) == "RouteEnum"
    assert components["RouteEnum"]["enum"] == ["studio", "photo"]
    assert target(upload["flags"]) == "Flag"
    assert {"kind", "category", "score", "action", "reason", "frame", "timestamp_ms"} <= set(
        components["Flag"]["properties"]
    )
    assert target(upload["categories"]) == "Category"
    assert target(upload["imagenet_tags"]) == "ImageNetTag"
    assert target(upload["model_version"]) == "ModelVersionRef" and upload["model_version"]["nullable"]
    assert target(upload["appeal"]) == "AppealOutput" and upload["appeal"]["nullable"]
    for name in ("width", "height", "byte_size"):
        assert upload[name]["type"] == "integer" and upload[name]["format"] == "int32", upload[name]
        assert upload[name]["minimum"] == 0 and upload[name]["maximum"] == INT32_MAX


def test_try_it_out_sends_no_empty_external_id(schema):
    """Swagger's "Try it out" fills defaults and examples into the form: an
    optional external_id with no default is left out, and "" means none anyway."""
    form = schema["components"]["schemas"]["UploadInputRequest"]
    external_id = form["properties"]["external_id"]
    assert "default" not in external_id and "example" not in external_id
    assert "external_id" not in form.get("required", [])
    assert form["required"] == ["image"]


def test_bearer_is_documented_beside_api_key(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert "Bearer" in scheme["description"] and "Api-Key" in scheme["description"]


def _json_schema(node, components: dict) -> dict:
    """OpenAPI 3.0 to JSON Schema for validation, strictly: refs inlined,
    `nullable` as a null alternative, and no property the schema does not
    name (a generated client would drop it)."""
    node = copy.deepcopy(node)
    if "$ref" in node:
        return _json_schema(components[node["$ref"].rsplit("/", 1)[-1]], components)
    nullable = node.pop("nullable", False)
    for key in ("readOnly", "writeOnly", "format", "description"):
        node.pop(key, None)
    for key in ("allOf", "oneOf", "anyOf"):
        if key in node:
            node[key] = [_json_schema(child, components) for child in node[key]]
    if "properties" in node:
        node["properties"] = {name: _json_schema(child, components) for name, child in node["properties"].items()}
        node["additionalProperties"] = False
    if isinstance(node.get("items"), dict):
        node["items"] = _json_schema(node["items"], components)
    return {"anyOf": [node, {"type": "null"}]} if nullable else node


def _decided_partner_upload(partner, moderator, second_moderator):
    """A partner's upload with every part of its representation filled in:
    product tags, ImageNet tags and categories, an adult score and flag, a
    rejection by one moderator and an appeal upheld by another."""
    policy_approves_nothing()
    upload = upload_create(data=fashion_png(0)[0], partner=partner, external_id="post-1", caption="new in")
    upload = classified(
        upload,
        analysis(
            {"Sneaker": 0.7, "Sandal": 0.2, "Ankle boot": 0.1},
            adult=0.4,
            imagenet=[(770, "running shoe", 0.6), (514, "cowboy boot", 0.3), (967, "espresso", 0.1)],
        ),
    )
    review_decide(upload_id=upload.pk, moderator=moderator, verdict="reject", reason_code="other")
    appeal_open(upload_id=upload.pk, message="This is our own product photo.", partner=partner)
    review_decide(upload_id=upload.pk, moderator=second_moderator, verdict="reject", reason_code="other")
    return Upload.objects.get(pk=upload.pk)


def test_real_answers_validate_against_the_schema_and_webhooks_send_the_same_upload(
    schema, api_client, partner_key, moderator, second_moderator, settings
):
    components = schema["components"]["schemas"]
    partner, key = partner_key()
    auth = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    webhook_endpoint_create(partner=partner, url="http://127.0.0.1:9/hook")  # loopback allowed in tests
    upload = _decided_partner_upload(partner, moderator, second_moderator)

    body = api_client.get(f"/api/v1/uploads/{upload.pk}/", **auth).json()
    assert body["tags"] and body["imagenet_tags"] and body["categories"] and body["flags"] and body["appeal"]
    assert body["model_version"]["id"] and body["verdict"] == "rejected"
    jsonschema.validate(body, _json_schema(components["UploadOutput"], components))

    page = api_client.get("/api/v1/uploads/", **auth).json()
    jsonschema.validate(page, _json_schema(components["UploadPage"], components))
    created = api_client.post(
        "/api/v1/uploads/", {"image": SimpleUploadedFile("b.png", fashion_png(1)[0])}, format="multipart", **auth
    )
    assert created.status_code == 202 and created.json()["external_id"] == ""
    jsonschema.validate(created.json(), _json_schema(components["UploadAcceptedOutput"], components))

    # The webhooks send the upload exactly as the API answers it.
    delivery = WebhookDelivery.objects.filter(upload=upload, event="appeal.decided").get()
    assert delivery.payload["upload"] == body
    assert delivery.payload["appeal"] == body["appeal"] and body["appeal"]["status"] == "upheld"
    assert upload_payload(upload, "upload.decided")["upload"] == body


def test_empty_external_id_is_none(api_client, partner_key):
    """What Swagger's "Try it out" may send: two uploads with external_id=""
    are two uploads, not a duplicate."""
    _, key = partner_key()
    for index in range(2):
        response = api_client.post(
            "/api/v1/uploads/",
            {"image": SimpleUploadedFile("a.png", fashion_png(index)[0]), "external_id": ""},
            format="multipart",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        assert response.status_code == 202 and response.json()["external_id"] == ""


def test_a_webhook_payload_costs_a_few_queries_however_many_predictions(partner_key, django_assert_max_num_queries):
    partner, _ = partner_key()
    upload = upload_create(data=fashion_png(0)[0], partner=partner)
    upload = classified(
        upload, analysis({"Sneaker": 0.7, "Sandal": 0.3}, adult=0.4, imagenet=[(770, "running shoe", 0.6)])
    )
    upload = Upload.objects.get(pk=upload.pk)  # as a service holds it: nothing prefetched
    assert upload.predictions.count() == 3
    with django_assert_max_num_queries(4):  # predictions with their versions, flags, text read, appeal
        payload = upload_payload(upload, "upload.decided")
    assert payload["upload"]["tags"] and payload["upload"]["imagenet_tags"]


def test_the_served_reference_describes_webhooks_limits_errors_and_the_upload(schema):
    """/api/docs/ renders the schema: its description carries the guide's
    sections (from docs/api.md, one text), the upload POST says what it does,
    411 is among its answers, and the webhook event is a component."""
    from tests.moderation.test_api_errors import DOCUMENTED

    description = schema["info"]["description"]
    for heading in ("## Authentication", "## Limits", "## Webhook deliveries", "## Errors"):
        assert heading in description, heading
    assert "X-Moderation-Signature" in description and "hmac.new" in description  # how to verify one
    assert "upload_burst_limit" in description and "daily quota" in description
    assert all(f"`{code}`" in description for code in DOCUMENTED), "every error code is listed"
    post = schema["paths"]["/api/v1/uploads/"]["post"]
    assert "multipart field `image`" in post["description"]
    assert {"201", "202", "411", "413", "503"} <= set(post["responses"])
    event = schema["components"]["schemas"]["WebhookEvent"]
    assert event["properties"]["upload"] == {"$ref": "#/components/schemas/UploadOutput"}


def test_a_real_webhook_body_validates_against_the_webhook_event(schema, partner_key, moderator, second_moderator):
    from moderation.services.webhooks import delivery_body

    components = schema["components"]["schemas"]
    partner, _ = partner_key()
    webhook_endpoint_create(partner=partner, url="http://127.0.0.1:9/hook")
    upload = _decided_partner_upload(partner, moderator, second_moderator)
    for delivery in WebhookDelivery.objects.filter(upload=upload):
        body = json.loads(delivery_body(delivery))
        jsonschema.validate(body, _json_schema(components["WebhookEvent"], components))
    assert set(WebhookDelivery.objects.filter(upload=upload).values_list("event", flat=True)) == {
        "upload.decided",
        "appeal.decided",
    }
