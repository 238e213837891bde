#!/bin/sh
# Install edgeinfer as a systemd service on this device.
#
#   sudo packaging/install.sh [--config FILE] [--bin PATH] [--udev] [--enable] [--dry-run]
#
# Creates the edgeinfer system user (in the video, dialout, render and plugdev
# groups), /var/lib/edgeinfer (state) and /etc/edgeinfer (config), installs
# edgeinfer into a virtualenv under /opt/edgeinfer (or uses --bin), installs the unit
# and prints the udev rule a Coral USB Accelerator needs (--udev installs it).
# --dry-run prints the commands instead of running them.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
PREFIX=/opt/edgeinfer
USER_NAME=edgeinfer
STATE_DIR=/var/lib/edgeinfer
CONFIG_DIR=/etc/edgeinfer
UNIT_DIR=/etc/systemd/system
UDEV_RULE=60-edgeinfer-coral.rules
GROUPS="video dialout render plugdev"

config="" bin="" udev=0 enable=0 dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --config) config=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --udev) udev=1; shift ;;
        --enable) enable=1; shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

run() {
    if [ "$dry" = 1 ]; then echo "+ $*"; else "$@"; fi
}

if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo $0 $*)" >&2
    exit 1
fi

# The service user and the groups that own the devices it reads.
for group in $GROUPS; do
    getent group "$group" >/dev/null || run groupadd --system "$group"
done
if ! getent passwd "$USER_NAME" >/dev/null; then
    run useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "edgeinfer daemon" "$USER_NAME"
fi
run usermod --append --groups "$(echo $GROUPS | tr ' ' ,)" "$USER_NAME"

# State (written by the daemon) and config (rewritten by set_config from the fleet).
run install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"
run install -d -m 0770 -o root -g "$USER_NAME" "$CONFIG_DIR"
if [ -n "$config" ]; then
    run install -m 0660 -o root -g "$USER_NAME" "$config" "$CONFIG_DIR/config.yaml"
fi

# The program: a virtualenv of this checkout, unless --bin names one.
if [ -n "$bin" ] && [ "$dry" = 0 ] && [ ! -x "$bin" ]; then
    echo "install.sh: --bin $bin is not an executable file" >&2
    exit 1
fi
if [ -z "$bin" ]; then
    run python3 -m venv "$PREFIX"
    run "$PREFIX/bin/pip" install --quiet "$REPO"
    bin="$PREFIX/bin/edgeinfer"
fi

# The service runs as the service user: it must be able to start the program (a
# virtualenv whose Python lives under root's home is not).
if [ "$dry" = 0 ] && command -v runuser >/dev/null 2>&1 &&
    ! runuser -u "$USER_NAME" -- "$bin" --help >/dev/null 2>&1; then
    echo "install.sh: the $USER_NAME user cannot run $bin: install edgeinfer (and the" \
        "Python it runs on) where that user can read it, or leave out --bin" >&2
    exit 1
fi

# The unit, pointing at that program.
if [ "$dry" = 1 ]; then
    echo "+ install $HERE/systemd/edgeinfer.service -> $UNIT_DIR/edgeinfer.service (ExecStart=$bin)"
else
    sed "s#^ExecStart=/opt/edgeinfer/bin/edgeinfer #ExecStart=$bin #" \
        "$HERE/systemd/edgeinfer.service" >"$UNIT_DIR/edgeinfer.service"
    chmod 0644 "$UNIT_DIR/edgeinfer.service"
fi
# In a chroot or container (an image being built) systemd is not running: the unit is
# in place and is enabled offline; it starts at the device's next boot.
booted=0
[ -d /run/systemd/system ] && booted=1
if [ "$booted" = 1 ]; then
    run systemctl daemon-reload
else
    echo "systemd is not running here (a chroot or container?): no reload needed"
fi

echo
echo "udev rule for a Coral USB Accelerator (vendor 1a6e before its firmware loads, 18d1 after):"
grep -v '^#' "$HERE/udev/$UDEV_RULE"
if [ "$udev" = 1 ]; then
    run install -m 0644 "$HERE/udev/$UDEV_RULE" "/etc/udev/rules.d/$UDEV_RULE"
    run udevadm control --reload-rules
    run udevadm trigger --subsystem-match=usb
else
    echo "install it with: sudo install -m 0644 $HERE/udev/$UDEV_RULE /etc/udev/rules.d/ && sudo udevadm control --reload-rules && sudo udevadm trigger"
fi

echo
if [ ! -f "$CONFIG_DIR/config.yaml" ] && [ -z "$config" ]; then
    echo "next: put the device's config at $CONFIG_DIR/config.yaml (examples: $REPO/device-configs/)"
    echo "      with state_dir: $STATE_DIR, then: edgeinfer doctor --config $CONFIG_DIR/config.yaml"
fi
if [ "$enable" = 1 ] && [ "$booted" = 1 ]; then
    run systemctl enable --now edgeinfer.service
elif [ "$enable" = 1 ]; then
    run systemctl enable edgeinfer.service
    echo "enabled: edgeinfer starts at the next boot"
else
    echo "start it: sudo systemctl enable --now edgeinfer"
fi
echo "then: edgeinfer status, edgeinfer doctor, journalctl -u edgeinfer -f"
