from django.urls import path

from atalaia.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.services, name="services"),
    path("graph.svg", views.graph_svg, name="graph"),
    path("<slug:slug>/", views.service, name="service"),
]
