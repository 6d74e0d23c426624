#!/usr/bin/env bash
# Build failover's container image without an image registry, then check it.
#
#   1. the base: Debian (minbase, like debian:*-slim) from Debian's own packages, with
#      mmdebstrap (or debootstrap) into a tarball, imported by podman;
#   2. the image: deploy/container/Containerfile on that base (podman build; apt and pip
#      inside the build reach Debian's mirror and PyPI, nothing else);
#   3. the checks, in containers without any network (--network=none: loopback only):
#      the image's user, volume and HEALTHCHECK; the daemon starts on a loopback-only
#      configuration ([catalog] builtin = false, every target on 127.0.0.1), the
#      HEALTHCHECK answers (GET /healthz), `failover check --nagios` and `failover status`
#      read OK, the database is in the volume, SIGTERM stops it with exit 0; and
#      `failover demo` runs to the end inside a fresh container.
#
# Run it as root from anywhere: deploy/container/build-and-check.sh
# Needs: podman, and mmdebstrap or debootstrap (apt-get install podman mmdebstrap).
# Settings (environment):
#   SUITE=bookworm  MIRROR=http://deb.debian.org/debian  the Debian release and mirror
#   IMAGE=localhost/failover:check                       the tag of the image built
#   REBUILD_BASE=1                                       build the base again even if present
#   OCI_RUNTIME=crun|runc                                default: the first that runs here
#   PIP_CA=/path/to/bundle.pem                           CA bundle for pip inside the build
#                                                        (default: the host's, if any)
# Exit status: 0 every check passed; 1 a check failed (the step is named); 2 a tool is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-${MIRROR%/debian}/debian-security}
IMAGE=${IMAGE:-localhost/failover:check}
BASE_IMAGE=${BASE_IMAGE:-localhost/failover-base:$SUITE}
PIP_CA=${PIP_CA:-/etc/ssl/certs/ca-certificates.crt}
# Containers may not raise their limits above what this shell has: some sandboxes take
# CAP_SYS_RESOURCE away, and podman's defaults (nofile 1048576) then fail to apply.
NOFILE=$(ulimit -Sn)
ULIMITS=(--ulimit "nofile=$NOFILE:$NOFILE" --ulimit "nproc=4096:4096")
RUN_ID=$$
CONTAINER=failover-check-$RUN_ID
VOLUME=failover-check-state-$RUN_ID
work=$(mktemp -d /tmp/failover-container.XXXXXX)

