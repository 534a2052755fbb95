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
if ! up 1883 && command -v mosquitto >/dev/null; then
  echo "starting Mosquitto"
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' > /tmp/ferry-mosquitto.conf
  mosquitto -d -c /tmp/ferry-mosquitto.conf || true
  for _ in $(seq 1 20); do up 1883 && break; sleep 0.5; done
fi
# The email tests start their own SMTP server on 127.0.0.1 with Python's aiosmtpd (PyPI).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  echo "installing aiosmtpd (the email tests' SMTP server)"
  python3 -m pip install --quiet aiosmtpd 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages aiosmtpd \
    || echo "aiosmtpd could not be installed (the email tests will say they skip)"
fi
# The remote file tests start their own servers on 127.0.0.1: Debian's OpenSSH server (sshd,
# run with a config of the test's own; the package's own service is not started here) for
# SFTP, and pyftpdlib (PyPI, TLS through pyopenssl) for FTP and FTPS.
if [ ! -x /usr/sbin/sshd ] && command -v apt-get >/dev/null; then
  echo "installing openssh-server (the SFTP tests' server)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server >/dev/null 2>&1; } \
    || echo "openssh-server could not be installed (the SFTP tests will say they skip)"
fi
mkdir -p /run/sshd 2>/dev/null || true
if ! python3 -c 'import pyftpdlib, OpenSSL' 2>/dev/null; then
  echo "installing pyftpdlib and pyopenssl (the FTP and FTPS tests' server)"
  python3 -m pip install --quiet pyftpdlib pyopenssl 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages pyftpdlib pyopenssl \
    || echo "pyftpdlib could not be installed (the FTP tests will say they skip)"
fi
for port in 5432 5672 1883; do
  if up "$port"; then echo "service on 127.0.0.1:$port is up"; else echo "service on 127.0.0.1:$port is NOT up (tests needing it will say they skip)"; fi
done
