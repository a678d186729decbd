"""The node agent: what the bridge CNI plugin leaves undone on each node that runs lessons.

Every link of a lesson is a Linux bridge on the node (``lessons.naming.bridge_name``) that
Multus's bridge plugin creates and never configures beyond the basics nor deletes. Measured
with the real plugin, that leaves lesson links unlike the cables they stand for: the bridge
drops link-local frames (LLDP, LACP, 802.1X), it has an IPv6 address through which pods reach
the node, with ``br_netfilter`` every lesson frame goes through the node's conntrack, and every
bridge stays behind forever once its lesson is gone.

``python -m nodeagent`` (``lessonq node-agent``, a DaemonSet: ``deploy/node-agent.yaml``) fixes
that on its node, a pass every few seconds, touching only bridges with lessonq's prefix and
their ports: ``bridges`` finds them, ``knobs`` sets what the plugin cannot, ``rules`` keeps the
agent's nftables tables in place, ``cleanup`` deletes bridges left empty; given a desired state,
``tunnels`` joins a link's bridges on several nodes with VXLAN ports and ``allowlist`` lets
their VXLAN in only from the peers wired; ``agent`` runs a pass over a ``host.Host``, which
``linux`` implements with iproute2 and nftables.
"""
