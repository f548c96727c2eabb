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


def build_world() -> World:
    User = get_user_model()
    world = World()
    poster = User.objects.create_user("poster", email="poster@example.com", password=PASSWORDS["poster"])
    mod1, _ = moderator_create(username="mod1", password=PASSWORDS["mod1"])
    mod2, _ = moderator_create(username="mod2", password=PASSWORDS["mod2"])
    lead = User.objects.create_user("lead", password=PASSWORDS["lead"])
    lead.groups.add(Group.objects.get(name="leads"))
    world.users = {"poster": poster, "mod1": mod1, "mod2": mod2, "lead": lead}
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
