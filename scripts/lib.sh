# Shared by scripts/run, scripts/test and scripts/bench: install what is missing.
# Sourced, not run.

# Debian packages the build and the tests need. Each C library's -dev package brings
# its pkg-config file, which SwiftPM's system-library targets read.
PASSLINE_PACKAGES=(pkg-config libssl-dev libzip-dev libsqlite3-dev libpq-dev libqrencode-dev libzbar-dev zlib1g-dev libcurl4-openssl-dev openssl unzip zip curl)
# Independent tools the tests check against: a QR decoder, an SVG rasteriser, a browser
# (headless) that loads the card page, and h2load (nghttp2-client), the ceiling `bench push`
# reports its ratio against.
PASSLINE_TEST_PACKAGES=(zbar-tools librsvg2-bin python3 chromium chromium-driver nghttp2-client)

passline_require_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: swift is not on PATH. Install Swift 6 (https://www.swift.org/install/linux/) and run this again." >&2
        exit 1
    fi
}

# Installs missing Debian packages when run as root; otherwise prints the exact command.
passline_install_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "==> installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "error: missing Debian packages: ${missing[*]}" >&2
        echo "       install them with: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
}

passline_setup() {
    passline_require_swift
    passline_install_packages "${PASSLINE_PACKAGES[@]}"
}

# The OpenAPI validator the tests check the partner API's document with (PyPI).
passline_install_openapi_validator() {
    python3 -c "import openapi_spec_validator" 2>/dev/null && return 0
    echo "==> installing openapi-spec-validator"
    python3 -m pip install -q openapi-spec-validator 2>/dev/null || python3 -m pip install -q --break-system-packages openapi-spec-validator
}

# schemathesis (PyPI), which the tests run against the partner API's OpenAPI document.
passline_install_schemathesis() {
    command -v st >/dev/null 2>&1 && return 0
    echo "==> installing schemathesis"
    python3 -m pip install -q schemathesis 2>/dev/null || python3 -m pip install -q --break-system-packages schemathesis
}

# The Standard Webhooks reference library (PyPI), which the tests verify webhook signatures with.
passline_install_standardwebhooks() {
    python3 -c "import standardwebhooks" 2>/dev/null && return 0
    echo "==> installing standardwebhooks"
    python3 -m pip install -q standardwebhooks 2>/dev/null || python3 -m pip install -q --break-system-packages standardwebhooks
}

# Selenium, and axe-core as axe-selenium-python bundles it (PyPI): the browser tests drive
# Debian's Chromium through its chromedriver and check each page's accessibility.
passline_install_browser_tools() {
    python3 -c "import selenium, axe_selenium_python" 2>/dev/null && return 0
    echo "==> installing selenium and axe-selenium-python"
    python3 -m pip install -q selenium axe-selenium-python 2>/dev/null || python3 -m pip install -q --break-system-packages selenium axe-selenium-python
}

# A development signing identity under Certificates/dev, made once.
passline_dev_identity() {
    local passline="$1"
    if [ ! -f Certificates/dev/certificate.pem ]; then
        echo "==> creating a development identity in Certificates/dev (passes signed with it do not install on real devices)"
        "$passline" certs dev --out Certificates/dev --pass-type-id pass.dev.passline.demo --team-id DEVTEAM001 >/dev/null
    fi
}

# A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a Unix socket
# there, no TCP port. Autovacuum looks every 5 s, as a server whose job queue churns wants
# (see the README); the jobs table asks for a vacuum after every 2,000 changed rows. Sets PASSLINE_TEST_POSTGRES (a libpq connection string) and removes the
# cluster when the calling script exits.
passline_start_postgres() {
    passline_install_packages postgresql
    local bin
    bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -x "$bin/initdb" ] || { echo "error: PostgreSQL's initdb was not found under /usr/lib/postgresql" >&2; exit 1; }
    PASSLINE_PG_DIR="$(mktemp -d /tmp/passline-pg.XXXXXX)"
    local as=()
    # initdb and postgres refuse to run as root; the Debian package made a postgres user.
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres "$PASSLINE_PG_DIR"
        as=(runuser -u postgres --)
    fi
    "${as[@]}" "$bin/initdb" -D "$PASSLINE_PG_DIR/data" -U postgres --auth=trust --no-sync -E UTF8 >"$PASSLINE_PG_DIR/initdb.log" 2>&1 \
        || { cat "$PASSLINE_PG_DIR/initdb.log" >&2; exit 1; }
    "${as[@]}" "$bin/pg_ctl" -D "$PASSLINE_PG_DIR/data" -l "$PASSLINE_PG_DIR/server.log" -w start \
        -o "-c listen_addresses='' -k $PASSLINE_PG_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500 -c autovacuum_naptime=5s" >/dev/null \
        || { cat "$PASSLINE_PG_DIR/server.log" >&2; exit 1; }
    PASSLINE_PG_STOP=("${as[@]}" "$bin/pg_ctl" -D "$PASSLINE_PG_DIR/data" -m immediate stop)
    trap 'passline_stop_postgres' EXIT
    export PASSLINE_TEST_POSTGRES="host=$PASSLINE_PG_DIR user=postgres dbname=postgres"
    echo "==> PostgreSQL test cluster at $PASSLINE_PG_DIR"
}

passline_stop_postgres() {
    if [ -n "${PASSLINE_PG_DIR:-}" ]; then
        "${PASSLINE_PG_STOP[@]}" >/dev/null 2>&1 || true
        rm -rf "$PASSLINE_PG_DIR"
    fi
}
