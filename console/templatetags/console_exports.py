"""The Export buttons of a list: `{% export_links cl request as links %}` (see console/exports.py)."""

from django import template

from console import exports

register = template.Library()


@register.simple_tag
def export_links(cl, request):
    """One link per format (CSV, XLSX) to the list as filtered and searched; none for users who may not export."""
    if cl is None or request is None:
        return []
    return exports.links(cl, request)
