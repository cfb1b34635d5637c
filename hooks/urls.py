from django.urls import URLPattern

app_name = "hooks"

urlpatterns: list[URLPattern] = []
