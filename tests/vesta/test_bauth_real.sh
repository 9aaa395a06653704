#!/usr/bin/env bash
# tests/vesta/test_bauth_real.sh BUILD_DIR SOURCE_DIR: calsync's verifier of BetterAuth session
# cookies (lib/bauth.c) against the REAL better-auth library (npm, the 1.3.x Vesta pins; its
# cookies signed by better-call 1.0.x). A private MariaDB server with Vesta's tables
# (tests/vesta/fixture.sql); tests/vesta/bauth/signup.mjs signs users up through better-auth,
# configured as Vesta configures it, and hands back the session cookie it set; bauth_check (the
# C verifier) must take exactly that cookie, yield the token of the sessions row, and refuse it
# altered or under another secret. Prints "N passed, M failed"; exits non-zero on any failure.
# The bauth_check program: $BAUTH_CHECK, else BUILD_DIR/tests/bauth_check.
set -uo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 2; }
BUILD=$(cd "$1" && pwd) || exit 2
SRC=$(cd "$2" && pwd) || exit 2
CHECK=${BAUTH_CHECK:-$BUILD/tests/bauth_check}
JSDIR=$SRC/tests/vesta/bauth

passed=0
failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
bad() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
# a failure that stops the test: what follows cannot run
die() {
    bad "$*"
    echo "$passed passed, $failed failed"
    exit 1
}

[ -x "$CHECK" ] || die "no bauth_check at $CHECK (cmake --build BUILD --target bauth_check)"
command -v node >/dev/null || die "node is not installed (scripts/test installs nodejs)"
command -v mariadb >/dev/null || die "the mariadb client is not installed (scripts/test installs it)"
if [ ! -f "$JSDIR/node_modules/better-auth/package.json" ] || [ ! -f "$JSDIR/node_modules/mysql2/package.json" ]; then
    die "tests/vesta/bauth/node_modules is missing: run npm ci in tests/vesta/bauth (scripts/test does)"
fi

