from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """mapping[key] for keys a template cannot spell, such as 'pt-BR'."""
    return mapping.get(key, "") if hasattr(mapping, "get") else ""
