"""A small, real scene of every kind of post an uploader can have, built
through the services with frozen analyses (no model runs): the browser suite
and the uploader page tests share it."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from moderation.models import Upload
from moderation.services.accounts import moderator_create
from moderation.services.appeals import appeal_open
from moderation.services.review import review_decide
from moderation.services.uploads import upload_create
from tests.factories import ModelVersionFactory, _png, analysis, classified, policy_approves_nothing

PASSWORDS = {"poster": "poster-pass-1", "mod1": "mod-pass-123", "mod2": "mod-pass-456", "lead": "lead-pass-1"}
SURE_BAG = {"Bag": 0.9, "Coat": 0.1}


@dataclass
class World:
    users: dict = field(default_factory=dict)
    posts: dict[str, Upload] = field(default_factory=dict)


def build_users() -> World:
    """The people only: an uploader, two moderators and a lead."""
    User = get_user_model()
    world = World()
    poster = User.objects.create_user("poster", email="poster@example.com", password=PASSWORDS["poster"])
    mod1, _ = moderator_create(username="mod1", password=PASSWORDS["mod1"])
    mod2, _ = moderator_create(username="mod2", password=PASSWORDS["mod2"])
    lead = User.objects.create_user("lead", password=PASSWORDS["lead"])
    lead.groups.add(Group.objects.get(name="leads"))
    world.users = {"poster": poster, "mod1": mod1, "mod2": mod2, "lead": lead}
    return world


def build_world() -> World:
    """The people and one post of each kind: held (adult-content flag),
    rejected by the policy, published, rejected by a moderator (spam), and two
    appealed rejections, one overturned and one upheld."""
    world = build_users()
    poster, mod1, mod2 = world.users["poster"], world.users["mod1"], world.users["mod2"]
    policy_approves_nothing()  # review at any adult score, reject from 0.85
    version = ModelVersionFactory()

    def post(name: str, caption: str, adult: float):
        upload = upload_create(data=_png(len(world.posts)), filename=f"{name}.png", caption=caption, uploader=poster)
        world.posts[name] = classified(upload, analysis(SURE_BAG, version=version, adult=adult))
        return world.posts[name]

    post("held", "A leather bag, barely used", 0.3)
    post("auto_rejected", "Swimwear photo", 0.95)
    for name in ("published", "moderator_rejected", "overturned", "declined"):
        post(name, f"Post {name.replace('_', ' ')}", 0.3)
    review_decide(upload_id=world.posts["published"].pk, moderator=mod1, verdict="approve")
    review_decide(upload_id=world.posts["moderator_rejected"].pk, moderator=mod1, verdict="reject", reason_code="spam")
    for name, verdict in (("overturned", "approve"), ("declined", "reject")):
        review_decide(upload_id=world.posts[name].pk, moderator=mod1, verdict="reject", reason_code="other")
        appeal_open(upload_id=world.posts[name].pk, message="It is only a bag.", user=poster)
        review_decide(upload_id=world.posts[name].pk, moderator=mod2, verdict=verdict)
    for upload in world.posts.values():
        upload.refresh_from_db()
    return world


def build_dashboard() -> World:
    """The posts above plus what the moderators' and leads' pages list: a
    low-risk item for the grid, a blind QA item, and the held post's heat
    map already computed (the page shows it; no model runs in this suite)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from moderation.models import FlagCategory, QAItem, QAKind, Verdict
    from moderation.services.categories import category_create
    from tests.helpers import encode, photo_like

    world = build_world()
    FlagCategory.objects.filter(name="adult content").update(enabled=False)  # no adult check: low risk
    version = world.posts["held"].product_prediction.model_version
    upload = upload_create(data=_png(99), filename="plain.png", caption="Plain coat", uploader=world.users["poster"])
    world.posts["low_risk"] = classified(upload, analysis(SURE_BAG, version=version))
    QAItem.objects.create(upload=world.posts["published"], kind=QAKind.BLIND, reference_verdict=Verdict.APPROVE)
    category_create(actor=world.users["lead"], name="Vape pens", description="Vaporizers and their cartridges")
    held = world.posts["held"]
    default_storage.save(
        f"heatmaps/{held.pk}-v{held.product_prediction.model_version_id}.png",
        ContentFile(encode(photo_like(64, 48, seed=5))),
    )
    return world


SCENES = {"users": build_users, "posts": build_world, "dashboard": build_dashboard}
