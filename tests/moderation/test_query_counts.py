"""Every list page and list endpoint costs the same number of queries for 10
rows as for 30 (no query per row), under a fixed ceiling.

Rows are built with the factories (no model is run); each case grows its list
from 10 to 30 rows and counts the queries of one request at each size."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from moderation.models import AuditAction, BankedHash, HashBank, QAItem, QAKind, UploadStatus, Verdict, WebhookEndpoint
from moderation.services.audit import audit_record
from tests.factories import DecisionFactory, ModelVersionFactory, PredictionFactory, UploadFactory

pytestmark = pytest.mark.django_db

SIZES = (10, 30)
# Ceilings are the counts measured when these tests were written plus this
# slack, so that a page may gain a fixed query without a test edit; a query
# per row fails the 10-vs-30 comparison whatever the slack.
SLACK = 2


@dataclass
class Scene:
    client: object
    api_client: object
    person: object
    moderator: object
    lead: object
    partner: object
    key: str
    version: object

    def with_prediction(self, **upload_fields):
        upload = UploadFactory(**upload_fields)
        PredictionFactory(upload=upload, model_version=self.version)
        return upload


@pytest.fixture
def scene(client, api_client, moderator, partner_key):
    User = get_user_model()
    lead = User.objects.create_user("lead", password="lead-pass-1")
    lead.groups.add(Group.objects.get(name="leads"))
    partner, key = partner_key()
    return Scene(
        client=client,
        api_client=api_client,
        person=User.objects.create_user("poster", password="x"),
        moderator=moderator,
        lead=lead,
        partner=partner,
        key=key,
        version=ModelVersionFactory(),
    )


def _page(scene: Scene, user, url: str):
    scene.client.force_login(user)
    return lambda: scene.client.get(url)


def _api(scene: Scene, url: str):
    return lambda: scene.api_client.get(url, HTTP_AUTHORIZATION=f"Api-Key {scene.key}")


@dataclass
class Case:
    add_row: Callable[[Scene, int], None]
    request: Callable[[Scene], Callable]
    ceiling: int


CASES = {
    "feed": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.APPROVED, uploader=s.person, verdict_at=timezone.now()),
        lambda s: _page(s, s.person, "/feed/"),
        5 + SLACK,
    ),
    "my posts": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.IN_REVIEW, uploader=s.person),
        lambda s: _page(s, s.person, "/posts/"),
        7 + SLACK,
    ),
    "review queue": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.IN_REVIEW, review_rank=float(i)),
        lambda s: _page(s, s.moderator, "/review/"),
        11 + SLACK,  # 9, and the filters' choices: flag kinds and categories, partners
    ),
    "review grid": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.IN_REVIEW, review_rank=float(i)),
        lambda s: _page(s, s.moderator, "/review/grid/"),
        8 + SLACK,
    ),
    "QA list": Case(
        lambda s, i: QAItem.objects.create(
            upload=s.with_prediction(status=UploadStatus.APPROVED), kind=QAKind.BLIND, reference_verdict=Verdict.APPROVE
        ),
        lambda s: _page(s, s.moderator, "/review/qa/"),
        5 + SLACK,
    ),
    "audit log": Case(
        lambda s, i: audit_record(
            actor=s.moderator, action=AuditAction.REVIEW_DECIDED, target=s.partner, data={"n": i}
        ),
        lambda s: _page(s, s.lead, "/lead/audit/"),
        5 + SLACK,
    ),
    "metrics page (model versions, quarantined bank entries)": Case(
        lambda s, i: (
            ModelVersionFactory(metrics={"accuracy": 0.9}),
            BankedHash.objects.create(
                bank=HashBank.objects.get(name="known-bad"), pdq_hash=f"{i:064x}", quarantined_at=timezone.now()
            ),
        ),
        lambda s: _page(s, s.lead, "/lead/metrics/"),
        18 + SLACK,  # 15, and the review outcomes: flag precision, appeals, queue ages
    ),
    "thresholds page (reviewed decisions)": Case(
        lambda s, i: DecisionFactory(moderator=s.moderator, prediction__model_version=s.version),
        lambda s: _page(s, s.lead, "/lead/thresholds/"),
        7 + SLACK,
    ),
    "API uploads list": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.APPROVED, partner=s.partner, verdict_at=timezone.now()),
        lambda s: _api(s, "/api/v1/uploads/"),
        4 + SLACK,
    ),
    "API uploads list, every filter": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.APPROVED, partner=s.partner, verdict_at=timezone.now()),
        lambda s: _api(
            s,
            "/api/v1/uploads/?status=approved&created_after=2000-01-01T00:00:00Z&label=T-shirt/top&flag=&limit=50",
        ),
        4 + SLACK,
    ),
    "my posts, filtered": Case(
        lambda s, i: s.with_prediction(status=UploadStatus.IN_REVIEW, uploader=s.person),
        lambda s: _page(s, s.person, "/posts/?status=in_review"),
        7 + SLACK,
    ),
    "API webhooks list": Case(
        lambda s, i: WebhookEndpoint.objects.create(partner=s.partner, url=f"https://partner.example/hook/{i}"),
        lambda s: _api(s, "/api/v1/webhooks/"),
        2 + SLACK,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_list_costs_the_same_queries_for_10_and_30_rows(name, scene, django_assert_max_num_queries):
    case = CASES[name]
    fetch = case.request(scene)
    fetch()  # warm: the first call of a key also stamps its last use, once a minute
    counts, rows = [], 0
    for size in SIZES:
        while rows < size:
            case.add_row(scene, rows)
            rows += 1
        with django_assert_max_num_queries(case.ceiling) as captured:
            response = fetch()
        assert response.status_code == 200, response.content[:500]
        counts.append(len(captured))
    print(f"{name}: {counts} queries for {SIZES} rows")
    assert counts[0] == counts[1], f"{name}: {counts[0]} queries for {SIZES[0]} rows, {counts[1]} for {SIZES[1]}"


def test_factories_build_consistent_rows(moderator):
    """The builders the query-count tests rely on: a decision reviews a
    prediction of its own upload, and the labels follow the chosen scores."""
    decision = DecisionFactory(moderator=moderator)
    assert decision.prediction.upload_id == decision.upload_id
    assert decision.label_before == decision.prediction.label == "T-shirt/top"
    assert decision.upload.status == UploadStatus.APPROVED and decision.upload.image.read()[:4] == b"\x89PNG"
    assert decision.prediction.model_version.predictions.count() == 1
