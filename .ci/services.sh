#!/usr/bin/env bash
# Starts the local services the store tests talk to, if they are installed and not running.
# Start commands are the machine's own (see the environment notes); each is idempotent.
set -u
up() { timeout 1 bash -c "</dev/tcp/127.0.0.1/$1" 2>/dev/null; }

if ! up 5432 && command -v pg_ctlcluster >/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! up 5672 && command -v rabbitmq-server >/dev/null; then
  echo "starting RabbitMQ"
  rabbitmq-server -detached || true
  for _ in $(seq 1 60); do up 5672 && break; sleep 1; done
fi
for port in 5432 5672; do
  if up "$port"; then echo "service on 127.0.0.1:$port is up"; else echo "service on 127.0.0.1:$port is NOT up (tests needing it will say they skip)"; fi
done
