"""Template tags of the alerts app: the open incidents for the dashboard's top (alerts/open_incidents.html)."""

from django import template

register = template.Library()


@register.simple_tag
def open_incidents_for(user) -> dict:
    """{"visible": may `user` see incidents, "incidents": the open ones, most severe and oldest first}."""
    from alerts.incidents import open_incidents

    if not user.has_perm("alerts.view_incident"):
        return {"visible": False, "incidents": []}
    return {"visible": True, "incidents": list(open_incidents()[:50])}
