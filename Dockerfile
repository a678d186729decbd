# One image for every lessonq process: `lessonq intake|worker|beat|flower|sim` (docker-compose.yml,
# deploy/). Build: docker build -t lessonq .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LESSONQ_CURRICULUM=/app/examples/curriculum

WORKDIR /app
# The dependencies first, in a layer of their own that only pyproject.toml invalidates: read
# from [project] dependencies and installed before any source is copied, so editing the code
# does not reinstall them.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt
# Then lessonq itself, without touching the dependencies.
COPY README.md ./
COPY config config
COPY scheduler scheduler
COPY tasks tasks
COPY workers workers
COPY kubesim kubesim
RUN pip install --no-deps .
COPY examples examples

# A numeric, unprivileged user: Kubernetes' runAsNonRoot can check it.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin lessonq
USER 10001

# intake, Flower, kubesim, worker metrics
EXPOSE 8000 5555 8001 9100
ENTRYPOINT ["lessonq"]
CMD ["intake", "--host", "0.0.0.0", "--port", "8000"]
