#!/usr/bin/env bash
# Runs the README's "Running as a systemd service" block (between <!-- deploy:begin --> and <!-- deploy:end -->)
# line by line, as far as a container allows, so the README keeps working on a real Debian host:
#   - every /etc/b24-1c, /opt/b24-1c, /var/lib/b24-1c and /etc/systemd/system path moves into a scratch folder;
#   - `sudo` and `sudo -u b24-1c` are dropped, and so are `-o/-g b24-1c` when that user does not exist here;
#   - `useradd` and `systemctl` are skipped (no systemd as PID 1 in a container); `systemd-analyze verify` runs on
#     the installed unit (its paths moved too) when systemd-analyze is installed;
#   - `sudo editor secrets.env` becomes: fill it with the addresses of a sandbox started here from .venv.
# The venv install is real; by default with --no-deps, the dependencies borrowed from .venv (fast, no network);
# CHECK_DEPLOY_FULL_INSTALL=1 installs them from the package index as the README line does.
# Usage: scripts/check-deploy.sh   (from anywhere; needs .venv from `make test`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEV=$ROOT/.venv/bin
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/b24-1c-deploy.XXXXXX")
SANDBOX_PID=""
cleanup() {
    if [ -n "$SANDBOX_PID" ]; then kill "$SANDBOX_PID" 2>/dev/null || true; wait "$SANDBOX_PID" 2>/dev/null || true; fi
    rm -rf "$SCRATCH"
}
trap cleanup EXIT

block=$(awk '/<!-- deploy:begin -->/{on=1; next} /<!-- deploy:end -->/{on=0} on && !/^```/' "$ROOT/README.md")
if [ -z "$block" ]; then
    echo "check-deploy: README.md has no <!-- deploy:begin --> … <!-- deploy:end --> block" >&2
    exit 1
fi

# A sandbox for check, setup and backfill to talk to (the product's venv never holds the sandbox).
"$DEV/b24-1c" sandbox --bitrix24-port 0 --onec-port 0 --orders 30 --rate-limit off \
    >"$SCRATCH/sandbox.out" 2>"$SCRATCH/sandbox.err" &
SANDBOX_PID=$!
for _ in $(seq 1 600); do
    if grep -q '^onec ready:' "$SCRATCH/sandbox.out" 2>/dev/null; then break; fi
    if ! kill -0 "$SANDBOX_PID" 2>/dev/null; then cat "$SCRATCH/sandbox.err" >&2; exit 1; fi
    sleep 0.1
done
webhook=$(sed -n 's/^bitrix24 ready: //p' "$SCRATCH/sandbox.out")
read -r odata user password < <(sed -n 's/^onec ready: \(\S*\) user=\(\S*\) password=\(\S*\)$/\1 \2 \3/p' "$SCRATCH/sandbox.out")
if [ -z "$webhook" ] || [ -z "$odata" ]; then
    echo "check-deploy: the sandbox did not say where it listens" >&2
    cat "$SCRATCH/sandbox.out" "$SCRATCH/sandbox.err" >&2
    exit 1
fi

owner_flags='s/ -o \(root\|b24-1c\) -g b24-1c//'
if getent passwd b24-1c >/dev/null; then owner_flags='s/^$//'; fi

moved() {
    sed -e "s#/etc/systemd/system#$SCRATCH/etc/systemd/system#g" \
        -e "s#/etc/b24-1c#$SCRATCH/etc/b24-1c#g" \
        -e "s#/opt/b24-1c#$SCRATCH/opt/b24-1c#g" \
        -e "s#/var/lib/b24-1c#$SCRATCH/var/lib/b24-1c#g"
}

