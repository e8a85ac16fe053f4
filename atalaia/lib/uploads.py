"""Text sent to the console as a file upload or pasted into a form."""

from atalaia.lib.yamldoc import MAX_CHARACTERS, LimitError

# A character takes at most four bytes in UTF-8: a file within the documents'
# own limit always fits, and a larger one is never read whole into memory.
MAX_UPLOAD_BYTES = 4 * MAX_CHARACTERS


def uploaded_text(request, field: str = "file", fallback: str = "source") -> str:
    """The text of an uploaded file, or of the pasted text when no file was sent;
    LimitError for a file too large to be a document."""
    upload = request.FILES.get(field)
    if upload is not None:
        data = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(data) > MAX_UPLOAD_BYTES:
            raise LimitError([f"the file is larger than {MAX_UPLOAD_BYTES} bytes"])
        return data.decode("utf-8", "replace")
    return request.POST.get(fallback, "")
