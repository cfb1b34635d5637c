from django.urls import path

from . import views

app_name = "alerts"
urlpatterns = [
    path("", views.board, name="board"),
    path("live/", views.board_live, name="live"),
    path("alarms/", views.board_alarms, name="alarms"),
    path("stream/", views.board_stream, name="stream"),
    path("visits/<int:pk>/call/", views.office_call, name="office_call"),
    path("visits/<int:pk>/code-word/", views.code_word, name="code_word"),
    path("alerts/", views.review, name="review"),
    path("alerts/<int:pk>/acknowledge/", views.acknowledge, name="acknowledge"),
    path("alerts/<int:pk>/resolve/", views.resolve, name="resolve"),
    path("alerts/<int:pk>/police/", views.police_card, name="police_card"),
]
