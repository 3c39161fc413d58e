#!/usr/bin/env bash
# Builds images/Dockerfile.cpu with podman, with no registry and no package index: the path for
# air-gapped clusters, and CI's (.ci/image). Run as root from anywhere in the repository:
#
#   images/build.sh                       # -> localhost/nao-kfp:<version>-cpu
#   NAO_IMAGE=registry.example.com/nao-kfp:0.1.0-cpu images/build.sh
#
# 1. podman (Debian's), set up for this kind of sandbox: runc, cgroupfs, no default ulimits.
# 2. The base, made offline: debootstrap's minbase bookworm with Debian's python3 (3.11),
#    python3-venv, ca-certificates, graphviz and g++, imported with `podman import` and tagged
#    with a digest of that list (a changed list makes a new base). Set BASE_IMAGE to use another
#    base that has python3 and its venv module (with graphviz and g++, the build needs no
#    network; without them, set BUILD_NETWORK=host so the Dockerfile can apt-get them).
# 3. The wheelhouse (WHEELHOUSE, default build/wheelhouse, git-ignored): every wheel the image
#    installs, at the versions of the Python environment it is made from (PYTHON, default
#    .venv/bin/python), so a run in the image computes what a local run computes.
# 4. `podman build --network=none` with the wheelhouse mounted at /wheels and pip told to use it
#    alone (PIP_NO_INDEX, PIP_FIND_LINKS), then a smoke test as the image's non-root user.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DOCKERFILE=images/Dockerfile.cpu
VERSION=$("$PYTHON" -c 'import nao_kfp; print(nao_kfp.__version__)')
TAG=${NAO_IMAGE:-localhost/nao-kfp:$VERSION-cpu}
BASE_PACKAGES=python3,python3-venv,ca-certificates,graphviz,g++
BASE=${BASE_IMAGE:-localhost/nao-kfp-base:bookworm-$(echo "$BASE_PACKAGES" | cksum | cut -d' ' -f1)}
WHEELHOUSE=${WHEELHOUSE:-build/wheelhouse}
BUILD_NETWORK=${BUILD_NETWORK:-none}

log() { echo "build.sh: $*" >&2; }
dockerfile_arg() { sed -n "s/^ARG $1=//p" "$DOCKERFILE"; }

setup_podman() {
    local tool missing=()
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap
    fi
    # crun and the default ulimits are refused in this kind of sandbox; no systemd to manage
    # cgroups. A drop-in leaves the packaged containers.conf alone.
    mkdir -p /etc/containers/containers.conf.d
    cat >/etc/containers/containers.conf.d/50-nao-kfp.conf <<'EOF'
# written by nao-kfp images/build.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
}

make_base() {
    if podman image exists "$BASE"; then
        log "base $BASE exists"
        return
    fi
    if [[ -n ${BASE_IMAGE:-} ]]; then
        podman pull "$BASE"
        return
    fi
    local root
    root=$(mktemp -d /var/tmp/nao-kfp-base.XXXXXX)
    log "debootstrap bookworm into $root"
    # DEBIAN_MIRROR empty: debootstrap's default mirror
    debootstrap --variant=minbase --include="$BASE_PACKAGES" \
        bookworm "$root" ${DEBIAN_MIRROR:+"$DEBIAN_MIRROR"} >"$root.log"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE"
    rm -rf "$root" "$root.log"
}

make_wheelhouse() {
    local py_base py_host reqs
    py_base=$(podman run --rm --network=none "$BASE" python3 -c 'import sys; print(*sys.version_info[:2], sep=".")')
    py_host=$("$PYTHON" -c 'import sys; print(*sys.version_info[:2], sep=".")')
    if [[ $py_base != "$py_host" ]]; then
        log "the base has Python $py_base, $PYTHON is $py_host: wheels would not fit; set PYTHON"
        exit 1
    fi
    mkdir -p "$WHEELHOUSE"
    reqs=$(mktemp)
    # what the Dockerfile installs: its pins, the build backend, the package's dependencies;
    # constrained to this environment's versions (direct references cannot be constraints)
    {
        echo "torch==$(dockerfile_arg TORCH_VERSION)"
        echo "torchvision==$(dockerfile_arg TORCHVISION_VERSION)"
        echo "kfp==$(dockerfile_arg KFP_VERSION)"
        echo "kfp-kubernetes==$(dockerfile_arg KFP_VERSION)"
        echo "kserve==$(dockerfile_arg KSERVE_VERSION)"
        "$PYTHON" -c 'import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
print(*p["build-system"]["requires"], *p["project"]["dependencies"],
      *p["project"]["optional-dependencies"]["katib"], sep="\n")'
    } >"$reqs"
    "$PYTHON" -m pip freeze --exclude-editable | grep -v ' @ ' >"$reqs.constraints" || true
    log "wheelhouse $WHEELHOUSE"
    # pip wheel, not download: a few dependencies (kfp-server-api) are sdists only, and the
    # offline build must not need to build anything but this package
    "$PYTHON" -m pip wheel -q --find-links "$WHEELHOUSE" -w "$WHEELHOUSE" \
        -r "$reqs" -c "$reqs.constraints"
    # Katib's gRPC stubs go in with --no-deps (their wheel pins protobuf<5; see the Dockerfile)
    "$PYTHON" -m pip wheel -q --no-deps -w "$WHEELHOUSE" \
        "kubeflow-katib==$(dockerfile_arg KATIB_VERSION)"
    rm -f "$reqs" "$reqs.constraints"
}

build() {
    log "podman build $TAG (base $BASE, network $BUILD_NETWORK)"
    podman build --network="$BUILD_NETWORK" \
        --volume "$PWD/$WHEELHOUSE:/wheels:ro" \
        --build-arg BASE_IMAGE="$BASE" \
        --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels \
        -f "$DOCKERFILE" -t "$TAG" .
    # a rebuild leaves the previous image untagged
    podman image prune -f >/dev/null
}

smoke() {
    # as the image's own user: the package's CLI, and the module KFP runs every component with
    podman run --rm --network=none "$TAG" sh -ec "
        test \"\$(id -u)\" = $(dockerfile_arg UID)
        nao --version
        python3 -m kfp.dsl.executor_main --help >/dev/null
        python3 -c 'import kserve'
        nao katib check --help >/dev/null
        python3 -c 'import kubeflow.katib.katib_api_pb2_grpc, grpc_health.v1.health'
        command -v dot >/dev/null
        command -v g++ >/dev/null"
}

setup_podman
start=$SECONDS
make_base
base_s=$((SECONDS - start))
make_wheelhouse
wheels_s=$((SECONDS - start - base_s))
build
build_s=$((SECONDS - start - base_s - wheels_s))
smoke
size=$(podman image inspect --format '{{.Size}}' "$TAG")
log "built $TAG: $((size / 1000000)) MB; base ${base_s}s, wheelhouse ${wheels_s}s, build ${build_s}s"
