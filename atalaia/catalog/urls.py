from django.urls import path

from atalaia.catalog import views

app_name = "catalog"
urlpatterns = [
    path("", views.services, name="services"),
    path("graph.svg", views.graph_svg, name="graph"),
    path("import/", views.catalog_import, name="import"),
    path("catalog.yaml", views.catalog_export, name="export"),
    path("<slug:slug>/", views.service, name="service"),
]
