from django.urls import URLPattern, path

from . import views

app_name = "hooks"

urlpatterns: list[URLPattern] = [
    path("sms/twilio/", views.sms_twilio, name="sms_twilio"),
    path("sms/notify/", views.sms_notify, name="sms_notify"),
]
