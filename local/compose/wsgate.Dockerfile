# The local WebSocket gateway of docker-compose.yml (local/wsgate): the lock `make up`'s
# .local/venvs/wsgate installs. Build context: local/. The source is mounted at /src.
FROM python:3.13.0-slim

COPY wsgate/requirements.txt /tmp/wsgate-requirements.txt
RUN pip install --no-cache-dir --require-hashes --no-deps -r /tmp/wsgate-requirements.txt
