#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the database-tls variant on 127.0.0.1:5433 with TLS on:
# a CA and a server certificate (for localhost and 127.0.0.1) made with openssl, and a data
# folder, all under .ferry-data/database-tls/ (run from the repository's root), linked from
# /tmp/ferry-database-tls so the YAML can name the CA file. Needs Debian's postgresql
# (initdb, pg_ctl) and openssl. Stop it with:
#   pg_ctl -D .ferry-data/database-tls/data stop      (as the postgres user when root)
set -eu
dir="$PWD/.ferry-data/database-tls"
mkdir -p "$dir"
ln -sfn "$dir" /tmp/ferry-database-tls
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
# PostgreSQL will not run as root: then its tools run as the postgres user, who owns the folder.
run=()
if [ "$(id -u)" = 0 ]; then run=(runuser -u postgres --); fi

if [ ! -f "$dir/ca.crt" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=database-tls sample CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$dir/ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 30 -extfile "$dir/ext" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key"
fi
if [ ! -d "$dir/data" ]; then
  [ "$(id -u)" != 0 ] || chown -R postgres "$dir"
  "${run[@]}" "$bin/initdb" -A trust -U postgres -D "$dir/data" >/dev/null
fi
[ "$(id -u)" != 0 ] || chown -R postgres "$dir"
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w start -o \
  "-p 5433 -k $dir -c listen_addresses=127.0.0.1 -c ssl=on \
   -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key"
echo "PostgreSQL with TLS on 127.0.0.1:5433; CA: /tmp/ferry-database-tls/ca.crt"
