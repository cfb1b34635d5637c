"""The invitation email (accounts/invitations.py makes the invitation; this writes its email
to the outbox). Connected in notify/apps.py: accounts sits below notify in the import layers,
so it cannot call notify itself. The email names the school and the person, never a pupil."""
from accounts.invitations import INVITATION_DAYS
from accounts.models import Invitation

from .models import Channel
from .services import notify


def send_invitation(invitation: Invitation, link: str) -> None:
    staff = invitation.staff
    school = staff.school
    by = invitation.created_by_name or "Your school"
    notify(
        [staff], kind="staff.invitation", school=school, channels=[Channel.EMAIL],
        idempotency_key=f"invitation:{invitation.pk}",
        subject=f"You are invited to Doorstep at {school.name}"[:200],
        body=(f"Hello {staff.full_name},\n\n{by} has invited you to Doorstep, the system {school.name} uses to "
              "plan home visits and keep staff safe on them.\n\nOpen the link below to choose your password. "
              f"It works once and lasts {INVITATION_DAYS} days. If it has run out, the page lets you ask for a new one.\n\n"
              "If you were not expecting this, ignore this email."),
        link=link,
    )
