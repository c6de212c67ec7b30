"""Shared view plumbing: paginated list responses from a queryset and a row serializer."""

from __future__ import annotations

from rest_framework import generics


class ListView(generics.GenericAPIView):
    """GET a paginated list; subclasses give get_queryset() and a flat serializer."""

    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        data = self.get_serializer(page, many=True).data
        return self.get_paginated_response(data)
