# lessonq's images: `lessonq intake|worker|beat|flower|node-agent` (docker-compose.yml, deploy/).
#   docker build -t lessonq .                  the production image (the last stage): lessonq
#                                              alone, neither kubesim nor kubernetes-validate
#   docker build --target kubesim -t x .       the same plus kubesim, for `lessonq sim` in the
#                                              development stack (docker-compose.yml)
FROM python:3.11-slim AS lessonq

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LESSONQ_CURRICULUM=/app/examples/curriculum

WORKDIR /app
# The node agent (`lessonq node-agent`, deploy/node-agent.yaml) works through ip and nft.
RUN apt-get update \
    && apt-get install -y --no-install-recommends iproute2 nftables \
    && rm -rf /var/lib/apt/lists/*
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
COPY lessons lessons
COPY registry registry
COPY jobs jobs
COPY kube kube
COPY scheduler scheduler
COPY tasks tasks
COPY workers workers
COPY nodeagent nodeagent
RUN pip install --no-deps .
COPY examples examples

# A numeric, unprivileged user: Kubernetes' runAsNonRoot can check it.
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin lessonq
USER 10001

# intake, Flower, worker metrics
EXPOSE 8000 5555 9100
ENTRYPOINT ["lessonq"]
CMD ["intake", "--host", "0.0.0.0", "--port", "8000"]

# kubesim, the development stack's cluster: `lessonq sim` in docker-compose.yml.
FROM lessonq AS kubesim
USER root
COPY kubesim /tmp/kubesim
RUN pip install /tmp/kubesim && rm -rf /tmp/kubesim
USER 10001
EXPOSE 8001
CMD ["sim", "--host", "0.0.0.0", "--port", "8001"]

# The default target: the production image, lessonq alone.
FROM lessonq AS production
