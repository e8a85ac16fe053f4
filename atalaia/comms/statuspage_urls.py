"""/status/api/v2/…: the Atlassian Statuspage public API shape (statuspage.py)."""

app_name = "statuspage"
urlpatterns: list = []
