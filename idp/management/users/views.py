"""/management/v1/users: list, create, read, change, delete, password, block; a user's
sessions, grants, MFA enrolments, linked identities and audit trail."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from idp import errors
from idp.extensions import db
from idp.management import PREFIX
from idp.management.auth import caller
from idp.management.auth import require_scope
from idp.management.auth import tenant_id
from idp.management.fields import PageQuerySchema
from idp.management.users.schemas import BlockSchema
from idp.management.users.schemas import GrantListSchema
from idp.management.users.schemas import IdentityListSchema
from idp.management.users.schemas import IncludeRevokedSchema
from idp.management.users.schemas import MfaEnrolmentListSchema
from idp.management.users.schemas import PasswordSchema
from idp.management.users.schemas import RemovedSchema
from idp.management.users.schemas import RevokedSchema
from idp.management.users.schemas import SessionListSchema
from idp.management.users.schemas import UnlinkQuerySchema
from idp.management.users.schemas import UserAuditPageSchema
from idp.management.users.schemas import UserCreateSchema
from idp.management.users.schemas import UserPageSchema
from idp.management.users.schemas import UserPatchSchema
from idp.management.users.schemas import UserQuerySchema
from idp.management.users.schemas import UserSchema
from idp.models import User
from idp.services import audit
from idp.services import grants
from idp.services import identities
from idp.services import mfa
from idp.services import sessions
from idp.services import users

blp = Blueprint("users", __name__, url_prefix=f"{PREFIX}/users", description="Users")

FILTERS = (
    "search",
    "email",
    "role",
    "is_active",
    "email_verified",
    "created_from",
    "created_to",
    "provider",
)


def _user(user_id: str) -> User:
    """The user of this tenant; another tenant's id is a 404 like an unknown one."""
    if len(user_id) > 36:
        raise errors.NotFound("user not found")
    return users.get(tenant_id(), user_id)


def _page(page: Any) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "next_cursor": page.next_cursor}


