#!/usr/bin/env bash
# The whole test suite from a fresh clone, in one command: ./test.sh [extra dotnet test arguments]
#   1. installs what the tests need and the machine lacks (Debian/Ubuntu, as root): Redis, Chromium, Fashion-MNIST,
#      Node for the deploy linters; not root and something missing: one line saying what to run, exit 2;
#   2. lints the Dockerfile and Kubernetes manifests (deploy/lint.sh);
#   3. starts a Redis of its own on a free loopback port (unless DIT_TEST_REDIS names one) and stops it at the end;
#   4. runs every test: dotnet test DiT.sln.
# The golden vectors are in tests/golden (DIT_GOLDEN_DIR replaces that folder). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

command -v dotnet >/dev/null || { echo "test.sh: the .NET 10 SDK is missing: see https://learn.microsoft.com/dotnet/core/install/linux" >&2; exit 2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)                    # cache, promotion fan-out tests
command -v chromium >/dev/null || missing+=(chromium)                            # playground tests (Playwright drives it)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)     # the embedded model's quality tests
command -v npx >/dev/null || missing+=(nodejs npm)                               # deploy/lint.sh
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "test.sh: missing ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 2
  fi
  echo "test.sh: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

bash deploy/lint.sh

# A Redis of our own: a free port (the kernel picks one, we ask redis for it), no persistence, gone when we exit.
redis_dir=""
if [ -z "${DIT_TEST_REDIS:-}" ]; then
  redis_dir="$(mktemp -d)"
  trap 'redis-cli -s "$redis_dir/redis.sock" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$redis_dir"' EXIT
  for attempt in 1 2 3 4 5; do
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
            || shuf -i 20000-60999 -n 1)"
    redis-server --bind 127.0.0.1 --port "$port" --unixsocket "$redis_dir/redis.sock" --save '' --appendonly no \
                 --daemonize yes --logfile "$redis_dir/redis.log" --dir "$redis_dir"
    # Up means it bound the port too (redis-server exits when it cannot); else the port was taken meanwhile: next one.
    for _ in $(seq 300); do
      if redis-cli -s "$redis_dir/redis.sock" ping >/dev/null 2>&1; then export DIT_TEST_REDIS="127.0.0.1:$port"; break 2; fi
      pgrep -f "redis-server 127.0.0.1:$port" >/dev/null || break
      sleep 0.1
    done
  done
  [ -n "${DIT_TEST_REDIS:-}" ] || { echo "test.sh: could not start redis-server (log: $redis_dir/redis.log)" >&2; cat "$redis_dir/redis.log" >&2; exit 1; }
fi
echo "test.sh: Redis for the tests at $DIT_TEST_REDIS"
# libtorch picks its CPU kernels by instruction set (oneDNN's channel blocks, docs/training.md): say which this run had.
echo "test.sh: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(grep -o -w -E 'avx2|avx512f' /proc/cpuinfo | sort -u | tr '\n' ' ')"

dotnet test DiT.sln "$@"
