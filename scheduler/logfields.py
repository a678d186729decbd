"""Where a log record carries lessonq's own fields: ``log.info(..., extra={EXTRA_KEY: fields})``
(``tasks.provision.log_step``). The JSON formatter (``workers.logs``) puts them at the top level
of each line. Here so that both can import it, and tasks never import workers."""

EXTRA_KEY = "lessonq"
