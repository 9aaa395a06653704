#!/usr/bin/env bash
# tests/deploy/test_deploy.sh BUILD_DIR SOURCE_DIR: the deploy kit, end to end without booting
# systemd: builds the .deb (prefix /usr), lintian, contents and conffiles, systemd-analyze verify
# and security on the installed units, then runs the installed programs the way the units do
# (socket activation via systemd-socket-activate, config from the packaged environment file)
# behind nginx with the packaged TLS site and routes snippet, against the Google emulator, and
# checks calsync-admin doctor on good and broken configurations. Everything on 127.0.0.1;
# every process started here is stopped on exit.
set -euo pipefail

BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
PKG=$BUILD/deploy-pkg
EMULATOR=$BUILD/tests/calsync-emulator
ROUTES="auth appointments connect callback disconnect webhook sync settings metrics health"
MAX_EXPOSURE=${CALSYNC_MAX_EXPOSURE:-2.0}

T=$(mktemp -d /tmp/calsync-deploy-XXXXXX)
PIDS=()
START=$(date +%s)

step() { printf '\n== %s\n' "$*"; }
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

stop_all() {
    local p i
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for i in $(seq 50); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    PIDS=()
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_all
    if [ $rc -ne 0 ]; then
        for f in "$T"/logs/*; do
            [ -s "$f" ] || continue
            printf -- '--- %s (last 40 lines)\n' "$f" >&2
            tail -n 40 "$f" >&2
        done
    fi
    if [ $rc -eq 0 ] && [ -z "${CALSYNC_KEEP_TEST_DIR:-}" ]; then
        rm -rf "$T"
    else
        echo "test directory kept: $T" >&2
    fi
    echo "deploy test: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $(($(date +%s) - START)) s"
    exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# A TCP port on 127.0.0.1 nobody answers on, below Linux's ephemeral range (32768-60999).
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 12000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || break
    done
    echo "$p"
}

# wait_port PORT PID: 0 once something listens on PORT, 1 when PID died or after 10 s.
wait_port() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

for tool in cmake cpack lintian dpkg-deb dpkg-buildflags systemd-analyze systemd-socket-activate \
    nginx curl openssl sqlite3 promtool python3; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/test installs it)"
done
[ -x "$EMULATOR" ] || fail "no emulator at $EMULATOR"
mkdir -p "$T"/logs "$T"/run "$T"/state/run "$T"/tmp "$T"/nginx "$T"/tls "$T"/acme

# ---------------------------------------------------------------------------------------------
step "building the package (prefix /usr, Debian build flags) in $PKG"
cd "$SRC"
if [ ! -f "$PKG/CMakeCache.txt" ]; then
    CFLAGS="$(dpkg-buildflags --get CFLAGS) $(dpkg-buildflags --get CPPFLAGS)" \
        LDFLAGS="$(dpkg-buildflags --get LDFLAGS) -Wl,-z,now" \
        cmake -S "$SRC" -B "$PKG" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
        -DCALSYNC_TESTS=OFF -DCALSYNC_SANITIZE=OFF -DCALSYNC_FUZZ=OFF >"$T/logs/build.log" 2>&1 ||
        fail "cmake configure failed"
fi
cmake --build "$PKG" -j"$(nproc)" >>"$T/logs/build.log" 2>&1 || fail "build failed"
rm -rf "$PKG/packages"
(cd "$PKG" && cpack -G DEB) >>"$T/logs/build.log" 2>&1 || fail "cpack failed"
DEB=$(ls "$PKG"/packages/calsync_*.deb)
[ -f "$DEB" ] || fail "no .deb produced"
dpkg-deb --info "$DEB" | sed -n '/Package:/,/Description:/p'

step "lintian (errors fail the test)"
lrc=0
lintian --fail-on error --tag-display-limit 0 "$DEB" >"$T/lintian.log" 2>&1 || lrc=$?
grep -v 'root privileges' "$T/lintian.log" || true
[ "$lrc" -eq 0 ] || fail "lintian reports errors (status $lrc)"
echo "lintian: no errors"

step "package contents"
dpkg-deb --contents "$DEB" | awk '{print $NF}' | sed 's|^\./|/|' >"$T/contents"
expect=(
    /usr/bin/calsync-admin
    /usr/libexec/calsync/calsync-worker /usr/libexec/calsync/calsync-renew
    /lib/systemd/system/calsync-worker.service /lib/systemd/system/calsync-renew.service
    /lib/systemd/system/calsync-renew.timer /lib/systemd/system/calsync.target
    /usr/lib/sysusers.d/calsync.conf /usr/lib/tmpfiles.d/calsync.conf
    /etc/calsync/calsync.env /etc/cron.d/calsync /etc/nginx/sites-available/calsync
    /usr/share/calsync/nginx/calsync-routes.conf /usr/share/calsync/nginx/calsync-upstreams.conf
    /usr/share/calsync/nginx/calsync-vesta-routes.conf
    /usr/share/calsync/nginx/calsync-fastcgi.conf /usr/share/calsync/nginx/calsync-headers.conf
    /usr/share/calsync/nginx/calsync-ops.conf
    /usr/share/calsync/prometheus/calsync-alerts.yml /usr/share/calsync/grafana/calsync-dashboard.json
    /usr/share/calsync/www/index.html /usr/share/calsync/www/app.js /usr/share/calsync/www/app.css
    /usr/share/doc/calsync/copyright /usr/share/doc/calsync/changelog.gz
    /usr/share/doc/calsync/README.md
)
for r in $ROUTES; do
    expect+=(/usr/libexec/calsync/calsync-$r /lib/systemd/system/calsync-$r.socket
        /lib/systemd/system/calsync-$r.service)
done
for f in "${expect[@]}"; do
    grep -qxF "$f" "$T/contents" || fail "the package lacks $f"
done
echo "all ${#expect[@]} expected paths are in the package"
if grep -E 'emulator|bench|/test_|/it_|fuzz' "$T/contents"; then
    fail "the package ships test-only files"
fi
dpkg-deb -e "$DEB" "$T/control"
for s in postinst prerm postrm; do
    [ -x "$T/control/$s" ] || fail "no executable $s"
    sh -n "$T/control/$s" || fail "$s: syntax error"
done
sort "$T/control/conffiles" >"$T/conffiles"
grep '^/etc/' "$T/contents" | grep -v '/$' | sort >"$T/etcfiles"
diff -u "$T/etcfiles" "$T/conffiles" || fail "every file in /etc must be a conffile (and only those)"
echo "conffiles: $(tr '\n' ' ' <"$T/conffiles")"
grep -q 'purge)' "$T/control/postrm" || fail "postrm has no purge branch"
if sed -n '/^remove)/,/;;/p' "$T/control/postrm" | grep -q 'rm -'; then
    fail "postrm deletes files on remove"
fi

ROOT=$T/root
dpkg-deb -x "$DEB" "$ROOT"

step "systemd-analyze verify (units as installed, binaries at their installed paths)"
UNITDIR=$ROOT/lib/systemd/system
UNITS=$(cd "$UNITDIR" && ls calsync*)
nexec=0
for u in $UNITS; do
    for bin in $(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$UNITDIR/$u"); do
        case "$bin" in /usr/libexec/calsync/*) ;; *) fail "$u: ExecStart outside /usr/libexec/calsync: $bin" ;; esac
        [ -x "$ROOT$bin" ] || fail "$u: $bin is not in the package"
        nexec=$((nexec + 1))
    done
done
[ "$nexec" -eq 12 ] || fail "expected 12 ExecStart lines (10 routes, worker, renew), found $nexec"
# a root with the distribution's units (sysinit.target, ...) plus the package's
VROOT=$T/vroot
cp -a "$ROOT" "$VROOT"
cp -an /lib/systemd/system/. "$VROOT/lib/systemd/system/"
(cd "$VROOT/lib/systemd/system" && systemd-analyze verify --root="$VROOT" $UNITS) >"$T/verify.log" 2>&1 ||
    { cat "$T/verify.log"; fail "systemd-analyze verify failed"; }
[ ! -s "$T/verify.log" ] || { cat "$T/verify.log"; fail "systemd-analyze verify complained"; }
echo "verify: clean for $(echo $UNITS | wc -w) units"

step "systemd-analyze security (exposure of each service, at most $MAX_EXPOSURE)"
for u in $UNITS; do
    case "$u" in *.service) ;; *) continue ;; esac
    line=$(cd "$VROOT/lib/systemd/system" &&
        systemd-analyze security --offline=yes --root="$VROOT" --no-pager "$u" 2>&1 | grep 'Overall exposure')
    score=$(printf '%s' "$line" | sed -E 's/.*: ([0-9.]+) .*/\1/')
    printf '%-30s exposure %s\n' "$u" "$(printf '%s' "$line" | sed -E 's/.*: //')"
    awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s != "" && s + 0 <= m + 0) }' ||
        fail "$u: exposure ${score:-?} above $MAX_EXPOSURE"
