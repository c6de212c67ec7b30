"""Nested block kinds `tf` lacks: ordered lists (`option`, `item`) and single blocks."""

from __future__ import annotations

from typing import Any

from tf.gen import tfplugin_pb2 as pb
from tf.schema import Block, NestedBlock, NestMode
from tf.types import Unknown
from tf.utils import Diagnostics

_NESTING = pb.Schema.NestedBlock.NestingMode


def _encode_object(block: NestedBlock, value: Any) -> Any:
    from tf.provider import _encode_state_d

    if value is None or value is Unknown:
        return value
    return _encode_state_d(block._amap(), block._bmap(), value, None)


def _decode_object(block: NestedBlock, value: Any) -> Any:
    from tf.provider import _decode_state

    if value is None or value is Unknown:
        return value
    return _decode_state(Diagnostics(), block._amap(), block._bmap(), value)[1]


class ListBlock(NestedBlock):
    """Repeated blocks whose order matters (`tf` only has sets, which lose it)."""

    def __init__(self, type_name: str, block: Block, max_items: int | None = None):
        # The NestMode is unused: to_pb below says LIST.
        super().__init__(type_name, NestMode.Set, block, max_items=max_items)

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(
            type_name=self.type_name,
            block=self.block.to_pb(),
            nesting=_NESTING.LIST,
            max_items=self.max_items,
        )

    def encode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return [_encode_object(self, item) for item in value]

    def decode(self, value: Any) -> Any:
        if value is None or value is Unknown:
            return value
        return [_decode_object(self, item) for item in value]

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return a_decoded == b_decoded


class SingleBlock(NestedBlock):
    """At most one block (`validation`, `healthcheck`); absent is null."""

    def __init__(self, type_name: str, block: Block):
        super().__init__(type_name, NestMode.Single, block)

    def to_pb(self) -> pb.Schema.NestedBlock:
        return pb.Schema.NestedBlock(
            type_name=self.type_name, block=self.block.to_pb(), nesting=_NESTING.SINGLE
        )

    def encode(self, value: Any) -> Any:
        return _encode_object(self, value)

    def decode(self, value: Any) -> Any:
        return _decode_object(self, value)

    def semantically_equal(self, a_decoded: Any, b_decoded: Any) -> bool:
        return a_decoded == b_decoded
