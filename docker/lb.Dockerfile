# Load balancer for `make up-1 REPLICAS=N`: Debian's nginx in front of every lab1-replica
# container. At start it renders deploy/lb/nginx.conf.in with the service name, which nginx
# resolves to ALL replica addresses (compose's DNS answers one A record per container).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* && useradd --uid 10001 --create-home app
COPY deploy/lb/nginx.conf.in deploy/lb/render.py /opt/lb/
COPY docker/healthcheck.py /opt/healthcheck.py
USER app
EXPOSE 8000
ENV LB_UPSTREAM=lab1-replica:8000
CMD ["sh", "-c", "mkdir -p /tmp/lb && python3 /opt/lb/render.py --listen 8000 --prefix /tmp/lb $LB_UPSTREAM > /tmp/lb/nginx.conf && exec nginx -p /tmp/lb -c /tmp/lb/nginx.conf -g 'daemon off;'"]
