from django.core.management.base import BaseCommand, CommandError

from moderation.errors import ApplicationError
from moderation.services.accounts import ROLES, role_grant, role_holders, role_revoke


class Command(BaseCommand):
    help = (
        "Make or remove moderators and leads: `role grant NAME moderator|lead [--create]`, "
        "`role revoke NAME moderator|lead`, `role list`. Every change is audited."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="op", required=True)
        grant = sub.add_parser("grant", help="give a person a role")
        grant.add_argument("username")
        grant.add_argument("role", choices=sorted(ROLES))
        grant.add_argument("--create", action="store_true", help="make the account if it does not exist")
        revoke = sub.add_parser("revoke", help="take a role away")
        revoke.add_argument("username")
        revoke.add_argument("role", choices=sorted(ROLES))
        sub.add_parser("list", help="who holds each role")

    def handle(self, *args, op, **options):
        try:
            if op == "grant":
                user, password = role_grant(
                    username=options["username"], role=options["role"], create=options["create"]
                )
                self.stdout.write(f"{user} is now a {options['role']}.")
                if password:
                    self.stdout.write(f"Account created; its password (shown once, change it at sign-in): {password}")
            elif op == "revoke":
                role_revoke(username=options["username"], role=options["role"])
                self.stdout.write(f"{options['username']} is no longer a {options['role']}.")
            else:
                for role, names in role_holders().items():
                    self.stdout.write(f"{role}s: {', '.join(names) or '(none)'}")
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
