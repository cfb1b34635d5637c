from django.urls import URLPattern, path

from . import views, voice

app_name = "hooks"

urlpatterns: list[URLPattern] = [
    path("sms/twilio/", views.sms_twilio, name="sms_twilio"),
    path("sms/notify/", views.sms_notify, name="sms_notify"),
    path("voice/twilio/<str:token>/", voice.call_twilio, name="voice_twilio"),
]
