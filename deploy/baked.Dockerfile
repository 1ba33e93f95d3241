# syntax=docker/dockerfile:1
# The vecclf image with a model store baked in (the other way is a volume mounted read-only at /models).
# Build it with the folder holding the store as the context, for example:
#   docker build -f deploy/baked.Dockerfile --build-arg BASE=vecclf:1.4.0 -t vecclf-sentiment:2026-12-01 /srv/vecclf
# where /srv/vecclf/models is a store made by `vecclf vectors default` and `vecclf train`.
# The files stay owned by root: the service only reads them.
ARG BASE=vecclf:latest
FROM ${BASE}
COPY models/ /models/
