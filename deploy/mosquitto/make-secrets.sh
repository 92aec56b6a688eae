#!/usr/bin/env bash
# Make what a secured Mosquitto needs for gatewatch, for development and tests:
#   a CA and a broker certificate (CN/SAN localhost, 127.0.0.1 and $GATEWATCH_BROKER_HOST),
#   a password file with one identity per gate, one for the aggregator, one for the desk,
#   and the ACL that confines each identity to its own topics.
#
#   deploy/mosquitto/make-secrets.sh OUT_DIR SITE/EDGE [SITE/EDGE...]
#
# Writes OUT_DIR/{ca.crt,ca.key,server.crt,server.key,passwd,acl,credentials.txt}.
# credentials.txt holds the generated passwords (user password per line): hand each gate its
# own line and delete the file. For production, sign the broker certificate with your own CA.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OUT_DIR SITE/EDGE [SITE/EDGE...]" >&2; exit 2; }
out=$1; shift
mkdir -p "$out"
umask 077
host=${GATEWATCH_BROKER_HOST:-localhost}

openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=gatewatch dev CA" \
  -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=$host" \
  -keyout "$out/server.key" -out "$out/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,DNS:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$host" > "$out/server.ext"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
  -days 825 -extfile "$out/server.ext" -out "$out/server.crt" 2>/dev/null
rm -f "$out/server.csr" "$out/server.ext" "$out/ca.srl"
chmod 644 "$out/ca.crt" "$out/server.crt"

password() { openssl rand -hex 16; }
: > "$out/passwd"
: > "$out/credentials.txt"
add_user() {
  local user=$1 pass
  pass=$(password)
  mosquitto_passwd -b "$out/passwd" "$user" "$pass" 2>/dev/null
  echo "$user $pass" >> "$out/credentials.txt"
}

{
  echo "# gatewatch ACL: who may publish and read what. Anything not granted is refused."
  echo "# Made by deploy/mosquitto/make-secrets.sh."
  echo
  echo "user aggregator"
  echo "topic read gatewatch/v1/+/+/+/events"
  echo "topic read gatewatch/v1/+/+/status"
  echo "topic write gatewatch/v1/+/+/ack"
  echo "topic write gatewatch/v1/erasures"
  echo "topic read gatewatch/v1/+/+/erased"
  echo "topic readwrite gatewatch/v1/+/alerts"
  echo
  echo "user desk"
  echo "topic read gatewatch/v1/+/alerts"
  echo "topic read gatewatch/v1/+/+/status"
} > "$out/acl"
add_user aggregator
add_user desk

for gate in "$@"; do
  site=${gate%%/*}; edge=${gate#*/}
  if ! [[ $site =~ ^[A-Za-z0-9_-]{1,64}$ && $edge =~ ^[A-Za-z0-9_-]{1,64}$ && $gate == "$site/$edge" ]]; then
    echo "bad gate $gate: want SITE/EDGE of A-Z a-z 0-9 _ -" >&2; exit 2
  fi
  {
    echo
    echo "user $site.$edge"
    echo "topic write gatewatch/v1/$site/$edge/+/events"
    echo "topic write gatewatch/v1/$site/$edge/status"
    echo "topic read gatewatch/v1/$site/$edge/ack"
    echo "topic read gatewatch/v1/erasures"
    echo "topic write gatewatch/v1/$site/$edge/erased"
  } >> "$out/acl"
  add_user "$site.$edge"
done
chmod 600 "$out/passwd" "$out/acl" "$out/credentials.txt"
echo "[make-secrets] wrote $out: CA, broker certificate for $host, $(( $# + 2 )) identities"
