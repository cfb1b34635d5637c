"""Rows whose last change is stamped, however they are saved."""
from __future__ import annotations

from typing import Any

from django.db import models


class ChangeStamped(models.Model):
    """`updated_at`: when the row last changed, also when only some of its fields are saved
    (`save(update_fields=...)` leaves an auto_now field out unless it is named). The office
    board reads the stamps of the staff, pupils and visits it shows, a few narrow columns, to
    know whether anything it draws from them has changed (safety.board.board_stamp).
    Writes that bypass save() (`QuerySet.update()`, `bulk_update()`) set it themselves."""

    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        fields = kwargs.get("update_fields")
        if fields:  # an empty list saves nothing, as Django has it
            kwargs["update_fields"] = {*fields, "updated_at"}
        super().save(*args, **kwargs)
