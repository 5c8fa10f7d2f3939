"""SIM swap: invoke-check-simswap (the status callback is the shared callback view)."""

from hub.invoke import InvokeView, phone_list

from .services import queue_checks


class InvokeCheckSimSwapView(InvokeView):
    required_permission = "simswap.add_simswapcheck"

    def invoke(self, request, params, *, where):
        checks = queue_checks(phone_list(params, where=where), user=request.user)
        return self.accepted(
            {
                "message": f"Sim swap check queued for {len(checks)} number(s)",
                "recipients": [{"phone": c.phone, "status": c.status, "id": c.pk} for c in checks],
            }
        )
