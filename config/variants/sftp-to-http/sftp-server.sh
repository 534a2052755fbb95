#!/usr/bin/env bash
# Starts a throwaway OpenSSH server for the sftp-to-http variant on 127.0.0.1:2222: its own
# config, host key and client key under .ferry-data/sftp-to-http/ (run from the repository's
# root), the current user let in with the client key only, SFTP through internal-sftp.
# Stop it with: kill "$(cat .ferry-data/sftp-to-http/sshd.pid)"
set -eu
dir="$PWD/.ferry-data/sftp-to-http"
mkdir -p "$dir/in" "$dir/done" "$dir/failed"
ln -sfn "$dir" /tmp/ferry-sftp-to-http
[ -f "$dir/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-variant -f "$dir/host_key"
[ -f "$dir/client_key" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-variant -f "$dir/client_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
cat > "$dir/sshd_config" <<CONF
Port 2222
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
CONF
mkdir -p /run/sshd 2>/dev/null || true
/usr/sbin/sshd -f "$dir/sshd_config"
echo "sshd on 127.0.0.1:2222 for user $(id -un); host key to pin (server.hostKey):"
ssh-keygen -lf "$dir/host_key.pub" | awk '{print $2}'
