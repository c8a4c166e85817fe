#!/bin/sh
# agent-path.sh BINARY PORT MESSAGES: starts BINARY on a fresh folder, runs agent-path.py, stops it.
dir=$(mktemp -d)
SWITCHBOARD_DATA_DIR=$dir/data SWITCHBOARD_ACCOUNT_SID=AC0000000000000000000000000000beef SWITCHBOARD_AUTH_TOKEN=benchtoken \
  SWITCHBOARD_LISTEN=127.0.0.1:$2 "$1" serve > $dir/out 2> $dir/err &
pid=$!
for i in $(seq 50); do curl -s -o /dev/null 127.0.0.1:$2/healthz && break; sleep 0.2; done
python3 "$(dirname "$0")/agent-path.py" $2 $3
kill $pid; wait $pid 2>/dev/null; rm -rf $dir
