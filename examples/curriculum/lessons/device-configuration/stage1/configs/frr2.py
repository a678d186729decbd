"""frr2 at stage 1: copy frr2/frr.conf to the router and reload FRRouting."""

import os
from pathlib import Path

import paramiko

HERE = Path(__file__).parent
host = os.environ["ANTIDOTE_TARGET_HOST"]
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect(
    host,
    username=os.environ["ANTIDOTE_TARGET_USERNAME"],
    password=os.environ["ANTIDOTE_TARGET_PASSWORD"],
)
with client.open_sftp() as sftp, open(HERE / "frr2" / "frr.conf", "rb") as conf:
    sftp.putfo(conf, "/tmp/frr.conf")
for command in ("sudo cp /tmp/frr.conf /etc/frr/frr.conf", "sudo systemctl reload frr"):
    _, out, err = client.exec_command(command)
    if out.channel.recv_exit_status() != 0:
        raise SystemExit(f"{command}: {err.read().decode()}")
client.close()
