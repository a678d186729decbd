"""kubesim: a Kubernetes API emulator that the official client and kubectl talk to over HTTP."""

from kubesim.config import FaultRule, ImageProfile, SimConfig
from kubesim.sim import KubeSim

__all__ = ["FaultRule", "ImageProfile", "KubeSim", "SimConfig"]
