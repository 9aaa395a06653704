# scripts/lib.sh: shared by run, test and bench: install what is missing, build.
# shellcheck shell=bash

CALSYNC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CALSYNC_BUILD_PACKAGES="build-essential cmake pkg-config libfcgi-dev libcurl4-openssl-dev \
libcjson-dev libsqlite3-dev libsodium-dev libmicrohttpd-dev libcmocka-dev nginx-light tzdata \
curl ca-certificates sqlite3 libmariadb-dev"
CALSYNC_TEST_PACKAGES="chromium nodejs openssl spawn-fcgi clang libclang-rt-14-dev"
# the MySQL-protocol store: a private MariaDB server (scripts/mariadb) for the mysql tests
CALSYNC_TEST_PACKAGES="$CALSYNC_TEST_PACKAGES mariadb-server mariadb-client"
# the deploy kit test (tests/deploy): package, lint, verify units, socket activation
CALSYNC_TEST_PACKAGES="$CALSYNC_TEST_PACKAGES lintian systemd dpkg-dev fakeroot file"
# /metrics and the alerting rules checked with promtool (it_metrics, the deploy kit)
CALSYNC_TEST_PACKAGES="$CALSYNC_TEST_PACKAGES prometheus"

log() { printf '[calsync] %s\n' "$*" >&2; }

# Installs the Debian packages named in "$@" that are not installed yet.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing packages: ${missing[*]} (run as root, or install them)"
        return 1
    fi
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# build DIR [cmake args...]: configures (once) and builds.
build() {
    local dir=$1
    shift
    cmake -S "$CALSYNC_ROOT" -B "$dir" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" >/dev/null
}

# npm ships inside some nodejs packages (NodeSource); Debian splits it out.
ensure_npm() {
    command -v npm >/dev/null 2>&1 || ensure_packages npm
}

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 -v | tr -d ' \n'; }
