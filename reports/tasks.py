"""The daily agreement review as a django-tasks task, for deployments that schedule it through
the task worker. A cron line calling `doorstep review_agreements` does the same."""
from django_tasks import task

from .services import review_due_agreements


@task()
def daily_agreement_review():
    return review_due_agreements()
