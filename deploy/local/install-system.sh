#!/usr/bin/env bash
# Installs the system services fenlei runs on a Debian/Ubuntu machine:
# Mosquitto, PostgreSQL 15 and TimescaleDB (built from Debian's source package,
# because bookworm ships no binary one). Idempotent: a second run does nothing.
# The apt mirror is read from this machine's own sources, never written here.
set -euo pipefail

PG_MAJOR="${FENLEI_PG_MAJOR:-15}"
PG_CONFIG="/usr/lib/postgresql/${PG_MAJOR}/bin/pg_config"
PG_LIBDIR="/usr/lib/postgresql/${PG_MAJOR}/lib"
# The Debian release whose source package of TimescaleDB builds against PG 15.
TSDB_SOURCE_SUITE="${FENLEI_TSDB_SOURCE_SUITE:-trixie}"
WORK="${FENLEI_BUILD_DIR:-/var/tmp/fenlei-build}"

say() { echo "fenlei-install: $*" >&2; }
die() { say "$*"; exit 1; }

WITH_BROWSER=0
WITH_PROMTOOL=0
WITH_FAILOVER=0
for arg in "$@"; do
  case "$arg" in
    # The test run's flag (`make test`): Chromium for the browser tests, and promtool
    # for the check of the alert rules (tests/deploy/test_monitoring.py).
    --with-browser) WITH_BROWSER=1; WITH_PROMTOOL=1 ;;
    --with-promtool) WITH_PROMTOOL=1 ;;
    # The failover tests (tests/failover/): Patroni and etcd from Debian's packages.
    --with-failover) WITH_FAILOVER=1 ;;
    *) die "unknown option $arg (known: --with-browser, --with-promtool, --with-failover)" ;;
  esac
done

# promtool alone, taken out of Debian's `prometheus` package: installing the package
# would add a Prometheus server (a service, a user, a web UI's libraries) the machine
# does not need. Only the one static binary is copied to /usr/local/bin.
install_promtool() {
  command -v promtool >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "not root and promtool missing — run 'sudo $0 --with-promtool' once."
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install promtool by hand."
  say "installing promtool (from Debian's prometheus package)"
  local dir
  dir=$(mktemp -d)
  apt-get update -qq
  (cd "$dir" && chmod 777 . && apt-get download -qq prometheus >/dev/null)
  dpkg-deb -x "$dir"/prometheus_*.deb "$dir/root"
  install -m 0755 "$dir/root/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$dir"
  promtool --version >/dev/null || die "promtool was installed but does not run."
}
if [ "$WITH_PROMTOOL" = 1 ]; then install_promtool; fi

need_pkgs=()
if [ "$WITH_BROWSER" = 1 ]; then
  [ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
  # Without a CJK font headless Chromium draws the Chinese pages as empty boxes.
  [ -d /usr/share/fonts/truetype/wqy ] || need_pkgs+=(fonts-wqy-microhei)
fi
if [ "$WITH_FAILOVER" = 1 ]; then
  command -v patroni >/dev/null 2>&1 || need_pkgs+=(patroni)
  command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
fi
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_pkgs+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need_pkgs+=(mosquitto-clients)
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/postgres" ] || need_pkgs+=("postgresql-${PG_MAJOR}")
command -v psql >/dev/null 2>&1 || need_pkgs+=("postgresql-client-${PG_MAJOR}")
# Debian's python3 lacks venv/ensurepip until python3-venv is installed.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_pkgs+=(python3-venv)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
# The poster's PDF (WeasyPrint) takes its Chinese glyphs from Noto Sans CJK.
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || need_pkgs+=(fonts-noto-cjk)
# WeasyPrint (the poster's PDF) lays its text out with Pango.
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || need_pkgs+=(libpangoft2-1.0-0)
have_tsdb=0
ls "${PG_LIBDIR}"/timescaledb*.so >/dev/null 2>&1 && have_tsdb=1
if [ "$have_tsdb" = 0 ]; then
  # pg_config ships with the server; the headers come only with the -dev package.
  { [ -x "$PG_CONFIG" ] && [ -f "$("$PG_CONFIG" --includedir-server)/postgres.h" ]; } \
    || need_pkgs+=("postgresql-server-dev-${PG_MAJOR}")
  command -v cmake >/dev/null 2>&1 || need_pkgs+=(cmake)
  command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || need_pkgs+=(build-essential)
  command -v dpkg-source >/dev/null 2>&1 || need_pkgs+=(dpkg-dev)
fi

if [ ${#need_pkgs[@]} -eq 0 ] && [ "$have_tsdb" = 1 ]; then
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  die "not root and missing: ${need_pkgs[*]:-}${need_pkgs:+ }$([ $have_tsdb = 0 ] && echo 'the TimescaleDB extension') — run 'sudo $0' once (or: sudo apt-get install ${need_pkgs[*]:-postgresql-server-dev-${PG_MAJOR} cmake build-essential})."
fi
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install ${need_pkgs[*]:-} and TimescaleDB for PostgreSQL ${PG_MAJOR} by hand."

export DEBIAN_FRONTEND=noninteractive
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing ${need_pkgs[*]}"
  apt-get update -qq
  # The server packages' own clusters are not used: fenlei runs its own.
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # Debian's postgresql package creates and starts a default cluster; fenlei
  # does not need it and it would take port 5432.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | awk '$4=="online"{print $1, $2}' | while read -r v c; do
      pg_ctlcluster "$v" "$c" stop || true
    done
  fi
  # Debian's etcd-server starts a machine-wide etcd on port 2379; the failover tests
  # start their own on free loopback ports, so the package's one is stopped.
  if [ "$WITH_FAILOVER" = 1 ] && command -v systemctl >/dev/null 2>&1 \
      && systemctl is-active --quiet etcd 2>/dev/null; then
    systemctl stop etcd || true
    systemctl disable etcd >/dev/null 2>&1 || true
  fi
fi

if [ "$have_tsdb" = 0 ]; then
  say "building TimescaleDB (Apache edition) from Debian's ${TSDB_SOURCE_SUITE} source package"
  uri=""
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{for(i=2;i<=NF;i++) if ($i !~ /security/) {print $i; exit}}' "$f" | head -n1)
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' /etc/apt/sources.list | head -n1)
  fi
  [ -n "$uri" ] || die "cannot find a Debian mirror in /etc/apt/sources.list(.d): add one, or install TimescaleDB for PostgreSQL ${PG_MAJOR} by hand."
  rm -rf "$WORK"; mkdir -p "$WORK/lists/partial" "$WORK/src"
  echo "deb-src $uri $TSDB_SOURCE_SUITE main" > "$WORK/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$WORK/lists")
  apt-get "${apt_opts[@]}" update -qq >/dev/null
  (cd "$WORK/src" && chmod 777 . && apt-get "${apt_opts[@]}" source --download-only timescaledb >/dev/null)
  orig=$(ls "$WORK"/src/timescaledb_*.orig.tar.* | head -n1)
  [ -n "$orig" ] || die "Debian's timescaledb source package did not download."
  mkdir -p "$WORK/tree"
  tar -xf "$orig" -C "$WORK/tree" --strip-components=1
  cd "$WORK/tree"
  cmake -S . -B build -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF -DUSE_TELEMETRY=OFF -DWARNINGS_AS_ERRORS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  make -C build -j"$(nproc)" install >/dev/null
  ls "${PG_LIBDIR}"/timescaledb*.so >/dev/null 2>&1 || die "TimescaleDB build finished but no timescaledb library is in ${PG_LIBDIR}."
  say "TimescaleDB installed"
fi
