def uploaded_text(request, field: str = "file", fallback: str = "source") -> str:
    """The text of an uploaded file, or of the pasted text when no file was sent."""
    upload = request.FILES.get(field)
    if upload is not None:
        return upload.read().decode("utf-8", "replace")
    return request.POST.get(fallback, "")
