#!/usr/bin/env bash
# install.sh: set up an on-prem host as an ECS container instance with ecs-agent-rs, in the
# spirit of the ECS Anywhere installer (ecs-anywhere-install.sh): check Docker, install the
# package, write the instance configuration, enable and start ecs.service, and wait until the
# agent reports its container instance ARN. Idempotent: run it again with the same options and
# nothing changes; with new options only what differs is rewritten (and the agent restarted).
#
# Run `install.sh --help` for the options. For tests, every path is under --root DIR (or
# $ECS_INSTALL_ROOT), and the commands it runs can be replaced:
#   ECS_INSTALL_SYSTEMCTL  (default: systemctl)     ECS_INSTALL_DPKG    (default: dpkg)
#   ECS_INSTALL_DOCKER     (default: docker)        ECS_INSTALL_HEALTH  (default: ROOT/usr/bin/ecs-agent health)
set -euo pipefail

prog=${0##*/}
package=ecs-agent
unit=ecs.service

usage() {
    cat <<EOF
Usage: $prog --region REGION [options]

Installs ecs-agent-rs on this host and registers it into an ECS cluster (or the emulated
control plane). Run as root.

  --region REGION          AWS region (AWS_DEFAULT_REGION); required
  --cluster NAME           cluster to join (ECS_CLUSTER; default: default)
  --endpoint URL           ECS API endpoint (ECS_BACKEND_HOST), e.g. http://10.0.0.5:4566 for
                           ecs-control-plane; default: the AWS endpoint of the region
  --credentials-file PATH  AWS shared-credentials file for the agent; copied to
                           /var/lib/ecs/credentials (mode 0600). Default: the agent reads
                           /root/.aws/credentials, as with ECS Anywhere
  --deb PATH               the ecs-agent .deb to install (skipped when that version is installed);
                           without it the package must already be installed
  --no-start               install and configure, but do not enable or start ecs.service
  --timeout SECONDS        how long to wait for registration (default: 120)
  --dry-run                print each step it would take and change nothing
  --root DIR               install under DIR instead of / (tests; also \$ECS_INSTALL_ROOT)
  -h, --help               this help
EOF
}

die() {
    echo "$prog: error: $1" >&2
    shift
    local line
    for line in "$@"; do
        echo "  $line" >&2
    done
    exit 1
}

step() {
    echo
    echo "==> $*"
}

# Runs a command, or with --dry-run only prints it.
run() {
    if ((dry_run)); then
        echo "    would run: $*"
    else
        echo "    running: $*"
        "$@"
    fi
}

cluster=default
region=
endpoint=
credentials_file=
deb=
no_start=0
dry_run=0
timeout=120
root=${ECS_INSTALL_ROOT:-}

need_value() {
    [[ $# -ge 2 && -n $2 ]] || die "$1 needs a value" "See '$prog --help'."
}

while (($#)); do
    case $1 in
    --region) need_value "$@"; region=$2; shift 2 ;;
    --cluster) need_value "$@"; cluster=$2; shift 2 ;;
    --endpoint) need_value "$@"; endpoint=$2; shift 2 ;;
    --credentials-file) need_value "$@"; credentials_file=$2; shift 2 ;;
    --deb) need_value "$@"; deb=$2; shift 2 ;;
    --timeout) need_value "$@"; timeout=$2; shift 2 ;;
    --root) need_value "$@"; root=$2; shift 2 ;;
    --no-start) no_start=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1'" "See '$prog --help'." ;;
    esac
done

