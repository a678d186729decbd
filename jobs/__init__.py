"""lessonq's jobs as messages: what each task receives (`StepPayload`) and the producer that
sends them to the Celery queue in Redis."""

from jobs.payload import StepPayload
from jobs.producer import CeleryProducer, Producer, messaging, sending_app

__all__ = ["CeleryProducer", "Producer", "StepPayload", "messaging", "sending_app"]
