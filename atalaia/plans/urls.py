from django.urls import path

from atalaia.plans import views

app_name = "plans"
urlpatterns = [
    path("", views.plan, name="active"),
    path("diff/", views.diff, name="diff"),
    path("upload/", views.upload, name="upload"),
    path("v<int:number>/", views.plan, name="version"),
    path("v<int:number>/activate/", views.activate, name="activate"),
]