@blp.route("")
class Users(MethodView):
    @require_scope("users:read")
    @blp.arguments(UserQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, UserPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List users

        Needs `users:read`. Newest first, paged by `limit` plus `cursor` (the previous page's
        `next_cursor`) or `offset`, not both. Filters: `search` (e-mail or name prefix, ignoring
        case), `email` (exact), `role`, `is_active`, `email_verified`, `created_from`/`created_to`,
        `provider` (users with a linked identity of that upstream provider, e.g. `google`);
        unknown query parameters are 422.
        """
        where = users.UserFilter(**{name: query.get(name) for name in FILTERS})
        found = users.list_users(
            tenant_id(),
            where,
            limit=query["limit"],
            cursor=query.get("cursor"),
            offset=query.get("offset"),
        )
        return _page(found)

    @require_scope("users:write")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, data: dict[str, Any]) -> User:
        """Create a user

        Needs `users:write`. `id` optionally chooses the user's `sub`; `password`, if given, must
        meet the password policy (422). 409 if the e-mail address or the id is already taken.
        """
        chosen = data.pop("id", None)
        user = users.create(
            tenant_id(),
            data.pop("email"),
            user_id=str(chosen) if chosen is not None else None,
            actor=caller().actor,
            **data,
        )
        db.session.commit()
        return user


@blp.route("/<user_id>")
class UserItem(MethodView):
    @require_scope("users:read")
    @blp.response(200, UserSchema)
    def get(self, user_id: str) -> User:
        """Get a user

        Needs `users:read`. 404 for an unknown id or a user of another tenant.
        """
        return _user(user_id)

    @require_scope("users:write")
    @blp.arguments(UserPatchSchema)
    @blp.response(200, UserSchema)
    def patch(self, changes: dict[str, Any], user_id: str) -> User:
        """Update a user

        Needs `users:write`. Only the fields sent change; a new e-mail address becomes unverified
        unless `email_verified` is sent too. 409 if the new e-mail address is taken, 422 for invalid
        fields, 404 for a user of another tenant.
        """
        user = users.update(_user(user_id), changes, actor=caller().actor)
        db.session.commit()
        return user

    @require_scope("users:delete")
    @blp.response(204)
    def delete(self, user_id: str) -> None:
        """Delete a user

        Needs `users:delete`. A hard delete: the user's sessions, grants, tokens and credentials go
        with it, and it cannot be undone. 404 for a user of another tenant.
        """
        users.delete(_user(user_id), actor=caller().actor)
        db.session.commit()


@blp.route("/<user_id>/password")
class UserPassword(MethodView):
    @require_scope("users:write")
    @blp.arguments(PasswordSchema)
    @blp.response(204)
    def post(self, data: dict[str, Any], user_id: str) -> None:
        """Set a user's password

        Needs `users:write`. Replaces the password (422 if it breaks the password policy); existing
        sessions and grants are kept. 404 for a user of another tenant.
        """
        users.set_password(_user(user_id), data["password"], actor=caller().actor)
        db.session.commit()


@blp.route("/<user_id>/block")
class UserBlock(MethodView):
    @require_scope("users:write")
    @blp.arguments(BlockSchema)
    @blp.response(200, UserSchema)
    def post(self, data: dict[str, Any], user_id: str) -> User:
        """Block a user

        Needs `users:write`. The user can no longer sign in; every live session ends and every
        grant is revoked, so its access and refresh tokens stop working at once. `reason` is kept
        and shown as `blocked_reason`.
        """
        user = users.block(_user(user_id), data["reason"], actor=caller().actor)
        db.session.commit()
        return user


@blp.route("/<user_id>/unblock")
class UserUnblock(MethodView):
    @require_scope("users:write")
    @blp.response(200, UserSchema)
    def post(self, user_id: str) -> User:
        """Unblock a user

        Needs `users:write`. The user may sign in again; sessions and grants ended by the block stay
        ended. 404 for a user of another tenant.
        """
        user = users.unblock(_user(user_id), actor=caller().actor)
        db.session.commit()
        return user


@blp.route("/<user_id>/sessions")
class UserSessions(MethodView):
    @require_scope("sessions:read")
    @blp.arguments(IncludeRevokedSchema, location="query", unknown=RAISE)
    @blp.response(200, SessionListSchema)
    def get(self, query: dict[str, Any], user_id: str) -> dict[str, Any]:
        """List a user's sessions

        Needs `sessions:read`. The user's browser sessions, newest first, not paged; only live ones
        unless `include_revoked=true`, which adds ended and expired ones.
        """
        found = sessions.for_user(_user(user_id), include_revoked=query["include_revoked"])
        return {"items": found, "total": len(found)}

    @require_scope("sessions:write")
    @blp.response(200, RevokedSchema)
    def delete(self, user_id: str) -> dict[str, int]:
        """End all of a user's sessions

        Needs `sessions:write`. Ends every live browser session and revokes the grants made through
        them (offline_access grants outlive their session); returns how many sessions ended.
        """
        ended = sessions.end_all(_user(user_id), actor=caller().actor)
        db.session.commit()
        return {"revoked": ended}


@blp.route("/<user_id>/sessions/<session_id>")
class UserSessionItem(MethodView):
    @require_scope("sessions:write")
    @blp.response(204)
    def delete(self, user_id: str, session_id: str) -> None:
        """End one session of a user

        Needs `sessions:write`. Ends the session and revokes the grants made through it, except
        offline_access ones; a session already over is left as it is. 404 if the session is not
        this user's.
        """
        session = sessions.get_for_user(_user(user_id), session_id)
        sessions.end_if_live(session, actor=caller().actor)
        db.session.commit()


@blp.route("/<user_id>/grants")
class UserGrants(MethodView):
    @require_scope("sessions:read")
    @blp.arguments(IncludeRevokedSchema, location="query", unknown=RAISE)
    @blp.response(200, GrantListSchema)
    def get(self, query: dict[str, Any], user_id: str) -> dict[str, Any]:
        """List a user's grants

        Needs `sessions:read`. The user's grants (token families) per client, newest first, not
        paged; only active ones unless `include_revoked=true`.
        """
        found = grants.for_user(_user(user_id), include_revoked=query["include_revoked"])
        items = [
            {
                "id": grant.id,
                "client_id": client_id,
                "scope": grant.scope,
                "created_at": grant.created_at,
                "auth_time": grant.auth_time,
                "revoked_at": grant.revoked_at,
            }
            for grant, client_id in found
        ]
        return {"items": items, "total": len(items)}

    @require_scope("sessions:write")
    @blp.response(200, RevokedSchema)
    def delete(self, user_id: str) -> dict[str, int]:
        """Revoke all of a user's grants

        Needs `sessions:write`. Every active grant is revoked, so its access and refresh tokens
        stop working at once; browser sessions stay. Returns how many grants were revoked.
        """
        revoked = grants.revoke_all(_user(user_id), actor=caller().actor)
        db.session.commit()
        return {"revoked": revoked}


@blp.route("/<user_id>/mfa")
class UserMfa(MethodView):
    @require_scope("users:read")
    @blp.response(200, MfaEnrolmentListSchema)
    def get(self, user_id: str) -> dict[str, Any]:
        """List a user's MFA enrolments

        Needs `users:read`. The authenticator app (`totp`, also while its setup awaits the first
        code: `confirmed` false), each passkey or security key (`webauthn`), and the backup-code
        set (`backup_codes`, one entry with the number of unused codes in `remaining`).
        """
        found = mfa.enrolments(_user(user_id))
        return {"items": found, "total": len(found)}

    @require_scope("users:write")
    @blp.response(200, RemovedSchema)
    def delete(self, user_id: str) -> dict[str, int]:
        """Reset all of a user's MFA

        Needs `users:write`. Removes the authenticator app, every passkey and the backup codes,
        so the next sign-in needs only the first factor (e.g. for a user who lost their phone).
        Returns how many enrolments were removed, counted as the list shows them.
        """
        removed = mfa.reset(_user(user_id), None, actor=caller().actor)
        db.session.commit()
        return {"removed": removed}


@blp.route("/<user_id>/mfa/<method>")
class UserMfaMethod(MethodView):
    @require_scope("users:write")
    @blp.response(200, RemovedSchema)
    def delete(self, user_id: str, method: str) -> dict[str, int]:
        """Reset one MFA method of a user

        Needs `users:write`. `method` is `totp`, `webauthn` (every passkey) or `backup_codes`;
        any other value is 404, like an unknown user. The other methods stay. Returns how many
        enrolments were removed (0 when the user had none of that method).
        """
        user = _user(user_id)
        removed = mfa.reset(user, method, actor=caller().actor)
        db.session.commit()
        return {"removed": removed}


@blp.route("/<user_id>/identities")
class UserIdentities(MethodView):
    @require_scope("users:read")
    @blp.response(200, IdentityListSchema)
    def get(self, user_id: str) -> dict[str, Any]:
        """List a user's linked identities

        Needs `users:read`. The upstream accounts (Google, Microsoft, OIDC providers) linked to
        the user, oldest link first, with the claims last received from the provider.
        """
        found = identities.for_user(_user(user_id))
        return {"items": found, "total": len(found)}


@blp.route("/<user_id>/identities/<identity_id>")
class UserIdentityItem(MethodView):
    @require_scope("users:write")
    @blp.arguments(UnlinkQuerySchema, location="query", unknown=RAISE)
    @blp.response(204)
    def delete(self, query: dict[str, Any], user_id: str, identity_id: str) -> None:
        """Unlink an identity from a user

        Needs `users:write`. 409 when it is the user's last way to sign in (no password, no
        passkey, no other identity), unless `force=true`: an administrator may detach even the
        last one (then set a password or let the user reset it). 404 if the identity is not
        this user's.
        """
        user = _user(user_id)
        identity = identities.get(user, identity_id)
        identities.unlink(user, identity, actor=caller().actor, allow_last=query["force"])
        db.session.commit()


@blp.route("/<user_id>/audit-events")
class UserAuditEvents(MethodView):
    @require_scope("audit:read")
    @blp.arguments(PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, UserAuditPageSchema)
    def get(self, query: dict[str, Any], user_id: str) -> dict[str, Any]:
        """List a user's audit events

        Needs `audit:read`. The events about this user, newest first, paged by `limit` plus
        `cursor` (the previous page's `next_cursor`) or `offset`, not both. 404 for a user of
        another tenant.
        """
        user = _user(user_id)
        found = audit.list_events(
            user.tenant_id,
            user_id=user.id,
            limit=query["limit"],
            cursor=query.get("cursor"),
            offset=query.get("offset"),
        )
        return _page(found)
