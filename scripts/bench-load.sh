#!/usr/bin/env bash
# Compares `interlok-k8s load` with wrk (1 and 16 connections) and with Apache JMeter 2.13 running the guide's
# plan (GET /in-box, 1 thread, 150 loops), all against one local nginx answering /in-box with 200, in one run.
# Prints requests/second, wall time including start-up, peak memory and the server-side request count of each,
# and the ratios. Needs: nginx-light, wrk, jmeter, jmeter-http, default-jdk (javac), GNU time.
#   apt-get install -y nginx-light wrk jmeter jmeter-http default-jdk-headless time
# Usage: scripts/bench-load.sh [seconds per throughput run, default 5]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-5}"
work="$(mktemp -d)"
nginx_pid=""
cleanup() {
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in nginx wrk java javac /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y nginx-light wrk jmeter jmeter-http default-jdk-headless time" >&2; exit 2; }
done
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
load="$root/target/release/interlok-k8s"

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  server {
    listen 127.0.0.1:$port;
    location = /in-box { return 200 "OK"; }
    location = /status { stub_status; }
  }
}
CONF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/status" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/in-box"

# nginx counts its requests (stub_status counts the /status call itself too)
served() { curl -sf "http://127.0.0.1:$port/status" | awk 'NR==3 {print $3}'; }

# runs a command under GNU time; prints "wall_seconds peak_kb"
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" > "$work/out" 2>&1 || true
  cat "$work/time"
}

printf '%-34s %12s %9s %9s %9s\n' "tool" "requests/s" "wall s" "peak MB" "served"
row() { printf '%-34s %12s %9s %9.1f %9s\n' "$1" "$2" "$3" "$(echo "$4 / 1024" | bc -l)" "$5"; }

declare -A wrk_rps load_rps
for c in 1 16; do
  before="$(served)"
  read -r wall kb < <(measure wrk -t1 -c"$c" -d"${seconds}s" "$url")
  rps="$(awk '/Requests\/sec/ {print int($2)}' "$work/out")"
  wrk_rps[$c]="$rps"
  row "wrk -t1 -c$c -d${seconds}s" "$rps" "$wall" "$kb" "$(( $(served) - before - 1 ))"

  before="$(served)"
  read -r wall kb < <(measure "$load" load --url "$url" -c "$c" --duration "${seconds}s" --json)
  rps="$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["requests_per_second"]))' "$work/out")"
  load_rps[$c]="$rps"
  row "interlok-k8s load -c $c" "$rps" "$wall" "$kb" "$(( $(served) - before - 1 ))"
done

before="$(served)"
read -r load150_wall kb < <(measure "$load" load --url "$url" -n 150 --json)
row "interlok-k8s load -n 150" "-" "$load150_wall" "$kb" "$(( $(served) - before - 1 ))"

before="$(served)"
read -r wall kb < <(measure "$load" load --url "$url" -n 100000 -c 16 --json)
load100k_kb="$kb"
row "interlok-k8s load -n 100000 -c 16" "-" "$wall" "$kb" "$(( $(served) - before - 1 ))"

# JMeter 2.13, the guide's plan, with XStream's type check opened for Java 17 (see bench/SecurityMapper.java)
mkdir -p "$work/xstream"
javac -nowarn -d "$work/xstream" -cp /usr/share/java/xstream.jar "$root/scripts/bench/SecurityMapper.java" 2>/dev/null
before="$(served)"
read -r jmeter_wall kb < <(measure java -cp "$work/xstream:/usr/share/jmeter/bin/ApacheJMeter.jar" -Djmeter.home=/usr/share/jmeter \
  org.apache.jmeter.NewDriver -n -t "$root/scripts/bench/guide-plan.jmx" -Jport="$port" -j "$work/jmeter.log" -l "$work/jmeter.jtl")
jmeter_served="$(( $(served) - before - 1 ))"
row "jmeter 2.13 (guide's plan, 150)" "-" "$jmeter_wall" "$kb" "$jmeter_served"

echo
echo "load/wrk at 1 connection:   $(echo "scale=2; ${load_rps[1]} / ${wrk_rps[1]}" | bc)"
echo "load/wrk at 16 connections: $(echo "scale=2; ${load_rps[16]} / ${wrk_rps[16]}" | bc)  (goal: >= 0.90)"
echo "load -n 150 wall / jmeter wall: $(echo "scale=3; $load150_wall / $jmeter_wall" | bc)  (goal: < 0.05; jmeter served $jmeter_served of 150)"
echo "load peak memory at 100000 requests: $(echo "scale=1; $load100k_kb / 1024" | bc) MB  (goal: < 30 MB)"
