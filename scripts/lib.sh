# Shared by scripts/run, scripts/test and scripts/bench: install what is missing.
# Sourced, not run.

# Debian packages the build and the tests need. Each C library's -dev package brings
# its pkg-config file, which SwiftPM's system-library targets read.
PASSLINE_PACKAGES=(pkg-config libssl-dev libzip-dev openssl unzip)

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

# A development signing identity under Certificates/dev, made once.
passline_dev_identity() {
    local passline="$1"
    if [ ! -f Certificates/dev/certificate.pem ]; then
        echo "==> creating a development identity in Certificates/dev (passes signed with it do not install on real devices)"
        "$passline" certs dev --out Certificates/dev --pass-type-id pass.dev.passline.demo --team-id DEVTEAM001 >/dev/null
    fi
}