done

# ---------------------------------------------------------------------------------------------
step "the installed programs behind nginx, socket-activated, against the Google emulator"
# nginx: the packaged TLS site (it includes the upstreams and the routes snippet) and a second
# "Vesta" server that mounts calsync by including calsync-routes.conf, as the README says.
HOST=calendar.example.com
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$HOST" \
    -addext "subjectAltName=DNS:$HOST" -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" \
    >"$T/openssl.log" 2>&1 || { cat "$T/openssl.log"; fail "openssl could not make a test certificate"; }
for attempt in 1 2 3 4 5; do
    HTTPS_PORT=$(free_port)
    HTTP_PORT=$(free_port)
    VESTA_PORT=$(free_port)
    VESTA2_PORT=$(free_port)
    for f in "$ROOT"/usr/share/calsync/nginx/*.conf "$ROOT/etc/nginx/sites-available/calsync"; do
        sed -e "s|/usr/share/calsync/nginx/|$T/nginx/|g" -e "s|/usr/share/calsync/|$ROOT/usr/share/calsync/|g" \
            -e "s|/run/calsync/|$T/run/|g" -e "s|/var/log/nginx/|$T/logs/|g" \
            -e "s|listen 443 ssl http2;|listen 127.0.0.1:$HTTPS_PORT ssl http2;|" \
            -e "s|listen 80;|listen 127.0.0.1:$HTTP_PORT;|" -e '/listen \[::\]/d' \
            -e "s|/etc/ssl/certs/calendar.example.com.pem|$T/tls/cert.pem|" \
            -e "s|/etc/ssl/private/calendar.example.com.key|$T/tls/key.pem|" \
            -e "s|root /var/www/html;|root $T/acme;|" "$f" >"$T/nginx/$(basename "$f" .conf).conf"
    done
    if grep -rnE '([ :]|^)(/run/calsync|/usr/share/calsync|/etc/ssl|/var/log)|listen (80|443)' "$T/nginx"; then
        fail "a packaged nginx path was not mapped into the test directory (template changed?)"
    fi
    cat >"$T/nginx.conf" <<EOF
    user root;
    worker_processes 1;
    daemon off;
    pid $T/nginx.pid;
    error_log $T/logs/nginx-error.log warn;
    events { worker_connections 256; }
    http {
        client_body_temp_path $T/tmp/client_body;
        proxy_temp_path $T/tmp/proxy;
        fastcgi_temp_path $T/tmp/fastcgi;
        uwsgi_temp_path $T/tmp/uwsgi;
        scgi_temp_path $T/tmp/scgi;
        access_log $T/logs/nginx-access.log;
        types { text/html html; text/css css; application/javascript js; application/json json; }
        default_type application/octet-stream;
        include $T/nginx/calsync.conf;
        server {
            listen 127.0.0.1:$VESTA_PORT;
            server_name vesta.test;
            include $T/nginx/calsync-routes.conf;
            location / { return 200 'vesta\n'; }
        }
        # Vesta itself behind nginx, calsync in vesta mode mounted with its own snippet: it
        # must claim /api/google/calendar/* and nothing of Vesta's
        server {
            listen 127.0.0.1:$VESTA2_PORT;
            server_name vesta2.test;
            include $T/nginx/calsync-vesta-routes.conf;
            location = /calendario { return 200 'vesta calendario\n'; }
            location /api/ { return 200 'vesta api\n'; }
            location / { return 200 'vesta\n'; }
        }
    }
EOF
    nginx -t -p "$T" -c "$T/nginx.conf" -e "$T/logs/nginx-error.log" >"$T/logs/nginx-t.log" 2>&1 ||
        { cat "$T/logs/nginx-t.log"; fail "nginx -t refuses the packaged site + snippets"; }
    nginx -p "$T" -c "$T/nginx.conf" -e "$T/logs/nginx-error.log" >"$T/logs/nginx.out" 2>&1 &
    NGINX=$!
    if wait_port "$HTTPS_PORT" $NGINX && wait_port "$HTTP_PORT" $NGINX && wait_port "$VESTA_PORT" $NGINX &&
        wait_port "$VESTA2_PORT" $NGINX; then
        PIDS+=($NGINX)
        break
    fi
    # a port was taken between free_port and bind (other tests pick ports too): new ports
    kill -TERM "$NGINX" 2>/dev/null || true
    wait "$NGINX" 2>/dev/null || true
    [ "$attempt" -lt 5 ] || fail "nginx could not bind its ports: $(tail -n 3 "$T/logs/nginx.out")"
done
BASE=https://$HOST:$HTTPS_PORT
VESTA=http://127.0.0.1:$VESTA_PORT
VESTA2=http://127.0.0.1:$VESTA2_PORT

step "the vesta-mode snippet claims only /api/google/calendar/*"
for path in /calendario /api/auth/get-session /api/settings /api/appointments /; do
    got=$(curl -s "$VESTA2$path")
    case $path in
    /calendario) want='vesta calendario' ;;
    /api/*) want='vesta api' ;;
    *) want='vesta' ;;
    esac
    [ "$got" = "$want" ] || fail "the vesta snippet shadows Vesta's $path (got: $got)"
done
code=$(curl -s -o "$T/v2.json" -w '%{http_code}' "$VESTA2/api/google/calendar/nonexistent")
[ "$code" = 404 ] && grep -q '"error"' "$T/v2.json" || fail "the vesta snippet does not answer its unknown paths with a JSON 404 ($code)"

"$EMULATOR" --port-file "$T/emulator.port" --redirect-uri "$BASE/api/google/calendar/callback" \
    >"$T/logs/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$T/emulator.port" ] && break; sleep 0.05; done
[ -s "$T/emulator.port" ] || fail "the emulator did not start"
EMU=http://127.0.0.1:$(cat "$T/emulator.port")

# the packaged environment file, with this test's values appended (later lines win)
(umask 077 && head -c 32 /dev/urandom | od -An -tx1 -v | tr -d ' \n' >"$T/secret.key")
emu_env() {
    cat <<EOF
GOOGLE_CLIENT_ID=calsync-emulator-client
GOOGLE_CLIENT_SECRET=calsync-emulator-secret
GOOGLE_AUTH_URL=$EMU/o/oauth2/v2/auth
GOOGLE_TOKEN_URL=$EMU/token
GOOGLE_REVOKE_URL=$EMU/revoke
GOOGLE_CALENDAR_API_URL=$EMU/calendar/v3
GOOGLE_BATCH_URL=$EMU/batch/calendar/v3
GOOGLE_CALENDAR_WEBHOOK_SECRET=deploy-test-webhook-secret-0123456789
CALSYNC_STATE_DIR=$T/state
CALSYNC_DB=$T/state/calsync.db
CALSYNC_SECRET_KEY_FILE=$T/secret.key
CALSYNC_HTTP_TIMEOUT_MS=3000
CALSYNC_SYNC_BUDGET_MS=8000
EOF
}
{
    cat "$ROOT/etc/calsync/calsync.env"
    echo "# --- deploy test"
    emu_env
    echo "CALSYNC_BASE_URL=$BASE"
    # the emulator posts notifications over plain http to loopback, through the Vesta-style mount
    echo "GOOGLE_CALENDAR_WEBHOOK_URL=$VESTA/api/google/calendar/webhook"
} >"$T/calsync.env"
chmod 600 "$T/calsync.env"
ADMIN=$ROOT/usr/bin/calsync-admin
admin() { env -i PATH=/usr/bin:/bin CALSYNC_CONFIG="$T/calsync.env" "$ADMIN" "$@"; }

admin migrate >"$T/logs/admin.log" 2>&1 || fail "calsync-admin migrate failed"
printf 'deploy-password-1\n' | admin user-add agent@vesta.example >>"$T/logs/admin.log" 2>&1 ||
    fail "calsync-admin user-add failed"

# Each route as its unit runs it: the ExecStart line of the installed unit, the listening
# socket on fd 0 (StandardInput=socket), nothing but the environment file's configuration.
for r in $ROUTES; do
    exec_line=$(sed -n 's/^ExecStart=//p' "$UNITDIR/calsync-$r.service")
    exec_line=${exec_line//\$\{CALSYNC_ROUTE_WORKERS\}/2}
    read -r -a argv <<<"$exec_line"
    systemd-socket-activate -l "$T/run/$r.sock" -E CALSYNC_CONFIG="$T/calsync.env" \
        /bin/sh -c 'exec "$@" 0<&3 3<&- 1>&2' sh "$ROOT${argv[0]}" "${argv[@]:1}" \
        2>>"$T/logs/calsync.log" &
    PIDS+=($!)
done
for r in $ROUTES; do
    for _ in $(seq 200); do [ -S "$T/run/$r.sock" ] && break; sleep 0.05; done
    [ -S "$T/run/$r.sock" ] || fail "no socket for $r"
done

# the worker, as its unit runs it
exec_line=$(sed -n 's/^ExecStart=//p' "$UNITDIR/calsync-worker.service")
exec_line=${exec_line//\$\{CALSYNC_WORKERS\}/2}
read -r -a argv <<<"$exec_line"
env -i CALSYNC_CONFIG="$T/calsync.env" "$ROOT${argv[0]}" "${argv[@]:1}" 2>>"$T/logs/calsync.log" &
WORKER=$!
PIDS+=($WORKER)


# curl against the TLS site, verifying the test certificate, with a cookie jar
C() {
    curl -sS --max-time 20 --cacert "$T/tls/cert.pem" --resolve "$HOST:$HTTPS_PORT:127.0.0.1" \
        -b "$T/cookies" -c "$T/cookies" "$@"
}
# status code of a request; the body goes to $T/body, the headers to $T/headers
req() {
    C -o "$T/body" -D "$T/headers" -w '%{http_code}' "$@"
}
header() { tr -d '\r' <"$T/headers" | sed -n "s/^$1: //Ip" | head -n 1; }
expect_status() {
    local want=$1 got
    shift
    got=$(req "$@") || got="curl error"
    case " $want " in *" $got "*) ;; *)
        cat "$T/body" >&2 2>/dev/null || true
        fail "$* answered $got, expected $want"
        ;;
    esac
    echo "ok  $got  $*"
}

step "HTTP -> HTTPS, security headers, the page"
code=$(curl -sS -o /dev/null -D "$T/headers" -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT/calendario" -H "Host: $HOST")
[ "$code" = 301 ] || fail "plain http answered $code, expected 301"
case "$(header Location)" in "https://$HOST/calendario") ;; *) fail "redirect to $(header Location)" ;; esac
echo "ok  301  http://$HOST/calendario -> $(header Location)"
expect_status 200 "$BASE/calendario"
grep -q '<html' "$T/body" || fail "/calendario is not the page"
for h in Strict-Transport-Security Content-Security-Policy X-Frame-Options X-Content-Type-Options Referrer-Policy; do
    [ -n "$(header "$h")" ] || fail "/calendario lacks $h"
done
[ "$(header X-Frame-Options)" = DENY ] || fail "X-Frame-Options is not DENY"
[ "$(header X-Content-Type-Options)" = nosniff ] || fail "X-Content-Type-Options is not nosniff"
expect_status 200 "$BASE/calendario/app.js"
expect_status 302 "$BASE/"

step "API smoke test over TLS"
expect_status 401 "$BASE/api/auth/me"
expect_status 200 -H 'Content-Type: application/json' \
    -d '{"email":"agent@vesta.example","password":"deploy-password-1"}' "$BASE/api/auth/login"
grep -q 'calsync_session' "$T/cookies" || fail "login set no session cookie"
case "$(header Set-Cookie)" in *Secure*) ;; *) fail "the session cookie is not Secure over https" ;; esac
[ -n "$(header Strict-Transport-Security)" ] || fail "API answers lack HSTS"
for h in X-Content-Type-Options Referrer-Policy; do
    [ "$(grep -ci "^$h:" "$T/headers")" = 1 ] || fail "an API answer carries $h $(grep -ci "^$h:" "$T/headers") times"
done
expect_status 200 "$BASE/api/auth/me"
expect_status 201 -H 'Content-Type: application/json' \
    -d '{"title":"Visita deploy","start":"2026-12-01T10:00:00+01:00","end":"2026-12-01T11:00:00+01:00"}' \
    "$BASE/api/appointments"
expect_status 200 "$BASE/api/appointments?from=2026-11-30T00:00:00Z&to=2026-12-07T00:00:00Z"
grep -q 'Visita deploy' "$T/body" || fail "the new appointment is not listed"
expect_status 200 "$BASE/api/google/calendar/status"
grep -q '"connected":false' "$T/body" || fail "status before connecting: $(cat "$T/body")"
expect_status 200 -X PATCH -H 'Content-Type: application/json' -d '{"reminders":[10,60]}' \
    "$BASE/api/settings"
expect_status 200 "$BASE/api/settings"
grep -q '"reminders":\[10,60\]' "$T/body" || fail "settings route: $(cat "$T/body")"

step "connect to Google (the emulator): connect -> consent -> callback"
expect_status 302 "$BASE/api/google/calendar/connect"
consent=$(header Location)
case "$consent" in "$EMU/o/oauth2/v2/auth?"*) ;; *) fail "connect redirected to $consent" ;; esac
code=$(curl -sS --max-time 20 -o /dev/null -D "$T/headers" -w '%{http_code}' "$consent")
[ "$code" = 302 ] || fail "the emulator's consent answered $code"
callback=$(header Location)
case "$callback" in "$BASE/api/google/calendar/callback?"*) ;; *) fail "consent redirected to $callback" ;; esac
expect_status 302 "$callback"
case "$(header Location)" in *google=connected*) ;; *) fail "callback redirected to $(header Location)" ;; esac
echo "ok  connected: $(header Location)"
expect_status 200 "$BASE/api/google/calendar/status"
grep -q '"connected":true' "$T/body" || fail "status after connecting: $(cat "$T/body")"

step "sync now, both ways"
curl -sS -X POST "$EMU/_emulator/events" -H 'Content-Type: application/json' \
    -d '{"summary":"Firma desde Google","start":{"dateTime":"2026-12-02T10:00:00+01:00"},"end":{"dateTime":"2026-12-02T11:00:00+01:00"}}' \
    >/dev/null || fail "could not create an event in the emulator"
expect_status "200 202" -X POST -H 'Content-Type: application/json' -d '{}' "$BASE/api/google/calendar/sync"
ok=""
for _ in $(seq 100); do
    curl -sS "$EMU/_emulator/events" >"$T/google.json" || true
    C -o "$T/list.json" "$BASE/api/appointments?from=2026-11-30T00:00:00Z&to=2026-12-07T00:00:00Z" || true
    if grep -q 'Visita deploy' "$T/google.json" && grep -q 'Firma desde Google' "$T/list.json"; then
        ok=1
        break
    fi
    sleep 0.2
done
[ -n "$ok" ] || fail "after sync: Google has $(cat "$T/google.json"); Vesta lists $(cat "$T/list.json")"
echo "ok  the Vesta appointment is in Google and the Google event is in Vesta"

step "operations: /healthz, /readyz, /metrics, the alerting rules and the dashboard as installed"
expect_status 200 "$BASE/healthz"
for _ in $(seq 100); do [ "$(req "$BASE/readyz")" = 200 ] && break; sleep 0.1; done
expect_status 200 "$BASE/readyz"
grep -q '"status":"ready"' "$T/body" || fail "/readyz: $(cat "$T/body")"
expect_status 200 "$BASE/metrics" # curl comes from 127.0.0.1: loopback needs no token
case "$(header Content-Type)" in "text/plain; version=0.0.4"*) ;; *) fail "/metrics is $(header Content-Type)" ;; esac
grep -q '^calsync_google_requests_total{method="oauth.token",status="2xx"} [1-9]' "$T/body" ||
    fail "/metrics does not count the connect's token exchange"
promtool check metrics <"$T/body" >"$T/promtool-metrics.log" 2>&1 ||
    { cat "$T/promtool-metrics.log"; fail "promtool check metrics refuses /metrics"; }
echo "ok  promtool check metrics: clean"
promtool check rules "$ROOT/usr/share/calsync/prometheus/calsync-alerts.yml" ||
    fail "promtool check rules refuses the packaged alerting rules"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' \
    "$ROOT/usr/share/calsync/grafana/calsync-dashboard.json" || fail "the packaged dashboard is not JSON"
echo "ok  the packaged dashboard parses"

step "webhook through the snippet mounted in another server"
code=$(curl -sS --max-time 10 -o "$T/body" -w '%{http_code}' -X POST "$VESTA/api/google/calendar/webhook" \
    -H 'X-Goog-Channel-ID: bogus-channel' -H 'X-Goog-Resource-ID: bogus-resource' \
    -H 'X-Goog-Resource-State: exists' -H 'X-Goog-Message-Number: 2' -H 'X-Goog-Channel-Token: nope')
case "$code" in 200 | 400) echo "ok  $code  bogus notification" ;; *) fail "bogus notification answered $code" ;; esac
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "$VESTA/api/google/calendar/webhook")
case "$code" in 200 | 400) echo "ok  $code  notification without headers" ;; *) fail "headerless notification answered $code" ;; esac
# the emulator notifies the channel opened at connect; those posts go through the same snippet
posts() { grep -c 'POST /api/google/calendar/webhook HTTP/1.1" 200' "$T/logs/calsync-access.log" || true; }
before=$(posts)
curl -sS -X POST "$EMU/_emulator/events" -H 'Content-Type: application/json' \
    -d '{"summary":"Cierre push","start":{"dateTime":"2026-12-03T10:00:00+01:00"},"end":{"dateTime":"2026-12-03T11:00:00+01:00"}}' \
    >/dev/null || fail "could not create an event in the emulator"
for _ in $(seq 100); do
    [ "$(posts)" -gt "$before" ] && break
    sleep 0.1
done
[ "$(posts)" -gt "$before" ] || fail "no notification from the emulator reached the webhook (200)"
grep -c 'POST /api/google/calendar/webhook' "$T/logs/calsync-access.log" | sed 's/^/ok  webhook posts in calsync-access.log: /'
if grep -q '?' <(awk '{print $5}' "$T/logs/calsync-access.log"); then
    fail "query strings in calsync-access.log (the OAuth code must not be logged)"
fi

expect_status 200 -X POST -H 'Content-Type: application/json' -d '{}' "$BASE/api/auth/logout"

# the worker is long-running: it must still be up, having run the sync jobs above
kill -0 "$WORKER" 2>/dev/null || fail "calsync-worker is not running any more"
echo "ok  calsync-worker is running"
grep -q 'INFO worker: sync (' "$T/logs/calsync.log" || fail "calsync-worker ran no sync job"
echo "ok  calsync-worker ran the sync jobs"
stop_all
if grep -E 'Sanitizer|runtime error:' "$T/logs/calsync.log"; then fail "sanitizer report"; fi

# ---------------------------------------------------------------------------------------------
step "calsync-admin doctor"
"$EMULATOR" --port-file "$T/emulator2.port" --redirect-uri "https://$HOST/api/google/calendar/callback" \
    >>"$T/logs/emulator.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do [ -s "$T/emulator2.port" ] && break; sleep 0.05; done
EMU=http://127.0.0.1:$(cat "$T/emulator2.port")

# good: the emulator as Google, an https webhook on a public name, a migrated database, 0600 key
good_env() {
    emu_env
    echo "CALSYNC_BASE_URL=https://$HOST"
    echo "GOOGLE_CALENDAR_WEBHOOK_URL=https://$HOST/api/google/calendar/webhook"
}
doctor() { # doctor NAME [KEY=VALUE...]: runs doctor on the good config plus overrides
    local name=$1
    shift
    {
        good_env
        for kv in "$@"; do echo "$kv"; done
    } >"$T/doctor-$name.env"
    chmod 600 "$T/doctor-$name.env"
    env -i PATH=/usr/bin:/bin CALSYNC_CONFIG="$T/doctor-$name.env" "$ADMIN" doctor >"$T/doctor-$name.out" 2>&1
}
expect_doctor_fail() { # NAME PATTERN [KEY=VALUE...]
    local name=$1 pattern=$2
    shift 2
    if doctor "$name" "$@"; then
        cat "$T/doctor-$name.out"
        fail "doctor passed on a broken configuration ($name)"
    fi
    grep -E "^FAIL +$pattern" "$T/doctor-$name.out" >/dev/null ||
        { cat "$T/doctor-$name.out"; fail "doctor ($name) did not FAIL the '$pattern' check"; }
    echo "ok  doctor fails ($name): $(grep -E "^FAIL +$pattern" "$T/doctor-$name.out" | head -n 1)"
}

doctor good || { cat "$T/doctor-good.out"; fail "doctor failed on a good configuration"; }
cat "$T/doctor-good.out"
grep -q '^FAIL' "$T/doctor-good.out" && fail "doctor printed FAIL on a good configuration"

chmod 644 "$T/secret.key"
expect_doctor_fail key-mode 'secret key'
chmod 600 "$T/secret.key"

sqlite3 "$T/state/old.db" 'PRAGMA user_version = 1; CREATE TABLE t(x);'
expect_doctor_fail old-db 'database' "CALSYNC_DB=$T/state/old.db"
expect_doctor_fail no-db 'database' "CALSYNC_DB=$T/state/missing.db"
expect_doctor_fail http-webhook 'webhook URL' "GOOGLE_CALENDAR_WEBHOOK_URL=http://$HOST/api/google/calendar/webhook"
expect_doctor_fail loopback-webhook 'webhook URL' "GOOGLE_CALENDAR_WEBHOOK_URL=https://127.0.0.1/api/google/calendar/webhook"
expect_doctor_fail localhost-webhook 'webhook URL' "GOOGLE_CALENDAR_WEBHOOK_URL=https://localhost:8443/webhook"
expect_doctor_fail private-webhook 'webhook URL' "GOOGLE_CALENDAR_WEBHOOK_URL=https://192.168.1.10/webhook"
closed=$(free_port)
expect_doctor_fail token-down 'token endpoint' "GOOGLE_TOKEN_URL=http://127.0.0.1:$closed/token"
expect_doctor_fail api-down 'calendar API' "GOOGLE_CALENDAR_API_URL=http://127.0.0.1:$closed/calendar/v3"
expect_doctor_fail bad-value 'configuration' "CALSYNC_HTTP_TIMEOUT_MS=soon"
expect_doctor_fail bad-tz 'configuration' "CALSYNC_DEFAULT_TZ=Mars/Olympus"
doctor polling "GOOGLE_CALENDAR_WEBHOOK_URL=" || { cat "$T/doctor-polling.out"; fail "polling only must not fail doctor"; }
grep -qE '^WARN +webhook URL' "$T/doctor-polling.out" || fail "polling only is not a warning"
echo "ok  doctor warns on polling only"
chmod 644 "$T/doctor-good.env"
env -i CALSYNC_CONFIG="$T/doctor-good.env" "$ADMIN" doctor >"$T/doctor-cfgmode.out" 2>&1 &&
    fail "doctor passed with a world-readable config file"
grep -qE '^FAIL +config file' "$T/doctor-cfgmode.out" || fail "doctor did not flag a world-readable config file"
echo "ok  doctor fails (config-mode): $(grep -E '^FAIL +config file' "$T/doctor-cfgmode.out")"