[[ -n $region ]] || die "--region is required" "Pass the region of your cluster, e.g. --region us-east-1."
[[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds, not '$timeout'"
[[ $cluster =~ ^[A-Za-z0-9_-]{1,255}$ ]] ||
    die "invalid cluster name '$cluster'" "ECS cluster names have 1-255 letters, digits, - and _."
for value in "$region" "$endpoint"; do
    [[ $value != *[[:space:]]* ]] || die "'$value' contains white space" "Config values are one word."
done
root=${root%/}
if [[ -n $root ]]; then
    [[ -d $root ]] || die "--root $root is not a directory" "Create it first."
    root=$(cd "$root" && pwd)
fi

# Each is a command line split at white space (e.g. ECS_INSTALL_DPKG="dpkg --force-depends").
read -r -a systemctl_cmd <<<"${ECS_INSTALL_SYSTEMCTL:-systemctl}"
read -r -a dpkg_cmd <<<"${ECS_INSTALL_DPKG:-dpkg}"
read -r -a docker_cmd <<<"${ECS_INSTALL_DOCKER:-docker}"
if [[ -n ${ECS_INSTALL_HEALTH:-} ]]; then
    read -r -a health_cmd <<<"$ECS_INSTALL_HEALTH"
else
    health_cmd=("$root/usr/bin/ecs-agent" health)
fi
if [[ -n $root ]]; then
    # An alternative root: dpkg keeps its database there and runs the maintainer scripts from
    # here with DPKG_ROOT set; systemctl enables (but cannot start) units in it.
    dpkg_cmd+=("--root=$root" --force-script-chrootless)
    systemctl_enable=("${systemctl_cmd[@]}" "--root=$root")
else
    systemctl_enable=("${systemctl_cmd[@]}")
fi

instance_file=$root/var/lib/ecs/ecs.config
user_file=$root/etc/ecs/ecs.config
credentials_dest=/var/lib/ecs/credentials

if ((dry_run)); then
    echo "$prog: dry run: nothing is changed"
elif [[ -z $root ]] && ((EUID != 0)); then
    die "run as root (e.g. sudo $0 ...)" "It installs a package and a system service."
fi

step "Checking that Docker runs"
if ! docker_version=$("${docker_cmd[@]}" version --format '{{.Server.Version}}' 2>&1); then
    die "cannot reach the Docker Engine: $docker_version" \
        "Install Docker (Debian: 'apt-get install docker.io') and start it ('systemctl enable --now docker'), then run $prog again."
fi
echo "    Docker Engine $docker_version"

step "Installing the $package package"
dpkg_query=(dpkg-query)
[[ -z $root ]] || dpkg_query+=("--admindir=$root/var/lib/dpkg")
installed=$("${dpkg_query[@]}" --show --showformat='${Status}|${Version}' "$package" 2>/dev/null) || true
installed_version=
[[ $installed != "install ok installed|"* ]] || installed_version=${installed#*|}
if [[ -n $deb ]]; then
    [[ -f $deb ]] || die "--deb $deb: no such file" "Build it with packaging/check (or 'cargo deb -p ecs-agent') and give its path."
    deb_version=$(dpkg-deb --field "$deb" Version 2>/dev/null) ||
        die "--deb $deb is not a Debian package" "Give the ecs-agent_*.deb built by packaging/check."
    deb_package=$(dpkg-deb --field "$deb" Package)
    [[ $deb_package == "$package" ]] || die "--deb $deb holds package '$deb_package', not '$package'"
    if [[ $installed_version == "$deb_version" ]]; then
        echo "    $package $deb_version is already installed"
    else
        echo "    installed: ${installed_version:-none}; installing $deb_version"
        run "${dpkg_cmd[@]}" --install "$deb" ||
            die "dpkg could not install $deb (see its message above)" \
                "Fix what it reports (e.g. 'apt-get install -f' for missing dependencies) and run $prog again."
    fi
elif [[ -n $installed_version ]]; then
    echo "    $package $installed_version is installed (no --deb given)"
elif ((dry_run)); then
    echo "    $package is not installed: a real run needs --deb PATH"
else
    die "$package is not installed and no --deb was given" \
        "Pass --deb PATH to the ecs-agent .deb (packaging/check builds it)."
fi

step "Writing the instance configuration $instance_file"
# The keys this installer owns; other lines of the file are kept as they are.
declare -A want=(
    [ECS_CLUSTER]=$cluster
    [AWS_DEFAULT_REGION]=$region
    [ECS_EXTERNAL]=true
)
owned=(ECS_CLUSTER AWS_DEFAULT_REGION ECS_EXTERNAL ECS_BACKEND_HOST AWS_SHARED_CREDENTIALS_FILE)
[[ -z $endpoint ]] || want[ECS_BACKEND_HOST]=$endpoint
[[ -z $credentials_file ]] || want[AWS_SHARED_CREDENTIALS_FILE]=$credentials_dest
new_config=$(
    echo "# Written by $prog; it rewrites ${owned[*]}."
    echo "# Your own settings belong in /etc/ecs/ecs.config, which overrides this file."
    if [[ -f $instance_file ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            key=${line%%=*}
            key=${key#"${key%%[![:space:]]*}"}
            [[ $line == "# Written by $prog"* || $line == "# Your own settings belong in"* ]] && continue
            [[ $line == *=* && " ${owned[*]} " == *" $key "* ]] && continue
            echo "$line"
        done <"$instance_file"
    fi
    for key in "${owned[@]}"; do
        [[ -z ${want[$key]+set} ]] || echo "$key=${want[$key]}"
    done
)
if [[ -f $instance_file ]] && [[ $(cat "$instance_file") == "$new_config" ]]; then
    echo "    unchanged"
    config_changed=0
else
    config_changed=1
    echo "$new_config" | sed 's/^/    | /'
    if ((!dry_run)); then
        mkdir -p "${instance_file%/*}"
        tmp=$(mktemp "$instance_file.XXXXXX")
        echo "$new_config" >"$tmp"
        chmod 0644 "$tmp"
        mv -f "$tmp" "$instance_file"
    fi
fi
if [[ -f $user_file ]]; then
    for key in ECS_CLUSTER AWS_DEFAULT_REGION ECS_BACKEND_HOST; do
        if grep -q "^[[:space:]]*$key=" "$user_file"; then
            echo "    warning: $user_file sets $key, which overrides the value above"
        fi
    done
fi

if [[ -n $credentials_file ]]; then
    step "Installing the credentials file as $root$credentials_dest"
    [[ -r $credentials_file ]] || die "--credentials-file $credentials_file cannot be read" \
        "Give an AWS shared-credentials file ([default] aws_access_key_id=... aws_secret_access_key=...)."
    grep -q '^[[:space:]]*aws_access_key_id' "$credentials_file" ||
        die "--credentials-file $credentials_file has no aws_access_key_id" \
            "It must be an AWS shared-credentials file, as 'aws configure' writes ~/.aws/credentials."
    if cmp -s "$credentials_file" "$root$credentials_dest"; then
        echo "    unchanged"
    else
        config_changed=1
        run install -D -m 0600 "$credentials_file" "$root$credentials_dest"
    fi
fi

if ((no_start)); then
    step "Not starting $unit (--no-start)"
    echo "    Start it with: systemctl enable --now ecs"
    exit 0
fi

step "Enabling and starting $unit"
run "${systemctl_enable[@]}" enable "$unit" ||
    die "could not enable $unit" "Check 'systemctl status ecs'; is the package installed?"
if ((config_changed)); then
    # restart, not start: a running agent must read the new configuration.
    run "${systemctl_cmd[@]}" restart --no-block "$unit" ||
        die "could not restart $unit" "See 'systemctl status ecs' and 'journalctl -u ecs'."
else
    run "${systemctl_cmd[@]}" start --no-block "$unit" ||
        die "could not start $unit" "See 'systemctl status ecs' and 'journalctl -u ecs'."
fi

step "Waiting for the agent to register (at most $timeout s)"
if ((dry_run)); then
    echo "    would run: ${health_cmd[*]}   (until it reports the container instance ARN)"
    exit 0
fi
deadline=$((SECONDS + timeout))
while true; do
    if out=$("${health_cmd[@]}" 2>&1); then
        echo "    $out"
        break
    fi
    if ((SECONDS >= deadline)); then
        die "the agent did not register within $timeout s (last answer: $out)" \
            "See 'journalctl -u ecs -e' and /var/log/ecs/ecs-agent.log. Common causes: a wrong" \
            "--endpoint or --region, missing credentials, or a cluster that does not exist." \
            "Fix it and run $prog again with the same options."
    fi
    sleep 5
done

step "Done: this host is a container instance of cluster $cluster"
echo "    Logs: journalctl -u ecs, /var/log/ecs/ecs-agent.log. Configuration: /etc/ecs/ecs.config."
