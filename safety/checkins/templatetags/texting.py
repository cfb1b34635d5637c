"""The school's Doorstep number for the "no data signal?" box (checkins/_text_keywords.html)."""
from django import template
from django.conf import settings

from safety import texts

register = template.Library()


@register.simple_tag
def doorstep_sms_number() -> str:
    """DOORSTEP_SMS_NUMBER as people write it; "" when texting in is not set up."""
    return texts.display_number(getattr(settings, "DOORSTEP_SMS_NUMBER", ""))