T=$(mktemp -d /tmp/calsync-bauth-XXXXXX)
cleanup() {
    "$SRC/scripts/mariadb" stop "$T/db" >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$SRC/scripts/mariadb" start "$T/db" >/dev/null || die "the private MariaDB server did not start"
URL=$(cat "$T/db/url")
DB=vesta_bauth
sql() { mariadb --no-defaults -uroot --socket="$T/db/mysql.sock" --batch --skip-column-names "$@"; }
sql -e "CREATE DATABASE $DB CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" || die "CREATE DATABASE"
{ echo "SET time_zone = '+00:00';"; cat "$SRC/tests/vesta/fixture.sql"; } | sql "$DB" ||
    die "loading tests/vesta/fixture.sql"
VESTA_URL=${URL%/*}/$DB

# The secret as Vesta's BETTER_AUTH_SECRET: random, with non-ASCII characters (the HMAC key is
# its UTF-8 bytes on both sides).
SECRET="vesta-clave-ñ€-$(head -c 24 /dev/urandom | od -An -tx1 -v | tr -d ' \n')"
OTHER_SECRET="${SECRET}x"

# json FILE FIELD: one field of signup.mjs's line
json() { node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(o[process.argv[2]] ?? ""))' "$1" "$2"; }
# the URL-decoding a server does (%XX -> byte); and the encoding of base64's three escaped
# characters (encodeURIComponent leaves [A-Za-z0-9.] as they are)
urldecode() { printf '%b' "${1//%/\\x}"; }
b64encode() { printf '%s' "$1" | sed -e 's/%/%25/g' -e 's/+/%2B/g' -e 's#/#%2F#g' -e 's/=/%3D/g'; }
# other_b64 C: a base64 character other than C
other_b64() { if [ "$1" = A ]; then echo B; else echo A; fi; }

# verify NAME VALUE WANT_TOKEN: bauth_check must accept VALUE and print WANT_TOKEN
verify() {
    local out
    if out=$("$CHECK" "$SECRET" "$2" 2>"$T/check.err"); then
        if [ "$out" = "$3" ]; then ok "$1"; else bad "$1: token '$out', want '$3'"; fi
    else
        bad "$1: refused ($(cat "$T/check.err")): $2"
    fi
}
# refuse NAME SECRET VALUE: bauth_check must refuse VALUE with exit status 1
refuse() {
    local out rc
    out=$("$CHECK" "$2" "$3" 2>/dev/null)
    rc=$?
    if [ $rc -eq 1 ]; then ok "$1"; else bad "$1: exit $rc (printed '$out'), want 1: $3"; fi
}

# signup LABEL EMAIL BASE_URL: one sign-up through better-auth; its line in $T/LABEL.json
signup() {
    (cd "$JSDIR" && VESTA_DB_URL=$VESTA_URL BETTER_AUTH_SECRET=$SECRET SIGNUP_EMAIL=$2 \
        SIGNUP_PASSWORD='Contraseña segura 1' SIGNUP_NAME='Lucía Fernández' BETTER_AUTH_URL=$3 \
        node signup.mjs >"$T/$1.json" 2>"$T/$1.err")
}

# case LABEL EMAIL BASE_URL WANT_COOKIE_NAME
run_case() {
    local label=$1 email=$2 base=$3 want_name=$4 name value user token row plain tok sig c1 c2 mid
    if ! signup "$label" "$email" "$base"; then
        bad "$label: signup.mjs failed: $(cat "$T/$label.err")"
        return
    fi
    if [ "$(wc -l <"$T/$label.json")" -ne 1 ]; then
        bad "$label: signup.mjs printed $(wc -l <"$T/$label.json") lines, want one"
        return
    fi
    ok "$label: better-auth signed up $email and took back its own cookie (getSession)"
    name=$(json "$T/$label.json" cookieName)
    value=$(json "$T/$label.json" cookieValue)
    user=$(json "$T/$label.json" userId)
    token=$(json "$T/$label.json" token)
    echo "     $name=$value"
    if [ "$name" = "$want_name" ]; then ok "$label: cookie name $name"; else bad "$label: cookie name '$name', want $want_name"; fi
    row=$(sql "$DB" -e "SELECT token FROM sessions WHERE user_id = '$user'")
    if [ -n "$row" ] && [ "$row" = "$token" ]; then
        ok "$label: one sessions row for user $user, token $row"
    else
        bad "$label: sessions row token '$row', signup.mjs said '$token'"
    fi
    if [ ${#user} -le 36 ]; then ok "$label: user id of ${#user} characters fits varchar(36)"; else bad "$label: user id '$user' longer than 36"; fi

    # what the browser sends back: the Set-Cookie value, URL-encoded
    verify "$label: the cookie as sent (URL-encoded) verifies, token = the sessions row's" "$value" "$row"

    # decoded by hand (%2B %2F %3D -> + / =): still the same session
    plain=$(urldecode "$value")
    if [ "$plain" != "$value" ]; then
        verify "$label: the cookie URL-decoded by hand verifies" "$plain" "$row"
    else
        bad "$label: the cookie has no %-escape to decode (its base64 padding '=' is always one): $value"
    fi

    tok=${plain%.*}
    sig=${plain##*.}
    if [ "$tok" = "$row" ] && [ ${#sig} -eq 44 ] && [ "${sig: -1}" = "=" ]; then
        ok "$label: TOKEN.SIGNATURE with a 44-character base64 signature"
    else
        bad "$label: not TOKEN.SIGNATURE(44): $plain"
    fi
    # one character of the signature changed: the first, and one in the middle
    c1=$(other_b64 "${sig:0:1}")
    refuse "$label: first character of the signature changed" "$SECRET" "$tok.$(b64encode "$c1${sig:1}")"
    mid=$(other_b64 "${sig:21:1}")
    refuse "$label: 22nd character of the signature changed" "$SECRET" \
        "$tok.$(b64encode "${sig:0:21}$mid${sig:22}")"
    # one character of the token changed, the signature kept
    c2=$(other_b64 "${tok:0:1}")
    refuse "$label: first character of the token changed" "$SECRET" "$c2${tok:1}.$(b64encode "$sig")"
    # another secret
    refuse "$label: another secret" "$OTHER_SECRET" "$value"
    refuse "$label: the secret's last character dropped" "${SECRET%?}" "$value"
    # the token alone, and the signature with its padding dropped
    refuse "$label: the token without a signature" "$SECRET" "$tok"
    refuse "$label: the signature without its '=' padding" "$SECRET" "$tok.$(b64encode "${sig%=}")"
}

run_case http bauth-http@example.com http://127.0.0.1:8080 better-auth.session_token
run_case https bauth-https@example.com https://vesta.example.com __Secure-better-auth.session_token

# A batch signed by better-call itself (sign_many.mjs): every base64 character, every %-escape.
MANY=40
if (cd "$JSDIR" && BETTER_AUTH_SECRET=$SECRET COUNT=$MANY node sign_many.mjs >"$T/many.txt" 2>"$T/many.err"); then
    n=0
    nbad=0
    esc=""
    while read -r tok val; do
        n=$((n + 1))
        case $val in *%2B*) esc="$esc+" ;; esac
        case $val in *%2F*) esc="$esc/" ;; esac
        a=$("$CHECK" "$SECRET" "$val" 2>/dev/null) || a=""
        b=$("$CHECK" "$SECRET" "$(urldecode "$val")" 2>/dev/null) || b=""
        if [ "$a" != "$tok" ] || [ "$b" != "$tok" ]; then
            nbad=$((nbad + 1))
            echo "     refused or wrong token: $tok $val" >&2
        fi
        if "$CHECK" "$OTHER_SECRET" "$val" >/dev/null 2>&1; then
            nbad=$((nbad + 1))
            echo "     accepted under another secret: $val" >&2
        fi
    done <"$T/many.txt"
    if [ "$n" -eq "$MANY" ] && [ "$nbad" -eq 0 ]; then
        ok "batch: $n cookies signed by better-call verify, encoded and decoded, and not under another secret"
    else
        bad "batch: $nbad of $n cookies signed by better-call misjudged"
    fi
    if [[ $esc == *+* ]] && [[ $esc == */* ]]; then
        ok "batch: the signatures held '+' (%2B) and '/' (%2F)"
    else
        bad "batch: no '+' or no '/' in $n signatures (escapes seen: '$esc')"
    fi
else
    bad "batch: sign_many.mjs failed: $(cat "$T/many.err")"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
