"""The dashboard's views: the admin index (figures, links, charts) and the same figures as JSON."""

from django.http import JsonResponse

from . import dashboard


def dashboard_context(request) -> dict:
    period = dashboard.Period.named(request.GET.get("period", "today"))
    data = dashboard.figures(period)
    return {"period": period, "periods": list(dashboard.PERIODS), "figures": data, "chart_data": data["series"]}


def dashboard_data(request):
    """`GET /admin/dashboard/data/?period=today|7d|30d`: every figure and series, for a staff session."""
    period = dashboard.Period.named(request.GET.get("period", "today"))
    return JsonResponse(dashboard.figures(period))