step() { printf '\n==> %s\n' "$*"; }
ok() { printf '    ok: %s\n' "$*"; }
die() {
  printf '\nFAILED: %s\n' "$*" >&2
  if podman container exists "$CONTAINER" 2>/dev/null; then
    printf -- '--- the container'"'"'s log (tail) ---\n' >&2
    podman logs --tail 40 "$CONTAINER" >&2 || true
  fi
  exit 1
}
cleanup() {
  podman rm -f -t 0 "$CONTAINER" >/dev/null 2>&1 || true
  podman volume rm -f "$VOLUME" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "tools"
command -v podman >/dev/null || { echo "podman is missing: apt-get install podman" >&2; exit 2; }
if command -v mmdebstrap >/dev/null; then
  bootstrap=mmdebstrap
elif command -v debootstrap >/dev/null; then
  bootstrap=debootstrap
else
  echo "mmdebstrap or debootstrap is missing: apt-get install mmdebstrap" >&2
  exit 2
fi
ok "$(podman --version), $bootstrap"

step "base image $BASE_IMAGE (Debian $SUITE, minbase, from $MIRROR)"
if [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$BASE_IMAGE"; then
  ok "present; REBUILD_BASE=1 builds it again"
else
  sources=("deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECURITY_MIRROR $SUITE-security main")
  if [ "$bootstrap" = mmdebstrap ]; then
    # what debian:*-slim leaves out: documentation, manual pages and translations
    mmdebstrap --variant=minbase --quiet \
      --dpkgopt='path-exclude=/usr/share/man/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' \
      --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/info/*' \
      --aptopt='APT::Install-Recommends "false"' \
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
      "$SUITE" "$work/base.tar" "${sources[@]}"
  else
    debootstrap --variant=minbase "$SUITE" "$work/rootfs" "$MIRROR"
    printf '%s\n' "${sources[@]}" >"$work/rootfs/etc/apt/sources.list"
    rm -rf "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/var/cache/apt/*.bin
    tar -C "$work/rootfs" --numeric-owner -cf "$work/base.tar" .
  fi
  podman import --quiet --change 'CMD ["/bin/bash"]' "$work/base.tar" "$BASE_IMAGE" >/dev/null
  rm -f "$work/base.tar"
  ok "imported $(podman image inspect --format '{{.Size}}' "$BASE_IMAGE") bytes"
fi

step "an OCI runtime that runs here"
runtime=""
for candidate in ${OCI_RUNTIME:-crun runc}; do
  command -v "$candidate" >/dev/null || continue
  if out=$(podman --runtime "$candidate" run --rm --network=none "${ULIMITS[@]}" "$BASE_IMAGE" true 2>&1); then
    runtime=$candidate
    break
  fi
  printf '    %s cannot run a container here: %s\n' "$candidate" "$(tail -n 1 <<<"$out")"
done
[ -n "$runtime" ] || die "no OCI runtime (${OCI_RUNTIME:-crun runc}) starts a container here"
ok "$runtime"
pm() { podman --runtime "$runtime" "$@"; }

step "image $IMAGE (deploy/container/Containerfile on $BASE_IMAGE)"
# the context: what the Containerfile copies, and nothing else (no .venv, no var/)
mkdir -p "$work/context"
cp -a "$root/pyproject.toml" "$root/README.md" "$root/src" "$work/context/"
find "$work/context" -name __pycache__ -prune -exec rm -rf {} +
secret=()
if [ -s "$PIP_CA" ]; then secret=(--secret "id=pip-ca,src=$PIP_CA"); fi
# --format docker: OCI image metadata has no HEALTHCHECK; --network host: apt and pip
pm build --quiet --format docker --network host "${ULIMITS[@]}" "${secret[@]}" \
  --build-arg "BASE=$BASE_IMAGE" -f "$here/Containerfile" -t "$IMAGE" "$work/context" >/dev/null
ok "built: $(pm image inspect --format '{{.Id}}' "$IMAGE" | cut -c1-12), $(pm image inspect --format '{{.Size}}' "$IMAGE") bytes"

step "image metadata"
user=$(pm image inspect --format '{{.Config.User}}' "$IMAGE")
[ "$user" = failover ] || die "the image runs as '$user', not failover"
pm image inspect --format '{{json .Config.Volumes}}' "$IMAGE" | grep -q '"/var/lib/failover"' ||
  die "no volume at /var/lib/failover"
health=$(pm image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")
grep -q FAILOVER_HEALTHCHECK_URL <<<"$health" || die "no HEALTHCHECK: $health"
pm image inspect --format '{{json .Config.Env}}' "$IMAGE" | grep -q 'FAILOVER_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz' ||
  die "the HEALTHCHECK does not ask /healthz"
ok "user failover, volume /var/lib/failover, HEALTHCHECK on http://127.0.0.1:9464/healthz"

step "the daemon on a loopback-only configuration, in a container without network"
mkdir -p "$work/etc"
# Nothing here may leave the container: no built-in catalog, every target on 127.0.0.1
# (the daemon's own surface stands for a platform; three TCP controls knock on it too).
cat >"$work/etc/failover.toml" <<'TOML'
[catalog]
builtin = false

[daemon]
listen = "127.0.0.1:9464"

[probes]
# any name lookup asks loopback, never the resolver podman writes into /etc/resolv.conf
nameservers = ["127.0.0.1:53"]

[platforms.loopback]
display_name = "The daemon itself"
interval = "2s"

[[platforms.loopback.checks]]
kind = "http"
name = "healthz"
url = "http://127.0.0.1:9464/healthz"
timeout = "1s"

[controls.control-a]
[[controls.control-a.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9464
timeout = "1s"

[controls.control-b]
[[controls.control-b.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9464
timeout = "1s"

[controls.control-c]
[[controls.control-c.checks]]
kind = "tcp"
name = "tcp"
host = "127.0.0.1"
port = 9464
timeout = "1s"
TOML
chmod 0644 "$work/etc/failover.toml"
pm volume create "$VOLUME" >/dev/null
# --health-interval=disable: podman schedules health checks with systemd timers, which a
# machine without systemd lacks; this script runs the image's HEALTHCHECK itself below
pm run -d --name "$CONTAINER" --network=none --read-only --cap-drop=all \
  --security-opt no-new-privileges --health-interval=disable "${ULIMITS[@]}" \
  -v "$work/etc/failover.toml:/etc/failover/failover.toml:ro" -v "$VOLUME:/var/lib/failover" \
  "$IMAGE" >/dev/null
uid=$(pm exec "$CONTAINER" id -u)
[ "$uid" != 0 ] || die "the daemon runs as root"
ok "running as uid $uid, read-only root, no capabilities, no network but loopback"

healthy=0
for _ in $(seq 1 60); do
  if pm healthcheck run "$CONTAINER" >/dev/null 2>&1; then
    healthy=1
    break
  fi
  [ "$(pm inspect --format '{{.State.Running}}' "$CONTAINER")" = true ] || die "the daemon exited"
  sleep 1
done
[ "$healthy" = 1 ] || die "the HEALTHCHECK never passed within 60 s"
ok "HEALTHCHECK passes: $(pm exec "$CONTAINER" python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9464/healthz", timeout=4).read().decode())')"

judged=0
for _ in $(seq 1 30); do
  if status=$(pm exec "$CONTAINER" failover status 2>&1); then
    judged=1
    break
  fi
  sleep 1
done
[ "$judged" = 1 ] || die "failover status never exited 0: $status"
ok "failover status exits 0"
check=$(pm exec "$CONTAINER" failover check --nagios) || die "failover check --nagios exited $?: $check"
ok "failover check --nagios: $(head -n 1 <<<"$check")"
metrics=$(pm exec "$CONTAINER" python3 -c 'import urllib.request as u; print(u.urlopen("http://127.0.0.1:9464/metrics", timeout=4).read().decode())')
grep -q '^process_resident_memory_bytes ' <<<"$metrics" || die "/metrics has no process_resident_memory_bytes"
grep -Eq '^failover_platform_up\{.*platform="loopback".*\} 1\.0$' <<<"$metrics" ||
  die "/metrics does not show the loopback platform up"
ok "/metrics: failover_platform_up{platform=\"loopback\"} 1, process_resident_memory_bytes"
pm exec "$CONTAINER" test -s /var/lib/failover/failover.db || die "no database in the volume"
ok "the database is in the volume: $(pm exec "$CONTAINER" ls -l /var/lib/failover/failover.db)"

pm stop -t 15 "$CONTAINER" >/dev/null
code=$(pm inspect --format '{{.State.ExitCode}}' "$CONTAINER")
[ "$code" = 0 ] || die "the daemon exited $code on SIGTERM"
ok "SIGTERM: exit 0"

step "failover demo inside a fresh container without network"
if ! demo=$(pm run --rm --network=none --read-only --cap-drop=all --security-opt no-new-privileges \
  "${ULIMITS[@]}" -e COLUMNS=100 "$IMAGE" demo 2>&1); then
  printf '%s\n' "$demo" | tail -n 30 >&2
  die "failover demo failed"
fi
printf '%s\n' "$demo" | tail -n 12 | sed 's/^/    | /'
grep -q 'WhatsApp' <<<"$demo" || die "the demo did not report its WhatsApp outage"
ok "failover demo exits 0"

printf '\nall checks passed: %s (base %s, runtime %s)\n' "$IMAGE" "$BASE_IMAGE" "$runtime"
