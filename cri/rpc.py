"""Turns handler objects into gRPC services: one place for logging and error mapping.

Every RPC of a service descriptor is routed to the first handler object that has a method
of the same name; the rest answer UNIMPLEMENTED with their name. Each call is logged once
(method, duration, status code, and the pod/container id when the request carries one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message

from pycri.cri.errors import status_for

log = logging.getLogger("pycri.rpc")

Context = grpc.aio.ServicerContext[Any, Any]

_ID_FIELDS = ("pod_sandbox_id", "container_id")
# Polled constantly by kubelet: logged at DEBUG so the INFO log stays readable.
_QUIET = frozenset({"Version", "Status", "ListPodSandbox", "ListContainers", "ImageFsInfo",
                    "ListContainerStats", "ListPodSandboxStats", "ContainerStatus",
                    "PodSandboxStatus", "ListImages", "ImageStatus", "ContainerStats",
                    "PodSandboxStats", "ListMetricDescriptors", "ListPodSandboxMetrics",
                    "RuntimeConfig", "StreamPodSandboxes", "StreamContainers",
                    "StreamContainerStats", "StreamPodSandboxStats", "StreamPodSandboxMetrics",
                    "StreamImages"})


def _context_of(request: Message) -> str:
    parts = []
    for name in _ID_FIELDS:
        value = getattr(request, name, "")
        if value:
            parts.append(f"{name.removesuffix('_sandbox_id').removesuffix('_id')}_id={value}")
    config = getattr(request, "config", None)
    metadata = getattr(config, "metadata", None) if config is not None else None
    name = getattr(metadata, "name", "") if metadata is not None else ""
    if name:
        parts.append(f"name={name}")
    return " ".join(parts)


# Called as fn(method, code name, seconds) after each call (the metrics endpoint adds one).
observers: list[Callable[[str, str, float], None]] = []


def _log_call(method: str, request: Message, started: float, code: grpc.StatusCode,
              message: str = "") -> None:
    elapsed_ms = (time.monotonic() - started) * 1000
    for observe in observers:
        observe(method, code.name, elapsed_ms / 1000)
    level = logging.DEBUG if method in _QUIET and code == grpc.StatusCode.OK else logging.INFO
    if code not in (grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED):
        level = logging.WARNING
    extra = f" error={message!r}" if message else ""
    log.log(level, "rpc method=%s code=%s duration_ms=%.1f %s%s", method, code.name, elapsed_ms,
            _context_of(request), extra)


async def _fail(method: str, request: Message, started: float, context: Context,
                exc: Exception) -> None:
    """Log the failed call once and end it with the status its error maps to."""
    code, message = status_for(exc)
    if code == grpc.StatusCode.INTERNAL:
        log.error("rpc method=%s unexpected error", method, exc_info=exc)
    _log_call(method, request, started, code, message)
    await context.abort(code, message)


def _unary(method: str, impl: Callable[..., Any]) -> Callable[..., Any]:
    async def call(request: Message, context: Context) -> Any:
        started = time.monotonic()
        try:
            response = await impl(request, context)
        except Exception as exc:
            await _fail(method, request, started, context, exc)
        _log_call(method, request, started, grpc.StatusCode.OK)
        return response

    return call


def _streaming(method: str, impl: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    async def call(request: Message, context: Context) -> AsyncIterator[Any]:
        started = time.monotonic()
        try:
            async for item in impl(request, context):
                yield item
        except Exception as exc:
            await _fail(method, request, started, context, exc)
        _log_call(method, request, started, grpc.StatusCode.OK)

    return call


def _unimplemented(service: str, method: MethodDescriptor) -> Callable[..., Any]:
    text = f"{service}/{method.name} is not implemented by pycri yet"

    async def unary(request: Message, context: Context) -> Any:
        log.info("rpc method=%s code=UNIMPLEMENTED", method.name)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, text)

    async def stream(request: Message, context: Context) -> AsyncIterator[Any]:
        log.info("rpc method=%s code=UNIMPLEMENTED", method.name)
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, text)
        yield  # pragma: no cover - marks this function as an async generator

    return stream if method.server_streaming else unary


def _serves(obj: object, name: str) -> bool:
    """True when `obj` really implements `name` (not a generated servicer's placeholder)."""
    fn = getattr(type(obj), name, None)
    return fn is not None and not getattr(fn, "__module__", "").endswith("_pb2_grpc")


def generic_handler(
    descriptor: ServiceDescriptor, implementations: Iterable[object], message_classes: Any
) -> grpc.GenericRpcHandler:
    """A handler for every method of `descriptor`, served by `implementations` where they can."""
    impls = list(implementations)
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in descriptor.methods:
        request_cls = getattr(message_classes, method.input_type.name)
        response_cls = getattr(message_classes, method.output_type.name)
        impl = next((getattr(o, method.name) for o in impls if _serves(o, method.name)), None)
        if impl is None:
            fn = _unimplemented(descriptor.name, method)
        elif method.server_streaming:
            fn = _streaming(method.name, impl)
        else:
            fn = _unary(method.name, impl)
        factory = (grpc.unary_stream_rpc_method_handler if method.server_streaming
                   else grpc.unary_unary_rpc_method_handler)
        handlers[method.name] = factory(
            fn,
            request_deserializer=request_cls.FromString,
            response_serializer=response_cls.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(descriptor.full_name, handlers)
