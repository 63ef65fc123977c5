# shellcheck shell=bash
# The Debian sid build root: Debian's packaged llama.cpp needs a newer glibc than the build
# machines have, so the build and the tests run inside a throwaway sid root (see README, "Build
# root"). Sourced by ci/in-root; not meant to be run on its own.
#
# Mounts are made inside a private mount namespace (unshare --mount), so they vanish with the
# process however it ends: a killed run cannot leave /dev or the checkout bound inside the root.

# mesa-vulkan-drivers: Mesa's software Vulkan driver (lavapipe), a Vulkan device on any machine for
# the tests of the optional Vulkan jar.
# libggml0-backend-rpc, llama.cpp-tools-extra (ggml-rpc-server) and iproute2 (ip netns, tc netem): models
# split over RPC servers (ModelOptions.rpcServers), their tests and ci/bench --rpc.
LLAMASPEC_ROOT_PACKAGES="libllama-dev libggml-dev llama.cpp-tools llama.cpp-examples g++ cmake make \
pkgconf openjdk-25-jdk-headless maven ca-certificates git tmux mesa-vulkan-drivers nodejs npm \
libggml0-backend-rpc llama.cpp-tools-extra iproute2"
# The runtime root (ci/test-runtime): a Java runtime and nothing else, where the jars must run alone
# (and Mesa's Vulkan driver, the kind of driver a user's machine has, for the Vulkan jar).
if [ -n "${LLAMASPEC_RUNTIME_ROOT:-}" ]; then
    LLAMASPEC_ROOT_PACKAGES="openjdk-25-jre-headless mesa-vulkan-drivers"
fi
# Extra packages for one script's own root (ci/fuzz: clang), set in its environment; a root with
# extras is a separate root, so the test root stays as small as it is.
LLAMASPEC_ROOT_EXTRA=${LLAMASPEC_ROOT_EXTRA:-}
# Bump when the way the root is made changes, so that old roots are not reused.
LLAMASPEC_ROOT_RECIPE=2
# The build root also keeps ggml's Vulkan backend (of the installed ggml) and the Vulkan loader in
# /opt/llamaspec/vulkan, outside ggml's backend folder so that nothing loads them by default: the build
# packs them into the optional Vulkan jar (native/CMakeLists.txt, LLAMASPEC_VULKAN_DIR).
LLAMASPEC_ROOT_VULKAN=/opt/llamaspec/vulkan

buildroot_log() { printf '[build-root] %s\n' "$*" >&2; }

buildroot_die() { buildroot_log "error: $*"; exit 1; }

# The cache directory, keyed by the package list and the recipe.
buildroot_path() {
    local cache=${LLAMASPEC_ROOT_CACHE:-/var/cache/llamaspec}
    local key
    key=$(printf '%s|%s' "$LLAMASPEC_ROOT_PACKAGES" "$LLAMASPEC_ROOT_RECIPE" | sha256sum | cut -c1-12)
    [ -z "$LLAMASPEC_ROOT_EXTRA" ] || key=$key-$(printf '%s' "$LLAMASPEC_ROOT_EXTRA" | sha256sum | cut -c1-8)
    printf '%s/sid-root-%s' "$cache" "$key"
}

