"""The one import point for the CRI v1 protocol: ``from pycri.api.cri import pb, pb_grpc``.

``pb`` holds the messages and enums, ``pb_grpc`` the service stubs, servicer bases and
``add_*Servicer_to_server`` helpers, both generated from api/proto/runtime/v1/api.proto.
"""

from __future__ import annotations

from pycri.api.gen import api_pb2 as pb
from pycri.api.gen import api_pb2_grpc as pb_grpc

# The version string kubelet sends in VersionRequest and expects back.
CRI_API_VERSION = "v1"
RUNTIME_SERVICE = "runtime.v1.RuntimeService"
IMAGE_SERVICE = "runtime.v1.ImageService"

__all__ = ["CRI_API_VERSION", "IMAGE_SERVICE", "RUNTIME_SERVICE", "pb", "pb_grpc"]
