"""The daily referral scan as a django-tasks task, for deployments that schedule it through
the task worker (`doorstep start` runs one). A cron line calling `doorstep referral_scan`
does the same."""
from django_tasks import task

from .services import referral_scan


@task()
def daily_referral_scan():
    return {str(r.school.pk): r.opened for r in referral_scan()}
