"""Shared view plumbing: paginated list responses from a queryset and a row serializer."""

from __future__ import annotations

from rest_framework import generics, mixins


# ListModelMixin marks the view as a list for drf-spectacular, so the OpenAPI document shows a
# paginated array with limit/offset (a bare GenericAPIView was described as one object).
# Subclasses give get_queryset() and a flat serializer; no docstring here, because
# drf-spectacular would copy it into the description of every list and create operation.
class ListView(mixins.ListModelMixin, generics.GenericAPIView):
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)
