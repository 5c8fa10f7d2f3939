"""`/api/v1/webhook-endpoints/`: scripts register, list, change, delete endpoints and rotate their secret.

Superusers, or users with the model's permissions (add to register, change to
rotate, delete to delete, view to list). The secret is in the answer of a
registration and of a rotation, never anywhere else.
"""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, permissions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response

from hub.api import StaffTokenAuthentication

from . import forms
from .models import Endpoint, EventType


def _uncached(response: Response) -> Response:
    """An answer carrying a secret is kept by no cache."""
    response["Cache-Control"] = "no-store"
    return response


class EndpointPermission(permissions.DjangoModelPermissions):
    """The model's permissions, reading included (view_endpoint)."""

    perms_map = {**permissions.DjangoModelPermissions.perms_map, "GET": ["%(app_label)s.view_%(model_name)s"]}


class EndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.values), allow_empty=False,
        help_text="Event types sent to this URL.",
    )

    class Meta:
        model = Endpoint
        fields = ["id", "url", "description", "events", "enabled", "created_at", "disabled_at", "disabled_reason"]
        read_only_fields = ["id", "created_at", "disabled_at", "disabled_reason"]

    def validate_url(self, value):
        try:
            return forms.clean_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages[0]) from exc

    def validate_events(self, value):
        return list(dict.fromkeys(value))


class CreatedEndpointSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="The signing secret (whsec_...): shown only now.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]


class RotatePermission(EndpointPermission):
    """Rotating a secret changes the endpoint."""

    perms_map = {**EndpointPermission.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class RotateSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        min_value=0, max_value=24 * 7, default=24, help_text="Hours the old secret stays valid (both sign)."
    )


class RotatedSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new signing secret: shown only now.")
    previous_secret_valid_until = serializers.DateTimeField(allow_null=True)


class EndpointViewMixin:
    authentication_classes = (StaffTokenAuthentication, SessionAuthentication)
    permission_classes = (permissions.IsAuthenticated, EndpointPermission)


class EndpointList(EndpointViewMixin, generics.ListCreateAPIView):
    queryset = Endpoint.objects.order_by("pk")
    serializer_class = EndpointSerializer

    @extend_schema(request=EndpointSerializer, responses={201: CreatedEndpointSerializer})
    def post(self, request, *args, **kwargs):
        serializer = EndpointSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save(created_by=request.user)
        return _uncached(Response(CreatedEndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED))


class EndpointDetail(EndpointViewMixin, generics.RetrieveUpdateDestroyAPIView):
    queryset = Endpoint.objects.all()
    serializer_class = EndpointSerializer


class RotateSecret(EndpointViewMixin, generics.GenericAPIView):
    queryset = Endpoint.objects.all()
    serializer_class = RotateSerializer
    permission_classes = (permissions.IsAuthenticated, RotatePermission)

    @extend_schema(request=RotateSerializer, responses={200: RotatedSerializer})
    def post(self, request, pk):
        endpoint = get_object_or_404(Endpoint, pk=pk)
        self.check_object_permissions(request, endpoint)
        serializer = RotateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        secret = endpoint.rotate_secret(timedelta(hours=serializer.validated_data["grace_hours"]))
        return _uncached(Response({"secret": secret, "previous_secret_valid_until": endpoint.previous_secret_until}))
