"""The public site's language: `?lang=en|pt-br` when given (the switch, and the links
in messages, which carry the recipient's language), else the visitor's browser."""

from django.utils import translation

LANGUAGES = ("en", "pt-br")


def choose(lang_param: str, accept_language: str) -> str:
    wanted = (lang_param or "").lower()
    if wanted in LANGUAGES:
        return wanted
    for code in _by_preference(accept_language):
        if code.startswith("pt"):
            return "pt-br"
        if code.startswith("en"):
            return "en"
    return "en"


def _by_preference(header: str) -> list[str]:
    ranked = []
    for n, part in enumerate((header or "").split(",")):
        code, _sep, params = part.strip().lower().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if code and quality > 0:
            ranked.append((-quality, n, code))
    return [code for _q, _n, code in sorted(ranked)]


def activate_for(request) -> str:
    language = choose(request.GET.get("lang", ""), request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    translation.activate(language)
    request.LANGUAGE_CODE = language
    return language