# The Debian mirror the host's apt already uses (no host name is written in this repository).
buildroot_mirror() {
    local uri
    uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' \
        | grep -v -- '-security' | head -n1)
    if [ -z "$uri" ]; then
        uri=$(grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' \
            | grep -v -- '-security' | head -n1)
    fi
    [ -n "$uri" ] || buildroot_die "cannot read a Debian mirror from the host's apt sources"
    printf '%s' "$uri"
}

buildroot_need_host_tools() {
    [ "$(id -u)" = 0 ] || buildroot_die "the build root needs root (debootstrap, chroot, mount)"
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v unshare >/dev/null || missing+=(util-linux)
    command -v flock >/dev/null || missing+=(util-linux)
    if [ ${#missing[@]} -gt 0 ]; then
        buildroot_log "installing on the host: ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
            || buildroot_die "could not install ${missing[*]} on the host"
    fi
}

# Create the root at $1 when it is missing or unfinished. The caller holds the lock.
buildroot_create() {
    local root=$1
    [ -f "$root/.llamaspec-ready" ] && return 0
    local work="$root.partial"
    if [ -d "$work" ]; then
        buildroot_assert_unmounted "$work"
        rm -rf --one-file-system "$work"
    fi
    local mirror
    mirror=$(buildroot_mirror)
    buildroot_log "bootstrapping Debian sid into $work (mirror $mirror)"
    local t0=$SECONDS
    mkdir -p "$(dirname "$root")"
    debootstrap --variant=minbase sid "$work" "$mirror" >"$work.log" 2>&1 \
        || { tail -n 20 "$work.log" >&2; buildroot_die "debootstrap failed (log: $work.log)"; }
    buildroot_log "bootstrapped in $((SECONDS - t0)) s; installing packages"
    cp /etc/resolv.conf "$work/etc/resolv.conf" 2>/dev/null || true
    # Locally added CA certificates: without them HTTPS (Maven Central) fails inside the root.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        mkdir -p "$work/usr/local/share/ca-certificates"
        cp /usr/local/share/ca-certificates/*.crt "$work/usr/local/share/ca-certificates/"
    fi
    t0=$SECONDS
    # shellcheck disable=SC2086
    buildroot_exec "$work" env DEBIAN_FRONTEND=noninteractive sh -c "
        apt-get -o Acquire::Check-Valid-Until=false -qq update &&
        apt-get -o Acquire::Check-Valid-Until=false install -y -qq --no-install-recommends \
            $LLAMASPEC_ROOT_PACKAGES $LLAMASPEC_ROOT_EXTRA >/dev/null &&
        update-ca-certificates >/dev/null &&
        if dpkg-query -W libggml0 >/dev/null 2>&1; then
            v=\$(dpkg-query -W -f='\${Version}' libggml0) && tmp=\$(mktemp -d) && cd \$tmp &&
            apt-get -o Acquire::Check-Valid-Until=false -qq download libggml0-backend-vulkan=\$v libvulkan1 &&
            for deb in *.deb; do dpkg-deb -x \$deb x; done &&
            mkdir -p $LLAMASPEC_ROOT_VULKAN &&
            cp x/usr/lib/x86_64-linux-gnu/ggml/backends0/libggml-vulkan.so $LLAMASPEC_ROOT_VULKAN/ &&
            cp -L x/usr/lib/x86_64-linux-gnu/libvulkan.so.1 $LLAMASPEC_ROOT_VULKAN/ &&
            cd / && rm -rf \$tmp
        fi &&
        apt-get clean" >>"$work.log" 2>&1 \
        || { tail -n 20 "$work.log" >&2; buildroot_die "package install failed (log: $work.log)"; }
    buildroot_log "packages installed in $((SECONDS - t0)) s"
    date -u +%FT%TZ >"$work/.llamaspec-ready"
    mv "$work" "$root"
    mv "$work.log" "$root.log"
}

# Refuse to go on when anything is still mounted below $1 (never delete a root with mounts).
buildroot_assert_unmounted() {
    local dir
    dir=$(readlink -f "$1")
    if awk '{print $5}' /proc/self/mountinfo | grep -q "^$dir\(/\|$\)"; then
        buildroot_die "something is still mounted below $dir; unmount it before it is removed"
    fi
}

# Run a command inside the root at $1 (cwd /), with /proc, /dev, /sys, /tmp bound in a private
# mount namespace.
buildroot_exec() {
    local root=$1
    shift
    unshare --mount --propagation private -- "$BASH" -c '
        set -e
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount --rbind /sys "$root/sys"
        exec chroot "$root" "$@"
    ' buildroot-exec "$root" "$@"
}
