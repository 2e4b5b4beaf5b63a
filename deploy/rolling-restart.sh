#!/usr/bin/env bash
# Restarts the web processes of the Flower Account Service one at a time without failing a request:
# for each process, take it out of nginx's rotation, restart it (SIGTERM lets in-flight requests finish),
# wait until its /healthz answers, put it back. Then the worker, if it runs as its own unit.
#   usage (as root):  deploy/rolling-restart.sh [port ...]     default: every port in the upstream file
# The migrations of a new release must already be applied ("Upgrade" in docs/OPERATIONS.md).
# Exercised under load by test/deploy/rolling-restart.deploy.ts (with a stand-in for systemctl).
#
# Settings (environment): UPSTREAM_FILE (/etc/nginx/flowers-upstream.conf), NGINX_CONF (nginx's main file,
# default nginx's own), HEALTH_TIMEOUT seconds (60), DRAIN_SECONDS (2), SYSTEMCTL (systemctl).
set -euo pipefail

upstream="${UPSTREAM_FILE:-/etc/nginx/flowers-upstream.conf}"
health_timeout="${HEALTH_TIMEOUT:-60}"
drain="${DRAIN_SECONDS:-2}"
systemctl="${SYSTEMCTL:-systemctl}"

log() { echo "rolling-restart: $*"; }
fail() { echo "rolling-restart: $*" >&2; exit 1; }

[[ -w "$upstream" ]] || fail "cannot write $upstream"
mapfile -t listed < <(sed -nE 's/^[[:space:]]*server[[:space:]]+127\.0\.0\.1:([0-9]+)[[:space:];].*/\1/p' "$upstream")
ports=("$@")
[[ ${#ports[@]} -gt 0 ]] || ports=("${listed[@]}")
[[ ${#ports[@]} -gt 0 ]] || fail "no 'server 127.0.0.1:<port>' lines in $upstream"
for port in "${ports[@]}"; do
  [[ " ${listed[*]} " == *" $port "* ]] || fail "port $port is not in $upstream"
done
if [[ ${#listed[@]} -lt 2 ]]; then
  log "only one process in $upstream: requests will fail while it restarts (run two for zero downtime)"
fi

reload_nginx() {
  if [[ -n "${NGINX_CONF:-}" ]]; then nginx -t -q -c "$NGINX_CONF"; else nginx -t -q; fi
  "$systemctl" reload nginx
}

# Marks the line of one port " down" (out of rotation) or removes the mark.
set_down() {
  local port="$1" down="$2"
  sed -i -E "/^[[:space:]]*server[[:space:]]+127\.0\.0\.1:${port}[[:space:];]/ { s/[[:space:]]+down;/;/; ${down:+s/;/ down;/} }" "$upstream"
}

healthy() {
  [[ "$(curl -fsS --max-time 2 "http://127.0.0.1:$1/healthz" 2>/dev/null)" == "ok" ]]
}

for port in "${ports[@]}"; do
  for other in "${listed[@]}"; do
    [[ "$other" == "$port" ]] && continue
    healthy "$other" || fail "process on port $other is not healthy; not taking $port out of rotation"
  done

  log "port $port: out of rotation"
  set_down "$port" yes
  reload_nginx
  sleep "$drain" # nginx's old workers finish what they sent to this process

  log "port $port: restarting flowers@$port"
  "$systemctl" restart "flowers@$port.service"
  deadline=$((SECONDS + health_timeout))
  until healthy "$port"; do
    if (( SECONDS >= deadline )); then
      fail "flowers@$port did not answer /healthz within ${health_timeout}s; it stays out of rotation (journalctl -u flowers@$port)"
    fi
    sleep 0.5
  done

  set_down "$port" ""
  reload_nginx
  sleep "$drain"
  log "port $port: back in rotation"
done

# The worker (if it runs as its own unit) stops after its running job and starts on the new release.
"$systemctl" try-restart flowers-worker.service
log "done: ${ports[*]}"