mkdir -p "$SCRATCH/etc/systemd/system" "$SCRATCH/opt" "$SCRATCH/var/lib"
cd "$ROOT"
n=0
while IFS= read -r line; do
    [ -z "$line" ] && continue
    n=$((n + 1))
    case "$line" in
        *useradd*|*"systemctl "*)
            echo "check-deploy [$n] skipped here: $line"
            continue ;;
        *"editor "*secrets.env*)
            echo "check-deploy [$n] instead of editing: secrets.env gets the sandbox's addresses"
            secrets="$SCRATCH/etc/b24-1c/secrets.env"
            sed -i -e "s#^B24_WEBHOOK_URL=.*#B24_WEBHOOK_URL=$webhook#" -e "s#^ONEC_ODATA_URL=.*#ONEC_ODATA_URL=$odata#" \
                -e "s#^ONEC_USER=.*#ONEC_USER=$user#" -e "s#^ONEC_PASSWORD=.*#ONEC_PASSWORD=$password#" "$secrets"
            continue ;;
        *"systemd-analyze verify"*)
            if ! command -v systemd-analyze >/dev/null; then
                echo "check-deploy [$n] skipped (systemd-analyze is not installed): $line"
                continue
            fi
            unit="$SCRATCH/etc/systemd/system/b24-1c.service"
            moved <"$unit" >"$unit.moved" && mv "$unit.moved" "$unit" ;;
    esac
    command=$(printf '%s\n' "$line" | sed -e 's/^sudo -u b24-1c //' -e 's/^sudo //' -e "$owner_flags" | moved)
    case "$command" in
        *"pip install ."*)
            if [ "${CHECK_DEPLOY_FULL_INSTALL:-0}" != 1 ]; then
                command="${command/pip install ./pip install --quiet --no-deps --no-build-isolation .}"
                site=$("$DEV/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
                venv_site=$("$SCRATCH/opt/b24-1c/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
                echo "$site" >"$venv_site/zz-dev-dependencies.pth"  # after the venv's own packages
            fi ;;
    esac
    echo "check-deploy [$n] $command"
    status=0
    env -u B24_1C_CONFIG -u B24_WEBHOOK_URL -u ONEC_ODATA_URL -u ONEC_USER -u ONEC_PASSWORD -u B24_1C_LEDGER \
        bash -euo pipefail -c "$command" </dev/null || status=$?
    if [ "$status" = 1 ] && [[ "$command" == *" backfill "* ]]; then
        # Exit 1 = done, some records failed: the sandbox has two 1C managers without a Bitrix24 account on purpose.
        echo "check-deploy [$n] exit 1 (done; some records failed, as the sandbox's data intends)"
    elif [ "$status" != 0 ]; then
        echo "check-deploy: line $n failed with exit $status: $line" >&2
        exit "$status"
    fi
done <<<"$block"

# What the lines above must have left behind: one ledger, where the config says, written by the manual backfill.
ledger="$SCRATCH/var/lib/b24-1c/ledger.sqlite3"
test -s "$ledger" || { echo "check-deploy: no ledger at $ledger after the backfill" >&2; exit 1; }
if find "$SCRATCH/etc" -name '*.sqlite3' | grep -q .; then
    echo "check-deploy: a second ledger under /etc: $(find "$SCRATCH/etc" -name '*.sqlite3')" >&2
    exit 1
fi
# The same installation runs the demo outside the checkout once the sandbox package is added (`b24-1c demo` makes
# its config from the defaults inside the wheel; before, a pip-installed demo looked for the source tree).
isolation=--no-build-isolation  # the fast install borrows hatchling from .venv; a full one builds in isolation
if [ "${CHECK_DEPLOY_FULL_INSTALL:-0}" = 1 ]; then isolation=""; fi
"$SCRATCH/opt/b24-1c/venv/bin/pip" install --quiet --no-deps $isolation "$ROOT/sandbox"
(cd "$SCRATCH" && "$SCRATCH/opt/b24-1c/venv/bin/b24-1c" demo --orders 20 | tail -1)
echo "check-deploy: OK — the README's systemd block ran ($n lines; ledger $ledger)"
