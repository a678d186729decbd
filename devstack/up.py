"""`lessonq up`: the whole stack on this machine, until Ctrl-C."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from config.settings import load_settings
from devstack.stack import WebPorts, local_stack


def up(intake_port: int, flower_port: int) -> int:
    settings = load_settings()
    secret = settings.flower_password
    password = secret.get_secret_value() if secret else secrets.token_urlsafe(12)
    web = WebPorts(intake=intake_port, flower=flower_port, flower_password=password)
    with (
        tempfile.TemporaryDirectory(prefix="lessonq-up-") as workdir,
        local_stack(Path(workdir), settings.curriculum.resolve(), web=web) as stack,
    ):
        print(
            "lessonq is up (Ctrl-C stops everything):\n"
            f"  intake   http://127.0.0.1:{web.intake}  (OpenAPI: /docs)\n"
            f"  flower   http://127.0.0.1:{web.flower}  (user {settings.flower_user}, "
            f"password {password})\n"
            f"  redis    {stack.settings.redis_url}\n"
            f"  kubesim  {stack.env['LESSONQ_KUBE_URL']}\n"
            f"  logs     {workdir}\n"
            "In another shell, for the lessonq commands:\n"
            f"  export {stack.exports()}",
            flush=True,
        )
        return stack.supervise()
