"""Pure functions from CRI configuration to the OCI runtime spec."""

from pycri.cri.specgen.container import generate
from pycri.cri.specgen.inputs import HostFeatures, ImageView, SandboxView, SpecInputs

__all__ = ["HostFeatures", "ImageView", "SandboxView", "SpecInputs", "generate"]
