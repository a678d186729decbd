"""The settings the bridge plugin cannot make: what a lesson bridge must look like, and the
changes that get it there from what discovery found.

- ``group_fwd_mask``: a Linux bridge drops frames to the link-local group addresses
  01:80:c2:00:00:0X (bit X of the mask), which LLDP (0x0e), LACP (0x02) and 802.1X (0x03)
  use: network devices on a lesson link would never see each other's. A link is a cable, so
  the agent forwards every group the kernel allows. The kernel refuses bits 0-2 on the bridge
  (STP, pause, LACP) and only pause (bit 1) on a port, and a frame is forwarded when the
  bridge's mask or its ingress port's has the bit: so LACP needs the ports' masks, and the
  bridge's covers the rest from the moment a pass saw the bridge (a port that appeared since
  carries LLDP and 802.1X already, LACP after the next pass).
- No addresses: the kernel gives each bridge an IPv6 link-local address, through which the
  pods of its link reach the node itself (the lesson's NetworkPolicy does not cover lesson
  links). Address generation off (``addrgenmode none``) and the addresses flushed; the
  nftables rules (``rules``) drop whatever else comes in.
"""

from __future__ import annotations

from nodeagent.bridges import Bridge
from nodeagent.host import (
    Change,
    FlushAddresses,
    SetBridgeMask,
    SetPortMask,
    StopAddressGeneration,
)

ALL_GROUPS = 0xFFFF
# The bits the kernel refuses (EINVAL): BR_GROUPFWD_RESTRICTED on a bridge, and
# BR_GROUPFWD_MACPAUSE on a port (a bridge never forwards pause frames anyway).
RESTRICTED_ON_BRIDGE = 0x0007
RESTRICTED_ON_PORT = 0x0002
BRIDGE_MASK = ALL_GROUPS & ~RESTRICTED_ON_BRIDGE
PORT_MASK = ALL_GROUPS & ~RESTRICTED_ON_PORT
# The protocols lessons rely on, by bit (the last byte of their group address).
LACP, PAE_8021X, LLDP = 0x02, 0x03, 0x0E
NO_ADDRESS_GENERATION = "none"


def changes(bridge: Bridge) -> list[Change]:
    """What `bridge` and its ports need to look like a cable; nothing once they do."""
    needed: list[Change] = []
    if bridge.link.bridge_mask != BRIDGE_MASK:
        needed.append(SetBridgeMask(bridge.name, BRIDGE_MASK))
    needed += [SetPortMask(p.name, PORT_MASK) for p in bridge.ports if p.port_mask != PORT_MASK]
    # A node without IPv6 reports no generation mode: there is nothing to turn off then.
    if bridge.link.addr_gen_mode not in (None, NO_ADDRESS_GENERATION):
        needed.append(StopAddressGeneration(bridge.name))
    if bridge.link.addresses:
        needed.append(FlushAddresses(bridge.name))
    return needed
